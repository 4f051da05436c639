"""The 转人工 ticket queue through the real staff console: tickets opened as
the bot opens them (POST /api/v1/tickets with the service token), staff
signed in through the login form, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import select

from backend.config import DEV_SESSION_SECRET
from backend.models import AgentReply, AuditEntry, Ticket, utcnow
from backend.web.chat_page import COOKIE, conversation_sender
from backend.web.console.refs import conversation_ref
from tests.conftest import Api
from tests.people import XIAOMING
from tests.staff_client import StaffClient, signed_in

MASKED_XIAOMING = XIAOMING.id_number[:4] + "*" * 10 + XIAOMING.id_number[-4:]


class Console:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.base_url = f"http://127.0.0.1:{api.client.port}"
        self.clients: list[StaffClient] = []

    async def staff(self, username: str, role: str = "agent") -> StaffClient:
        client = await signed_in(self.base_url, self.api.db, username, role)
        self.clients.append(client)
        return client

    def anonymous(self) -> StaffClient:
        client = StaffClient(self.base_url)
        self.clients.append(client)
        return client

    async def open_ticket(self, user: str, summary: str = "role=k12_student failure=identity_not_found") -> Ticket:
        status, body = await self.api.post("/api/v1/tickets", {"channel_user": user, "summary": summary})
        assert status == 201, body
        return await self.ticket_of(user)

    async def ticket_of(self, user: str) -> Ticket:
        async with self.api.db.reading() as session:
            return (
                await session.scalars(
                    select(Ticket).where(Ticket.channel_user == user).order_by(Ticket.id.desc()).limit(1)
                )
            ).one()

    async def ticket(self, ticket_id: int) -> Ticket:
        async with self.api.db.reading() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            return ticket

    async def replies(self, user: str) -> list[AgentReply]:
        async with self.api.db.reading() as session:
            return list(
                (
                    await session.scalars(
                        select(AgentReply).where(AgentReply.channel_user == user).order_by(AgentReply.id)
                    )
                ).all()
            )

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.api.db.reading() as session:
            return list(
                (
                    await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
                ).all()
            )


@pytest_asyncio.fixture
async def console(api: Api) -> AsyncIterator[Console]:
    c = Console(api)
    try:
        yield c
    finally:
        for client in c.clients:
            await client.close()


def ref(channel_user: str) -> str:
    """A conversation's reference in the console (the test apps' session secret)."""
    return conversation_ref(DEV_SESSION_SECRET, channel_user)


def queue_rows(html: str) -> list[str]:
    """Ticket numbers in the order the queue lists them."""
    return re.findall(r'class="ticket-row" data-ticket-id="\d+" data-ticket-number="(T\d+)"', html)


def tab_count(html: str, status: str) -> int:
    m = re.search(rf'data-status="{status}"[^>]*>[^<]*<span class="count" data-count="(\d+)"', html)
    assert m, f"no tab {status}"
    return int(m.group(1))


# -- access --------------------------------------------------------------------------------


async def test_anonymous_is_sent_to_the_login_form(console: Console) -> None:
    ticket = await console.open_ticket("web-anon")
    anon = console.anonymous()
    for path in ("/staff/tickets", f"/staff/tickets/{ticket.id}", "/staff/dashboard", "/staff/dashboard/report.csv"):
        page = await anon.get(path)
        assert page.status == 302, path
        assert page.location.startswith("/staff/login?next="), page.location
    page = await anon.post(f"/staff/tickets/{ticket.id}/take", csrf=False)
    assert page.status == 302 and page.location.startswith("/staff/login")
    assert (await console.ticket(ticket.id)).status == "open"


async def test_an_agent_cannot_see_the_dashboard(console: Console) -> None:
    agent = await console.staff("agent_a")
    assert (await agent.get("/staff/dashboard")).status == 403
    assert (await agent.get("/staff/dashboard/report.csv")).status == 403
    page = await agent.get("/staff/tickets")
    assert page.status == 200
    assert 'href="/staff/dashboard"' not in page.text  # not in an agent's navigation


async def test_posts_without_a_valid_csrf_token_are_refused(console: Console) -> None:
    ticket = await console.open_ticket("web-csrf")
    agent = await console.staff("agent_a")
    other = await console.staff("agent_b")
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": other.csrf or ""}):
        for action in ("take", "reply", "resolve"):
            page = await agent.post(f"/staff/tickets/{ticket.id}/{action}", {**data, "text": "hi"}, csrf=False)
            assert page.status == 403, (action, data)
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to) == ("open", None)
    assert await console.replies("web-csrf") == []


# -- the queue -----------------------------------------------------------------------------


async def test_queue_lists_open_tickets_oldest_first_with_counts(console: Console) -> None:
    first = await console.open_ticket("web-q1")
    second = await console.open_ticket("web-q2", "role=parent failure=guardian_mismatch")
    third = await console.open_ticket("web-q3")
    again = await console.api.post("/api/v1/tickets", {"channel_user": "web-q1"})  # one open ticket per user
    assert again[0] == 200 and again[1]["ticket_number"] == first.number
    agent = await console.staff("agent_a")
    await agent.post(f"/staff/tickets/{third.id}/take")

    page = await agent.get("/staff/tickets")
    assert page.status == 200
    assert queue_rows(page.text) == [first.number, second.number]
    assert (
        tab_count(page.text, "open"),
        tab_count(page.text, "assigned"),
        tab_count(page.text, "resolved"),
        tab_count(page.text, "all"),
    ) == (2, 1, 0, 3)
    assert "身份：家长代领；失败原因：监护人不符" in page.text
    # The conversation is linked by its opaque reference, never named by its id.
    assert f'href="/staff/conversations/{ref("web-q2")}"' in page.text and "web-q2" not in page.text

    assigned = await agent.get("/staff/tickets?status=assigned")
    assert queue_rows(assigned.text) == [third.number]
    assert "agent_a" in assigned.text
    everything = await agent.get("/staff/tickets?status=all")
    assert sorted(queue_rows(everything.text)) == sorted([first.number, second.number, third.number])
    assert queue_rows((await agent.get("/staff/tickets?status=bogus")).text) == [first.number, second.number]
    mine = await agent.get("/staff/tickets?status=all&mine=1")
    assert queue_rows(mine.text) == [third.number]


async def test_summaries_are_shown_with_id_numbers_masked(console: Console) -> None:
    # The API masks what it stores; a row written otherwise is masked when shown.
    status, _ = await console.api.post(
        "/api/v1/tickets", {"channel_user": "web-id", "summary": f"我的身份证号是 {XIAOMING.id_number}"}
    )
    assert status == 201
    async with console.api.db.writing() as session:
        session.add(
            Ticket(
                channel_user="web-raw",
                reason="request_human",
                status="open",
                created_at=utcnow(),
                summary=f"raw {XIAOMING.id_number} <b>bold</b>",
            )
        )
    agent = await console.staff("agent_a")
    page = await agent.get("/staff/tickets")
    assert XIAOMING.id_number not in page.text
    assert page.text.count(MASKED_XIAOMING) == 2
    assert "<b>bold</b>" not in page.text and "&lt;b&gt;bold&lt;/b&gt;" in page.text
    raw = await console.ticket_of("web-raw")
    detail = await agent.get(f"/staff/tickets/{raw.id}")
    assert detail.status == 200
    assert XIAOMING.id_number not in detail.text and MASKED_XIAOMING in detail.text


# -- take, reply, resolve --------------------------------------------------------------------


async def test_take_reply_resolve(console: Console) -> None:
    ticket = await console.open_ticket("web-flow")
    agent = await console.staff("agent_a")

    page = await agent.get(f"/staff/tickets/{ticket.id}")
    assert page.status == 200
    assert f'id="ticket-number">{ticket.number}<' in page.text
    assert f'id="ticket-transcript" href="/staff/conversations/{ref("web-flow")}"' in page.text
    assert "web-flow" not in page.text
    assert 'id="take-form"' in page.text

    taken = await agent.post(f"/staff/tickets/{ticket.id}/take")
    assert taken.status == 303 and taken.location == f"/staff/tickets/{ticket.id}?notice=taken"
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to) == ("assigned", "agent_a")
    assert stored.updated_at is not None

    text = f"  您好，已为您查询：证件 {XIAOMING.id_number} 的学籍状态正常。\r\n请重新领卡。  "
    replied = await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": text})
    assert replied.status == 303 and replied.location.endswith("?notice=replied")
    [reply] = await console.replies("web-flow")
    assert (reply.ticket_id, reply.staff_username) == (ticket.id, "agent_a")
    assert reply.text == f"您好，已为您查询：证件 {MASKED_XIAOMING} 的学籍状态正常。\n请重新领卡。"

    shown = await agent.get(replied.location)
    assert "回复已发送" in shown.text
    assert "请重新领卡。" in shown.text and XIAOMING.id_number not in shown.text

    resolved = await agent.post(f"/staff/tickets/{ticket.id}/resolve", {"note": "已电话回访"})
    assert resolved.status == 303 and resolved.location.endswith("?notice=resolved")
    stored = await console.ticket(ticket.id)
    assert stored.status == "resolved" and stored.resolved_at is not None and stored.assigned_to == "agent_a"
    again = await agent.post(f"/staff/tickets/{ticket.id}/resolve")
    assert again.location.endswith("?notice=already_resolved")
    closed = await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": "还有一件事"})
    assert closed.location.endswith("?notice=reply_closed")
    assert len(await console.replies("web-flow")) == 1

    queue = await agent.get("/staff/tickets?status=resolved")
    assert queue_rows(queue.text) == [ticket.number]
    assert tab_count(queue.text, "open") == 0

    # The bot opens a new ticket for this user now that the old one is resolved.
    status, body = await console.api.post("/api/v1/tickets", {"channel_user": "web-flow"})
    assert status == 201 and body["ticket_number"] != ticket.number

    [take] = await console.audit("ticket_take")
    assert (take.staff_username, take.target) == ("agent_a", ticket.number)
    [audited_reply] = await console.audit("ticket_reply")
    assert audited_reply.target == ticket.number
    assert XIAOMING.id_number not in (audited_reply.detail or "") and MASKED_XIAOMING in (audited_reply.detail or "")
    [resolve] = await console.audit("ticket_resolve")
    assert (resolve.target, resolve.detail) == (ticket.number, "已电话回访")
    assert [v.target for v in await console.audit("view_ticket")] == [ticket.number] * 2  # two page views


async def test_replying_to_an_open_ticket_assigns_it_and_reaches_the_chat_user(console: Console) -> None:
    key = uuid.uuid4().hex  # the chat page's conversation cookie
    sender = conversation_sender(DEV_SESSION_SECRET, key)  # the conversation id it stands for
    ticket = await console.open_ticket(sender)
    agent = await console.staff("agent_b")
    await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": "您好，我是人工客服。"})
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to) == ("assigned", "agent_b")
    # Another agent may add a reply; the ticket stays with its holder.
    helper = await console.staff("agent_c")
    await helper.post(f"/staff/tickets/{ticket.id}/reply", {"text": "补充一点。"})
    assert (await console.ticket(ticket.id)).assigned_to == "agent_b"
    replies = await console.replies(sender)
    assert [(r.staff_username, r.text, r.ticket_id) for r in replies] == [
        ("agent_b", "您好，我是人工客服。", ticket.id),
        ("agent_c", "补充一点。", ticket.id),
    ]
    # What the chat page polls for this conversation (and only this one).
    async with console.api.client.get("/chat/api/updates", headers={"Cookie": f"{COOKIE}={key}"}) as resp:
        assert resp.status == 200
        assert [r["text"] for r in (await resp.json())["replies"]] == ["您好，我是人工客服。", "补充一点。"]
    for other in ({"Cookie": f"{COOKIE}={uuid.uuid4().hex}"}, {"Cookie": f"{COOKIE}={sender[4:]}"}):
        async with console.api.client.get("/chat/api/updates", headers=other, params={"sender": sender}) as resp:
            assert (await resp.json())["replies"] == []


async def test_reply_text_is_checked_and_shown_escaped(console: Console) -> None:
    ticket = await console.open_ticket("web-xss")
    agent = await console.staff("agent_a")
    for bad in ("", "   \r\n  ", "长" * 1001):
        page = await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": bad})
        assert page.status == 400, len(bad)
        assert 'id="ticket-error"' in page.text
    assert await console.replies("web-xss") == []
    assert (await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": "长" * 1000})).status == 303

    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert (await agent.post(f"/staff/tickets/{ticket.id}/reply", {"text": payload})).status == 303
    page = await agent.get(f"/staff/tickets/{ticket.id}")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert (await console.replies("web-xss"))[-1].text == payload  # stored as typed: the chat escapes it too


async def test_two_agents_taking_at_once_exactly_one_wins(console: Console) -> None:
    tickets = [await console.open_ticket(f"web-race-{i}") for i in range(6)]
    a, b = await console.staff("agent_a"), await console.staff("agent_b")
    pages = await asyncio.gather(*[client.post(f"/staff/tickets/{t.id}/take") for t in tickets for client in (a, b)])
    for i, t in enumerate(tickets):
        outcomes = sorted(p.location.rsplit("=", 1)[-1] for p in pages[2 * i : 2 * i + 2])
        assert outcomes == ["held", "taken"], outcomes
        winner = "agent_a" if pages[2 * i].location.endswith("=taken") else "agent_b"
        stored = await console.ticket(t.id)
        assert (stored.status, stored.assigned_to) == ("assigned", winner)
    takes = await console.audit("ticket_take")
    assert Counter(e.target for e in takes) == Counter(t.number for t in tickets)


async def test_taking_over_a_held_ticket_needs_the_confirmation(console: Console) -> None:
    ticket = await console.open_ticket("web-takeover")
    a, b = await console.staff("agent_a"), await console.staff("agent_b")
    await a.post(f"/staff/tickets/{ticket.id}/take")
    assert (await a.post(f"/staff/tickets/{ticket.id}/take")).location.endswith("=already_yours")

    page = await b.get(f"/staff/tickets/{ticket.id}")
    assert 'name="takeover"' in page.text and 'name="holder" value="agent_a"' in page.text
    refused = await b.post(f"/staff/tickets/{ticket.id}/take")
    assert refused.location.endswith("=held")
    assert (await console.ticket(ticket.id)).assigned_to == "agent_a"
    stale = await b.post(f"/staff/tickets/{ticket.id}/take", {"takeover": "1", "holder": "agent_x"})
    assert stale.location.endswith("=takeover_lost")
    assert (await console.ticket(ticket.id)).assigned_to == "agent_a"
    moved = await b.post(f"/staff/tickets/{ticket.id}/take", {"takeover": "1", "holder": "agent_a"})
    assert moved.location.endswith("=taken_over")
    assert (await console.ticket(ticket.id)).assigned_to == "agent_b"
    assert [e.detail for e in await console.audit("ticket_take")] == ["接手", "从 agent_a 转来"]


async def test_release_and_reopen(console: Console) -> None:
    ticket = await console.open_ticket("web-release")
    a, b = await console.staff("agent_a"), await console.staff("agent_b")
    await a.post(f"/staff/tickets/{ticket.id}/take")
    assert (await b.post(f"/staff/tickets/{ticket.id}/release")).location.endswith("=not_yours")
    assert (await a.post(f"/staff/tickets/{ticket.id}/release")).location.endswith("=released")
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to) == ("open", None)

    assert (await b.post(f"/staff/tickets/{ticket.id}/reopen")).location.endswith("=not_resolved")
    await b.post(f"/staff/tickets/{ticket.id}/resolve")
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to) == ("resolved", "agent_b")
    page = await a.get(f"/staff/tickets/{ticket.id}")
    assert 'id="reopen-form"' in page.text and 'id="reply-form"' not in page.text
    assert (await a.post(f"/staff/tickets/{ticket.id}/reopen")).location.endswith("=reopened")
    stored = await console.ticket(ticket.id)
    assert (stored.status, stored.assigned_to, stored.resolved_at) == ("assigned", "agent_a", None)
    assert [e.action for e in await console.audit("ticket_release")] == ["ticket_release"]
    assert [e.staff_username for e in await console.audit("ticket_reopen")] == ["agent_a"]


async def test_unknown_tickets_are_not_found(console: Console) -> None:
    agent = await console.staff("agent_a")
    assert (await agent.get("/staff/tickets/999999")).status == 404
    assert (await agent.post("/staff/tickets/999999/take")).status == 404
    assert (await agent.post("/staff/tickets/999999/reply", {"text": "hi"})).status == 404
    assert (await agent.get("/staff/tickets/abc")).status == 404


async def test_the_ticket_page_shows_the_users_claim_attempts_masked(console: Console) -> None:
    await console.api.claim(
        path="k12_student", name=XIAOMING.name, id_number=XIAOMING.id_number, channel_user="web-attempts"
    )
    await console.api.claim(path="k12_student", name="张三", id_number=XIAOMING.id_number, channel_user="web-attempts")
    ticket = await console.open_ticket("web-attempts")
    agent = await console.staff("agent_a")
    page = await agent.get(f"/staff/tickets/{ticket.id}")
    table = page.text.split('id="ticket-attempts"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert table.count("<tr>") == 2
    assert "未核验到身份" in table and "成功" in table and "李*明" in table
    assert MASKED_XIAOMING in table and XIAOMING.id_number not in page.text
