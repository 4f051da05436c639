"""Buttons (issue 12, item 1): typing a button's title, and the usual ways of
saying the same thing, does exactly what tapping the button does.

The set of every button the bot can show, and its fast checks, are in
tests/contract/test_buttons.py.

The end-to-end tests talk to the real stack (tests/stack.py, default
profile):
- an explorer starts from typed seed conversations, collects every button
  each reply shows, and for every distinct button replays the conversation
  up to where it was first shown in two fresh chats, taps it in one and
  types its title in the other: the replies (card and ticket numbers
  aside) and the slots must be the same. The buttons the tap's reply shows
  are explored in turn. Then the buttons it saw must be every button of the
  fast tests' set, but for EXCLUDED (explained there);
- a table of the usual ways of answering each question with buttons.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from contract.buttons import ASK_BUTTONS, RETRY
from tests import people
from tests.contract.test_buttons import ButtonKey, button_set
from tests.people import Person, make_id
from tests.stack import NEEDS_STACK, Stack, assert_only_own_ids, realname, slots


def needs_stack(test: Callable[..., Any]) -> Callable[..., Any]:
    for mark in NEEDS_STACK:
        test = mark(test)
    return test


# -- end to end: the explorer -------------------------------------------------------------

# Buttons the explorer cannot reach with the services up, and why. Keep this
# minimal: every other button must be reached by a seed.
EXCLUDED: dict[ButtonKey, str] = {
    (RETRY.title, RETRY.payload): "shown only after backend_unavailable (the backend down: "
    "tests/e2e/test_e2e.py test_backend_down_keeps_details_and_retry_issues_the_card)",
}

CARD_NUMBER = re.compile(r"(?<!\d)36\d{10}(?!\d)")
TICKET_NUMBER = re.compile(r"T\d{13}")
CARD_STATUS = re.compile("领卡成功！|您已经领取过电子卡，无需重复领取。")
# The card a chat did not claim is not shown to it (issue 13): two chats
# claiming the same card differ in that alone.
HELD_BY_ANOTHER = "这个身份已经领取过学习号电子卡"
SENDER = itertools.count(1)
RUN_TAG = f"{time.time_ns() % 10**8:08d}"


def sender_id() -> str:
    return f"btn-{RUN_TAG}-{next(SENDER)}"


_FRESH = itertools.count(random.randrange(15000))


def nobody() -> Person:
    """A valid ID number in no registry, new each time: the failures of one
    ID number count towards its rate limit in every chat."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=next(_FRESH))
    return Person("钟无籍", make_id("360781", f"{born:%Y%m%d}", 5))


DRAWN: dict[str, int] = {}


def _pool(found: list[Person], what: str) -> Callable[[], Person]:
    left = iter(found)

    def draw() -> Person:
        person = next(left, None)
        if person is None:
            raise AssertionError(f"tests/people.py: no {what} left for test_buttons: append more")
        DRAWN[what] = DRAWN.get(what, 0) + 1
        return person

    return draw


class Cast(dict):  # type: ignore[type-arg]
    """The people of one replay, drawn on first use: `{graduate.name}` in a
    seed message. The two chats of a comparison share one cast; each
    comparison gets a new one, so the people who fail on purpose fail at
    most a few times each (the rate limit is five an hour)."""

    fixed = {
        "student": people.BTN_STUDENT,
        "parent": people.BTN_PARENT,
        "child": people.BTN_CHILDREN[0],
        "child2": people.BTN_CHILDREN[1],
        "four": people.BTN_FOUR_PARENT,
        **{f"four{i + 1}": c for i, c in enumerate(people.BTN_FOUR_CHILDREN)},
    }
    draws: dict[str, Callable[[], Person]] = {}

    def __missing__(self, key: str) -> Person:
        if key in self.fixed:
            person = self.fixed[key]
        elif key in ("nobody", "stranger"):
            person = nobody()
        else:
            person = self.draws[key]()
        self[key] = person
        return person


Cast.draws = {
    "graduate": _pool(people.BTN_GRADUATES, "graduates"),
    "orphan": _pool(people.BTN_NO_GUARDIAN, "children without a guardian"),
    "four4": _pool(people.BTN_FOURTH_CHILDREN, "fourth children"),
}


def literal(message: str) -> str:
    """A message as a seed template (payloads hold braces)."""
    return message.replace("{", "{{").replace("}", "}}")


