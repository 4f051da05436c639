"""Entity rules after DIET: role values, names DIET missed, ID numbers.

Pure Python (no Rasa import), used by bot/entities.py (the pipeline
component) and unit-tested in .venv (tests/bot/test_nlu_entities.py).

`refine(text, entities, intent)` takes the message text as the pipeline
sees it (bot/normaliser.py's rewrite: Simplified, half-width, same length
as what the user typed, so offsets hold for the original) and the entities
found so far (DIET, RegexEntityExtractor, EntitySynonymMapper), and returns
the entities to keep:

(a) every role entity is mapped to one of the five contract values by a
    lexicon of role words, or dropped (本人领取, 自己, a stray 帮);
    a role word followed by 让/叫/通知... ("老师让我领卡") states no role;
(b) role entities DIET missed are added for clear statements of the user's
    own kind: 我是/作为/身份是 + ... + a role word (the phrase's last one,
    its head noun), a parent's wording (孩子他爸, 帮娃领, 代领), 我在读大二,
    or a short answer that is a role word (a button's title);
(c) person_name entities DIET missed or cut are added for clear patterns
    (我叫X, 孩子叫X, 名字是X, 给女儿X领卡, 改成X, a bare name, a name next
    to an ID number), checked with identity.check_name, has_surname and
    NOT_NAMES; DIET's name fragments inside or next to them are replaced;
(d) ID numbers typed with spaces or dashes become one entity, every
    id_number value is normalised (identity.normalise_id: upper-case X),
    and overlapping entities of the same kind are deduplicated.

Everything is regular expressions and set look-ups: a few microseconds a
message, and deterministic (bot/nlu_cache.py caches parses).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from identity import check_name, normalise_id, normalise_name
from identity.idnumber import SEPARATOR_CHARS
from identity.surnames import COMPOUND, NOT_NAMES, SINGLE as _SINGLE

# Common surnames missing from identity's list (洪, and 赖: common in Jiangxi).
SINGLE = _SINGLE | frozenset("洪赖钭")


def has_surname(name: str) -> bool:
    return name[:2] in COMPOUND or name[:1] in SINGLE

ROLE_VALUES = ("k12_student", "parent", "university_student", "teacher", "public")
EXTRACTOR = "EntityRules"

# ---------------------------------------------------------------- roles

# Role words, each with its value. Matched longest first, left to right.
_ROLE_LEXICON: Dict[str, str] = {}


def _words(value: str, words: str) -> None:
    for w in words.split():
        _ROLE_LEXICON[w] = value


_words("k12_student", """
    中小学生 中小学 中职学生 中职生 中职 中专生 中专学生 中专 职高生 职高 技校生 技校 小学生 初中生 高中生 中学生
    学生本人 学生 学生党 小学 初中 高中 中学 初一 初二 初三 高一 高二 高三 一年级 二年级 三年级 四年级 五年级
    六年级 七年级 八年级 九年级 小朋友本人
""")
_words("university_student", """
    大学生 大学 大专生 大专 专科生 本科生 本科 研究生 硕士生 硕士 博士生 博士 高职生 高职 大一 大二 大三 大四
    大五 研一 研二 研三 博一 博二 在校大学生 大学本科
""")
_words("teacher", """
    教师 老师 班主任 教职工 教职员工 辅导员 校长 副校长 教员 任课老师 老师本人 教师本人 在职教师 退休教师 幼师
    幼儿园老师 教练 代课老师 老教师 教书的 教书 当老师的 老师本人
""")
_words("parent", """
    家长 学生家长 监护人 家长代领 代领 爸爸 妈妈 爸 妈 父亲 母亲 老爸 老妈 爹 娘 孩子爸 孩子妈 孩子他爸 孩子他妈
    孩子她爸 孩子她妈 孩他爸 孩他妈 娃他爸 娃他妈 娃他爹 娃他娘 孩子他爹 孩子他娘 孩他爹 孩他娘 当妈的 当爸的 娃爸 娃妈 宝爸 宝妈 孩子爸爸 孩子妈妈 爷爷 奶奶 外公 外婆 姥姥
    姥爷 舅舅 舅妈 姑姑 姑妈 姑父 小姨 姨妈 姨父 阿姨 叔叔 婶婶 伯伯 伯母 大伯 哥哥 姐姐 继父 继母 后妈 亲戚
    他爸 她爸 他妈 她妈 他爹 他娘 帮孩子 给孩子 替孩子 帮孩子领 帮娃 给娃 帮小孩 给小孩 帮女儿 给女儿 帮儿子 给儿子 帮闺女 给闺女 外祖父 外祖母
    祖父 祖母 监护者 孩子家长 孩子的家长 表哥 表姐 表叔 表姑 表舅 嫲嫲 阿嬷 阿婆 外祖 干妈 干爹
