"""Where the names and ID numbers of one typed message are: spans in the
normalised text (`identity.normalise_for_nlu`, same length as the original),
each with whose it is by the cue before it (see actions/reading.py, which
builds a Reading from them).

The lexicon of what is never a name, where a name starts and stops, the
cues of whose a detail is, ID numbers typed with separators; and the NLU's
own entities, taken where their offsets hold.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from identity import check_name, normalise_for_nlu, normalise_id, validate_id
from identity.names import MIDDLE_DOT
from identity.surnames import COMPOUND, NOT_NAMES, has_surname

Whose = Literal["self", "child"] | None
# A cue of whose a detail is: (start, end, whose).
Cue = tuple[int, int, Literal["self", "child"]]


# -- lexicon ------------------------------------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
PUNCT = "，,。．；;！!？?、：:…~～\"“”‘’'()（）【】《》<>\\[\\]"
_CLAUSE_BREAK = re.compile("[" + PUNCT + r"\s]+")
TRIM = re.compile(r"^[\W_]+|[\W_]+$")

# Relatives who are not a parent (they try the parent path; the form decides).
# fmt: off
RELATIVES = (
    "外公", "外婆", "姥姥", "姥爷", "爷爷", "奶奶", "舅舅", "舅妈", "姑姑", "姑妈", "姑父", "姨妈", "姨父", "小姨",
    "阿姨", "叔叔", "婶婶", "伯伯", "伯母", "大伯", "大爷", "表哥", "表姐", "堂哥", "堂姐", "哥哥", "姐姐", "嫂子",
)
# fmt: on
PARENT_WORDS = "家长|监护人|父母|爸爸|妈妈|父亲|母亲|老爸|老妈|爸|妈"
RELATIVE_RE = "|".join(RELATIVES)

# Words that are never (part of) a name: roles, kinship, everyday replies
# that start with a surname character, question and greeting words.
_NON_NAME_PARTS = re.compile(
    "老师|教师|家长|学生|同学|孩子|小孩|本人|自己|人工|客服|爸|妈|奶奶|爷爷|外公|外婆|阿姨|叔叔|舅舅|姑姑|哥哥|姐姐"
    "|班主任|班长|校长|公务|农民|银行|卡号|账号|号|孙子|孙女|初中|高中|小学|大学|中学|学校|年级|身份|证件|号码|名字|姓名"
    "|信息|资料|人脸|识别|领卡|领取|电子卡|学习号|江西|南昌|九江|赣州|上饶|宜春|吉安|抚州|景德镇|萍乡|新余|鹰潭"
)
# fmt: off
_NON_NAME_PREFIXES = frozenset(
    (
        "普通", "都不", "都没", "都要", "初一", "初二", "初三", "高一", "高二", "高三", "高考", "中考", "申请", "查询",
        "查一", "查下", "查看", "修改", "关闭", "关掉", "关于", "管理", "成功", "成了", "那好", "那行", "那就", "那我",
        "那么", "明天", "明早", "明年", "明白", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "周末", "马上",
        "安装", "安排", "方法", "方式", "文件", "平台", "平时", "解绑", "解决", "单位", "车票", "全部", "全都", "全是",
        "应该", "和你", "和我", "向您", "向你", "万一", "时间", "何时", "钱呢", "华为", "哈喽", "哈哈", "谢谢", "高兴",
        "金额", "余额", "费用", "多少", "公众", "晚点", "晚上", "来了", "来吧", "利息", "国家", "强制", "信用", "花钱",
        "宁可", "于是",
    )
)
# fmt: on
# Characters that do not occur in names but do in replies and questions.
_FUNCTION_CHARS = frozenset("不没吗呢吧啊呀哦嘛么啥谁哪怎咋的了是你我他她它们这些给让被把很就也都还想要会能可")
_FUNCTION_CHARS_AFTER_FIRST = _FUNCTION_CHARS - {"都"}  # 都 is a surname; elsewhere it is not in names

# After a name, these start something else: the name ends before them.
_STOP = re.compile(
    r"[\d\s"
    + PUNCT
    + r"A-Za-z]|[^\w"
    + MIDDLE_DOT
    + r"]|的|领|身份证|身份|证件|今年|今天|在读|读|上[初高小大一二三四五六学]|同学|是|在|要|"
    r"需要|申请|办|开通|岁|出生|性别|呢|吗|吧|啊|呀|哦|了|我|你|他|她|很|号|年级|小学|初中|高中|初[一二三]|高[一二三]|"
    r"老师|家长|爸|妈|奶奶|爷爷|外公|外婆|学生|本人|已经|目前|现在|还|也|就|请|帮|给|谢谢|跟|同意|确认"
)
# What may follow a name that starts a clause without any cue before it.
_STRONG_STOP = re.compile(
    r"[\d\s"
    + PUNCT
    + r"]|[^\w"
    + MIDDLE_DOT
    + r"]|身份证|证件|同学|今年|在读|读[初高小大一二三四五六]|上[初高小大一二三四五六]|的身份证|"
    r"的证件|的家长|的爸爸|的妈妈|的" + "(?:" + RELATIVE_RE + ")|家长|妈妈|爸爸"
)
_KIN_AFTER_NAME = re.compile(r"的?(?:" + PARENT_WORDS + "|" + RELATIVE_RE + ")")

# -- whose: cues -------------------------------------------------------------------------------------------
_SELF_CUE = (
    r"我是[^\d" + PUNCT + r"\s]{0,8}?(?:" + PARENT_WORDS + "|" + RELATIVE_RE + r"|学生本人|学生|老师|教师)"
    r"|(?:孩子|小孩|学生|女儿|儿子|(?<!其)他|她)(?:的)?(?:他|她)?(?:" + PARENT_WORDS + ")"
    r"|家长本人|学生本人|我本人|本人|自己|我的|我们|我|家长|监护人"
)
_CHILD_CUE = (
    r"孩子|小孩|女儿|儿子|闺女|宝宝|宝贝|小朋友|娃|学生|老大|老二|老三|孙子|孙女|外孙女|外孙|弟弟|妹妹|她|(?<!其)他"
)
_CUES = re.compile(f"(?P<self>{_SELF_CUE})|(?P<child>{_CHILD_CUE})")

# -- names: where one starts -------------------------------------------------------------------------------
_LABEL_ANCHOR = re.compile(r"(?:名字|姓名|全名|真实姓名|真名)(?:是|叫|为)?[:：\s]*")
_ANCHOR = re.compile(
    r"叫(?:做)?[:：\s]*"
    r"|(?:我|本人)(?:就|也)?是[:：\s]*"
    r"|本人[:：\s]*"
    r"|(?:应该|应当|其实|就|学生|孩子|女儿|儿子|小孩)是[:：\s]*"
    r"|改成|改为|换成"
    r"|(?:孩子|小孩|女儿|儿子|闺女|宝宝|孙子|孙女|外孙女|外孙|学生|娃)(?:的)?[:：\s]*(?![叫是名姓])"
    r"|(?:给|帮|替|为)(?:我的?)?"
    r"|(?:家长|监护人)(?:的)?[:：\s]*"
    r"|(?:^|(?<=[，,。；;\s]))是"
)
MAX_RUN = 40
_NAME_RUN = re.compile(f"[{_CJK}](?:[{_CJK}]|[{MIDDLE_DOT}.](?=[{_CJK}]))*")

# -- ID numbers ---------------------------------------------------------------------------------------------
MAX_ID_GROUPS = 6  # "3601 0220 1003 1500 2X"; "1 1 1 1 …" is no ID number
_SEP = r"[ \t\-_\u2010-\u2015\u2212]{1,3}"
_GROUP = r"(?:\d+(?:[xX](?![A-Za-z0-9]))?|[xX](?![A-Za-z0-9]))"
_ID_CHAIN = re.compile(rf"(?<![\dA-Za-z])\d+(?:[xX](?![A-Za-z0-9]))?(?:{_SEP}{_GROUP})*")
_GROUP_IN_CHAIN = re.compile(_GROUP)
_NOT_ID_LABEL = re.compile(
    r"(?:手机|电话|订单|单号|银行卡|卡号|账号|账户|流水号|QQ|qq|微信|验证码)号?(?:码)?(?:是|为)?[:：\s]*$"
)


# -- helpers ------------------------------------------------------------------------------------------------------


def _surname_length(name: str) -> int:
    return 2 if name[:2] in COMPOUND else 1


def plausible(name: str) -> bool:
    """A normalised candidate that can be a person's name."""
    if not name or check_name(name)[1] is not None:
        return False
    if name in NOT_NAMES or name[:2] in _NON_NAME_PREFIXES or _NON_NAME_PARTS.search(name):
        return False
    if MIDDLE_DOT in name:
        return name[0] not in "叫名姓" and not (_FUNCTION_CHARS & set(name))
    if not (2 <= len(name) <= 4) or not has_surname(name):
        return False
    if name[0] in _FUNCTION_CHARS_AFTER_FIRST or _FUNCTION_CHARS_AFTER_FIRST & set(name[1:]):
        return False
    return True


