"""The web chat page at `/` and its same-origin API under /chat/api/.

Without Rasa (fast): the page and its policy headers, nothing loaded from
the internet, request validation, "Rasa down" (a backend whose Rasa URL is
a closed port) and the agent replies the page polls for (SQLite and
PostgreSQL). The conversation bound to its browser: the backend issues it
in an HttpOnly, SameSite=Strict cookie; a conversation id sent as
`sender` (or put in the cookie) reaches nothing of that conversation;
新的对话 replaces the cookie; cross-site and non-JSON posts are refused
(against a fake Rasa that records which conversation each call names).
With the running stack (backend + action server + Rasa): the bot's answers
and buttons through the backend, the simulated real-name identity reaching
Rasa, the restored history, and a handoff answered by an agent. How the
page renders all this is checked by the browser tests.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from backend.app import create_app
from backend.config import DEV_SESSION_SECRET, async_database_url
from backend.db import Database
from backend.models import AgentReply, Ticket
from backend.web.chat_page import COOKIE, MAX_MESSAGE, RASA_UNAVAILABLE, conversation_sender
from contract.buttons import CLAIM_SELF
from identity import mask_id
from tests.chat_client import ChatClient, session_secret
from tests.conftest import settings_for
from tests.people import PUBLIC, XIAOMING
from tests.stack import FULL_ID, NEEDS_STACK, Stack, assert_only_own_ids, realname, run_services, slots
from trust import realname as signing

STATIC = Path(__file__).resolve().parents[3] / "backend" / "web" / "static"
PAGE_IDS = ("messages", "typing", "input", "send", "new-chat", "realname-toggle", "realname-name", "realname-id")
SCRIPT = "<script>alert(1)</script>"


def new_sender() -> str:
    return "web-" + secrets.token_hex(16)


def cookie_attributes(resp: aiohttp.ClientResponse) -> dict[str, str] | None:
    """The conversation cookie a response sets: {"value": ..., attribute: value}, or None."""
    for header in resp.headers.getall("Set-Cookie", []):
        name, _, rest = header.partition("=")
        if name.strip() == COOKIE:
            value, *attributes = rest.split(";")
            found = {"value": value.strip()}
            for a in attributes:
                k, _, v = a.strip().partition("=")
                found[k.lower()] = v
            return found
    return None


class PageParser(HTMLParser):
    """What the page references and whether it carries inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []
        self.inline: list[str] = []
        self.maxlength: dict[str, str] = {}
        self.body: dict[str, str | None] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}", rasa_url=f"http://127.0.0.1:{run_services.free_port()}"
    )
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
    assert "textContent" in js
    for element in PAGE_IDS:
        assert f'"{element}"' in js, element  # the page code uses every documented element


async def test_the_page_knows_no_conversation_id(offline: TestClient) -> None:
    """The page sends no conversation id and keeps none: the backend's cookie is the conversation."""
    async with offline.get("/static/chat.js") as resp:
        js = await resp.text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", js, flags=re.S)  # without comments
    code = code.replace('"xxh.chat.sender"', "")  # an earlier version's key: removed when found
    assert "sender" not in code and "getRandomValues" not in code and "document.cookie" not in code
    assert "localStorage.setItem" not in code  # nothing of the conversation in browser storage
    assert '"/conversations"' in code  # 新的对话 asks the backend


async def test_the_first_message_gets_its_conversation_in_an_httponly_strict_cookie(offline: TestClient) -> None:
    async with offline.post("/chat/api/messages", json={"message": "你好"}) as resp:
        assert resp.status == 503  # Rasa is down here; the conversation is issued all the same
        cookie = cookie_attributes(resp)
        text = await resp.text()
    assert cookie is not None and re.fullmatch(r"[0-9a-f]{32}", cookie["value"])  # 128 random bits
    assert "httponly" in cookie and cookie["samesite"] == "Strict" and cookie["path"] == "/chat/api"
    assert int(cookie["max-age"]) >= 7 * 24 * 3600 and "secure" not in cookie  # plain HTTP in development
    assert cookie["value"] not in text and conversation_sender("x", cookie["value"])[4:] not in text
    # Sent back, it is kept (not issued again); the page itself sets none.
    headers = {"Cookie": f"{COOKIE}={cookie['value']}"}
    async with offline.post("/chat/api/messages", json={"message": "你好"}, headers=headers) as resp:
        assert resp.status == 503 and cookie_attributes(resp) is None
    async with offline.get("/") as resp:
        assert cookie_attributes(resp) is None
    # A malformed cookie is replaced by a fresh conversation.
    for bad in ("web-" + "a" * 32, "A" * 32, "a" * 31, "x"):
        offline.session.cookie_jar.clear()  # only the cookie given here
        async with offline.post(
            "/chat/api/messages", json={"message": "你好"}, headers={"Cookie": f"{COOKIE}={bad}"}
        ) as resp:
            fresh = cookie_attributes(resp)
            assert fresh is not None and fresh["value"] not in (bad, cookie["value"]), bad