""")
_words("public", """
    社会公众 社会人员 社会人士 普通市民 市民 普通人 普通群众 群众 公众 都不是 都不是的 上班族 打工人 打工的 个体户
    自由职业 自由职业者 打工 退休人员 退休职工 上班 公务员 医生 护士 工人 农民 司机 职工 个体 务工人员 上班的 社会上 以上都不是 哪个都不是 啥都不是 都不是吧 已经工作 已工作 工作了 毕业了 社会上的
""")
_ROLE_WORDS = sorted(_ROLE_LEXICON, key=len, reverse=True)
_ROLE_RE = re.compile("|".join(map(re.escape, _ROLE_WORDS)))
# Words that, inside a role phrase, make a generic 学生 a university student.
_UNIVERSITY_HINT = re.compile(r"大学|学院|大专|高校|本科|研究生|高职|大[一二三四五]|研[一二三]|硕士|博士|专科")
# Relatives (kept as parent) are a role only in a self statement.
_RELATIVES = frozenset("""爷爷 奶奶 外公 外婆 姥姥 姥爷 舅舅 舅妈 姑姑 姑妈 姑父 小姨 姨妈 姨父 阿姨 叔叔 婶婶 伯伯 伯母 大伯
    哥哥 姐姐 继父 继母 后妈 亲戚 外祖父 外祖母 祖父 祖母 爸 妈 爹 娘 表哥 表姐 表叔 表姑 表舅 嫲嫲 阿嬷 阿婆 外祖 干妈 干爹""".split())
# After a role word: someone else acts ("老师让我领卡", "家长群里说").
_OTHER_ACTS = re.compile(r"(?:让|叫|说|通知|要求|布置|喊|催|讲|告诉|发|群|证|号|们|那边|那里|在群|推荐|安排|统一|组织)")
# Before a role word: it is someone else ("问老师", "找班主任", "跟家长说").
_OTHER_BEFORE = re.compile(r"(?:问|找|联系|跟|和|让|叫|给|告诉|通知|请|催|的)$")

_SELF = re.compile(
    r"(?<!不)(?<!不就)(?:我是|我系|俺是|我就是|我算是|我算|我属于|本人是|本人系|^身份是|^我的身份是|作为|我是个|我是一个|我是一名|"
    r"我是一位|我这边是|咱是|我们是|这边是|我现在是|我目前是|目前是|现在是|我乃|我为|我明明是|明明是|我其实是|其实我是|其实是|"
    r"我本来是|我本身是|我自己是|我也是|应该是|改成|改为|换成|选|(?:^|(?<=[,，。\s]))(?:是|本人))"
)
# Self statements of schooling: 我在读大二, 我上高一, 本人读研.
_SCHOOLING = re.compile(
    r"(?:^|[^孩子儿女娃他她])(?:我|本人|俺)(?:现在|目前|今年|正)?(?:在)?(?:读|上|念)(?:的是)?"
)
# 我在南昌大学读书, 我在学校当老师, 我已经工作了
_STUDY_AT = re.compile(r"(?:我|本人|俺)(?:现在|目前|今年)?在([^,，。!！?？]{1,10}?)(?:读书|上学|念书|读|上课|就读)")
_TEACH = re.compile(
    r"(?:我|本人|俺)[^,，。!！?？]{0,8}?(?:当|做|是)(老师|教师|班主任|辅导员)|(?:我|本人|俺)(?:在学校)?(?:教书|教学|任教)"
    r"|(?:^|(?<=[,，。\s]))在[^,，。!！?？]{1,10}?(?:教书|任教)|(?:我是|我)教[^,，。!！?？师职练育]{1,6}的"
)
_WORKING = re.compile(r"(?:(?:我|本人|俺)(?:已经|早就|早|都)?|(?:^|(?<=[,，。\s]))(?:已经|早就|早))(?:毕业|参加工作|工作|上班|退休)(?:工作)?(?:了|多年|好几年)")
# A phrase ends at punctuation or where a new clause begins.
_PHRASE_END = re.compile(
    r"[\s,，。.!！?？;；:：、~～]|想|要|帮|给|替|能|可以|怎么|咋|领|办|申请|请问|需要|打算|准备|来|的话|但|可|不过|所以|因为"
    r"|结果|显示|卡上|却|还|为什么|为啥|怎么"
)
_PARENT_ACTION = re.compile(
    r"(?:帮|给|替|为|代)(?:我|我们)?(?:家|的|家的)?(?:两个|三个|俩|几个)?(?:孩子|小孩子|小孩|娃娃|娃|儿子|女儿|闺女|宝宝|小朋友|"
    r"孩儿|儿女|大宝|二宝|三宝|老大|老二|老三|小儿子|大儿子|小女儿|大女儿|孙子|孙女|外孙女|外孙|侄子|侄女|外甥女|外甥|小子|丫头|"
    r"小宝|宝贝|学生)"
)
_PARENT_WORDS = re.compile(
    r"(?:孩子|娃|孩|小孩|宝宝)(?:的)?(?:他|她)?(?:的)?(?:爸爸|妈妈|爸|妈|爹|娘|父亲|母亲|家长|监护人)"
    r"|家长代领|代领|代領|[宝娃]爸|[宝娃]妈|当(?:妈|爸|爹|娘|家长)的"
    r"|(?:孩子|娃|孙子|孙女|外孙|外孙女)(?:的)?(?:爷爷|奶奶|外公|外婆|姥姥|姥爷|舅舅|舅妈|姑姑|姑妈|小姨|姨妈|叔叔|婶婶|伯伯|大伯)"
)
_CHILD_WORD = re.compile(r"孩子|小孩|娃|儿子|女儿|闺女|宝宝|孙子|孙女|外孙|小朋友")
# Before 我是: what the card or the system says ("卡上写的我是学生").
_NOT_SELF = re.compile(r"(?:显示|写的|写着|卡上|变成|成了|认成|当成|弄成|发现|为什么|为啥|怎么|咋)[^,，。]{0,4}$")
_NEGATED = re.compile(r"(?:不是|并非|不算|也不是|又不是|还不是)$")


def role_of(span: str) -> Optional[str]:
    """The role value of a role phrase (a span DIET tagged, or a lexicon
    word), or None when it names no role (本人领取, 自己, 帮)."""
    if span in ROLE_VALUES:
        return span
    text = normalise_name(span)
    matches = [m for m in _ROLE_RE.finditer(text)]
    if not matches:
        # 帮我家娃, 给我儿子: a parent acting for a child
        return "parent" if _CHILD_WORD.search(text) else None
    value = _ROLE_LEXICON[matches[-1].group(0)]  # the head noun: the phrase's last role word
    if any(_ROLE_LEXICON[m.group(0)] == "parent" for m in matches):
        # 学生家长, 初中生的妈妈, 家长代领: a parent phrase is a parent.
        if _ROLE_LEXICON[matches[-1].group(0)] in ("parent", "k12_student"):
            value = "parent" if any(m.group(0) not in _RELATIVES or len(text) <= 4 for m in matches
                                    if _ROLE_LEXICON[m.group(0)] == "parent") else value
    if value == "k12_student" and _UNIVERSITY_HINT.search(text):
        value = "university_student"
    return value


def _entity(entity: str, value: str, start: int, end: int) -> Dict[str, Any]:
    return {"entity": entity, "start": start, "end": end, "value": value, "extractor": EXTRACTOR}


def _phrase_roles(text: str, start: int) -> List[Dict[str, Any]]:
    """Role entities of the phrase starting at `start` (after 我是/作为...):
    its last role word, the head noun."""
    stop = _PHRASE_END.search(text, start)
    end = stop.start() if stop else len(text)
    if re.match(r"教(?!师|职|练|育)", text[start:end]):
        return []  # 我是教初中的: a teacher (_TEACH)
    if end - start > 16:
        return []
    head = None
    for m in _ROLE_RE.finditer(text, start, end):
        head = m
    if head is None:
        return []
    value = role_of(text[start:head.end()])
    if value is None:
        return []
    return [_entity("role", value, head.start(), head.end())]


def find_roles(text: str) -> List[Dict[str, Any]]:
    """Role entities of clear statements of the user's own kind."""
    found: List[Dict[str, Any]] = []
    for m in _SELF.finditer(text):
        if _NEGATED.search(text[:m.start()]) or _NOT_SELF.search(text[:m.start()]):
            continue
        found.extend(_phrase_roles(text, m.end()))
    for m in _SCHOOLING.finditer(text):
        found.extend(_phrase_roles(text, m.end()))
    for m in _STUDY_AT.finditer(text):
        place = m.group(1)
        words = list(_ROLE_RE.finditer(place))
        if words:
            value = role_of(place)
            if value in ("k12_student", "university_student"):
                w = words[-1]
                found.append(_entity("role", value, m.start(1) + w.start(), m.start(1) + w.end()))
    for m in _TEACH.finditer(text):
        if _NEGATED.search(text[:m.start()]) or re.search(r"不|没|让|叫|找|问", m.group(0)):
            continue
        s, e = (m.start(1), m.end(1)) if m.group(1) else (m.start(), m.end())
        found.append(_entity("role", "teacher", s, e))
    for m in _WORKING.finditer(text):
        if not re.search(r"学生|显示|卡上", text[m.end():m.end() + 8]):
            found.append(_entity("role", "public", m.start(), m.end()))
    for m in re.finditer(r"(?:家长|监护人)(?=领|代领|能|可以|可不可以|能不能|怎么|咋|帮|给|替)", text):
        found.append(_entity("role", "parent", m.start(), m.end()))
    for m in _PARENT_WORDS.finditer(text):
        found.append(_entity("role", "parent", m.start(), m.end()))
    for m in _PARENT_ACTION.finditer(text):
        if m.group(0).startswith("为") and not re.match(r"为(?:我)?(?:家)?(?:的)?(?:孩子|娃|儿子|女儿|闺女)", m.group(0)):
            continue
        if m.group(0).endswith("学生"):
            continue  # 帮学生领: a teacher's wording
        if re.search(r"(?:老师|班主任)[^,，。]{0,4}$", text[:m.start()]):
            continue  # 老师给孩子...: someone else acts
        found.append(_entity("role", "parent", m.start(), m.end()))
    found.extend(_chunk_roles(text))
    return found


