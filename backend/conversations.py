"""Staff console: conversations (list with search and filters, masked
transcripts, tags, export as a Rasa test story).

Routes (all need a signed-in agent or admin; POSTs need `csrf_token`):
- GET  /staff/conversations: the list, 50 a page, newest activity first
  (audited: list_conversations, or search_conversations with a search).
  Query: q, from, to (YYYY-MM-DD, Beijing time), path, outcome
  (issued | failed | in_progress | abandoned | inquiry), failure (a failure
  code), handed_off (yes | no), tag, page.
- GET  /staff/conversations/{ref}: the transcript (audited).
- POST /staff/conversations/{ref}/tags: form `tag`, adds it (audited).
- POST /staff/conversations/{ref}/tags/delete: form `tag`, removes it.
- GET  /staff/conversations/{ref}/story.yml: the test story (audited).

A conversation is named by its opaque reference `ref` (conversation_ref):
never by its id (Rasa's sender) in URLs, links, pages, downloads or audit
rows, so nothing the console shows lets anyone act as the chat's browser
(a web chat's id is derived from its cookie and is no credential either:
backend/web/chat_page.py). Pages show its first characters as a label.

The list reads the summary index (backend/transcripts.py), brought up to
date from the tracker store on each request (a bounded batch). Search `q`
covers: a full ID number (the conversations whose claim attempts or cards
carry it, matched by the keyed hash or the card's holder/guardian), a
learning account number, a ticket number (T + date + id), a conversation's
reference (or the address of its page), and otherwise a substring of the
conversation's id (other channels' ids, known from elsewhere).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import re
import time
from typing import Any, Mapping, Optional
from urllib.parse import urlencode

from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy import and_, delete, exists, not_, or_, select
from sqlalchemy.exc import IntegrityError

from backend.appkeys import DB, HASHER, SETTINGS, TRACKER
from backend.cardnumber import is_valid_card_number
from backend.models import (
    PATHS,
    AgentReply,
    Card,
    ClaimAttempt,
    ConversationSummary,
    ConversationTag,
    Ticket,
    utcnow,
)
from backend.web.console.auth import audit, checked_form, render, require_staff, staff_of
from backend.transcripts import (
    IN_PROGRESS_MINUTES,
    MAX_TRANSCRIPT_EVENTS,
    Masker,
    TrackerUnavailable,
    build_transcript,
    export_story,
    known_names,
    refresh_index,
    summarise,
)
from identity import mask_id, normalise_id

PAGE_SIZE = 50
MAX_TAG = 32
MAX_QUERY = 256
LABEL_CHARS = 12
SUGGESTED_TAGS = ("NLU错误", "流程问题", "需跟进")
BEIJING = dt.timezone(dt.timedelta(hours=8))
PATH_LABELS = {
    "k12_student": "中小学生/中职学生",
    "parent": "家长代领",
    "university_student": "大学生",
    "teacher": "教师",
    "public": "社会公众",
}
OUTCOME_LABELS = {
    "issued": "已领卡",
    "failed": "领卡失败",
    "in_progress": "进行中",
    "abandoned": "未完成",
    "inquiry": "仅咨询",
}
FAILURE_LABELS = {
    "invalid_id_number": "身份证号无效",
    "identity_not_found": "未查到身份",
    "not_enrolled": "非在籍/在职",
    "guardian_mismatch": "监护人不匹配",
    "proxy_limit_reached": "代领已达上限",
    "rate_limited": "尝试过于频繁",
    "backend_unavailable": "系统暂不可用",
}
TICKET_STATUS_LABELS = {"open": "待处理", "assigned": "处理中", "resolved": "已解决"}
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_MASKED_ID = re.compile(r"[0-9]{4}\*{10}[0-9X]{4}")
_HASH = re.compile(r"[0-9a-f]{32}")
_TICKET_NUMBER = re.compile(r"[Tt]([0-9]{8})([0-9]{5,9})")


# -- opaque references -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _siv(secret: str) -> AESSIV:
    return AESSIV(hmac.new(secret.encode(), b"staff-conversation-ref", hashlib.sha256).digest())


def conversation_ref(secret: str, sender_id: str) -> str:
    """The opaque reference of a conversation in the console's URLs, links,
    pages and audit rows: its id encrypted (AES-SIV: deterministic, so one
    conversation always has the same reference; authenticated, so a forged
    or altered one names nothing) with a key derived from
    BACKEND_SESSION_SECRET. Nobody without the secret learns the id from it."""
    sealed = _siv(secret).encrypt(sender_id.encode("utf-8"), None)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def sender_of_ref(secret: str, ref: str) -> Optional[str]:
    """The conversation a reference names, or None (forged, altered, of another secret)."""
    if not 24 <= len(ref) <= 1024 or not ref.isascii():
        return None
    try:
        sealed = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))
        return _siv(secret).decrypt(sealed, None).decode("utf-8")
    except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
        return None


def ref_label(ref: str) -> str:
    """How pages name a conversation: the first characters of its reference."""
    return ref[:LABEL_CHARS]


_REF_IN_URL = re.compile(r"/staff/conversations/([A-Za-z0-9_-]+)")


def _ref_in(q: str) -> str:
    """A reference, also when the address of the conversation's page is pasted."""
    m = _REF_IN_URL.search(q)
    return m.group(1) if m else q