def _name_at(norm: str, pos: int, strong: bool = False) -> tuple[int, int, bool] | None:
    """The name starting at `pos`: (start, end, clean) or None. clean: the
    end is at a boundary (a stop word, punctuation or the end of the text)
    rather than a guess."""
    run = _NAME_RUN.match(norm, pos, pos + MAX_RUN)
    if not run:
        return None
    text = run.group(0)
    if run.end() == pos + MAX_RUN:
        return None  # a 40-character run of Chinese is no name
    stop = _STRONG_STOP if strong else _STOP
    if MIDDLE_DOT in text or "." in text:
        got = _dotted_name_at(norm, pos, run.end(), stop, strong)
        if got is not None:
            return got
        text = re.split(r"[.\u00b7]", text, maxsplit=1)[0]  # "李雷.身份证…": a full stop typed as "."
        if MIDDLE_DOT in run.group(0) or not text:
            return None
    run_end = pos + len(text)
    if not has_surname(text):
        return None
    first = _surname_length(text) + 1 if len(text) > 2 else 2
    for i in range(1, min(len(text), 5)):
        if i < first:
            if _NON_NAME_PARTS.match(norm, pos + i):
                return None  # 李老师, 王同学
            continue
        if stop.match(norm, pos + i):
            return pos, pos + i, True
    if len(text) <= 4:
        if strong and not (run_end == len(norm) or stop.match(norm, run_end)):
            return None
        return pos, run_end, True
    if strong:
        return None
    guess = 4 if text[:2] in COMPOUND else 3
    return pos, pos + guess, False