def k12_to_confirmation(who: str) -> list[str]:
    return ["我要领卡", "我是中小学生", "本人领取", f"{{{who}.name}}", f"{{{who}.id_number}}", "开通"]


def parent_to_confirmation(guardian: str, child: str) -> list[str]:
    return [
        "我是家长，想帮孩子领卡",
        f"{{{guardian}.name}}",
        f"{{{guardian}.id_number}}",
        f"{{{child}.name}}",
        f"{{{child}.id_number}}",
        "开通",
    ]


# Unclear messages: the fallback offers the likeliest meanings as buttons
# ("您是想问……"), the only place most questions' buttons are shown. Keywords
# of several questions at once leave the model unsure (the likeliest below
# the fallback threshold); each question is among the top three of at least
# one message, most of two (so a retrained model keeps them reachable).
UNCLEAR = [
    "没领到卡 人脸 什么时候",  # verified_no_card, face_recognition, school_feedback
    "没领到卡 官方 收费",  # verified_no_card, fee, official
    "没领到卡什么时候",  # claim_period, verified_no_card, claim_entry
    "学习号是啥 收费 官方",  # fee, official, what_is_account
    "什么时候 收费 官方",  # fee, claim_period, school_feedback
    "收费 身份不对 入口",  # fee, identity_mismatch, claim_entry
    "人脸 入口 官方",  # claim_entry, official, face_recognition
    "什么时候 学习号是啥 身份不对",  # identity_mismatch, what_is_account, official
]

# Typed conversations the explorer starts from.
SEEDS: list[tuple[str, list[str]]] = [
    ("greeting", ["你好"]),
    ("claim", ["我要领卡"]),
    ("k12 to the confirmation", k12_to_confirmation("student")),
    ("k12 change menu", [*k12_to_confirmation("student"), "需要修改"]),
    ("parent change menu", [*parent_to_confirmation("parent", "child"), "需要修改"]),
    ("parent's card, another child", [*parent_to_confirmation("parent", "child"), "确认", "还有一个孩子"]),
    ("cancel", ["我要领卡", "我是家长", "算了，不领了"]),
    *[(f"unclear {m!r}", [m]) for m in UNCLEAR],
    ("relative", ["我是孩子的奶奶，可以帮孙子领卡吗"]),
    ("identity mismatch", ["领卡成功了但是身份和实际不符"]),
    ("verified, no card", ["验证成功了但是没有领到卡"]),
    ("claim failed", ["领取失败怎么办"]),
    ("identity_not_found", [*k12_to_confirmation("nobody"), "确认", "为什么"]),
    ("guardian_mismatch", [*parent_to_confirmation("stranger", "orphan"), "确认"]),
    ("not_enrolled", [*k12_to_confirmation("graduate"), "确认"]),
    # Each child a claim of its own: the same whether the first three cards
    # are new or were issued by an earlier replay.
    (
        "proxy_limit_reached",
        [m for child in ("four1", "four2", "four3", "four4") for m in (*parent_to_confirmation("four", child), "确认")],
    ),
]


