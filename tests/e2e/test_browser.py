"""The web chat page and the staff console in real headless Chromium,
against the running stack (backend + action server + Rasa, see
tests/stack.py): a card claimed by tapping buttons and typing, a reload
mid-conversation, markup typed as a message, a 转人工 answered by an agent
in the console, and the admin's dashboard.

Screenshots land in tests/artifacts/ (not committed); with
XXH_UPDATE_SCREENSHOTS=1 the chat page's and the dashboard's are also
copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import func, select

from backend.claims.cardnumber import is_valid_card_number
from backend.config import async_database_url
from backend.db import Database
from backend.models import Card, Ticket
from backend.web.chat_page import COOKIE, conversation_sender
from backend.web.console.staff import create_staff
from identity import mask_id
from tests.chat_client import session_secret
from tests.e2e.browser import Browser, publish
from tests.people import SUSPENDED, VOCATIONAL
from tests.stack import FULL_ID, NEEDS_STACK, Stack, slots

pytestmark = NEEDS_STACK
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TICKET_NUMBER = re.compile(r"T\d{13}")
CARD_NUMBER = re.compile(r"(?<!\d)36\d{10}(?!\d)")


# -- the chat page ------------------------------------------------------------------------


class Chat:
    """The chat page in the phone browser, used the way a person uses it."""

    def __init__(self, browser: Browser, stack: Stack) -> None:
        self.b = browser
        self.b.base_url = stack.backend_url
        self.secret = session_secret(stack.env)
        self.b.open("/")
        self.b.wait_visible(".msg.welcome", "the welcome message")

    def count(self, kind: str) -> int:
        return len(self.b.find_all(f"#messages .msg.{kind}"))

    def bot_texts(self) -> list[str]:
        return [e.find_element(By.CSS_SELECTOR, ".text").text for e in self.b.find_all("#messages .msg.bot")]

    def user_texts(self) -> list[str]:
        return [e.find_element(By.CSS_SELECTOR, ".text").text for e in self.b.find_all("#messages .msg.user")]

    def cookie(self) -> dict[str, Any]:
        """The conversation cookie as the browser keeps it (HttpOnly, path
        /chat/api: neither the page's script nor WebDriver's cookie API for
        the page at / sees it; Chromium's DevTools protocol does)."""
        cookies = self.b.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        found = [c for c in cookies if c["name"] == COOKIE]
        assert len(found) == 1, found
        return dict(found[0])

    @property
    def sender(self) -> str:
        """The conversation id (Rasa's sender) the browser's cookie stands for."""
        return conversation_sender(self.secret, str(self.cookie()["value"]))

    def assert_bound_to_the_browser(self) -> None:
        """The conversation is in an HttpOnly, SameSite=Strict cookie; the page
        knows nothing of it and keeps nothing in browser storage."""
        c = self.cookie()
        assert c["httpOnly"] is True and c["sameSite"] == "Strict" and c["path"] == "/chat/api", c
        page = self.b.driver.execute_script("return [document.cookie, localStorage.length, sessionStorage.length]")
        assert page == ["", 0, 0], page

    def _answered(self, act: Any, what: str) -> str:
        """Do `act`, wait for the bot's answer and return its text."""
        bots, notices = self.count("bot"), self.count("system")
        act()
        self.b.wait_for(
            lambda d: (
                (self.count("bot") > bots or self.count("system") > notices)
                and not self.b.find("#typing").is_displayed()
            ),
            f"the bot's answer to {what}",
        )
        assert self.count("system") == notices, self.b.texts("#messages .msg.system")
        return "\n".join(self.bot_texts()[bots:])

    def type(self, text: str) -> str:
        def act() -> None:
            self.b.type_into("#input", text)
            self.b.find("#send").click()

        return self._answered(act, repr(text))

    def button(self, title: str) -> Any:
        def enabled(d: Any) -> Any:
            for e in reversed(self.b.find_all("#messages .quick-replies button, #messages .suggestions button")):
                if e.text.strip() == title and e.is_enabled():
                    return e
            return False

        return self.b.wait_for(enabled, f"a button {title!r} to tap")

    def tap(self, title: str) -> str:
        button = self.button(title)
        return self._answered(lambda: self.b.tap(button), f"tapping {title!r}")

    def reload(self, users: int) -> None:
        """Reload the page; wait until the conversation is restored."""
        self.b.driver.refresh()
        self.b.wait_for(
            lambda d: self.count("user") == users and self.count("bot") > 0,
            f"the restored history ({users} user messages)",
        )


@pytest.fixture
def chat(phone: Browser, stack: Stack) -> Iterator[Chat]:
    yield Chat(phone, stack)
    errors = phone.console_errors()
    assert not errors, errors  # no script errors, nothing refused by the page's policy


async def test_claim_a_card_by_tapping_and_typing_with_a_reload_midway(chat: Chat, stack: Stack) -> None:
    person = VOCATIONAL  # a K-12 (vocational school) student no other stack test claims for
    answer = chat.tap("我要领卡")  # a suggestion of the welcome message
    assert "身份" in answer
    assert "本人" in chat.tap("中小学生/中职学生")
    assert "姓名" in chat.tap("本人领取")
    assert "身份证号" in chat.type(person.name)

    # Reload mid-conversation: the history is back and the claim continues.
    chat.reload(users=4)
    assert chat.user_texts() == ["我要领卡", "中小学生/中职学生", "本人领取", person.name]
    assert "身份证号" in chat.bot_texts()[-1]
    assert "人脸识别" in chat.type(person.id_number)
    assert (await slots(stack, chat.sender))["id_number"] == person.id_number

    # Again: the ID number typed is shown masked from now on, and the
    # buttons of the last question work.
    chat.reload(users=5)
    assert chat.user_texts()[-1] == mask_id(person.id_number)
    assert not FULL_ID.search(chat.b.driver.page_source)
    confirm = chat.tap("开通")
    # The confirmation shows every character to the person who typed them...
    assert "请确认" in confirm and person.id_number in confirm and person.name in confirm
    # ...and a reload masks them again.
    chat.reload(users=6)
    assert not FULL_ID.search(chat.b.driver.page_source)
    done = chat.tap("确认无误，领卡")
    assert "领卡成功" in done, done
    state = await slots(stack, chat.sender)
    assert is_valid_card_number(state["card_number"]) and state["card_number"] in done
    assert (state["role"], state["face_verification"], state["person_name"]) == ("k12_student", True, person.name)
    assert CARD_NUMBER.search(chat.bot_texts()[-1])
    # Every quick reply was tapped at most once: all but none are disabled now.
    assert all(not e.is_enabled() for e in chat.b.find_all("#messages .quick-replies button")[:-2])
    publish(chat.b.screenshot("chat"))

    # 新的对话: a new conversation (the backend's new cookie), only the
    # greeting, and a fresh start.
    chat.assert_bound_to_the_browser()
    old = chat.sender
    chat.b.find("#new-chat").click()
    chat.b.wait_for(lambda d: chat.count("user") == 0 and chat.count("bot") == 0, "an empty conversation")
    chat.b.wait_for(lambda d: chat.sender != old, "a new conversation cookie")
    assert chat.count("welcome") == 1
    chat.assert_bound_to_the_browser()
    chat.b.driver.refresh()
    chat.b.wait_visible(".msg.welcome")
    assert chat.count("user") == chat.count("bot") == 0  # nothing of the old one comes back
    assert "身份" in chat.type("我要领卡")
    state = await slots(stack, chat.sender)
    assert state["card_number"] is None and state["person_name"] is None


async def test_markup_typed_into_the_chat_is_shown_as_text(chat: Chat) -> None:
    for payload in (SCRIPT, IMG):
        chat.type(payload)
        assert chat.user_texts()[-1] == payload.strip()
        assert not chat.b.alert_open()
    assert not chat.b.find_all("#messages script, #messages img, #messages [onerror]")
    chat.reload(users=2)  # and so it is when restored from the server
    assert chat.user_texts() == [SCRIPT, IMG.strip()]
    assert not chat.b.alert_open() and not chat.b.find_all("#messages script, #messages img")


# -- the staff console ----------------------------------------------------------------------


def stack_db(stack: Stack) -> Database:
    return Database(async_database_url(stack.env["BACKEND_DATABASE_URL"]))


async def staff_account(stack: Stack, role: str) -> tuple[str, str]:
    username, password = f"{role}_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    db = stack_db(stack)
    try:
        await create_staff(db, username, password, role)
    finally:
        await db.dispose()
    return username, password


def sign_in(b: Browser, stack: Stack, username: str, password: str) -> None:
    """Through the login form, as a person does."""
    b.base_url = stack.backend_url
    b.open("/staff")
    b.wait_for(lambda d: b.path.startswith("/staff/login"), "the login form")
    b.type_into("input[name=username]", username)
    b.type_into("input[name=password]", password)
    b.find("form[action='/staff/login'] button[type=submit]").click()
    b.wait_for(lambda d: b.path.startswith("/staff/tickets"), "the ticket queue after signing in")
    assert username in b.find("header .who").text


def no_full_id(b: Browser, where: str) -> None:
    found = FULL_ID.findall(b.driver.page_source)
    assert not found, f"{where}: full ID numbers on the page"


def no_conversation_id(b: Browser, sender: str, where: str) -> None:
    """Staff pages name a conversation by an opaque reference, never by its id."""
    assert sender not in b.driver.page_source and sender[4:] not in b.driver.page_source, where
    assert sender[4:] not in b.driver.current_url, where


async def test_an_agent_answers_a_handoff_and_the_user_sees_it(chat: Chat, desktop: Browser, stack: Stack) -> None:
    person = SUSPENDED  # not enrolled: the claim fails, and the user wants a human
    chat.tap("我要领卡")
    chat.tap("中小学生/中职学生")
    chat.tap("本人领取")
    chat.type(person.name)
    chat.type(person.id_number)
    chat.tap("暂不开通")
    failed = chat.tap("确认无误，领卡")
    assert "学籍" in failed or "学校" in failed, failed
    chat.type(SCRIPT)
    handoff = chat.type("转人工")
    number = TICKET_NUMBER.search(handoff)
    assert number, handoff
    ticket_number = number.group(0)

    username, password = await staff_account(stack, "agent")
    console = desktop
    sign_in(console, stack, username, password)
    row = console.wait_visible(f"tr.ticket-row[data-ticket-number='{ticket_number}']", "the new ticket in the queue")
    assert "失败原因" in row.text  # the bot's summary, in words
    no_full_id(console, "ticket queue")
    no_conversation_id(console, chat.sender, "ticket queue")
    console.screenshot("tickets")
    row.find_element(By.CSS_SELECTOR, "a.ticket-link").click()
    console.wait_visible("#ticket-number")
    assert console.find("#ticket-number").text == ticket_number
    console.find("#take-form button[type=submit]").click()
    console.wait_for(lambda d: console.find("#ticket-assigned-to").text == username, "the ticket taken")
    attempts = console.find("#ticket-attempts").text
    assert mask_id(person.id_number) in attempts and "孙*学" in attempts
    no_full_id(console, "ticket page")
    no_conversation_id(console, chat.sender, "ticket page")
    ticket_url = console.path

    # The conversation transcript: masked ID numbers only, markup as text.
    console.find("#ticket-transcript").click()
    console.wait_for(
        lambda d: console.path.startswith("/staff/conversations/") and console.find("ol.transcript").is_displayed(),
        "the conversation transcript",
    )
    main = console.find("main").text
    assert mask_id(person.id_number) in main and "转人工" in main
    assert SCRIPT in main  # shown as text...
    assert SCRIPT not in console.driver.page_source  # ...never as markup
    assert not console.alert_open() and not console.find_all("main script")
    no_full_id(console, "transcript")
    no_conversation_id(console, chat.sender, "transcript")
    console.full_page_screenshot("transcript")

    # The reply reaches the user's chat page.
    console.open(ticket_url)
    answer = "您好，我是人工客服。您的学籍状态为休学，请联系学校教务处恢复学籍后再领卡。"
    console.type_into("#reply-text", answer)
    console.find("#reply-form button[type=submit]").click()
    console.wait_for(lambda d: "回复已发送" in console.find("#ticket-notice").text, "the reply sent")
    assert answer in console.find("#ticket-replies").text
    console.screenshot("ticket")
    chat.b.wait_for(lambda d: chat.count("agent") == 1, "the agent's reply in the chat page")
    shown = chat.b.find("#messages .msg.agent")
    assert answer in shown.text and "人工客服" in shown.find_element(By.CSS_SELECTOR, ".label").text
    chat.b.screenshot("chat-agent-reply")
    db = stack_db(stack)
    try:
        async with db.reading() as session:
            ticket = (await session.scalars(select(Ticket).where(Ticket.channel_user == chat.sender))).one()
    finally:
        await db.dispose()
    assert (ticket.status, ticket.assigned_to) == ("assigned", username)


async def test_an_admin_opens_the_dashboard(desktop: Browser, stack: Stack) -> None:
    username, password = await staff_account(stack, "admin")
    sign_in(desktop, stack, username, password)
    desktop.find("header nav a[href='/staff/dashboard']").click()
    summary = desktop.wait_visible("#dashboard-summary", "the dashboard")
    db = stack_db(stack)
    try:
        async with db.reading() as session:
            cards = await session.scalar(select(func.count()).select_from(Card))
    finally:
        await db.dispose()
    shown = summary.find_element(By.CSS_SELECTOR, ".stat[data-key=cards_all]").get_attribute("data-value")
    assert int(shown or -1) == cards
    for section in ("section-cards-per-day", "section-cards-by-identity", "section-claims-by-school"):
        assert desktop.find(f"#{section}").is_displayed()
    no_full_id(desktop, "dashboard")
    publish(desktop.full_page_screenshot("dashboard"))
    # An agent is shown no such page.
    agent, agent_password = await staff_account(stack, "agent")
    desktop.driver.delete_all_cookies()
    sign_in(desktop, stack, agent, agent_password)
    assert not desktop.find_all("header nav a[href='/staff/dashboard']")
    desktop.open("/staff/dashboard")
    assert "您的账号无权访问此页面" in desktop.find("body").text  # the dashboard is for admins, districts and schools
