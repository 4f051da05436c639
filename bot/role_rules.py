"""Role rules after DIET ((a) and (b) of bot/entity_rules.py): a role
entity's value mapped to the contract's five or dropped, and the roles DIET
missed in clear statements of the user's own kind.

Pure Python (no Rasa import).
"""

from __future__ import annotations

import re
from typing import Any

from bot.entity_lexicon import ROLE_LEXICON, ROLE_RE, ROLE_VALUES, make_entity
from bot.name_rules import name_at
from identity import normalise_name

# Words that, inside a role phrase, make a generic 学生 a university student.
_UNIVERSITY_HINT = re.compile(r"大学|学院|大专|高校|本科|研究生|高职|大[一二三四五]|研[一二三]|硕士|博士|专科")
# Relatives (kept as parent) are a role only in a self statement.
_RELATIVES = frozenset(
    """爷爷 奶奶 外公 外婆 姥姥 姥爷 舅舅 舅妈 姑姑 姑妈 姑父 小姨 姨妈 姨父 阿姨 叔叔 婶婶 伯伯 伯母 大伯
    哥哥 姐姐 继父 继母 后妈 亲戚 外祖父 外祖母 祖父 祖母 爸 妈 爹 娘 表哥 表姐 表叔 表姑 表舅 嫲嫲 阿嬷 阿婆 外祖 干妈
    干爹""".split()
)
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
_SCHOOLING = re.compile(r"(?:^|[^孩子儿女娃他她])(?:我|本人|俺)(?:现在|目前|今年|正)?(?:在)?(?:读|上|念)(?:的是)?")
# 我在南昌大学读书, 我在学校当老师, 我已经工作了
_STUDY_AT = re.compile(r"(?:我|本人|俺)(?:现在|目前|今年)?在([^,，。!！?？]{1,10}?)(?:读书|上学|念书|读|上课|就读)")
_TEACH = re.compile(
    r"(?:我|本人|俺)[^,，。!！?？]{0,8}?(?:当|做|是)(老师|教师|班主任|辅导员)|(?:我|本人|俺)(?:在学校)?(?:教书|教学|任教)"
    r"|(?:^|(?<=[,，。\s]))在[^,，。!！?？]{1,10}?(?:教书|任教)|(?:我是|我)教[^,，。!！?？师职练育]{1,6}的"
)
_WORKING = re.compile(
    r"(?:(?:我|本人|俺)(?:已经|早就|早|都)?|(?:^|(?<=[,，。\s]))(?:已经|早就|早))(?:毕业|参加工作|工作|上班|退休)(?:工作)?(?:了|多年|好几年)"
)
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


def role_of(span: str) -> str | None:
    """The role value of a role phrase (a span DIET tagged, or a lexicon
    word), or None when it names no role (本人领取, 自己, 帮)."""
    if span in ROLE_VALUES:
        return span
    text = normalise_name(span)
    matches = [m for m in ROLE_RE.finditer(text)]
    if not matches:
        # 帮我家娃, 给我儿子: a parent acting for a child
        return "parent" if _CHILD_WORD.search(text) else None
    value = ROLE_LEXICON[matches[-1].group(0)]  # the head noun: the phrase's last role word
    if any(ROLE_LEXICON[m.group(0)] == "parent" for m in matches):
        # 学生家长, 初中生的妈妈, 家长代领: a parent phrase is a parent.
        if ROLE_LEXICON[matches[-1].group(0)] in ("parent", "k12_student"):
            value = (
                "parent"
                if any(
                    m.group(0) not in _RELATIVES or len(text) <= 4
                    for m in matches
                    if ROLE_LEXICON[m.group(0)] == "parent"
                )
                else value
            )
    if value == "k12_student" and _UNIVERSITY_HINT.search(text):
        value = "university_student"
    return value


def _phrase_roles(text: str, start: int) -> list[dict[str, Any]]:
    """Role entities of the phrase starting at `start` (after 我是/作为...):
    its last role word, the head noun."""
    stop = _PHRASE_END.search(text, start)
    end = stop.start() if stop else len(text)
    if re.match(r"教(?!师|职|练|育)", text[start:end]):
        return []  # 我是教初中的: a teacher (_TEACH)
    if end - start > 16:
        return []
    head = None
    for m in ROLE_RE.finditer(text, start, end):
        head = m
    if head is None:
        return []
    value = role_of(text[start : head.end()])
    if value is None:
        return []
    return [make_entity("role", value, head.start(), head.end())]


