"""Registry import from the contract's CSV format (see shared CONTRACT.md).

Rows are validated in Python, then upserted in batches straight through the
database driver (stdlib sqlite3, or asyncpg's COPY into a staging table):
the ORM would cost ten times the time at ten million rows. Upsert is keyed
on `id_number`. A bad row is reported with its line number and skipped; in
strict mode the whole import (both files) runs in one transaction that is
rolled back when any row is bad.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from sqlalchemy.engine import make_url

from backend.models import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from identity.idnumber import validate_id
from identity.names import name_problem, normalise_name

STUDENT_COLUMNS = (
    "student_no,name,id_number,gender,birth_date,stage,school_code,school_name,district_code,"
    "grade,class_name,status,guardian1_name,guardian1_id_number,guardian1_relation,"
    "guardian2_name,guardian2_id_number,guardian2_relation"
).split(",")
TEACHER_COLUMNS = "teacher_no,name,id_number,gender,school_code,school_name,district_code,status".split(",")

# Database columns, in the order the row converters produce them.
STUDENT_DB_COLUMNS = (
    "id_number", "student_no", "name", "name_norm", "gender", "birth_date", "stage",
    "school_code", "school_name", "district_code", "grade", "class_name", "status",
    "guardian1_name", "guardian1_name_norm", "guardian1_id_number", "guardian1_relation",
    "guardian2_name", "guardian2_name_norm", "guardian2_id_number", "guardian2_relation",
)
TEACHER_DB_COLUMNS = (
    "id_number", "teacher_no", "name", "name_norm", "gender",
    "school_code", "school_name", "district_code", "status",
)
_GENDERS = {"M": "M", "F": "F", "男": "M", "女": "F", "MALE": "M", "FEMALE": "F"}
_DISTRICT = re.compile(r"^[1-8][0-9]{5}$")
BATCH_ROWS = 20_000
MAX_FIELD = 128


class RowError(ValueError):
    pass


@dataclass
class FileReport:
    table: str
    path: str
    rows: int = 0
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# -- validation --------------------------------------------------------------


def _text(value: str, what: str, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise RowError(f"{what} is empty")
    if len(value) > MAX_FIELD:
        raise RowError(f"{what} is longer than {MAX_FIELD} characters")
    return value


def _id(value: str, what: str) -> tuple[str, Optional[dt.date], Optional[str]]:
    check = validate_id(value)
    if not check.ok:
        raise RowError(f"{what} is not a valid ID number ({check.problem})")
    return check.normalised, check.birth_date, check.gender


def _name(value: str, what: str) -> tuple[str, str]:
    value = value.strip()
    problem = name_problem(value)
    if problem:
        raise RowError(f"{what} is not a plausible name ({problem})")
    return value, normalise_name(value)


def _gender(value: str) -> str:
    gender = _GENDERS.get(value.strip().upper())
    if gender is None:
        raise RowError(f"gender {value!r} is not M or F")
    return gender


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise RowError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def _district(value: str) -> str:
    value = value.strip()
    if not _DISTRICT.match(value):
        raise RowError(f"district_code {value!r} is not a 6-digit code")
    return value


def _guardian(name: str, id_number: str, relation: str, n: int) -> tuple[Any, Any, Any, Any]:
    name, id_number, relation = name.strip(), id_number.strip(), relation.strip()
    if not name and not id_number:
        return None, None, None, (relation or None)
    if not name or not id_number:
        raise RowError(f"guardian{n} needs both a name and an ID number")
    display, norm = _name(name, f"guardian{n}_name")
    gid, _, _ = _id(id_number, f"guardian{n}_id_number")
    return display, norm, gid, _text(relation, f"guardian{n}_relation", required=False) or None


def student_row(r: dict[str, str]) -> tuple[Any, ...]:
    id_number, born, id_gender = _id(r["id_number"], "id_number")
    name, name_norm = _name(r["name"], "name")
    gender = _gender(r["gender"])
    try:
        birth_date = dt.date.fromisoformat(r["birth_date"].strip())
    except ValueError:
        raise RowError(f"birth_date {r['birth_date']!r} is not YYYY-MM-DD") from None
    if birth_date != born:
        raise RowError("birth_date differs from the birth date in id_number")
    if gender != id_gender:
        raise RowError("gender differs from the gender in id_number")
    g1 = _guardian(r["guardian1_name"], r["guardian1_id_number"], r["guardian1_relation"], 1)
    g2 = _guardian(r["guardian2_name"], r["guardian2_id_number"], r["guardian2_relation"], 2)
    if id_number in (g1[2], g2[2]):
        raise RowError("a student cannot be their own guardian")
    return (
        id_number,
        _text(r["student_no"], "student_no"),
        name,
        name_norm,
        gender,
        birth_date,
        _choice(r["stage"], STAGES, "stage"),
        _text(r["school_code"], "school_code"),
        _text(r["school_name"], "school_name"),
        _district(r["district_code"]),
        _text(r["grade"], "grade", required=False),
        _text(r["class_name"], "class_name", required=False),
        _choice(r["status"], STUDENT_STATUSES, "status"),
        g1[0], g1[1], g1[2], g1[3],
        g2[0], g2[1], g2[2], g2[3],
    )


def teacher_row(r: dict[str, str]) -> tuple[Any, ...]:
    id_number, _, id_gender = _id(r["id_number"], "id_number")
    name, name_norm = _name(r["name"], "name")
    gender = _gender(r["gender"])
    if gender != id_gender:
        raise RowError("gender differs from the gender in id_number")
    return (
        id_number,
        _text(r["teacher_no"], "teacher_no"),
        name,
        name_norm,
        gender,
        _text(r["school_code"], "school_code"),
        _text(r["school_name"], "school_name"),
        _district(r["district_code"]),
        _choice(r["status"], TEACHER_STATUSES, "status"),
    )


# -- reading -----------------------------------------------------------------


def read_rows(
    path: Path,
    columns: Sequence[str],
    convert: Callable[[dict[str, str]], tuple[Any, ...]],
    report: FileReport,
    progress: Optional[Callable[[int], None]] = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield batches of converted rows; record bad rows in `report`."""
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            report.errors.append((1, "the file is empty (no header row)"))
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            report.errors.append((1, f"unreadable header: {exc}"))
            return
        missing = [c for c in columns if c not in header]
        if missing:
            report.errors.append((1, "header lacks column(s): " + ", ".join(missing)))
            return
        index = [header.index(c) for c in columns]
        width = len(header)
        batch: list[tuple[Any, ...]] = []
        last_pos = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except (UnicodeDecodeError, csv.Error) as exc:
                report.errors.append((reader.line_num + 1, f"unreadable line: {exc}"))
                report.rows += 1
                if isinstance(exc, UnicodeDecodeError):
                    break  # the decoder cannot resynchronise
                continue
            if not fields:
                continue
            report.rows += 1
            if len(fields) != width:
                report.errors.append((reader.line_num, f"expected {width} fields, found {len(fields)}"))
                continue
            try:
                batch.append(convert({c: fields[i] for c, i in zip(columns, index)}))
            except RowError as exc:
                report.errors.append((reader.line_num, str(exc)))
                continue
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
                if progress:
                    pos = raw.tell()
                    progress(pos - last_pos)
                    last_pos = pos
        if batch:
            yield batch
        if progress:
            progress(raw.tell() - last_pos)