class Chat:
    """One REST conversation with the stack's Rasa server."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack, metadata: dict[str, Any] | None = None) -> None:
        self.http, self.stack, self.sender, self.metadata = http, stack, sender_id(), metadata

    async def say(self, message: str) -> list[dict[str, Any]]:
        body = {"sender": self.sender, "message": message, **({"metadata": self.metadata} if self.metadata else {})}
        async with self.http.post(
            f"{self.stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=aiohttp.ClientTimeout(total=60)
        ) as resp:
            assert resp.status == 200, (self.sender, message, resp.status)
            messages: list[dict[str, Any]] = await resp.json()
        assert_only_own_ids(self.sender, message, messages, self.metadata)
        return messages

    async def replay(self, templates: tuple[str, ...], cast: Cast) -> list[list[dict[str, Any]]]:
        return [await self.say(t.format_map(cast)) for t in templates]

    async def slots(self) -> dict[str, Any]:
        return await slots(self.stack, self.sender)


def shown(reply: list[dict[str, Any]]) -> list[ButtonKey]:
    return [(b.get("title", ""), b.get("payload", "")) for m in reply for b in m.get("buttons") or []]


def normalised_text(text: str | None) -> str:
    """Card and ticket numbers, and whether this chat issued the card or
    found it issued, differ between two chats that claim the same card."""
    text = CARD_NUMBER.sub("<card number>", text or "")
    text = TICKET_NUMBER.sub("<ticket number>", text)
    return CARD_STATUS.sub("<card>", text)


def outcome(reply: list[dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    reply = [
        {"text": "<card>"}
        if (m.get("text") or "").startswith(HELD_BY_ANOTHER)
        else ({**m, "text": "<card>", "buttons": []} if CARD_STATUS.match(m.get("text") or "") else m)
        for m in reply
    ]
    return {
        "texts": [normalised_text(m.get("text")) for m in reply],
        "buttons": [[list(b) for b in shown([m])] for m in reply],
        "slots": {k: (v is not None if k == "card_number" else v) for k, v in sorted(state.items())},
    }


def differences(tapped: dict[str, Any], typed: dict[str, Any]) -> list[str]:
    found = []
    if tapped["texts"] != typed["texts"]:
        found.append(f"replies: tapped {tapped['texts']} / typed {typed['texts']}")
    if tapped["buttons"] != typed["buttons"]:
        found.append(f"buttons: tapped {tapped['buttons']} / typed {typed['buttons']}")
    slot_diff = {
        k: (tapped["slots"].get(k), typed["slots"].get(k))
        for k in tapped["slots"].keys() | typed["slots"].keys()
        if tapped["slots"].get(k) != typed["slots"].get(k)
    }
    if slot_diff:
        found.append(f"slots (tapped, typed): {slot_diff}")
    return found


@dataclass(frozen=True)
class Point:
    """Where a button was first shown: the seed and the messages sent up to
    that reply (seed templates; taps for buttons found by tapping)."""

    seed: str
    prefix: tuple[str, ...]

    def describe(self, cast: Cast | None = None) -> str:
        messages = [
            t.format_map(cast) if cast is not None else t.replace("{{", "{").replace("}}", "}") for t in self.prefix
        ]
        return f"seed {self.seed!r}: {messages}"


@dataclass
class Exploration:
    seen: dict[ButtonKey, Point]
    problems: list[str]
    compared: int
    messages: int


def offers(reply: list[dict[str, Any]]) -> list[tuple[ButtonKey, str]]:
    """Each button of a reply, with the question it answers: the text of the
    message it came with (digits aside, so the same question about another
    ID number is the same question)."""
    return [
        ((b.get("title", ""), b.get("payload", "")), re.sub(r"\d", "#", m.get("text") or ""))
        for m in reply
        for b in m.get("buttons") or []
    ]


async def explore(stack: Stack, concurrency: int = 4, depth: int = 5) -> Exploration:
    """Run the seeds; compare tapping with typing each button at every
    question it was shown with, then at the questions those taps lead to."""
    gate = asyncio.Semaphore(concurrency)
    seen: dict[ButtonKey, Point] = {}
    asked: set[tuple[ButtonKey, str]] = set()
    problems: list[str] = []
    sent = compared = 0

    def found(reply: list[dict[str, Any]], point: Point) -> list[tuple[ButtonKey, Point]]:
        new = []
        for button, question in offers(reply):
            seen.setdefault(button, point)
            if (button, question) not in asked and button not in EXCLUDED:
                asked.add((button, question))
                new.append((button, point))
        return new

    async with aiohttp.ClientSession() as http:

        async def run_seed(templates: list[str]) -> list[list[dict[str, Any]]]:
            nonlocal sent
            async with gate:
                sent += len(templates)
                return await Chat(http, stack).replay(tuple(templates), Cast())

        async def compare(button: ButtonKey, point: Point) -> list[dict[str, Any]]:
            """Tap in one chat, type in the other; the tap's reply."""
            nonlocal sent, compared
            title, payload = button
            async with gate:
                cast = Cast()
                tap, typing = Chat(http, stack), Chat(http, stack)
                await asyncio.gather(tap.replay(point.prefix, cast), typing.replay(point.prefix, cast))
                tapped, typed = await asyncio.gather(tap.say(payload), typing.say(title))
                tap_state, typed_state = await asyncio.gather(tap.slots(), typing.slots())
                sent += 2 * len(point.prefix) + 2
                compared += 1
            diff = differences(outcome(tapped, tap_state), outcome(typed, typed_state))
            if diff:
                problems.append(f"button {title!r} {payload} after {point.describe(cast)}:\n    " + "\n    ".join(diff))
            return tapped

        replies = await asyncio.gather(*(run_seed(messages) for _, messages in SEEDS))
        frontier: list[tuple[ButtonKey, Point]] = []
        for (name, messages), seed_replies in zip(SEEDS, replies, strict=True):
            for i, reply in enumerate(seed_replies):
                frontier += found(reply, Point(name, tuple(messages[: i + 1])))
        for _ in range(depth):
            if not frontier:
                break
            tapped_replies = await asyncio.gather(*(compare(b, p) for b, p in frontier))
            following: list[tuple[ButtonKey, Point]] = []
            for (button, point), reply in zip(frontier, tapped_replies, strict=True):
                following += found(reply, Point(point.seed, (*point.prefix, literal(button[1]))))
            frontier = following
        assert not frontier, f"still new questions after {depth} taps: {frontier[:5]}"
    return Exploration(seen, problems, compared, sent)


