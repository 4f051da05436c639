"""Personal data (issue 13 part 7, PIPL), the backend's half: the privacy
page, the retention purge of old conversations (and its schedule in the
scaled profile), one person's data exported and deleted on request (CLI and
the staff console, audited), and database and key files readable by their
owner only.

Real databases: the backend on SQLite and PostgreSQL (`registry_db`), the
Rasa tracker store as Rasa's `events` table in an SQLite file or in the
PostgreSQL test database, conversations written there as Rasa writes them.
The file-permission tests start the backend, and a service through the
launcher, and look at what they created.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import re
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import DEFAULT_RETENTION_DAYS, Settings
from backend.conversations.index import catch_up
from backend.conversations.rows import PURGED_SENDER
from backend.conversations.tracker import EVENTS, TrackerStore
from backend.conversations.writer import TrackerWriter
from backend.db import Database
from backend.models import (
    AgentReply,
    AuditEntry,
    Card,
    ClaimAttempt,
    ConversationSummary,
    ConversationTag,
    ProxyClaim,
    Student,
    Ticket,
    utcnow,
)
from backend.privacy.retention import parse_age, purge_conversations
from contract import contacts
from identity import mask_id
from tests.backend.web.console.test_staff_security import InlineCode, assert_strict_policy
from tests.conftest import Api, serve_api
from tests.people import CHEN_CHILDREN, FATHER_LI, MOTHER_WANG, XIAOMING, Person
from tests.stack import run_services
from tests.staff_client import StaffClient, signed_in

ROOT = Path(__file__).resolve().parents[3]
DAY = 86400.0
HASH_KEY = "test-key"  # the id_hash_key of the test backends (tests/conftest.py settings_for)
CLI_USER = "cli:" + pwd.getpwuid(os.getuid()).pw_name
FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
PHONE = re.compile(r"0[0-9]{2,3}-[0-9]{7,8}")
NOTICE = Path(ROOT.parent / "shared" / "seed-notice-and-manual.txt")


# -- helpers ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def tracker_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty Rasa tracker store: an SQLite file of its own, or the
    `events` table in the PostgreSQL test database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}" if database_url.startswith("sqlite") else database_url
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: EVENTS.drop(sync, checkfirst=True))
            await conn.run_sync(lambda sync: EVENTS.create(sync))
    finally:
        await engine.dispose()
    yield url


async def add_events(
    url: str,
    sender: str,
    timestamps: list[float],
    texts: list[str] | None = None,
    slots: dict[str, str] | None = None,
) -> None:
    """A conversation as Rasa stores it: a user message (and a bot answer)
    at each time; slots set at the first time."""
    rows: list[dict[str, Any]] = []
    for i, t in enumerate(timestamps):
        said = texts[i] if texts and i < len(texts) else "你好"
        rows.append(
            {
                "sender_id": sender,
                "type_name": "user",
                "timestamp": t,
                "intent_name": "greet",
                "action_name": None,
                "data": json.dumps({"event": "user", "text": said, "timestamp": t}, ensure_ascii=False),
            }
        )
        rows.append(
            {
                "sender_id": sender,
                "type_name": "bot",
                "timestamp": t + 0.5,
                "intent_name": None,
                "action_name": None,
                "data": json.dumps({"event": "bot", "text": "您好！", "timestamp": t + 0.5}, ensure_ascii=False),
            }
        )
    for name, value in (slots or {}).items():
        rows.append(
            {
                "sender_id": sender,
                "type_name": "slot",
                "timestamp": timestamps[0] + 0.1,
                "intent_name": None,
                "action_name": None,
                "data": json.dumps(
                    {"event": "slot", "name": name, "value": value, "timestamp": timestamps[0] + 0.1},
                    ensure_ascii=False,
                ),
            }
        )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(EVENTS), rows)
    finally:
        await engine.dispose()


async def stored_events(url: str) -> dict[str, int]:
    """Events per conversation in the tracker store."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(EVENTS.c.sender_id))).all()
    finally:
        await engine.dispose()
    counts: dict[str, int] = {}
    for (sender,) in rows:
        counts[sender] = counts.get(sender, 0) + 1
    return counts


