"""The web chat page at `/` and its same-origin API under /chat/api/.

Without Rasa (fast): the page and its policy headers, nothing loaded from
the internet, request validation, "Rasa down" (a backend whose Rasa URL is
a closed port) and the agent replies the page polls for (SQLite and
PostgreSQL). With the running stack (backend + action server + Rasa): the
bot's answers and buttons through the backend, the simulated real-name
identity reaching Rasa, the restored history, and a handoff answered by an
agent. How the page renders all this is checked by the browser tests.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from backend.app import create_app
from backend.chat_page import MAX_MESSAGE, RASA_UNAVAILABLE
from backend.config import async_database_url
from backend.db import Database
from backend.models import AgentReply, Ticket
from identity import mask_id
from tests.conftest import settings_for
from tests.people import PUBLIC, XIAOMING
from contract.buttons import CLAIM_SELF
from tests.stack import FULL_ID, NEEDS_STACK, Stack, assert_only_own_ids, realname, run_services, slots

STATIC = Path(__file__).resolve().parent.parent / "backend" / "static"
PAGE_IDS = ("messages", "typing", "input", "send", "new-chat", "realname-toggle", "realname-name", "realname-id")
SCRIPT = "<script>alert(1)</script>"


def new_sender() -> str:
    return "web-" + secrets.token_hex(16)


class PageParser(HTMLParser):
    """What the page references and whether it carries inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []
        self.inline: list[str] = []
        self.maxlength: dict[str, str] = {}
        self.body: dict[str, Optional[str]] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
            if a.get("maxlength"):
                self.maxlength[a["id"] or ""] = a["maxlength"] or ""
        if tag == "body":
            self.body = a
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if a.get(name):
                self.refs.append(a[name] or "")
        for name in a:
            if name.startswith("on") or name == "style":
                self.inline.append(f"{tag} {name}")
        if tag == "script":
            self._in_script = True
            if not a.get("src"):
                self.inline.append("script without src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


# -- a backend whose Rasa is down (no Rasa needed) ----------------------------------------


@pytest_asyncio.fixture
async def offline(tmp_path: Path) -> AsyncIterator[TestClient]:
    """A real backend app whose Rasa URL is a closed port."""
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}",
                            rasa_url=f"http://127.0.0.1:{run_services.free_port()}")
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_page_is_served_with_a_strict_policy(offline: TestClient) -> None:
    async with offline.get("/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
        headers = resp.headers
    csp = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split(";") if d.strip()}
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    page = PageParser()
    page.feed(html)
    assert set(PAGE_IDS) <= page.ids
    assert page.inline == []  # the policy would block inline code: there is none
    assert "学习号领卡助手" in html and "新的对话" in html and "模拟实名认证" in html and 'lang="zh-CN"' in html
    # The length limit is the server's, passed to the page.
    assert page.maxlength["input"] == str(MAX_MESSAGE) and page.body["data-max-length"] == str(MAX_MESSAGE)


async def test_page_loads_nothing_from_the_internet(offline: TestClient) -> None:
    async with offline.get("/") as resp:
        html = await resp.text()
    page = PageParser()
    page.feed(html)
    assert sorted(page.refs) == ["/static/chat.css", "/static/chat.js", "data:,"]  # data:, = no favicon request
    texts = {"/": html}
    for ref in [r for r in page.refs if r.startswith("/static/")]:
        async with offline.get(ref) as resp:
            assert resp.status == 200, ref
            texts[ref] = await resp.text()
    assert texts["/static/chat.js"] == (STATIC / "chat.js").read_text(encoding="utf-8")
    for name, content in texts.items():
        assert "http://" not in content and "https://" not in content, name
        assert not re.search(r"""(url\(\s*['"]?//|@import|['"]//[a-z0-9])""", content, re.I), name
    # User and bot text only ever goes in with textContent.
    js = texts["/static/chat.js"]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "textContent" in js and "crypto.getRandomValues" in js
    for element in PAGE_IDS:
        assert f'"{element}"' in js, element  # the page code uses every documented element


BAD_SENDERS = ["", "web-", "web-" + "a" * 31, "web-" + "A" * 32, "web-" + "g" * 32, "web-" + "a" * 33,
               "e2e-k12", "web-" + "a" * 32 + "\n", " web-" + "a" * 32, 123, None, ["web-" + "a" * 32]]