def find_roles(text: str) -> list[dict[str, Any]]:
    """Role entities of clear statements of the user's own kind."""
    found: list[dict[str, Any]] = []
    for m in _SELF.finditer(text):
        if _NEGATED.search(text[: m.start()]) or _NOT_SELF.search(text[: m.start()]):
            continue
        found.extend(_phrase_roles(text, m.end()))
    for m in _SCHOOLING.finditer(text):
        found.extend(_phrase_roles(text, m.end()))
    for m in _STUDY_AT.finditer(text):
        place = m.group(1)
        words = list(ROLE_RE.finditer(place))
        if words:
            value = role_of(place)
            if value in ("k12_student", "university_student"):
                w = words[-1]
                found.append(make_entity("role", value, m.start(1) + w.start(), m.start(1) + w.end()))
    for m in _TEACH.finditer(text):
        if _NEGATED.search(text[: m.start()]) or re.search(r"不|没|让|叫|找|问", m.group(0)):
            continue
        s, e = (m.start(1), m.end(1)) if m.group(1) else (m.start(), m.end())
        found.append(make_entity("role", "teacher", s, e))
    for m in _WORKING.finditer(text):
        if not re.search(r"学生|显示|卡上", text[m.end() : m.end() + 8]):
            found.append(make_entity("role", "public", m.start(), m.end()))
    for m in re.finditer(r"(?:家长|监护人)(?=领|代领|能|可以|可不可以|能不能|怎么|咋|帮|给|替)", text):
        found.append(make_entity("role", "parent", m.start(), m.end()))
    for m in _PARENT_WORDS.finditer(text):
        found.append(make_entity("role", "parent", m.start(), m.end()))
    for m in _PARENT_ACTION.finditer(text):
        if m.group(0).startswith("为") and not re.match(
            r"为(?:我)?(?:家)?(?:的)?(?:孩子|娃|儿子|女儿|闺女)", m.group(0)
        ):
            continue
        if m.group(0).endswith("学生"):
            continue  # 帮学生领: a teacher's wording
        if re.search(r"(?:老师|班主任)[^,，。]{0,4}$", text[: m.start()]):
            continue  # 老师给孩子...: someone else acts
        found.append(make_entity("role", "parent", m.start(), m.end()))
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
_NOT_SUBJECT = frozenset(
    "大学 小学 初中 高中 中学 本科 公众 群众 工作了 毕业了 已经工作 已工作 市民 学生 一年级 二年级 三年级 "
    "四年级 五年级 六年级 七年级 八年级 九年级 大专 中专 技校 中职 职高 高职 教练".split()
)


def _chunk_roles(text: str) -> list[dict[str, Any]]:
    """Roles of clauses that are a role word ("中小学生/中职学生", "上班族，都不是",
    "...，研究生") or open with one that acts ("奶奶能领吗")."""
    found: list[dict[str, Any]] = []
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
        words = list(ROLE_RE.finditer(core))
        if not words:
            continue
        covered = sum(len(w.group(0)) for w in words)
        rest = ROLE_RE.sub("", core)
        if (
            covered >= len(core) - 1
            and words[0].start() == 0
            and not _QUESTION.search(rest)
            and len(core) <= 12
            and not re.search(r"姓名|名字|身份|证", rest)
        ):
            if core == "老师" and len(chunks) > 1 and i == 0:
                continue  # 老师，请问...: the user addresses someone
            value = role_of(core)
            if value:
                last = words[-1]
                found.append(make_entity("role", value, base + last.start(), base + last.end()))
            continue
        first = words[0]
        if first.start() == 0 and first.group(0) not in _NOT_SUBJECT:
            after = core[first.end() :]
            if _SUBJECT_NEXT.match(after) or name_at(core, first.end(), strict=True):
                value = role_of(first.group(0))
                if value and not (
                    first.group(0) in ("老师", "班主任", "教师") and re.match(r"让|叫|说|通知|要求", after)
                ):
                    found.append(make_entity("role", value, base + first.start(), base + first.end()))
    return found


def keep_role(text: str, ent: dict[str, Any]) -> str | None:
    """The role value of a role entity found by DIET, or None to drop it."""
    span = text[ent.get("start", 0) : ent.get("end", 0)] if "start" in ent else ""
    value = role_of(str(ent.get("value") or "")) or (role_of(span) if span else None)
    if value is None:
        return None
    start, end = ent.get("start"), ent.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text):
        before, after = text[max(0, start - 6) : start], text[end : end + 3]
        self_said = bool(_SELF.search(before)) or before.endswith("我")
        if not self_said and _OTHER_ACTS.match(after):
            return None
        if not self_said and _OTHER_BEFORE.search(before) and value != "parent":
            return None
        if _NEGATED.search(before):
            return None
    return value
