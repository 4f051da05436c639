"""Who has not claimed (backend/campaign/not_claimed.py) on SQLite and
PostgreSQL: the lists against the registry and the cards, masked
everywhere (page, API, CSV, Excel, CLI), pages of them, the downloads
audited and readable, linked from the dashboard's coverage table."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from sqlalchemy import text as sql

from backend.campaign.not_claimed import Unit, classes, find_school, unclaimed
from backend.campaign.scope import Scope
from backend.db import Database
from identity.masking import MASKED_ID
from tests.backend.campaign.campaign_data import CLASSES, GRADES, SCHOOLS, load, members
from tests.backend.campaign.not_claimed_lists import assert_nothing_in_full, masked, page_rows
from tests.backend.campaign.not_claimed_lists import unclaimed as expected
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[3]
PAGE = "/staff/campaign/not-claimed"
EXPORT = PAGE + "/export"
API = "/staff/api/not-claimed"


@pytest_asyncio.fixture
async def campaign_db(database_url: str, tmp_path: Path) -> str:
    await load(database_url, tmp_path)
    return database_url


async def test_the_lists_are_the_registry_without_the_cards(campaign_db: str) -> None:
    db = Database(campaign_db)
    admin = Scope("admin")
    try:
        async with db.reading() as session:
            for code, name, district, _ in SCHOOLS:
                school = await find_school(session, code, admin)
                assert school is not None and (school.name, school.district_code) == (name, district)
                teachers = await unclaimed(session, "teacher", Unit(code), admin)
                assert sorted((p.name, p.id_number) for p in teachers) == masked(expected(code, kind="teacher"))
                everyone = await unclaimed(session, "student", Unit(code), admin)
                assert sorted((p.name, p.id_number) for p in everyone) == masked(expected(code))
                for grade in GRADES:
                    for klass in CLASSES:
                        rows = await unclaimed(session, "student", Unit(code, grade, klass), admin)
                        assert sorted((p.name, p.id_number) for p in rows) == masked(expected(code, grade, klass))
                        assert {(p.school_code, p.grade, p.class_name) for p in rows} <= {(code, grade, klass)}
                        assert await unclaimed(session, "teacher", Unit(code, grade, klass), admin) == []
                counts = await classes(session, Unit(code), admin)
                assert [(c.grade, c.class_name, c.unclaimed) for c in counts] == [
                    (g, k, len(expected(code, g, k))) for g in sorted(GRADES) for k in CLASSES
                ]
                assert all(c.students == 3 for c in counts)  # the graduate and the suspended do not count
            # Pages of a list: in order, without gaps or repeats.
            whole = await unclaimed(session, "student", Unit("3601020101"), admin)
            paged = [
                p
                for offset in range(0, len(whole) + 2, 2)
                for p in await unclaimed(session, "student", Unit("3601020101"), admin, limit=2, offset=offset)
            ]
            assert paged == whole
            # Scope: another's school is not found, and its lists are empty.
            mine = Scope.parse("school", "3601020102")
            assert await find_school(session, "3601020101", mine) is None
            assert await unclaimed(session, "student", Unit("3601020101"), mine) == []
            assert await classes(session, Unit("3601020101"), mine) == []
            county = Scope.parse("district", "360111")
            assert await find_school(session, "3601020101", county) is None
            assert await unclaimed(session, "teacher", Unit("3601020101"), county) == []
            assert await find_school(session, "3601110201", county) is not None
            assert await find_school(session, "9999999999", admin) is None
    finally:
        await db.dispose()


def test_masks_and_units() -> None:
    people = [m for m in members() if not m.claimed]
    for name, id_number in masked(people):
        assert MASKED_ID.fullmatch(id_number) and "*" in name
    assert Unit.parse("3601020101/一年级/1班") == Unit("3601020101", "一年级", "1班")
    assert Unit.parse("3601020101").code == "3601020101"
    for bad in ("", "3601020101/", "3601020101//1班", "a/b/c/d", "36-01", "3601020101\x00", "x" * 33):
        with pytest.raises(ValueError):
            Unit.parse(bad)
    with pytest.raises(ValueError):
        Unit.of("3601020101", None, "1班")


async def test_the_page_lists_a_class_and_a_schools_teachers_masked(accounts_api: Api, login: Any) -> None:
    school = await login("one_school")
    own = "3601020102"
    status, body, _ = await school.get(PAGE)  # without a school: its schools to pick from
    assert status == 200 and f'href="{PAGE}?school={own}"' in body.decode()
    status, body, _ = await school.get(f"{PAGE}?school={own}")
    html = body.decode()
    assert status == 200, html[:500]
    assert page_rows(html, "teacher") == masked(expected(own, kind="teacher"))
    assert page_rows(html, "student") == []
    counts = dict(
        re.findall(r'<tr data-class="([^"]*)">(?:(?!</tr>).)*<td class="num unclaimed">(\d+)</td>', html, re.S)
    )
    assert counts == {f"{g}/{k}": str(len(expected(own, g, k))) for g in GRADES for k in CLASSES}
    assert_nothing_in_full(html)
    for grade in GRADES:
        for klass in CLASSES:
            status, body, _ = await school.get(f"{PAGE}?school={own}&grade={quote(grade)}&class={quote(klass)}")
            html = body.decode()
            assert status == 200
            assert page_rows(html, "student") == masked(expected(own, grade, klass))
            assert page_rows(html, "teacher") == []
            assert_nothing_in_full(html)
    status, body, _ = await school.get(f"{PAGE}?school={own}&grade={quote('一年级')}")
    assert status == 200 and re.findall(r'data-class="([^"]*)"', body.decode()) == ["一年级/1班", "一年级/2班"]
    assert (await school.get(f"{PAGE}?school={own}&class=1"))[0] == 400  # a class needs its grade
    views = await accounts_api.scalar(
        "SELECT count(*) FROM staff_audit WHERE staff_username = 'one_school' AND action = 'view_not_claimed'"
    )
    assert views == 2 + len(GRADES) * len(CLASSES)


async def test_pages_of_a_long_list(accounts_api: Api, login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.web.console import not_claimed as page_module

    monkeypatch.setattr(page_module, "PAGE_SIZE", 2)
    admin = await login("prov_admin")
    school = "3601020101"  # one unclaimed teacher would fit a page: the students of a class then
    klass = f"school={school}&grade={quote('一年级')}&class={quote('1班')}"
    want = masked(expected(school, "一年级", "1班"))
    assert len(want) == 3
    seen: list[tuple[str, str]] = []
    for page in (1, 2):
        status, body, _ = await admin.get(f"{PAGE}?{klass}&page={page}")
        html = body.decode()
        seen += page_rows(html, "student")
        assert ('id="not-claimed-next"' in html) == (page == 1)
        assert ('id="not-claimed-previous"' in html) == (page == 2)
    assert sorted(seen) == want
    status, body, _ = await admin.get(f"{API}?unit={school}/{quote('一年级')}/{quote('1班')}&page=2")
    answer = json.loads(body)
    assert status == 200 and answer["page"] == 2 and not answer["more"] and len(answer["rows"]) == 1
    status, body, _ = await admin.get(f"{PAGE}?{klass}&page=99")
    assert status == 200 and "本页没有记录" in body.decode()


async def test_the_api_answers_masked_rows(accounts_api: Api, login: Any) -> None:
    city = await login("nc_city")
    status, body, _ = await city.get(f"{API}?unit=3601110201&kind=teachers")
    answer = json.loads(body)
    assert status == 200 and answer["school"] == {"code": "3601110201", "name": "青山湖区实验中学"}
    assert sorted((r["name"], r["id_number"]) for r in answer["rows"]) == masked(expected("3601110201", kind="teacher"))
    assert_nothing_in_full(body.decode())
    status, body, _ = await city.get(f"{API}?unit=3601110201")
    assert sorted((r["name"], r["id_number"]) for r in json.loads(body)["rows"]) == masked(expected("3601110201"))
    for bad in ("", "unit=3601110201/一年级&kind=teacher", "unit=3601110201&kind=parent", "unit=a/b/c/d"):
        status, body, _ = await city.get(f"{API}?{bad}")
        assert status == 400 and json.loads(body)["code"] == "bad_request", bad
    status, body, _ = await city.get(f"{API}?unit=3607810301")
    assert status == 404 and json.loads(body)["code"] == "not_found"


async def test_downloads_are_masked_readable_and_audited(accounts_api: Api, login: Any) -> None:
    from openpyxl import load_workbook

    county = await login("donghu")
    school = "3601020101"
    status, body, headers = await county.get(f"{EXPORT}?school={school}&format=xlsx")
    assert status == 200 and "spreadsheetml" in headers["Content-Type"]
    assert "attachment" in headers["Content-Disposition"] and headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(body)).active
    assert [c.value for c in sheet[1]] == [
        "类别",
        "学校代码",
        "学校名称",
        "年级",
        "班级",
        "姓名（已脱敏）",
        "身份证号（已脱敏）",
    ]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted((r[5], r[6]) for r in rows if r[0] == "学生") == masked(expected(school))
    assert sorted((r[5], r[6]) for r in rows if r[0] == "教师") == masked(expected(school, kind="teacher"))
    assert {r[1] for r in rows} == {school} and sheet.freeze_panes == "A2"
    assert_nothing_in_full("\n".join(str(v) for r in rows for v in r))
    klass = f"school={school}&grade={quote('二年级')}&class={quote('2班')}"
    status, body, headers = await county.get(f"{EXPORT}?{klass}&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv") and body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("类别,学校代码")
    assert sorted(tuple(line.split(",")[5:7]) for line in lines[1:]) == masked(expected(school, "二年级", "2班"))
    assert_nothing_in_full(text)
    assert (await county.get(f"{EXPORT}?{klass}&format=pdf"))[0] == 400
    entries = await accounts_api.scalar(
        "SELECT count(*) FROM staff_audit WHERE staff_username = 'donghu' AND action = 'export_not_claimed'"
    )
    assert entries == 2
    assert (
        await accounts_api.scalar(
            f"SELECT count(*) FROM staff_audit WHERE action = 'export_not_claimed' AND target = '{school}/二年级/2班'"
        )
        == 1
    )


async def test_the_dashboard_links_schools_and_classes_to_their_lists(accounts_api: Api, login: Any) -> None:
    county = await login("donghu")
    status, body, _ = await county.get("/staff/dashboard?level=school")
    html = body.decode()
    assert f'href="{PAGE}?school=3601020101"' in html and f'href="{PAGE}?school=3601020102"' in html
    status, body, _ = await county.get(f"/staff/dashboard?level=class&within={quote('3601020101/一年级')}")
    link = f"{PAGE}?school=3601020101&amp;grade={quote('一年级')}&amp;class={quote('1班')}"
    assert f'href="{link}"' in body.decode()
    status, body, _ = await county.get(link.replace("&amp;", "&"))
    assert status == 200 and page_rows(body.decode(), "student") == masked(expected("3601020101", "一年级", "1班"))
    city = await login("nc_city")
    status, body, _ = await city.get("/staff/dashboard")  # by county: no list link
    assert status == 200 and 'class="not-claimed"' not in body.decode()


async def test_the_command_line_writes_masked_files_and_audits(campaign_db: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": campaign_db, "HOME": str(ROOT / "var")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend", "not-claimed", *args],
            text=True,
            capture_output=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )

    out = tmp_path / "list.xlsx"
    done = run("--school", "3607810301", "--format", "xlsx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(load_workbook(out).active.iter_rows(min_row=2, values_only=True))
    assert sorted((r[5], r[6]) for r in rows) == masked(expected("3607810301") + expected("3607810301", kind="teacher"))
    done = run("--school", "3607810301", "--grade", "一年级", "--class", "1班")
    assert done.returncode == 0, done.stderr
    assert_nothing_in_full(done.stdout + done.stderr)
    lines = done.stdout.lstrip("\ufeff").splitlines()
    assert sorted(tuple(line.split(",")[5:7]) for line in lines[1:]) == masked(expected("3607810301", "一年级", "1班"))
    assert run("--school", "9999999999").returncode == 1
    assert run("--school", "36'--").returncode == 2
    assert run("--school", "3607810301", "--format", "xlsx").returncode == 2

    db = Database(campaign_db)
    try:
        async with db.reading() as session:
            audited = await session.scalar(sql("SELECT count(*) FROM staff_audit WHERE action = 'export_not_claimed'"))
    finally:
        await db.dispose()
    assert audited == 2
