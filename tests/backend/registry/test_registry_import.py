"""Registry import: upsert by ID number, bad rows reported by line, strict
mode, on SQLite and PostgreSQL; and the CLI around it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from backend.db import Database
from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS
from backend.registry.importer import import_registry
from tests.conftest import reset_schema
from tests.people import (
    FATHER_LI,
    TEACHER,
    XIAOMING,
    _student,
    _teacher,
    student_rows,
    teacher_rows,
    write_csv,
    write_registry,
)

ROOT = Path(__file__).resolve().parents[3]


async def scalar(url: str, sql: str):  # type: ignore[no-untyped-def]
    db = Database(url)
    try:
        async with db.reading() as s:
            return (await s.execute(text(sql))).scalar()
    finally:
        await db.dispose()


def bad_rows() -> list[dict[str, str]]:
    """Each row wrong in one way; good rows around them."""
    good = _student(XIAOMING, "primary", g1=FATHER_LI)
    wrong = []
    for change in (
        {"id_number": XIAOMING.id_number[:-1] + ("1" if XIAOMING.id_number[-1] != "1" else "2")},  # checksum
        {"name": "<b>李</b>"},
        {"stage": "kindergarten"},
        {"status": "expelled"},
        {"birth_date": "2015-02-30"},
        {"birth_date": "2014-09-10"},  # differs from the ID
        {"gender": "X"},
        {"district_code": "36A102"},
        {"guardian1_id_number": ""},  # a name without an ID
        {"school_code": ""},
    ):
        row = dict(good)
        row.update(change)
        wrong.append(row)
    return wrong


async def test_import_counts_and_upsert(database_url: str, tmp_path: Path) -> None:
    await reset_schema(database_url)
    students, teachers = write_registry(tmp_path)
    reports = await import_registry(database_url, students, teachers)
    assert [(r.table, r.rows, r.imported, r.errors) for r in reports] == [
        ("students", len(student_rows()), len(student_rows()), []),
        ("teachers", len(teacher_rows()), len(teacher_rows()), []),
    ]
    # Import again with one changed row: upsert, no duplicates.
    changed = [_student(XIAOMING, "junior", status="graduated", g1=FATHER_LI)]
    await import_registry(database_url, students=write_csv(tmp_path / "s2.csv", STUDENT_COLUMNS, changed))
    assert await scalar(database_url, "SELECT count(*) FROM students") == len(student_rows())
    assert (
        await scalar(
            database_url, f"SELECT stage || '/' || status FROM students WHERE id_number = '{XIAOMING.id_number}'"
        )
        == "junior/graduated"
    )
    # Guardian 2 was removed by the new row.
    assert (
        await scalar(database_url, f"SELECT guardian2_id_number FROM students WHERE id_number = '{XIAOMING.id_number}'")
        is None
    )


async def test_bad_rows_reported_by_line_rest_imported(database_url: str, tmp_path: Path) -> None:
    await reset_schema(database_url)
    rows = [_student(XIAOMING, "primary", g1=FATHER_LI)] + bad_rows()
    rows.append(_student(FATHER_LI, "university"))  # good row after the bad ones (an adult student)
    path = write_csv(tmp_path / "s.csv", STUDENT_COLUMNS, rows)
    (report,) = await import_registry(database_url, students=path)
    assert report.rows == len(rows)
    assert [line for line, _ in report.errors] == list(range(3, 3 + len(bad_rows())))
    messages = " | ".join(m for _, m in report.errors)
    for expected in (
        "checksum",
        "name",
        "stage",
        "status",
        "birth_date",
        "differs",
        "gender",
        "district_code",
        "guardian1",
        "school_code",
    ):
        assert expected in messages
    assert await scalar(database_url, "SELECT count(*) FROM students") == 2


async def test_parallel_chunks_give_the_same_result(database_url: str, tmp_path: Path) -> None:
    """Worker processes and small chunks: same rows, same bad-line numbers."""
    rows = (student_rows() + bad_rows()) * 20
    path = write_csv(tmp_path / "s.csv", STUDENT_COLUMNS, rows)
    await reset_schema(database_url)
    (serial,) = await import_registry(database_url, students=path, workers=1)
    await reset_schema(database_url)
    (parallel,) = await import_registry(database_url, students=path, workers=2, chunk_bytes=2048)
    assert parallel.errors == serial.errors
    assert len(serial.errors) == len(bad_rows()) * 20
    assert (parallel.rows, parallel.imported) == (serial.rows, serial.imported) == (len(rows), len(student_rows()) * 20)
    assert await scalar(database_url, "SELECT count(*) FROM students") == len(student_rows())


async def test_last_row_of_an_id_wins_across_chunks_and_workers(database_url: str, tmp_path: Path) -> None:
    """The same ID number in many chunks, validated by two workers (staged for
    SQLite, upserted through two connections for PostgreSQL): the file's
    last row for it is what stays, and existing rows are updated."""
    statuses = ["enrolled", "graduated", "suspended", "withdrawn"]
    rows = []
    for i in range(120):
        rows.extend(student_rows())
        rows.append(_student(XIAOMING, "junior", status=statuses[i % 4], g1=FATHER_LI))
    rows.append(_student(XIAOMING, "senior", status="suspended", g1=FATHER_LI))
    path = write_csv(tmp_path / "s.csv", STUDENT_COLUMNS, rows)
    await reset_schema(database_url)
    await import_registry(database_url, students=write_registry(tmp_path)[0])
    (report,) = await import_registry(database_url, students=path, workers=2, chunk_bytes=4096)
    assert (report.rows, report.imported, report.errors) == (len(rows), len(rows), [])
    assert await scalar(database_url, "SELECT count(*) FROM students") == len(student_rows())
    assert (
        await scalar(
            database_url, f"SELECT stage || '/' || status FROM students WHERE id_number = '{XIAOMING.id_number}'"
        )
        == "senior/suspended"
    )
    assert not list(tmp_path.glob(".import-*")), "staging files left behind"


async def test_strict_imports_nothing_on_any_error(database_url: str, tmp_path: Path) -> None:
    await reset_schema(database_url)
    good = write_csv(tmp_path / "t.csv", TEACHER_COLUMNS, teacher_rows())
    rows = student_rows() + bad_rows()[:1]
    students = write_csv(tmp_path / "s.csv", STUDENT_COLUMNS, rows)
    reports = await import_registry(database_url, students, good, strict=True)
    assert reports[0].errors and reports[0].imported == 0
    assert await scalar(database_url, "SELECT count(*) FROM students") == 0
    assert await scalar(database_url, "SELECT count(*) FROM teachers") == 0


async def test_header_and_encoding_problems(database_url: str, tmp_path: Path) -> None:
    await reset_schema(database_url)
    missing = tmp_path / "missing.csv"
    missing.write_text("teacher_no,name,id_number\nT1,张三,x\n", encoding="utf-8")
    (report,) = await import_registry(database_url, teachers=missing)
    assert report.errors[0][0] == 1 and "gender" in report.errors[0][1]
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    (report,) = await import_registry(database_url, teachers=empty)
    assert report.errors == [(1, "the file is empty (no header row)")]
    # A BOM, reordered columns, extra columns and CRLF line ends are fine.
    columns = list(reversed(TEACHER_COLUMNS)) + ["remark"]
    path = tmp_path / "bom.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerow({**_teacher(TEACHER), "remark": "备注"})
    (report,) = await import_registry(database_url, teachers=path)
    assert (report.imported, report.errors) == (1, [])
    # Invalid UTF-8 is reported, not a crash.
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(",".join(TEACHER_COLUMNS).encode() + b"\nT1,\xd5\xc5\xc8\xfd,x,M,1,s,360102,active\n")
    (report,) = await import_registry(database_url, teachers=latin)
    assert report.errors and report.imported == 0


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_import_lookup_and_report(tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    students, teachers = write_registry(tmp_path)
    result = run_cli(
        "import-registry", "--students", str(students), "--teachers", str(teachers), "--no-progress", env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"students: {len(student_rows())} rows read, {len(student_rows())} imported, 0 bad" in result.stdout
    bad = write_csv(tmp_path / "bad.csv", STUDENT_COLUMNS, bad_rows()[:2])
    result = run_cli("import-registry", "--students", str(bad), "--strict", "--no-progress", env=env)
    assert result.returncode == 1
    assert f"{bad}:2:" in result.stdout and f"{bad}:3:" in result.stdout and "nothing was imported" in result.stdout

    result = run_cli("lookup-person", "--id-number", TEACHER.id_number, env=env)
    assert result.returncode == 0, result.stderr
    assert TEACHER.id_number not in result.stdout
    assert TEACHER.id_number[:4] + "*" * 10 + TEACHER.id_number[-4:] in result.stdout
    assert '"teacher"' in result.stdout and "郑*师" in result.stdout

    result = run_cli("refresh-identity", "--name", TEACHER.name, "--id-number", TEACHER.id_number, env=env)
    assert result.returncode == 1 and "card_not_found" in result.stdout

    result = run_cli("report", env=env)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("district_code,school_code,school_name,cards_total")


def test_cli_refuses_missing_files(tmp_path: Path) -> None:
    env = {**os.environ, "BACKEND_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    result = run_cli("import-registry", "--students", str(tmp_path / "nope.csv"), env=env)
    assert result.returncode == 2 and "no such file" in result.stderr
