"""Deterministic demo registry for the Jiangxi (province code 36) e-card backend.

`generate()` writes ``students.csv`` and ``teachers.csv`` in the registry
contract format (UTF-8, header row, written by the csv module with its
default dialect, so lines end in CRLF) filled with
realistic but fictitious Jiangxi people: real district codes, school names in
the usual patterns, weighted common surnames, compound surnames, minority
names with a middle dot, guardians shared by siblings, and a few people who
are both a teacher and a university student.

Design notes
------------
* Deterministic: one ``random.Random(seed)`` drives everything, the school
  catalogue is fixed, ages are computed against the fixed reference date
  2026-09-01 (never the current date), and nothing iterates over a set.
* Fast and bounded: rows are streamed and written in batches with
  ``csv.writer.writerows``; every pool (names, schools, dates, check-digit
  partial sums) is precomputed, so a row costs a few list look-ups and
  ``random()`` calls.  Memory does not grow with the number of rows.
* ID numbers are unique by construction, without a set of issued IDs.  Each
  "ID space" (students, guardians, teachers) keeps a small counter per
  (area code, birth date, gender) slot and hands out the slot's sequence
  numbers through a bijection of the counter, so two people can never get
  the same area + birth date + sequence.  The spaces are disjoint:
  students are born 2003-2020, guardians and teachers before 2001;
  guardians use sequences 001-499 and teachers 500-999.  The counters take
  about 12 MB in all.  The only shared
  IDs are the deliberate teacher-and-university-student people, who are
  allocated once in the student space and written to both files.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import random
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from backend.models import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from backend.registry_import import STUDENT_COLUMNS, TEACHER_COLUMNS
from identity.idnumber import check_char
from identity.names import MIDDLE_DOT

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_DATE",
    "SAMPLE_KINDS",
    "STAGES",
    "STAGE_AGES",
    "STUDENT_HEADER",
    "STUDENT_STATUSES",
    "TEACHER_HEADER",
    "TEACHER_STATUSES",
    "DemoSummary",
    "find_samples",
    "generate",
]

# --------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------

# The contract's columns and values, from the importer and the schema.
STUDENT_HEADER: tuple[str, ...] = tuple(STUDENT_COLUMNS)
TEACHER_HEADER: tuple[str, ...] = tuple(TEACHER_COLUMNS)

DEFAULT_SEED = 20190618
# Ages are computed against this fixed date, never against today.
REFERENCE_DATE = _dt.date(2026, 9, 1)
# Inclusive age ranges (completed years on REFERENCE_DATE) per stage.
STAGE_AGES: dict[str, tuple[int, int]] = {
    "primary": (6, 12),
    "junior": (12, 15),
    "senior": (15, 18),
    "vocational": (15, 19),
    "university": (18, 23),
}

_K12_STAGES = ("primary", "junior", "senior", "vocational")

SAMPLE_KINDS: tuple[str, ...] = (
    "k12_student",
    "vocational_student",
    "parent_with_children",
    "parent_with_four_children",
    "university_student",
    "teacher",
    "teacher_and_university_student",
    "graduated_student",
    "student_without_guardian",
)

# Rows per writerows() call and progress granularity.
_BATCH_ROWS = 5_000
_PROGRESS_EVERY = 100_000

# --------------------------------------------------------------------------
# Reference data (Chinese only in data)
# --------------------------------------------------------------------------

_CITIES: dict[str, str] = {
    "3601": "南昌", "3602": "景德镇", "3603": "萍乡", "3604": "九江",
    "3605": "新余", "3606": "鹰潭", "3607": "赣州", "3608": "吉安",
    "3609": "宜春", "3610": "抚州", "3611": "上饶",
}

# (code, name, population weight) - county-level divisions of Jiangxi.
_DISTRICTS: tuple[tuple[str, str, int], ...] = (
    ("360102", "东湖区", 3), ("360103", "西湖区", 3), ("360104", "青云谱区", 2),
    ("360111", "青山湖区", 3), ("360112", "新建区", 3), ("360113", "红谷滩区", 3),
    ("360121", "南昌县", 3), ("360123", "安义县", 1), ("360124", "进贤县", 2),
    ("360202", "昌江区", 1), ("360203", "珠山区", 2), ("360222", "浮梁县", 1),
    ("360281", "乐平市", 2),
    ("360302", "安源区", 2), ("360313", "湘东区", 1), ("360321", "莲花县", 1),
    ("360322", "上栗县", 1), ("360323", "芦溪县", 1),
    ("360402", "濂溪区", 2), ("360403", "浔阳区", 2), ("360404", "柴桑区", 1),
    ("360423", "武宁县", 1), ("360424", "修水县", 2), ("360425", "永修县", 1),
    ("360426", "德安县", 1), ("360428", "都昌县", 2), ("360429", "湖口县", 1),
    ("360430", "彭泽县", 1), ("360481", "瑞昌市", 1), ("360482", "共青城市", 1),
    ("360483", "庐山市", 1),
    ("360502", "渝水区", 2), ("360521", "分宜县", 1),
    ("360602", "月湖区", 1), ("360603", "余江区", 1), ("360681", "贵溪市", 1),
    ("360702", "章贡区", 3), ("360703", "南康区", 2), ("360704", "赣县区", 2),
    ("360722", "信丰县", 2), ("360723", "大余县", 1), ("360724", "上犹县", 1),
    ("360725", "崇义县", 1), ("360726", "安远县", 1), ("360728", "定南县", 1),
    ("360729", "全南县", 1), ("360730", "宁都县", 2), ("360731", "于都县", 2),
    ("360732", "兴国县", 2), ("360733", "会昌县", 1), ("360734", "寻乌县", 1),
    ("360735", "石城县", 1), ("360781", "瑞金市", 2), ("360783", "龙南市", 1),
    ("360802", "吉州区", 2), ("360803", "青原区", 1), ("360821", "吉安县", 1),
    ("360822", "吉水县", 1), ("360823", "峡江县", 1), ("360824", "新干县", 1),
    ("360825", "永丰县", 1), ("360826", "泰和县", 1), ("360827", "遂川县", 1),
    ("360828", "万安县", 1), ("360829", "安福县", 1), ("360830", "永新县", 1),
    ("360881", "井冈山市", 1),
    ("360902", "袁州区", 2), ("360921", "奉新县", 1), ("360922", "万载县", 1),
    ("360923", "上高县", 1), ("360924", "宜丰县", 1), ("360925", "靖安县", 1),
    ("360926", "铜鼓县", 1), ("360981", "丰城市", 2), ("360982", "樟树市", 1),
    ("360983", "高安市", 2),
    ("361002", "临川区", 2), ("361003", "东乡区", 1), ("361021", "南城县", 1),
    ("361022", "黎川县", 1), ("361023", "南丰县", 1), ("361024", "崇仁县", 1),
    ("361025", "乐安县", 1), ("361026", "宜黄县", 1), ("361027", "金溪县", 1),
    ("361028", "资溪县", 1), ("361030", "广昌县", 1),
    ("361102", "信州区", 2), ("361103", "广丰区", 2), ("361104", "广信区", 2),
    ("361123", "玉山县", 1), ("361124", "铅山县", 1), ("361125", "横峰县", 1),
    ("361126", "弋阳县", 1), ("361127", "余干县", 2), ("361128", "鄱阳县", 2),
    ("361129", "万年县", 1), ("361130", "婺源县", 1), ("361181", "德兴市", 1),
)

# (name, district code, undergraduate?, size weight). Higher-vocational
# colleges (职业技术学院) run three-year programmes, so they only have 大一-大三.
_UNIVERSITIES: tuple[tuple[str, str, bool, int], ...] = (
    ("南昌大学", "360113", True, 6), ("江西师范大学", "360111", True, 4),
    ("江西财经大学", "360111", True, 3), ("华东交通大学", "360111", True, 3),
    ("南昌航空大学", "360111", True, 3), ("江西农业大学", "360111", True, 3),
    ("江西中医药大学", "360112", True, 2), ("江西科技学院", "360111", True, 2),
    ("南昌工程学院", "360111", True, 2), ("九江学院", "360402", True, 3),
    ("景德镇陶瓷大学", "360202", True, 2), ("萍乡学院", "360302", True, 1),
    ("新余学院", "360502", True, 1), ("赣南师范大学", "360702", True, 3),
    ("江西理工大学", "360702", True, 3), ("赣南医科大学", "360702", True, 2),
    ("井冈山大学", "360802", True, 2), ("宜春学院", "360902", True, 2),
    ("东华理工大学", "361002", True, 2), ("上饶师范学院", "361102", True, 2),
    ("九江职业技术学院", "360402", False, 2), ("江西应用技术职业学院", "360702", False, 1),
    ("鹰潭职业技术学院", "360602", False, 1), ("江西工业职业技术学院", "360111", False, 1),
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁"
    "潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦"
    "邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Surnames that are noticeably more common in Jiangxi than nationally.
_JIANGXI_SURNAMES = "涂饶傅聂游甘温"
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙")

_GIVEN_CHILD_M = "子梓浩宇轩睿泽一辰逸俊晨博文昊天皓宸奕航锦铭嘉豪鑫凯翔杰涛鹏志明宏毅诚哲煜瑞阳恒星安然乐思楷沐彦"
_GIVEN_CHILD_F = "子梓欣怡萱涵诗雨梦佳思悦彤可馨语瑶婉琪晴月冰雪婷琳颖慧妍雅洁楠一诺依若曦芸菲蕊佩嘉淑心然乐"
_GIVEN_ADULT_M = "伟强磊军洋勇杰涛明超辉华鹏斌峰志建国平东海林波亮健刚文红春晓金福荣兵永新德清光"
_GIVEN_ADULT_F = "芳娜敏静丽艳娟霞秀玲婷雪慧颖琳红梅英兰凤萍燕琴云华玉珍莉倩桂丹晶洁美"

# Minority (Uyghur-style) personal names; a full name is "own·father's".
_MINORITY_M = (
    "买买提", "艾力", "艾尔肯", "阿不都", "吐尔逊", "库尔班", "热合曼", "塔依尔",
    "伊力哈木", "木合塔尔", "艾合买提", "阿迪力", "肉孜", "亚森", "努尔兰",
)
_MINORITY_F = (
    "阿依古丽", "热依汗", "古丽娜尔", "迪丽努尔", "帕提古丽", "米热古丽", "祖力菲亚",
    "阿娜尔", "努尔古丽", "古再丽", "阿孜古丽", "萨依普加马",
)

_GRADES: dict[str, tuple[str, ...]] = {
    "primary": ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级"),
    "junior": ("初一", "初二", "初三"),
    "senior": ("高一", "高二", "高三"),
    "vocational": ("中职一年级", "中职二年级", "中职三年级"),
    "university": ("大一", "大二", "大三", "大四"),
}
_CLASS_COUNT: dict[str, int] = {
    "primary": 10, "junior": 12, "senior": 14, "vocational": 8, "university": 6,
}

# Probabilities (tuned for a plausible registry, not official statistics).
_P_MULTI_CHILD_FAMILY = 0.10
_P_MINORITY = 0.005
_P_COMPOUND_SURNAME = 0.01
_P_MALE_CHILD = 0.52
_P_LATE_START = 0.15            # started school a year late / repeated a year
_P_VOCATIONAL = 0.35            # of upper-secondary students
_P_GUARDIANS_K12 = 0.97         # registry has guardian data for a K-12 family
_P_GUARDIANS_UNIVERSITY = 0.15  # ... for a university-only family
_P_FATHER_FIRST = 0.62
_P_SECOND_GUARDIAN = 0.45
_P_HOME_DISTRICT = 0.85         # ID area code equals the school's district
_P_TEACHER_FEMALE = 0.65
_P_TEACHER_UNIVERSITY = 0.15
_TEACHER_STUDENT_SHARE = 0.01   # of teachers who are also university students
# Student status: enrolled 95%, graduated 2.5%, suspended 1.3%, withdrawn 1.2%.
_RELATION = ("母亲", "父亲")  # by male 0/1

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

_DIGITS = "零一二三四五六七八九"


def _cn_number(n: int) -> str:
    """Chinese numeral for 1..99 (十, 十九, 二十, 二十一)."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else _DIGITS[tens] + "十"
    return head + (_DIGITS[ones] if ones else "")


