"""Reading one typed message: the names, ID numbers, role, claimant and
corrections it holds, so the claim form fills the right slots, refuses wrong
answers and applies corrections.

Pure Python (stdlib plus `identity`), deterministic, a fraction of a
millisecond a message. The text is first normalised without changing its
length (`identity.normalise_for_nlu`: full-width to half-width, Traditional
to Simplified, middle-dot look-alikes to the middle dot), so every span found
in the normalised text is a span of the original.

Whose a detail is: a cue (我/本人/我的/自己/家长 -> "self"; 孩子/女儿/儿子/她/
他/学生/... -> "child") governs the details after it until the next cue; a
detail with no cue before it has whose None ("fill the slot being asked").
On the parent path "self" is the parent (guardian) and "child" the card
holder.

Where the names and ID numbers are (spans, and whose each is) is found by
actions/detail_spans.py; this module adds the role, claimant, relative and
corrections the message states, and what kind of answer it is.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from actions.detail_spans import (
    PARENT_WORDS,
    PUNCT,
    RELATIVE_RE,
    TRIM,
    Cues,
    Whose,
    clauses,
    entity_span,
    find_ids,
    find_names,
    normalised,
    plausible,
    whose_at,
)
from contract.paths import PATHS
from identity import normalise_for_nlu, normalise_id

__all__ = ["Correction", "Detail", "Reading", "Whose", "name_in", "read"]


@dataclass(frozen=True)
class Detail:
    field: Literal["name", "id_number"]
    value: str  # name: identity.normalise_name; id_number: identity.normalise_id (15-20 chars)
    whose: Whose
    start: int  # span in the original text
    end: int


@dataclass(frozen=True)
class Correction:
    field: Literal["name", "id_number", "face_verification", "any"]
    whose: Whose


@dataclass(frozen=True)
class Reading:
    text: str
    details: tuple[Detail, ...]
    role: str | None
    claimant: Literal["self", "parent"] | None
    corrections: tuple[Correction, ...]
    relative: str | None
    kind: Literal["id_number", "name", "details", "role", "claimant", "correction", "greeting", "question", "other"]


# -- role, claimant, relatives -------------------------------------------------------------------------------
_I_AM = re.compile(r"(?:我|本人)(?:也|就|只|算|其实)?(?:是|属于|算|当|在读|在上|读|上)(?:一名|一个|个|名)?")
_ROLE_IN_STATEMENT = (
    ("relative", re.compile(RELATIVE_RE)),
    ("parent", re.compile(PARENT_WORDS)),
    ("teacher", re.compile(r"老师|教师|班主任|教职工|辅导员|校长")),
    ("university_student", re.compile(r"大学生|研究生|本科生|大专生?|专科生|硕士|博士|大学|高校学生")),
    (
        "k12_student",
        re.compile(
            r"中小学生|小学生|初中生|高中生|中职生|职高生?|中专生|技校生|学生|高中|初中|小学|中学|初[一二三]|高[一二三]|[一二三四五六]年级"
        ),
    ),
    ("public", re.compile(r"社会公众|普通市民|市民|上班族|社会人员|普通群众|群众|公众|打工的|上班的|普通人")),
)
_NOT_A_STATEMENT = re.compile(r"想|问|要|来|说|让|找|帮|给|请|能|可以|怎么|不|非")
# A clause that is nothing but a role word (an answer to "您是哪类用户？").
_ROLE_ALONE = (
    ("teacher", re.compile(r"(?:老师|教师|班主任|教职工|学校老师|任课老师)")),
    ("parent", re.compile(r"(?:家长|学生家长|孩子家长|孩子(?:的|他|她)?(?:爸爸|妈妈|爸|妈)|监护人|父母)")),
    ("university_student", re.compile(r"(?:大学生|研究生|本科生|大专生?|专科生|大学)")),
    ("k12_student", re.compile(r"(?:中小学生|小学生|初中生|高中生|中职生|职高生?|中专生|学生)")),
    (
        "public",
        re.compile(r"(?:社会公众|普通市民|市民|上班族|社会人员|普通群众|公众|都不是|我都不是|都不是的|以上都不是)"),
    ),
)
_RELATIVE_ALONE = re.compile(r"(?:孩子|他|她|学生)?的?(" + RELATIVE_RE + ")")
_CLAIMANT_SELF = re.compile(
    r"学生本人|我是学生|我本人|本人(?:领取|领|办理|申请)|我自己(?:领取|领|办理|申请|来)?|自己(?:领取|领|办理|申请|来)"
)
_CLAIMANT_SELF_ALONE = re.compile(r"(?:本人|是本人|本人吧|学生本人|自己|我自己|我)")
_CLAIMANT_PARENT = re.compile(
    r"(?:家长|父母|爸妈|我)?代(?:领|办|为领取)|家长(?:帮忙|帮)?(?:领取|领)"
    r"|(?:帮|给|替|为)(?:我的?)?(?:孩子|小孩|女儿|儿子|闺女|宝宝|娃)[^" + PUNCT + r"\d]{0,8}?(?:领|办|申请|开通|注册)"
)
_PARENT_OF_CHILD = re.compile(r"(?:孩子|小孩|学生|他|她)(?:的|他|她)?(?:爸爸|妈妈|爸|妈|家长)")

# -- corrections ---------------------------------------------------------------------------------------------
_CORRECTION = re.compile(
    r"(?<!没)(?<!不)(?<!没有)(?<!没[打输写填弄搞选])(?<!不[打输写填])(?:打|输|写|填|弄|搞|选|报)?错(?!过)"
    r"|(?<!对)不对|不正确|有误"
    r"|(?:修改|更改|改成|改为|改一下|改下|改掉|换成|改(?![天日革变善进造]))"
    r"|应该是|应当是|是[^" + PUNCT + r"]{1,25}?才对"
    r"|重新(?:输|填|写|打|录|提交)"
    r"|(?:少|多|漏)(?:打|输|写|填)?了?(?:一|两|几|1|2)?位"
)
_NO_CHANGE_BEFORE = re.compile(r"(?:不用|不需要|无需|不要|别|不必|没|不想|不)$")
_FACE = re.compile(r"人脸识别|人脸验证|人脸|刷脸|面部识别")
_FACE_CHANGE = re.compile(r"改|换|不想|不要了|不开了|不用了|取消|关掉|关闭|还是|算了|重新")
_FIELD_WORDS = re.compile(
    r"(?P<face>人脸识别|人脸验证|人脸|刷脸|面部识别)"
    r"|(?P<id>身份证号码|身份证号|身份证|证件号码?|证号|号码|ID|id)"
    r"|(?P<name>名字|姓名|真名|全名)"
)

# -- greetings, questions --------------------------------------------------------------------------------------
_GREETING = re.compile(
    r"(?:你好|您好|你们好|哈喽|哈罗|嗨|hi|hello|hey|在吗|在么|在不在|有人吗|有人在吗|早上好|上午好|中午好|下午好|晚上好|"
    r"早安|早|打扰了|打扰一下|小助手|客服|亲|请问|呀|啊|哦|嗯|哈|!|！|,|，|。|\.|~|～|\s)+",
    re.IGNORECASE,
)
_GREETING_WORD = re.compile(
    r"你好|您好|你们好|哈喽|哈罗|嗨|hi|hello|hey|在吗|在么|在不在|有人|好$|早安|^早|打扰", re.IGNORECASE
)
_QUESTION = re.compile(
    r"[?？]|吗|怎么|怎样|为什么|为啥|咋|什么|如何|哪|多少|能不能|可不可以|是不是|有没有|行不行|要不要|是否|呢$"
)
_FILLER_END = re.compile(r"[啊呀哦吧呢哈嘛]+$")


# -- role, claimant, relative ------------------------------------------------------------------------------------------


def _statements(norm: str) -> tuple[str | None, str | None, str | None]:
    """(role, claimant, relative) the message states."""
    role: str | None = None
    claimant: str | None = None
    relative: str | None = None
    for start, end in clauses(norm):
        clause = _FILLER_END.sub("", norm[start:end].rstrip("的了"))
        if not clause:
            continue
        for kind, pattern in _ROLE_ALONE:
            if pattern.fullmatch(clause):
                role = role or kind
                if kind == "parent":
                    claimant = claimant or "parent"
                break
        rel = _RELATIVE_ALONE.fullmatch(clause)
        if rel and clause not in ("阿姨", "叔叔"):
            relative = relative or rel.group(1)
            role = role or "parent"
        if _CLAIMANT_SELF_ALONE.fullmatch(clause):
            claimant = claimant or "self"
        for m in _I_AM.finditer(clause):
            if m.start() > 0 and clause[m.start() - 1] in "不非":
                continue
            rest = clause[m.end() : m.end() + 12]
            if len(clause) - m.end() <= 30 and plausible(normalised(clause[m.end() :])):
                continue  # 我是黄公众: a name
            # The first kind found wins: 我是学生家长 is a parent.
            kind, found = next(((k, f) for k, p in _ROLE_IN_STATEMENT if (f := p.search(rest))), ("", None))
            if found is None or _NOT_A_STATEMENT.search(rest, 0, found.start()):
                continue  # 我是想问老师怎么领
            word = found.group(0)
            if kind == "relative":
                relative = relative or word
                role = role or "parent"
            else:
                role = role or kind
                if kind == "parent":
                    claimant = claimant or "parent"
                elif kind == "k12_student" and not rest.startswith(("中小学生",)):
                    claimant = claimant or "self"
    if _CLAIMANT_PARENT.search(norm) or _PARENT_OF_CHILD.fullmatch(TRIM.sub("", norm)):
        claimant = claimant or "parent"
        if relative is None:
            role = role or "parent"
    if claimant is None and _CLAIMANT_SELF.search(norm):
        claimant = "self"
    if claimant == "self" and "学生" in norm and "大学生" not in norm:
        role = role or "k12_student"
    if relative is not None and claimant == "parent" and not re.search(r"家长|代领", norm):
        claimant = None
    return role, claimant, relative


# -- corrections -------------------------------------------------------------------------------------------------------


def _corrections(norm: str, cues: Cues, details: list[Detail]) -> list[Correction]:
    out: list[Correction] = []
    previous: str | None = None
    starts = [d.start for d in details]  # details are in text order
    for start, end in clauses(norm):
        clause = norm[start:end]
        fields = [(m.start() + start, m.end() + start, m.lastgroup) for m in _FIELD_WORDS.finditer(clause)]
        hits = []
        for m in _CORRECTION.finditer(clause):
            if _NO_CHANGE_BEFORE.search(clause, max(0, m.start() - 3), m.start()) and m.group(0)[0] in "改修更换重":
                continue
            hits.append(m)
        if _FACE.search(clause) and (change := _FACE_CHANGE.search(clause)) and not hits:
            hits.append(change)
        for m in hits:
            at = start + m.start()
            before = [f for f in fields if f[1] <= at]
            after = [f for f in fields if f[0] >= at + len(m.group(0))]
            field_word = before[-1] if before else (after[0] if after else None)
            whose: Whose = None
            if field_word is not None:
                field = {"face": "face_verification", "id": "id_number", "name": "name"}[field_word[2] or "name"]
                # A cue attached to the field word: 我的身份证号, 孩子的名字 (not 我要改名字).
                at = bisect_right(cues.ends, field_word[0])
                if at and field != "face_verification":
                    cue = cues[at - 1]
                    if cue[0] >= start and norm[cue[1] : field_word[0]] in ("", "的", " "):
                        whose = cue[2]
            else:
                first = bisect_left(starts, start)
                if first < len(details) and details[first].end <= end:
                    field = details[first].field
                elif previous is not None and m.group(0) in ("应该是", "应当是", "改成", "改为", "换成"):
                    field = previous
                elif previous is not None and m.group(0).endswith("才对"):
                    field = previous
                else:
                    field = "any"
            previous = field
            item = Correction(field, whose)  # type: ignore[arg-type]
            if item not in out:
                out.append(item)
    # "名字打错了，应该是李小雨": the second clause repeats the first correction.
    if len(out) > 1 and any(c.field == "any" for c in out):
        out = [c for c in out if c.field != "any"]
    return out


# -- the reading -------------------------------------------------------------------------------------------------------


def read(text: object, entities: Sequence[Mapping[str, Any]] = ()) -> Reading:
    """What one typed message holds (not a string: its str(), "" when false)."""
    text = text if isinstance(text, str) else str(text or "")
    norm = normalise_for_nlu(text)
    cues = Cues(norm)

    details: list[Detail] = []
    ids = find_ids(norm, text)
    for entity in entities:
        if entity.get("entity") == "id_number":
            span = entity_span(norm, entity)
            if span and all(span[1] <= a or span[0] >= b for a, b, _ in ids):
                value = normalise_id(text[span[0] : span[1]])
                if 15 <= len(value) <= 20 and value[:-1].isdigit() and (value[-1].isdigit() or value[-1] == "X"):
                    ids.append((span[0], span[1], value))
    for start, end, value in ids:
        details.append(Detail("id_number", value, whose_at(cues, start), start, end))
    for start, end, whose in find_names(norm, cues, [(a, b) for a, b, _ in ids], entities):
        details.append(Detail("name", normalised(text[start:end]), whose, start, end))
    # An implicit "self" from "李秀兰，身份证…" carries to that ID number.
    selfish = [d for d in details if d.field == "name" and d.whose == "self"]
    if selfish and not cues:
        details = [
            d
            if d.field != "id_number" or d.start < selfish[0].end
            else Detail(d.field, d.value, "self", d.start, d.end)
            for d in details
        ]
    details.sort(key=lambda d: d.start)

    role, claimant, relative = _statements(norm)
    if role is None:
        role = _role_entity(norm, entities)
    corrections = _corrections(norm, cues, details)
    kind = _kind(norm, details, role, claimant, relative, corrections)
    return Reading(text, tuple(details), role, claimant, tuple(corrections), relative, kind)  # type: ignore[arg-type]


def _role_entity(norm: str, entities: Sequence[Mapping[str, Any]]) -> str | None:
    """The model's role entity, when it is all the message says (the model
    also reads "老师" in "老师让我领卡" as a role)."""
    core = TRIM.sub("", norm)
    for entity in entities:
        if entity.get("entity") == "role" and entity.get("value") in PATHS:
            span = entity_span(norm, entity, value_is_text=False)
            if span and TRIM.sub("", norm[span[0] : span[1]]) == core:
                return str(entity["value"])
    return None


def _kind(
    norm: str,
    details: list[Detail],
    role: str | None,
    claimant: str | None,
    relative: str | None,
    corrections: list[Correction],
) -> str:
    if corrections:
        return "correction"
    if details:
        if len(details) == 1 and role is None and claimant is None and relative is None:
            return details[0].field
        return "details"
    core = TRIM.sub("", norm)
    question = bool(core) and bool(_QUESTION.search(norm))
    if (role or claimant or relative) and not question:
        return "claimant" if claimant else "role"
    if core and _GREETING.fullmatch(core) and _GREETING_WORD.search(core):
        return "greeting"
    if question:
        return "question"
    return "other"


def name_in(text: str) -> str | None:
    """The name a short answer holds ("李小雨", "我叫李小雨。"), or None."""
    names = [d.value for d in read(text).details if d.field == "name"]
    return names[0] if len(names) == 1 else None