_CHUNK = re.compile(r"[^\s,，。.!！?？;；:：、/~～()（）]+")
_CHUNK_LEAD = re.compile(r"^(?:我是|我就是|就是|我|俺|是|选|就|身份是|身份|那个|嗯|哦|呃|额)+")
# 在读初中, 读职高的: the user's schooling, unless the message is about a child.
_SCHOOL_LEAD = re.compile(r"^(?:现在|目前|正)?(?:在读|就读|在上|读|上|念)")
_CHUNK_TAIL = re.compile(r"(?:吧|啊|呀|哈|哦|噢|喔|嘛|呢|啦|的|哟|咯|嘞|一个|一枚|身份|这个|那个)+$")
_QUESTION = re.compile(r"不|没|吗|么|啥|什么|怎么|能否|可以|为什么|好$|你好|您好")
# Right after a role word that opens a clause: the role acts ("奶奶能领吗",
# "中职生要领学习号", "班主任领卡怎么弄").
_SUBJECT_NEXT = re.compile(r"能|可以|可不可以|能不能|帮|给|替|代|来|也|要|想|领|怎么|咋|去|申请|办|在这|在呢|在旁边")
_NOT_SUBJECT = frozenset("大学 小学 初中 高中 中学 本科 公众 群众 工作了 毕业了 已经工作 已工作 市民 学生 一年级 二年级 三年级 "
                         "四年级 五年级 六年级 七年级 八年级 九年级 大专 中专 技校 中职 职高 高职 教练".split())