def local_time(when: Optional[dt.datetime]) -> str:
    """A stored (naive UTC) time in Beijing time."""
    if when is None:
        return ""
    return when.replace(tzinfo=dt.timezone.utc).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _day_start_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.timezone.utc).replace(tzinfo=None)


def _date(value: str) -> Optional[dt.date]:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclasses.dataclass
class Filters:
    q: str = ""
    date_from: Optional[dt.date] = None
    date_to: Optional[dt.date] = None
    path: str = ""
    outcome: str = ""
    failure: str = ""
    handed_off: str = ""
    tag: str = ""
    page: int = 1
    id_hash: str = ""  # an ID number search, as the keyed hash (the URL never holds the ID)
    ref_sender: Optional[str] = None  # a search by a conversation's reference: the conversation
    ref: str = ""  # ...and its reference

    @classmethod
    def from_query(cls, query: Mapping[str, str], secret: str = "") -> "Filters":
        """Unknown values are ignored (treated as "all")."""
        def pick(name: str, allowed: Any) -> str:
            value = (query.get(name) or "").strip()
            return value if value in allowed else ""

        idh = (query.get("idh") or "").strip()
        try:
            page = max(1, min(int(query.get("page") or 1), 100_000))
        except ValueError:
            page = 1
        q = (query.get("q") or "").strip()[:MAX_QUERY]
        ref_sender = sender_of_ref(secret, _ref_in(q)) if secret and q else None
        return cls(
            q=q,
            ref_sender=ref_sender,
            ref=conversation_ref(secret, ref_sender) if ref_sender is not None else "",
            date_from=_date((query.get("from") or "").strip()),
            date_to=_date((query.get("to") or "").strip()),
            path=pick("path", (*PATHS, "none")),
            outcome=pick("outcome", OUTCOME_LABELS),
            failure=pick("failure", FAILURE_LABELS),
            handed_off=pick("handed_off", ("yes", "no")),
            tag=(query.get("tag") or "").strip()[:MAX_TAG],
            page=page,
            id_hash=idh if _HASH.fullmatch(idh) else "",
        )

    def params(self, **changes: Any) -> dict[str, str]:
        values = {
            "q": self.q, "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "", "path": self.path, "outcome": self.outcome,
            "failure": self.failure, "handed_off": self.handed_off, "tag": self.tag, "page": str(self.page),
            "idh": self.id_hash if self.search_kind() == "id_hash" else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return "/staff/conversations" + ("?" + urlencode(params) if params else "")

    def search_kind(self) -> str:
        """What `q` is: id (a full ID number: redirected to id_hash) |
        id_hash (its masked form, with the hash) | card | ticket | ref (a
        conversation's reference) | sender | "" (none)."""
        if not self.q:
            return ""
        if _ID_SHAPE.fullmatch(normalise_id(self.q)):
            return "id"
        if self.id_hash and _MASKED_ID.fullmatch(self.q):
            return "id_hash"
        if is_valid_card_number(self.q):
            return "card"
        if _TICKET_NUMBER.fullmatch(self.q):
            return "ticket"
        if self.ref_sender is not None:
            return "ref"
        return "sender"

    def conditions(self, hash_id: Any) -> list[Any]:
        cs = ConversationSummary
        where: list[Any] = []
        if self.date_from:
            where.append(cs.last_at >= _day_start_utc(self.date_from))
        if self.date_to:
            where.append(cs.started_at < _day_start_utc(self.date_to + dt.timedelta(days=1)))
        if self.path == "none":
            where.append(cs.path.is_(None))
        elif self.path:
            where.append(cs.path == self.path)
        if self.outcome in ("issued", "failed"):
            where.append(cs.outcome == self.outcome)
        elif self.outcome:
            cutoff = utcnow() - dt.timedelta(minutes=IN_PROGRESS_MINUTES)
            where.append(cs.outcome == "open")
            where.append({
                "inquiry": cs.path.is_(None),
                "in_progress": and_(cs.path.is_not(None), cs.last_at >= cutoff),
                "abandoned": and_(cs.path.is_not(None), cs.last_at < cutoff),
            }[self.outcome])
        if self.failure:
            where.append(cs.failure_code == self.failure)
        ticket = exists().where(Ticket.channel_user == cs.sender_id)
        if self.handed_off == "yes":
            where.append(or_(cs.handed_off.is_(True), ticket))
        elif self.handed_off == "no":
            where.append(and_(cs.handed_off.is_(False), not_(ticket)))
        if self.tag:
            where.append(exists().where(ConversationTag.sender_id == cs.sender_id, ConversationTag.tag == self.tag))
        kind = self.search_kind()
        if kind in ("id", "id_hash"):
            # Every claim (issued or not) is logged with the keyed hash of the
            # holder's and the guardian's ID number and the conversation.
            digest = hash_id(normalise_id(self.q)) if kind == "id" else self.id_hash
            where.append(cs.sender_id.in_(select(ClaimAttempt.channel_user).where(
                or_(ClaimAttempt.id_hash == digest, ClaimAttempt.guardian_id_hash == digest))))
        elif kind == "card":
            where.append(or_(
                cs.sender_id.in_(select(Card.channel_user).where(Card.card_number == self.q)),
                cs.sender_id.in_(select(ClaimAttempt.channel_user).where(ClaimAttempt.card_number == self.q)),
            ))
        elif kind == "ticket":
            m = _TICKET_NUMBER.fullmatch(self.q)
            assert m is not None
            where.append(cs.sender_id.in_(select(Ticket.channel_user).where(Ticket.id == int(m.group(2)))))
        elif kind == "ref":
            where.append(cs.sender_id == self.ref_sender)
        elif kind == "sender":
            escaped = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(cs.sender_id.ilike(f"%{escaped}%", escape="\\"))
        return where

    def masked_q(self) -> str:
        """The query as the audit log keeps it."""
        kind = self.search_kind()
        if kind == "id":
            return mask_id(normalise_id(self.q))
        return self.ref if kind == "ref" else Masker().text(self.q)

    def describe(self) -> str:
        """The search and filters as the audit log keeps them, e.g.
        "id: 3601**********1234; path=parent; page=2"."""
        kind = self.search_kind()
        parts = [f"{'id' if kind == 'id_hash' else kind}: {self.masked_q()}"] if kind else []
        for name, value in (("from", self.date_from.isoformat() if self.date_from else ""),
                            ("to", self.date_to.isoformat() if self.date_to else ""), ("path", self.path),
                            ("outcome", self.outcome), ("failure", self.failure), ("handed_off", self.handed_off),
                            ("tag", Masker().text(self.tag) if self.tag else "")):
            if value:
                parts.append(f"{name}={value}")
        if self.page > 1:
            parts.append(f"page={self.page}")
        return "; ".join(parts)

    def without_id_number(self, hash_id: Any) -> str:
        """The URL of this search with the ID number replaced by its masked
        form and keyed hash (so it stays out of addresses, history, logs)."""
        id_number = normalise_id(self.q)
        masked = dataclasses.replace(self, q=mask_id(id_number), id_hash=hash_id(id_number), page=1)
        return masked.url()


def outcome_of(summary: ConversationSummary, now: Optional[dt.datetime] = None) -> str:
    if summary.outcome in ("issued", "failed"):
        return summary.outcome
    if summary.path is None:
        return "inquiry"
    cutoff = (now or utcnow()) - dt.timedelta(minutes=IN_PROGRESS_MINUTES)
    return "in_progress" if summary.last_at >= cutoff else "abandoned"


def conversation_href(ref: str, suffix: str = "") -> str:
    return f"/staff/conversations/{ref}{suffix}"


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].session_secret