def ago(days: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


async def claim_for_child(api: Api, guardian: Person, child: Person, user: str) -> dict[str, Any]:
    status, body = await api.claim(
        path="parent",
        name=child.name,
        id_number=child.id_number,
        guardian_name=guardian.name,
        guardian_id_number=guardian.id_number,
        channel_user=user,
    )
    assert status == 201, body
    return body


async def claim_self(api: Api, person: Person, user: str) -> dict[str, Any]:
    status, body = await api.claim(path="k12_student", name=person.name, id_number=person.id_number, channel_user=user)
    assert status == 201, body
    return body


async def open_ticket(api: Api, user: str, summary: str = "想找人工客服") -> int:
    status, body = await api.post("/api/v1/tickets", {"channel_user": user, "summary": summary})
    assert status in (200, 201), body
    return int(await api.scalar(f"SELECT max(id) FROM tickets WHERE channel_user = '{user}'"))


async def rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.reading() as session:
        return list(await session.scalars(select(model).where(*where)))


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    return await rows(db, AuditEntry, AuditEntry.action == action)


def backend_cli(database_url: str, tracker: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(ROOT / "var"),
        "BACKEND_DATABASE_URL": database_url,
        "BACKEND_TRACKER_URL": tracker,
        "BACKEND_ID_HASH_KEY": HASH_KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env={**base, **env},
        timeout=120,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the privacy page --------------------------------------------------------------------------


async def test_the_privacy_page_is_served_to_anyone_with_the_strict_page_headers(api: Api) -> None:
    async with api.client.get("/privacy") as resp:
        page = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/html"
        assert_strict_policy(resp, "/privacy")
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    parser = InlineCode()
    parser.feed(page)
    assert parser.found == []  # the policy would block inline code: there is none
    async with api.client.get("/static/privacy.css") as resp:
        assert resp.status == 200


async def test_the_privacy_page_says_who_processes_what_why_how_long_and_how_to_exercise_rights(api: Api) -> None:
    async with api.client.get("/privacy") as resp:
        page = await resp.text()
    text = re.sub(r"<[^>]+>", "", page)
    for said in (
        "个人信息处理者是本助手的部署运营方",
        "教育主管部门组织的",
        "学习号",  # who, on whose behalf
        "姓名、身份证号",
        "孩子的姓名和身份证号",
        "聊天记录",  # what
        "学籍库、教师库比对",
        "发放学习号电子卡",
        "排查领卡问题",
        "人工客服",  # why
        "敏感个人信息",
        "不满十四周岁",
        "监护人",  # minors
        "完整的身份证号只保存在学籍库、教师库的记录和电子卡记录",
        "遮挡后的号码",  # storage
        f"对话最后一次活动 {DEFAULT_RETENTION_DAYS} 天后删除",  # retention
        "查阅、复制、更正、删除",
        "转人工",
        f"客服电话 {contacts.HOTLINE}",  # rights and how
    ):
        assert said in text, said
    assert mask_id("360102198001010179") in text
    assert 'href="/"' in page  # back to the chat


async def test_the_privacy_page_is_the_deployments_own_policy_and_names_only_the_defined_contacts(api: Api) -> None:
    async with api.client.get("/privacy") as resp:
        text = re.sub(r"<[^>]+>", "", await resp.text())
    # It names the campaign's notice as the notice names itself, and says
    # that the policy is not the notice's.
    assert f"{contacts.NOTICE_ISSUER}《{contacts.NOTICE_TITLE}》（{contacts.NOTICE_NUMBER}）" in text
    assert "本助手自己的规则，不是该通知的规定" in text
    if NOTICE.exists():
        notice = NOTICE.read_text(encoding="utf-8")
        for never_in_notice in ("个人信息处理", "保存期限", "敏感个人信息", "删除"):
            assert never_in_notice not in notice  # ...so the page cannot be quoting it
    # Every phone number on the page is one contract/contacts.py defines.
    assert set(PHONE.findall(text)) == {contacts.HOTLINE}
    assert not FULL_ID.findall(text)


async def test_the_retention_period_shown_is_the_configured_one(registry_db: str) -> None:
    assert Settings().retention_days == DEFAULT_RETENTION_DAYS == 180
    async for api in serve_api(registry_db, retention_days=30):
        async with api.client.get("/privacy") as resp:
            text = re.sub(r"<[^>]+>", "", await resp.text())
        assert "对话最后一次活动 30 天后删除" in text and "领卡尝试记录保存 30 天" in text
        assert "180" not in text


# -- the retention purge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("180d", dt.timedelta(days=180)),
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        (" 7D ", dt.timedelta(days=7)),
    ],
)
def test_a_period_is_days_or_hours(spec: str, expected: dt.timedelta) -> None:
    assert parse_age(spec) == expected