def _chunk_roles(text: str) -> List[Dict[str, Any]]:
    """Roles of clauses that are a role word ("中小学生/中职学生", "上班族，都不是",
    "...，研究生") or open with one that acts ("奶奶能领吗")."""
    found: List[Dict[str, Any]] = []
    chunks = list(_CHUNK.finditer(text))
    for i, m in enumerate(chunks):
        chunk = m.group(0)
        lead = _CHUNK_LEAD.match(chunk)
        offset = lead.end() if lead else 0
        school = _SCHOOL_LEAD.match(chunk, offset)
        if school and not _CHILD_WORD.search(text):
            offset = school.end()
        core = _CHUNK_TAIL.sub("", chunk[offset:])
        if not core:
            continue
        base = m.start() + offset
        words = list(_ROLE_RE.finditer(core))
        if not words:
            continue
        covered = sum(len(w.group(0)) for w in words)
        rest = _ROLE_RE.sub("", core)
        if (covered >= len(core) - 1 and words[0].start() == 0 and not _QUESTION.search(rest) and len(core) <= 12
                and not re.search(r"姓名|名字|身份|证", rest)):
            if core == "老师" and len(chunks) > 1 and i == 0:
                continue  # 老师，请问...: the user addresses someone
            value = role_of(core)
            if value:
                last = words[-1]
                found.append(_entity("role", value, base + last.start(), base + last.end()))
            continue
        first = words[0]
        if first.start() == 0 and first.group(0) not in _NOT_SUBJECT:
            after = core[first.end():]
            if _SUBJECT_NEXT.match(after) or _name_at(core, first.end(), strict=True):
                value = role_of(first.group(0))
                if value and not (first.group(0) in ("老师", "班主任", "教师") and re.match(r"让|叫|说|通知|要求", after)):
                    found.append(_entity("role", value, base + first.start(), base + first.end()))
    return found


def keep_role(text: str, ent: Dict[str, Any]) -> Optional[str]:
    """The role value of a role entity found by DIET, or None to drop it."""
    span = text[ent.get("start", 0):ent.get("end", 0)] if "start" in ent else ""
    value = role_of(str(ent.get("value") or "")) or (role_of(span) if span else None)
    if value is None:
        return None
    start, end = ent.get("start"), ent.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text):
        before, after = text[max(0, start - 6):start], text[end:end + 3]
        self_said = bool(_SELF.search(before)) or before.endswith("我")
        if not self_said and _OTHER_ACTS.match(after):
            return None
        if not self_said and _OTHER_BEFORE.search(before) and value != "parent":
            return None
        if _NEGATED.search(before):
            return None
    return value


# ---------------------------------------------------------------- names