def _expand(items: Sequence[object], weights: Sequence[float], scale: float) -> list:
    """A lookup pool: each item repeated round(weight * scale) times, so a
    weighted pick is `pool[int(random() * len(pool))]`."""
    pool: list = []
    for item, w in zip(items, weights):
        pool.extend([item] * max(1, round(w * scale)))
    return pool


def _given_pool(chars: str, p_single: float, p_double: float = 0.015) -> list[str]:
    """Given names from characters: two different characters, one character
    with probability `p_single`, a reduplicated one (婷婷) with `p_double`."""
    chars = "".join(dict.fromkeys(chars))  # de-duplicate, keep order
    pairs = [a + b for a in chars for b in chars if a != b]
    per_char = len(pairs) / ((1 - p_single - p_double) * len(chars))
    singles = [c for c in chars for _ in range(max(1, round(p_single * per_char)))]
    doubles = [c + c for c in chars for _ in range(max(1, round(p_double * per_char)))]
    return pairs + singles + doubles


def _age_window(age: int) -> tuple[_dt.date, _dt.date]:
    """First and last birth date of people aged `age` on REFERENCE_DATE."""
    last = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    first = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age - 1) + _dt.timedelta(days=1)
    return first, last


# ID check character, fast path: weighted digit sums are precomputed per part
# (area, birth date, sequence), so a check char is one addition and a lookup.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


