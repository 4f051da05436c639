"""The 转人工 ticket queue of the staff console.

The bot opens a ticket (POST /api/v1/tickets); here an agent takes it
(open -> assigned), reads the transcript, replies to the user (an
AgentReply row, which the web chat page polls for) and resolves it.

State changes are conditional UPDATEs (`... WHERE status = 'open'`) whose
row count says who won, so two agents taking one ticket at once cannot both
get it. Taking a ticket another agent holds needs the `takeover` field and
the holder's name as the form showed it (`holder`): a hand-over that raced
with a third agent is refused rather than silently taken from them.
Every state change is audited (ticket_take, ticket_reply, ticket_resolve,
ticket_reopen, ticket_release); opening a ticket page is too (view_ticket),
and so is each view of the queue (view_tickets, with its tab and page).
A ticket's conversation is named by its opaque reference (refs.py),
never by its id.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.appkeys import DB, SETTINGS
from backend.claims.attempts import latest_attempts
from backend.db import rows_matched
from backend.models import AgentReply, Ticket, utcnow
from backend.web.console.auth import audit, checked_form, render, require_staff, staff_of
from backend.web.console.refs import conversation_ref, ref_label
from backend.web.console.ticket_stats import ticket_counts
from backend.web.console.urls import TICKETS, conversation_href, ticket_href
from contract import beijing as clock
from contract.failures import FAILURE_LABELS, NO_FAILURE_LABEL
from contract.paths import NO_PATH_LABEL, PATH_LABELS
from contract.staff import TICKET_REASON_LABELS, TICKET_STATUS_LABELS
from identity.freetext import mask_for_staff
from identity.logfilter import redact

PAGE_SIZE = 50
MAX_REPLY = 1000
MAX_NOTE = 200
TABS = (*TICKET_STATUS_LABELS.items(), ("all", "全部"))
ACTION_LABELS = {"claim": "领卡", "refresh": "更新身份", "match": "核验"}
# Notices after a POST (the redirect carries a code, never free text).
NOTICES = {
    "taken": ("ok", "已接手，请查看会话记录后回复用户。"),
    "taken_over": ("ok", "已从原处理人处接手。"),
    "already_yours": ("ok", "此工单已由您处理。"),
    "held": ("error", "此工单已被其他客服接手。如需转给自己处理，请勾选“确认转给我”后再接手。"),
    "takeover_lost": ("error", "工单状态刚刚发生了变化，请查看最新状态后再操作。"),
    "replied": ("ok", "回复已发送，用户会在聊天窗口中看到。"),
    "reply_closed": ("error", "工单已解决，不能再回复；如需继续处理，请先重新打开。"),
    "resolved": ("ok", "工单已标记为已解决。"),
    "already_resolved": ("error", "工单已经是已解决状态。"),
    "reopened": ("ok", "工单已重新打开，由您处理。"),
    "not_resolved": ("error", "工单尚未解决，无需重新打开。"),
    "released": ("ok", "已放回待处理队列。"),
    "not_yours": ("error", "只能放回由您处理中的工单。"),
}
_SUMMARY = re.compile(r"^role=(\S*) failure=(\S*)$")


def beijing(t: dt.datetime | None) -> str:
    """A stored (naive UTC) time as Beijing time."""
    return clock.beijing(t).strftime("%Y-%m-%d %H:%M") if t else ""


def summary_text(summary: str | None) -> str:
    """The bot's summary ("role=parent failure=guardian_mismatch") in words;
    anything else as given, with ID numbers masked."""
    if not summary:
        return ""
    m = _SUMMARY.match(summary.strip())
    if m:
        role, failure = (None if v in ("", "None") else v for v in m.groups())
        return (
            f"身份：{PATH_LABELS.get(role or '', role or NO_PATH_LABEL)}；"
            f"失败原因：{FAILURE_LABELS.get(failure or '', failure or NO_FAILURE_LABEL)}"
        )
    return mask_for_staff(summary)


def ticket_view(t: Ticket, secret: str) -> dict[str, Any]:
    ref = conversation_ref(secret, t.channel_user)
    return {
        "id": t.id,
        "number": t.number,
        "status": t.status,
        "status_label": TICKET_STATUS_LABELS.get(t.status, t.status),
        "reason": TICKET_REASON_LABELS.get(t.reason, mask_for_staff(t.reason)),
        "summary": summary_text(t.summary),
        "summary_raw": mask_for_staff(t.summary or ""),
        "conversation": ref_label(ref),
        "conversation_url": conversation_href(ref),
        "assigned_to": t.assigned_to or "",
        "created": beijing(t.created_at),
        "updated": beijing(t.updated_at),
        "resolved": beijing(t.resolved_at),
    }


def _ticket_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["ticket_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**31:
        raise web.HTTPNotFound()
    return value


def _back(ticket_id: int, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(ticket_href(ticket_id, f"?notice={notice}"))


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _changes(**values: Any) -> dict[str, Any]:
    return {"updated_at": utcnow(), **values}


@require_staff()
async def ticket_queue(request: web.Request) -> web.StreamResponse:
    status = request.query.get("status", "open")
    if status not in dict(TABS):
        status = "open"
    mine = request.query.get("mine") == "1"
    try:
        page = min(max(int(request.query.get("page", "1")), 1), 100_000)
    except ValueError:
        page = 1
    me = staff_of(request).username
    query = select(Ticket)
    if status != "all":
        query = query.where(Ticket.status == status)
    if mine:
        query = query.where(Ticket.assigned_to == me)
    if status in ("open", "assigned"):
        query = query.order_by(Ticket.created_at, Ticket.id)  # oldest first: who waited longest
    elif status == "resolved":
        query = query.order_by(Ticket.resolved_at.desc(), Ticket.id.desc())
    else:
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    async with request.app[DB].reading() as session:
        counts = await ticket_counts(session)
        rows = (await session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).all()
    shown = [f"status={status}"] + (["mine=1"] if mine else []) + ([f"page={page}"] if page > 1 else [])
    await audit(request, "view_tickets", None, "; ".join(shown))
    secret = request.app[SETTINGS].session_secret
    return render(
        request,
        "staff/tickets.html",
        {
            "tabs": TABS,
            "status": status,
            "mine": mine,
            "counts": counts,
            "page": page,
            "tickets": [ticket_view(t, secret) for t in rows[:PAGE_SIZE]],
            "has_next": len(rows) > PAGE_SIZE,
        },
    )


async def _detail(request: web.Request, ticket_id: int, **extra: Any) -> dict[str, Any]:
    async with request.app[DB].reading() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise web.HTTPNotFound(text="工单不存在。", content_type="text/plain")
        replies = (
            await session.scalars(select(AgentReply).where(AgentReply.ticket_id == ticket_id).order_by(AgentReply.id))
        ).all()
        others = (
            await session.scalars(
                select(Ticket)
                .where(Ticket.channel_user == ticket.channel_user, Ticket.id != ticket_id)
                .order_by(Ticket.id.desc())
                .limit(10)
            )
        ).all()
        attempts = await latest_attempts(session, channel_user=ticket.channel_user, limit=10)
    notice = NOTICES.get(request.query.get("notice", ""))
    secret = request.app[SETTINGS].session_secret
    return {
        "ticket": ticket_view(ticket, secret),
        "replies": [{"staff": r.staff_username, "text": r.text, "time": beijing(r.created_at)} for r in replies],
        "others": [ticket_view(t, secret) for t in others],
        "attempts": [
            {
                **a,
                "time": beijing(dt.datetime.fromisoformat(a["time"]).replace(tzinfo=None)),
                "action_label": ACTION_LABELS.get(a["action"], a["action"]),
                "path_label": PATH_LABELS.get(a["path"] or "", a["path"] or ""),
                "failure_label": FAILURE_LABELS.get(a["failure_code"] or "", a["failure_code"] or ""),
            }
            for a in attempts
        ],
        "notice": notice,
        "me": staff_of(request).username,
        "max_reply": MAX_REPLY,
        "draft": "",
        "error": None,
        **extra,
    }


@require_staff()
async def ticket_page(request: web.Request) -> web.StreamResponse:
    ticket_id = _ticket_id(request)
    context = await _detail(request, ticket_id)
    await audit(request, "view_ticket", context["ticket"]["number"])
    return render(request, "staff/ticket.html", context)


async def _load(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise web.HTTPNotFound(text="工单不存在。", content_type="text/plain")
    return ticket


async def _set(session: AsyncSession, ticket_id: int, *conditions: Any, **values: Any) -> bool:
    """One conditional UPDATE of a ticket; True when this request changed it."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, *conditions)
        .values(**_changes(**values))
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1