def _no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


def _labels() -> dict[str, Any]:
    return {"path_labels": PATH_LABELS, "outcome_labels": OUTCOME_LABELS, "failure_labels": FAILURE_LABELS,
            "ticket_status_labels": TICKET_STATUS_LABELS, "suggested_tags": SUGGESTED_TAGS, "max_tag": MAX_TAG,
            "local_time": local_time}


CATCH_UP_SECONDS = 3.0


# -- the list -----------------------------------------------------------------------------


@require_staff()
async def conversation_list(request: web.Request) -> web.StreamResponse:
    secret = _secret(request)
    filters = Filters.from_query(request.query, secret)
    if filters.search_kind() == "id":
        # The search is audited where its results are shown (the page this leads to).
        raise web.HTTPSeeOther(filters.without_id_number(request.app[HASHER]))
    db = request.app[DB]
    warning = notice = None
    try:
        # Batches until caught up, for at most CATCH_UP_SECONDS a page view
        # (a busy day leaves more than one batch between two views).
        deadline = time.monotonic() + CATCH_UP_SECONDS
        refreshed = await refresh_index(db, request.app[TRACKER])
        while refreshed.more and time.monotonic() < deadline:
            refreshed = await refresh_index(db, request.app[TRACKER])
        if refreshed.more:
            notice = "会话索引正在追赶最新记录，最近的会话可能还未列出；刷新页面可继续更新。"
    except TrackerUnavailable:
        warning = "暂时无法读取对话记录库（Rasa tracker store），列表可能不是最新的。"
    cs = ConversationSummary
    async with db.reading() as session:
        rows = (await session.scalars(
            select(cs).where(*filters.conditions(request.app[HASHER]))
            .order_by(cs.last_at.desc(), cs.sender_id.desc())
            .offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
        )).all()
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        senders = [r.sender_id for r in rows]
        tags: dict[str, list[str]] = {}
        ticketed: set[str] = set()
        if senders:
            for tag in await session.scalars(
                select(ConversationTag).where(ConversationTag.sender_id.in_(senders)).order_by(ConversationTag.id)
            ):
                tags.setdefault(tag.sender_id, []).append(tag.tag)
            ticketed = set(await session.scalars(
                select(Ticket.channel_user).where(Ticket.channel_user.in_(senders)).distinct()))
        known_tags = list(await session.scalars(select(ConversationTag.tag).distinct().order_by(ConversationTag.tag)
                                                .limit(200)))
    await audit(request, "search_conversations" if filters.q else "list_conversations", None,
                filters.describe() or None)
    now = utcnow()
    refs = {r.sender_id: conversation_ref(secret, r.sender_id) for r in rows}
    items = [{
        "label": ref_label(refs[r.sender_id]), "href": conversation_href(refs[r.sender_id]),
        "started": local_time(r.started_at), "last": local_time(r.last_at), "messages": r.user_messages,
        "path": PATH_LABELS.get(r.path or "", r.path or "—"), "outcome": outcome_of(r, now),
        "failure": r.failure_code, "handed_off": r.handed_off or r.sender_id in ticketed,
        "tags": tags.get(r.sender_id, []),
    } for r in rows]
    return _no_store(render(request, "staff/conversations.html", {
        **_labels(), "f": filters, "items": items, "warning": warning, "notice": notice,
        "prev_url": filters.url(page=filters.page - 1) if filters.page > 1 else None,
        "next_url": filters.url(page=filters.page + 1) if has_next else None,
        "known_tags": sorted(set(known_tags) | set(SUGGESTED_TAGS)),
        "date_from": filters.date_from.isoformat() if filters.date_from else "",
        "date_to": filters.date_to.isoformat() if filters.date_to else "",
    }))