def _weighted(digits: str, offset: int) -> int:
    return sum(int(d) * _WEIGHTS[offset + i] for i, d in enumerate(digits))


def _check_by_residue() -> str:
    """Check character per weighted-sum residue, taken from check_char (the
    single source of truth) by probing the last two digit positions."""
    table = [""] * 11
    for a in range(10):
        for b in range(10):
            probe = "0" * 15 + str(a) + str(b)
            table[_weighted(probe, 0) % 11] = check_char(probe)
    if not all(table):
        raise RuntimeError("check_char probe did not reach every residue")
    return "".join(table)


_CHECK = _check_by_residue()
_SEQ_STR = tuple(f"{s:03d}" for s in range(1000))
_SEQ_W = tuple(_weighted(s, 14) for s in _SEQ_STR)
# District code -> full name (360102 -> 南昌市东湖区): reports and the dashboard.
DISTRICT_NAMES: dict[str, str] = {
    code: _CITIES[code[:4]] + "市" + name if code[:4] in _CITIES else name for code, name, _ in _DISTRICTS
}

_AREA_STR = tuple(code for code, _, _ in _DISTRICTS)
_AREA_W = tuple(_weighted(code, 0) for code in _AREA_STR)
_AREA_POOL = _expand(range(len(_DISTRICTS)), [w for _, _, w in _DISTRICTS], 4)


