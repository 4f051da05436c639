"""The web chat page at `/` and its same-origin JSON API under /chat/api/.

The page (templates/chat.html, static/chat.js) talks to Rasa's REST
channel through this backend, so the browser needs no other origin and
Rasa need not be reachable from outside:

- `POST /chat/api/messages` forwards one message (and the channel's
  signed identity, `metadata.realname_token`, which Rasa verifies) to Rasa
  and answers its replies;
- `POST /chat/api/conversations` (新的对话) starts a new conversation: a new
  cookie replaces the old one;
- `POST /chat/api/realname-token` (outside production only: the page's
  模拟实名 switch) signs a development token for a name and ID number, bound
  to this conversation, as the mini-program's server would sign the real one;
- `GET /chat/api/updates` answers the support agents' replies (AgentReply)
  to the conversation, for the page to poll;
- `GET /chat/api/history` restores the conversation after a reload: the
  user's and the bot's messages from Rasa's tracker, merged with the agent
  replies, ID numbers masked. The server is the one source of truth (a
  reload in another tab, or after the agent answered, shows the same), and
  nothing the user typed is kept in the browser's storage.

Whose conversation: the backend's cookie `xxh_chat` decides, nothing the
request names. It holds 128 random bits (the key), issued by the backend
on the first message (or the first real-name token) of a browser that has
none, and by 新的对话; HttpOnly (no script reads it: the page never knows
it), SameSite=Strict, path /chat/api, Secure with BACKEND_SECURE_COOKIES.
The conversation id Rasa knows (the sender, "web-" + 32 hex) is an HMAC of
the key with BACKEND_SESSION_SECRET: tickets, agent replies, claim
attempts, Rasa's tracker and logs hold the sender, from which the key
cannot be had, so none of them is a credential for the chat. A `sender`
in a body or query (the page sent one before) is ignored. Changing
BACKEND_SESSION_SECRET starts every browser on a new conversation.

Cross-site requests: the cookie is SameSite=Strict, so a request another
site makes the browser send carries no conversation; the POSTs accept
only `Content-Type: application/json` (415 otherwise), which a page of
another origin can send only after a CORS preflight that is never
granted (a cross-site form can send urlencoded, multipart or text/plain
only); and a request the browser marks as coming from another site
(`Sec-Fetch-Site: cross-site` or `same-site`) is refused (403). A forged
post therefore can neither write into a visitor's conversation nor
replace it (新的对话) nor open a ticket in their name. The GETs change
nothing, and their JSON is readable by this origin only.

Message bodies and the identity are never logged (they may hold ID numbers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from backend.appkeys import DB, SETTINGS
from backend.models import AgentReply
from backend.web.address_limits import ChatLimits
from backend.web.errors import ApiError, answer_json, json_body, json_response
from backend.web.headers import STRICT_PAGE_HEADERS
from contract.contacts import HOTLINE
from contract.metadata import REALNAME_TOKEN
from identity import check_name, validate_id
from identity.logfilter import redact
from trust import realname

log = logging.getLogger("backend.chat")

MAX_MESSAGE = 500
MAX_REALNAME_NAME = 64
MAX_REALNAME_ID = 32
MAX_REALNAME_TOKEN = 4096
MAX_BUTTONS = 20
MAX_UPDATES = 100
MAX_HISTORY = 300
POLL_MS = 3000
COOKIE = "xxh_chat"
COOKIE_PATH = "/chat/api"
API_PREFIX = COOKIE_PATH + "/"  # its answers, errors included, are JSON
COOKIE_MAX_AGE = 30 * 24 * 3600
KEY = re.compile(r"[0-9a-f]{32}")
RASA_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
HISTORY_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
RASA_UNAVAILABLE = f"助手暂时无法回复，请稍后再试，或拨打客服电话 {HOTLINE}。"
HISTORY_UNAVAILABLE = "暂时无法加载之前的聊天记录，您可以继续对话。"

HTTP = web.AppKey("chat_http", aiohttp.ClientSession)
LIMITS = web.AppKey("chat_limits", ChatLimits)
SLOW_DOWN = {
    "messages": "您发送消息太快了，请稍等一分钟再发。您已填写的信息不会丢失。",
    "conversations": "这台设备新开的对话太多了，请稍后再试，或继续使用原来的对话。",
}

PAGE_HEADERS = {**STRICT_PAGE_HEADERS, "Cache-Control": "no-cache"}
# API answers hold conversation text: never cached.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class RasaUnavailable(Exception):
    """Rasa did not answer usefully (down, timed out, 5xx, garbage)."""


# -- the conversation cookie -------------------------------------------------------------


def conversation_sender(secret: str, key: str) -> str:
    """The conversation id (Rasa's sender) a cookie's key stands for."""
    digest = hmac.new(secret.encode(), b"chat-conversation\0" + key.encode(), hashlib.sha256).hexdigest()
    return "web-" + digest[:32]


def _cookie_key(request: web.Request) -> str | None:
    raw = request.cookies.get(COOKIE)
    return raw if raw is not None and KEY.fullmatch(raw) else None


def current_sender(request: web.Request) -> str | None:
    """The conversation of this browser (None: it has none yet)."""
    key = _cookie_key(request)
    return conversation_sender(request.app[SETTINGS].session_secret, key) if key else None


class Conversation:
    """The conversation of a request that may start one: its sender, and
    the new key to hand to the browser when it had none (`issue`)."""

    def __init__(self, request: web.Request, fresh: bool = False) -> None:
        key = None if fresh else _cookie_key(request)
        self.new_key = secrets.token_hex(16) if key is None else None
        self.sender = conversation_sender(request.app[SETTINGS].session_secret, key or self.new_key or "")
        self._secure = request.app[SETTINGS].secure_cookies

    def issue(self, response: web.StreamResponse) -> web.StreamResponse:
        if self.new_key is not None:
            response.set_cookie(
                COOKIE,
                self.new_key,
                max_age=COOKIE_MAX_AGE,
                path=COOKIE_PATH,
                httponly=True,
                samesite="Strict",
                secure=self._secure,
            )
        return response


def same_origin(request: web.Request) -> None:
    """403 for a request the browser says another site made."""
    if request.headers.get("Sec-Fetch-Site", "same-origin").lower() not in ("same-origin", "none"):
        raise ApiError(403, "cross_site", "请在领卡助手页面内发送消息。")


# -- validation ----------------------------------------------------------------------


def checked_message(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "wrong_type", "消息必须是文字。", field="message")
    if "\x00" in value:
        raise ApiError(400, "bad_request", "消息包含无效字符。", field="message")
    text = value.strip()
    if not text:
        raise ApiError(400, "empty_message", "请输入要发送的内容。", field="message")
    if len(text) > MAX_MESSAGE:
        raise ApiError(400, "too_long", f"消息太长了，请不要超过 {MAX_MESSAGE} 个字。", field="message")
    return text


def _realname_field(body: dict[str, Any], key: str, max_len: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or "\x00" in value or not value.strip() or len(value.strip()) > max_len:
        raise ApiError(400, "bad_metadata", "实名信息格式不正确。", field=key)
    return value.strip()


def checked_metadata(value: Any) -> dict[str, Any] | None:
    """Only the contract's signed identity: {"realname_token": "..."}
    (its signature is Rasa's to check: bot/channels.py)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or set(value) != {REALNAME_TOKEN}:
        raise ApiError(400, "bad_metadata", "只支持实名凭证（metadata.realname_token）。", field="metadata")
    token = value[REALNAME_TOKEN]
    if not isinstance(token, str) or not token or len(token) > MAX_REALNAME_TOKEN or not token.isascii():
        raise ApiError(400, "bad_metadata", "实名凭证格式不正确。", field=f"metadata.{REALNAME_TOKEN}")
    return {REALNAME_TOKEN: token}


def checked_after(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ApiError(400, "wrong_type", "after 必须是非负整数。", field="after")
    return int(value)


# -- Rasa ------------------------------------------------------------------------------


def _buttons(raw: Any) -> list[dict[str, str]]:
    buttons = []
    for b in raw if isinstance(raw, list) else []:
        if isinstance(b, dict) and isinstance(b.get("title"), str) and isinstance(b.get("payload"), str):
            buttons.append({"title": b["title"], "payload": b["payload"]})
    return buttons[:MAX_BUTTONS]


def bot_message(text: Any, buttons: Any, masked: bool = True) -> dict[str, Any] | None:
    """A bot message as the page shows it (text and quick replies), or None
    when it has neither (images, custom payloads: the page has no use for them).
    ID numbers are masked, except in the live answer to the message that
    typed them (the confirmation shows them whole to the person who typed
    them, to check every digit); a restored history masks them."""
    message: dict[str, Any] = {}
    if isinstance(text, str) and text.strip():
        message["text"] = redact(text) if masked else text
    if found := _buttons(buttons):
        message["buttons"] = found
    return message or None


async def _rasa_json(app: web.Application, method: str, path: str, what: str, **kwargs: Any) -> Any:
    """Rasa's JSON answer to one request; RasaUnavailable when it is down,
    slow, or answers anything but 200 with JSON (logged without bodies)."""
    try:
        async with app[HTTP].request(method, app[SETTINGS].rasa_url + path, **kwargs) as resp:
            if resp.status != 200:
                log.warning("rasa answered HTTP %s to %s", resp.status, what)
                raise RasaUnavailable()
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        log.warning("rasa unreachable for %s (%s)", what, type(exc).__name__)
        raise RasaUnavailable() from None


async def ask_rasa(
    app: web.Application, sender: str, text: str, metadata: dict[str, Any] | None
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    answer = await _rasa_json(app, "POST", "/webhooks/rest/webhook", "a chat message", json=body, timeout=RASA_TIMEOUT)
    if not isinstance(answer, list):
        log.warning("rasa answered a chat message with something other than a list")
        raise RasaUnavailable()
    messages = [bot_message(m.get("text"), m.get("buttons"), masked=False) for m in answer if isinstance(m, dict)]
    return [m for m in messages if m]


async def tracker_events(app: web.Application, sender: str) -> list[dict[str, Any]]:
    tracker = await _rasa_json(
        app,
        "GET",
        f"/conversations/{sender}/tracker",
        "a tracker request",
        params={"include_events": "AFTER_RESTART", "token": app[SETTINGS].rasa_token},
        timeout=HISTORY_TIMEOUT,
    )
    events = tracker.get("events") if isinstance(tracker, dict) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def transcript(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The visible conversation in tracker events: what the user said (a
    tapped button shows as its title, as it did in the page) and what the
    bot answered, with its quick replies; ID numbers masked."""
    titles: dict[str, str] = {}  # payload -> title of the buttons shown last
    items: list[dict[str, Any]] = []
    for event in events:
        kind, at = event.get("event"), event.get("timestamp")
        at = float(at) if isinstance(at, (int, float)) else 0.0
        if kind == "bot":
            data = bot_data if isinstance(bot_data := event.get("data"), dict) else {}
            message = bot_message(event.get("text"), data.get("buttons"))
            if message:
                for b in message.get("buttons", []):
                    titles[b["payload"]] = b["title"]
                items.append({"from": "bot", "at": at, **message})
        elif kind == "user":
            text = event.get("text")
            if isinstance(text, str) and text.strip():
                shown = titles.get(text.strip(), text) if text.startswith("/") else text
                items.append({"from": "user", "at": at, "text": redact(shown)})
    return items


# -- agent replies -----------------------------------------------------------------------


def _epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp() if moment.tzinfo is None else moment.timestamp()


def _iso(moment: dt.datetime) -> str:
    return (
        dt.datetime.fromtimestamp(_epoch(moment), dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


async def agent_replies(
    app: web.Application, sender: str, after: int = 0, limit: int = MAX_UPDATES
) -> list[AgentReply]:
    async with app[DB].reading() as session:
        rows = await session.scalars(
            select(AgentReply)
            .where(AgentReply.channel_user == sender, AgentReply.id > after)
            .order_by(AgentReply.id)
            .limit(limit)
        )
        return list(rows.all())


def reply_view(reply: AgentReply) -> dict[str, Any]:
    return {"id": reply.id, "text": redact(reply.text), "created_at": _iso(reply.created_at)}


# -- handlers ------------------------------------------------------------------------------


def api_response(data: dict[str, Any], status: int = 200) -> web.Response:
    response = json_response(data, status=status)
    response.headers.update(API_HEADERS)
    return response


async def page(request: web.Request) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "chat.html",
        request,
        {
            "max_message": MAX_MESSAGE,
            "poll_ms": POLL_MS,
            "unavailable": RASA_UNAVAILABLE,
            "simulated_realname": not request.app[SETTINGS].production,
        },
    )
    response.headers.update(PAGE_HEADERS)
    return response


def limited(request: web.Request, sender: str) -> None:
    """429 when this client address is over its limits."""
    hit = request.app[LIMITS].refusal(request.remote or "", sender)
    if hit is not None:
        log.info("chat limit per address reached (%s)", hit)
        raise ApiError(429, "too_many_requests", SLOW_DOWN[hit])


async def post_message(request: web.Request) -> web.StreamResponse:
    same_origin(request)
    body = await json_body(request)
    text = checked_message(body.get("message"))
    metadata = checked_metadata(body.get("metadata"))
    conversation = Conversation(request)
    limited(request, conversation.sender)
    try:
        messages = await ask_rasa(request.app, conversation.sender, text, metadata)
    except RasaUnavailable:
        return conversation.issue(
            api_response({"success": False, "code": "assistant_unavailable", "message": RASA_UNAVAILABLE}, status=503)
        )
    return conversation.issue(api_response({"messages": messages}))


async def post_conversation(request: web.Request) -> web.StreamResponse:
    """新的对话: a new conversation replaces this browser's. Nothing is
    stored until its first message."""
    same_origin(request)
    await json_body(request)  # JSON only (see the module's note on cross-site requests)
    return Conversation(request, fresh=True).issue(api_response({"success": True}))


async def post_realname_token(request: web.Request) -> web.StreamResponse:
    """A development real-name token for this conversation (the 模拟实名
    switch). Not routed in production, where only the mini-program's server
    signs."""
    same_origin(request)
    body = await json_body(request)
    conversation = Conversation(request)
    limited(request, conversation.sender)
    name, problem = check_name(_realname_field(body, "name", MAX_REALNAME_NAME))
    checked = validate_id(_realname_field(body, "id_number", MAX_REALNAME_ID))
    if problem:
        raise ApiError(400, "bad_name", "姓名格式不正确。", field="name")
    if not checked.ok:
        raise ApiError(400, "bad_id_number", "身份证号不正确，请核对后重新填写。", field="id_number")
    token = realname.sign(realname.dev_private_key(), name, checked.normalised, subject=conversation.sender)
    return conversation.issue(api_response({REALNAME_TOKEN: token, "expires_in": realname.DEFAULT_TTL_S}))


async def get_updates(request: web.Request) -> web.Response:
    after = checked_after(request.query.get("after"))
    sender = current_sender(request)
    replies = await agent_replies(request.app, sender, after) if sender else []
    return api_response({"replies": [reply_view(r) for r in replies]})


async def get_history(request: web.Request) -> web.Response:
    """The conversation so far, oldest first (the latest MAX_HISTORY items),
    and the id of the last agent reply (to poll for newer ones from)."""
    sender = current_sender(request)
    if sender is None:
        return api_response({"messages": [], "last_reply_id": 0})
    try:
        items = transcript(await tracker_events(request.app, sender))
    except RasaUnavailable:
        return api_response(
            {"success": False, "code": "history_unavailable", "message": HISTORY_UNAVAILABLE}, status=503
        )
    replies = await agent_replies(request.app, sender, limit=10_000)
    items += [{"from": "agent", "at": _epoch(r.created_at), "id": r.id, "text": redact(r.text)} for r in replies]
    items.sort(key=lambda item: item["at"])  # stable: same-time items keep their order
    messages = [{k: v for k, v in item.items() if k != "at"} for item in items[-MAX_HISTORY:]]
    return api_response({"messages": messages, "last_reply_id": max((r.id for r in replies), default=0)})


# -- wiring -----------------------------------------------------------------------------------


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client (connection pool) to Rasa for the whole app."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100), raise_for_status=False) as session:
        app[HTTP] = session
        yield


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[LIMITS] = ChatLimits.create(settings.chat_messages_per_minute, settings.chat_conversations_per_hour)
    app.cleanup_ctx.append(_http_client)
    answer_json(app, prefix=API_PREFIX)
    app.router.add_get("/", page)
    app.router.add_post("/chat/api/messages", post_message)
    app.router.add_post("/chat/api/conversations", post_conversation)
    app.router.add_get("/chat/api/updates", get_updates)
    app.router.add_get("/chat/api/history", get_history)
    if not app[SETTINGS].production:
        app.router.add_post("/chat/api/realname-token", post_realname_token)
