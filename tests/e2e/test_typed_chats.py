"""Issue 12, "people type, they don't tap": whole conversations typed the
way people type (never a button payload), against the running services
(backend, action server and Rasa as `make run` starts them; tests/stack.py).

One test per requirement of the issue: every question answered in words,
answers checked for what they are, corrections at any point, several
details in one message, several children, no dead ends after a failure,
grounded answers, greetings / goodbyes / hand-over mid-claim, repeat,
don't know, cancel, and the "您是想问" buttons. The main K-12, parent and
teacher/university/public paths include typos and a correction; the
teacher's is typed in Traditional characters with full-width digits.

Every conversation is written to var/typed-transcripts.txt (git-ignored)
at the end of the module, so a person can read them whole. The people are
this module's own (tests/people.py, TYPED_*): their claims and failures
happen nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from backend.registry.columns import STUDENT_COLUMNS
from contract.contacts import HOTLINE
from tests.people import (
    TYPED_DAUGHTER_DENG,
    TYPED_DAUGHTER_LI,
    TYPED_FATHER_DENG,
    TYPED_FATHER_HUANG,
    TYPED_FATHER_SUN,
    TYPED_FATHER_WANG,
    TYPED_HUANG_CHILDREN,
    TYPED_MOTHER_LI,
    TYPED_MOTHER_ZHAO,
    TYPED_MOTHER_ZHOU,
    TYPED_PUBLIC_MA,
    TYPED_SON_SUN,
    TYPED_SON_WANG,
    TYPED_STUDENT_FANG,
    TYPED_STUDENT_LIU,
    TYPED_STUDENT_XU,
    TYPED_TEACHER_CHEN,
    TYPED_UNIVERSITY_SONG,
    TYPED_YOUNG_ZHOU,
    TYPED_YOUNGER_ZHOU,
    Person,
    _student,
    student_rows,
    write_csv,
)
from tests.stack import NEEDS_STACK, ROOT, Stack, opened, realname, say, text, tracker

pytestmark = NEEDS_STACK

TRANSCRIPT_FILE = ROOT / "var" / "typed-transcripts.txt"
SHOWN_SLOTS = (
    "role",
    "k12_claimant",
    "guardian_name",
    "guardian_id_number",
    "person_name",
    "id_number",
    "face_verification",
    "details_confirmed",
    "card_number",
    "failure_reason",
    "requested_slot",
)
# The form's questions, as the user reads them (domain.yml utter_ask_*).
ASK_ID = "18位身份证号"
ASK_CHILD_ID = "请输入孩子的18位身份证号"
ASK_OWN_ID = "18位身份证号"  # 您的 / 学生本人的
ASK_GUARDIAN_ID = "请输入您（家长）本人的18位身份证号"
ASK_NAME = "请输入您的姓名"
ASK_CHILD_NAME = "请输入孩子（领卡学生）的姓名"
ASK_FACE = "人脸识别验证"
CONFIRM_SCREEN = "以下信息"


# -- transcripts ------------------------------------------------------------------------------------


@dataclass
class Transcript:
    test: str
    lines: list[str] = field(default_factory=list)


TRANSCRIPTS: dict[str, Transcript] = {}


@pytest.fixture(scope="module", autouse=True)
def transcripts_file() -> Iterator[None]:
    """Writes every conversation of this module to var/typed-transcripts.txt
    when the module is done (passed or failed)."""
    TRANSCRIPTS.clear()
    yield
    TRANSCRIPT_FILE.parent.mkdir(parents=True, exist_ok=True)
    out = [f"Typed conversations (tests/e2e/test_typed_chats.py), {dt.datetime.now():%Y-%m-%d %H:%M}", ""]
    for sender, t in TRANSCRIPTS.items():
        out += ["=" * 100, f"{t.test}   [sender {sender}]", "=" * 100, *t.lines, ""]
    TRANSCRIPT_FILE.write_text("\n".join(out), encoding="utf-8")


@pytest.fixture
def test_name(request: pytest.FixtureRequest) -> str:
    return request.node.name


# -- one typed turn ---------------------------------------------------------------------------------


@dataclass
class Turn:
    messages: list[dict[str, Any]]
    state: dict[str, Any]
    active_loop: str | None

    @property
    def text(self) -> str:
        return text(self.messages)

    @property
    def buttons(self) -> list[str]:
        return [b["title"] for m in self.messages for b in m.get("buttons") or []]

    def count(self, phrase: str) -> int:
        return self.text.count(phrase)

    def __getitem__(self, slot: str) -> Any:
        return self.state.get(slot)


class Chat:
    """One typed conversation: each `say` returns the reply and the slots
    after it, and is written to the module's transcripts."""

    def __init__(self, stack: Stack, sender: str, test: str, metadata: dict[str, Any] | None = None) -> None:
        self.stack, self.sender, self.metadata = stack, sender, metadata
        assert sender not in TRANSCRIPTS, f"sender id {sender} used twice"
        self.transcript = TRANSCRIPTS.setdefault(sender, Transcript(test))

    async def __call__(self, message: str) -> Turn:
        self.transcript.lines.append(f"用户：{message}")
        try:
            messages = await say(self.stack, self.sender, message, metadata=self.metadata)
        except AssertionError as e:
            self.transcript.lines.append(f"  !! {e}")
            raise
        t = await tracker(self.stack, self.sender)
        turn = Turn(messages, opened(t["slots"]), (t.get("active_loop") or {}).get("name"))
        for m in messages:
            said = (m.get("text") or "").replace("\n", "\n        ")
            self.transcript.lines.append(f"助手：{said}")
            if m.get("buttons"):
                self.transcript.lines.append("      [" + " | ".join(b["title"] for b in m["buttons"]) + "]")
        parsed = next((e.get("parse_data") or {} for e in reversed(t["events"]) if e.get("event") == "user"), {})
        shown = {k: turn.state.get(k) for k in SHOWN_SLOTS if turn.state.get(k) is not None}
        self.transcript.lines.append(
            f"      (intent {(parsed.get('intent') or {}).get('name')}; loop {turn.active_loop}; {shown})"
        )
        return turn