@needs_stack
async def test_typing_a_button_title_does_what_tapping_does(stack: Stack) -> None:
    started = time.monotonic()
    result = await explore(stack)
    elapsed = time.monotonic() - started
    print(
        f"\nexplorer: {len(result.seen)} buttons seen, {result.compared} comparisons, "
        f"{result.messages} messages, {elapsed:.0f} s; people drawn: {DRAWN}"
    )
    expected = button_set()
    # The "您是想问" buttons (contract.buttons.ASK_BUTTONS) are chosen by the
    # model's ranking of an unclear message, so which ones an unclear seed
    # reaches moves with every retraining. They carry a bare intent (no
    # entities, no state): typed, their titles are checked by
    # test_typed_titles_and_their_variants_are_the_buttons.
    stateless = {(b.title, b.payload) for b in ASK_BUTTONS.values() if not b.entities}
    unseen = sorted(expected - result.seen.keys() - EXCLUDED.keys() - stateless)
    unknown = sorted(result.seen.keys() - expected)
    report = []
    if result.problems:
        report.append("typed differs from tapped:\n  " + "\n  ".join(result.problems))
    if unseen:
        report.append(
            "buttons no seed reaches (add a seed, or remove the button):\n  "
            + "\n  ".join(f"{t!r} {p}" for t, p in unseen)
        )
    if unknown:
        report.append(
            "buttons shown that are in neither contract/buttons.py nor domain.yml:\n  "
            + "\n  ".join(f"{t!r} {p} after {result.seen[(t, p)].describe()}" for t, p in unknown)
        )
    stale = sorted(k for k in EXCLUDED if k in result.seen)
    if stale:
        report.append(f"EXCLUDED buttons the explorer reached (drop them from EXCLUDED): {stale}")
    assert not report, "\n".join(report)


# -- end to end: the usual ways of answering ----------------------------------------------

TO_K12_CLAIMANT = ("我要领卡", '/choose_role{"role": "k12_student"}')
TO_FACE = (*TO_K12_CLAIMANT, '/inform{"k12_claimant": "self"}', people.BTN_STUDENT.name, people.BTN_STUDENT.id_number)
TO_CONFIRMATION = (*TO_FACE, "/affirm")
TO_CHANGE_MENU = (*TO_CONFIRMATION, "/deny")
TO_CANCEL = ("我要领卡", '/choose_role{"role": "parent"}', "算了，不领了")

