"""The September report (发放领取情况通报: backend/campaign/bulletin.py, the
console page backend/web/console/bulletin.py, `python -m backend
bulletin`) on SQLite and PostgreSQL: its figures are coverage's, the units
ranked by claim rate, the trend, the failure causes with the contract's
labels; the page, its PDF and Excel forms; who may see which unit (scope
attacks first); every view and download audited."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy import text as sql

from backend.campaign.bulletin import PROVINCE, Bulletin, gather, rank, unit_scope
from backend.campaign.coverage import CoverageRow, coverage, totals
from backend.db import Database
from backend.models import Card, ClaimAttempt
from backend.registry.jiangxi import CITIES
from backend.web.console.staff import create_staff
from contract.failures import FAILURE_LABELS
from tests.backend.campaign.campaign_data import expected, load
from tests.conftest import Api, serve_api

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "a long enough password"
BULLETIN = "/staff/campaign/bulletin"
# (district, school, failure code, how many): failed claim attempts.
FAILURES = [
    ("360102", "3601020101", "identity_not_found", 3),
    ("360102", "3601020102", "guardian_mismatch", 2),
    ("360111", "3601110201", "not_enrolled", 1),
    ("360781", "3607810301", "identity_not_found", 4),
    ("360781", "3607810301", "rate_limited", 1),
]
DAYS_BACK = 3  # the cards were issued over three Beijing days


async def add_attempts_and_spread_cards(url: str) -> None:
    db = Database(url)
    noon = dt.datetime.combine(dt.date.today(), dt.time(4))  # 12:00 in Beijing, as naive UTC
    try:
        async with db.writing() as session:
            for district, school, code, n in FAILURES:
                for _ in range(n):
                    session.add(
                        ClaimAttempt(
                            action="claim", success=False, failure_code=code, district_code=district, school_code=school
                        )
                    )
            # Neither a success nor a failed refresh is a failure cause.
            session.add(ClaimAttempt(action="claim", success=True, district_code="360102", school_code="3601020101"))
            session.add(
                ClaimAttempt(action="refresh", success=False, failure_code="card_not_found", district_code="360102")
            )
            for card in (await session.execute(select(Card).order_by(Card.id))).scalars():
                card.created_at = noon - dt.timedelta(days=card.id % DAYS_BACK)
    finally:
        await db.dispose()


@pytest_asyncio.fixture
async def campaign_db(database_url: str, tmp_path: Path) -> str:
    await load(database_url, tmp_path)
    await add_attempts_and_spread_cards(database_url)
    return database_url


async def bulletin_of(url: str, unit: str) -> tuple[Bulletin, list[CoverageRow]]:
    """The bulletin of a unit, and coverage's rows for the same unit and level."""
    db = Database(url)
    try:
        async with db.reading() as session:
            b = await gather(session, db.dialect, unit)
            rows = await coverage(session, b.level, unit_scope(unit))
        return b, rows
    finally:
        await db.dispose()


def figures(row: CoverageRow) -> tuple[int, int, int, int]:
    return row.students, row.students_claimed, row.teachers, row.teachers_claimed


# -- the figures ---------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [PROVINCE, "3601", "3607", "360102"])
async def test_the_figures_are_coverages(campaign_db: str, unit: str) -> None:
    b, rows = await bulletin_of(campaign_db, unit)
    mine = {r.row.code: figures(r.row) for r in b.ranking}
    assert {r.code: figures(r) for r in rows} == {k: v for k, v in mine.items() if any(v)}
    assert figures(b.total) == figures(totals(rows))
    if unit == PROVINCE:  # every city is listed, with registry rows or not
        assert b.level == "city" and sorted(mine) == sorted(CITIES)
        assert {k: v for k, v in mine.items() if any(v)} == expected("city")
    if unit == "3601":
        assert b.level == "county" and {"360102", "360111", "360103"} <= set(mine)
        assert all(code.startswith("3601") for code in mine)
    if unit == "360102":
        assert b.level == "school" and set(mine) == {"3601020101", "3601020102"}


