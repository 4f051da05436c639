"""Records to fix (backend/campaign/fixes.py, the console's /staff/fixes and
its CSV, the action server's POST /api/v1/records/corrected), on SQLite and
PostgreSQL: claims failed on the registry as a work list per school, the
field to change, "fixed" once a later import changes the record; scope
attacks first; nothing but masked names and ID numbers in pages and files."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from sqlalchemy import text as sql

from backend.campaign.fixes import records_to_fix
from backend.campaign.scope import Scope
from backend.claims.attempts import IdHasher
from backend.registry.columns import STUDENT_COLUMNS
from backend.registry.importer import import_registry
from backend.web.console.staff import create_staff
from identity import mask_name
from tests.conftest import Api, reset_schema, serve_api
from tests.people import (
    FATHER_LI,
    GRADUATED,
    GUARDIAN_HU,
    MOTHER_WANG,
    NO_GUARDIAN,
    SCHOOL,
    XIAOMING,
    Person,
    make_id,
    write_csv,
)

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "a long enough password"
SCHOOL_B = ("3607810301", "瑞金市第一中学", "360781")
OTHER_B = Person("钟小兰", make_id("360781", "20120404", 65))  # school B, no guardian recorded
PEOPLE = [XIAOMING, NO_GUARDIAN, GRADUATED, OTHER_B, GUARDIAN_HU, FATHER_LI, MOTHER_WANG]


def row(
    p: Person, school: tuple[str, str, str], status: str = "enrolled", guardian: Person | None = None
) -> dict[str, str]:
    return {
        "student_no": "S" + p.id_number[-8:],
        "name": p.name,
        "id_number": p.id_number,
        "gender": p.gender,
        "birth_date": p.birth_date,
        "stage": "primary" if status == "enrolled" else "senior",
        "school_code": school[0],
        "school_name": school[1],
        "district_code": school[2],
        "grade": "三年级",
        "class_name": "2班",
        "status": status,
        "guardian1_name": guardian.name if guardian else "",
        "guardian1_id_number": guardian.id_number if guardian else "",
        "guardian1_relation": "父亲" if guardian else "",
        "guardian2_name": "",
        "guardian2_id_number": "",
        "guardian2_relation": "",
    }


def registry(*, no_guardian_fixed: bool = False) -> list[dict[str, str]]:
    return [
        row(XIAOMING, SCHOOL, guardian=FATHER_LI),
        row(NO_GUARDIAN, SCHOOL, guardian=GUARDIAN_HU if no_guardian_fixed else None),
        row(GRADUATED, SCHOOL, status="graduated"),
        row(OTHER_B, SCHOOL_B),
    ]


async def reimport(url: str, directory: Path, rows: list[dict[str, str]]) -> None:
    """The registry imported again, by the CLI in a process of its own, as
    in production (two SQLite libraries in one process, the backend's and
    ADBC's, break each other's locks while the backend is open)."""
    path = write_csv(directory / "students-again.csv", STUDENT_COLUMNS, rows)
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": url, "HOME": str(ROOT / "var"), "PYTHONPATH": str(ROOT)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "backend", "import-registry", "--students", str(path), "--strict", "--no-progress"],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env={**env, **{k: v for k, v in os.environ.items() if k == "TMPDIR"}},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def fail_claims(api: Api) -> None:
    """The four failures: a missing guardian, a graduate, a name other than
    the record's (school A), a missing guardian in school B."""
    parent = {"path": "parent", "guardian_name": GUARDIAN_HU.name, "guardian_id_number": GUARDIAN_HU.id_number}
    for body, code in (
        ({**parent, "name": NO_GUARDIAN.name, "id_number": NO_GUARDIAN.id_number, "channel_user": "chat-hu"}, 422),
        ({"path": "k12_student", "name": GRADUATED.name, "id_number": GRADUATED.id_number, "channel_user": "c2"}, 422),
        ({"path": "k12_student", "name": "李晓明", "id_number": XIAOMING.id_number, "channel_user": "c3"}, 422),
        ({**parent, "name": OTHER_B.name, "id_number": OTHER_B.id_number, "channel_user": "chat-b"}, 422),
    ):
        status, answer = await api.claim(**body)
        assert status == code, answer


@pytest_asyncio.fixture
async def fixes(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Api, Path]]:
    await reset_schema(database_url)
    students = write_csv(tmp_path / "students.csv", STUDENT_COLUMNS, registry())
    reports = await import_registry(database_url, students, None, strict=True)
    assert not reports[0].errors
    async for api in serve_api(database_url):
        await create_staff(api.db, "school_a", PASSWORD, "school", SCHOOL[0])
        await create_staff(api.db, "school_b", PASSWORD, "school", SCHOOL_B[0])
        await create_staff(api.db, "donghu", PASSWORD, "district", "360102")
        await create_staff(api.db, "prov_admin", PASSWORD, "admin")
        await create_staff(api.db, "desk_agent", PASSWORD, "agent")
        await fail_claims(api)
        yield api, tmp_path