def chat(stack: Stack, sender: str, test: str, metadata: dict[str, Any] | None = None) -> Chat:
    """A typed chat; `metadata` (the channel's signed real name) goes with every message."""
    return Chat(stack, sender, test, metadata)


def ascii_sender(prefix: str, words: str) -> str:
    """A sender id of ASCII only (the tracker endpoint's path takes no
    Chinese), one per typed phrase."""
    return f"{prefix}-" + words.encode("utf-8").hex()


def full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def details(turn: Turn, **expected: Any) -> None:
    """The slots hold exactly these values."""
    got = {k: turn[k] for k in expected}
    assert got == expected, (got, turn.text)


# -- every question answered in words ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, role, next_slot",
    [
        ("我是家长", "parent", "guardian_name"),
        ("孩子他爸", "parent", "guardian_name"),
        # The self-service paths claim for the chat's verified real name: a chat
        # without one hears why (issue 13) and nothing is asked.
        ("我是老师", None, None),
        ("我在读大学", None, None),
        ("上班族", None, None),
    ],
)
async def test_role_question_answered_in_words(
    stack: Stack, test_name: str, answer: str, role: str | None, next_slot: str | None
) -> None:
    say_ = chat(stack, ascii_sender("typed-role", answer), test_name)
    t = await say_("我要领卡")
    assert t["requested_slot"] == "role" and "领卡身份" in t.text, t.text
    t = await say_(answer)
    details(t, role=role, requested_slot=next_slot, person_name=None, guardian_name=None)
    assert ("姓名" in t.text) if role else ("实名认证" in t.text), t.text


@pytest.mark.parametrize(
    "answer, who, role, label",
    [
        ("我是老师", TYPED_TEACHER_CHEN, "teacher", "教师"),
        ("我在读大学", TYPED_UNIVERSITY_SONG, "university_student", "大学生"),
        ("上班族", TYPED_PUBLIC_MA, "public", "社会公众"),
    ],
)
async def test_with_a_verified_real_name_the_self_service_paths_only_confirm(
    stack: Stack, test_name: str, answer: str, who: Person, role: str, label: str
) -> None:
    sender = ascii_sender("typed-verified", answer)
    say_ = chat(stack, sender, test_name, metadata=realname(who.name, who.id_number, sender=sender))
    await say_("我要领卡")
    t = await say_(answer)
    details(t, role=role, person_name=who.name, id_number=who.id_number, requested_slot="details_confirmed")
    assert who.name in t.text, t.text
    t = await say_("对的")
    assert "领卡成功" in t.text and label in t.text, t.text
    assert t["card_number"]


@pytest.mark.parametrize(
    "answer, role, claimant, next_slot",
    [
        ("我是学生本人", "k12_student", "self", "person_name"),
        ("本人", "k12_student", "self", "person_name"),
        ("我自己领", "k12_student", "self", "person_name"),
        ("我是学生", "k12_student", "self", "person_name"),
        ("家长代领", "parent", None, "guardian_name"),
        ("我是他妈妈", "parent", None, "guardian_name"),
    ],
)
async def test_self_or_parent_question_answered_in_words(
    stack: Stack, test_name: str, answer: str, role: str, claimant: str | None, next_slot: str
) -> None:
    say_ = chat(stack, ascii_sender("typed-claimant", answer), test_name)
    await say_("我要领卡")
    t = await say_("中小学生")
    details(t, role="k12_student", requested_slot="k12_claimant")
    assert "本人领取" in t.buttons and "家长代领" in t.buttons, t.buttons
    t = await say_(answer)
    details(t, role=role, k12_claimant=claimant, requested_slot=next_slot, person_name=None, guardian_name=None)


# -- the main paths, typed, with typos and corrections -----------------------------------------------


