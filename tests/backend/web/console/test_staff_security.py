"""The staff console's security, over HTTP against a real backend (SQLite
and PostgreSQL): anonymous access, roles, CSRF, session cookies, login
throttling, open redirects, the audit trail (also of list views, searches,
exports and the CLI's look-ups), the create-staff CLI, hostile text (XSS
payloads) shown in the console's pages, a Content-Security-Policy that
forbids framing on every answer (and pages that need no inline code), and
conversations named by an opaque reference, never by the chat's
conversation id, in URLs, links and pages.

The anonymous-access, role and CSRF tests enumerate the app's router, so
every page added under /staff later is covered without editing this file.
Chat messages reach the console's transcripts through Rasa's tracker
store, so their XSS test runs against the running stack (tests/stack.py).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import text as sql

from backend.appkeys import SETTINGS
from backend.config import async_database_url
from backend.db import Database
from backend.web.chat_page import COOKIE as CHAT_COOKIE
from backend.web.chat_page import conversation_sender
from backend.web.console.auth import (
    LOGIN_COOKIE,
    LOGIN_MAX_FAILURES,
    LOGIN_SLOWDOWN_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    sign,
)
from backend.web.console.refs import conversation_ref
from backend.web.console.staff import create_staff
from identity import mask_id
from tests.chat_client import ChatClient, session_secret
from tests.conftest import Api, serve_api
from tests.people import XIAOMING
from tests.stack import NEEDS_STACK, Stack

ROOT = Path(__file__).resolve().parents[4]
AGENT, ADMIN = "agent_li", "admin_wang"
PASSWORD = "correct horse battery"
ADMIN_PASSWORD = "another long secret"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
# Paths only admins may open (the agent gets 403 on each).
ADMIN_PREFIXES = ("/staff/audit", "/staff/dashboard", "/staff/api/dashboard", "/staff/api/audit")
XSS_PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
XSS_ESCAPED = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"]


# -- helpers -------------------------------------------------------------------------


class Staff:
    """A browser-like client of the console with its own cookie jar (one per
    person, so an anonymous visitor, an agent and an admin don't mix)."""

    def __init__(self, base_url: str, address: str = "127.0.0.1") -> None:
        self.base = base_url.rstrip("/")
        # Another loopback address (127.0.0.2) is another client address to the server.
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(local_addr=(address, 0))
        )
        self.csrf = ""  # the token of the last page that had a form

    async def close(self) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, str, Any]:
        kw.setdefault("allow_redirects", False)
        async with self.http.request(method, self.base + path, **kw) as resp:
            body = await resp.text()
            token = CSRF_FIELD.search(body)
            if token:
                self.csrf = token.group(1)
            return resp.status, body, resp

    async def get(self, path: str, **kw: Any) -> tuple[int, str, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, form: dict[str, str], csrf: str | None = None, **kw: Any) -> tuple[int, str, Any]:
        """POST a form; with the current CSRF token unless `csrf` is given
        ("" sends none at all)."""
        token = self.csrf if csrf is None else csrf
        data = dict(form, csrf_token=token) if token else dict(form)
        return await self.request("POST", path, data=data, **kw)

    async def login(self, username: str, password: str, next_: str | None = None) -> tuple[int, str, Any]:
        status, _, _ = await self.get("/staff/login")
        assert status == 200
        form = {"username": username, "password": password}
        if next_ is not None:
            form["next"] = next_
        return await self.post("/staff/login", form)

    async def signed_in(self, username: str, password: str) -> Staff:
        status, body, _ = await self.login(username, password)
        assert status == 302, body
        await self.refresh()
        return self

    async def refresh(self) -> None:
        """Open a console page to pick up the session's CSRF token."""
        status, body, _ = await self.get("/staff/tickets")
        if status != 200:  # an admin-only page for an agent; the audit log for an admin
            status, body, _ = await self.get("/staff/audit")

    def cookie(self, name: str) -> str | None:
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None


def app_of(api: Api) -> web.Application:
    return api.client.server.app  # type: ignore[no-any-return,union-attr]


def staff_routes(api: Api) -> list[tuple[str, str]]:
    """(method, path template) of every console route but the login form."""
    routes = set()
    for resource in app_of(api).router.resources():
        path = resource.canonical
        if not (path == "/staff" or path.startswith("/staff/")) or path in ("/staff/login", "/staff/api/login"):
            continue
        for route in resource:
            if route.method != "HEAD":
                routes.add((route.method, path))
    return sorted(routes)