# -- one conversation -------------------------------------------------------------------------


async def _events(request: web.Request, sender_id: str) -> list[Any]:
    try:
        return await request.app[TRACKER].events_of(sender_id)
    except TrackerUnavailable:
        raise web.HTTPServiceUnavailable(text="暂时无法读取对话记录库，请稍后再试。", content_type="text/plain") from None


async def _tags(request: web.Request, sender_id: str) -> list[str]:
    async with request.app[DB].reading() as session:
        return list(await session.scalars(
            select(ConversationTag.tag).where(ConversationTag.sender_id == sender_id).order_by(ConversationTag.id)))


def _not_found(request: web.Request) -> web.StreamResponse:
    return _no_store(render(request, "staff/transcript.html", {**_labels(), "missing": True}, status=404))


def _conversation(request: web.Request) -> Optional[tuple[str, str]]:
    """(sender id, canonical reference) of the conversation the URL names;
    None when the reference is forged, altered or of another secret."""
    sender_id = sender_of_ref(_secret(request), request.match_info["ref"])
    if sender_id is None:
        return None
    return sender_id, conversation_ref(_secret(request), sender_id)


async def _transcript_page(request: web.Request, sender_id: str, ref: str, error: Optional[str] = None,
                           status: int = 200) -> web.StreamResponse:
    events = await _events(request, sender_id)
    if not events:
        return _not_found(request)
    async with request.app[DB].reading() as session:
        replies = (await session.scalars(
            select(AgentReply).where(AgentReply.channel_user == sender_id).order_by(AgentReply.id))).all()
        tickets = (await session.scalars(
            select(Ticket).where(Ticket.channel_user == sender_id).order_by(Ticket.id))).all()
    tags = await _tags(request, sender_id)
    summary = summarise(sender_id, events)
    assert summary is not None
    masker = Masker(known_names(events))
    await audit(request, "view_transcript", ref)
    return _no_store(render(request, "staff/transcript.html", {
        **_labels(), "missing": False, "label": ref_label(ref), "summary": summary,
        "outcome": outcome_of(summary), "handed_off": summary.handed_off or bool(tickets),
        "turns": build_transcript(events, replies), "truncated": len(events) >= MAX_TRANSCRIPT_EVENTS,
        "tickets": [{"number": t.number, "href": f"/staff/tickets/{t.id}", "status": t.status, "reason": masker.text(t.reason),
                     "summary": masker.text(t.summary), "assigned_to": t.assigned_to,
                     "created": local_time(t.created_at)} for t in tickets],
        "tags": tags, "error": error,
        "tag_url": conversation_href(ref, "/tags"),
        "untag_url": conversation_href(ref, "/tags/delete"),
        "story_url": conversation_href(ref, "/story.yml"),
    }, status=status))