# (question, messages to reach it, what is typed (and then), the slots expected after it)
VARIANTS: list[tuple[str, tuple[str, ...], Any, dict[str, Any]]] = [
    *[
        (
            "k12_claimant",
            TO_K12_CLAIMANT,
            m,
            {"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"},
        )
        for m in ("我是学生本人", "学生本人", "本人", "我自己领", "我是学生", "本人领取")
    ],
    *[
        (
            "k12_claimant",
            TO_K12_CLAIMANT,
            m,
            {"role": "parent", "k12_claimant": None, "requested_slot": "guardian_name"},
        )
        for m in ("家长代领", "我是家长", "我是他妈妈")
    ],
    *[
        ("role", ("我要领卡",), m, {"role": role})
        for m, role in (
            ("我是家长", "parent"),
            ("孩子他爸", "parent"),
            ("帮孩子领", "parent"),
            ("我是老师", "teacher"),
            ("我是教师", "teacher"),
            ("我在读大学", "university_student"),
            ("大学生", "university_student"),
            ("我是初中生", "k12_student"),
            ("上班族", "public"),
            ("都不是", "public"),
        )
    ],
    *[
        ("face_verification", TO_FACE, m, {"face_verification": True, "requested_slot": "details_confirmed"})
        for m in ("开通", "要开", "开通吧")
    ],
    *[
        ("face_verification", TO_FACE, m, {"face_verification": False, "requested_slot": "details_confirmed"})
        for m in ("暂不开通", "不用了", "不开")
    ],
    *[
        (
            "details_confirmed",
            TO_CONFIRMATION,
            m,
            {"details_confirmed": True, "card_number": True, "failure_reason": None},
        )
        for m in ("确认无误，领卡", "确认", "没问题")
    ],
    *[
        (
            "details_confirmed",
            TO_CONFIRMATION,
            m,
            {
                "change_menu": True,
                "details_confirmed": None,
                "requested_slot": "details_confirmed",
                "card_number": False,
            },
        )
        for m in ("需要修改", "有错")
    ],
    # Typed the way phones type them: Traditional, full-width, punctuated.
    ("k12_claimant", TO_K12_CLAIMANT, "本人領取。", {"role": "k12_student", "k12_claimant": "self"}),
    ("face_verification", TO_FACE, "暫不開通", {"face_verification": False}),
    ("details_confirmed", TO_CONFIRMATION, "確認無誤 領卡", {"details_confirmed": True, "card_number": True}),
    # "要修改哪一项？" (修改姓名, 修改身份证号, 修改人脸识别选项, 换一个领卡身份).
    *[
        ("change menu", TO_CHANGE_MENU, m, {"change_menu": False, "requested_slot": slot})
        for m, slot in (
            ("姓名", "person_name"),
            ("名字错了", "person_name"),
            ("改一下名字", "person_name"),
            ("身份证号", "id_number"),
            ("改身份证号", "id_number"),
            ("人脸识别", "face_verification"),
            ("人脸识别选错了", "face_verification"),
            ("改人脸识别", "face_verification"),
            ("换个身份", "role"),
            ("领卡身份选错了", "role"),
        )
    ],
    # "确定不领了吗？" (确定，不领了 / 不取消).
    *[
        ("cancel", TO_CANCEL, m, {"pending_cancel": False, "role": None, "requested_slot": None})
        for m in ("确定，不领了", "确定", "对，不领了", "是的")
    ],
    *[
        ("cancel", TO_CANCEL, m, {"pending_cancel": False, "role": "parent", "requested_slot": "guardian_name"})
        for m in ("不取消", "继续领卡", "继续", "不是，继续领")
    ],
    # ... and the claim goes on: the next answer is read.
    *[
        (
            "cancel",
            TO_CANCEL,
            (m, people.BTN_PARENT.name),
            {"guardian_name": people.BTN_PARENT.name, "requested_slot": "guardian_id_number"},
        )
        for m in ("不取消", "继续领卡")
    ],
]


@needs_stack
async def test_the_usual_ways_of_answering_each_question(stack: Stack) -> None:
    gate = asyncio.Semaphore(4)

    async with aiohttp.ClientSession() as http:

        async def case(prefix: tuple[str, ...], typed: Any, expected: dict[str, Any]) -> str | None:
            message = typed if isinstance(typed, str) else " / ".join(typed)
            async with gate:
                # As the mini-program sends it: the user's verified real
                # name (the university, teacher and public paths need it).
                chat = Chat(http, stack, realname(people.BTN_VERIFIED.name, people.BTN_VERIFIED.id_number))
                for m in prefix:
                    await chat.say(m)
                for m in (typed,) if isinstance(typed, str) else typed:
                    reply = await chat.say(m)
                state = await chat.slots()
            got = {k: (state.get(k) is not None if k == "card_number" else state.get(k)) for k in expected}
            if got == expected:
                return None
            return f"{prefix} then {message!r}: expected {expected}, got {got}; reply {[m.get('text') for m in reply]}"

        results = await asyncio.gather(*(case(prefix, message, expected) for _, prefix, message, expected in VARIANTS))
    wrong = [f"[{question}] {r}" for (question, *_), r in zip(VARIANTS, results, strict=True) if r]
    assert not wrong, f"{len(wrong)} of {len(VARIANTS)} not understood:\n" + "\n".join(wrong)