async def test_the_conversation_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}",
        secure_cookies=True,
        rasa_url=f"http://127.0.0.1:{run_services.free_port()}",
    )
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        async with client.post("/chat/api/messages", json={"message": "你好"}) as resp:
            cookie = cookie_attributes(resp)
        assert cookie is not None and "secure" in cookie
        async with client.post("/chat/api/conversations", json={}) as resp:
            cookie = cookie_attributes(resp)
        assert cookie is not None and "secure" in cookie and "httponly" in cookie


async def test_without_a_conversation_there_is_no_history_and_rasa_is_not_asked(offline: TestClient) -> None:
    for params in ({}, {"sender": new_sender()}):
        async with offline.get("/chat/api/history", params=params) as resp:
            assert resp.status == 200  # Rasa is down: it was not asked
            assert await resp.json() == {"messages": [], "last_reply_id": 0}
            assert cookie_attributes(resp) is None  # reading creates nothing
        async with offline.get("/chat/api/updates", params=params) as resp:
            assert resp.status == 200 and await resp.json() == {"replies": []}


@pytest.mark.parametrize("path", ["/chat/api/messages", "/chat/api/conversations", "/chat/api/realname-token"])
async def test_chat_posts_cannot_be_forged_cross_site(offline: TestClient, path: str) -> None:
    """A page elsewhere can post a form (urlencoded, multipart, text/plain)
    but not JSON without a CORS preflight, which is never granted; the
    browser says where a request comes from (Sec-Fetch-Site)."""
    body = {"message": "转人工", "name": PUBLIC.name, "id_number": PUBLIC.id_number}
    key = secrets.token_hex(16)
    headers = {"Cookie": f"{COOKIE}={key}"}
    for content_type, data in (
        ("application/x-www-form-urlencoded", "message=%E8%BD%AC%E4%BA%BA%E5%B7%A5"),
        ("text/plain", '{"message": "转人工"}'),
        ("multipart/form-data; boundary=x", "--x--"),
    ):
        async with offline.post(path, data=data, headers={**headers, "Content-Type": content_type}) as resp:
            assert resp.status == 415, (path, content_type, resp.status)
            assert cookie_attributes(resp) is None
    for site in ("cross-site", "same-site"):
        async with offline.post(path, json=body, headers={**headers, "Sec-Fetch-Site": site}) as resp:
            assert resp.status == 403 and (await resp.json())["code"] == "cross_site", (path, site)
            assert cookie_attributes(resp) is None
    async with offline.post(path, json=body, headers={**headers, "Sec-Fetch-Site": "same-origin"}) as resp:
        assert resp.status != 403


@pytest.mark.parametrize(
    "message, code",
    [
        ("", "empty_message"),
        ("   \n\t ", "empty_message"),
        ("学" * (MAX_MESSAGE + 1), "too_long"),
        (" " + "学" * (MAX_MESSAGE + 1) + " ", "too_long"),
        (None, "wrong_type"),
        (42, "wrong_type"),
        (["你好"], "wrong_type"),
        ("你\x00好", "bad_request"),
    ],
)
async def test_bad_message_is_refused_in_chinese(offline: TestClient, message: Any, code: str) -> None:
    async with offline.post("/chat/api/messages", json={"message": message}) as resp:
        assert resp.status == 400 and resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == code and body["success"] is False
    assert re.search(r"[\u4e00-\u9fff]", body["message"]), body


GOOD_REALNAME = {"name": PUBLIC.name, "id_number": PUBLIC.id_number}
GOOD_TOKEN = realname(PUBLIC.name, PUBLIC.id_number)