def fill(template: str, values: dict[str, str]) -> str:
    """A concrete path for a route template: each {placeholder} gets the value
    for its name (e.g. a real ticket id, a real conversation id), else "1"."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":", 1)[0]
        for key, v in values.items():
            if key in name:
                return v
        return "1"

    return re.sub(r"\{([^}]+)\}", value, template)


def placeholders(user: str, ticket: int, ref: str = "1") -> dict[str, str]:
    """Values for route placeholders: a conversation (its opaque reference)
    and a ticket that exist."""
    return {"ref": ref, "sender": user, "conversation": user, "user": user, "ticket": str(ticket), "id": str(ticket)}


async def new_ticket(api: Api, user: str, summary: str = "想找人工客服") -> int:
    status, body = await api.post("/api/v1/tickets", {"channel_user": user, "summary": summary})
    assert status == 201, body
    return int(await api.scalar(f"SELECT max(id) FROM tickets WHERE channel_user = '{user}'"))


async def snapshot(api: Api) -> tuple[Any, ...]:
    """What a console POST could change."""
    return (
        await api.scalar("SELECT count(*) FROM tickets WHERE status = 'open' AND assigned_to IS NULL"),
        await api.scalar("SELECT count(*) FROM agent_replies"),
        await api.scalar("SELECT count(*) FROM conversation_tags"),
        await api.scalar("SELECT count(*) FROM staff_users WHERE active"),
        await api.scalar("SELECT max(coalesce(summary, '')) FROM tickets"),
    )


async def audit_actions(api: Api, username: str) -> list[str]:
    async with api.db.reading() as session:
        rows = await session.execute(
            sql("SELECT action FROM staff_audit WHERE staff_username = :u ORDER BY id"), {"u": username}
        )
        return [r[0] for r in rows]


@pytest_asyncio.fixture
async def console(api: Api) -> AsyncIterator[Api]:
    """The backend with an agent and an admin account."""
    await create_staff(api.db, AGENT, PASSWORD, "agent")
    await create_staff(api.db, ADMIN, ADMIN_PASSWORD, "admin")
    yield api


@pytest_asyncio.fixture
async def clients(console: Api) -> AsyncIterator[Any]:
    made: list[Staff] = []

    def make(address: str = "127.0.0.1") -> Staff:
        made.append(Staff(str(console.client.make_url("")), address))
        return made[-1]

    yield make
    for c in made:
        await c.close()


# -- anonymous access ----------------------------------------------------------------


async def test_every_console_url_refuses_anonymous_requests(console: Api, clients: Any) -> None:
    routes = staff_routes(console)
    assert ("POST", "/staff/logout") in routes and ("GET", "/staff/audit") in routes
    ticket = await new_ticket(console, "anon-user")
    values = placeholders("anon-user", ticket)
    before = await snapshot(console)
    anonymous = clients()
    for method, template in routes:
        path = fill(template, values)
        for extra in ({}, {"data": {"csrf_token": "x", "text": "hi", "tag": "t"}} if method == "POST" else {}):
            status, body, resp = await anonymous.request(method, path, **extra)
            if path.startswith("/staff/api/"):
                assert status == 401, (method, path, status, body)
                assert json.loads(body)["code"] == "unauthorized"
            else:
                assert status == 302, (method, path, status, body)
                assert resp.headers["Location"].startswith("/staff/login?next="), (method, path)
    assert await snapshot(console) == before


async def test_anonymous_page_redirect_comes_back_after_login(console: Api, clients: Any) -> None:
    visitor = clients()
    status, _, resp = await visitor.get("/staff/audit?page=2")
    assert status == 302
    location = resp.headers["Location"]
    assert location.startswith("/staff/login?")
    assert parse_qs(urlsplit(location).query) == {"next": ["/staff/audit?page=2"]}
    status, body, _ = await visitor.get(location)
    assert status == 200 and 'value="/staff/audit?page=2"' in body
    status, _, resp = await visitor.post(
        "/staff/login", {"username": ADMIN, "password": ADMIN_PASSWORD, "next": "/staff/audit?page=2"}
    )
    assert status == 302 and resp.headers["Location"] == "/staff/audit?page=2"


# -- roles ------------------------------------------------------------------------------


async def test_an_agent_is_refused_admin_pages(console: Api, clients: Any) -> None:
    admin_routes = [(m, p) for m, p in staff_routes(console) if p.startswith(ADMIN_PREFIXES)]
    admin_paths = {p for _, p in admin_routes}
    assert "/staff/audit" in admin_paths and "/staff/dashboard" in admin_paths, admin_paths
    agent = await clients().signed_in(AGENT, PASSWORD)
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    for method, template in admin_routes:
        path = fill(template, {})
        if method == "GET":
            status, body, _ = await admin.get(path)
            assert status == 200, (path, status, body)
        form = {"csrf_token": agent.csrf} if method == "POST" else None
        status, body, _ = await agent.request(method, path, data=form)
        assert status == 403, (method, path, status, body)
        assert "审计" not in body and "<table" not in body
        if path.startswith("/staff/api/"):
            assert json.loads(body)["code"] == "forbidden"
    # The agent's navigation does not even offer them; the admin's does.
    status, page, _ = await agent.get("/staff/tickets")
    assert status == 200
    assert 'href="/staff/audit"' not in page and 'href="/staff/dashboard"' not in page
    _, page, _ = await admin.get("/staff/tickets")
    assert 'href="/staff/audit"' in page and 'href="/staff/dashboard"' in page


async def test_a_disabled_account_or_a_changed_role_takes_effect_at_once(console: Api, clients: Any) -> None:
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    assert (await admin.get("/staff/audit"))[0] == 200
    async with console.db.writing() as session:
        await session.execute(sql("UPDATE staff_users SET role = 'agent' WHERE username = :u"), {"u": ADMIN})
    assert (await admin.get("/staff/audit"))[0] == 403
    async with console.db.writing() as session:
        await session.execute(sql("UPDATE staff_users SET active = :f WHERE username = :u"), {"u": ADMIN, "f": False})
    status, _, resp = await admin.get("/staff/audit")
    assert status == 302 and resp.headers["Location"].startswith("/staff/login")
    # ...and a disabled account cannot sign in again.
    status, body, _ = await clients().login(ADMIN, ADMIN_PASSWORD)
    assert status == 401 and "用户名或密码不正确" in body


# -- CSRF ---------------------------------------------------------------------------------


async def test_posts_without_a_valid_csrf_token_are_refused_and_change_nothing(console: Api, clients: Any) -> None:
    post_routes = [p for m, p in staff_routes(console) if m == "POST"]
    assert "/staff/logout" in post_routes
    ticket = await new_ticket(console, "csrf-user")
    values = placeholders("csrf-user", ticket)
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    other = await clients().signed_in(AGENT, PASSWORD)  # a valid token, of another session
    assert admin.csrf and other.csrf and admin.csrf != other.csrf
    before = await snapshot(console)
    form = {
        "text": "您好",
        "reply": "您好",
        "tag": "NLU错误",
        "summary": "改了",
        "status": "resolved",
        "username": "x",
        "role": "admin",
    }
    for template in post_routes:
        path = fill(template, values)
        for token in ("", "forged-token", other.csrf, admin.csrf + "x"):
            status, body, _ = await admin.post(path, form, csrf=token)
            assert status == 403, (path, token, status, body)
            assert "CSRF" in body or json.loads(body).get("code")
    assert await snapshot(console) == before
    # Logout without its token kept the session.
    assert (await admin.get("/staff/audit"))[0] == 200
    status, _, resp = await admin.post("/staff/logout", {})
    assert status == 302 and resp.headers["Location"] == "/staff/login"
    status, _, resp = await admin.get("/staff/audit")
    assert status == 302 and resp.headers["Location"].startswith("/staff/login")


async def test_the_login_form_needs_its_own_token(console: Api, clients: Any) -> None:
    visitor = clients()
    await visitor.get("/staff/login")
    assert visitor.csrf and visitor.cookie(LOGIN_COOKIE)
    right = {"username": AGENT, "password": PASSWORD}
    for token in ("", "forged-token", visitor.csrf[:-1]):
        status, body, _ = await visitor.post("/staff/login", right, csrf=token)
        assert status == 403 and "页面已过期" in body
        assert visitor.cookie(SESSION_COOKIE) is None
    # A token lifted from someone else's login page, without their cookie.
    stranger = clients()
    status, body, _ = await stranger.post("/staff/login", right, csrf=visitor.csrf)
    assert status == 403 and stranger.cookie(SESSION_COOKIE) is None
    # A refused form is no failed login (the account is not throttled by it).
    assert await console.scalar("SELECT count(*) FROM staff_login_failures") == 0
    status, _, _ = await visitor.post("/staff/login", right)
    assert status == 302 and visitor.cookie(SESSION_COOKIE)


# -- session cookies ----------------------------------------------------------------------


async def test_forged_tampered_and_expired_session_cookies_are_refused(console: Api, clients: Any) -> None:
    secret = app_of(console)[SETTINGS].session_secret
    admin_id = int(await console.scalar(f"SELECT id FROM staff_users WHERE username = '{ADMIN}'"))
    agent = await clients().signed_in(AGENT, PASSWORD)
    agent_cookie = agent.cookie(SESSION_COOKIE)
    assert agent_cookie
    now = int(time.time())
    data, _, mac = agent_cookie.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    as_admin = dict(payload, u=admin_id)

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()

    async def audit_page_with(cookie: str) -> int:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            async with http.get(
                agent.base + "/staff/audit", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}, allow_redirects=False
            ) as resp:
                return resp.status

    # The control: a cookie signed with the server's secret for the admin works.
    assert await audit_page_with(sign(secret, "session", {"u": admin_id, "v": 0, "c": "n", "t": now})) == 200
    refused = {
        "signed with another secret": sign("not-the-secret", "session", {"u": admin_id, "c": "n", "t": now}),
        "signed for another purpose": sign(secret, "login", {"u": admin_id, "c": "n", "t": now}),
        "agent's cookie with the admin's id": f"{b64(as_admin)}.{mac}",
        "agent's cookie, MAC altered": f"{data}.{mac[:-2]}AA",
        "expired": sign(secret, "session", {"u": admin_id, "c": "n", "t": now - SESSION_SECONDS - 5}),
        "from the future": sign(secret, "session", {"u": admin_id, "c": "n", "t": now + 3600}),
        "no user": sign(secret, "session", {"c": "n", "t": now}),
        "no session version": sign(secret, "session", {"u": admin_id, "c": "n", "t": now}),
        "an older session version": sign(secret, "session", {"u": admin_id, "v": -1, "c": "n", "t": now}),
        "unknown user": sign(secret, "session", {"u": 99999, "c": "n", "t": now}),
        "unsigned": b64({"u": admin_id, "c": "n", "t": now}),
        "empty": "",
        "garbage": "...",
        "not base64": "%%%.%%%",
    }
    for what, cookie in refused.items():
        assert await audit_page_with(cookie) == 302, what


async def test_a_copy_of_the_cookie_is_worthless_after_logout_or_a_password_reset(console: Api, clients: Any) -> None:
    async def tickets_with(cookie: str) -> int:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            async with http.get(
                console_base + "/staff/tickets", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}, allow_redirects=False
            ) as resp:
                return resp.status

    agent = await clients().signed_in(AGENT, PASSWORD)
    console_base = agent.base
    copied = agent.cookie(SESSION_COOKIE)
    assert copied and await tickets_with(copied) == 200
    status, _, _ = await agent.post("/staff/logout", {})
    assert status == 302
    assert await tickets_with(copied) == 302  # signed out on the server, not only in the browser
    # A password reset (create-staff again) ends the sessions of the account too.
    again = await clients().signed_in(AGENT, PASSWORD)
    copied = again.cookie(SESSION_COOKIE)
    assert copied and await tickets_with(copied) == 200
    await create_staff(console.db, AGENT, PASSWORD + "-new", "agent")
    assert await tickets_with(copied) == 302


async def test_session_cookie_is_httponly_and_samesite_strict(console: Api, clients: Any) -> None:
    visitor = clients()
    _, _, resp = await visitor.get("/staff/login")
    login_cookie = resp.headers.getall("Set-Cookie")
    _, _, resp = await visitor.post("/staff/login", {"username": AGENT, "password": PASSWORD})
    cookies = {c.split("=", 1)[0]: c for c in resp.headers.getall("Set-Cookie")}
    session = cookies[SESSION_COOKIE]
    for header in [session, *login_cookie]:
        attributes = [a.strip().lower() for a in header.split(";")]
        assert "httponly" in attributes and "samesite=strict" in attributes and "path=/staff" in attributes, header
        assert "secure" not in attributes  # plain HTTP in development; see the next test
    assert any(a.strip().lower().startswith("max-age=") for a in session.split(";"))
    # Signing in drops the login form's cookie.
    assert cookies[LOGIN_COOKIE].startswith(f"{LOGIN_COOKIE}=;") or "max-age=0" in cookies[LOGIN_COOKIE].lower()


async def test_cookies_are_secure_when_served_over_https(registry_db: str) -> None:
    async for api in serve_api(registry_db, secure_cookies=True):
        await create_staff(api.db, AGENT, PASSWORD, "agent")
        visitor = Staff(str(api.client.make_url("")))
        try:
            _, _, resp = await visitor.get("/staff/login")
            assert "secure" in [a.strip().lower() for a in resp.headers["Set-Cookie"].split(";")]
        finally:
            await visitor.close()


# -- passwords and login ----------------------------------------------------------------


async def test_the_password_is_stored_as_an_argon2id_hash(console: Api) -> None:
    stored = await console.scalar(f"SELECT password_hash FROM staff_users WHERE username = '{AGENT}'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored, PASSWORD + "x")
    other = await console.scalar(f"SELECT password_hash FROM staff_users WHERE username = '{ADMIN}'")
    salt = stored.split("$")[4]
    assert salt not in other  # a salt of its own


async def test_login_throttling_stops_the_guesser_not_the_owner(console: Api, clients: Any) -> None:
    attacker = clients("127.0.0.1")
    for _ in range(LOGIN_MAX_FAILURES):
        status, body, _ = await attacker.login(AGENT, "wrong password!")
        assert status == 401 and "用户名或密码不正确" in body
    # Now even the right password is refused from the guesser's address...
    for password in (PASSWORD, "wrong password!"):
        status, body, _ = await attacker.login(AGENT, password)
        assert status == 429 and "15 分钟" in body
        assert attacker.cookie(SESSION_COOKIE) is None
    assert (await clients("127.0.0.1").login(AGENT, PASSWORD))[0] == 429
    # ...while other usernames from there are unaffected...
    admin = clients("127.0.0.1")
    status, _, resp = await admin.login(ADMIN, ADMIN_PASSWORD)
    assert status == 302 and admin.cookie(SESSION_COOKIE)
    assert "login_throttled" in await audit_actions(console, AGENT)
    assert "login" not in await audit_actions(console, AGENT)
    # ...and the owner, elsewhere, logs in: slowed down (the username is
    # being guessed), never locked out.
    owner = clients("127.0.0.2")
    started = time.monotonic()
    status, _, _ = await owner.login(AGENT, PASSWORD)
    assert status == 302 and owner.cookie(SESSION_COOKIE)
    assert time.monotonic() - started >= LOGIN_SLOWDOWN_SECONDS
    # The guesser's address stays refused after the owner's login.
    assert (await clients("127.0.0.1").login(AGENT, PASSWORD))[0] == 429


async def test_failures_are_forgotten_after_a_successful_login(console: Api, clients: Any) -> None:
    visitor = clients()
    for _ in range(LOGIN_MAX_FAILURES - 1):
        assert (await visitor.login(AGENT, "wrong password!"))[0] == 401
    assert (await visitor.login(AGENT, PASSWORD))[0] == 302
    for _ in range(LOGIN_MAX_FAILURES - 1):
        assert (await clients().login(AGENT, "wrong password!"))[0] == 401
    assert (await clients().login(AGENT, PASSWORD))[0] == 302


async def test_wrong_username_and_wrong_password_answer_the_same(console: Api, clients: Any) -> None:
    async def attempt(username: str, password: str) -> tuple[int, str, float]:
        visitor = clients()
        await visitor.get("/staff/login")
        started = time.perf_counter()
        status, body, _ = await visitor.post("/staff/login", {"username": username, "password": password})
        elapsed = time.perf_counter() - started
        return status, body.replace(visitor.csrf, "TOKEN").replace(username, "USER"), elapsed

    wrong_password = [await attempt(AGENT, f"wrong password {i}") for i in range(3)]
    unknown_user = [await attempt(f"nobody{i}", PASSWORD) for i in range(3)]
    assert {(s, b) for s, b, _ in wrong_password + unknown_user} == {(wrong_password[0][0], wrong_password[0][1])}
    assert wrong_password[0][0] == 401 and "用户名或密码不正确" in wrong_password[0][1]
    # Both verify an argon2 hash: an unknown username is not answered faster.
    fastest_wrong = min(t for *_, t in wrong_password)
    fastest_unknown = min(t for *_, t in unknown_user)
    assert fastest_unknown > 0.3 * fastest_wrong, (fastest_unknown, fastest_wrong)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil",
        "/\\evil",
        "http://evil.com/staff",
        "/staff\\@evil.com",
        "javascript:alert(1)",
        "//evil.com/staff",
        "\\\\evil.com",
        " //evil.com",
        "/%2F%2Fevil.com",
    ],
)
async def test_next_never_leaves_the_console(console: Api, clients: Any, target: str) -> None:
    visitor = clients()
    status, body, _ = await visitor.get("/staff/login", params={"next": target})
    assert status == 200 and 'name="next" value="/staff"' in body
    status, _, resp = await visitor.post("/staff/login", {"username": AGENT, "password": PASSWORD, "next": target})
    assert status == 302 and resp.headers["Location"] == "/staff"
    # Already signed in, the login page forwards to the same safe place.
    status, _, resp = await visitor.get("/staff/login", params={"next": target})
    assert status == 302 and resp.headers["Location"] == "/staff"


# -- audit ---------------------------------------------------------------------------------


async def test_logins_failures_and_logouts_are_audited(console: Api, clients: Any) -> None:
    visitor = clients()
    assert (await visitor.login(AGENT, "wrong password!"))[0] == 401
    assert (await visitor.login("no_such_user", "wrong password!"))[0] == 401
    assert (await visitor.login(AGENT, PASSWORD))[0] == 302
    await visitor.refresh()
    status, _, _ = await visitor.post("/staff/logout", {})
    assert status == 302
    signing = {"login", "login_failed", "login_throttled", "logout"}
    assert [a for a in await audit_actions(console, AGENT) if a in signing] == ["login_failed", "login", "logout"]
    assert await audit_actions(console, "no_such_user") == ["login_failed"]
    remotes = await console.scalar("SELECT count(*) FROM staff_audit WHERE remote = '127.0.0.1'")
    assert remotes >= 4
    # The admin reads them on the audit page (and the reading is audited too).
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    status, page, _ = await admin.get("/staff/audit")
    assert status == 200
    for action in ("login_failed", "logout", AGENT, "no_such_user"):
        assert action in page
    assert "view_audit" in await audit_actions(console, ADMIN)
    assert PASSWORD not in page and "wrong password" not in page


# -- the create-staff CLI --------------------------------------------------------------------


def create_staff_cli(database_url: str, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": database_url, "HOME": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, "-m", "backend", "create-staff", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


async def test_create_staff_cli(api: Api, clients: Any) -> None:
    url = api.db.url
    done = create_staff_cli(url, "cli_admin", "--role", "admin", "--password-stdin", stdin="a long cli password\n")
    assert done.returncode == 0, done.stderr
    assert "a long cli password" not in done.stdout + done.stderr
    stored = await api.scalar("SELECT password_hash FROM staff_users WHERE username = 'cli_admin'")
    assert stored.startswith("$argon2id$")
    assert await api.scalar("SELECT role FROM staff_users WHERE username = 'cli_admin'") == "admin"
    admin = clients()
    status, _, _ = await admin.login("cli_admin", "a long cli password")
    assert status == 302
    assert (await admin.get("/staff/audit"))[0] == 200

    # Too short: refused with exit code 2, nothing stored.
    done = create_staff_cli(url, "cli_short", "--password-stdin", stdin="short\n")
    assert done.returncode == 2 and "password" in done.stderr
    assert await api.scalar("SELECT count(*) FROM staff_users WHERE username = 'cli_short'") == 0
    # An unknown role: refused by the argument parser.
    done = create_staff_cli(url, "cli_root", "--role", "root", "--password-stdin", stdin="a long cli password\n")
    assert done.returncode == 2
    assert await api.scalar("SELECT count(*) FROM staff_users WHERE username = 'cli_root'") == 0
    # Again for the same name: resets the password and the role.
    done = create_staff_cli(url, "cli_admin", "--role", "agent", "--password-stdin", stdin="the new long password\n")
    assert done.returncode == 0, done.stderr
    assert await api.scalar("SELECT role FROM staff_users WHERE username = 'cli_admin'") == "agent"
    assert await api.scalar("SELECT count(*) FROM staff_users WHERE username = 'cli_admin'") == 1
    assert (await clients().login("cli_admin", "a long cli password"))[0] == 401
    assert (await clients().login("cli_admin", "the new long password"))[0] == 302


# -- hostile text in the console's pages ---------------------------------------------------


def assert_escaped(page: str, payload: str, escaped: str, where: str) -> None:
    assert escaped in page, f"{where}: the payload is not shown (escaped) at all"
    assert payload not in page, f"{where}: the raw payload is in the page"
    assert "<script>alert" not in page and "<img src=x" not in page, where


@pytest.mark.parametrize("payload,escaped", list(zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True)))
async def test_xss_in_ticket_summaries_and_replies_is_shown_escaped(
    console: Api, clients: Any, payload: str, escaped: str
) -> None:
    key = secrets.token_hex(16)  # the chat page's conversation cookie
    user = conversation_sender(app_of(console)[SETTINGS].session_secret, key)
    ticket = await new_ticket(console, user, summary=payload)
    agent = await clients().signed_in(AGENT, PASSWORD)
    status, page, _ = await agent.get("/staff/tickets")
    assert status == 200
    assert_escaped(page, payload, escaped, "ticket queue")
    status, page, _ = await agent.get(f"/staff/tickets/{ticket}")
    assert status == 200
    assert_escaped(page, payload, escaped, "ticket page (summary)")

    status, _, resp = await agent.post(f"/staff/tickets/{ticket}/reply", {"text": f"回复 {payload}"})
    assert status == 303, status
    status, page, _ = await agent.get(resp.headers["Location"])
    assert status == 200 and "回复已发送" in page
    assert page.count(escaped) >= 2  # the summary and the reply
    assert_escaped(page, payload, escaped, "ticket page (reply)")
    # The reply reaches the chat page as JSON data (the page sets it as text).
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser,
        browser.get(agent.base + "/chat/api/updates", headers={"Cookie": f"{CHAT_COOKIE}={key}"}) as resp,
    ):
        assert resp.content_type == "application/json"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert [r["text"] for r in (await resp.json())["replies"]] == [f"回复 {payload}"]
    # The audit log quotes the reply: escaped too.
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    status, page, _ = await admin.get("/staff/audit")
    assert status == 200 and "ticket_reply" in page
    assert_escaped(page, payload, escaped, "audit log")


async def test_a_username_echoed_by_the_login_form_is_escaped(console: Api, clients: Any) -> None:
    for payload, escaped in zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True):
        status, page, _ = await clients().login(payload, "wrong password!")
        assert status == 401
        assert_escaped(page, payload, escaped, "login form")


def needs_stack(test: Any) -> Any:
    for mark in NEEDS_STACK:
        test = mark(test)
    return test


@needs_stack
async def test_xss_in_chat_messages_and_tags_is_shown_escaped(stack: Stack) -> None:
    """Through the running stack: the payloads sent as chat messages (the
    chat page's API, on to Rasa and its tracker store) and added as tags,
    then the conversation list, the transcript and the audit log."""
    secret = session_secret(stack.env)
    async with ChatClient(stack.backend_url, secret=secret) as chat:
        for payload in XSS_PAYLOADS:
            status, answer = await chat.send(payload)
            assert status == 200, answer
        sender = chat.sender
    username, password = f"xss_admin_{secrets.token_hex(3)}", "a long admin password"
    db = Database(async_database_url(stack.env["BACKEND_DATABASE_URL"]))
    try:
        await create_staff(db, username, password, "admin")
    finally:
        await db.dispose()
    admin = Staff(stack.backend_url)
    try:
        await admin.signed_in(username, password)
        transcript = f"/staff/conversations/{conversation_ref(secret, sender)}"
        status, page, _ = await admin.get(transcript)
        assert status == 200, page
        for payload, escaped in zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True):
            assert_escaped(page, payload, escaped, "transcript (messages)")
        for payload in XSS_PAYLOADS:
            status, _, resp = await admin.post(f"{transcript}/tags", {"tag": payload})
            assert status == 303 and resp.headers["Location"] == transcript, status
            await admin.refresh()
        status, page, _ = await admin.get(transcript)
        assert status == 200
        for payload, escaped in zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True):
            assert page.count(escaped) >= 2, "the message and the tag"
            assert_escaped(page, payload, escaped, "transcript (tags)")
        for payload, escaped in zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True):
            status, page, _ = await admin.get("/staff/conversations", params={"tag": payload})
            assert status == 200 and f'href="{transcript}"' in page, "the conversation, found by its tag"
            assert_escaped(page, payload, escaped, "conversation list (tags, filter)")
            status, page, _ = await admin.get("/staff/conversations", params={"q": payload})
            assert status == 200
            assert payload not in page and "<img src=x" not in page and "<script>alert" not in page
        status, page, _ = await admin.get("/staff/audit")
        assert status == 200 and "tag_conversation" in page
        for payload, escaped in zip(XSS_PAYLOADS, XSS_ESCAPED, strict=True):
            assert_escaped(page, payload, escaped, "audit log (tags)")
    finally:
        await admin.close()


# -- conversations named by an opaque reference ----------------------------------------------


def write_tracker(path: Path, conversations: dict[str, list[str]]) -> str:
    """A Rasa SQL tracker store (SQLite, Rasa's `events` table) holding these
    conversations: each user message answered by the bot."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), type_name VARCHAR(255),"
        " timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
    )
    t = time.time() - 120
    for sender, said in conversations.items():
        for text in said:
            t += 1
            user = {
                "event": "user",
                "text": text,
                "timestamp": t,
                "parse_data": {"intent": {"name": "greet", "confidence": 0.98}, "entities": []},
            }
            bot = {"event": "bot", "text": "您好！请问有什么可以帮您？", "timestamp": t + 0.5, "data": {}}
            for event, intent in ((user, "greet"), (bot, None)):
                con.execute(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)"
                    " VALUES (?, ?, ?, ?, NULL, ?)",
                    (sender, event["event"], event["timestamp"], intent, json.dumps(event, ensure_ascii=False)),
                )
    con.commit()
    con.close()
    return f"sqlite+aiosqlite:///{path}"