async def test_k12_student_typed_with_typos_and_a_name_correction_at_the_confirmation(
    stack: Stack, test_name: str
) -> None:
    me, say_ = TYPED_STUDENT_LIU, chat(stack, "typed-k12-liu", test_name)
    t = await say_("你好")
    assert {"我要领卡", "领取失败怎么办", "联系人工客服"} <= set(t.buttons), t.buttons
    t = await say_("我要领学习号卡")
    assert t["requested_slot"] == "role", t.text
    t = await say_("我是高中生")
    assert t["role"] == "k12_student", t.text
    if t["requested_slot"] == "k12_claimant":  # "我是高中生" may already say who claims
        assert "本人" in t.text and "家长代领" in t.text
        t = await say_("我自己领")
    details(t, k12_claimant="self", requested_slot="person_name")
    t = await say_("刘晓冬")  # a typo: 冬 for 东
    details(t, person_name="刘晓冬", requested_slot="id_number")
    assert ASK_OWN_ID in t.text
    wrong_check = me.id_number[:-1] + ("1" if me.id_number[-1] != "1" else "2")
    t = await say_(f"身分证号{wrong_check}")  # 身分证 and a wrong last digit
    details(t, id_number=None, requested_slot="id_number", failure_reason="invalid_id_number")
    assert "校验位" in t.text and t.count(ASK_OWN_ID) == 1, t.text
    t = await say_(me.id_number)
    details(t, id_number=me.id_number, requested_slot="face_verification")
    assert "自行选择" in t.text and {"开通", "暂不开通"} <= set(t.buttons)
    t = await say_("不用了")
    details(t, face_verification=False, requested_slot="details_confirmed")
    # Every character typed is shown back.
    assert CONFIRM_SCREEN in t.text and "刘晓冬" in t.text and me.id_number in t.text, t.text
    assert {"确认无误，领卡", "需要修改"} <= set(t.buttons), t.buttons
    t = await say_(f"名字打错了，是{me.name}")
    details(
        t,
        person_name=me.name,
        id_number=me.id_number,
        face_verification=False,
        role="k12_student",
        details_confirmed=None,
        requested_slot="details_confirmed",
    )
    assert CONFIRM_SCREEN in t.text and f"姓名：{me.name}" in t.text and me.id_number in t.text, t.text
    t = await say_("没问题")
    assert "领卡成功" in t.text, t.text
    details(t, details_confirmed=True, failure_reason=None, person_name=me.name)
    assert t["card_number"] and t["card_number"] in t.text


async def test_parent_typed_through_the_student_question_with_a_child_name_correction(
    stack: Stack, test_name: str
) -> None:
    dad, son, say_ = TYPED_FATHER_WANG, TYPED_SON_WANG, chat(stack, "typed-parent-wang", test_name)
    t = await say_("我想给孩子领个学习号")
    assert t.active_loop == "claim_form", t.text
    if t["role"] is None:  # the role question first, then answered in words
        t = await say_("孩子他爸")
    details(t, role="parent", requested_slot="guardian_name")
    assert "家长" in t.text and "姓名" in t.text
    t = await say_(f"我叫{dad.name}")
    details(t, guardian_name=dad.name, requested_slot="guardian_id_number")
    t = await say_(dad.id_number)
    details(t, guardian_id_number=dad.id_number, requested_slot="person_name")
    assert ASK_CHILD_NAME in t.text
    t = await say_("王子含")  # typo: 含 for 涵
    details(t, person_name="王子含", requested_slot="id_number")
    assert ASK_CHILD_ID in t.text
    t = await say_(f"孩子身份证号是{son.id_number}")
    details(t, id_number=son.id_number, requested_slot="face_verification")
    t = await say_("要开")
    details(t, face_verification=True, requested_slot="details_confirmed")
    assert "王子含" in t.text and dad.id_number in t.text and son.id_number in t.text, t.text
    t = await say_("改一下孩子的名字")
    details(
        t,
        person_name=None,
        guardian_name=dad.name,
        guardian_id_number=dad.id_number,
        id_number=son.id_number,
        face_verification=True,
        requested_slot="person_name",
    )
    assert ASK_CHILD_NAME in t.text
    t = await say_(son.name)
    details(t, person_name=son.name, id_number=son.id_number, requested_slot="details_confirmed")
    assert f"孩子姓名：{son.name}" in t.text and "人脸识别验证：开通" in t.text, t.text
    t = await say_("确认无误，领卡")
    assert "领卡成功" in t.text or "已经领取" in t.text, t.text
    assert t["card_number"] and t["failure_reason"] is None
    assert "为另一个孩子领卡" in t.buttons, t.buttons


