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

Search and filters: search.py; references: refs.py.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from backend.appkeys import DB, HASHER, SETTINGS, TRACKER
from backend.conversations.events import known_names
from backend.conversations.index import refresh_index, summarise
from backend.conversations.masking import Masker
from backend.conversations.story import export_story
from backend.conversations.tracker import MAX_TRANSCRIPT_EVENTS, TrackerUnavailable
from backend.conversations.transcript import build_transcript
from backend.db import rows_matched
from backend.models import AgentReply, ConversationSummary, ConversationTag, Ticket, utcnow
from backend.web.console.auth import audit, checked_form, render, require_staff, staff_of
from backend.web.console.refs import conversation_ref, ref_label, sender_of_ref
from backend.web.console.search import CONVERSATION_FAILURE_LABELS, MAX_TAG, OUTCOME_LABELS, Filters, outcome_of
from backend.web.console.urls import CONVERSATIONS, conversation_href, ticket_href
from contract.beijing import beijing
from contract.paths import NO_PATH_LABEL, PATH_LABELS
from contract.staff import TICKET_STATUS_LABELS

PAGE_SIZE = 50
SUGGESTED_TAGS = ("NLU错误", "流程问题", "需跟进")


def local_time(when: dt.datetime | None) -> str:
    """A stored (naive UTC) time in Beijing time."""
    if when is None:
        return ""
    return beijing(when).strftime("%Y-%m-%d %H:%M:%S")


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].session_secret


def _no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


def _labels() -> dict[str, Any]:
    return {
        "path_labels": PATH_LABELS,
        "no_path_label": NO_PATH_LABEL,
        "outcome_labels": OUTCOME_LABELS,
        "failure_labels": CONVERSATION_FAILURE_LABELS,
        "ticket_status_labels": TICKET_STATUS_LABELS,
        "suggested_tags": SUGGESTED_TAGS,
        "max_tag": MAX_TAG,
        "local_time": local_time,
    }