_NAME_CHAR = r"[\u3400-\u9fff\uf900-\ufaff·]"
_RUN = re.compile(_NAME_CHAR + r"{2,20}")
# Characters that do not occur in a given name but end the name's run
# ("李小雨身份证...", "张三想领卡", "王芳的").
_STOP_CHARS = set("的了是在吗呢吧啊呀哈嘛哦喔噢啦咯嘞么咋啥怎什谁哪你我他她它们这那和与及或就都也还再又很太真要想能会"
                  "让给帮替为把被从到对跟请麻谢今读领办弄身证号岁级现已不没有个说问叫名字姓卡递绩")
_STOP_WORDS = ("身份", "证件", "号码", "今年", "刚才", "才对", "已经", "上学", "上小学", "上初中", "上高中", "上大学",
               "班的", "同学", "小朋友", "学生", "家长", "老师", "孩子", "在读", "读书",
               "领卡", "学号", "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三", "高一",
               "高二", "高三", "大一", "大二", "大三", "大四", "小学", "初中", "高中")
# Two-character words that start with a surname but are no name.
COMMON_WORDS = frozenset("""
    王者 李子 张家 刘海 陈述 黄色 周末 周一 周二 周三 周四 周五 周六 周日 孙子 孙女 马上 马虎 胡说
    何时 何必 高中 高一 高二 高三 高考 高兴 高职 高校 郑重 谢谢 许多 许可 曾经 于是 余额 叶子 程序
    任何 任务 陆续 范围 金额 石头 夏天 付钱 付款 付费 方便 方法 方式 白天 江西 黎明 万一 严重 常见
    常用 文件 文明 安全 安装 申请 申领 申报 关于 关闭 关注 符合 舒服 凌晨 毕业 单位 成功 成绩 游戏
    辛苦 管理 华为 解决 尤其 时间 时候 简单 项目 连接 党员 费用 卫生 全部 全家 应该 师生 师傅 商量
    明白 明天 明年 查询 查看 麻烦 官方 南昌 南方 班主任 班级 原因 原来 满意 厉害 花呗 花钱 权限 强制
    支付宝 支付 支持 国家 平时 平台 宣传 相关 初中 初一 初二 初三 门口 容易 都不是 都是 都行 普通 阿姨
    母亲 修改 那个 那就 宿舍 银行 公众 公司 哈哈 居民 干嘛 干啥 但是 信息 信号 由于 和你 和我 向你
    路上 车上 高铁 万能 史上 易于 乐意 云端 海外 房子 车子 明星 杨桃 钱包 钱呢 余下 毛病 甘心 包括
    宁愿 尚未 纪念 梅花 童年 季节 盛大 曲线 蓝色 路过 柴火 蒙古 华中 房间 屈服 解释 艾滋 尤为 阳光
    时代 农村 司机 卓越 古代 吉祥 简直 车辆 项链 连续 景区 宫殿 冷静 席位 卫星 米饭 宗旨 全省 全国
    应用 边上 师范 和平 商店 沙发 荣誉 桑拿 甄别 明确 池塘 查到 查查 官网 封面 谈话 乐园 原则 燕子
    楚楚 皮肤 楼上 盘子 闻到 位置 伊始 海报 花费 权利 强调 屠宰 豆子 盖章 练习 廉价 井冈 祖国 巴士
    丰富 支出 国际 平安 计算 索性 宣布 晋升 相同 初次 门票 云南 容量 敬请 来了 来吧 都市 普遍 戈壁
    伏天 薄荷 辜负 羊毛 阿里 乌鲁 母校 修订 赫然 杭州 况且 那么 那样 那些 那边 宿迁 鲜花 印象 隆重
    战斗 慕名 危险 玉米 银川 公开 公告 公务 公安 湛江 宾馆 利用 利息 呼叫 居然 干什么 干部 但愿 斯文
    元旦 束缚 衣服 信用 展示 阴天 智能 幸福 奉献 富裕 闭上 由此 江苏 湖南 广东 九江 赣州 上饶 吉安
    宜春 抚州 萍乡 新余 鹰潭 景德镇 南昌市 江西省 师大 南大 江财 华东 东华 明天吧 多少 多少钱 何事 何况
    霍乱 成人 成年 成绩单 管家 简历 江湖 秦朝 汤圆 温度 康复 文字 文化 武汉 钟点 钟表 苏州 左右 左边
    右边 甘蔗 祝福 包裹 宁静 尚且 高中生 初中生 大学生 学习号 高兴了 方便吗 万一呢 明白了 都可以 好的呀
    谢谢啦 知道了 成功了 失败了 花钱吗 收费吗 安全吗 官方的 申请了 申领了 查一下 查不到 查询下 查看下
    关闭了 修改下 修改一下 没问题 管理员 公众号 支付宝里 和孩子 和家长 和老师 都没有 都不对 都不行 那怎么办
    那咋办 那咋弄 那为啥 那为什么 那然后 那好吧 那就好 那行 那算了 那好 那个啥 那怎么弄 哈喽 哈罗 哈哈哈
    哈喽哈喽 查卡 查成绩 查分 查下 于是乎 时间呢 费用呢 全都对 全对 向日葵 海鲜 南极 北极 平板 电脑 路由
    车票 项目组
""".split())
# Name triggers: what comes right before a name.
_NAME_TRIGGER = re.compile(
    r"(?:(?:我|本人|俺|他|她|孩子|小孩|儿子|女儿|闺女|娃|宝宝|学生|老大|老二|老三|大宝|二宝|三宝|孙子|孙女|外孙|外孙女|女孩|男孩|"
    r"小孩子|孩儿|小儿子|大儿子|小女儿|大女儿|对象|老公|老婆|爱人|监护人|家长|妈妈|爸爸)(?:的)?(?:名字|姓名|大名|名)?"
    r"(?:叫做|叫|名叫|是叫|就叫|是)"
    r"|(?:名字|姓名|大名|真实姓名|学生姓名|孩子姓名|本人姓名|家长姓名|监护人姓名|孩子名字|学生名字|我的名字|孩子的名字)"
    r"(?:应该是|应该叫|改成|改为|是|叫做|叫|为|写|填)?[:：\s]*"
    r"|(?:改成|改为|更正为|更正成|换成|应该是|应该叫|正确的是|正确的名字是|其实是|其实叫|就是)"
    r"|(?:^|(?<=[,，。\s]))(?:是|叫|就叫)"
    r"|本人(?=[\u3400-\u9fff]{2,4}(?:[,，。\s]|$|身份|\d))"
    r"|(?:^|(?<=[,，。\s]))我(?=[\u3400-\u9fff]{2,4}(?:[,，。\s]|身份|\d)))"
)
# Relation word right before a name: 孩子宋佳琪，身份证...; 我儿子韩磊，...
_RELATION_NAME = re.compile(
    r"(?:孩子|小孩|儿子|女儿|闺女|娃|学生|孙子|孙女|外孙|外孙女|大宝|二宝|老大|老二|本人|家长|监护人|妈妈|爸爸|老师|"
    r"班主任|初中生|高中生|小学生|大学生|中职生|研究生|教师|(?:名字|姓名|名)[:：\s]*)"
)
# 给女儿李小雨领卡, 帮孩子王明领一下
_FOR_NAME = re.compile(
    r"(?:给|帮|替|为)(?:我)?(?:家)?(?:的)?(?:孩子|小孩|儿子|女儿|闺女|娃|孙子|孙女|外孙|外孙女|侄子|侄女|外甥|外甥女|"
    r"老大|老二|大宝|二宝|学生|小朋友)?"
)
_AFTER_NAME_OK = re.compile(
    r"$|[\s,，。.!！?？;；:：、)）]|(?:领|申请|办|弄|开通|代领|身份|的|今年|读|上|在|同学|小朋友|不是|不叫|也|还|要|想|"
    r"才对|吧|啊|呀|哈|哦|呢|嘛|啦|，|身份证|\d)"
)
_FILLERS_EDGE = re.compile(r"^[\s,，。.!！?？~～:：、\"'“”‘’()（）]+|[\s,，。.!！?？~～:：、\"'“”‘’()（）]+$")
_PARTICLES_END = re.compile(r"(?:吧|啊|呀|哈|哦|噢|喔|嘛|呢|啦|哟|咯|嘞|才对|哈哈)+$")
_ID_LIKE = re.compile(rf"[0-9Xx][0-9Xx{SEPARATOR_CHARS}]{{10,}}[0-9Xx]")