@require_staff()
async def take(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    ticket_id, me = _ticket_id(request), staff_of(request).username
    detail: str | None = None
    async with request.app[DB].writing() as session:
        ticket = await _load(session, ticket_id)
        number = ticket.number
        if await _set(session, ticket_id, Ticket.status == "open", status="assigned", assigned_to=me):
            notice, detail = "taken", "接手"
        else:
            await session.refresh(ticket)
            holder = _field(form, "holder")
            if ticket.status == "resolved":
                notice = "already_resolved"
            elif ticket.assigned_to == me:
                notice = "already_yours"
            elif _field(form, "takeover") != "1":
                notice = "held"
            elif (
                holder
                and holder == ticket.assigned_to
                and await _set(
                    session, ticket_id, Ticket.status == "assigned", Ticket.assigned_to == holder, assigned_to=me
                )
            ):
                notice, detail = "taken_over", f"从 {holder} 转来"
            else:
                notice = "takeover_lost"
    if detail:
        await audit(request, "ticket_take", number, detail)
    raise _back(ticket_id, notice)


@require_staff()
async def reply(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    ticket_id, me = _ticket_id(request), staff_of(request).username
    text = _field(form, "text").replace("\r\n", "\n").strip()
    if not 1 <= len(text) <= MAX_REPLY:
        error = "请填写回复内容。" if not text else f"回复最多 {MAX_REPLY} 个字。"
        context = await _detail(request, ticket_id, error=error, draft=text[: MAX_REPLY * 2])
        return render(request, "staff/ticket.html", context, status=400)
    text = redact(text)  # the chat never needs a full ID number from us
    async with request.app[DB].writing() as session:
        ticket = await _load(session, ticket_id)
        number = ticket.number
        if ticket.status == "resolved":
            raise _back(ticket_id, "reply_closed")
        session.add(
            AgentReply(
                channel_user=ticket.channel_user, ticket_id=ticket_id, staff_username=me, text=text, created_at=utcnow()
            )
        )
        # An open ticket becomes the replier's; an assigned one stays with its holder.
        if not await _set(session, ticket_id, Ticket.status == "open", status="assigned", assigned_to=me):
            await _set(session, ticket_id, Ticket.status == "assigned")
    excerpt = text if len(text) <= 120 else text[:120] + "…"
    await audit(request, "ticket_reply", number, f"{len(text)} 字：{excerpt}")
    raise _back(ticket_id, "replied")


@require_staff()
async def resolve(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    ticket_id, me = _ticket_id(request), staff_of(request).username
    note = redact(_field(form, "note").strip())[:MAX_NOTE]
    async with request.app[DB].writing() as session:
        number = (await _load(session, ticket_id)).number
        done = await _set(
            session,
            ticket_id,
            Ticket.status != "resolved",
            status="resolved",
            resolved_at=utcnow(),
            assigned_to=func.coalesce(Ticket.assigned_to, me),
        )
    if not done:
        raise _back(ticket_id, "already_resolved")
    await audit(request, "ticket_resolve", number, note or None)
    raise _back(ticket_id, "resolved")


@require_staff()
async def reopen(request: web.Request) -> web.StreamResponse:
    await checked_form(request)
    ticket_id, me = _ticket_id(request), staff_of(request).username
    async with request.app[DB].writing() as session:
        number = (await _load(session, ticket_id)).number
        done = await _set(
            session, ticket_id, Ticket.status == "resolved", status="assigned", assigned_to=me, resolved_at=None
        )
    if not done:
        raise _back(ticket_id, "not_resolved")
    await audit(request, "ticket_reopen", number)
    raise _back(ticket_id, "reopened")


@require_staff()
async def release(request: web.Request) -> web.StreamResponse:
    await checked_form(request)
    ticket_id, me = _ticket_id(request), staff_of(request).username
    async with request.app[DB].writing() as session:
        number = (await _load(session, ticket_id)).number
        done = await _set(
            session, ticket_id, Ticket.status == "assigned", Ticket.assigned_to == me, status="open", assigned_to=None
        )
    if not done:
        raise _back(ticket_id, "not_yours")
    await audit(request, "ticket_release", number)
    raise _back(ticket_id, "released")


def setup(app: web.Application) -> None:
    app.router.add_get(TICKETS, ticket_queue)
    app.router.add_get(ticket_href(r"{ticket_id:\d+}"), ticket_page)
    app.router.add_post(ticket_href(r"{ticket_id:\d+}", "/take"), take)
    app.router.add_post(ticket_href(r"{ticket_id:\d+}", "/reply"), reply)
    app.router.add_post(ticket_href(r"{ticket_id:\d+}", "/resolve"), resolve)
    app.router.add_post(ticket_href(r"{ticket_id:\d+}", "/reopen"), reopen)
    app.router.add_post(ticket_href(r"{ticket_id:\d+}", "/release"), release)