@require_staff()
async def transcript(request: web.Request) -> web.StreamResponse:
    found = _conversation(request)
    return await _transcript_page(request, *found) if found else _not_found(request)


def tag_problem(tag: str) -> Optional[str]:
    if not tag:
        return "请填写标签。"
    if len(tag) > MAX_TAG:
        return f"标签最多 {MAX_TAG} 个字符。"
    if not tag.isprintable():
        return "标签不能包含换行或控制字符。"
    return None


@require_staff()
async def add_tag(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    found = _conversation(request)
    if found is None:
        return _not_found(request)
    sender_id, ref = found
    tag = str(form.get("tag") or "").strip()
    problem = tag_problem(tag)
    if problem:
        return await _transcript_page(request, sender_id, ref, error=problem, status=400)
    if not await _events(request, sender_id):
        return _not_found(request)
    staff = staff_of(request)
    try:
        async with request.app[DB].writing() as session:
            present = await session.scalar(select(ConversationTag.id).where(
                ConversationTag.sender_id == sender_id, ConversationTag.tag == tag))
            if present is None:
                session.add(ConversationTag(sender_id=sender_id, tag=tag, created_by=staff.username))
    except IntegrityError:
        pass  # added at the same moment by someone else
    await audit(request, "tag_conversation", ref, tag)
    raise web.HTTPSeeOther(conversation_href(ref))


@require_staff()
async def remove_tag(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    found = _conversation(request)
    if found is None:
        return _not_found(request)
    sender_id, ref = found
    tag = str(form.get("tag") or "").strip()
    async with request.app[DB].writing() as session:
        removed = (await session.execute(delete(ConversationTag).where(
            ConversationTag.sender_id == sender_id, ConversationTag.tag == tag))).rowcount
    if removed:
        await audit(request, "untag_conversation", ref, tag)
    raise web.HTTPSeeOther(conversation_href(ref))


@require_staff()
async def story(request: web.Request) -> web.StreamResponse:
    found = _conversation(request)
    if found is None:
        return _not_found(request)
    sender_id, ref = found
    events = await _events(request, sender_id)
    if not events:
        return _not_found(request)
    # The story names the conversation by its label, like the pages.
    body = export_story(ref_label(ref), events, await _tags(request, sender_id))
    await audit(request, "export_story", ref)
    safe = ref_label(ref)
    return _no_store(web.Response(
        text=body, content_type="application/x-yaml", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="test_conversation_{safe}.yml"',
                 "X-Content-Type-Options": "nosniff"},
    ))


# -- setup ------------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    app.router.add_get("/staff/conversations", conversation_list)
    app.router.add_get("/staff/conversations/{ref}", transcript)
    app.router.add_post("/staff/conversations/{ref}/tags", add_tag)
    app.router.add_post("/staff/conversations/{ref}/tags/delete", remove_tag)
    app.router.add_get("/staff/conversations/{ref}/story.yml", story)
