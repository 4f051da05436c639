"""The coverage counts (backend/registry/counts.py) on SQLite and
PostgreSQL: after cards issued one by one and all at once (with recounts
racing them), deleted, and after imports that add, remove (a status
change) and move students and teachers, the maintained counts equal a full
recount, and coverage's answers equal those of the GROUP BY over the
registry they replace (coverage_reference.py); `recount-coverage` repairs
counts gone wrong."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text

from backend.campaign.coverage import LEVELS, coverage
from backend.campaign.scope import Scope
from backend.cli import main
from backend.db import Database
from backend.models import Card
from backend.registry import importer
from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS
from backend.registry.counts import recount, snapshot
from tests.backend.campaign.campaign_data import SCHOOLS, Member, _student_row, _teacher_row, load, members
from tests.backend.campaign.coverage_reference import grouped_coverage
from tests.conftest import serve_api
from tests.people import make_id, write_csv

SCOPES = [
    Scope("admin"),
    Scope.parse("district", "3601"),
    Scope.parse("district", "360102"),
    Scope.parse("school", "3601020102,3607810301"),
]
WITHIN = [None, "3601", "360781", "3601020101", "3607810301/二年级", "3607810301/二年级/1班"]


async def check(url: str) -> None:
    """Coverage answers as the GROUP BY did, and the counts equal a full recount."""
    db = Database(url)
    try:
        async with db.reading() as session:
            kept = await snapshot(session)
            assert kept[0] and kept[1]
            for level in LEVELS:
                for scope in SCOPES:
                    for stage in (None, "primary", "senior"):
                        got = await coverage(session, level, scope, stage=stage)
                        want = await grouped_coverage(session, level, scope, stage=stage)
                        assert [r.as_json() for r in got] == [r.as_json() for r in want], (level, scope, stage)
                for within in WITHIN:
                    got = await coverage(session, level, Scope("admin"), within=within)
                    want = await grouped_coverage(session, level, Scope("admin"), within=within)
                    assert [r.as_json() for r in got] == [r.as_json() for r in want], (level, within)
        async with db.writing() as session:
            await recount(session)
        async with db.reading() as session:
            assert await snapshot(session) == kept
    finally:
        await db.dispose()


async def execute(url: str, sql: str) -> None:
    db = Database(url)
    try:
        async with db.writing() as session:
            await session.execute(text(sql))
    finally:
        await db.dispose()


async def recounts(url: str, times: int, schools: list[str] | None) -> None:
    db = Database(url)
    try:
        for _ in range(times):
            async with db.writing() as session:
                await recount(session, schools)
            await asyncio.sleep(0.01)
    finally:
        await db.dispose()


@pytest.fixture
async def campaign_db(database_url: str, tmp_path: Path) -> str:
    await load(database_url, tmp_path)
    return database_url


async def test_cards_inserted_one_by_one_are_counted(campaign_db: str) -> None:
    """campaign_data.load issues its cards through the ORM after the import."""
    await check(campaign_db)


@pytest.mark.parametrize("racing_recounts", [False, True], ids=["claims", "claims-and-recounts"])
async def test_simultaneous_claims_are_counted(campaign_db: str, racing_recounts: bool) -> None:
    people = members()
    async for api in serve_api(campaign_db):
        claims: list[Any] = []
        for i, m in enumerate(people):
            for k in range(2):  # everybody twice at once: one card each
                body: dict[str, Any] = {"name": m.name, "id_number": m.id_number, "channel_user": f"c{i}-{k}"}
                if m.kind == "student":
                    claims.append(api.claim(path="k12_student", face_verification=False, **body))
                else:
                    claims.append(api.claim(path="teacher", **body))
        extra = (
            [recounts(campaign_db, 5, None), recounts(campaign_db, 5, [s[0] for s in SCHOOLS[:2]])]
            if racing_recounts
            else []
        )
        results = await asyncio.gather(*claims, *extra)
        statuses = {r[0] for r in results[: len(claims)]}
        assert statuses <= {200, 201, 422}, statuses
        enrolled = sum(1 for m in people if m.kind == "student" and m.status == "enrolled")
        assert await api.scalar("SELECT sum(claimed) FROM coverage_students") == enrolled
        assert await api.scalar("SELECT sum(students) FROM coverage_students") == enrolled
    await check(campaign_db)


async def test_a_deleted_card_is_uncounted(campaign_db: str) -> None:
    claimed = next(m for m in members() if m.kind == "student" and m.status == "enrolled" and m.claimed)
    teacher = next(m for m in members() if m.kind == "teacher" and m.status == "active" and m.claimed)
    db = Database(campaign_db)
    try:
        before = await _claimed(db)
        async with db.writing() as session:
            await session.execute(delete(Card).where(Card.holder_id_number.in_([claimed.id_number, teacher.id_number])))
        assert await _claimed(db) == (before[0] - 1, before[1] - 1)
    finally:
        await db.dispose()
    await check(campaign_db)


async def test_all_cards_deleted_at_once_are_uncounted(campaign_db: str) -> None:
    """A DELETE of every row (SQLite) and a TRUNCATE (PostgreSQL: no row triggers)."""
    db = Database(campaign_db)
    try:
        await execute(campaign_db, "DELETE FROM cards" if db.is_sqlite else "TRUNCATE cards, claim_attempts")
        assert await _claimed(db) == (0, 0)
    finally:
        await db.dispose()
    await check(campaign_db)


async def test_create_schema_adds_the_triggers_to_a_database_made_before_them(campaign_db: str) -> None:
    db = Database(campaign_db)
    try:
        drop = ["DROP TRIGGER cards_counted", "DROP TRIGGER cards_uncounted"]
        for sql in drop if db.is_sqlite else ["DROP TRIGGER cards_counted ON cards"]:
            await execute(campaign_db, sql)
        await db.create_schema()
        await db.create_schema()  # again: nothing to do
        before = await _claimed(db)
        async with db.writing() as session:
            await session.execute(delete(Card))
        assert before[0] > 0 and await _claimed(db) == (0, 0)
    finally:
        await db.dispose()
    await check(campaign_db)


async def _claimed(db: Database) -> tuple[int, int]:
    async with db.reading() as session:
        students = (await session.execute(text("SELECT sum(claimed) FROM coverage_students"))).scalar()
        teachers = (await session.execute(text("SELECT sum(claimed) FROM coverage_teachers"))).scalar()
    return int(students), int(teachers)


def changed_registry() -> tuple[list[Member], list[Member]]:
    """Rows of a second import: students added (a new class, a new school),
    removed (enrolled -> graduated), moved (to another school and county; a
    class merged into another, which leaves its row empty); a teacher
    retired, a teacher moved. School 0 appears only as where a student was."""
    people = members()
    enrolled = [m for m in people if m.kind == "student" and m.status == "enrolled"]
    students: list[Member] = []
    new_school = ("3601020199", "东湖区新学校", "360102", "primary")
    for _ in range(3):
        for school, klass in ((SCHOOLS[1], "3班"), (new_school, "1班")):
            district = school[2]
            students.append(
                Member(
                    "student",
                    "新生",
                    make_id(district, "20130101", 900 + len(students)),
                    school,
                    "一年级",
                    klass,
                    "enrolled",
                    False,
                )
            )
    graduate = next(m for m in enrolled if m.school == SCHOOLS[3] and m.grade == "一年级" and m.claimed)
    students.append(replace(graduate, status="graduated"))
    mover = next(m for m in enrolled if m.school == SCHOOLS[0] and m.claimed)
    students.append(replace(mover, school=SCHOOLS[2], grade="二年级", class_name="3班"))
    merged = [m for m in enrolled if m.school == SCHOOLS[3] and m.grade == "二年级" and m.class_name == "2班"]
    students.extend(replace(m, class_name="1班") for m in merged)
    teachers = [m for m in people if m.kind == "teacher" and m.status == "active" and m.claimed]
    retired = next(m for m in teachers if m.school == SCHOOLS[1])
    moved = next(m for m in teachers if m.school == SCHOOLS[2])
    return students, [replace(retired, status="retired"), replace(moved, school=SCHOOLS[1])]


@pytest.mark.parametrize("recount_all", [False, True], ids=["touched-schools", "every-school"])
async def test_an_import_that_adds_removes_and_moves_keeps_the_counts(
    campaign_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recount_all: bool
) -> None:
    if recount_all:
        monkeypatch.setattr(importer, "RECOUNT_SCHOOLS_MAX_ROWS", 0)
    students, teachers = changed_registry()
    reports = await importer.import_registry(
        campaign_db,
        write_csv(tmp_path / "students2.csv", STUDENT_COLUMNS, [_student_row(m) for m in students]),
        write_csv(tmp_path / "teachers2.csv", TEACHER_COLUMNS, [_teacher_row(m) for m in teachers]),
    )
    assert [r.imported for r in reports] == [len(students), len(teachers)]
    db = Database(campaign_db)
    try:
        async with db.reading() as session:
            rows = {r.code: r for r in await coverage(session, "class", Scope("admin"))}
    finally:
        await db.dispose()
    assert "3607810301/二年级/2班" not in rows  # merged away
    assert rows["3601020199/一年级/1班"].students == 3
    await check(campaign_db)


def test_recount_coverage_command_repairs_the_counts(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(load(database_url, tmp_path))
    asyncio.run(execute(database_url, "UPDATE coverage_students SET students = 99, claimed = 98"))
    asyncio.run(execute(database_url, "DELETE FROM coverage_teachers"))
    monkeypatch.setenv("BACKEND_DATABASE_URL", database_url)
    assert main(["recount-coverage"]) == 0
    asyncio.run(check(database_url))