class _IdSpace:
    """Issues unique ID numbers born between `first` and `last`.

    A counter per (area, day, gender) slot picks the slot's next sequence
    number through a rotated permutation, so IDs are unique by construction.
    When a slot is full the next area code is tried.
    """

    def __init__(self, first: _dt.date, last: _dt.date, male_seqs: Sequence[int],
                 female_seqs: Sequence[int]) -> None:
        self.first = first
        self.days = (last - first).days + 1
        self.day_str: list[str] = []
        self.day_iso: list[str] = []
        self.day_w: list[int] = []
        for i in range(self.days):
            d = first + _dt.timedelta(days=i)
            compact = d.strftime("%Y%m%d")
            self.day_str.append(compact)
            self.day_iso.append(d.isoformat())
            self.day_w.append(_weighted(compact, 6))
        # Spread sequence numbers (a fixed stride permutation) so that the
        # first person of every slot does not get the same sequence.
        self.seqs = (self._spread(female_seqs), self._spread(male_seqs))
        self.caps = (len(female_seqs), len(male_seqs))
        self.counts = array("H", bytes(2 * len(_AREA_STR) * self.days * 2))
        self.day_year = [int(d[:4]) for d in self.day_str]
        self.issue: Callable[[int, int, int], str] = self._make_issuer()

    @staticmethod
    def _spread(values: Sequence[int]) -> tuple[int, ...]:
        n = len(values)
        stride = 193 if n % 193 else 197
        return tuple(values[(k * stride + 7) % n] for k in range(n))

    def day_index(self, d: _dt.date) -> int:
        return (d - self.first).days

        self.issue: Callable[[int, int, int], str] = self._make_issuer()
        self.day_year = [int(d[:4]) for d in self.day_str]

    def _make_issuer(self) -> Callable[[int, int, int], str]:
        """issue(area index, day index, male 0/1) -> a fresh ID number.
        A closure over locals: this runs once or more per row."""
        counts, days, seqs, caps = self.counts, self.days, self.seqs, self.caps
        day_str, day_w = self.day_str, self.day_w
        area_str, area_w, seq_str, seq_w, check = _AREA_STR, _AREA_W, _SEQ_STR, _SEQ_W, _CHECK
        n_areas = len(area_str)

        def issue(area: int, day: int, male: int) -> str:
            cap = caps[male]
            slot = ((area * days + day) << 1) | male
            c = counts[slot]
            tries = 1
            while c >= cap:  # slot full: same birth date, next area code
                if tries == n_areas:
                    raise ValueError("demo ID space exhausted for one birth date; too many rows")
                tries += 1
                area = (area + 1) % n_areas
                slot = ((area * days + day) << 1) | male
                c = counts[slot]
            counts[slot] = c + 1
            s = seqs[male][(c + slot * 31) % cap]
            return (area_str[area] + day_str[day] + seq_str[s]
                    + check[(area_w[area] + day_w[day] + seq_w[s]) % 11])

        return issue


def _student_space() -> _IdSpace:
    oldest = _age_window(STAGE_AGES["university"][1] - 1)[0]  # age 22
    youngest = _age_window(STAGE_AGES["primary"][0])[1]        # age 6
    return _IdSpace(oldest, youngest, range(1, 1000, 2), range(2, 1000, 2))


def _guardian_space() -> _IdSpace:
    return _IdSpace(_dt.date(1970, 1, 1), _dt.date(1995, 12, 31),
                    range(1, 500, 2), range(2, 500, 2))


def _teacher_space() -> _IdSpace:
    return _IdSpace(_dt.date(1960, 1, 1), _dt.date(2000, 12, 31),
                    range(501, 1000, 2), range(500, 1000, 2))


# --------------------------------------------------------------------------
# School catalogue (fixed, independent of the seed)
# --------------------------------------------------------------------------

_NINE_YEAR = ("育新", "育才", "明德", "阳光")