class Tracked:
    """A console whose tracker store holds one web chat conversation with a ticket."""

    def __init__(self, api: Api, sender: str, ref: str, ticket: int) -> None:
        self.api, self.sender, self.ref, self.ticket = api, sender, ref, ticket
        self.href = f"/staff/conversations/{ref}"
        self.base = str(api.client.make_url(""))

    def assert_no_conversation_id(self, text: str, where: str) -> None:
        for shown in (self.sender, self.sender[4:], quote(self.sender, safe="")):
            assert shown not in text, f"{where}: the conversation id is shown"


@pytest_asyncio.fixture
async def tracked(registry_db: str, tmp_path: Path) -> AsyncIterator[Tracked]:
    sender = conversation_sender(session_secret(), secrets.token_hex(16))  # a web chat conversation
    tracker = write_tracker(tmp_path / "tracker.db", {sender: ["你好", "转人工"], "web-" + "cd" * 16: ["别人的对话"]})
    async for api in serve_api(registry_db, tracker_url=tracker):
        await create_staff(api.db, AGENT, PASSWORD, "agent")
        await create_staff(api.db, ADMIN, ADMIN_PASSWORD, "admin")
        ticket = await new_ticket(api, sender, summary="role=None failure=None")
        yield Tracked(api, sender, conversation_ref(app_of(api)[SETTINGS].session_secret, sender), ticket)


