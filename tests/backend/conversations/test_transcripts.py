"""Reading Rasa's tracker store (backend/conversations/): the summary index,
masked transcripts and the export as a test story, on conversations held
with the real Rasa server, action server and backend (the `stack`).

The pure helpers (masking, payloads, fictional ID numbers) are tested
without the stack; everything else reads the tracker database the running
Rasa server wrote.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from actions.privacy import under_consent_age
from backend.config import async_database_url
from backend.conversations.events import parse_payload
from backend.conversations.index import refresh_index, summarise
from backend.conversations.masking import Masker
from backend.conversations.story import Pseudonymiser, export_story, fictional_id
from backend.conversations.tracker import EVENTS, TrackerEvent, TrackerStore, TrackerUnavailable
from backend.conversations.transcript import build_transcript
from backend.db import Database
from backend.models import ConversationSummary
from backend.web.console.search import outcome_of
from contract.buttons import CLAIM_SELF, CONFIRM, CONFIRM_WITH_CONSENT
from identity import mask_id, mask_name, validate_id
from identity.freetext import mask_for_staff as mask_numbers
from tests.conftest import PG_HOST, PG_PORT, pg_admin, postgres_reachable, reset_schema
from tests.people import NO_GUARDIAN, PUBLIC, TEACHER, TEACHER_AND_UNIVERSITY, XIAOMING
from tests.rasa_cli import MODEL, RASA, run_rasa
from tests.stack import FULL_ID, NEEDS_STACK, Stack, realname, say, slots, text

MOBILE = "13812345678"


def needs_stack(test: Callable[..., Any]) -> Callable[..., Any]:
    return functools.reduce(lambda t, mark: mark(t), NEEDS_STACK, test)


# -- pure helpers ------------------------------------------------------------------------


def test_numbers_are_masked_in_free_text() -> None:
    masked = mask_numbers(
        f"证件 {XIAOMING.id_number}，带空格 3601 0220 1509 1001 37，全角３６０１０２２０１５０９１００１３７，"
        f"老证 360102150910013，手机 {MOBILE}、+86 138-1234-5678，座机 0791-12345678，"
        "热线 0791-88185066，学习号 360100000017，工单 T2026010100001"
    )
    assert not re.search(r"\d{15}", masked), masked
    assert masked.count("3601**********0137") == 3
    assert "36***********13" in masked
    assert masked.count("138****5678") == 2 and MOBILE not in masked
    assert "0791-****5678" in masked
    # Public numbers and numbers that identify no one stay readable.
    assert "0791-88185066" in masked and "360100000017" in masked and "T2026010100001" in masked


def test_known_names_are_masked_wherever_they_appear() -> None:
    masker = Masker({"李小明", "阿依古丽·买买提"})
    assert masker.text("我叫李小明，孩子叫阿依古丽·买买提") == "我叫李*明，孩子叫阿***·**提"
    assert masker.text("我叫李小明") == "我叫李*明"
    assert Masker({"张伟"}).text("我是張偉") == "我是张*"  # typed in Traditional characters
    assert masker.value("person_name", "王芳") == "王*"
    assert masker.value("id_number", XIAOMING.id_number) == "3601**********0137"
    assert masker.value(None, {"realname": {"name": "郑老师", "id_number": TEACHER.id_number}}) == {
        "realname": {"name": "郑*师", "id_number": "3601**********0178"}
    }


def test_button_payloads_are_parsed() -> None:
    assert parse_payload('/choose_role{"role": "parent"}') == ("choose_role", {"role": "parent"})
    assert parse_payload("/affirm") == ("affirm", {})
    assert parse_payload('/inform@0.9{"k12_claimant":"self"}') == ("inform", {"k12_claimant": "self"})
    assert parse_payload("我要领卡") is None
    assert parse_payload("/choose_role{not json}") is None


def test_fictional_ids_keep_the_kind_of_the_real_one() -> None:
    real = XIAOMING.id_number
    fake = fictional_id(real, 0)
    check = validate_id(fake)
    assert fake != real and check.ok and fake[:2] == real[:2] and fake[6:10] == real[6:10]
    assert check.gender == validate_id(real).gender
    assert fictional_id(real, 1) != fake
    wrong = real[:-1] + ("0" if real[-1] != "0" else "1")
    assert validate_id(fictional_id(wrong, 0)).problem == "checksum"
    assert len(fictional_id("36010220150910013", 0)) == 17
    pseudo = Pseudonymiser({"李小明"})
    assert pseudo.text(f"{real} 和 {real}") == f"{pseudo.id_number(real)} 和 {pseudo.id_number(real)}"
    assert pseudo.text("我叫李小明") == "我叫张小三"


def test_reverted_turns_are_left_out_of_the_story_but_shown() -> None:
    """Rasa's rewind (UserUtteranceReverted, e.g. from action_core_fallback)
    takes back the user's message and what followed it, as in the tracker's
    applied events: the story keeps it as a comment, the transcript shows it."""

    def e(n: int, kind: str, **data: Any) -> TrackerEvent:
        return TrackerEvent(n, "s", kind, 1_700_000_000.0 + n, {"event": kind, **data})

    def said(n: int, words: str, intent: str) -> TrackerEvent:
        return e(n, "user", text=words, parse_data={"intent": {"name": intent, "confidence": 0.9}, "entities": []})

    events = [
        e(1, "action", name="action_session_start"),
        e(2, "session_started"),
        e(3, "action", name="action_listen"),
        said(4, "你好", "greet"),
        e(5, "action", name="utter_greet"),
        e(6, "bot", text="您好！"),
        e(7, "action", name="action_listen"),
        said(8, "嗯嗯啊啊", "out_of_scope"),
        e(9, "action", name="action_core_fallback"),
        e(10, "bot", text="抱歉，我没有理解您的意思。"),
        e(11, "rewind"),
        e(12, "action", name="action_listen"),
        said(13, "谢谢", "thank"),
        e(14, "action", name="utter_thank"),
    ]
    yml = export_story("s", events)
    assert story_steps(yml) == [
        {"user": "你好\n", "intent": "greet"},
        {"action": "utter_greet"},
        {"user": "谢谢\n", "intent": "thank"},
        {"action": "utter_thank"},
    ]
    assert '# taken back by the bot: "嗯嗯啊啊" (intent out_of_scope)' in yml
    turns = build_transcript(events)
    assert [t.text for t in turns if t.kind == "user"] == ["你好", "嗯嗯啊啊", "谢谢"]
    assert any(t.kind == "event" and "撤回" in t.text for t in turns)


async def test_a_missing_tracker_store_has_no_conversations(tmp_path: Path, database_url: str) -> None:
    store = TrackerStore(f"sqlite+aiosqlite:///{tmp_path / 'not-yet' / 'tracker.db'}")
    try:
        assert await store.events_after(0, 10) == [] and await store.events_of("x") == []
    finally:
        await store.close()
    assert not (tmp_path / "not-yet").exists()  # reading never creates it
    await reset_schema(database_url)
    store = TrackerStore(database_url)  # a database without the `events` table (Rasa not started yet)
    try:
        assert await store.events_after(0, 10) == []
    finally:
        await store.close()


async def test_an_unreachable_tracker_store_is_reported() -> None:
    store = TrackerStore("postgresql+asyncpg://postgres@127.0.0.1:9/nothing")
    try:
        with pytest.raises(TrackerUnavailable):
            await store.events_after(0, 10)
    finally:
        await store.close()


# -- conversations with the real services ------------------------------------------------


@dataclasses.dataclass
class Chats:
    k12: str
    realname: str
    human: str
    failure: str
    phone: str
    started: str  # a claim under way: path chosen, nothing submitted yet
    card_number: str
    ticket_number: str


# The people of the held conversations: none of those tests/e2e/test_e2e.py
# claims for (the services, and so the cards, are shared by the whole test
# session: a card claimed here would be "already claimed" there).
K12 = NO_GUARDIAN
REALNAME = TEACHER_AND_UNIVERSITY


async def hold_conversations(stack: Stack, tag: str) -> Chats:
    """A K-12 claim with button payloads, a claim with the channel's verified
    identity, a hand-over, a failed claim, and a message with numbers."""
    suffix = uuid.uuid4().hex[:6]
    c = Chats(
        *(f"{tag}-{kind}-{suffix}" for kind in ("k12", "realname", "human", "failure", "phone", "started")), "", ""
    )
    # The student's mini-program sends her verified real name: the card, issued
    # now or earlier in this test session (by another tag's chats), is shown.
    own = realname(K12.name, K12.id_number, sender=c.k12)
    for message in (
        "我要领卡",
        '/choose_role{"role": "k12_student"}',
        CLAIM_SELF.payload,
        f"我叫{K12.name}",
        K12.id_number,
        "开通",
    ):
        await say(stack, c.k12, message, metadata=own)
    reply = await say(stack, c.k12, "/affirm", metadata=own)
    c.card_number = (await slots(stack, c.k12))["card_number"]
    assert c.card_number and c.card_number in text(reply)  # issued now, or earlier in this test session
    meta = realname(REALNAME.name, REALNAME.id_number, sender=c.realname)
    await say(stack, c.realname, "我要领卡", metadata=meta)
    await say(stack, c.realname, '/choose_role{"role": "teacher"}', metadata=meta)
    assert "学习号" in text(await say(stack, c.realname, "确认", metadata=meta))
    assert (await slots(stack, c.realname))["card_number"]
    reply = await say(stack, c.human, "转人工")
    found = re.search(r"T\d{13}", text(reply))
    assert found, text(reply)
    c.ticket_number = found.group(0)
    for message in (
        "我要领卡",
        '/choose_role{"role": "k12_student"}',
        CLAIM_SELF.payload,
        "王大明",
        PUBLIC.id_number,
        "不开通",
    ):  # not a student of the registry
        await say(stack, c.failure, message)
    await say(stack, c.failure, "/affirm")
    assert (await slots(stack, c.failure))["failure_reason"] == "identity_not_found"
    await say(stack, c.phone, f"我的手机号是{MOBILE}，身份证 {K12.id_number}")
    await say(stack, c.started, "我要领卡")
    await say(stack, c.started, '/choose_role{"role": "parent"}')
    return c


@pytest_asyncio.fixture(scope="module")
async def chats(stack: Stack) -> Chats:
    return await hold_conversations(stack, "tr")


def tracker(stack: Stack) -> TrackerStore:
    return TrackerStore(async_database_url(stack.env["BACKEND_TRACKER_URL"]))


async def index(db: Database, store: TrackerStore, batch: int = 5_000, overlap: int = 200) -> int:
    applied = 0
    while True:
        result = await refresh_index(db, store, batch, overlap)
        applied += result.events_applied
        if not result.more:
            return applied


async def stored_summaries(db: Database) -> dict[str, ConversationSummary]:
    from sqlalchemy import select

    async with db.reading() as session:
        return {s.sender_id: s for s in await session.scalars(select(ConversationSummary))}


def fields(s: ConversationSummary) -> tuple[Any, ...]:
    return (s.started_at, s.last_at, s.path, s.outcome, s.failure_code, s.handed_off, s.user_messages, s.last_event_id)


@needs_stack
async def test_summaries_say_path_outcome_failure_and_handoff(stack: Stack, chats: Chats, database_url: str) -> None:
    await reset_schema(database_url)
    db, store = Database(database_url), tracker(stack)
    try:
        assert await index(db, store) > 0
        got = await stored_summaries(db)
    finally:
        await store.close()
        await db.dispose()
    view = {
        who: (got[who].path, got[who].outcome, got[who].failure_code, got[who].handed_off, got[who].user_messages)
        for who in (chats.k12, chats.realname, chats.human, chats.failure, chats.phone, chats.started)
    }
    assert view == {
        chats.k12: ("k12_student", "issued", None, False, 7),
        chats.realname: ("teacher", "issued", None, False, 3),
        chats.human: (None, "open", None, True, 1),
        chats.failure: ("k12_student", "failed", "identity_not_found", False, 7),
        chats.phone: (None, "open", None, False, 1),
        chats.started: ("parent", "open", None, False, 2),
    }
    assert got[chats.k12].started_at <= got[chats.k12].last_at
    # Open conversations: in progress while recent, abandoned after half an hour.
    later = got[chats.started].last_at + dt.timedelta(minutes=31)
    assert [outcome_of(got[chats.started]), outcome_of(got[chats.started], later)] == ["in_progress", "abandoned"]
    assert outcome_of(got[chats.human], later) == "inquiry" and outcome_of(got[chats.failure], later) == "failed"


@needs_stack
async def test_index_is_incremental_and_counts_each_event_once(stack: Stack, chats: Chats, database_url: str) -> None:
    await reset_schema(database_url)
    db, store, other = Database(database_url), tracker(stack), tracker(stack)
    try:
        # Small batches: many refreshes, each re-reading an overlap; and two
        # refreshes at once (separate stores: no shared in-process lock).
        await asyncio.gather(index(db, store, batch=7, overlap=5), index(db, other, batch=11))
        first = await stored_summaries(db)
        for sender in (chats.k12, chats.human, chats.failure):
            assert fields(first[sender]) == fields(summarise(sender, await store.events_of(sender)))
        # New events after the first refresh are picked up...
        await say(stack, chats.human, "你好")
        await say(stack, chats.human, "谢谢")
        assert await index(db, store) > 0
        second = await stored_summaries(db)
        assert second[chats.human].user_messages == first[chats.human].user_messages + 2
        assert second[chats.human].last_event_id > first[chats.human].last_event_id
        assert fields(second[chats.k12]) == fields(first[chats.k12])
        # ...and nothing is applied twice.
        again = await refresh_index(db, store)
        assert again.events_read > 0 and again.events_applied == 0
        for sender, summary in (await stored_summaries(db)).items():
            assert fields(summary) == fields(summarise(sender, await store.events_of(sender))), sender
    finally:
        await store.close()
        await other.close()
        await db.dispose()


def all_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@needs_stack
async def test_transcript_shows_turns_buttons_slots_and_actions_masked(stack: Stack, chats: Chats) -> None:
    store = tracker(stack)
    try:
        k12 = build_transcript(await store.events_of(chats.k12))
        realname = build_transcript(await store.events_of(chats.realname))
        phone = build_transcript(await store.events_of(chats.phone))
    finally:
        await store.close()
    shown = all_text([dataclasses.asdict(t) for t in k12 + realname + phone])
    assert not FULL_ID.search(shown)
    for secret in (K12.name, REALNAME.name, MOBILE, K12.id_number, REALNAME.id_number):
        assert secret not in shown
    users = [t for t in k12 if t.kind == "user"]
    confirmed = (CONFIRM_WITH_CONSENT if under_consent_age(K12.id_number) else CONFIRM).title  # PIPL art. 31
    assert [t.pressed for t in users if t.is_payload] == ["中小学生/中职学生", "本人领取", confirmed]
    assert users[0].intent == "claim_card" and 0 < (users[0].confidence or 0) <= 1
    assert users[3].text == f"我叫{mask_name(K12.name)}" and ("person_name", mask_name(K12.name)) in users[3].entities
    assert users[4].text == mask_id(K12.id_number)
    role_question = next(t for t in k12 if t.kind == "bot" and any(b.title == "中小学生/中职学生" for b in t.buttons))
    assert [b.title for b in role_question.buttons if b.pressed] == ["中小学生/中职学生"]
    slot_lines = {(t.name, t.value) for t in k12 if t.kind == "slot"}
    assert {
        ("role", "k12_student"),
        ("person_name", mask_name(K12.name)),
        ("id_number", mask_id(K12.id_number)),
        ("face_verification", "是"),
    } <= slot_lines
    assert ("card_number", chats.card_number) in slot_lines
    actions = [t.name for t in k12 if t.kind == "action"]
    assert "claim_form" in actions and "action_claim_card" in actions and "action_listen" not in actions
    assert any(t.kind == "loop" and t.name == "claim_form" for t in k12)
    # The verified identity from the channel's metadata, masked.
    first_user = next(t for t in realname if t.kind == "user")
    assert mask_name(REALNAME.name) in first_user.detail and mask_id(REALNAME.id_number) in first_user.detail
    assert ("person_name", mask_name(REALNAME.name)) in {(t.name, t.value) for t in realname if t.kind == "slot"}
    said = next(t for t in phone if t.kind == "user").text
    assert said == f"我的手机号是138****5678，身份证 {mask_id(K12.id_number)}"


def story_steps(yml: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(yml)
    assert data["version"] == "3.1" and len(data["stories"]) == 1
    return data["stories"][0]["steps"]


@needs_stack
async def test_export_is_a_pseudonymised_test_story(stack: Stack, chats: Chats) -> None:
    store = tracker(stack)
    try:
        k12_events = await store.events_of(chats.k12)
        yml = export_story(chats.k12, k12_events, ["NLU错误"])
        realname = export_story(chats.realname, await store.events_of(chats.realname))
        phone = export_story(chats.phone, await store.events_of(chats.phone))
    finally:
        await store.close()
    for exported in (yml, realname, phone):
        assert not {K12.id_number, REALNAME.id_number} & set(FULL_ID.findall(exported))
        for secret in (K12.name, REALNAME.name, MOBILE):
            assert secret not in exported
    assert "NLU错误" in yaml.safe_load(yml)["stories"][0]["story"]
    steps = story_steps(yml)
    assert steps[0] == {"user": "我要领卡\n", "intent": "claim_card"}
    assert {"intent": "choose_role", "entities": [{"role": "k12_student"}]} in steps
    assert {"intent": "choose_role", "entities": [{"k12_claimant": "self"}]} in steps
    assert {"user": "我叫[张小三](person_name)\n", "intent": "inform"} in steps
    fake = next(s["slot_was_set"][0]["id_number"] for s in steps if "id_number" in s.get("slot_was_set", [{}])[0])
    assert fake != K12.id_number and validate_id(fake).ok
    assert {"user": f"[{fake}](id_number)\n", "intent": "inform"} in steps, [s for s in steps if "user" in s]
    assert {"slot_was_set": [{"person_name": "张小三"}]} in steps
    assert {"active_loop": "claim_form"} in steps and {"active_loop": None} in steps
    assert {"action": "action_claim_card"} in steps
    assert {"slot_was_set": [{"card_number": chats.card_number}]} in steps
    assert not any(s.get("action") in ("action_listen", "action_session_start") for s in steps)
    assert not any("session_started_metadata" in s.get("slot_was_set", [{}])[0] for s in steps)
    assert all(set(s) <= {"user", "intent", "entities", "action", "slot_was_set", "active_loop"} for s in steps)
    placeholder = [s for s in story_steps(realname) if "slot_was_set" in s and "person_name" in s["slot_was_set"][0]]
    assert placeholder == [{"slot_was_set": [{"person_name": "张小三"}]}]
    assert "138****5678" in phone


@needs_stack
@pytest.mark.skipif(not RASA.exists(), reason="no .venv-rasa: run make install")
@pytest.mark.timeout(600)
async def test_exported_stories_pass_rasa_test(stack: Stack, chats: Chats, tmp_path: Path) -> None:
    """The exports are regression tests as they are: replayed with `rasa
    test core --e2e`, the model predicts every step (texts with fictional ID
    numbers and placeholder names included)."""
    store = tracker(stack)
    stories = tmp_path / "stories"
    stories.mkdir()
    try:
        for n, sender in enumerate((chats.k12, chats.realname, chats.human, chats.failure)):
            (stories / f"test_exported_{n}.yml").write_text(
                export_story(sender, await store.events_of(sender)), encoding="utf-8"
            )
    finally:
        await store.close()
    out = tmp_path / "out"
    result = await asyncio.to_thread(
        run_rasa,
        [
            "test",
            "core",
            "--model",
            str(MODEL),
            "--stories",
            str(stories),
            "--e2e",
            "--fail-on-prediction-errors",
            "--out",
            str(out),
            "--no-plot",
        ],
        tmp_path / "home",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "story_report.json").read_text())
    assert report["conversation_accuracy"]["correct"] == report["conversation_accuracy"]["total"] == 4


@needs_stack
async def test_a_postgresql_tracker_store_reads_the_same(stack: Stack, chats: Chats) -> None:
    """Issue 5 moves the tracker store to PostgreSQL: the same events in
    Rasa's table on PostgreSQL read the same, through a read-only session."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL not reachable")
    from sqlalchemy import insert
    from sqlalchemy import text as sql
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"xxh_tracker_{uuid.uuid4().hex[:10]}"

    await pg_admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    sqlite_store, pg_store = tracker(stack), TrackerStore(url)
    writer = create_async_engine(url)
    try:
        rows = [
            {
                "id": ev.id,
                "sender_id": ev.sender_id,
                "type_name": ev.type_name,
                "timestamp": ev.timestamp,
                "data": json.dumps(ev.data),
            }
            for ev in await sqlite_store.events_after(0, 1_000_000)
        ]
        async with writer.begin() as conn:
            await conn.run_sync(EVENTS.metadata.create_all)
            await conn.execute(insert(EVENTS), rows)
        for sender in (chats.k12, chats.realname, chats.failure):
            ours, theirs = await sqlite_store.events_of(sender), await pg_store.events_of(sender)
            assert ours == theirs
            assert export_story(sender, theirs) == export_story(sender, ours)
        assert await pg_store.events_after(rows[-1]["id"] - 3, 10) == await sqlite_store.events_after(
            rows[-1]["id"] - 3, 10
        )
        with pytest.raises(Exception, match="read-only"):
            async with pg_store.engine.begin() as conn:
                await conn.execute(sql("DELETE FROM events"))
    finally:
        await writer.dispose()
        await sqlite_store.close()
        await pg_store.close()
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@needs_stack
async def test_index_conversations_command_catches_up_and_rebuilds(stack: Stack, chats: Chats, tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'console.db'}"
    env = {**stack.env, "BACKEND_DATABASE_URL": url}
    root = Path(__file__).resolve().parents[3]

    def command(*extra: str) -> int:
        out = subprocess.run(
            [sys.executable, "-m", "backend", "index-conversations", *extra],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        match = re.fullmatch(r"(\d+) tracker events indexed\n", out.stdout)
        assert match, out.stdout
        return int(match.group(1))

    first = command()
    assert first > 0
    db, store = Database(async_database_url(url)), tracker(stack)
    try:
        summaries = await stored_summaries(db)
        for sender in (chats.k12, chats.human, chats.failure):
            assert fields(summaries[sender]) == fields(summarise(sender, await store.events_of(sender)))
        assert command() == 0  # nothing new: nothing applied twice
        assert command("--rebuild") >= first  # forgotten, then everything again
        rebuilt = await stored_summaries(db)
        assert {s: fields(v) for s, v in rebuilt.items()} == {s: fields(v) for s, v in summaries.items()}
    finally:
        await store.close()
        await db.dispose()