async def test_units_are_ranked_by_claim_rate(campaign_db: str) -> None:
    b, _ = await bulletin_of(campaign_db, PROVINCE)
    ranked = [r for r in b.ranking if r.rank is not None]
    want = sorted(expected("city").items(), key=lambda kv: (-(kv[1][1] + kv[1][3]) / (kv[1][0] + kv[1][2]), kv[0]))
    assert [r.row.code for r in ranked] == [code for code, _ in want]
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    rates = [r.rate for r in ranked]
    assert rates == sorted(rates, reverse=True)  # type: ignore[type-var]
    assert all(r.rank is None and r.rate is None for r in b.ranking[len(ranked) :])  # the empty cities last
    # Equal rates share a rank; the next rank skips.
    rows = [
        CoverageRow("a", "A", 10, 5),
        CoverageRow("b", "B", 4, 2),
        CoverageRow("c", "C", 10, 1),
        CoverageRow("d", "D"),
    ]
    assert [(r.row.code, r.rank) for r in rank(rows)] == [("a", 1), ("b", 1), ("c", 3), ("d", None)]


async def test_the_trend_counts_cards_per_day_and_the_cumulative_rate(campaign_db: str) -> None:
    for unit in (PROVINCE, "360102"):
        b, _ = await bulletin_of(campaign_db, unit)
        assert len(b.trend) == DAYS_BACK
        assert [t.day for t in b.trend] == sorted(t.day for t in b.trend)
        claimed = b.total.students_claimed + b.total.teachers_claimed
        assert b.trend[-1].claimed == claimed and b.trend[-1].rate(b.people) == b.total_rate
        claims = [t.claimed for t in b.trend]
        assert claims == sorted(claims)
    b, _ = await bulletin_of(campaign_db, PROVINCE)
    # Every card of the province (the graduate's and the retiree's too) is a card issued.
    assert sum(t.cards for t in b.trend) == await count_cards(campaign_db)


async def count_cards(url: str) -> int:
    db = Database(url)
    try:
        async with db.reading() as session:
            return len((await session.execute(select(Card.id))).all())
    finally:
        await db.dispose()


async def test_failure_causes_by_code_with_the_contracts_labels(campaign_db: str) -> None:
    b, _ = await bulletin_of(campaign_db, PROVINCE)
    assert [(f.code, f.label, f.attempts) for f in b.failures] == [
        ("identity_not_found", FAILURE_LABELS["identity_not_found"], 7),
        ("guardian_mismatch", FAILURE_LABELS["guardian_mismatch"], 2),
        ("not_enrolled", FAILURE_LABELS["not_enrolled"], 1),
        ("rate_limited", FAILURE_LABELS["rate_limited"], 1),
    ]
    assert b.failed_attempts == 11 and b.failures[0].share == round(7 * 100 / 11, 1)
    b, _ = await bulletin_of(campaign_db, "360102")
    assert [(f.code, f.attempts) for f in b.failures] == [("identity_not_found", 3), ("guardian_mismatch", 2)]


# -- over HTTP -------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def console(campaign_db: str) -> AsyncIterator[Api]:
    async for api in serve_api(campaign_db):
        await create_staff(api.db, "prov_admin", PASSWORD, "admin")
        await create_staff(api.db, "desk_agent", PASSWORD, "agent")
        await create_staff(api.db, "nc_city", PASSWORD, "district", "3601")
        await create_staff(api.db, "donghu", PASSWORD, "district", "360102")
        await create_staff(api.db, "two_schools", PASSWORD, "school", "3601020102,3607810301")
        yield api