class Staff:
    def __init__(self, api: Api) -> None:
        self.base = str(api.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def sign_in(self, username: str) -> Staff:
        async with self.http.post(
            self.base + "/staff/api/login", json={"username": username, "password": PASSWORD}
        ) as r:
            assert r.status == 200
        return self

    async def get(self, path: str) -> tuple[int, str, Any]:
        async with self.http.get(self.base + path, allow_redirects=False) as r:
            return r.status, (await r.read()).decode("utf-8-sig", "replace"), r.headers

    async def close(self) -> None:
        await self.http.close()


async def as_staff(api: Api, username: str, path: str) -> tuple[int, str, Any]:
    staff = await Staff(api).sign_in(username)
    try:
        return await staff.get(path)
    finally:
        await staff.close()


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def assert_masked(body: str) -> None:
    for p in PEOPLE:
        assert p.id_number not in body, p
    for name in (XIAOMING.name, NO_GUARDIAN.name, GRADUATED.name, OTHER_B.name, GUARDIAN_HU.name, "李晓明"):
        assert name not in body, name


# -- attacks first -------------------------------------------------------------------


async def test_a_school_sees_none_of_another_schools_items(fixes: tuple[Api, Path]) -> None:
    api, _ = fixes
    for path in (
        "/staff/fixes",
        "/staff/fixes.csv",
        f"/staff/fixes?school={SCHOOL_B[0]}",
        f"/staff/fixes.csv?school={SCHOOL_B[0]}",
    ):
        status, body, _ = await as_staff(api, "school_a", path)
        assert status == 200, (path, body[:200])
        echoed = body.replace(f'value="{SCHOOL_B[0]}"', "").replace(f"school={SCHOOL_B[0]}", "")  # the query's own
        assert SCHOOL_B[0] not in echoed and SCHOOL_B[1] not in body, path
        assert mask_name(OTHER_B.name) not in body and OTHER_B.id_number[-4:] not in body, path
    # Asking for school B by name gives an empty list, not B's items.
    _, body, _ = await as_staff(api, "school_a", f"/staff/fixes.csv?school={SCHOOL_B[0]}")
    assert csv_rows(body) == []
    status, body, _ = await as_staff(api, "school_b", "/staff/fixes.csv")
    assert status == 200 and {r["学校代码"] for r in csv_rows(body)} == {SCHOOL_B[0]}
    # The district sees its county's school only; the admin both.
    _, body, _ = await as_staff(api, "donghu", "/staff/fixes.csv")
    assert {r["学校代码"] for r in csv_rows(body)} == {SCHOOL[0]}
    _, body, _ = await as_staff(api, "prov_admin", "/staff/fixes.csv")
    assert {r["学校代码"] for r in csv_rows(body)} == {SCHOOL[0], SCHOOL_B[0]}


async def test_agents_and_strangers_get_nothing(fixes: tuple[Api, Path]) -> None:
    api, _ = fixes
    for path in ("/staff/fixes", "/staff/fixes.csv"):
        status, body, _ = await as_staff(api, "desk_agent", path)
        assert status == 403 and "<table" not in body and SCHOOL[1] not in body
        async with api.client.get(path, allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"].startswith("/staff/login")
    for bad in ("?state=all", "?school=3601'--", "?school=" + "9" * 40):
        status, _, _ = await as_staff(api, "prov_admin", "/staff/fixes" + bad)
        assert status == 400, bad


async def test_the_corrected_records_api_needs_the_token_and_answers_only_for_that_chat(
    fixes: tuple[Api, Path],
) -> None:
    api, directory = fixes
    async with api.client.post("/api/v1/records/corrected", json={"channel_user": "chat-hu"}) as resp:
        assert resp.status == 401
    status, answer = await api.post("/api/v1/records/corrected", {})
    assert status == 400 and answer["code"] == "missing_field"
    await reimport(api.db.url, directory, registry(no_guardian_fixed=True))
    for user in ("someone-else", "chat-b", "c2"):
        status, answer = await api.post("/api/v1/records/corrected", {"channel_user": user})
        assert (status, answer) == (200, {"success": True, "corrected": []}), user


async def test_no_full_id_number_or_name_in_pages_files_or_answers(fixes: tuple[Api, Path]) -> None:
    api, directory = fixes
    await reimport(api.db.url, directory, registry(no_guardian_fixed=True))
    for user in ("prov_admin", "school_a", "school_b", "donghu"):
        for path in ("/staff/fixes", "/staff/fixes.csv", "/staff/fixes?state=fixed"):
            status, body, _ = await as_staff(api, user, path)
            assert status == 200
            assert_masked(body)
    _, answer = await api.post("/api/v1/records/corrected", {"channel_user": "chat-hu"})
    assert_masked(str(answer))
    async with api.db.reading() as session:
        audit = str((await session.execute(sql("SELECT target, detail FROM staff_audit"))).all())
    assert_masked(audit)


# -- the work list ---------------------------------------------------------------------


async def test_failed_claims_on_the_registry_are_listed_with_the_field_to_fix(fixes: tuple[Api, Path]) -> None:
    api, _ = fixes
    status, body, headers = await as_staff(api, "school_a", "/staff/fixes.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = {r["学生"]: r for r in csv_rows(body)}
    assert set(rows) == {mask_name(NO_GUARDIAN.name), mask_name(GRADUATED.name), mask_name(XIAOMING.name)}
    missing = rows[mask_name(NO_GUARDIAN.name)]
    assert missing["问题"] == "监护人信息缺失" and "监护人姓名、身份证号" in missing["需修改的字段"]
    assert (
        missing["领卡时所填"] == "家长所填身份证号 " + GUARDIAN_HU.id_number[:4] + "*" * 10 + GUARDIAN_HU.id_number[-4:]
    )
    assert missing["身份证号"] == NO_GUARDIAN.id_number[:4] + "*" * 10 + NO_GUARDIAN.id_number[-4:]
    assert missing["状态"] == "待修改" and missing["学籍库修改时间"] == ""
    graduate = rows[mask_name(GRADUATED.name)]
    assert graduate["问题"] == "非在读" and graduate["需修改的字段"] == "学籍状态（学籍库现为已毕业）"
    name = rows[mask_name(XIAOMING.name)]
    assert name["问题"] == "姓名不符" and "姓名" in name["需修改的字段"] and name["领卡时所填"] == "所填姓名 李*明"
    # Audited like the coverage downloads.
    assert await api.scalar("SELECT count(*) FROM staff_audit WHERE action = 'export_fixes'") == 1
    status, page, _ = await as_staff(api, "school_a", "/staff/fixes")
    assert status == 200 and "监护人信息缺失" in page and 'id="fixes-table"' in page
    assert await api.scalar("SELECT count(*) FROM staff_audit WHERE action = 'view_fixes'") == 1


async def test_an_import_that_changes_the_guardian_marks_the_item_fixed(fixes: tuple[Api, Path]) -> None:
    api, directory = fixes
    hasher = IdHasher("test-key")
    # The same file again changes nothing: nothing is fixed.
    await reimport(api.db.url, directory, registry())
    async with api.db.reading() as session:
        items = await records_to_fix(session, Scope("admin"), hasher)
    assert [i.state for i in items] == ["open"] * 4
    _, answer = await api.post("/api/v1/records/corrected", {"channel_user": "chat-hu"})
    assert answer["corrected"] == []
    # The school records the guardian: that item (only) is fixed.
    await reimport(api.db.url, directory, registry(no_guardian_fixed=True))
    async with api.db.reading() as session:
        items = await records_to_fix(session, Scope.parse("school", SCHOOL[0]), hasher)
        fixed = await records_to_fix(session, Scope("admin"), hasher, state="fixed")
    states = {i.student_masked: i.state for i in items}
    assert states == {
        mask_name(NO_GUARDIAN.name): "fixed",
        mask_name(GRADUATED.name): "open",
        mask_name(XIAOMING.name): "open",
    }
    assert [i.student_masked for i in fixed] == [mask_name(NO_GUARDIAN.name)]
    assert fixed[0].fixed_at is not None and fixed[0].fixed_at > fixed[0].failed_at
    _, body, _ = await as_staff(api, "school_a", "/staff/fixes.csv?state=fixed")
    [only] = csv_rows(body)
    assert only["状态"] == "已修改，可重新领卡" and only["学籍库修改时间"]
    # The chat that failed hears of it; once it claims, the item is gone.
    status, answer = await api.post("/api/v1/records/corrected", {"channel_user": "chat-hu"})
    assert (status, answer) == (
        200,
        {
            "success": True,
            "corrected": [{"failure_code": "guardian_mismatch", "name_masked": mask_name(NO_GUARDIAN.name)}],
        },
    )
    status, card = await api.claim(
        path="parent",
        guardian_name=GUARDIAN_HU.name,
        guardian_id_number=GUARDIAN_HU.id_number,
        name=NO_GUARDIAN.name,
        id_number=NO_GUARDIAN.id_number,
        channel_user="chat-hu",
    )
    assert status == 201, card
    _, answer = await api.post("/api/v1/records/corrected", {"channel_user": "chat-hu"})
    assert answer["corrected"] == []
    async with api.db.reading() as session:
        assert [i.student_masked for i in await records_to_fix(session, Scope("admin"), hasher, state="fixed")] == []


async def test_a_new_failure_after_the_correction_is_open_again(fixes: tuple[Api, Path]) -> None:
    """The registry changed, but the chat tried again and failed: nothing to announce."""
    api, directory = fixes
    await reimport(api.db.url, directory, registry(no_guardian_fixed=True))
    status, _ = await api.claim(
        path="parent",
        guardian_name=MOTHER_WANG.name,
        guardian_id_number=MOTHER_WANG.id_number,
        name=NO_GUARDIAN.name,
        id_number=NO_GUARDIAN.id_number,
        channel_user="chat-hu",
    )
    assert status == 422
    _, answer = await api.post("/api/v1/records/corrected", {"channel_user": "chat-hu"})
    assert answer["corrected"] == []