async def test_a_student_with_a_wrong_name_fixes_it_after_the_failure(stack: Stack, test_name: str) -> None:
    me, say_ = TYPED_STUDENT_FANG, chat(stack, "typed-student-fang", test_name)
    await say_("我要领卡")
    t = await say_("我是学生，自己领")
    details(t, role="k12_student", requested_slot="person_name")
    t = await say_("方佳仪")  # typo: 仪 for 怡
    details(t, person_name="方佳仪", requested_slot="id_number")
    t = await say_(full_width(me.id_number))
    details(t, id_number=me.id_number, requested_slot="face_verification")
    t = await say_("不用开")
    details(t, face_verification=False, requested_slot="details_confirmed")
    t = await say_("對的")
    details(t, failure_reason="identity_not_found", card_number=None)
    assert {"修改姓名", "修改身份证号", "转人工", "客服电话"} <= set(t.buttons), t.buttons
    t = await say_("为什么")
    assert "没有找到一致的记录" in t.text and "那怎么办" in t.buttons, t.text
    t = await say_("那怎么办")
    assert "逐字核对" in t.text and "修改姓名" in t.buttons, t.text
    t = await say_("修改姓名")
    details(t, person_name=None, id_number=me.id_number, role="k12_student", requested_slot="person_name")
    assert "的姓名" in t.text, t.text
    t = await say_(me.name)
    details(t, person_name=me.name, requested_slot="details_confirmed")
    assert me.name in t.text and me.id_number in t.text
    t = await say_("确认")
    assert "领卡成功" in t.text and "中小学生" in t.text, t.text
    assert t["card_number"] and t["failure_reason"] is None


# -- answers checked for what they are -------------------------------------------------------------


async def test_answers_are_checked_for_what_they_are(stack: Stack, test_name: str) -> None:
    mum, girl, say_ = TYPED_MOTHER_LI, TYPED_DAUGHTER_LI, chat(stack, "typed-checked", test_name)
    await say_("我要领卡")
    t = await say_("我是家长")
    details(t, role="parent", requested_slot="guardian_name")
    t = await say_("我是家长")  # a role statement at the name question
    details(t, guardian_name=None, person_name=None, requested_slot="guardian_name")
    assert "姓名" in t.text
    t = await say_("你好")
    details(t, guardian_name=None, person_name=None, requested_slot="guardian_name")
    t = await say_("这个卡收费吗")
    details(t, guardian_name=None, person_name=None, requested_slot="guardian_name")
    assert "免费" in t.text and "姓名" in t.text
    t = await say_(mum.id_number)  # an ID number at the name question: kept as hers, the name still asked
    details(t, guardian_name=None, guardian_id_number=mum.id_number, person_name=None, requested_slot="guardian_name")
    assert "姓名" in t.text
    t = await say_(mum.name)
    details(t, guardian_name=mum.name, guardian_id_number=mum.id_number, requested_slot="person_name")
    t = await say_("我是老师")  # never a name: here a change of path, to one that needs a verified real name
    assert t["person_name"] != "我是老师" and t["guardian_name"] != "我是老师"
    if t["role"] != "parent":
        t = await say_("我其实是家长")
    details(t, role="parent", guardian_name=mum.name, requested_slot="person_name")
    # A name typed at the ID question is kept where a name was missing, and
    # the user hears what was expected.
    t2 = await say_(girl.id_number)
    details(t2, id_number=girl.id_number, person_name=None, requested_slot="person_name")
    t = await say_(girl.name)
    details(
        t,
        person_name=girl.name,
        id_number=girl.id_number,
        guardian_name=mum.name,
        guardian_id_number=mum.id_number,
        requested_slot="face_verification",
    )