@pytest.mark.parametrize(
    "metadata",
    [
        "realname",
        [GOOD_TOKEN],
        {**GOOD_TOKEN, "extra": 1},
        {"other": 1},
        # An unsigned identity (what the page used to send) is no identity.
        {"realname": GOOD_REALNAME},
        {"realname": GOOD_REALNAME, **GOOD_TOKEN},
        {"realname_token": None},
        {"realname_token": ""},
        {"realname_token": 1},
        {"realname_token": GOOD_REALNAME},
        {"realname_token": "x" * 4097},
        {"realname_token": "令牌"},
    ],
)
async def test_bad_metadata_is_refused(offline: TestClient, metadata: Any) -> None:
    body = {"message": "我要领卡", "metadata": metadata}
    async with offline.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == "bad_metadata"


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'"text"', 400),
    ],
)
async def test_malformed_body_is_refused_as_json(offline: TestClient, body: bytes, status: int) -> None:
    async with offline.post("/chat/api/messages", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status and resp.content_type == "application/json"
    async with offline.post(
        "/chat/api/messages", data=b"message=y", headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as resp:
        assert resp.status == 415 and resp.content_type == "application/json"


@pytest.mark.parametrize(
    "message, metadata",
    [
        ("你好", None),
        ("学" * MAX_MESSAGE, None),
        ("  " + "学" * MAX_MESSAGE + "  ", None),
        ("我要领卡", GOOD_TOKEN),
        ("我要领卡", {}),
        (SCRIPT, None),
    ],
)
async def test_rasa_down_answers_503_in_chinese(
    offline: TestClient, message: str, metadata: dict[str, Any] | None
) -> None:
    """Valid messages (up to the limit) pass validation and reach for Rasa,
    which is down: a polite Chinese answer with the hotline, as JSON."""
    body: dict[str, Any] = {"message": message}
    if metadata is not None:
        body["metadata"] = metadata
    async with offline.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 503 and resp.content_type == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"
        answer = await resp.json()
        cookie = cookie_attributes(resp)
    assert answer["message"] == RASA_UNAVAILABLE and "0791-88185066" in answer["message"]
    assert cookie is not None
    async with offline.get("/chat/api/history", headers={"Cookie": f"{COOKIE}={cookie['value']}"}) as resp:
        assert resp.status == 503 and re.search(r"[\u4e00-\u9fff]", (await resp.json())["message"])


async def test_rasa_down_logs_no_message_body(offline: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = {"message": f"我的身份证号是{PUBLIC.id_number}", "metadata": GOOD_TOKEN}
    with caplog.at_level("DEBUG"):
        async with offline.post("/chat/api/messages", json=body) as resp:
            assert resp.status == 503
    assert "rasa unreachable" in caplog.text  # something was logged ...
    for secret in (PUBLIC.id_number, PUBLIC.name, "身份证号是"):
        assert secret not in caplog.text  # ... but nothing of what was said


# -- agent replies (no Rasa needed; SQLite and PostgreSQL) ------------------------------------


@pytest_asyncio.fixture
async def chat(database_url: str) -> AsyncIterator[tuple[TestClient, Database]]:
    client = TestClient(
        TestServer(create_app(settings_for(database_url, rasa_url="http://127.0.0.1:9")), host="127.0.0.1")
    )
    await client.start_server()  # creates the schema
    db = Database(database_url)
    try:
        yield client, db
    finally:
        await db.dispose()
        await client.close()


async def add_reply(db: Database, sender: str, text: str, ticket_id: int | None = None) -> int:
    async with db.writing() as session:
        reply = AgentReply(
            channel_user=sender,
            ticket_id=ticket_id,
            staff_username="agent-wang",
            text=text,
            created_at=dt.datetime(2025, 3, 1, 8, 30, 5),
        )
        session.add(reply)
        await session.flush()
        return reply.id


def conversation() -> tuple[str, dict[str, str]]:
    """A conversation as a browser holds it: the sender its cookie stands
    for, and the cookie header that carries it."""
    key = secrets.token_hex(16)
    return conversation_sender(DEV_SESSION_SECRET, key), {"Cookie": f"{COOKIE}={key}"}


async def updates(
    client: Any, cookie: dict[str, str], after: int | None = None, base: str = "", **params: str
) -> list[dict[str, Any]]:
    if after is not None:
        params["after"] = str(after)
    async with client.get(f"{base}/chat/api/updates", params=params, headers=cookie) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        replies: list[dict[str, Any]] = (await resp.json())["replies"]
    return replies


async def test_agent_replies_reach_only_their_conversation(chat: tuple[TestClient, Database]) -> None:
    client, db = chat
    (me, mine), (other, others), (_, strangers) = conversation(), conversation(), conversation()
    first = await add_reply(db, me, "您好，我是人工客服，请问遇到了什么问题？")
    await add_reply(db, other, "另一位用户的回复")
    second = await add_reply(db, me, f"{SCRIPT} 您的身份证号 {XIAOMING.id_number} 已核对")
    assert await updates(client, strangers) == []
    got = await updates(client, mine)
    assert [r["id"] for r in got] == [first, second]
    assert got[0] == {
        "id": first,
        "text": "您好，我是人工客服，请问遇到了什么问题？",
        "created_at": "2025-03-01T08:30:05Z",
    }
    # Text is data: markup comes back as it was written; an ID number is masked.
    assert got[1]["text"] == f"{SCRIPT} 您的身份证号 {mask_id(XIAOMING.id_number)} 已核对"
    assert [r["id"] for r in await updates(client, mine, after=first)] == [second]
    assert await updates(client, mine, after=second) == []
    assert [r["text"] for r in await updates(client, others)] == ["另一位用户的回复"]
    # Naming a conversation gets nothing of it: the cookie decides.
    assert await updates(client, strangers, sender=me) == []
    assert await updates(client, {}, sender=me) == []
    assert await updates(client, {"Cookie": f"{COOKIE}={me}"}) == []
    assert await updates(client, {"Cookie": f"{COOKIE}={me[4:]}"}) == []


@pytest.mark.parametrize("after", ["-1", "abc", "1.5", "１", "9" * 19])
async def test_bad_after_is_refused(chat: tuple[TestClient, Database], after: str) -> None:
    client, _ = chat
    async with client.get("/chat/api/updates", params={"after": after}, headers=conversation()[1]) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == "wrong_type"


# -- whose conversation: against a fake Rasa that records what each call names -------------------


class FakeRasa:
    """Rasa's REST channel and tracker endpoint, recording the conversation
    (sender) each call names; answers echo what was said."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []
        self.read: list[str] = []
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.app = web.Application()
        self.app.router.add_post("/webhooks/rest/webhook", self.webhook)
        self.app.router.add_get("/conversations/{sender}/tracker", self.tracker)

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        self.said.append((sender, text))
        now = time.time()
        self.events.setdefault(sender, []).extend(
            [
                {"event": "user", "text": text, "timestamp": now},
                {"event": "bot", "text": f"收到：{text}", "timestamp": now},
            ]
        )
        return web.json_response([{"recipient_id": sender, "text": f"收到：{text}"}])

    async def tracker(self, request: web.Request) -> web.Response:
        sender = request.match_info["sender"]
        self.read.append(sender)
        return web.json_response({"sender_id": sender, "events": self.events.get(sender, [])})


@pytest_asyncio.fixture
async def faked(tmp_path: Path) -> AsyncIterator[tuple[str, FakeRasa, Database]]:
    """A real backend app (SQLite) talking to a fake Rasa: its base URL, the fake, its database."""
    rasa = FakeRasa()
    rasa_server = TestServer(rasa.app, host="127.0.0.1")
    await rasa_server.start_server()
    url = f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}"
    backend = TestServer(
        create_app(settings_for(url, rasa_url=str(rasa_server.make_url("")).rstrip("/"))), host="127.0.0.1"
    )
    await backend.start_server()
    db = Database(url)
    try:
        yield str(backend.make_url("")).rstrip("/"), rasa, db
    finally:
        await db.dispose()
        await backend.close()
        await rasa_server.close()


def said(history: dict[str, Any]) -> list[str]:
    return [m["text"] for m in history["messages"] if m["from"] == "user"]


async def test_knowing_a_conversation_id_gives_nothing_of_that_conversation(
    faked: tuple[str, FakeRasa, Database],
) -> None:
    base, rasa, db = faked
    async with ChatClient(base) as victim, ChatClient(base, "127.0.0.2") as attacker:
        assert (await victim.send(f"我的身份证号是 {XIAOMING.id_number}"))[0] == 200
        v = victim.sender
        assert rasa.said == [(v, f"我的身份证号是 {XIAOMING.id_number}")]
        reply = await add_reply(db, v, "您好，我是人工客服。")
        # The attacker names the victim's conversation wherever the old API took it...
        status, answer = await attacker.send("转人工", sender=v)
        assert status == 200 and answer["messages"] == [{"text": "收到：转人工"}]
        assert rasa.said[-1] == (attacker.sender, "转人工") and attacker.sender != v
        status, restored = await attacker.history(sender=v)
        assert status == 200 and said(restored) == ["转人工"] and restored["last_reply_id"] == 0
        assert XIAOMING.id_number[-4:] not in str(restored)
        assert (await attacker.updates(sender=v)) == (200, {"replies": []})
        status, signed, _ = await attacker.post(
            "/chat/api/realname-token", {"sender": v, "name": PUBLIC.name, "id_number": PUBLIC.id_number}
        )
        assert status == 200
        public = signing.public_key({})
        assert signing.verify(signed["realname_token"], public, sender=v) is None  # bound to the attacker's own
        assert signing.verify(signed["realname_token"], public, sender=attacker.sender) is not None
        # ...and as the cookie itself: the conversation id is not the key.
        for forged in (v, v[4:]):
            async with ChatClient(base, "127.0.0.3") as thief:
                thief.http.cookie_jar.update_cookies({COOKIE: forged})
                assert (await thief.history()) == (200, {"messages": [], "last_reply_id": 0})
                assert (await thief.updates()) == (200, {"replies": []})
                assert (await thief.send("你好"))[0] == 200
                assert rasa.said[-1][0] != v
        assert [s for s, _ in rasa.said].count(v) == 1 and v not in rasa.read
        # The victim still has it all.
        status, restored = await victim.history()
        assert status == 200 and said(restored) == [f"我的身份证号是 {mask_id(XIAOMING.id_number)}"]
        assert restored["last_reply_id"] == reply
        assert {"from": "agent", "id": reply, "text": "您好，我是人工客服。"} in restored["messages"]
        assert [r["id"] for r in (await victim.updates())[1]["replies"]] == [reply]


async def test_a_new_conversation_replaces_the_cookie(faked: tuple[str, FakeRasa, Database]) -> None:
    base, rasa, _ = faked
    async with ChatClient(base) as me:
        await me.send("我要领卡")
        old_key, old = me.key, me.sender
        status, answer, resp = await me.post("/chat/api/conversations", {})
        assert status == 200 and answer == {"success": True}
        cookie = cookie_attributes(resp)
        assert cookie is not None and cookie["value"] != old_key and "httponly" in cookie
        assert cookie["samesite"] == "Strict" and cookie["path"] == "/chat/api"
        assert me.sender != old and old_key not in str(answer)
        assert (await me.history()) == (200, {"messages": [], "last_reply_id": 0})  # nothing of the old one
        await me.send("你好")
        assert rasa.said[-1] == (me.sender, "你好")
        assert said((await me.history())[1]) == ["你好"]


# -- through the running stack (real Rasa, action server, backend) -------------------------------


def chatter(stack: Stack) -> ChatClient:
    """A browser of the chat page on the stack's backend (its own cookie jar)."""
    return ChatClient(stack.backend_url, secret=session_secret(stack.env))


async def post_message(me: ChatClient, message: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    status, answer = await me.send(message, metadata)
    assert status == 200, answer
    messages: list[dict[str, Any]] = answer["messages"]
    assert messages, f"no reply to {message!r}"
    for m in messages:
        assert set(m) <= {"text", "buttons"} and (m.get("text") or m.get("buttons")), m
    assert_only_own_ids(me.sender, message, messages, metadata)
    return messages


async def history(me: ChatClient) -> dict[str, Any]:
    status, data, resp = await me.get("/chat/api/history")
    assert status == 200, data
    assert not FULL_ID.search(str(data)), "a full ID number in the restored history"
    return data  # type: ignore[no-any-return]


def joined(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def buttons(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {b["title"]: b["payload"] for m in messages for b in m.get("buttons", [])}


def stack_db(stack: Stack) -> Database:
    return Database(async_database_url(stack.env["BACKEND_DATABASE_URL"]))


class TestThroughTheStack:
    pytestmark = NEEDS_STACK

    async def test_bot_answers_with_buttons(self, stack: Stack) -> None:
        async with chatter(stack) as me:
            reply = await post_message(me, "我要领卡")
            roles = buttons(reply)
            assert "身份" in joined(reply)
            assert {"中小学生/中职学生", "我是家长", "大学生", "教师", "社会公众"} <= set(roles)
            # Tapping a button sends its payload.
            reply = await post_message(me, roles["中小学生/中职学生"])
            assert "本人" in joined(reply)
            assert (await slots(stack, me.sender))["role"] == "k12_student"

    async def test_a_signed_real_name_reaches_rasa(self, stack: Stack) -> None:
        async with chatter(stack) as me, chatter(stack) as plain:
            meta = realname(PUBLIC.name, PUBLIC.id_number, sender=await me.new_conversation())
            await post_message(me, "我要领卡", meta)
            reply = await post_message(me, '/choose_role{"role": "public"}', meta)
            assert "请确认" in joined(reply) and PUBLIC.name in joined(reply)  # shown whole to its holder
            state = await slots(stack, me.sender)
            assert (state["role"], state["person_name"], state["id_number"]) == (
                "public",
                PUBLIC.name,
                PUBLIC.id_number,
            )
            reply = await post_message(me, "确认", meta)
            assert "领卡成功" in joined(reply)
            assert (await slots(stack, me.sender))["card_number"]
            # Without the identity the same path asks for the name.
            await post_message(plain, "我要领卡")
            reply = await post_message(plain, '/choose_role{"role": "public"}')
            assert "姓名" in joined(reply) and (await slots(stack, plain.sender))["person_name"] is None

    async def test_history_restores_the_conversation_masked(self, stack: Stack) -> None:
        async with chatter(stack) as me:
            first = await post_message(me, "我要领卡")
            await post_message(me, buttons(first)["中小学生/中职学生"])
            await post_message(me, CLAIM_SELF.payload)
            await post_message(me, XIAOMING.name)
            last = await post_message(me, XIAOMING.id_number)
            assert "人脸识别" in joined(last)
            restored = (await history(me))["messages"]
        said = [m["text"] for m in restored if m["from"] == "user"]
        # Tapped buttons show as their titles; the ID number is masked.
        assert said == ["我要领卡", "中小学生/中职学生", "本人领取", XIAOMING.name, mask_id(XIAOMING.id_number)]
        bot = [m for m in restored if m["from"] == "bot"]
        assert bot[0]["text"] == first[0]["text"] and buttons(bot) and "中小学生/中职学生" in buttons(bot)
        assert restored[-1]["from"] == "bot" and [m["text"] for m in restored[-len(last) :]] == [
            m.get("text", "") for m in last
        ]
        assert restored[-1].get("buttons") == last[-1].get("buttons")
        assert {m["from"] for m in restored} == {"user", "bot"}

    async def test_markup_is_only_text(self, stack: Stack) -> None:
        async with chatter(stack) as me:
            await post_message(me, SCRIPT)
            restored = (await history(me))["messages"]
        assert restored[0] == {"from": "user", "text": SCRIPT}

    async def test_agent_reply_to_a_handoff_reaches_the_page(self, stack: Stack) -> None:
        async with chatter(stack) as me, chatter(stack) as other:
            reply = await post_message(me, "转人工")
            assert "工单号 T" in joined(reply)
            await post_message(other, "你好")
            db = stack_db(stack)
            try:
                async with db.reading() as session:
                    ticket = (await session.scalars(select(Ticket).where(Ticket.channel_user == me.sender))).one()
                async with db.writing() as session:
                    row = AgentReply(
                        channel_user=me.sender,
                        ticket_id=ticket.id,
                        staff_username="agent-wang",
                        text="您好，我是人工客服小王，请问领卡遇到了什么问题？",
                    )
                    session.add(row)
                    await session.flush()
                    reply_id = row.id
            finally:
                await db.dispose()
            status, got = await me.updates()
            assert [(r["id"], r["text"]) for r in got["replies"]] == [
                (reply_id, "您好，我是人工客服小王，请问领卡遇到了什么问题？")
            ]
            assert (await me.updates(after=str(reply_id)))[1]["replies"] == []
            assert (await other.updates())[1]["replies"] == []
            # Naming the conversation from another browser gets nothing of it.
            assert (await other.updates(sender=me.sender))[1]["replies"] == []
            assert said(await history(other)) == ["你好"]
            restored = await history(me)
            assert restored["last_reply_id"] == reply_id
            assert restored["messages"][-1] == {
                "from": "agent",
                "id": reply_id,
                "text": "您好，我是人工客服小王，请问领卡遇到了什么问题？",
            }
            assert [m["from"] for m in restored["messages"][:2]] == ["user", "bot"]
            assert (await history(other))["last_reply_id"] == 0