@pytest.mark.parametrize("spec", ["0d", "0h", "10", "10x", "-5d", "1.5d", "d", "", "180 days", "9999999d"])
def test_anything_else_is_not_a_period(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_age(spec)


async def test_purge_deletes_conversations_idle_past_the_cutoff_and_the_backends_rows_of_them(
    registry_db: str, tracker_url: str
) -> None:
    now = time.time()
    old, recent, revived, helped, orphan = "web-old", "web-recent", "web-revived", "web-helped", "api-orphan"
    await add_events(tracker_url, old, [now - 200 * DAY, now - 199 * DAY, now - 190 * DAY])
    await add_events(tracker_url, recent, [now - DAY])
    await add_events(tracker_url, revived, [now - 200 * DAY, now - 3600])  # came back an hour ago
    await add_events(tracker_url, helped, [now - 200 * DAY])  # an agent worked on its ticket two days ago
    async for api in serve_api(registry_db, tracker_url=tracker_url):
        db = api.db
        await claim_for_child(api, FATHER_LI, XIAOMING, old)
        await claim_self(api, CHEN_CHILDREN[0], recent)
        tickets = {user: await open_ticket(api, user) for user in (old, recent, helped, orphan)}
        assert await catch_up(db, TrackerStore(tracker_url)) > 0
        async with db.writing() as session:
            session.add_all(
                [
                    ConversationTag(sender_id=old, tag="需跟进", created_by="a", created_at=ago(195)),
                    ConversationTag(sender_id=recent, tag="需跟进", created_by="a"),
                    AgentReply(
                        channel_user=old,
                        ticket_id=tickets[old],
                        staff_username="a",
                        text="您好，已为您处理",
                        created_at=ago(195),
                    ),
                    AgentReply(channel_user=recent, ticket_id=tickets[recent], staff_username="a", text="您好"),
                ]
            )
            for user in (old, helped, orphan):
                await session.execute(update(Ticket).where(Ticket.channel_user == user).values(created_at=ago(200)))
            await session.execute(update(Ticket).where(Ticket.channel_user == helped).values(updated_at=ago(2)))
            await session.execute(
                update(ClaimAttempt).where(ClaimAttempt.channel_user == old).values(created_at=ago(200))
            )
        old_attempts = [a.id for a in await rows(db, ClaimAttempt, ClaimAttempt.channel_user == old)]
        assert old_attempts

        report = await purge_conversations(db, TrackerWriter(tracker_url), dt.timedelta(days=180))

        left = await stored_events(tracker_url)
        assert set(left) == {recent, revived, helped} and left[revived] == 4  # the revived one keeps its past
        assert {s.sender_id for s in await rows(db, ConversationSummary)} == {recent, revived, helped}
        assert [t.sender_id for t in await rows(db, ConversationTag)] == [recent]
        assert [r.channel_user for r in await rows(db, AgentReply)] == [recent]
        kept = {t.id: t for t in await rows(db, Ticket)}
        for user in (old, orphan):  # kept for the statistics, about nobody
            ticket = kept[tickets[user]]
            assert ticket.channel_user == PURGED_SENDER and ticket.summary is None and ticket.status == "open"
        assert kept[tickets[helped]].channel_user == helped and kept[tickets[recent]].channel_user == recent
        cards = {c.holder_id_number: c for c in await rows(db, Card)}
        assert cards[XIAOMING.id_number].channel_user is None  # the card stays; it names no deleted chat
        assert cards[CHEN_CHILDREN[0].id_number].channel_user == recent
        for attempt in await rows(db, ClaimAttempt, ClaimAttempt.id.in_(old_attempts)):
            assert (
                attempt.channel_user,
                attempt.id_hash,
                attempt.id_masked,
                attempt.name_masked,
                attempt.guardian_id_hash,
                attempt.guardian_id_masked,
                attempt.card_number,
            ) == (None,) * 7
            assert attempt.success and attempt.district_code and attempt.action == "claim"  # the statistics stay
        fresh = await rows(db, ClaimAttempt, ClaimAttempt.channel_user == recent)
        assert fresh and all(a.id_hash and a.id_masked for a in fresh)
        assert await rows(db, Student, Student.id_number == XIAOMING.id_number)  # the registry is never touched
        assert report.as_dict() | {"cutoff_utc": ""} == {
            "cutoff_utc": "",
            "conversations_deleted": 2,
            "tracker_events_deleted": 6,
            "summaries_deleted": 1,
            "tags_deleted": 1,
            "agent_replies_deleted": 1,
            "tickets_deleted": 0,
            "tickets_pseudonymised": 2,
            "cards_unlinked": 1,
            "claim_attempts_anonymised": len(old_attempts),
        }

        again = await purge_conversations(db, TrackerWriter(tracker_url), dt.timedelta(days=180))
        assert {k: v for k, v in again.as_dict().items() if k != "cutoff_utc"} == dict.fromkeys(
            [k for k in report.as_dict() if k != "cutoff_utc"], 0
        )
        assert set(await stored_events(tracker_url)) == {recent, revived, helped}


async def test_a_conversation_that_comes_back_while_it_is_purged_keeps_its_events(tracker_url: str) -> None:
    now = time.time()
    await add_events(tracker_url, "web-back", [now - 300 * DAY, now - 60])
    await add_events(tracker_url, "web-gone", [now - 300 * DAY])
    writer = TrackerWriter(tracker_url)
    try:
        # Both were idle when chosen; one wrote again before the delete ran.
        deleted = await writer.delete(["web-back", "web-gone"], idle_since=now - 180 * DAY)
    finally:
        await writer.close()
    assert deleted == 2 and await stored_events(tracker_url) == {"web-back": 4}


async def test_purging_a_tracker_store_that_does_not_exist_yet_creates_nothing(
    registry_db: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-rasa-yet.db"
    db = Database(registry_db)
    writer = TrackerWriter(f"sqlite+aiosqlite:///{missing}")
    try:
        report = await purge_conversations(db, writer, dt.timedelta(days=180))
    finally:
        await writer.close()
        await db.dispose()
    assert report.conversations == 0 and not missing.exists()


async def test_the_purge_command_prints_counts_only_audits_and_defaults_to_the_retention_period(
    registry_db: str, tracker_url: str
) -> None:
    now = time.time()
    await add_events(
        tracker_url,
        "web-forty-days",
        [now - 40 * DAY],
        texts=[f"我是李小明，身份证 {XIAOMING.id_number}"],
        slots={"person_name": XIAOMING.name},
    )
    await add_events(tracker_url, "web-today", [now - 600])
    db = Database(registry_db)
    try:
        done = backend_cli(registry_db, tracker_url, "purge-conversations")  # 180 days: nothing is that old
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["older_than"] == "180d" and json.loads(done.stdout)["conversations_deleted"] == 0
        done = backend_cli(registry_db, tracker_url, "purge-conversations", BACKEND_RETENTION_DAYS="60")
        assert json.loads(done.stdout)["older_than"] == "60d" and json.loads(done.stdout)["conversations_deleted"] == 0
        done = backend_cli(registry_db, tracker_url, "purge-conversations", "--older-than", "30d")
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["older_than"] == "30d" and printed["conversations_deleted"] == 1
        assert printed["tracker_events_deleted"] == 3
        assert XIAOMING.id_number not in done.stdout and XIAOMING.name not in done.stdout
        assert "web-forty-days" not in done.stdout + done.stderr  # counts, not conversations
        assert set(await stored_events(tracker_url)) == {"web-today"}
        done = backend_cli(registry_db, tracker_url, "purge-conversations", "--older-than", "12h")
        assert done.returncode == 0 and json.loads(done.stdout)["conversations_deleted"] == 0
        bad = backend_cli(registry_db, tracker_url, "purge-conversations", "--older-than", "half a year")
        assert bad.returncode == 2 and "180d" in bad.stderr
        audited = await audit_rows(db, "purge_conversations")
        assert [(a.staff_username, a.target) for a in audited] == [
            (CLI_USER, "older than 180d"),
            (CLI_USER, "older than 60d"),
            (CLI_USER, "older than 30d"),
            (CLI_USER, "older than 12h"),
        ]
        assert "conversations_deleted=1" in (audited[2].detail or "")
    finally:
        await db.dispose()


async def test_the_scaled_profile_purges_at_start_and_then_on_its_interval(registry_db: str, tracker_url: str) -> None:
    now = time.time()
    await add_events(tracker_url, "web-ancient", [now - 365 * DAY])
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(ROOT / "var"),
        "BACKEND_DATABASE_URL": registry_db,
        "BACKEND_TRACKER_URL": tracker_url,
        "BACKEND_ID_HASH_KEY": HASH_KEY,
    }
    assert run_services.purge_command()[-3:] == ["-m", "backend", "purge-conversations"]
    assert run_services.purge_interval_s({}) == 24 * 3600
    assert run_services.purge_interval_s({"PURGE_INTERVAL_HOURS": "0"}) == 0
    started = time.monotonic()
    runs = await run_services.purge_periodically(env, interval_s=1.0, runs=2)
    assert runs == 2 and time.monotonic() - started >= 1.0
    assert await stored_events(tracker_url) == {}
    db = Database(registry_db)
    try:
        audited = await audit_rows(db, "purge_conversations")
    finally:
        await db.dispose()
    assert [a.target for a in audited] == ["older than 180d", "older than 180d"]
    assert "conversations_deleted=1" in (audited[0].detail or "") and "conversations_deleted=0" in (
        audited[1].detail or ""
    )


# -- one person's data: export and delete -------------------------------------------------------


class Family:
    """李建国 claimed his son 李小明's card in his chat, which also holds a
    ticket and an agent's reply; somebody else typed 李建国's ID number with
    a wrong name in another chat; 陈一 claimed her own card elsewhere."""

    father_chat = "web-li-family"
    stranger_chat = "web-stranger"
    other_chat = "web-chen"


async def family(api: Api, tracker: str) -> Family:
    now = time.time()
    await claim_for_child(api, FATHER_LI, XIAOMING, Family.father_chat)
    status, _ = await api.claim(
        path="parent",
        name=XIAOMING.name,
        id_number=XIAOMING.id_number,
        guardian_name="王错名",
        guardian_id_number=FATHER_LI.id_number,
        channel_user=Family.stranger_chat,
    )
    assert status == 422
    await claim_self(api, CHEN_CHILDREN[0], Family.other_chat)
    ticket = await open_ticket(api, Family.father_chat, "role=parent failure=None")
    async with api.db.writing() as session:
        session.add(
            AgentReply(
                channel_user=Family.father_chat,
                ticket_id=ticket,
                staff_username="agent_li",
                text="李先生您好，孩子的卡已经领好了",
            )
        )
    await add_events(
        tracker,
        Family.father_chat,
        [now - 3 * DAY, now - 3 * DAY + 5, now - 3 * DAY + 9],
        texts=[
            f"我是李建国，身份证 {FATHER_LI.id_number}",
            f"给儿子李小明领卡，他的身份证 {XIAOMING.id_number}",
            f"孩子妈妈王芳 {MOTHER_WANG.id_number}，电话 13812345678",
        ],
        slots={"guardian_name": FATHER_LI.name, "person_name": XIAOMING.name},
    )
    await add_events(tracker, Family.stranger_chat, [now - 2 * DAY], texts=[f"王错名 {FATHER_LI.id_number}"])
    await add_events(tracker, Family.other_chat, [now - DAY], texts=["我是陈一"])
    return Family()


def full_ids(text: str) -> set[str]:
    return {m.upper() for m in FULL_ID.findall(text)}


async def test_export_gives_the_person_their_own_copy_with_everyone_else_masked(
    registry_db: str, tracker_url: str, tmp_path: Path
) -> None:
    async for api in serve_api(registry_db, tracker_url=tracker_url):
        await family(api, tracker_url)
        out = tmp_path / "copy.json"
        done = backend_cli(
            registry_db, tracker_url, "person-data", "export", "--id-number", FATHER_LI.id_number, "--out", str(out)
        )
        assert done.returncode == 0, done.stderr
        assert mode(out) == 0o600  # it holds a full ID number
        raw = out.read_text(encoding="utf-8")
        copy = json.loads(raw)
        assert full_ids(raw) == {FATHER_LI.id_number}  # his own, and nobody else's
        assert copy["id_number"] == FATHER_LI.id_number
        assert copy["registry"]["student"] is None and copy["registry"]["teacher"] is None
        children = {c["child_id_masked"]: c for c in copy["registry"]["guardian_of"]}
        son = children[mask_id(XIAOMING.id_number)]  # (the test registry gives him other children too)
        assert (son["child_name_masked"], son["recorded_as_guardian"], son["recorded_name"]) == (
            "李*明",
            1,
            FATHER_LI.name,
        )
        assert copy["card"] is None
        assert [p["child_id_masked"] for p in copy["proxy_claims"]["as_guardian"]] == [mask_id(XIAOMING.id_number)]
        assert [(a["as"], a["success"]) for a in copy["claim_attempts"]] == [("guardian", True), ("guardian", False)]
        chats = {c["conversation"]: c for c in copy["conversations"]}
        assert set(chats) == {Family.father_chat, Family.stranger_chat}  # not 陈一's
        said = [m["text"] for m in chats[Family.father_chat]["messages"]]
        assert f"我是李建国，身份证 {FATHER_LI.id_number}" in said  # his own name and number, whole
        assert f"给儿子李*明领卡，他的身份证 {mask_id(XIAOMING.id_number)}" in said
        assert f"孩子妈妈王芳 {mask_id(MOTHER_WANG.id_number)}，电话 138****5678" in said
        assert [m["from"] for m in chats[Family.father_chat]["messages"]].count("agent") == 1
        assert chats[Family.father_chat]["tickets"][0]["status"] == "open"

        done = backend_cli(registry_db, tracker_url, "person-data", "export", "--id-number", XIAOMING.id_number)
        assert done.returncode == 0, done.stderr
        child = json.loads(done.stdout)
        assert full_ids(done.stdout) == {XIAOMING.id_number}
        assert child["registry"]["student"]["id_number"] == XIAOMING.id_number
        assert child["registry"]["student"]["name"] == XIAOMING.name
        assert {g["id_masked"] for g in child["registry"]["student"]["guardians"]} == {
            mask_id(FATHER_LI.id_number),
            mask_id(MOTHER_WANG.id_number),
        }
        assert child["card"]["holder_id_number"] == XIAOMING.id_number and child["card"]["claimed_by_guardian"]
        assert [p["guardian_id_masked"] for p in child["proxy_claims"]["as_child"]] == [mask_id(FATHER_LI.id_number)]
        assert {c["conversation"] for c in child["conversations"]} == {Family.father_chat, Family.stranger_chat}

        audited = await audit_rows(api.db, "person_data_export")
        assert [(a.staff_username, a.target) for a in audited] == [
            (CLI_USER, mask_id(FATHER_LI.id_number)),
            (CLI_USER, mask_id(XIAOMING.id_number)),
        ]
        assert "conversations=2" in (audited[0].detail or "")
        assert not full_ids(json.dumps([(a.target, a.detail) for a in audited], ensure_ascii=False))
        bad = backend_cli(registry_db, tracker_url, "person-data", "export", "--id-number", "360102198001010178")
        assert bad.returncode == 2 and not bad.stdout


async def test_delete_removes_the_persons_card_claims_attempts_and_conversations_but_not_the_registry(
    registry_db: str, tracker_url: str
) -> None:
    async for api in serve_api(registry_db, tracker_url=tracker_url):
        await family(api, tracker_url)
        db = api.db
        await catch_up(db, TrackerStore(tracker_url))
        dry = backend_cli(registry_db, tracker_url, "person-data", "delete", "--id-number", XIAOMING.id_number)
        assert dry.returncode == 2 and "--yes" in dry.stderr
        assert json.loads(dry.stdout)["would_delete"]["card"] == 1
        assert await rows(db, Card, Card.holder_id_number == XIAOMING.id_number)  # nothing deleted yet

        done = backend_cli(
            registry_db, tracker_url, "person-data", "delete", "--id-number", XIAOMING.id_number, "--yes"
        )
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["id_masked"] == mask_id(XIAOMING.id_number) and not full_ids(done.stdout)
        assert "not deleted" in printed["registry"]
        assert printed["deleted"]["cards_deleted"] == 1 and printed["deleted"]["conversations_deleted"] == 2
        assert not await rows(db, Card, Card.holder_id_number == XIAOMING.id_number)
        assert not await rows(db, ProxyClaim)  # 李建国's slot is free again
        hasher_rows = await rows(db, ClaimAttempt)
        assert {a.channel_user for a in hasher_rows} == {Family.other_chat}
        assert set(await stored_events(tracker_url)) == {Family.other_chat}
        assert not await rows(db, Ticket) and not await rows(db, AgentReply)
        assert {s.sender_id for s in await rows(db, ConversationSummary)} == {Family.other_chat}
        # The registry is the education department's: still there.
        assert await rows(db, Student, Student.id_number == XIAOMING.id_number)
        assert await rows(db, Card, Card.holder_id_number == CHEN_CHILDREN[0].id_number)

        again = backend_cli(
            registry_db, tracker_url, "person-data", "delete", "--id-number", XIAOMING.id_number, "--yes"
        )
        assert again.returncode == 0 and not any(json.loads(again.stdout)["deleted"].values())
        audited = await audit_rows(db, "person_data_delete")
        assert [a.target for a in audited] == [mask_id(XIAOMING.id_number)] * 3
        assert (audited[0].detail or "").startswith("not confirmed")
        assert "cards_deleted=1" in (audited[1].detail or "") and audited[2].detail == "nothing found"
        assert {a.staff_username for a in audited} == {CLI_USER}


async def test_deleting_a_guardian_leaves_the_childs_card_without_his_link(registry_db: str, tracker_url: str) -> None:
    async for api in serve_api(registry_db, tracker_url=tracker_url):
        await family(api, tracker_url)
        done = backend_cli(
            registry_db, tracker_url, "person-data", "delete", "--id-number", FATHER_LI.id_number, "--yes"
        )
        assert done.returncode == 0, done.stderr
        deleted = json.loads(done.stdout)["deleted"]
        assert deleted["cards_deleted"] == 0 and deleted["children_cards_unlinked"] == 1
        assert deleted["proxy_claims_deleted"] == 1 and deleted["claim_attempts_deleted"] == 2
        [card] = await rows(api.db, Card, Card.holder_id_number == XIAOMING.id_number)
        assert card.claimed_by_guardian_id is None and card.channel_user is None  # the child's card stays
        assert set(await stored_events(tracker_url)) == {Family.other_chat}


# -- ... and in the staff console (admins only) -------------------------------------------------


async def test_an_admin_exports_and_deletes_in_the_console_with_csrf_and_audit(
    registry_db: str, tracker_url: str
) -> None:
    async for api in serve_api(registry_db, tracker_url=tracker_url):
        await family(api, tracker_url)
        base = f"http://127.0.0.1:{api.client.port}"
        admin = await signed_in(base, api.db, "admin_pd", "admin")
        agent = await signed_in(base, api.db, "agent_pd", "agent")
        anonymous = StaffClient(base)
        try:
            page = await admin.get("/staff/person-data")
            assert page.status == 200 and 'action="/staff/person-data/export"' in page.text
            assert 'href="/staff/person-data"' in page.text
            assert 'href="/staff/person-data"' not in (await agent.get("/staff/tickets")).text
            assert (await agent.get("/staff/person-data")).status == 403
            for path in ("/staff/person-data/export", "/staff/person-data/delete"):
                refused = await agent.post(path, {"id_number": XIAOMING.id_number, "confirm": "yes"})
                assert refused.status == 403
                assert (await anonymous.get("/staff/person-data")).location.startswith("/staff/login")
                forged = await admin.post(
                    path, {"id_number": XIAOMING.id_number, "confirm": "yes", "csrf_token": "forged"}
                )
                assert forged.status == 403 and "CSRF" in forged.text
            assert await rows(api.db, Card, Card.holder_id_number == XIAOMING.id_number)

            download = await admin.post("/staff/person-data/export", {"id_number": XIAOMING.id_number})
            assert download.status == 200 and download.headers["Cache-Control"] == "no-store"
            assert download.headers["Content-Disposition"].startswith("attachment;")
            assert XIAOMING.id_number not in download.headers["Content-Disposition"]
            assert_strict_policy(download, "export")
            copy = json.loads(download.body)
            assert copy["id_number"] == XIAOMING.id_number and copy["card"]["holder_name"] == XIAOMING.name

            unconfirmed = await admin.post("/staff/person-data/delete", {"id_number": XIAOMING.id_number})
            assert unconfirmed.status == 400 and "确认删除" in unconfirmed.text
            invalid = await admin.post("/staff/person-data/delete", {"id_number": "12345", "confirm": "yes"})
            assert invalid.status == 400
            assert await rows(api.db, Card, Card.holder_id_number == XIAOMING.id_number)

            done = await admin.post("/staff/person-data/delete", {"id_number": XIAOMING.id_number, "confirm": "yes"})
            assert done.status == 200 and 'id="person-data-done"' in done.text
            assert mask_id(XIAOMING.id_number) in done.text and XIAOMING.id_number not in done.text
            assert "学籍库、教师库中的记录由教育主管部门导入，本服务不删除" in done.text
            assert not await rows(api.db, Card, Card.holder_id_number == XIAOMING.id_number)
            assert await rows(api.db, Student, Student.id_number == XIAOMING.id_number)

            async with api.db.reading() as session:
                audited = list(
                    await session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.action.in_(("person_data_export", "person_data_delete")))
                        .order_by(AuditEntry.id)
                    )
                )
            assert [(a.staff_username, a.action, a.target) for a in audited] == [
                ("admin_pd", "person_data_export", mask_id(XIAOMING.id_number)),
                ("admin_pd", "person_data_delete", mask_id(XIAOMING.id_number)),
            ]
            assert not full_ids(json.dumps([a.detail for a in audited], ensure_ascii=False))
        finally:
            for client in (admin, agent, anonymous):
                await client.close()