def _build_schools() -> tuple[dict[str, list[list[tuple[str, str]]]], list[list[tuple[str, str]]],
                              list[tuple[str, str, str, bool, int]]]:
    """Per stage and district index: (school_code, school_name) lists; per
    district all K-12 schools; universities as (code, name, district, undergrad, weight)."""
    by_stage: dict[str, list[list[tuple[str, str]]]] = {
        s: [[] for _ in _DISTRICTS] for s in ("primary", "junior", "senior", "vocational")
    }
    all_k12: list[list[tuple[str, str]]] = [[] for _ in _DISTRICTS]
    city_middle: dict[str, int] = {}
    city_vocational: dict[str, int] = {}
    for i, (code, name, _) in enumerate(_DISTRICTS):
        city = _CITIES[code[:4]]
        urban = name.endswith("区")
        serial = 0

        def add(school: str, stages: tuple[str, ...]) -> None:
            nonlocal serial
            serial += 1
            entry = (f"3{code}{serial:03d}", school)
            for stage in stages:
                by_stage[stage][i].append(entry)
            all_k12[i].append(entry)

        add(f"{name}实验小学", ("primary",))
        for k in (1, 2, 3):
            add(f"{name}第{_cn_number(k)}小学", ("primary",))
        add(f"{name}{_NINE_YEAR[i % len(_NINE_YEAR)]}学校", ("primary", "junior"))
        add(f"{name}实验中学", ("junior",))
        if urban:
            # City-numbered secondary schools (junior + senior sections).
            for _ in range(4 if city == "南昌" else 2):
                city_middle[city] = city_middle.get(city, 0) + 1
                add(f"{city}市第{_cn_number(city_middle[city])}中学", ("junior", "senior"))
            city_vocational[city] = city_vocational.get(city, 0) + 1
            add(f"{city}市第{_cn_number(city_vocational[city])}中等专业学校", ("vocational",))
        else:
            add(f"{name}第一中学", ("senior",))
            add(f"{name}第二中学", ("junior", "senior"))
            add(f"{name}中等专业学校", ("vocational",))
    universities = [
        (f"41360{10400 + k}", uname, district, undergrad, weight)
        for k, (uname, district, undergrad, weight) in enumerate(_UNIVERSITIES)
    ]
    return by_stage, all_k12, universities


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What `generate` wrote, plus sample identities for demos."""

    out_dir: Path
    seed: int
    students: int                        # rows in students.csv
    teachers: int                        # rows in teachers.csv
    families: int = 0                    # groups of siblings sharing guardians
    guardians: int = 0                   # distinct guardian people
    multi_child_families: int = 0        # families with 2-4 children
    largest_family: int = 0              # children in the largest family
    students_without_guardian: int = 0   # rows with empty guardian columns
    teacher_and_university_students: int = 0  # people in both files
    by_stage: dict[str, int] = field(default_factory=dict)   # in STAGES order
    by_status: dict[str, int] = field(default_factory=dict)  # in STUDENT_STATUSES order
    samples: list[dict] = field(default_factory=list)        # see find_samples()

    @property
    def students_csv(self) -> Path:
        return self.out_dir / "students.csv"

    @property
    def teachers_csv(self) -> Path:
        return self.out_dir / "teachers.csv"


def generate(
    students: int,
    teachers: int,
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    progress: Optional[Callable[[int], None]] = None,
) -> DemoSummary:
    """Write `students.csv` and `teachers.csv` into `out_dir`.

    The same arguments always give byte-identical files. `progress`, if
    given, is called with the number of rows written so far (students, then
    teachers) about every 100,000 rows and once at the end. Files are
    written under a temporary name and renamed when complete.
    """
    if students < 0 or teachers < 0:
        raise ValueError("row counts must be >= 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rnd = rng.random

    by_stage, all_k12, universities = _build_schools()
    summary = DemoSummary(out_dir=out_dir, seed=seed, students=students, teachers=teachers,
                          by_stage={s: 0 for s in STAGES},
                          by_status={s: 0 for s in STUDENT_STATUSES})

    # ---- pools -----------------------------------------------------------
    # Rank-based weights (Zipf-like): the top five cover about a quarter.
    surnames = list(_SURNAMES) + list(_JIANGXI_SURNAMES)
    weights = [1000 / (rank + 5) for rank in range(len(_SURNAMES))] + [12.0] * len(_JIANGXI_SURNAMES)
    surname_pool = _expand(surnames, weights, 1.0)
    # Compound surnames make up about _P_COMPOUND_SURNAME of all draws.
    compound_total = len(surname_pool) * _P_COMPOUND_SURNAME / (1 - _P_COMPOUND_SURNAME)
    compound_each = compound_total / len(_COMPOUND_SURNAMES)
    surname_pool += _expand(_COMPOUND_SURNAMES, [compound_each] * len(_COMPOUND_SURNAMES), 1.0)
    n_surnames = len(surname_pool)
    given = {  # (male, adult) -> given names, one pick per name
        (1, 0): _given_pool(_GIVEN_CHILD_M, 0.10), (0, 0): _given_pool(_GIVEN_CHILD_F, 0.10),
        (1, 1): _given_pool(_GIVEN_ADULT_M, 0.22), (0, 1): _given_pool(_GIVEN_ADULT_F, 0.22),
    }
    minority_given = {1: _MINORITY_M, 0: _MINORITY_F}

    univ_all = _expand(universities, [u[4] for u in universities], 1.0)
    univ_undergrad = _expand([u for u in universities if u[3]], [u[4] for u in universities if u[3]], 1.0)
    class_names = {s: [f"{k}班" for k in range(1, n + 1)] for s, n in _CLASS_COUNT.items()}

    # School year 0..15 (一年级 .. 大四), weighted: fewer university students.
    school_years = list(range(16))
    school_year_pool = _expand(school_years, [1.0] * 12 + [0.45] * 4, 20)

    student_ids = _student_space()
    guardian_ids = _guardian_space()
    teacher_ids = _teacher_space()
    age_days: dict[int, tuple[int, int]] = {}
    for age in range(STAGE_AGES["primary"][0], STAGE_AGES["university"][1]):
        first, last = _age_window(age)
        age_days[age] = (student_ids.day_index(first), student_ids.day_index(last))
    year_first_day = {y: guardian_ids.day_index(_dt.date(y, 1, 1)) for y in range(1970, 1996)}
    year_last_day = {y: guardian_ids.day_index(_dt.date(y, 12, 31)) for y in range(1970, 1996)}

    # ---- name helpers ----------------------------------------------------
    def pick_surname() -> str:
        return surname_pool[int(rnd() * n_surnames)]

    def han_name(surname: str, male: int, adult: int) -> str:
        pool = given[(male, adult)]
        return surname + pool[int(rnd() * len(pool))]

    def minority_name(male: int, father_given: Optional[str] = None) -> str:
        own = minority_given[male]
        if father_given is None:
            father_given = _MINORITY_M[int(rnd() * len(_MINORITY_M))]
        return own[int(rnd() * len(own))] + MIDDLE_DOT + father_given

    def adult_name(male: int) -> str:
        if rnd() < _P_MINORITY:
            return minority_name(male)
        return han_name(pick_surname(), male, 1)

    # ---- teacher-and-university-student people -----------------------------
    n_overlap = 0
    if students and teachers:
        n_overlap = min(students, teachers, max(1, round(teachers * _TEACHER_STUDENT_SHARE)))
    overlap_people: list[tuple[str, str, int, int, int]] = []  # (name, id, male, age, day)
    for _ in range(n_overlap):
        male = int(rnd() < 0.45)
        age = 20 + int(rnd() * 3)
        lo, hi = age_days[age]
        area = _AREA_POOL[int(rnd() * len(_AREA_POOL))]
        day = lo + int(rnd() * (hi - lo + 1))
        pid = student_ids.issue(area, day, male)
        name = minority_name(male) if rnd() < _P_MINORITY else han_name(pick_surname(), male, 0)
        overlap_people.append((name, pid, male, age, day))
    summary.teacher_and_university_students = n_overlap

    def parent(male: int, area: int, youngest_year: int, hi_year: int,
               father_name: str, minority: bool, spouse_year: int = 0) -> tuple[str, str]:
        """Name and ID of a parent born 1970..hi_year, 20..45 (mother) or
        20..50 (father) years older than the children and, when the spouse's
        birth year is given, at most five years apart from the spouse."""
        lo_year = youngest_year - (50 if male else 45)
        if lo_year < 1970:
            lo_year = 1970
        if lo_year > hi_year:
            lo_year = hi_year
        if spouse_year:
            near_lo, near_hi = max(lo_year, spouse_year - 5), min(hi_year, spouse_year + 5)
            if near_lo <= near_hi:
                lo_year, hi_year = near_lo, near_hi
        lo_d = year_first_day[lo_year]
        hi_d = year_last_day[hi_year]
        pday = lo_d + int(rnd() * (hi_d - lo_d + 1))
        parea = area if rnd() < _P_HOME_DISTRICT else _AREA_POOL[int(rnd() * len(_AREA_POOL))]
        pid = guardian_ids.issue(parea, pday, male)
        if male:
            return father_name, pid
        if minority:
            return minority_name(0), pid
        return han_name(pick_surname(), 0, 1), pid

    rows_done = 0
    last_reported = -1
    next_progress = _PROGRESS_EVERY

    def flush(writer: Any, batch: list[list[str]]) -> None:
        """Write a batch of rows; report progress at each 100k boundary."""
        nonlocal rows_done, last_reported, next_progress
        writer.writerows(batch)
        rows_done += len(batch)
        batch.clear()
        if progress is not None and rows_done >= next_progress:
            progress(rows_done)
            last_reported = rows_done
            next_progress = (rows_done // _PROGRESS_EVERY + 1) * _PROGRESS_EVERY

    # ---- students ----------------------------------------------------------
    def university_row(name: str, sid: str, male: int, day: int, grade_idx: int, status: str,
                       number: int, g: list[str]) -> list[str]:
        # Three-year colleges have no 大四: fourth-years go to undergraduate schools.
        pool = univ_undergrad if grade_idx >= 3 else univ_all
        ucode, uname, udistrict, _, _ = pool[int(rnd() * len(pool))]
        enrolled_year = REFERENCE_DATE.year - grade_idx
        return [f"{enrolled_year}{ucode[-4:]}{number:08d}", name, sid, "MF"[1 - male],
                student_ids.day_iso[day], "university", ucode, uname, udistrict,
                _GRADES["university"][grade_idx],
                class_names["university"][int(rnd() * _CLASS_COUNT["university"])],
                status] + g

    empty_guardians = ["", "", "", "", "", ""]
    genders = ("F", "M")
    area_pool = _AREA_POOL
    n_area_pool = len(area_pool)
    n_school_years = len(school_year_pool)
    issue_student = student_ids.issue
    day_iso = student_ids.day_iso
    day_year = student_ids.day_year
    k12_grades = {s: _GRADES[s] for s in _K12_STAGES}
    k12_classes = {s: class_names[s] for s in _K12_STAGES}
    stage_counts = summary.by_stage
    status_counts = summary.by_status
    students_tmp = out_dir / "students.csv.tmp"
    with open(students_tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as fh:
        writer = csv.writer(fh)
        writer.writerow(STUDENT_HEADER)
        batch: list[list[str]] = []
        produced = families = multi_child = guardians = no_guardian = 0
        largest = 0
        overlap_left = n_overlap
        overlap_positions = [j * students // n_overlap for j in range(n_overlap)] if n_overlap else []

        while produced < students:
            # Teacher-and-university-student rows, spread evenly (first at row 0).
            if overlap_left and (produced >= overlap_positions[n_overlap - overlap_left]
                                 or students - produced == overlap_left):
                name, pid, male, age, day = overlap_people[n_overlap - overlap_left]
                batch.append(university_row(name, pid, male, day, 3 if age >= 21 else 2,
                                            "enrolled", produced, empty_guardians))
                stage_counts["university"] += 1
                status_counts["enrolled"] += 1
                no_guardian += 1
                overlap_left -= 1
                produced += 1
                continue

            # Family size; the second family always has four children (with
            # guardian data), so every registry exercises the proxy-claim cap.
            budget = students - produced - overlap_left
            forced = families == 1 and budget >= 4
            if forced:
                k = 4
            elif rnd() < _P_MULTI_CHILD_FAMILY:
                r = rnd()
                k = 2 if r < 0.70 else (3 if r < 0.92 else 4)
                if k > budget:
                    k = budget
            else:
                k = 1

            # Children's (school year, age): one child anywhere from 一年级 to
            # 大四; siblings get distinct K-12 ages at least two years apart.
            if k == 1:
                sy = school_year_pool[int(rnd() * n_school_years)]
                if sy == 0:
                    late = 1 if rnd() < 0.3 else 0
                else:
                    late = 1 if rnd() < _P_LATE_START else 0
                ages = [(sy, sy + 6 + late)]
            else:
                ages = []
                for j, a in enumerate(sorted(rng.sample(range(6, 19 - k), k))):
                    age = a + j
                    late = 1 if age > 6 and rnd() < _P_LATE_START else 0
                    ages.append((age - 6 - late, age))

            minority = rnd() < _P_MINORITY
            area = area_pool[int(rnd() * n_area_pool)]
            home = area if rnd() < _P_HOME_DISTRICT else area_pool[int(rnd() * n_area_pool)]
            father_surname = pick_surname()
            father_given = _MINORITY_M[int(rnd() * len(_MINORITY_M))] if minority else ""

            children = []
            oldest_day = youngest_day = -1
            all_university = True
            for sy, age in ages:
                lo, hi = age_days[age]
                day = lo + int(rnd() * (hi - lo + 1))
                male = 1 if rnd() < _P_MALE_CHILD else 0
                sid = issue_student(area, day, male)
                if minority:
                    name = minority_name(male, father_given)
                else:
                    name = han_name(father_surname, male, 0)
                children.append((name, sid, male, day, sy))
                if oldest_day < 0 or day < oldest_day:
                    oldest_day = day
                if day > youngest_day:
                    youngest_day = day
                if sy < 12:
                    all_university = False

            # Guardians: parents born 1970-1995, 20-45 (mother) or 20-50 (father)
            # years older than the children.
            if forced or rnd() < (_P_GUARDIANS_UNIVERSITY if all_university else _P_GUARDIANS_K12):
                youngest_year = day_year[youngest_day]
                hi_year = day_year[oldest_day] - 21  # at least 20 full years older
                if hi_year > 1995:
                    hi_year = 1995
                if minority:
                    father_name = father_given + MIDDLE_DOT + _MINORITY_M[int(rnd() * len(_MINORITY_M))]
                else:
                    father_name = han_name(father_surname, 1, 1)
                first_male = 1 if rnd() < _P_FATHER_FIRST else 0
                g1name, g1id = parent(first_male, area, youngest_year, hi_year, father_name, minority)
                if rnd() < _P_SECOND_GUARDIAN:
                    g2name, g2id = parent(1 - first_male, area, youngest_year, hi_year,
                                          father_name, minority, int(g1id[6:10]))
                    g = [g1name, g1id, _RELATION[first_male], g2name, g2id, _RELATION[1 - first_male]]
                    guardians += 2
                else:
                    g = [g1name, g1id, _RELATION[first_male], "", "", ""]
                    guardians += 1
            else:
                g = empty_guardians
                no_guardian += k

            families += 1
            if k > 1:
                multi_child += 1
            if k > largest:
                largest = k

            for name, sid, male, day, sy in children:
                if forced:
                    status = "enrolled"
                else:
                    r = rnd()
                    status = ("enrolled" if r < 0.95 else "graduated" if r < 0.975
                              else "suspended" if r < 0.988 else "withdrawn")
                status_counts[status] += 1
                if sy >= 12:
                    stage_counts["university"] += 1
                    batch.append(university_row(name, sid, male, day, sy - 12, status, produced, g))
                else:
                    if sy < 6:
                        stage, grade_idx = "primary", sy
                    elif sy < 9:
                        stage, grade_idx = "junior", sy - 6
                    else:
                        stage = "vocational" if rnd() < _P_VOCATIONAL else "senior"
                        grade_idx = sy - 9
                    stage_counts[stage] += 1
                    schools = by_stage[stage][home]
                    scode, sname = schools[int(rnd() * len(schools))]
                    classes = k12_classes[stage]
                    batch.append([
                        "G" + sid, name, sid, genders[male], day_iso[day], stage, scode, sname,
                        _AREA_STR[home], k12_grades[stage][grade_idx],
                        classes[int(rnd() * len(classes))], status,
                    ] + g)
                produced += 1
            if len(batch) >= _BATCH_ROWS:
                flush(writer, batch)
        if batch:
            flush(writer, batch)
    summary.families = families
    summary.multi_child_families = multi_child
    summary.largest_family = largest
    summary.guardians = guardians
    summary.students_without_guardian = no_guardian

    # ---- teachers ----------------------------------------------------------
    teachers_tmp = out_dir / "teachers.csv.tmp"
    issue_teacher = teacher_ids.issue
    teacher_year = teacher_ids.day_year
    n_teacher_days = teacher_ids.days
    n_univ = len(univ_all)
    ref_year = REFERENCE_DATE.year
    with open(teachers_tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as fh:
        writer = csv.writer(fh)
        writer.writerow(TEACHER_HEADER)
        batch = []
        overlap_positions = [j * teachers // n_overlap for j in range(n_overlap)] if n_overlap else []
        next_overlap = 0
        for j in range(teachers):
            if next_overlap < n_overlap and j >= overlap_positions[next_overlap]:
                name, pid, male, _age, _day = overlap_people[next_overlap]
                next_overlap += 1
                # A young K-12 teacher studying for a degree at the same time.
                district = area_pool[int(rnd() * n_area_pool)]
                schools = all_k12[district]
                scode, sname = schools[int(rnd() * len(schools))]
                batch.append([f"T{j + 1:08d}", name, pid, genders[male], scode, sname,
                              _AREA_STR[district], "active"])
            else:
                male = 0 if rnd() < _P_TEACHER_FEMALE else 1
                day = int(rnd() * n_teacher_days)
                area = area_pool[int(rnd() * n_area_pool)]
                tid = issue_teacher(area, day, male)
                name = adult_name(male)
                if rnd() < _P_TEACHER_UNIVERSITY:
                    scode, sname, sdistrict, _, _ = univ_all[int(rnd() * n_univ)]
                else:
                    district = area if rnd() < _P_HOME_DISTRICT else area_pool[int(rnd() * n_area_pool)]
                    schools = all_k12[district]
                    scode, sname = schools[int(rnd() * len(schools))]
                    sdistrict = _AREA_STR[district]
                # Statutory retirement age (approximate, by birth year): 60 / 55.
                r = rnd()
                if ref_year - teacher_year[day] >= (60 if male else 55):
                    status = "retired" if r < 0.85 else "active"
                else:
                    status = "left" if r < 0.04 else "active"
                batch.append([f"T{j + 1:08d}", name, tid, genders[male], scode, sname,
                              sdistrict, status])
            if len(batch) >= _BATCH_ROWS:
                flush(writer, batch)
        if batch:
            flush(writer, batch)

    os.replace(students_tmp, out_dir / "students.csv")
    os.replace(teachers_tmp, out_dir / "teachers.csv")
    if progress is not None and last_reported != rows_done:
        progress(rows_done)
    summary.samples = find_samples(out_dir)
    return summary

def find_samples(out_dir: Path, limit: int = 5000) -> list[dict]:
    """One example identity per kind in SAMPLE_KINDS (in that order; kinds
    not found in the first `limit` rows of each file are left out).

    Every sample has "kind", "name" and "id_number"; students also carry
    "stage", "grade", "school_name" and "status"; teachers "school_name" and
    "status"; parents "relation" and "children" (name, id_number, stage,
    grade, status of each child).
    """
    out_dir = Path(out_dir)
    students = _read_rows(out_dir / "students.csv", limit)
    teachers = _read_rows(out_dir / "teachers.csv", limit)
    student_ids = {row["id_number"] for row in students}
    teacher_ids = {row["id_number"] for row in teachers}
    found: dict[str, dict] = {}

    def student_sample(kind: str, row: dict[str, str]) -> dict:
        return {"kind": kind, "name": row["name"], "id_number": row["id_number"],
                "stage": row["stage"], "grade": row["grade"],
                "school_name": row["school_name"], "status": row["status"]}

    # Parents in order of first appearance; a family's rows are consecutive.
    parents: dict[str, dict] = {}
    for row in students:
        stage, status = row["stage"], row["status"]
        for n in ("1", "2"):
            gid = row[f"guardian{n}_id_number"]
            if gid:
                entry = parents.setdefault(gid, {
                    "name": row[f"guardian{n}_name"], "id_number": gid,
                    "relation": row[f"guardian{n}_relation"], "children": []})
                entry["children"].append({"name": row["name"], "id_number": row["id_number"],
                                          "stage": stage, "grade": row["grade"], "status": status})
        if status == "graduated":
            found.setdefault("graduated_student", student_sample("graduated_student", row))
        if status != "enrolled":
            continue
        if stage == "university":
            kind = ("teacher_and_university_student" if row["id_number"] in teacher_ids
                    else "university_student")
            found.setdefault(kind, student_sample(kind, row))
        elif not row["guardian1_id_number"]:
            found.setdefault("student_without_guardian", student_sample("student_without_guardian", row))
        elif stage == "vocational":
            found.setdefault("vocational_student", student_sample("vocational_student", row))
        else:
            found.setdefault("k12_student", student_sample("k12_student", row))

    for entry in parents.values():
        n_children = len(entry["children"])
        kind = ("parent_with_four_children" if n_children >= 4
                else "parent_with_children" if n_children >= 2 else None)
        if kind and kind not in found:
            found[kind] = {"kind": kind, **entry}

    for row in teachers:
        # Regular teachers are born before 2001; the younger ones are the
        # teacher-and-university-student people.
        if (row["status"] == "active" and row["id_number"][6:10] <= "2000"
                and row["id_number"] not in student_ids):
            found["teacher"] = {"kind": "teacher", "name": row["name"], "id_number": row["id_number"],
                                "school_name": row["school_name"], "status": row["status"]}
            break
    if "teacher_and_university_student" in found:
        sample = found["teacher_and_university_student"]
        teacher = next(r for r in teachers if r["id_number"] == sample["id_number"])
        sample["teacher_school_name"] = teacher["school_name"]
        sample["teacher_status"] = teacher["status"]

    return [found[kind] for kind in SAMPLE_KINDS if kind in found]


def _read_rows(path: Path, limit: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append(row)
            if len(rows) >= limit:
                break
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Manual use: python -m backend.demo_registry --students N --teachers M --out DIR."""
    parser = argparse.ArgumentParser(description="Write a deterministic demo registry.")
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--teachers", type=int, default=800)
    parser.add_argument("--out", type=Path, default=Path("var/demo"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    summary = generate(args.students, args.teachers, args.out, args.seed,
                       progress=lambda n: print(f"{n:,} rows", flush=True))
    print(f"{summary.students:,} students, {summary.teachers:,} teachers, "
          f"{summary.families:,} families, {summary.guardians:,} guardians -> {summary.out_dir}")
    for sample in summary.samples:
        print(f"  {sample['kind']:32} {sample['name']} {sample['id_number']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