@pytest_asyncio.fixture
async def browsers(tracked: Tracked) -> AsyncIterator[Any]:
    made: list[Staff] = []

    def make(address: str = "127.0.0.1") -> Staff:
        made.append(Staff(tracked.base, address))
        return made[-1]

    yield make
    for c in made:
        await c.close()


async def test_conversations_are_named_by_an_opaque_reference_never_by_their_id(
    tracked: Tracked, browsers: Any
) -> None:
    t = tracked
    agent = await browsers().signed_in(AGENT, PASSWORD)
    # The queue, the ticket and the list link to the conversation by its reference.
    for path in ("/staff/tickets", f"/staff/tickets/{t.ticket}", "/staff/conversations"):
        status, page, _ = await agent.get(path)
        assert status == 200 and f'href="{t.href}"' in page, path
        t.assert_no_conversation_id(page, path)
    status, page, _ = await agent.get(t.href)
    assert status == 200 and "你好" in page and "转人工" in page and "别人的对话" not in page
    t.assert_no_conversation_id(page, "transcript")
    # Tags and the story export work by the reference.
    status, _, resp = await agent.post(f"{t.href}/tags", {"tag": "需跟进"})
    assert status == 303 and resp.headers["Location"] == t.href
    status, page, _ = await agent.get(t.href)
    assert '<span class="tag">需跟进</span>' in page
    t.assert_no_conversation_id(page, "transcript with a tag")
    status, body, resp = await agent.get(f"{t.href}/story.yml")
    assert status == 200 and "stories:" in body and "intent: greet" in body
    t.assert_no_conversation_id(body + resp.headers["Content-Disposition"], "story")
    status, _, resp = await agent.post(f"{t.href}/tags/delete", {"tag": "需跟进"})
    assert status == 303 and resp.headers["Location"] == t.href
    # The reference (or the page's address) finds the conversation in the list.
    for q in (t.ref, t.base.rstrip("/") + t.href):
        status, page, _ = await agent.get("/staff/conversations", params={"q": q})
        assert status == 200 and f'href="{t.href}"' in page and page.count('class="conv-link"') == 1, q
    # The conversation id is no address in the console, nor is a forged or
    # tampered reference.
    tampered = t.ref[:-3] + ("AAA" if not t.ref.endswith("AAA") else "BBB")
    for bad in (t.sender, t.sender[4:], tampered, conversation_ref("another secret", t.sender), "1", "x" * 300):
        for suffix in ("", "/story.yml"):
            status, page, _ = await agent.get(f"/staff/conversations/{bad}{suffix}")
            assert status == 404 and "你好" not in page and "stories:" not in page, (bad, suffix)
        status, _, _ = await agent.post(f"/staff/conversations/{bad}/tags", {"tag": "x"})
        assert status == 404, bad
    assert await t.api.scalar("SELECT count(*) FROM conversation_tags") == 0
    # The audit log names the reference too.
    targets = {a: tg for a, tg in await audit_rows(t.api, AGENT, "target")}
    assert targets["view_transcript"] == t.ref and targets["export_story"] == t.ref
    assert targets["tag_conversation"] == t.ref
    admin = await browsers().signed_in(ADMIN, ADMIN_PASSWORD)
    status, page, _ = await admin.get("/staff/audit")
    assert status == 200 and t.ref in page
    t.assert_no_conversation_id(page, "audit log")