def _dotted_name_at(norm: str, pos: int, end: int, stop: re.Pattern[str], strong: bool) -> tuple[int, int, bool] | None:
    """A minority name with a middle dot (阿依古丽·买买提) starting at `pos`,
    the run of name characters ending at `end`."""
    text = norm[pos:end]
    last_dot = max(text.rfind(MIDDLE_DOT), text.rfind("."))
    got = None
    for i in range(last_dot + 2, len(text)):
        if stop.match(norm, pos + i):
            got = (pos, pos + i, True)
            break
    if got is None and (not strong or end == len(norm) or stop.match(norm, end)):
        got = (pos, end, True)
    if got is None or not plausible(check_name(norm[got[0] : got[1]])[0]):
        return None
    return got


class Cues(list[Cue]):
    """(start, end, whose) of each cue, in order; `ends` for bisection."""

    def __init__(self, norm: str) -> None:
        super().__init__((m.start(), m.end(), "self" if m.group("self") else "child") for m in _CUES.finditer(norm))
        self.ends = [end for _, end, _ in self]


def whose_at(cues: Cues, pos: int) -> Whose:
    """The cue that governs position `pos`: the last one ending at or before it."""
    at = bisect_right(cues.ends, pos)
    return cues[at - 1][2] if at else None


def clauses(norm: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _CLAUSE_BREAK.finditer(norm):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(norm):
        spans.append((start, len(norm)))
    return spans


# -- ID numbers ------------------------------------------------------------------------------------------------------


def find_ids(norm: str, text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for chain in _ID_CHAIN.finditer(norm):
        if len(chain.group(0)) < 15:
            continue  # too short even before separators are removed: a phone number, a date
        groups = [(m.start(), m.end()) for m in _GROUP_IN_CHAIN.finditer(norm, chain.start(), chain.end())]
        i = 0
        while i < len(groups):
            total, pick, picked = 0, None, 0
            for j in range(i, min(len(groups), i + MAX_ID_GROUPS)):
                total += groups[j][1] - groups[j][0]
                if total > 20:
                    break
                if 15 <= total <= 20 and (pick is None or abs(total - 18) <= abs(picked - 18)):
                    pick, picked = j, total  # the length nearest to 18
                    if total == 18:
                        break
                if norm[groups[j][1] - 1] in "xX":
                    break  # the check character ends an ID number
            if pick is None:
                single = norm[groups[i][0] : groups[i][1]]
                if len(single) >= 36 and len(single) % 18 == 0 and single.isdigit():
                    # Two ID numbers typed without a break between them.
                    for k in range(groups[i][0], groups[i][1], 18):
                        found.append((k, k + 18, normalise_id(text[k : k + 18])))
                i += 1
                continue
            start, end = groups[i][0], groups[pick][1]
            value = normalise_id(text[start:end])
            if not (len(value) == 18 and _valid18(value)) and _NOT_ID_LABEL.search(norm, max(0, start - 12), start):
                i = pick + 1
                continue  # a phone, order or bank-card number
            found.append((start, end, value))
            i = pick + 1
    return found


def _valid18(value: str) -> bool:
    return validate_id(value).ok


# -- names -----------------------------------------------------------------------------------------------------------


def find_names(
    norm: str, cues: Cues, taken: list[tuple[int, int]], entities: Sequence[Mapping[str, Any]]
) -> list[tuple[int, int, Whose]]:
    """(start, end, whose) of each name, in the normalised text."""
    found: list[tuple[int, int, Whose]] = []
    guessed: list[int] = []
    used = bytearray(len(norm) + 1)  # characters already read as an ID number or a name
    for a, b in taken:
        used[a:b] = b"\x01" * (b - a)

    def free(start: int, end: int) -> bool:
        return not any(used[start:end])

    def add(start: int, end: int, default: Whose = None, clean: bool = True) -> None:
        if not free(start, end) or not plausible(normalised(norm[start:end])):
            return
        whose = whose_at(cues, start) or default
        if _KIN_AFTER_NAME.match(norm, end):
            whose = "child"  # 我是李小雨的妈妈: 李小雨 is the child
        found.append((start, end, whose))
        used[start:end] = b"\x01" * (end - start)
        if not clean:
            guessed.append(len(found) - 1)

    core = TRIM.sub("", norm)
    if core and len(core) <= 40 and plausible(normalised(core)):
        start = norm.find(core)
        add(start, start + len(core))  # the whole message is a name ("李 小 雨")
    for m in _LABEL_ANCHOR.finditer(norm):
        got = _name_at(norm, m.end())
        if got:
            add(got[0], got[1], "self", got[2])
    for m in _ANCHOR.finditer(norm):
        got = _name_at(norm, m.end())
        if got:
            default: Whose = "self" if m.group(0).startswith(("我", "本人")) else None
            add(got[0], got[1], default, got[2])
    for start, end in clauses(norm):
        clause = norm[start:end]
        if start == 0 or not norm[start - 1].isdigit():
            got = _name_at(norm, start, strong=True)
            if got:
                default = None
                if not cues or cues[0][0] >= got[1]:
                    rest = norm[got[1] : got[1] + 6]
                    if re.match(r"[\s，,、]*(?:身份证|证件)", rest):
                        default = "self"  # "李秀兰，身份证…": introducing oneself
                add(got[0], got[1], default, got[2])
        elif plausible(normalised(clause)):
            add(start, end)
    for entity in entities:
        if entity.get("entity") != "person_name":
            continue
        span = entity_span(norm, entity)
        if span is None:
            continue
        overlapping = [k for k in guessed if not (span[1] <= found[k][0] or span[0] >= found[k][1])]
        for k in sorted(overlapping, reverse=True):
            used[found[k][0] : found[k][1]] = bytes(found[k][1] - found[k][0])
            del found[k]
        guessed = [k - sum(1 for o in overlapping if o < k) for k in guessed if k not in overlapping]
        add(span[0], span[1])
    return found


def normalised(raw: str) -> str:
    return check_name(raw)[0]


def entity_span(norm: str, entity: Mapping[str, Any], value_is_text: bool = True) -> tuple[int, int] | None:
    """The span of an NLU entity: its offsets when they hold, else where its
    value is found (a role entity's value is the role, not the text)."""
    value = str(entity.get("value") or "") if value_is_text else ""
    start, end = entity.get("start"), entity.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(norm):
        if not value or normalise_for_nlu(value) == norm[start:end]:
            return start, end
    if value:
        at = norm.find(normalise_for_nlu(value))
        if at >= 0:
            return at, at + len(value)
    return None