CATCH_UP_SECONDS = 3.0


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
        rows = (
            await session.scalars(
                select(cs)
                .where(*filters.conditions(request.app[HASHER]))
                .order_by(cs.last_at.desc(), cs.sender_id.desc())
                .offset((filters.page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
            )
        ).all()
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
            ticketed = set(
                await session.scalars(select(Ticket.channel_user).where(Ticket.channel_user.in_(senders)).distinct())
            )
        known_tags = list(
            await session.scalars(select(ConversationTag.tag).distinct().order_by(ConversationTag.tag).limit(200))
        )
    await audit(
        request, "search_conversations" if filters.q else "list_conversations", None, filters.describe() or None
    )
    now = utcnow()
    refs = {r.sender_id: conversation_ref(secret, r.sender_id) for r in rows}
    items = [
        {
            "label": ref_label(refs[r.sender_id]),
            "href": conversation_href(refs[r.sender_id]),
            "started": local_time(r.started_at),
            "last": local_time(r.last_at),
            "messages": r.user_messages,
            "path": PATH_LABELS.get(r.path or "", r.path or "—"),
            "outcome": outcome_of(r, now),
            "failure": r.failure_code,
            "handed_off": r.handed_off or r.sender_id in ticketed,
            "tags": tags.get(r.sender_id, []),
        }
        for r in rows
    ]
    return _no_store(
        render(
            request,
            "staff/conversations.html",
            {
                **_labels(),
                "f": filters,
                "items": items,
                "warning": warning,
                "notice": notice,
                "prev_url": filters.url(page=filters.page - 1) if filters.page > 1 else None,
                "next_url": filters.url(page=filters.page + 1) if has_next else None,
                "known_tags": sorted(set(known_tags) | set(SUGGESTED_TAGS)),
                "date_from": filters.date_from.isoformat() if filters.date_from else "",
                "date_to": filters.date_to.isoformat() if filters.date_to else "",
            },
        )
    )


async def _events(request: web.Request, sender_id: str) -> list[Any]:
    try:
        return await request.app[TRACKER].events_of(sender_id)
    except TrackerUnavailable:
        raise web.HTTPServiceUnavailable(
            text="暂时无法读取对话记录库，请稍后再试。", content_type="text/plain"
        ) from None


async def _tags(request: web.Request, sender_id: str) -> list[str]:
    async with request.app[DB].reading() as session:
        return list(
            await session.scalars(
                select(ConversationTag.tag).where(ConversationTag.sender_id == sender_id).order_by(ConversationTag.id)
            )
        )


def _not_found(request: web.Request) -> web.StreamResponse:
    return _no_store(render(request, "staff/transcript.html", {**_labels(), "missing": True}, status=404))


def _conversation(request: web.Request) -> tuple[str, str] | None:
    """(sender id, canonical reference) of the conversation the URL names;
    None when the reference is forged, altered or of another secret."""
    sender_id = sender_of_ref(_secret(request), request.match_info["ref"])
    if sender_id is None:
        return None
    return sender_id, conversation_ref(_secret(request), sender_id)


async def _transcript_page(
    request: web.Request, sender_id: str, ref: str, error: str | None = None, status: int = 200
) -> web.StreamResponse:
    events = await _events(request, sender_id)
    if not events:
        return _not_found(request)
    async with request.app[DB].reading() as session:
        replies = (
            await session.scalars(
                select(AgentReply).where(AgentReply.channel_user == sender_id).order_by(AgentReply.id)
            )
        ).all()
        tickets = (
            await session.scalars(select(Ticket).where(Ticket.channel_user == sender_id).order_by(Ticket.id))
        ).all()
    tags = await _tags(request, sender_id)
    summary = summarise(sender_id, events)
    assert summary is not None
    masker = Masker(known_names(events))
    await audit(request, "view_transcript", ref)
    return _no_store(
        render(
            request,
            "staff/transcript.html",
            {
                **_labels(),
                "missing": False,
                "label": ref_label(ref),
                "summary": summary,
                "outcome": outcome_of(summary),
                "handed_off": summary.handed_off or bool(tickets),
                "turns": build_transcript(events, replies),
                "truncated": len(events) >= MAX_TRANSCRIPT_EVENTS,
                "tickets": [
                    {
                        "number": t.number,
                        "href": ticket_href(t.id),
                        "status": t.status,
                        "reason": masker.text(t.reason),
                        "summary": masker.text(t.summary),
                        "assigned_to": t.assigned_to,
                        "created": local_time(t.created_at),
                    }
                    for t in tickets
                ],
                "tags": tags,
                "error": error,
                "tag_url": conversation_href(ref, "/tags"),
                "untag_url": conversation_href(ref, "/tags/delete"),
                "story_url": conversation_href(ref, "/story.yml"),
            },
            status=status,
        )
    )


@require_staff()
async def transcript(request: web.Request) -> web.StreamResponse:
    found = _conversation(request)
    return await _transcript_page(request, *found) if found else _not_found(request)


def tag_problem(tag: str) -> str | None:
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
            present = await session.scalar(
                select(ConversationTag.id).where(ConversationTag.sender_id == sender_id, ConversationTag.tag == tag)
            )
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
        removed = rows_matched(
            await session.execute(
                delete(ConversationTag).where(ConversationTag.sender_id == sender_id, ConversationTag.tag == tag)
            )
        )
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
    return _no_store(
        web.Response(
            text=body,
            content_type="application/x-yaml",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="test_conversation_{safe}.yml"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    )


def setup(app: web.Application) -> None:
    app.router.add_get(CONVERSATIONS, conversation_list)
    app.router.add_get(conversation_href("{ref}"), transcript)
    app.router.add_post(conversation_href("{ref}", "/tags"), add_tag)
    app.router.add_post(conversation_href("{ref}", "/tags/delete"), remove_tag)
    app.router.add_get(conversation_href("{ref}", "/story.yml"), story)
