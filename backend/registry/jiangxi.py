"""Reference data of Jiangxi province (administrative code 36): its 11
设区市 (prefecture-level cities), their 100 county-level divisions (27 区,
12 县级市, 61 县) with their GB/T 2260 codes as in force since 2020 (the
Ministry of Civil Affairs' list: 湾里区 360105 merged into 新建区 and
红谷滩区 360113 created in 2019, 龙南县 360727 became 龙南市 360783 in
2020, 东乡县 361029 became 东乡区 361003 in 2017), the 省直管县 and the
universities.

The registry's `district_code` is one of these 6-digit codes; reports and
the staff dashboard name districts with `district_name`, cities with
`city_name`. An import reports district codes not listed here
(`is_known_district`). The demo registry generator (tools/demo_registry)
draws its fictional people from the same tables, weighted as given here.
"""

from __future__ import annotations

# Prefecture-level cities by the first four digits of a code.
CITIES: dict[str, str] = {
    "3601": "南昌",
    "3602": "景德镇",
    "3603": "萍乡",
    "3604": "九江",
    "3605": "新余",
    "3606": "鹰潭",
    "3607": "赣州",
    "3608": "吉安",
    "3609": "宜春",
    "3610": "抚州",
    "3611": "上饶",
}

# (code, name, relative population weight): the county-level divisions
# (区, 县, 县级市) by their 6-digit administrative codes.
COUNTIES: tuple[tuple[str, str, int], ...] = (
    ("360102", "东湖区", 3),
    ("360103", "西湖区", 3),
    ("360104", "青云谱区", 2),
    ("360111", "青山湖区", 3),
    ("360112", "新建区", 3),
    ("360113", "红谷滩区", 3),
    ("360121", "南昌县", 3),
    ("360123", "安义县", 1),
    ("360124", "进贤县", 2),
    ("360202", "昌江区", 1),
    ("360203", "珠山区", 2),
    ("360222", "浮梁县", 1),
    ("360281", "乐平市", 2),
    ("360302", "安源区", 2),
    ("360313", "湘东区", 1),
    ("360321", "莲花县", 1),
    ("360322", "上栗县", 1),
    ("360323", "芦溪县", 1),
    ("360402", "濂溪区", 2),
    ("360403", "浔阳区", 2),
    ("360404", "柴桑区", 1),
    ("360423", "武宁县", 1),
    ("360424", "修水县", 2),
    ("360425", "永修县", 1),
    ("360426", "德安县", 1),
    ("360428", "都昌县", 2),
    ("360429", "湖口县", 1),
    ("360430", "彭泽县", 1),
    ("360481", "瑞昌市", 1),
    ("360482", "共青城市", 1),
    ("360483", "庐山市", 1),
    ("360502", "渝水区", 2),
    ("360521", "分宜县", 1),
    ("360602", "月湖区", 1),
    ("360603", "余江区", 1),
    ("360681", "贵溪市", 1),
    ("360702", "章贡区", 3),
    ("360703", "南康区", 2),
    ("360704", "赣县区", 2),
    ("360722", "信丰县", 2),
    ("360723", "大余县", 1),
    ("360724", "上犹县", 1),
    ("360725", "崇义县", 1),
    ("360726", "安远县", 1),
    ("360728", "定南县", 1),
    ("360729", "全南县", 1),
    ("360730", "宁都县", 2),
    ("360731", "于都县", 2),
    ("360732", "兴国县", 2),
    ("360733", "会昌县", 1),
    ("360734", "寻乌县", 1),
    ("360735", "石城县", 1),
    ("360781", "瑞金市", 2),
    ("360783", "龙南市", 1),
    ("360802", "吉州区", 2),
    ("360803", "青原区", 1),
    ("360821", "吉安县", 1),
    ("360822", "吉水县", 1),
    ("360823", "峡江县", 1),
    ("360824", "新干县", 1),
    ("360825", "永丰县", 1),
    ("360826", "泰和县", 1),
    ("360827", "遂川县", 1),
    ("360828", "万安县", 1),
    ("360829", "安福县", 1),
    ("360830", "永新县", 1),
    ("360881", "井冈山市", 1),
    ("360902", "袁州区", 2),
    ("360921", "奉新县", 1),
    ("360922", "万载县", 1),
    ("360923", "上高县", 1),
    ("360924", "宜丰县", 1),
    ("360925", "靖安县", 1),
    ("360926", "铜鼓县", 1),
    ("360981", "丰城市", 2),
    ("360982", "樟树市", 1),
    ("360983", "高安市", 2),
    ("361002", "临川区", 2),
    ("361003", "东乡区", 1),
    ("361021", "南城县", 1),
    ("361022", "黎川县", 1),
    ("361023", "南丰县", 1),
    ("361024", "崇仁县", 1),
    ("361025", "乐安县", 1),
    ("361026", "宜黄县", 1),
    ("361027", "金溪县", 1),
    ("361028", "资溪县", 1),
    ("361030", "广昌县", 1),
    ("361102", "信州区", 2),
    ("361103", "广丰区", 2),
    ("361104", "广信区", 2),
    ("361123", "玉山县", 1),
    ("361124", "铅山县", 1),
    ("361125", "横峰县", 1),
    ("361126", "弋阳县", 1),
    ("361127", "余干县", 2),
    ("361128", "鄱阳县", 2),
    ("361129", "万年县", 1),
    ("361130", "婺源县", 1),
    ("361181", "德兴市", 1),
)