async def audit_rows(api: Api, username: str, column: str = "detail") -> list[tuple[str, Any]]:
    async with api.db.reading() as session:
        rows = await session.execute(
            sql(f"SELECT action, {column} FROM staff_audit WHERE staff_username = :u ORDER BY id"), {"u": username}
        )
        return [(r[0], r[1]) for r in rows]


# -- CSP and framing on every answer ---------------------------------------------------------


class InlineCode(HTMLParser):
    """What a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            self._script = True
            if not a.get("src"):
                self.found.append("<script> without src")
        for name, value in a.items():
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.found.append("inline script")


# GET routes that answer 400 without their query (a unit to list): their answer is checked all the same.
NEEDS_PARAMETERS = ("/staff/api/not-claimed", "/staff/campaign/not-claimed/export")


def assert_strict_policy(resp: Any, where: Any) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    policy = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert policy.get("frame-ancestors") == ["'none'"], (where, csp)
    assert policy.get("default-src") == ["'self'"] and policy.get("script-src") == ["'self'"], (where, csp)
    assert policy.get("style-src") == ["'self'"] and policy.get("object-src") == ["'none'"], (where, csp)
    assert policy.get("base-uri") == ["'none'"] and policy.get("form-action") == ["'self'"], (where, csp)
    assert "unsafe" not in csp, (where, csp)
    assert resp.headers.get("X-Frame-Options") == "DENY", where
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where


async def test_every_console_answer_has_a_strict_policy_and_cannot_be_framed(tracked: Tracked, browsers: Any) -> None:
    t = tracked
    values = placeholders(t.sender, t.ticket, t.ref)
    anonymous, agent = browsers(), await browsers().signed_in(AGENT, PASSWORD)
    admin = await browsers().signed_in(ADMIN, ADMIN_PASSWORD)
    pages = 0
    for method, template in staff_routes(t.api):
        path = fill(template, values)
        _, _, resp = await anonymous.request(method, path)  # to the login form, or 401
        assert_strict_policy(resp, ("anonymous", method, path))
        if method == "POST":
            status, _, resp = await admin.post(path, {"tag": "x", "text": "x"}, csrf="forged")
            assert status == 403
            assert_strict_policy(resp, ("forged POST", path))
            continue
        status, page, resp = await admin.get(path)
        want = 302 if path in ("/staff", "/staff/") else 400 if path in NEEDS_PARAMETERS else 200
        assert status == want, (path, status)
        assert_strict_policy(resp, ("admin", path))
        if resp.content_type == "text/html":
            pages += 1
            parser = InlineCode()
            parser.feed(page)
            assert parser.found == [], (path, parser.found)  # the policy would block them: there are none
    assert pages >= 6  # tickets, a ticket, conversations, a transcript, the dashboard, the audit log
    for who, path, status in (
        (anonymous, "/staff/login", 200),
        (agent, "/staff/audit", 403),
        (agent, "/staff/no-such-page", 404),
        (agent, "/staff/conversations/x", 404),
    ):
        got, page, resp = await who.get(path)
        assert got == status, path
        assert_strict_policy(resp, path)
        parser = InlineCode()
        parser.feed(page)
        assert parser.found == [], (path, parser.found)
    status, _, resp = await anonymous.login(AGENT, "wrong password!")
    assert status == 401
    assert_strict_policy(resp, "failed login")


# -- audit of list views, searches and exports -----------------------------------------------


async def test_list_views_searches_and_exports_are_audited(tracked: Tracked, browsers: Any) -> None:
    t = tracked
    number = str(await t.api.scalar(f"SELECT id FROM tickets WHERE id = {t.ticket}"))
    agent = await browsers().signed_in(AGENT, PASSWORD)
    page = await agent.get(f"/staff/tickets/{t.ticket}")
    ticket_number = re.search(r'id="ticket-number">(T\d+)<', page[1]).group(1)  # type: ignore[union-attr]
    assert ticket_number.endswith(number)
    before = len(await audit_rows(t.api, AGENT))
    assert (await agent.get("/staff/tickets?status=all&mine=1&page=2"))[0] == 200
    assert (await agent.get("/staff/conversations?path=k12_student&handed_off=yes"))[0] == 200
    status, _, resp = await agent.get("/staff/conversations", params={"q": XIAOMING.id_number})
    assert status == 303
    assert (await agent.get(resp.headers["Location"]))[0] == 200
    assert (await agent.get("/staff/conversations", params={"q": ticket_number, "page": "2"}))[0] == 200
    assert (await agent.get("/staff/conversations", params={"q": t.ref}))[0] == 200
    assert (await agent.get(f"{t.href}/story.yml"))[0] == 200
    rows = (await audit_rows(t.api, AGENT))[before:]
    assert rows == [
        ("view_tickets", "status=all; mine=1; page=2"),
        ("list_conversations", "path=k12_student; handed_off=yes"),
        ("search_conversations", f"id: {mask_id(XIAOMING.id_number)}"),
        ("search_conversations", f"ticket: {ticket_number}; page=2"),
        ("search_conversations", f"ref: {t.ref}"),
        ("export_story", None),
    ], rows
    admin = await browsers().signed_in(ADMIN, ADMIN_PASSWORD)
    assert (await admin.get("/staff/dashboard/report.csv?from=2025-01-01&to=2025-01-31"))[0] == 200
    assert (await admin.get("/staff/dashboard?from=2025-01-01&to=2025-01-31"))[0] == 200
    assert (await admin.get("/staff/audit"))[0] == 200
    actions = [a for a, _ in await audit_rows(t.api, ADMIN)]
    assert {"export_report", "view_dashboard", "view_audit"} <= set(actions)
    everything = json.dumps(await audit_rows(t.api, AGENT) + await audit_rows(t.api, ADMIN), ensure_ascii=False)
    assert XIAOMING.id_number not in everything
    t.assert_no_conversation_id(everything, "audit rows")


# -- the CLI's look-ups ----------------------------------------------------------------------


def backend_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": database_url, "HOME": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], text=True, capture_output=True, cwd=ROOT, env=env, timeout=120
    )


async def test_the_cli_look_ups_are_audited_with_the_os_user(console: Api, clients: Any) -> None:
    url = console.db.url
    claimed = backend_cli(url, "lookup-person", "--id-number", XIAOMING.id_number)
    assert claimed.returncode == 0, claimed.stderr
    assert backend_cli(url, "lookup-card", "--id-number", XIAOMING.id_number).returncode == 1  # no card yet
    assert backend_cli(url, "lookup-card", "--card-number", "360000000000").returncode == 1
    async with console.db.reading() as session:
        rows = [
            tuple(r)
            for r in await session.execute(
                sql(
                    "SELECT staff_username, action, target, detail, remote FROM staff_audit"
                    " WHERE action LIKE 'lookup%' ORDER BY id"
                )
            )
        ]
    who = "cli:" + pwd.getpwuid(os.getuid()).pw_name
    masked = mask_id(XIAOMING.id_number)
    assert [r[:3] for r in rows] == [
        (who, "lookup_person", masked),
        (who, "lookup_card", masked),
        (who, "lookup_card", "360000000000"),
    ], rows
    assert [r[3] for r in rows] == ["found", "not found", "not found"]
    assert XIAOMING.id_number not in json.dumps(rows, ensure_ascii=False)
    admin = await clients().signed_in(ADMIN, ADMIN_PASSWORD)
    status, page, _ = await admin.get("/staff/audit")
    assert status == 200 and who in page and "lookup_person" in page and masked in page