async def test_a_name_typed_at_the_id_question_is_kept_where_the_name_was_missing(stack: Stack, test_name: str) -> None:
    dad, son, say_ = TYPED_FATHER_WANG, TYPED_SON_WANG, chat(stack, "typed-name-at-id", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    t = await say_(dad.name)
    details(t, guardian_name=dad.name, requested_slot="guardian_id_number")
    t = await say_(son.name)  # the child's name, typed at the parent's ID question
    details(
        t, guardian_name=dad.name, guardian_id_number=None, person_name=son.name, requested_slot="guardian_id_number"
    )
    assert ASK_GUARDIAN_ID in t.text and t.count(ASK_GUARDIAN_ID) == 1, t.text
    t = await say_(dad.id_number)
    # The child's name is known: the next question is the child's ID number.
    details(t, guardian_id_number=dad.id_number, person_name=son.name, requested_slot="id_number")
    t = await say_("王小明")  # a name at the child's ID question, the name known: not overwritten
    details(t, person_name=son.name, id_number=None, requested_slot="id_number")
    assert "身份证号" in t.text and ("已经填写" in t.text or "修改姓名" in t.text), t.text


# -- corrections at any point --------------------------------------------------------------------


async def test_corrections_at_any_question_and_at_the_confirmation_change_one_detail(
    stack: Stack, test_name: str
) -> None:
    mum, girl, say_ = TYPED_MOTHER_LI, TYPED_DAUGHTER_LI, chat(stack, "typed-corrections", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    await say_("李秀蓝")  # typo
    t = await say_("名字打错了，是李秀兰")  # at the parent's ID question
    details(t, guardian_name=mum.name, guardian_id_number=None, requested_slot="guardian_id_number")
    assert ASK_GUARDIAN_ID in t.text
    t = await say_(mum.id_number)
    t = await say_("李晓雨")
    details(t, person_name="李晓雨", requested_slot="id_number")
    t = await say_("改一下孩子的名字")  # at the child's ID question
    details(t, person_name=None, guardian_name=mum.name, guardian_id_number=mum.id_number, requested_slot="person_name")
    t = await say_(girl.name)
    details(t, person_name=girl.name, requested_slot="id_number")
    t = await say_(girl.id_number)
    details(t, requested_slot="face_verification")
    t = await say_("我的身份证号输错了")  # at the face question: the parent's own
    details(
        t,
        guardian_id_number=None,
        guardian_name=mum.name,
        person_name=girl.name,
        id_number=girl.id_number,
        requested_slot="guardian_id_number",
    )
    t = await say_(mum.id_number)
    details(t, guardian_id_number=mum.id_number, requested_slot="face_verification")
    t = await say_("开通")
    details(t, face_verification=True, requested_slot="details_confirmed")
    for value in (mum.name, mum.id_number, girl.name, girl.id_number):
        assert value in t.text, (value, t.text)
    t = await say_("孩子名字错了，是李晓雨")  # at the confirmation
    details(
        t,
        person_name="李晓雨",
        id_number=girl.id_number,
        guardian_name=mum.name,
        guardian_id_number=mum.id_number,
        face_verification=True,
        requested_slot="details_confirmed",
    )
    assert "孩子姓名：李晓雨" in t.text, t.text
    t = await say_("需要修改")
    assert "哪一项" in t.text and "修改孩子姓名" in t.buttons, t.text
    t = await say_("孩子的名字")
    details(t, person_name=None, requested_slot="person_name")
    t = await say_(girl.name)
    details(t, person_name=girl.name, requested_slot="details_confirmed")
    t = await say_("身份证号输错了")  # at the confirmation, whose not said
    assert t["requested_slot"] in ("guardian_id_number", "id_number") or "哪" in t.text, t.text
    details(t, guardian_name=mum.name, person_name=girl.name, face_verification=True)


# -- several details in one message ---------------------------------------------------------------


async def test_several_details_in_one_message_fill_everything(stack: Stack, test_name: str) -> None:
    mum, girl, say_ = TYPED_MOTHER_LI, TYPED_DAUGHTER_LI, chat(stack, "typed-all-at-once", test_name)
    t = await say_(f"我是{mum.name}，身份证{mum.id_number}，给女儿{girl.name}领卡，她的身份证号是{girl.id_number}")
    details(
        t,
        role="parent",
        guardian_name=mum.name,
        guardian_id_number=mum.id_number,
        person_name=girl.name,
        id_number=girl.id_number,
        requested_slot="face_verification",
    )
    assert ASK_FACE in t.text and "姓名" not in t.text.split("\n")[-1], t.text
    t = await say_("暂不开通")
    details(t, face_verification=False, requested_slot="details_confirmed")
    for value in (mum.name, mum.id_number, girl.name, girl.id_number):
        assert value in t.text, (value, t.text)
    t = await say_("确认无误，领卡")
    assert "领卡成功" in t.text or "已经领取" in t.text, t.text
    assert t["card_number"] and t["failure_reason"] is None


async def test_some_details_in_one_message_and_only_the_missing_ones_asked(stack: Stack, test_name: str) -> None:
    dad, son, say_ = TYPED_FATHER_WANG, TYPED_SON_WANG, chat(stack, "typed-some-at-once", test_name)
    t = await say_(f"我是{dad.name}，想给儿子{son.name}领卡")
    details(t, role="parent", guardian_name=dad.name, person_name=son.name, requested_slot="guardian_id_number")
    assert ASK_GUARDIAN_ID in t.text
    t = await say_(f"我的身份证{dad.id_number}，儿子的{son.id_number}")
    details(t, guardian_id_number=dad.id_number, id_number=son.id_number, requested_slot="face_verification")


# -- several children ----------------------------------------------------------------------------


async def claim_child(say_: Chat, child_name: str, child_id: str) -> Turn:
    t = await say_(child_name)
    assert t["person_name"] == child_name and t["requested_slot"] == "id_number", t.text
    t = await say_(child_id)
    assert t["requested_slot"] == "face_verification", t.text
    t = await say_("不开")
    assert t["requested_slot"] == "details_confirmed", t.text
    return await say_("确认")


async def test_several_children_keep_the_parent_and_the_fourth_hears_the_limit_first(
    stack: Stack, test_name: str
) -> None:
    dad, kids, say_ = TYPED_FATHER_HUANG, TYPED_HUANG_CHILDREN, chat(stack, "typed-children", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    await say_(dad.name)
    t = await say_(dad.id_number)
    assert t["requested_slot"] == "person_name"
    cards = []
    for i, kid in enumerate(kids[:3]):
        if i:
            t = await say_("还有一个孩子")
            details(
                t,
                role="parent",
                guardian_name=dad.name,
                guardian_id_number=dad.id_number,
                person_name=None,
                id_number=None,
                card_number=None,
                requested_slot="person_name",
            )
            assert "家长信息沿用" in t.text and ASK_CHILD_NAME in t.text, t.text
        t = await claim_child(say_, kid.name, kid.id_number)
        assert "领卡成功" in t.text or "已经领取" in t.text, t.text
        assert t["card_number"] and t["card_number"] not in cards
        cards.append(t["card_number"])
    t = await say_("还有一个孩子")
    assert "三" in t.text and "第四张" in t.text, t.text
    assert {"让孩子本人领取", "转人工"} <= set(t.buttons), t.buttons
    assert t.active_loop is None and ASK_CHILD_NAME not in t.text
    # The way out offered: the fourth child claims as a student.
    t = await say_("让孩子本人领取")
    details(t, role="k12_student", k12_claimant="self", requested_slot="person_name")
    t = await claim_child(say_, kids[3].name, kids[3].id_number)
    assert "领卡成功" in t.text, t.text
    details(t, role="k12_student", person_name=kids[3].name, failure_reason=None)


# -- no dead ends ----------------------------------------------------------------------------------


async def test_a_failure_offers_next_steps_understood_typed(stack: Stack, test_name: str) -> None:
    mum, boy, say_ = TYPED_MOTHER_ZHAO, TYPED_SON_SUN, chat(stack, "typed-guardian-mismatch", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    await say_(mum.name)
    await say_(mum.id_number)
    await say_(boy.name)
    await say_(boy.id_number)
    await say_("不开通")
    t = await say_("确认无误，领卡")
    details(t, failure_reason="guardian_mismatch", card_number=None)
    assert {"修改家长姓名", "修改家长身份证号", "让孩子本人领取", "需要学校改什么", "转人工"} <= set(t.buttons), (
        t.buttons
    )
    t = await say_("为什么")
    assert "监护人" in t.text and "学籍" in t.text and "那怎么办" in t.buttons, t.text
    t = await say_("那怎么办")
    assert "让孩子本人领取" in t.text and "学校" in t.text and "让孩子本人领取" in t.buttons, t.text
    t = await say_("需要学校改什么")
    assert "请学校在学籍系统中核对孩子的监护人信息" in t.text, t.text
    t = await say_("客服电话")
    assert HOTLINE in t.text, t.text
    t = await say_("转人工")
    assert "工单号" in t.text, t.text
    t = await say_("让孩子本人领取")
    # The child's details are kept: the child claims as a student.
    details(
        t,
        role="k12_student",
        k12_claimant="self",
        person_name=boy.name,
        id_number=boy.id_number,
        requested_slot="details_confirmed",
    )
    assert boy.name in t.text and boy.id_number in t.text, t.text
    t = await say_("确认")
    assert "领卡成功" in t.text, t.text
    details(t, failure_reason=None, role="k12_student")
    assert t["card_number"]


async def test_not_enrolled_failure_then_why_and_what_now_answer_from_that_failure(
    stack: Stack, test_name: str
) -> None:
    """ "为什么"/"那怎么办" answer from the failure of this chat (a student
    on the wrong path: the university student claims as a K-12 student).
    Her mini-program sends her verified real name, which the university
    path needs."""
    me = TYPED_UNIVERSITY_SONG
    say_ = chat(
        stack, "typed-not-enrolled", test_name, metadata=realname(me.name, me.id_number, sender="typed-not-enrolled")
    )
    await say_("我要领卡")
    await say_("中小学生")
    await say_("本人领取")
    await say_(me.name)
    await say_(me.id_number)
    await say_("不开通")
    t = await say_("确认无误，领卡")
    details(t, failure_reason="not_enrolled", card_number=None)
    assert {"需要学校改什么", "换一个领卡身份", "转人工", "客服电话"} <= set(t.buttons), t.buttons
    t = await say_("为什么呢")
    assert "学籍状态" in t.text and "在读" in t.text, t.text
    t = await say_("那我该怎么办")
    assert "换成对应的身份" in t.text, t.text
    t = await say_("换一个领卡身份")
    assert t.active_loop == "claim_form" and t["requested_slot"] == "role", t.text
    t = await say_("我在读大学")
    details(
        t, role="university_student", person_name=me.name, id_number=me.id_number, requested_slot="details_confirmed"
    )


async def test_a_grandparent_hears_their_real_options(stack: Stack, test_name: str) -> None:
    say_ = chat(stack, "typed-grandma", test_name)
    t = await say_("我是孩子奶奶，孩子爸妈不在家")
    assert "登记的监护人" in t.text and "本人领取" in t.text and "学校" in t.text, t.text
    assert {"我就是登记的监护人", "让孩子本人领取", "转人工"} <= set(t.buttons), t.buttons
    assert t["guardian_name"] is None and t["person_name"] is None
    t = await say_("那让孩子本人领取")
    details(t, role="k12_student", k12_claimant="self", requested_slot="person_name")


# -- grounded answers ----------------------------------------------------------------------------


async def test_grounded_answers_for_schools_officials_and_face_verification(stack: Stack, test_name: str) -> None:
    say_ = chat(stack, "typed-grounded", test_name)
    t = await say_("我们是学校，学生领卡遇到的问题要向谁反馈")
    assert "倪聪林" in t.text and "0791-86756182" in t.text, t.text
    t = await say_("我是县教育局的，发放过程中有问题找哪个部门")
    assert "省教育厅教育管理信息中心" in t.text and "0791-86756182" in t.text, t.text
    t = await say_("这是官方的吗")
    assert "赣教规划字〔2019〕20号" in t.text and "江西省教育厅" in t.text, t.text
    t = await say_("教育厅什么时候通报领取情况")
    assert "9月初" in t.text and "通报" in t.text, t.text
    t = await say_("人脸识别必须开通吗")
    assert "自行选择" in t.text and "必须" not in t.text, t.text
    # Mid-claim: answered, and the question asked again.
    await say_("我要领卡")
    t = await say_("学习号是不是骗人的，是政府发的吗")
    assert "赣教规划字〔2019〕20号" in t.text and "领卡身份" in t.text, t.text
    assert t.active_loop == "claim_form" and t["requested_slot"] == "role"


# -- greeting, goodbye and hand-over mid-claim --------------------------------------------------


async def test_goodbye_and_handoff_mid_claim_end_the_turn_and_the_claim_goes_on_later(
    stack: Stack, test_name: str
) -> None:
    me, say_ = TYPED_STUDENT_XU, chat(stack, "typed-goodbye", test_name)
    t = await say_("您好")
    assert "我要领卡" in t.buttons and "联系人工客服" in t.buttons, t.buttons
    t = await say_("我要领卡")
    t = await say_("我是学生本人")
    details(t, role="k12_student", k12_claimant="self", requested_slot="person_name")
    t = await say_(me.name)
    details(t, person_name=me.name, requested_slot="id_number")
    t = await say_("再见")
    assert "继续领卡" in t.text and ASK_ID not in t.text and "姓名" not in t.text, t.text
    assert t.active_loop is None and t["person_name"] == me.name
    t = await say_("继续领卡")
    assert t.active_loop == "claim_form" and t["requested_slot"] == "id_number", t.text
    assert ASK_OWN_ID in t.text and t.count(ASK_OWN_ID) == 1 and t["person_name"] == me.name, t.text
    t = await say_("转人工")
    assert "工单号" in t.text and ASK_ID not in t.text, t.text
    assert t.active_loop is None and t["person_name"] == me.name
    t = await say_("我要领卡")
    assert "接着" in t.text and ASK_OWN_ID in t.text and t.count(ASK_OWN_ID) == 1, t.text
    details(t, person_name=me.name, k12_claimant="self", requested_slot="id_number")
    t = await say_(me.id_number)
    t = await say_("不开通")
    t = await say_("确认无误，领卡")
    assert "领卡成功" in t.text, t.text
    t = await say_("谢谢，再见")
    assert "再见" in t.text or "不客气" in t.text, t.text


# -- repeat, don't know, cancel, unclear ---------------------------------------------------------


async def test_repeat_dont_know_and_cancel(stack: Stack, test_name: str) -> None:
    dad, say_ = TYPED_FATHER_SUN, chat(stack, "typed-repeat", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    await say_(dad.name)
    await say_(dad.id_number)
    t = await say_(TYPED_STUDENT_XU.name)
    details(t, person_name=TYPED_STUDENT_XU.name, requested_slot="id_number")
    t = await say_("再说一遍")
    assert t.count(ASK_CHILD_ID) == 1, t.text
    details(t, requested_slot="id_number", person_name=TYPED_STUDENT_XU.name)
    t = await say_("刚才说什么")
    assert t.count(ASK_CHILD_ID) == 1, t.text
    t = await say_("不知道孩子身份证号")
    assert "户口本" in t.text and "学校" in t.text, t.text
    details(t, requested_slot="id_number", person_name=TYPED_STUDENT_XU.name, guardian_name=dad.name)
    assert t.active_loop == "claim_form"
    t = await say_("算了不领了")
    assert "确定不领" in t.text and t["pending_cancel"] is True, t.text
    assert {"确定，不领了", "不取消"} <= set(t.buttons), t.buttons
    t = await say_("确定")
    assert "已取消" in t.text, t.text
    details(t, role=None, person_name=None, guardian_name=None, requested_slot=None, pending_cancel=False)
    assert t.active_loop is None


async def test_nothing_to_repeat_before_anything_was_said(stack: Stack, test_name: str) -> None:
    say_ = chat(stack, "typed-repeat-first", test_name)
    t = await say_("再说一遍")
    assert "我要领卡" in t.text, t.text


async def test_an_unclear_message_gets_did_you_mean_buttons_understood_typed(stack: Stack, test_name: str) -> None:
    # Sent as the fallback intent itself: which texts the model is unsure of
    # moves with every retraining ("卡的事情" was one, then became sure).
    message = "/nlu_fallback"
    say_ = chat(stack, ascii_sender("typed-unclear", message), test_name)
    t = await say_(message)
    assert "您是想问" in t.text, t.text
    assert len(t.buttons) >= 2 and "转人工" in t.buttons, t.buttons
    choice = next(b for b in t.buttons if b != "转人工")
    t = await say_(choice)  # a button's title, typed
    assert "您是想问" not in t.text and "没太明白" not in t.text, t.text


# -- personal information (issue 13): the notice, refusing it, children under 14 -------------------


async def test_the_privacy_notice_comes_once_before_the_first_name_and_a_refusal_can_end_the_claim(
    stack: Stack, test_name: str
) -> None:
    say_ = chat(stack, "typed-privacy-refused", test_name)
    t = await say_("我要领卡")
    assert "个人信息" not in t.text
    t = await say_("我是家长")
    details(t, role="parent", requested_slot="guardian_name", privacy_notice_shown=True)
    assert t.text.index("个人信息处理说明") < t.text.index("姓名：")
    link = re.search(r"https?://\S+/privacy", t.text)
    assert link, t.text
    async with aiohttp.ClientSession() as http:
        async with http.get(link.group(0)) as resp:
            assert resp.status == 200 and "个人信息" in await resp.text()
    t = await say_(TYPED_MOTHER_ZHAO.name)
    assert "个人信息处理说明" not in t.text  # once
    t = await say_("我不同意")
    assert "确定不领了吗" in t.text and {"确定，不领了", "不取消"} <= set(t.buttons), t.text
    details(t, guardian_name=TYPED_MOTHER_ZHAO.name, pending_cancel=True)
    t = await say_("确定，不领了")
    details(t, role=None, guardian_name=None, requested_slot=None)
    assert t.active_loop is None, t.text


async def test_a_child_under_14_claims_alone_only_with_a_parents_consent_typed(stack: Stack, test_name: str) -> None:
    me, say_ = TYPED_YOUNG_ZHOU, chat(stack, "typed-under-14-consent", test_name)
    await say_("我要领卡")
    await say_("我是小学生")
    t = await say_("我自己领")
    details(t, k12_claimant="self", requested_slot="person_name")
    await say_(me.name)
    await say_(me.id_number)
    t = await say_("不开")
    details(t, requested_slot="details_confirmed", face_verification=False)
    assert "不满14周岁" in t.text and me.id_number in t.text, t.text
    assert {"家长已同意，确认领卡", "家长代领", "需要修改"} <= set(t.buttons), t.buttons
    t = await say_("我妈妈同意了")
    assert t["card_number"] and "领卡成功" in t.text, t.text
    details(t, role="k12_student", person_name=me.name)


async def test_a_child_under_14_can_hand_the_claim_to_the_parent_keeping_her_details(
    stack: Stack, test_name: str
) -> None:
    me, mother, say_ = TYPED_YOUNGER_ZHOU, TYPED_MOTHER_ZHOU, chat(stack, "typed-under-14-parent", test_name)
    await say_("我要领卡")
    await say_("中小学生")
    await say_("本人")
    await say_(me.name)
    await say_(me.id_number)
    t = await say_("开通")
    assert "家长代领" in t.buttons, t.text
    t = await say_("让家长代领吧")
    details(t, role="parent", person_name=me.name, id_number=me.id_number, requested_slot="guardian_name")
    await say_(mother.name)
    t = await say_(mother.id_number)
    details(t, requested_slot="details_confirmed")
    assert "不满14周岁" not in t.text and mother.id_number in t.text and me.id_number in t.text, t.text
    t = await say_("确认无误")
    assert t["card_number"] and "领卡成功" in t.text, t.text


async def test_a_parent_whose_record_the_school_corrected_hears_it_and_claims(
    stack: Stack, test_name: str, tmp_path: Any
) -> None:
    """Records to fix (issue 15): the claim fails (the school records no
    guardian); the school corrects the record and the registry is imported
    again; the parent's next 我要领卡 hears that the record was corrected and
    goes on with the details kept, to a card."""
    dad, girl, say_ = TYPED_FATHER_DENG, TYPED_DAUGHTER_DENG, chat(stack, "typed-record-corrected", test_name)
    await say_("我要领卡")
    await say_("我是家长")
    await say_(dad.name)
    await say_(dad.id_number)
    await say_(girl.name)
    await say_(girl.id_number)
    await say_("不开通")
    t = await say_("确认无误，领卡")
    details(t, failure_reason="guardian_mismatch", card_number=None)
    assert "更正" not in t.text, t.text

    corrected = [
        _student(girl, "primary", g1=dad) if row["id_number"] == girl.id_number else row for row in student_rows()
    ]
    students = write_csv(tmp_path / "students-corrected.csv", STUDENT_COLUMNS, corrected)
    done = subprocess.run(
        [sys.executable, "-m", "backend", "import-registry", "--students", str(students), "--no-progress"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    t = await say_("我要领卡")
    assert "学校已经在学籍系统中更正" in t.text and "邓*怡" in t.text, t.text
    news = t.messages[0]["text"]  # names the child masked; the confirmation after it shows what was typed
    assert "邓*怡" in news and girl.name not in news, news
    assert "确认无误，领卡" in t.buttons, t.buttons
    t = await say_("确认无误，领卡")
    assert t["card_number"] and t["failure_reason"] is None, t.text