# Surnames that are also everyday verbs or function words (查快递, 来零卡,
# 和老师, 都不是): a bare word starting with one is no name.
VERBISH_SURNAMES = frozenset("查来和但都那向于应成全干过要能好开关双单东西南北上下左右前后里外中"
                             "还再也就只才又很太最多少大小新老真共有没把被让给到从对跟请问找打用做写说讲学读领办弄搞等"
                             "让叫喊催发布") & SINGLE


def plausible_name(name: str, strict: bool = False) -> bool:
    """A Chinese personal name, not a word that starts like one."""
    value, problem = check_name(name)
    if problem is not None or value != name:
        return False
    if "·" in value:
        parts = value.split("·")
        return (all(1 <= len(p) <= 6 for p in parts) and len(value) <= 20
                and not any(c in "的了是在吗呢吧啊呀我你他她叫名孩儿女娃身证号姓" for c in value))
    if not 2 <= len(value) <= 4:
        return False
    compound = value[:2] in COMPOUND
    if not (compound or value[0] in SINGLE):
        return False
    if len(value) == 4 and not compound:
        return False
    if len(value) == 2 and compound:
        return False
    given = value[2:] if compound else value[1:]
    if any(c in _STOP_CHARS for c in given):
        return False
    if value in NOT_NAMES or value in COMMON_WORDS or value in _ROLE_LEXICON:
        return False
    if _ROLE_RE.search(value) or any(w in value for w in _STOP_WORDS):
        return False
    if strict and (value[:2] in COMMON_WORDS or value[:3] in COMMON_WORDS
                   or (not compound and value[0] in VERBISH_SURNAMES)):
        return False
    return True


