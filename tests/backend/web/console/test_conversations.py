"""The staff console's conversations over HTTP: the list with its search
and filters, masked transcripts, tags, the export as a test story, the
audit log, and refusal of anonymous requests.

Conversations are held with the real services (the `stack`). Most tests
use the stack's own backend, whose database also holds the claims, cards
and tickets the search looks up; the index and pagination tests run a
backend of their own on SQLite and PostgreSQL, reading the stack's
tracker store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlencode

import pytest_asyncio
import yaml
from sqlalchemy import func, select

from backend.config import async_database_url
from backend.conversations.tracker import TrackerStore
from backend.db import Database
from backend.models import AgentReply, AuditEntry, ConversationSummary, ConversationTag
from backend.web.console.refs import conversation_ref
from contract.beijing import BEIJING
from identity import mask_id, mask_name, validate_id
from tests.backend.conversations.test_transcripts import K12, MOBILE, REALNAME, Chats, hold_conversations
from tests.chat_client import session_secret
from tests.conftest import reset_schema, serve_api
from tests.stack import FULL_ID, NEEDS_STACK, Stack, say
from tests.staff_client import StaffClient, signed_in

pytestmark = NEEDS_STACK

XSS = "<img src=x onerror=alert(1)>"


def ref(sender: str) -> str:
    """A conversation's opaque reference in the console (the stacks run on
    the development session secret, like the backends of these tests)."""
    return conversation_ref(session_secret(), sender)


def href(sender: str, suffix: str = "") -> str:
    return f"/staff/conversations/{ref(sender)}{suffix}"


def listed(html: str, sender: str) -> bool:
    return f'href="{href(sender)}"' in html


@pytest_asyncio.fixture(scope="module")
async def chats(stack: Stack) -> Chats:
    assert session_secret(stack.env) == session_secret()
    return await hold_conversations(stack, "cv")


@pytest_asyncio.fixture(scope="module")
async def stack_db(stack: Stack) -> AsyncIterator[Database]:
    db = Database(async_database_url(stack.env["BACKEND_DATABASE_URL"]))
    yield db
    await db.dispose()


@pytest_asyncio.fixture
async def agent(stack: Stack, stack_db: Database) -> AsyncIterator[StaffClient]:
    client = await signed_in(stack.backend_url, stack_db, "cv-agent", "agent")
    yield client
    await client.close()


async def audit_entries(db: Database, username: str, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.staff_username == username, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        )


async def list_page(client: StaffClient, **params: str) -> str:
    page = await client.get("/staff/conversations" + ("?" + urlencode(params) if params else ""), follow=True)
    assert page.status == 200, page.text[:500]
    assert page.headers["Cache-Control"] == "no-store"
    return page.text


async def check_filters(client: StaffClient, c: Chats) -> None:
    """Each filter of the list, on the five conversations of `c`."""
    mine = (c.k12, c.realname, c.human, c.failure, c.phone, c.started)
    suffix = c.k12.rsplit("-", 1)[1]

    async def shown(**params: str) -> set[str]:
        html = await list_page(client, q=suffix, **params)
        return {who for who in mine if listed(html, who)}

    assert await shown() == set(mine)
    assert await shown(path="k12_student") == {c.k12, c.failure}
    assert await shown(path="teacher") == {c.realname}
    assert await shown(path="parent") == {c.started}
    assert await shown(path="none") == {c.human, c.phone}
    assert await shown(outcome="issued") == {c.k12, c.realname}
    assert await shown(outcome="failed") == {c.failure}
    assert await shown(outcome="inquiry") == {c.human, c.phone}
    assert await shown(outcome="in_progress") == {c.started}
    assert await shown(outcome="abandoned") == set()  # all of them are recent
    assert await shown(failure="identity_not_found") == {c.failure}
    assert await shown(failure="guardian_mismatch") == set()
    assert await shown(handed_off="yes") == {c.human}
    assert await shown(handed_off="no") == set(mine) - {c.human}
    today = dt.datetime.now(BEIJING).date()
    assert await shown(**{"from": today.isoformat(), "to": today.isoformat()}) == set(mine)
    assert await shown(to=(today - dt.timedelta(days=1)).isoformat()) == set()
    assert await shown(**{"from": (today + dt.timedelta(days=1)).isoformat()}) == set()
    assert await shown(path="k12_student", outcome="failed") == {c.failure}
    assert await shown(path="teacher", outcome="failed") == set()
    html = await list_page(client, q=c.k12)
    assert listed(html, c.k12) and not listed(html, c.realname)
    # Unknown filter values are ignored rather than failing.
    assert await shown(path="astronaut", outcome="??", page="x") == set(mine)


async def test_anonymous_requests_are_sent_to_the_login(stack: Stack, chats: Chats) -> None:
    async with StaffClient(stack.backend_url) as anonymous:
        for path in ("/staff/conversations", href(chats.k12), href(chats.k12, "/story.yml")):
            page = await anonymous.get(path)
            assert page.status == 302 and page.location.startswith("/staff/login?next="), path
            assert K12.name[0] not in page.text and K12.id_number[-4:] not in page.text
        page = await anonymous.post(href(chats.k12, "/tags"), {"tag": "x", "csrf_token": "forged"}, csrf=False)
        assert page.status == 302 and page.location.startswith("/staff/login")


async def test_list_filters_and_search(stack: Stack, chats: Chats, agent: StaffClient, stack_db: Database) -> None:
    await check_filters(agent, chats)
    # A full ID number finds the conversations that claimed with it (not
    # those that merely mention it), a card number its claim, a ticket
    # number its hand-over.
    searched = await agent.get("/staff/conversations?" + urlencode({"q": K12.id_number}))
    assert searched.status == 303 and K12.id_number not in searched.location  # the ID leaves the address
    assert f"q={mask_id(K12.id_number)}" in unquote(searched.location) and "idh=" in searched.location
    html = (await agent.get(searched.location)).text
    assert listed(html, chats.k12) and not listed(html, chats.phone) and not listed(html, chats.realname)
    assert K12.id_number not in html and f'value="{mask_id(K12.id_number)}"' in html and 'name="idh"' in html
    spaced = " ".join(K12.id_number[i : i + 6] for i in range(0, 18, 6))
    assert listed(await list_page(agent, q=spaced), chats.k12)
    # The masked form alone (without the hash) finds nothing.
    assert not listed(await list_page(agent, q=mask_id(K12.id_number)), chats.k12)
    html = await list_page(agent, q=REALNAME.id_number)
    assert listed(html, chats.realname) and not listed(html, chats.k12)
    html = await list_page(agent, q=chats.card_number)
    assert listed(html, chats.k12) and not listed(html, chats.realname)
    html = await list_page(agent, q=chats.ticket_number)
    assert listed(html, chats.human) and not listed(html, chats.k12)
    searches = [e.detail for e in await audit_entries(stack_db, "cv-agent", "search_conversations")]
    assert f"id: {mask_id(K12.id_number)}" in searches and f"ticket: {chats.ticket_number}" in searches
    assert not any(FULL_ID.search(d or "") for d in searches)
    # The row: outcome, path, failure, hand-over.
    html = await list_page(agent, q=chats.failure)
    row = html[html.index(href(chats.failure)) :]
    row = row[: row.index("</tr>")]
    assert "中小学生/中职学生" in row and "领卡失败" in row and "未核验到身份" in row and "<td>7</td>" in row


async def test_transcript_is_masked_and_audited(
    stack: Stack, chats: Chats, agent: StaffClient, stack_db: Database
) -> None:
    page = await agent.get(href(chats.k12))
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert not FULL_ID.search(html) and K12.name not in html
    for shown in (
        f"我叫{mask_name(K12.name)}",
        mask_id(K12.id_number),
        "点击按钮：「中小学生/中职学生」",
        "tr-button-pressed",
        "意图 <code>claim_card</code>",
        f"槽位 <code>person_name</code> = {mask_name(K12.name)}",
        "动作 <code>action_claim_card</code>",
        "表单 <code>claim_form</code> 开始",
        chats.card_number,
        "已领卡",
    ):
        assert shown in html, shown
    assert "parse_data" not in html and "intent_ranking" not in html  # no raw event JSON
    page = await agent.get(href(chats.realname))
    assert page.status == 200 and not FULL_ID.search(page.text) and REALNAME.name not in page.text
    assert mask_name(REALNAME.name) in page.text and mask_id(REALNAME.id_number) in page.text
    page = await agent.get(href(chats.phone))
    assert "138****5678" in page.text and MOBILE not in page.text and not FULL_ID.search(page.text)
    views = [e.target for e in await audit_entries(stack_db, "cv-agent", "view_transcript")]
    assert {ref(chats.k12), ref(chats.realname), ref(chats.phone)} <= set(views)
    # Pages name the conversation by its reference, never by its id.
    assert chats.k12 not in html and ref(chats.k12)[:12] in html
    missing = await agent.get(href("cv-nobody-" + uuid.uuid4().hex))
    assert missing.status == 404 and "未找到会话" in missing.text


async def test_handover_transcript_shows_ticket_and_agent_reply(
    stack: Stack, chats: Chats, agent: StaffClient, stack_db: Database
) -> None:
    ticket_id = int(chats.ticket_number[9:])
    reply = await agent.post(f"/staff/tickets/{ticket_id}/reply", {"text": "您好，我来帮您，请留手机 13912345678"})
    assert reply.status == 303, reply.text[:300]
    async with stack_db.reading() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(AgentReply).where(AgentReply.channel_user == chats.human)
            )
            == 1
        )
    html = (await agent.get(href(chats.human))).text
    assert f'<a href="/staff/tickets/{ticket_id}">{chats.ticket_number}</a>' in html and "转人工" in html
    assert "客服 cv-agent" in html and "您好，我来帮您，请留手机 139****5678" in html and "13912345678" not in html
    # By time: the user's 转人工, then the bot's answer, then the agent.
    assert html.index("转人工</span></div>") < html.index("已为您转接人工客服") < html.index("您好，我来帮您")


async def test_tags_are_added_filtered_escaped_and_removed(
    stack: Stack, chats: Chats, agent: StaffClient, stack_db: Database
) -> None:
    page = await agent.post(href(chats.k12, "/tags"), {"tag": "  NLU错误 "})
    assert page.status == 303 and page.location == href(chats.k12)
    await agent.post(href(chats.k12, "/tags"), {"tag": "NLU错误"})  # twice: still one tag
    assert (await agent.post(href(chats.k12, "/tags"), {"tag": XSS})).status == 303
    async with stack_db.reading() as session:
        tags = list(await session.scalars(select(ConversationTag.tag).where(ConversationTag.sender_id == chats.k12)))
    assert sorted(tags) == sorted(["NLU错误", XSS])
    html = (await agent.get(href(chats.k12))).text
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "NLU错误" in html
    suffix = chats.k12.rsplit("-", 1)[1]
    html = await list_page(agent, q=suffix, tag="NLU错误")
    assert listed(html, chats.k12) and not listed(html, chats.realname)
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert listed(await list_page(agent, q=suffix, tag=XSS), chats.k12)
    # Refused: empty, too long, no CSRF token, an unknown conversation.
    for bad in ("   ", "长" * 33):
        page = await agent.post(href(chats.k12, "/tags"), {"tag": bad})
        assert page.status == 400 and 'id="tag-error"' in page.text
    page = await agent.post(href(chats.k12, "/tags"), {"tag": "需跟进", "csrf_token": "forged"})
    assert page.status == 403
    page = await agent.post(href("cv-nobody-" + uuid.uuid4().hex, "/tags"), {"tag": "需跟进"})
    assert page.status == 404
    page = await agent.post(href(chats.k12, "/tags/delete"), {"tag": XSS})
    assert page.status == 303
    page = await agent.post(href(chats.k12, "/tags/delete"), {"tag": "NLU错误"}, csrf=False)
    assert page.status == 403
    async with stack_db.reading() as session:
        tags = list(await session.scalars(select(ConversationTag.tag).where(ConversationTag.sender_id == chats.k12)))
    assert tags == ["NLU错误"]
    added = [(e.target, e.detail) for e in await audit_entries(stack_db, "cv-agent", "tag_conversation")]
    removed = [(e.target, e.detail) for e in await audit_entries(stack_db, "cv-agent", "untag_conversation")]
    k12 = ref(chats.k12)
    assert (k12, "NLU错误") in added and (k12, XSS) in added and removed == [(k12, XSS)]


async def test_export_downloads_a_test_story(
    stack: Stack, chats: Chats, agent: StaffClient, stack_db: Database
) -> None:
    page = await agent.get(href(chats.k12, "/story.yml"))
    assert page.status == 200
    assert page.headers["Content-Disposition"] == f'attachment; filename="test_conversation_{ref(chats.k12)[:12]}.yml"'
    assert page.headers["Content-Type"].startswith("application/x-yaml")
    assert not {K12.id_number} & set(FULL_ID.findall(page.text)) and K12.name not in page.text
    story = yaml.safe_load(page.text)["stories"][0]
    fake = next(
        s["slot_was_set"][0]["id_number"] for s in story["steps"] if "id_number" in s.get("slot_was_set", [{}])[0]
    )
    assert validate_id(fake).ok and fake != K12.id_number
    assert {"action": "action_claim_card"} in story["steps"]
    assert [e.target for e in await audit_entries(stack_db, "cv-agent", "export_story")][-1] == ref(chats.k12)
    assert chats.k12 not in page.text
    assert (await agent.get(href("cv-nobody-" + uuid.uuid4().hex, "/story.yml"))).status == 404


async def test_markup_in_a_sender_id_is_escaped(stack: Stack, agent: StaffClient) -> None:
    sender = f'cv-x"><img src=x onerror=alert(1)>-{uuid.uuid4().hex[:6]}'
    await say(stack, sender, "你好")
    html = await list_page(agent, q=sender[-6:])
    assert listed(html, sender) and "<img src=x" not in html  # listed by its reference
    page = await agent.get(href(sender))
    assert page.status == 200 and "<img src=x" not in page.text


async def test_own_backend_indexes_the_tracker_store_and_pages(stack: Stack, chats: Chats, database_url: str) -> None:
    """A backend of its own (SQLite and PostgreSQL) reading the stack's
    tracker store: the index catches up on the list request; 50 a page."""
    crowd = f"cv-crowd-{uuid.uuid4().hex[:6]}"
    for i in range(53):
        await say(stack, f"{crowd}-{i:02d}", "你好")
    await reset_schema(database_url)
    tracker_url = async_database_url(stack.env["BACKEND_TRACKER_URL"])
    async for api in serve_api(database_url, tracker_url=tracker_url):
        client = await signed_in(f"http://127.0.0.1:{api.client.port}", api.db, "cv-admin", "admin")
        try:
            await check_filters(client, chats)
            first = await list_page(client, q=crowd)
            crowd_listed = [f"{crowd}-{i:02d}" for i in range(53)]
            assert sum(listed(first, c) for c in crowd_listed) == 50 and 'rel="next"' in first
            second = await list_page(client, q=crowd, page="2")
            assert sum(listed(second, c) for c in crowd_listed) == 3 and 'rel="next"' not in second
            assert 'rel="prev"' in second
            # Newest activity first.
            assert listed(first, f"{crowd}-52") and listed(second, f"{crowd}-00")
            # Every conversation of the tracker store is indexed once.
            store = TrackerStore(tracker_url)
            try:
                senders = {e.sender_id for e in await store.events_after(0, 1_000_000)}
            finally:
                await store.close()
            async with api.db.reading() as session:
                indexed = set(await session.scalars(select(ConversationSummary.sender_id)))
            assert indexed == senders
            # Tags on this backend's database.
            assert (await client.post(href(chats.failure, "/tags"), {"tag": "流程问题"})).status == 303
            html = await list_page(client, tag="流程问题")
            assert listed(html, chats.failure) and not listed(html, chats.k12)
        finally:
            await client.close()
