"""Scoped staff (CONTRACT.md, "Campaign"): `district` and `school` accounts,
on SQLite and PostgreSQL. Like the anonymous-access test, this enumerates
the app's router: every /staff route must be classified below, so a route
added later fails here until someone decides what a school or a district
may do with it. Also: create-staff with --scope, and the schema's checks."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError

from backend.campaign.scope import Scope
from backend.web.console.staff import create_staff
from tests.backend.campaign.campaign_data import load
from tests.conftest import Api, serve_api

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')

# Every console route (but the two logins): who may use it.
SUPPORT = "support"  # agents and admins: tickets, conversations (403 to schools and districts)
ADMIN = "admin"  # admins only
CAMPAIGN = "campaign"  # admins, districts and schools, each within the scope
ANYONE = "anyone signed in"
BUREAU = "bureau"  # admins and districts within the scope (the 通报: 403 to schools)
ROUTES = {
    ("GET", "/staff"): ANYONE,
    ("GET", "/staff/"): ANYONE,
    ("POST", "/staff/logout"): ANYONE,
    ("GET", "/staff/audit"): ADMIN,
    ("GET", "/staff/person-data"): ADMIN,
    ("POST", "/staff/person-data/export"): ADMIN,
    ("POST", "/staff/person-data/delete"): ADMIN,
    ("GET", "/staff/conversations"): SUPPORT,
    ("GET", "/staff/conversations/{ref}"): SUPPORT,
    ("GET", "/staff/conversations/{ref}/story.yml"): SUPPORT,
    ("POST", "/staff/conversations/{ref}/tags"): SUPPORT,
    ("POST", "/staff/conversations/{ref}/tags/delete"): SUPPORT,
    ("GET", "/staff/tickets"): SUPPORT,
    ("GET", "/staff/tickets/{ticket_id}"): SUPPORT,
    ("POST", "/staff/tickets/{ticket_id}/take"): SUPPORT,
    ("POST", "/staff/tickets/{ticket_id}/reply"): SUPPORT,
    ("POST", "/staff/tickets/{ticket_id}/resolve"): SUPPORT,
    ("POST", "/staff/tickets/{ticket_id}/reopen"): SUPPORT,
    ("POST", "/staff/tickets/{ticket_id}/release"): SUPPORT,
    ("GET", "/staff/dashboard"): CAMPAIGN,
    ("GET", "/staff/dashboard/report.csv"): CAMPAIGN,
    ("GET", "/staff/dashboard/coverage"): CAMPAIGN,
    ("GET", "/staff/api/coverage"): CAMPAIGN,
    ("GET", "/staff/campaign/bulletin"): BUREAU,
    ("GET", "/staff/fixes"): CAMPAIGN,
    ("GET", "/staff/fixes.csv"): CAMPAIGN,
    ("GET", "/staff/campaign/not-claimed"): CAMPAIGN,
    ("GET", "/staff/campaign/not-claimed/export"): CAMPAIGN,
    ("GET", "/staff/api/not-claimed"): CAMPAIGN,
}
# The query a route needs to answer 200 (a unit both scoped accounts hold).
QUERIES = {
    "/staff/campaign/not-claimed": "?school=3601020102",
    "/staff/campaign/not-claimed/export": "?school=3601020102&format=csv",
    "/staff/api/not-claimed": "?unit=3601020102",
}
# What each scoped account must never see on a campaign page: other units.
OTHERS = {
    "donghu": ["3601110201", "青山湖区实验中学", "3607810301", "瑞金市第一中学"],
    "one_school": ["3601020101", "东湖区实验小学", "3601110201", "3607810301", "瑞金市第一中学"],
}


def console_routes(api: Api) -> list[tuple[str, str]]:
    routes = set()
    for resource in api.client.server.app.router.resources():  # type: ignore[union-attr]
        path = resource.canonical
        if (path == "/staff" or path.startswith("/staff/")) and path not in ("/staff/login", "/staff/api/login"):
            routes.update((route.method, path) for route in resource if route.method != "HEAD")
    return sorted(routes)


class Browser:
    def __init__(self, api: Api) -> None:
        self.base = str(api.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.request(method, self.base + path, allow_redirects=False, **kw) as resp:
            body = (await resp.read()).decode("utf-8", "replace")
            if m := CSRF.search(body):
                self.csrf = m.group(1)
            return resp.status, body

    async def sign_in(self, username: str) -> Browser:
        await self.request("GET", "/staff/login")
        status, body = await self.request(
            "POST", "/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": self.csrf}
        )
        assert status == 302, body
        status, _ = await self.request("GET", "/staff/dashboard")  # a page with the logout form's token
        assert status == 200
        return self


@pytest_asyncio.fixture
async def console(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    await load(database_url, tmp_path)
    async for api in serve_api(database_url):
        await create_staff(api.db, "donghu", PASSWORD, "district", "360102")
        await create_staff(api.db, "one_school", PASSWORD, "school", "3601020102")
        yield api


async def snapshot(api: Api) -> tuple[Any, ...]:
    return (
        await api.scalar("SELECT count(*) FROM tickets WHERE status = 'open' AND assigned_to IS NULL"),
        await api.scalar("SELECT count(*) FROM agent_replies"),
        await api.scalar("SELECT count(*) FROM conversation_tags"),
        await api.scalar("SELECT count(*) FROM cards"),
        await api.scalar("SELECT count(*) FROM staff_users WHERE active"),
    )


async def test_every_console_route_is_limited_for_districts_and_schools(console: Api) -> None:
    routes = console_routes(console)
    unclassified = [r for r in routes if r not in ROUTES]
    assert not unclassified, f"decide what schools and districts may do on {unclassified}"
    status, body = await console.post("/api/v1/tickets", {"channel_user": "scope-user", "summary": "找人工"})
    assert status == 201, body
    ticket = str(await console.scalar("SELECT max(id) FROM tickets"))
    before = await snapshot(console)
    for username in ("donghu", "one_school"):
        browser = await Browser(console).sign_in(username)
        try:
            for method, template in routes:
                path = template.replace("{ticket_id}", ticket).replace("{ref}", "x")
                kind = ROUTES[(method, template)]
                if method == "POST":
                    status, body = await browser.request(
                        "POST", path, data={"csrf_token": browser.csrf, "text": "hi", "tag": "t", "id_number": "x"}
                    )
                    if path == "/staff/logout":
                        assert status == 302
                        await browser.sign_in(username)
                    else:
                        assert status == 403, (username, path, status, body[:200])
                    continue
                status, body = await browser.request("GET", path + QUERIES.get(path, ""))
                if kind in (SUPPORT, ADMIN):
                    assert status == 403, (username, path, status)
                    assert "<table" not in body and "scope-user" not in body, (username, path)
                    if path.startswith("/staff/api/"):
                        assert '"forbidden"' in body
                elif kind == ANYONE:
                    assert status == 302, (username, path, status)
                elif kind == BUREAU and username == "one_school":
                    assert status == 403 and "<table" not in body, (username, path, status)
                else:
                    assert status == 200, (username, path, status, body[:300])
                    for other in OTHERS[username]:
                        assert other not in body, (username, path, other)
        finally:
            await browser.http.close()
    assert await snapshot(console) == before


async def test_scoped_accounts_land_on_the_dashboard(console: Api) -> None:
    browser = await Browser(console).sign_in("one_school")
    try:
        status, _ = await browser.request("GET", "/staff")
        async with browser.http.get(browser.base + "/staff", allow_redirects=False) as resp:
            assert resp.headers["Location"] == "/staff/dashboard"
        _, page = await browser.request("GET", "/staff/dashboard")
        assert "东湖区第二小学" in page and 'href="/staff/tickets"' not in page
    finally:
        await browser.http.close()


def test_scope_formats() -> None:
    assert Scope.parse("district", "3601").label == "南昌市"
    assert Scope.parse("district", "360781").label == "赣州市瑞金市"
    assert Scope.parse("school", " 3601020101, 3601020102,3601020101").codes == ("3601020101", "3601020102")
    for role, scope in (
        ("district", ""),
        ("district", "36010"),
        ("district", "3612"),
        ("district", "360105"),
        ("district", "3601,3602"),
        ("district", "３６０１"),
        ("school", ""),
        ("school", "36'; DROP"),
        ("admin", "3601"),
        ("agent", "3601020101"),
        ("root", None),
    ):
        with pytest.raises(ValueError):
            Scope.parse(role, scope)
    assert Scope.parse("admin", None).everything and Scope.parse("agent", "").text is None


async def test_the_schema_requires_a_scope_for_districts_and_schools(console: Api) -> None:
    for role, scope in (("district", None), ("school", None), ("district", "36010101"), ("admin", "3601")):
        with pytest.raises(IntegrityError):
            async with console.db.writing() as session:
                await session.execute(
                    sql(
                        "INSERT INTO staff_users (username, password_hash, role, active, session_version, scope) "
                        "VALUES ('x', 'h', :role, :t, 0, :scope)"
                    ),
                    {"role": role, "scope": scope, "t": True},
                )


def create_staff_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": database_url, "HOME": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, "-m", "backend", "create-staff", *args, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


async def test_create_staff_with_a_scope(console: Api) -> None:
    url = console.db.url
    done = create_staff_cli(url, "ganzhou", "--role", "district", "--scope", "3607")
    assert done.returncode == 0, done.stderr
    done = create_staff_cli(url, "schools2", "--role", "school", "--scope", "3601020101,3601110201")
    assert done.returncode == 0, done.stderr
    assert await console.scalar("SELECT scope FROM staff_users WHERE username = 'ganzhou'") == "3607"
    assert await console.scalar("SELECT scope FROM staff_users WHERE username = 'schools2'") == "3601020101,3601110201"
    for args in (
        ("--role", "district"),
        ("--role", "district", "--scope", "36"),
        ("--role", "school"),
        ("--role", "admin", "--scope", "3601"),
    ):
        done = create_staff_cli(url, "refused", *args)
        assert done.returncode == 2 and "scope" in done.stderr, (args, done.stderr)
    assert await console.scalar("SELECT count(*) FROM staff_users WHERE username = 'refused'") == 0
    # The district's coverage over the API: its city only.
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    base = str(console.client.make_url("")).rstrip("/")
    try:
        async with http.post(base + "/staff/api/login", json={"username": "ganzhou", "password": PASSWORD}) as r:
            assert r.status == 200
        async with http.get(base + "/staff/api/coverage?level=county") as r:
            assert [row["code"] for row in (await r.json())["rows"]] == ["360781"]
    finally:
        await http.close()