class Client:
    def __init__(self, api: Api) -> None:
        self.base = str(api.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, username: str) -> Client:
        async with self.http.post(
            self.base + "/staff/api/login", json={"username": username, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200
        return self

    async def get(self, path: str) -> tuple[int, bytes, Any]:
        async with self.http.get(self.base + path, allow_redirects=False) as resp:
            return resp.status, await resp.read(), resp


@pytest_asyncio.fixture
async def signed_in(console: Api) -> AsyncIterator[Any]:
    made: list[Client] = []

    async def make(username: str | None = None) -> Client:
        made.append(Client(console))
        return await made[-1].login(username) if username else made[-1]

    yield make
    for c in made:
        await c.http.close()


async def test_scope_attacks_are_refused(console: Api, signed_in: Any) -> None:
    """A district account asks for the province, another city, a county of
    another city, a sibling county; schools and agents ask for anything."""
    attacks = {
        "donghu": [PROVINCE, "3601", "360111", "3607", "360781", "36010", "36 ", "3601 "],
        "nc_city": [PROVINCE, "3607", "360781", "3602"],
        "two_schools": [PROVINCE, "3601", "360102", "3607", "360781", ""],
        "desk_agent": [PROVINCE, "3601", ""],
    }
    for username, units in attacks.items():
        client = await signed_in(username)
        for unit in units:
            for kind in ("html", "pdf", "xlsx"):
                status, body, _ = await client.get(f"{BULLETIN}?unit={unit}&format={kind}")
                assert status in (400, 403), (username, unit, kind, status)
                assert b"<table" not in body and b"PK" != body[:2] and not body.startswith(b"%PDF")
                if unit.strip() in (PROVINCE, "3607", "360781"):
                    assert status == 403, (username, unit, kind, status)
    # A bad unit or format is a 400, whoever asks.
    admin = await signed_in("prov_admin")
    for query in ("unit=36%20OR%201=1", "unit=3699", "unit=360199", "unit=..%2F36", "format=docx"):
        assert (await admin.get(f"{BULLETIN}?{query}"))[0] == 400, query
    # Anonymous: to the login form.
    status, _, resp = await (await signed_in()).get(f"{BULLETIN}?unit=36&format=xlsx")
    assert status == 302 and resp.headers["Location"].startswith("/staff/login")
    refused = await console.scalar(
        "SELECT count(*) FROM staff_audit WHERE action = 'denied_bulletin' AND staff_username = 'donghu'"
    )
    assert refused > 0
    assert await console.scalar("SELECT count(*) FROM staff_audit WHERE action = 'export_bulletin'") == 0


async def test_each_account_sees_its_own_units(console: Api, signed_in: Any) -> None:
    admin = await signed_in("prov_admin")
    status, page, _ = await admin.get(BULLETIN)
    text = page.decode()
    assert status == 200 and "江西省学习号发放领取情况通报" in text
    units = re.findall(r'<tr data-unit="([^"]*)" data-rank="([^"]*)"', text)
    assert len(units) == len(CITIES) and units[0][1] == "1"
    assert "赣教规划字〔2019〕20号" in text and "省教育厅将在9月初对发放领取情况进行通报" in text
    for label in ("未核验到身份", "监护人不符", "学籍非在读", "失败次数过多"):
        assert label in text
    assert 'id="chart-bulletin-cards"' in text and 'id="chart-bulletin-rate"' in text
    assert 'href="/staff/campaign/bulletin?unit=3601"' in text  # a city's own bulletin

    city = await signed_in("nc_city")
    status, page, _ = await city.get(BULLETIN)
    text = page.decode()
    assert status == 200 and "南昌市学习号发放领取情况通报" in text and "瑞金" not in text
    assert all(code.startswith("3601") for code in re.findall(r'<tr data-unit="([^"]*)"', text))
    status, page, _ = await city.get(f"{BULLETIN}?unit=360102")
    assert status == 200 and 'id="bulletin-parent"' in page.decode()

    county = await signed_in("donghu")
    status, page, _ = await county.get(BULLETIN)
    text = page.decode()
    # 东湖区第二小学 6 of 15 (5 students of 12, 1 teacher of 3), 实验小学 4 of 15.
    assert status == 200 and re.findall(r'<tr data-unit="([^"]*)"', text) == ["3601020102", "3601020101"]
    for other in ("3601110201", "青山湖区实验中学", "3607810301", "瑞金市第一中学", "学籍非在读", "失败次数过多"):
        assert other not in text, other
    assert 'id="bulletin-parent"' not in text  # its city is not its to see
    assert await console.scalar("SELECT count(*) FROM staff_audit WHERE action = 'view_bulletin'") == 4


async def test_the_excel_workbook(console: Api, signed_in: Any) -> None:
    from openpyxl import load_workbook

    city = await signed_in("nc_city")
    status, body, resp = await city.get(f"{BULLETIN}?unit=3601&format=xlsx")
    assert status == 200 and "spreadsheetml" in resp.headers["Content-Type"]
    assert "attachment" in resp.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["排名", "失败原因", "趋势"]
    ranking = book["排名"]
    assert [c.value for c in ranking[1]][:4] == ["名次", "代码", "县（市、区）", "在读学生数"]
    assert ranking.freeze_panes == "D2"
    rows = list(ranking.iter_rows(min_row=2, values_only=True))
    by_code = {r[1]: r for r in rows[:-1]}
    for code, (students, claimed, teachers, teachers_claimed) in expected("county", "3601").items():
        row = by_code[code]
        assert (row[3], row[4], row[6], row[7]) == (students, claimed, teachers, teachers_claimed)
        assert row[5] == pytest.approx(claimed / students)
        assert isinstance(row[3], int)
    assert rows[-1][2] == "合计"
    for column in (6, 9, 10):
        assert ranking.cell(row=2, column=column).number_format == "0.0%"
    causes = book["失败原因"]
    assert [c.value for c in causes[1]] == ["失败原因", "代码", "失败次数", "占比"]
    assert list(causes.iter_rows(min_row=2, values_only=True)) == [  # 南昌市: 东湖区 and 青山湖区
        ("未核验到身份", "identity_not_found", 3, pytest.approx(3 / 6)),
        ("监护人不符", "guardian_mismatch", 2, pytest.approx(2 / 6)),
        ("学籍非在读", "not_enrolled", 1, pytest.approx(1 / 6)),
        ("合计", None, 6, 1),
    ]
    assert causes.cell(row=2, column=4).number_format == "0.0%" and causes.freeze_panes == "C2"
    trend = book["趋势"]
    days = list(trend.iter_rows(min_row=2, values_only=True))
    assert len(days) == DAYS_BACK and trend.cell(row=2, column=4).number_format == "0.0%"
    total = expected("city")["3601"]
    assert days[-1][2] == total[1] + total[3]
    assert days[-1][3] == pytest.approx((total[1] + total[3]) / (total[0] + total[2]))
    audited = await console.scalar(
        "SELECT count(*) FROM staff_audit WHERE action = 'export_bulletin' AND staff_username = 'nc_city'"
    )
    assert audited == 1


def pdf_text_hint(body: bytes) -> bool:
    """pypdf is not a dependency: a PDF with text embeds fonts."""
    return b"/Font" in body and (b"/FontFile" in body or b"/FontDescriptor" in body)


async def test_the_pdf(console: Api, signed_in: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    county = await signed_in("donghu")
    status, body, resp = await county.get(f"{BULLETIN}?unit=360102&format=pdf")
    assert status == 200, body[:300]
    assert resp.headers["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF") and len(body) > 5_000 and pdf_text_hint(body)
    # Without Chromium: a clear answer, nothing audited as downloaded.
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    status, body, _ = await county.get(f"{BULLETIN}?unit=360102&format=pdf")
    assert status == 503 and "Chromium" in body.decode()
    audited = await console.scalar(
        "SELECT count(*) FROM staff_audit WHERE action = 'export_bulletin' AND staff_username = 'donghu'"
    )
    assert audited == 1


def bulletin_cli(url: str, *args: str, chromium: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": url, "HOME": str(ROOT / "var")}
    if chromium:
        env["CHROMIUM"] = chromium
    return subprocess.run(
        [sys.executable, "-m", "backend", "bulletin", *args],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )


async def test_the_command_line(campaign_db: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    done = bulletin_cli(campaign_db, "--unit", "3607", "--format", "xlsx", "--out", str(tmp_path / "b.xlsx"))
    assert done.returncode == 0, done.stderr
    assert [r[1] for r in load_workbook(tmp_path / "b.xlsx")["排名"].iter_rows(min_row=2, values_only=True)][0]
    done = bulletin_cli(campaign_db, "--format", "html", "--out", str(tmp_path / "b.html"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert "江西省学习号发放领取情况通报" in html and "<script" not in html and "@page" in html
    assert 'href="/static' not in html  # self-contained
    done = bulletin_cli(campaign_db, "--unit", "3601", "--format", "pdf", "--out", str(tmp_path / "b.pdf"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    done = bulletin_cli(
        campaign_db, "--unit", "3601", "--format", "pdf", "--out", str(tmp_path / "c.pdf"), chromium="/no/chromium"
    )
    assert done.returncode == 1 and "Chromium" in done.stderr and not (tmp_path / "c.pdf").exists()
    done = bulletin_cli(campaign_db, "--unit", "9999", "--format", "xlsx", "--out", str(tmp_path / "d.xlsx"))
    assert done.returncode == 2 and "unit" in done.stderr
    db = Database(campaign_db)
    try:
        async with db.reading() as session:
            n = (
                await session.execute(sql("SELECT count(*) FROM staff_audit WHERE action = 'export_bulletin'"))
            ).scalar()
        assert n == 3
    finally:
        await db.dispose()