def _name_at(text: str, start: int, strict: bool = False, need_end: bool = False) -> Optional[Tuple[int, int]]:
    """The name starting at `start`: the run of name characters, cut where
    a name cannot go on."""
    m = _RUN.match(text, start)
    if not m:
        return None
    run = m.group(0)
    if "·" not in run:
        cut = len(run)
        for i, c in enumerate(run):
            if i >= 2 and c in _STOP_CHARS:
                cut = i
                break
        for w in _STOP_WORDS:
            j = run.find(w, 2)
            if j != -1:
                cut = min(cut, j)
        run = run[:cut]
        limit = 4 if run[:2] in COMPOUND else 3
        if len(run) > limit:
            if need_end:
                return None
            # 3 characters, unless what follows the 2-character name ends it
            run = run[:limit]
    else:
        run = run.rstrip("·")
    for size in range(len(run), 1, -1):
        candidate = run[:size]
        end = start + size
        if plausible_name(candidate, strict) and _AFTER_NAME_OK.match(text, end):
            return start, end
        if need_end or "·" in candidate:
            break
    return None


def find_names(text: str, strict_bare: bool = True) -> List[Dict[str, Any]]:
    """person_name entities of clear name patterns."""
    found: List[Dict[str, Any]] = []
    spans: set = set()

    def add(span: Optional[Tuple[int, int]]) -> None:
        if span and span not in spans:
            spans.add(span)
            found.append(_entity("person_name", normalise_name(text[span[0]:span[1]]), *span))

    for m in _NAME_TRIGGER.finditer(text):
        trigger = m.group(0)
        bare_self = trigger in ("本人", "我")
        add(_name_at(text, m.end(), strict=bare_self or trigger.endswith("是") or trigger == "就是"))
    for m in _RELATION_NAME.finditer(text):
        span = _name_at(text, m.end(), strict=True)
        if span and re.match(r"$|[\s,，。;；:：]|身份|\d|的|今年|在读|读|上", text[span[1]:]):
            add(span)
    for m in _FOR_NAME.finditer(text):
        span = _name_at(text, m.end(), strict=True)
        if span and re.match(r"(?:领|申请|办|弄|开通|代领|申领)", text[span[1]:]):
            add(span)
    # A name opening a clause, right before the ID number ("喻可欣身份证3607...").
    for m in re.finditer(r"(?:^|(?<=[\s,，。;；]))(?=[\u3400-\u9fff])", text):
        span = _name_at(text, m.start(), strict=True)
        if span and re.match(r"(?:的)?(?:身份证|身份|证件|号码)|\d", text[span[1]:]):
            add(span)
    # A bare name, or names next to ID numbers ("梁宇，3602..."), as the
    # whole message or its comma-separated parts.
    rest = _ID_LIKE.sub(",", text)
    chunks = [c for c in re.split(r"[\s,，。.!！?？;；:：、/]+", rest) if c]
    if chunks and len(chunks) <= 3:
        pos = 0
        for chunk in chunks:
            at = text.find(chunk, pos)
            pos = at + len(chunk)
            core = _PARTICLES_END.sub("", chunk)
            lead = 0
            for prefix in ("是", "叫", "我叫", "我是", "名字", "姓名"):
                if core.startswith(prefix) and len(core) - len(prefix) >= 2:
                    lead = len(prefix)
                    break
            name = core[lead:]
            if name and plausible_name(name, strict=strict_bare):
                add((at + lead, at + lead + len(name)))
    return found