def _dedupe(batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Last row wins within a batch, as it would across batches."""
    return list({row[0]: row for row in batch}.values())


# -- writing -----------------------------------------------------------------


sqlite3.register_adapter(dt.date, dt.date.isoformat)


class SqliteSink:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
        self.conn.execute("BEGIN IMMEDIATE")

    async def upsert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT (id_number) DO UPDATE SET {updates}"
        self.conn.executemany(sql, rows)

    async def checkpoint(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")

    async def finish(self, commit: bool) -> None:
        self.conn.execute("COMMIT" if commit else "ROLLBACK")
        self.conn.close()


class PostgresSink:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.tx = conn.transaction()
        self.staged: set[str] = set()

    @classmethod
    async def connect(cls, url: str) -> "PostgresSink":
        import asyncpg

        u = make_url(url)
        conn = await asyncpg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
        )
        sink = cls(conn)
        await sink.tx.start()
        return sink

    async def upsert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        stage = f"import_{table}"
        if stage not in self.staged:
            await self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            self.staged.add(stage)
        await self.conn.copy_records_to_table(stage, records=rows, columns=list(columns))
        cols = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        await self.conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT (id_number) DO UPDATE SET {updates}"
        )
        await self.conn.execute(f"TRUNCATE {stage}")

    async def checkpoint(self) -> None:
        await self.tx.commit()
        self.tx = self.conn.transaction()
        await self.tx.start()

    async def finish(self, commit: bool) -> None:
        try:
            await (self.tx.commit() if commit else self.tx.rollback())
        finally:
            await self.conn.close()


async def open_sink(database_url: str) -> Any:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteSink(url.database or ":memory:")
    if url.get_backend_name() == "postgresql":
        return await PostgresSink.connect(database_url)
    raise ValueError(f"unsupported database for import: {url.get_backend_name()}")


async def import_registry(
    database_url: str,
    students: Optional[Path] = None,
    teachers: Optional[Path] = None,
    *,
    strict: bool = False,
    progress: Optional[Callable[[str, int], Callable[[int], None]]] = None,
) -> list[FileReport]:
    """Import one or both files; returns a report per file. The schema
    must exist (the CLI creates it)."""
    jobs = []
    if students is not None:
        jobs.append(("students", students, STUDENT_COLUMNS, STUDENT_DB_COLUMNS, student_row))
    if teachers is not None:
        jobs.append(("teachers", teachers, TEACHER_COLUMNS, TEACHER_DB_COLUMNS, teacher_row))
    sink = await open_sink(database_url)
    reports: list[FileReport] = []
    ok = False
    try:
        for table, path, columns, db_columns, convert in jobs:
            report = FileReport(table, str(path))
            reports.append(report)
            started = time.perf_counter()
            tick = progress(table, path.stat().st_size) if progress else None
            for batch in read_rows(path, columns, convert, report, tick):
                if strict and report.errors:
                    continue  # keep reading to report every bad row, write nothing
                await sink.upsert(table, db_columns, _dedupe(batch))
                report.imported += len(batch)
                if not strict:
                    await sink.checkpoint()
            report.seconds = time.perf_counter() - started
        ok = not (strict and any(r.errors for r in reports))
        if not ok:
            for r in reports:
                r.imported = 0
    finally:
        await sink.finish(commit=ok)
    return reports