@pytest.mark.parametrize("sender", BAD_SENDERS)
async def test_bad_sender_is_refused(offline: TestClient, sender: Any) -> None:
    async with offline.post("/chat/api/messages", json={"sender": sender, "message": "你好"}) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["code"] == "bad_sender" and "新的对话" in body["message"]
    if isinstance(sender, str):
        async with offline.get("/chat/api/updates", params={"sender": sender}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "bad_sender"
        async with offline.get("/chat/api/history", params={"sender": sender}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "bad_sender"


@pytest.mark.parametrize("message, code", [
    ("", "empty_message"), ("   \n\t ", "empty_message"), ("学" * (MAX_MESSAGE + 1), "too_long"),
    (" " + "学" * (MAX_MESSAGE + 1) + " ", "too_long"), (None, "wrong_type"), (42, "wrong_type"),
    (["你好"], "wrong_type"), ("你\x00好", "bad_request"),
])
async def test_bad_message_is_refused_in_chinese(offline: TestClient, message: Any, code: str) -> None:
    async with offline.post("/chat/api/messages", json={"sender": new_sender(), "message": message}) as resp:
        assert resp.status == 400 and resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == code and body["success"] is False
    assert re.search(r"[\u4e00-\u9fff]", body["message"]), body


GOOD_REALNAME = {"name": PUBLIC.name, "id_number": PUBLIC.id_number}
GOOD_TOKEN = realname(PUBLIC.name, PUBLIC.id_number)


@pytest.mark.parametrize("metadata", [
    "realname", [GOOD_TOKEN], {**GOOD_TOKEN, "extra": 1}, {"other": 1},
    # An unsigned identity (what the page used to send) is no identity.
    {"realname": GOOD_REALNAME}, {"realname": GOOD_REALNAME, **GOOD_TOKEN},
    {"realname_token": None}, {"realname_token": ""}, {"realname_token": 1}, {"realname_token": GOOD_REALNAME},
    {"realname_token": "x" * 4097}, {"realname_token": "令牌"},
])
async def test_bad_metadata_is_refused(offline: TestClient, metadata: Any) -> None:
    body = {"sender": new_sender(), "message": "我要领卡", "metadata": metadata}
    async with offline.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == "bad_metadata"


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400), (b"[]", 400), (b'"text"', 400),
])
async def test_malformed_body_is_refused_as_json(offline: TestClient, body: bytes, status: int) -> None:
    async with offline.post("/chat/api/messages", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status and resp.content_type == "application/json"
    async with offline.post("/chat/api/messages", data=b"sender=x&message=y",
                            headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 415 and resp.content_type == "application/json"


@pytest.mark.parametrize("message, metadata", [
    ("你好", None), ("学" * MAX_MESSAGE, None), ("  " + "学" * MAX_MESSAGE + "  ", None),
    ("我要领卡", GOOD_TOKEN), ("我要领卡", {}), (SCRIPT, None),
])
async def test_rasa_down_answers_503_in_chinese(offline: TestClient, message: str,
                                                metadata: Optional[dict[str, Any]]) -> None:
    """Valid messages (up to the limit) pass validation and reach for Rasa,
    which is down: a polite Chinese answer with the hotline, as JSON."""
    body: dict[str, Any] = {"sender": new_sender(), "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    async with offline.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 503 and resp.content_type == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"
        answer = await resp.json()
    assert answer["message"] == RASA_UNAVAILABLE and "0791-88185066" in answer["message"]
    async with offline.get("/chat/api/history", params={"sender": body["sender"]}) as resp:
        assert resp.status == 503 and re.search(r"[\u4e00-\u9fff]", (await resp.json())["message"])


async def test_rasa_down_logs_no_message_body(offline: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = {"sender": new_sender(), "message": f"我的身份证号是{PUBLIC.id_number}",
            "metadata": GOOD_TOKEN}
    with caplog.at_level("DEBUG"):
        async with offline.post("/chat/api/messages", json=body) as resp:
            assert resp.status == 503
    assert "rasa unreachable" in caplog.text  # something was logged ...
    for secret in (PUBLIC.id_number, PUBLIC.name, "身份证号是"):
        assert secret not in caplog.text  # ... but nothing of what was said


# -- agent replies (no Rasa needed; SQLite and PostgreSQL) ------------------------------------


@pytest_asyncio.fixture
async def chat(database_url: str) -> AsyncIterator[tuple[TestClient, Database]]:
    client = TestClient(TestServer(create_app(settings_for(database_url, rasa_url="http://127.0.0.1:9")),
                                   host="127.0.0.1"))
    await client.start_server()  # creates the schema
    db = Database(database_url)
    try:
        yield client, db
    finally:
        await db.dispose()
        await client.close()


async def add_reply(db: Database, sender: str, text: str, ticket_id: Optional[int] = None) -> int:
    async with db.writing() as session:
        reply = AgentReply(channel_user=sender, ticket_id=ticket_id, staff_username="agent-wang", text=text,
                           created_at=dt.datetime(2025, 3, 1, 8, 30, 5))
        session.add(reply)
        await session.flush()
        return reply.id


async def updates(client: Any, sender: str, after: Optional[int] = None, base: str = "") -> list[dict[str, Any]]:
    params: dict[str, Any] = {"sender": sender}
    if after is not None:
        params["after"] = str(after)
    async with client.get(f"{base}/chat/api/updates", params=params) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        replies: list[dict[str, Any]] = (await resp.json())["replies"]
    return replies


async def test_agent_replies_reach_only_their_conversation(chat: tuple[TestClient, Database]) -> None:
    client, db = chat
    me, other, stranger = new_sender(), new_sender(), new_sender()
    first = await add_reply(db, me, "您好，我是人工客服，请问遇到了什么问题？")
    await add_reply(db, other, "另一位用户的回复")
    second = await add_reply(db, me, f"{SCRIPT} 您的身份证号 {XIAOMING.id_number} 已核对")
    assert await updates(client, stranger) == []
    got = await updates(client, me)
    assert [r["id"] for r in got] == [first, second]
    assert got[0] == {"id": first, "text": "您好，我是人工客服，请问遇到了什么问题？", "created_at": "2025-03-01T08:30:05Z"}
    # Text is data: markup comes back as it was written; an ID number is masked.
    assert got[1]["text"] == f"{SCRIPT} 您的身份证号 {mask_id(XIAOMING.id_number)} 已核对"
    assert [r["id"] for r in await updates(client, me, after=first)] == [second]
    assert await updates(client, me, after=second) == []
    assert [r["text"] for r in await updates(client, other)] == ["另一位用户的回复"]


@pytest.mark.parametrize("after", ["-1", "abc", "1.5", "１", "9" * 19])
async def test_bad_after_is_refused(chat: tuple[TestClient, Database], after: str) -> None:
    client, _ = chat
    async with client.get("/chat/api/updates", params={"sender": new_sender(), "after": after}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "wrong_type"


# -- through the running stack (real Rasa, action server, backend) -------------------------------


async def post_message(stack: Stack, sender: str, message: str,
                       metadata: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": message}
    if metadata:
        body["metadata"] = metadata
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.backend_url}/chat/api/messages", json=body,
                             timeout=aiohttp.ClientTimeout(total=60)) as resp:
            assert resp.status == 200, await resp.text()
            messages: list[dict[str, Any]] = (await resp.json())["messages"]
    assert messages, f"no reply to {message!r}"
    for m in messages:
        assert set(m) <= {"text", "buttons"} and (m.get("text") or m.get("buttons")), m
    assert_only_own_ids(sender, message, messages, metadata)
    return messages


async def history(stack: Stack, sender: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.backend_url}/chat/api/history", params={"sender": sender}) as resp:
            assert resp.status == 200, await resp.text()
            raw = await resp.text()
            assert not FULL_ID.search(raw), "a full ID number in the restored history"
            return await resp.json()  # type: ignore[no-any-return]


def joined(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def buttons(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {b["title"]: b["payload"] for m in messages for b in m.get("buttons", [])}


def stack_db(stack: Stack) -> Database:
    return Database(async_database_url(stack.env["BACKEND_DATABASE_URL"]))


class TestThroughTheStack:
    pytestmark = NEEDS_STACK

    async def test_bot_answers_with_buttons(self, stack: Stack) -> None:
        me = new_sender()
        reply = await post_message(stack, me, "我要领卡")
        roles = buttons(reply)
        assert "身份" in joined(reply)
        assert {"中小学生/中职学生", "我是家长", "大学生", "教师", "社会公众"} <= set(roles)
        # Tapping a button sends its payload.
        reply = await post_message(stack, me, roles["大学生"])
        assert "姓名" in joined(reply)
        assert (await slots(stack, me))["role"] == "university_student"

    async def test_a_signed_real_name_reaches_rasa(self, stack: Stack) -> None:
        me, plain = new_sender(), new_sender()
        meta = realname(PUBLIC.name, PUBLIC.id_number, sender=me)
        await post_message(stack, me, "我要领卡", meta)
        reply = await post_message(stack, me, '/choose_role{"role": "public"}', meta)
        assert "请确认" in joined(reply) and PUBLIC.name in joined(reply)  # shown whole to its holder
        state = await slots(stack, me)
        assert (state["role"], state["person_name"], state["id_number"]) == ("public", PUBLIC.name, PUBLIC.id_number)
        reply = await post_message(stack, me, "确认", meta)
        assert "领卡成功" in joined(reply)
        assert (await slots(stack, me))["card_number"]
        # Without the identity the same path asks for the name.
        await post_message(stack, plain, "我要领卡")
        reply = await post_message(stack, plain, '/choose_role{"role": "public"}')
        assert "姓名" in joined(reply) and (await slots(stack, plain))["person_name"] is None

    async def test_history_restores_the_conversation_masked(self, stack: Stack) -> None:
        me = new_sender()
        first = await post_message(stack, me, "我要领卡")
        await post_message(stack, me, buttons(first)["中小学生/中职学生"])
        await post_message(stack, me, CLAIM_SELF.payload)
        await post_message(stack, me, XIAOMING.name)
        last = await post_message(stack, me, XIAOMING.id_number)
        assert "人脸识别" in joined(last)
        restored = (await history(stack, me))["messages"]
        said = [m["text"] for m in restored if m["from"] == "user"]
        # Tapped buttons show as their titles; the ID number is masked.
        assert said == ["我要领卡", "中小学生/中职学生", "本人领取", XIAOMING.name, mask_id(XIAOMING.id_number)]
        bot = [m for m in restored if m["from"] == "bot"]
        assert bot[0]["text"] == first[0]["text"] and buttons(bot) and "中小学生/中职学生" in buttons(bot)
        assert restored[-1]["from"] == "bot" and [m["text"] for m in restored[-len(last):]] == [
            m.get("text", "") for m in last]
        assert restored[-1].get("buttons") == last[-1].get("buttons")
        assert {m["from"] for m in restored} == {"user", "bot"}

    async def test_markup_is_only_text(self, stack: Stack) -> None:
        me = new_sender()
        await post_message(stack, me, SCRIPT)
        restored = (await history(stack, me))["messages"]
        assert restored[0] == {"from": "user", "text": SCRIPT}

    async def test_agent_reply_to_a_handoff_reaches_the_page(self, stack: Stack) -> None:
        me, other = new_sender(), new_sender()
        reply = await post_message(stack, me, "转人工")
        assert "工单号 T" in joined(reply)
        await post_message(stack, other, "你好")
        db = stack_db(stack)
        try:
            async with db.reading() as session:
                ticket = (await session.scalars(select(Ticket).where(Ticket.channel_user == me))).one()
            async with db.writing() as session:
                row = AgentReply(channel_user=me, ticket_id=ticket.id, staff_username="agent-wang",
                                 text="您好，我是人工客服小王，请问领卡遇到了什么问题？")
                session.add(row)
                await session.flush()
                reply_id = row.id
        finally:
            await db.dispose()
        async with aiohttp.ClientSession() as http:
            got = await updates(http, me, base=stack.backend_url)
            assert [(r["id"], r["text"]) for r in got] == [(reply_id, "您好，我是人工客服小王，请问领卡遇到了什么问题？")]
            assert await updates(http, me, after=reply_id, base=stack.backend_url) == []
            assert await updates(http, other, base=stack.backend_url) == []
        restored = await history(stack, me)
        assert restored["last_reply_id"] == reply_id
        assert restored["messages"][-1] == {"from": "agent", "id": reply_id,
                                            "text": "您好，我是人工客服小王，请问领卡遇到了什么问题？"}
        assert [m["from"] for m in restored["messages"][:2]] == ["user", "bot"]
        assert (await history(stack, other))["last_reply_id"] == 0