def extend_name(text: str, ent: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    """A DIET name span repaired: the surname put back (志强 after 喻),
    trailing characters that cannot be a name's taken off."""
    start, end = ent.get("start"), ent.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        return None
    span = text[start:end]
    # trailing junk
    while end - start > 2 and (text[end - 1] in _STOP_CHARS or text[end - 1] == "·"):
        end -= 1
    while end - start > 2 and text[start] in "叫是":
        start += 1
    span = text[start:end]
    if not has_surname(span):
        for k in (2, 1):
            if start - k >= 0 and (text[start - k:start] in COMPOUND if k == 2 else text[start - 1] in SINGLE):
                if plausible_name(text[start - k:end]):
                    return start - k, end
    return start, end


# ---------------------------------------------------------------- IDs

# An ID number typed with up to two separators between its characters.
_SEP = f"[{SEPARATOR_CHARS}]{{0,2}}"
_SPACED_ID = re.compile(rf"(?<![0-9A-Za-z])[0-9](?:{_SEP}[0-9]){{16}}{_SEP}[0-9Xx](?![0-9A-Za-z])")


_ID_VALUE = re.compile(r"[0-9]{6,20}X?\Z")


def find_ids(text: str) -> List[Dict[str, Any]]:
    return [_entity("id_number", normalise_id(m.group(0)), m.start(), m.end()) for m in _SPACED_ID.finditer(text)]


# ---------------------------------------------------------------- all

def _overlaps(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    sa, ea, sb, eb = a.get("start"), a.get("end"), b.get("start"), b.get("end")
    if not all(isinstance(x, int) for x in (sa, ea, sb, eb)):
        return False
    return sa < eb and sb < ea


def _name_intent(intent: Optional[str]) -> bool:
    return intent in (None, "inform", "correct", "choose_role", "claim_card", "next_child", "relative_claim",
                      "affirm", "deny", "nlu_fallback", "dont_know", "out_of_scope", "greet")


def refine(text: str, entities: Iterable[Dict[str, Any]], intent: Optional[str] = None) -> List[Dict[str, Any]]:
    """The entities to keep, in text order (see the module's docstring)."""
    kept: List[Dict[str, Any]] = []
    names: List[Dict[str, Any]] = []
    for ent in entities:
        kind = ent.get("entity")
        if kind == "role":
            value = keep_role(text, ent)
            if value is None:
                continue
            ent = {**ent, "value": value}
        elif kind == "id_number":
            value = normalise_id(str(ent.get("value") or ""))
            if not _ID_VALUE.match(value):
                continue  # DIET tagged a name or a word as an ID number
            ent = {**ent, "value": value}
        elif kind == "person_name":
            span = extend_name(text, ent)
            if span is not None:
                value = normalise_name(text[span[0]:span[1]])
                ent = {**ent, "start": span[0], "end": span[1], "value": value}
            else:
                ent = {**ent, "value": normalise_name(str(ent.get("value") or ""))}
            if check_name(ent["value"])[1] is not None:
                continue
            names.append(ent)
            continue
        kept.append(ent)

    # (d) IDs typed with separators: one entity each, fragments dropped.
    ids = find_ids(text)
    if ids:
        kept = [e for e in kept if not (e.get("entity") == "id_number" and any(_overlaps(e, i) for i in ids))]
        names = [e for e in names if not any(_overlaps(e, i) for i in ids)]
        kept.extend(ids)

    # (c) names from patterns replace DIET's fragments they overlap.
    ruled = (find_names(text, strict_bare=intent not in ("inform", "correct", "next_child"))
             if _name_intent(intent) or names else [])
    if ruled:
        names = [e for e in names if not any(_overlaps(e, r) for r in ruled)]
        names.extend(ruled)
    else:
        # Adjacent DIET fragments of one name (邹雨 + 萱).
        names.sort(key=lambda e: e.get("start", 0))
        merged: List[Dict[str, Any]] = []
        for e in names:
            if merged and merged[-1].get("end") == e.get("start") and isinstance(e.get("start"), int):
                prev = merged[-1]
                joined = text[prev["start"]:e["end"]]
                if plausible_name(joined):
                    merged[-1] = {**prev, "end": e["end"], "value": normalise_name(joined)}
                    continue
            merged.append(e)
        names = merged
    kept.extend(names)

    # (b) roles DIET missed.
    for role in find_roles(text):
        if not any(e.get("entity") == "role" and _overlaps(e, role) for e in kept):
            kept.append(role)
    # Roles must not sit inside a name.
    kept = [e for e in kept if not (e.get("entity") == "role"
                                    and any(n.get("entity") == "person_name" and _overlaps(e, n) for n in names))]
    # (d) dedup: the same entity over overlapping spans, or the same span twice.
    out: List[Dict[str, Any]] = []
    for e in sorted(kept, key=lambda e: (e.get("start", 0) if isinstance(e.get("start"), int) else 0,
                                         -((e.get("end") or 0) - (e.get("start") or 0)))):
        if any(o.get("entity") == e.get("entity") and (_overlaps(o, e) or (o.get("start"), o.get("end")) ==
                                                        (e.get("start"), e.get("end"))) for o in out):
            continue
        if e.get("entity") == "id_number" and any(o.get("entity") == "id_number" and o.get("value") == e.get("value")
                                                  for o in out):
            continue
        out.append(e)
    return out


def bare_name(text: str) -> Optional[str]:
    """The name when the whole message is a name (for the intent)."""
    core = _PARTICLES_END.sub("", _FILLERS_EDGE.sub("", text))
    for prefix in ("是", "叫", "我叫", "我是", "名字是", "姓名", "名字"):
        if core.startswith(prefix) and len(core) - len(prefix) >= 2:
            core = core[len(prefix):]
            break
    return core if core and plausible_name(core, strict=True) else None