# 省直管县（市）: the province's education department addresses them
# directly, beside the 设区市 (the campaign notice: "各设区市、省直管县（市、区）
# 教育局"). Their GB/T 2260 codes keep their city's prefix (九江市代管
# 共青城市, 赣州市代管瑞金市, 宜春市代管丰城市), so a city prefix scope
# (3604, 3607, 3609) includes them.
# 共青城市 and 瑞金市: the pilot of 2014 (省直管县（市）体制改革试点).
# 丰城市: believed to have joined that pilot later; not verified against a
# primary source here - check it before the September report names it.
PROVINCE_ADMINISTERED: dict[str, str] = {
    "360482": "共青城市",
    "360781": "瑞金市",
    "360981": "丰城市",
}

# Universities and colleges: units of the province (the notice's 各高校),
# not of the district they stand in; in the registry their students have
# stage `university`. Their school codes are the registry's, not kept here.
# (name, district code, undergraduate?, relative size). Higher-vocational
# colleges (职业技术学院) run three-year programmes, so they only have 大一-大三.
UNIVERSITIES: tuple[tuple[str, str, bool, int], ...] = (
    ("南昌大学", "360113", True, 6),
    ("江西师范大学", "360111", True, 4),
    ("江西财经大学", "360111", True, 3),
    ("华东交通大学", "360111", True, 3),
    ("南昌航空大学", "360111", True, 3),
    ("江西农业大学", "360111", True, 3),
    ("江西中医药大学", "360112", True, 2),
    ("江西科技学院", "360111", True, 2),
    ("南昌工程学院", "360111", True, 2),
    ("九江学院", "360402", True, 3),
    ("景德镇陶瓷大学", "360202", True, 2),
    ("萍乡学院", "360302", True, 1),
    ("新余学院", "360502", True, 1),
    ("赣南师范大学", "360702", True, 3),
    ("江西理工大学", "360702", True, 3),
    ("赣南医科大学", "360702", True, 2),
    ("井冈山大学", "360802", True, 2),
    ("宜春学院", "360902", True, 2),
    ("东华理工大学", "361002", True, 2),
    ("上饶师范学院", "361102", True, 2),
    ("九江职业技术学院", "360402", False, 2),
    ("江西应用技术职业学院", "360702", False, 1),
    ("鹰潭职业技术学院", "360602", False, 1),
    ("江西工业职业技术学院", "360111", False, 1),
)

# District code -> full name (360102 -> 南昌市东湖区).
DISTRICT_NAMES: dict[str, str] = {
    code: CITIES[code[:4]] + "市" + name if code[:4] in CITIES else name for code, name, _ in COUNTIES
}


COUNTY_NAMES: dict[str, str] = {code: name for code, name, _ in COUNTIES}


def district_name(code: str | None) -> str:
    """A district's full name (360102 -> 南昌市东湖区); an unknown code as given."""
    return DISTRICT_NAMES.get(code or "", code or "")


def city_name(prefix: str | None) -> str:
    """A 设区市's name by its 4-digit prefix (3601 -> 南昌市); an unknown prefix as given."""
    return CITIES[prefix] + "市" if prefix in CITIES else prefix or ""


def is_known_district(code: str) -> bool:
    """A county-level division of Jiangxi as the reference data lists it."""
    return code in COUNTY_NAMES


def is_province_administered(code: str | None) -> bool:
    return (code or "") in PROVINCE_ADMINISTERED