# -- database and key files readable by their owner only ----------------------------------------


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the backend exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def test_the_backend_makes_its_sqlite_database_and_wal_and_shm_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "var"  # does not exist yet: the backend makes it
    port = run_services.free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(ROOT / "var"),
        "BACKEND_PORT": str(port),
        "BACKEND_DATABASE_URL": f"sqlite:///{folder / 'backend.db'}",
        "BACKEND_TRACKER_URL": f"sqlite:///{tmp_path / 'none' / 'tracker.db'}",
    }
    # A permissive umask, as a shell might have: the backend must not rely on the launcher's.
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve"],
        cwd=ROOT,
        env=env,
        umask=0o022,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        made = [folder / "backend.db", folder / "backend.db-wal", folder / "backend.db-shm"]
        assert all(p.exists() for p in made), sorted(os.listdir(folder))
        assert {p.name: mode(p) for p in made} == {p.name: 0o600 for p in made}
        assert mode(folder) == 0o700
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_launcher_makes_var_and_the_databases_owner_only_before_the_services_start(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "tmp").mkdir(parents=True)
    (var / "secrets").mkdir()
    (var / "secrets" / "realname-dev.key").write_text("key")  # as an older checkout may have left it
    for path, wide in (
        (var, 0o755),
        (var / "tmp", 0o755),
        (var / "secrets", 0o755),
        (var / "secrets" / "realname-dev.key", 0o644),
    ):
        path.chmod(wide)
    run_services.private_var(var)
    assert {
        p.name: mode(p)
        for p in (var, var / "rasa-home", var / "tmp", var / "secrets", var / "secrets" / "realname-dev.key")
    } == {"var": 0o700, "rasa-home": 0o700, "tmp": 0o700, "secrets": 0o700, "realname-dev.key": 0o600}
    # An existing database (from before) and its companions are tightened;
    # a missing tracker store is made 0600 before Rasa opens it.
    backend_db = var / "backend.db"
    con = sqlite3.connect(backend_db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    for p in (backend_db, var / "backend.db-wal", var / "backend.db-shm"):
        p.chmod(0o644)
    made = run_services.private_databases(
        {
            "BACKEND_DATABASE_URL": f"sqlite:///{backend_db}",
            "TRACKER_DIALECT": "sqlite",
            "TRACKER_DB": str(var / "rasa_tracker.db"),
        }
    )
    assert made == [backend_db, var / "rasa_tracker.db"]
    assert mode(var / "rasa_tracker.db") == 0o600
    assert {p.name: mode(p) for p in (backend_db, var / "backend.db-wal", var / "backend.db-shm")} == {
        "backend.db": 0o600,
        "backend.db-wal": 0o600,
        "backend.db-shm": 0o600,
    }
    con.close()
    # PostgreSQL databases are no files of ours.
    assert (
        run_services.private_databases(
            {
                "BACKEND_DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
                "TRACKER_DIALECT": "postgresql",
                "TRACKER_DB": "x_tracker",
            }
        )
        == []
    )


MAKES_FILES = """
import json, os, sqlite3, stat, sys
folder = sys.argv[1]
con = sqlite3.connect(os.path.join(folder, "made-by-service.db"))
con.execute("PRAGMA journal_mode=WAL")
con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)")
con.execute("INSERT INTO events (data) VALUES ('x')")
os.mkdir(os.path.join(folder, "cache"))
open(os.path.join(folder, "service.log"), "w").close()
names = ["made-by-service.db", "made-by-service.db-wal", "made-by-service.db-shm", "cache", "service.log"]
print("MODES " + json.dumps({n: stat.S_IMODE(os.stat(os.path.join(folder, n)).st_mode) for n in names}))
con.close()
"""


def test_services_started_by_the_launcher_create_owner_only_files(tmp_path: Path) -> None:
    """What Rasa does with its SQLite tracker store (a database in WAL mode,
    caches, logs), done by a service the launcher starts."""
    port = run_services.free_port
    stack = run_services.ServiceStack(
        tmp_path,
        {
            "BACKEND_PORT": str(port()),
            "ACTION_PORT": str(port()),
            "RASA_PORT": str(port()),
            "BACKEND_DATABASE_URL": f"sqlite:///{tmp_path / 'backend.db'}",
            "TRACKER_DB": str(tmp_path / "tracker.db"),
        },
    )
    stack.prepare()
    assert mode(tmp_path / "tracker.db") == 0o600 and mode(tmp_path / "backend.db") == 0o600
    files = tmp_path / "files"
    files.mkdir()
    stack.members["maker"] = run_services.Member(
        "maker", "actions", [sys.executable, "-c", MAKES_FILES, str(files)], "", 0
    )
    stack.start("maker")
    stack.procs["maker"].wait(timeout=60)
    log = (tmp_path / "maker.log").read_text()
    modes = json.loads(log.split("MODES ", 1)[1].splitlines()[0])
    assert modes == {
        "made-by-service.db": 0o600,
        "made-by-service.db-wal": 0o600,
        "made-by-service.db-shm": 0o600,
        "cache": 0o700,
        "service.log": 0o600,
    }, log
    assert mode(tmp_path / "maker.log") == 0o600
    stack.stop("maker")
