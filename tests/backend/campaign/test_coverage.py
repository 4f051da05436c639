"""Coverage (backend/campaign/coverage.py) on SQLite and PostgreSQL: enrolled
students and active teachers against those holding a card, by city,
county, school, grade and class, within a scope; and over HTTP:
`POST /staff/api/login` and `GET /staff/api/coverage` (CONTRACT.md,
"Campaign"), the dashboard's drill-down and its downloads."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from backend.campaign.coverage import LEVELS, coverage
from backend.campaign.scope import Scope
from backend.db import Database
from backend.web.console.auth import SESSION_COOKIE
from backend.web.console.staff import create_staff
from tests.backend.campaign.campaign_data import as_figures, expected, load
from tests.conftest import Api, serve_api

PASSWORD = "a long enough password"


@pytest_asyncio.fixture
async def campaign_db(database_url: str, tmp_path: Path) -> str:
    await load(database_url, tmp_path)
    return database_url


@pytest_asyncio.fixture
async def console(campaign_db: str) -> AsyncIterator[Api]:
    async for api in serve_api(campaign_db):
        await create_staff(api.db, "prov_admin", PASSWORD, "admin")
        await create_staff(api.db, "desk_agent", PASSWORD, "agent")
        await create_staff(api.db, "nc_city", PASSWORD, "district", "3601")
        await create_staff(api.db, "donghu", PASSWORD, "district", "360102")
        await create_staff(api.db, "two_schools", PASSWORD, "school", "3601020102,3607810301")
        yield api


async def figures(url: str, level: str, scope: Scope, **kw: Any) -> dict[str, tuple[int, int, int, int]]:
    db = Database(url)
    try:
        async with db.reading() as session:
            rows = await coverage(session, level, scope, **kw)
        return as_figures([r.as_json() for r in rows])
    finally:
        await db.dispose()


@pytest.mark.parametrize("level", LEVELS)
async def test_coverage_counts_enrolled_students_and_active_teachers(campaign_db: str, level: str) -> None:
    assert await figures(campaign_db, level, Scope("admin")) == expected(level)


async def test_coverage_is_limited_to_the_scope_and_narrowed_by_within(campaign_db: str) -> None:
    city = Scope.parse("district", "3601")
    assert set(await figures(campaign_db, "county", city)) == {"360102", "360111"}
    assert await figures(campaign_db, "school", city) == {
        k: v for k, v in expected("school").items() if k.startswith("3601")
    }
    county = Scope.parse("district", "360781")
    assert await figures(campaign_db, "city", county) == {"3607": expected("county")["360781"]}
    schools = Scope.parse("school", "3601020102,3607810301")
    assert set(await figures(campaign_db, "school", schools)) == {"3601020102", "3607810301"}
    # within: a unit's code narrows (and never widens) the rows.
    assert await figures(campaign_db, "class", Scope("admin"), within="3601020101/二年级") == {
        k: v for k, v in expected("class").items() if k.startswith("3601020101/二年级/")
    }
    assert await figures(campaign_db, "school", city, within="360781") == {}
    assert await figures(campaign_db, "grade", schools, within="3601020101") == {}
    # stage: the students of one stage and their schools' teachers.
    assert set(await figures(campaign_db, "school", Scope("admin"), stage="primary")) == {"3601020101", "3601020102"}


def test_names_and_rates() -> None:
    from backend.campaign.coverage import CoverageRow

    row = CoverageRow("3601", "南昌市", 8, 3, 0, 0)
    assert row.as_json()["students_rate"] == 37.5 and row.as_json()["teachers_rate"] is None


# -- over HTTP ---------------------------------------------------------------------------------


class Client:
    def __init__(self, api: Api) -> None:
        self.base = str(api.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, username: str, password: str = PASSWORD, **kw: Any) -> tuple[int, Any]:
        async with self.http.post(
            self.base + "/staff/api/login", json={"username": username, "password": password}, **kw
        ) as resp:
            return resp.status, await resp.json()

    async def get(self, path: str) -> tuple[int, bytes, Any]:
        async with self.http.get(self.base + path, allow_redirects=False) as resp:
            return resp.status, await resp.read(), resp

    async def rows(self, query: str) -> dict[str, tuple[int, int, int, int]]:
        status, body, _ = await self.get("/staff/api/coverage?" + query)
        assert status == 200, body
        import json

        return as_figures(json.loads(body)["rows"])


@pytest_asyncio.fixture
async def client(console: Api) -> AsyncIterator[Any]:
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(console))
        return made[-1]

    yield make
    for c in made:
        await c.http.close()


async def test_api_login_and_coverage_within_the_accounts_scope(console: Api, client: Any) -> None:
    anonymous = client()
    status, body, _ = await anonymous.get("/staff/api/coverage?level=city")
    assert status == 401
    assert (await anonymous.login("prov_admin", "wrong password!"))[0] == 401
    assert (await anonymous.login("nobody", PASSWORD))[0] == 401
    async with anonymous.http.post(
        anonymous.base + "/staff/api/login", data={"username": "prov_admin", "password": PASSWORD}
    ) as resp:
        assert resp.status == 415  # JSON only: a cross-site form cannot sign anyone in
    assert anonymous.http.cookie_jar.filter_cookies(anonymous.base + "/staff").get(SESSION_COOKIE) is None

    admin = client()
    status, answer = await admin.login("prov_admin")
    assert status == 200 and answer["role"] == "admin"
    for level in LEVELS:
        assert await admin.rows(f"level={level}") == expected(level)
    row = (await admin.get("/staff/api/coverage?level=city"))[1]
    assert b'"students_rate"' in row
    assert (await admin.get("/staff/api/coverage?level=street"))[0] == 400

    city = client()
    assert (await city.login("nc_city"))[0] == 200
    assert await city.rows("level=city") == {"3601": expected("city")["3601"]}
    assert await city.rows("level=school") == {k: v for k, v in expected("school").items() if k.startswith("3601")}
    assert await city.rows("level=school&within=3607") == {}  # another city: nothing, not an error

    schools = client()
    assert (await schools.login("two_schools"))[0] == 200
    assert set(await schools.rows("level=school")) == {"3601020102", "3607810301"}
    assert set(await schools.rows("level=county")) == {"360102", "360781"}
    assert all(code.startswith(("3601020102/", "3607810301/")) for code in await schools.rows("level=class"))

    # Agents do support work: no campaign figures.
    agent = client()
    assert (await agent.login("desk_agent"))[0] == 200
    assert (await agent.get("/staff/api/coverage?level=city"))[0] == 403


async def test_api_login_is_throttled_like_the_form(console: Api, client: Any) -> None:
    guesser = client()
    for _ in range(5):
        assert (await guesser.login("donghu", "not the password"))[0] == 401
    status, answer = await guesser.login("donghu")
    assert status == 429 and answer["code"] == "rate_limited"


async def test_the_dashboard_drills_down_within_the_scope(console: Api, client: Any) -> None:
    city = client()
    assert (await city.login("nc_city"))[0] == 200
    status, page, _ = await city.get("/staff/dashboard")
    text = page.decode()
    assert status == 200
    units = re.findall(r'data-unit="([^"]*)"', text)
    assert units == ["360102", "360111"]
    link = re.search(r'href="(/staff/dashboard\?level=school&amp;within=360102)"', text)
    assert link, text[:2000]
    status, page, _ = await city.get(link.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-unit="([^"]*)"', page.decode()) == ["3601020101", "3601020102"]
    status, page, _ = await city.get("/staff/dashboard?level=class&within=3601020101/一年级")
    assert re.findall(r'data-unit="([^"]*)"', page.decode()) == ["3601020101/一年级/1班", "3601020101/一年级/2班"]
    assert "瑞金" not in page.decode()
    # Support links are not offered to a district.
    assert 'href="/staff/tickets"' not in page.decode()


async def test_coverage_downloads_are_excel_ready_and_audited(console: Api, client: Any) -> None:
    from openpyxl import load_workbook

    county = client()
    assert (await county.login("donghu"))[0] == 200
    status, body, resp = await county.get("/staff/dashboard/coverage?format=xlsx&level=class")
    assert status == 200 and "spreadsheetml" in resp.headers["Content-Type"]
    sheet = load_workbook(io.BytesIO(body)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["代码", "名称", "在读学生数"]
    assert sheet.freeze_panes == "C2"
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    want = expected("class", "360102")
    assert {r[0]: (r[2], r[3]) for r in rows[:-1]} == {k: v[:2] for k, v in want.items()}
    first = sheet.cell(row=2, column=5)
    assert isinstance(sheet.cell(row=2, column=3).value, int) and first.number_format == "0.0%"
    status, body, resp = await county.get("/staff/dashboard/coverage?level=school")
    assert status == 200 and body.startswith("\ufeff".encode())
    assert "3607810301" not in body.decode("utf-8-sig")
    actions = await console.scalar(
        "SELECT count(*) FROM staff_audit WHERE staff_username = 'donghu' AND action = 'export_coverage'"
    )
    assert actions == 2
