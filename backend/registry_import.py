"""Registry import from the contract's CSV format (see shared CONTRACT.md).

Rows are validated in Python, then upserted in batches straight through the
database driver (stdlib sqlite3, or asyncpg's COPY into a staging table):
the ORM would cost ten times the time at ten million rows. Upsert is keyed
on `id_number`. A bad row is reported with its line number and skipped; in
strict mode the whole import (both files) runs in one transaction that is
rolled back when any row is bad.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import multiprocessing as mp
import os
import re
import sqlite3
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Optional, Sequence

from sqlalchemy.engine import make_url

from backend.models import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from identity.idnumber import validate_id
from identity.names import check_name

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
CHUNK_BYTES = 2 * 1024 * 1024  # about 12,000 student rows
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
COMMIT_ROWS = 200_000  # non-strict imports commit this often, so progress survives a crash
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
    norm, problem = check_name(value)
    if problem:
        raise RowError(f"{what} is not a plausible name ({problem})")
    return value, norm


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


_GUARDIAN_LABELS = {n: (f"guardian{n}_name", f"guardian{n}_id_number", f"guardian{n}_relation") for n in (1, 2)}
_STAGE_SET = frozenset(STAGES)
_STUDENT_STATUS_SET = frozenset(STUDENT_STATUSES)


def _guardian(name: str, id_number: str, relation: str, n: int) -> tuple[Any, Any, Any, Any]:
    name, id_number, relation = name.strip(), id_number.strip(), relation.strip()
    if not name and not id_number:
        return None, None, None, (relation or None)
    if not name or not id_number:
        raise RowError(f"guardian{n} needs both a name and an ID number")
    name_label, id_label, relation_label = _GUARDIAN_LABELS[n]
    display, norm = _name(name, name_label)
    gid, _, _ = _id(id_number, id_label)
    if len(relation) > MAX_FIELD:
        raise RowError(f"{relation_label} is longer than {MAX_FIELD} characters")
    return display, norm, gid, relation or None


def student_row(f: Sequence[str]) -> tuple[Any, ...]:
    """Fields in STUDENT_COLUMNS order -> a row in STUDENT_DB_COLUMNS order.
    Written for speed (ten million rows): checks inlined, one call per ID
    and per name."""
    (student_no, name, id_number, gender, birth_date, stage, school_code, school_name, district_code,
     grade, class_name, status, g1_name, g1_id, g1_rel, g2_name, g2_id, g2_rel) = f
    id_number, born, id_gender = _id(id_number, "id_number")
    name, name_norm = _name(name, "name")
    gender = _GENDERS.get(gender.strip().upper())
    if gender is None:
        raise RowError(f"gender {f[3]!r} is not M or F")
    birth_date = birth_date.strip()
    if birth_date != born.isoformat():  # type: ignore[union-attr]
        try:
            dt.date.fromisoformat(birth_date)
        except ValueError:
            raise RowError(f"birth_date {birth_date!r} is not YYYY-MM-DD") from None
        raise RowError("birth_date differs from the birth date in id_number")
    if gender != id_gender:
        raise RowError("gender differs from the gender in id_number")
    stage = stage.strip().lower()
    if stage not in _STAGE_SET:
        raise RowError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    status = status.strip().lower()
    if status not in _STUDENT_STATUS_SET:
        raise RowError(f"status {status!r} is not one of {', '.join(STUDENT_STATUSES)}")
    district_code = district_code.strip()
    if not _DISTRICT.match(district_code):
        raise RowError(f"district_code {district_code!r} is not a 6-digit code")
    texts = (student_no.strip(), school_code.strip(), school_name.strip(), grade.strip(), class_name.strip())
    if not (texts[0] and texts[1] and texts[2]) or max(map(len, texts)) > MAX_FIELD:
        for value, label, required in zip(texts, ("student_no", "school_code", "school_name", "grade", "class_name"),
                                          (True, True, True, False, False)):
            _text(value, label, required)  # raises with the reason
    g1 = _guardian(g1_name, g1_id, g1_rel, 1) if (g1_name or g1_id) else (None, None, None, g1_rel.strip() or None)
    g2 = _guardian(g2_name, g2_id, g2_rel, 2) if (g2_name or g2_id) else (None, None, None, g2_rel.strip() or None)
    if id_number == g1[2] or id_number == g2[2]:
        raise RowError("a student cannot be their own guardian")
    return (
        id_number, texts[0], name, name_norm, gender,
        birth_date,  # ISO text: cheap to pass between processes
        stage, texts[1], texts[2], district_code, texts[3], texts[4], status,
        g1[0], g1[1], g1[2], g1[3],
        g2[0], g2[1], g2[2], g2[3],
    )


def teacher_row(f: Sequence[str]) -> tuple[Any, ...]:
    """Fields in TEACHER_COLUMNS order -> a row in TEACHER_DB_COLUMNS order."""
    teacher_no, name, id_number, gender, school_code, school_name, district_code, status = f
    id_number, _, id_gender = _id(id_number, "id_number")
    name, name_norm = _name(name, "name")
    gender = _gender(gender)
    if gender != id_gender:
        raise RowError("gender differs from the gender in id_number")
    return (
        id_number,
        _text(teacher_no, "teacher_no"),
        name,
        name_norm,
        gender,
        _text(school_code, "school_code"),
        _text(school_name, "school_name"),
        _district(district_code),
        _choice(status, TEACHER_STATUSES, "status"),
    )


KINDS: dict[str, tuple[list[str], tuple[str, ...], Callable[[Sequence[str]], tuple[Any, ...]]]] = {
    "students": (STUDENT_COLUMNS, STUDENT_DB_COLUMNS, student_row),
    "teachers": (TEACHER_COLUMNS, TEACHER_DB_COLUMNS, teacher_row),
}


# -- reading -----------------------------------------------------------------
#
# A file is cut at line ends into chunks of about CHUNK_BYTES; each chunk is
# decoded, parsed and validated on its own (in worker processes for large
# files), and the results are written in file order. A field must therefore
# not contain a line break, which registry exports never do; a row that does
# is reported as bad.


@dataclass
class Chunk:
    rows: list[tuple[Any, ...]]
    errors: list[tuple[int, str]]  # line numbers relative to the chunk's start
    count: int  # data rows seen
    lines: int  # physical lines consumed


def read_header(path: Path, columns: Sequence[str]) -> tuple[Optional[list[int]], int, int, Optional[str]]:
    """(index of each contract column, header width, byte offset after the
    header, problem)."""
    with open(path, "rb") as fh:
        first = fh.readline()
        offset = fh.tell()
    if not first.strip():
        return None, 0, offset, "the file is empty (no header row)"
    try:
        header = [h.strip() for h in next(csv.reader([first.decode("utf-8-sig")]))]
    except (UnicodeDecodeError, csv.Error) as exc:
        return None, 0, offset, f"unreadable header: {exc}"
    missing = [c for c in columns if c not in header]
    if missing:
        return None, 0, offset, "header lacks column(s): " + ", ".join(missing)
    return [header.index(c) for c in columns], len(header), offset, None


def chunk_bounds(path: Path, start: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        while start < size:
            fh.seek(min(start + chunk_bytes, size))
            if fh.tell() < size:
                fh.readline()  # on to the end of the line
            end = fh.tell()
            yield start, end
            start = end


def convert_chunk(kind: str, path: str, start: int, end: int, index: Sequence[int], width: int) -> Chunk:
    """Decode, parse and validate one chunk (runs in a worker process)."""
    _, _, convert = KINDS[kind]
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    errors: list[tuple[int, str]] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        texts = data.decode("utf-8").split("\n")[: len(lines)]
    except UnicodeDecodeError:
        texts = []
        for n, line in enumerate(lines, 1):
            try:
                texts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                errors.append((n, "not valid UTF-8"))
                texts.append("")
    rows: list[tuple[Any, ...]] = []
    count = 0
    identity = list(index) == list(range(len(index)))
    for n, fields in enumerate(csv.reader(texts), 1):
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        count += 1
        if len(fields) != width:
            errors.append((n, f"expected {width} fields, found {len(fields)}"))
            continue
        try:
            rows.append(convert(fields if identity else [fields[i] for i in index]))
        except RowError as exc:
            errors.append((n, str(exc)))
    errors.sort()
    return Chunk(rows, errors, count, len(lines))


def _dedupe(batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Last row wins within a batch, as it would across batches; sorted by
    ID number, so the index is updated in key order (fewer pages touched)."""
    return sorted({row[0]: row for row in batch}.values(), key=itemgetter(0))


# -- writing -----------------------------------------------------------------


class SqliteSink:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB: the ID index of ten million rows fits
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
        if commit:
            # Fresh statistics for the planner after a bulk load (sampled: quick at 10M rows).
            self.conn.execute("PRAGMA analysis_limit=1000")
            self.conn.execute("ANALYZE")
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
        if "birth_date" in columns:  # ISO text from the validators; COPY wants dates
            i = list(columns).index("birth_date")
            fromiso = dt.date.fromisoformat
            rows = [r[:i] + (fromiso(r[i]),) + r[i + 1:] for r in rows]
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
            if commit:
                # Statistics for the planner now: autovacuum may be off, or late after a bulk load.
                await self.conn.execute("ANALYZE students; ANALYZE teachers")
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
    workers: Optional[int] = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[FileReport]:
    """Import one or both files; returns a report per file. The schema must
    exist (the CLI creates it). `workers`: processes validating rows in
    parallel (default: one per core, for files over a few megabytes)."""
    jobs = [(k, p) for k, p in (("students", students), ("teachers", teachers)) if p is not None]
    sink = await open_sink(database_url)
    reports: list[FileReport] = []
    ok = False
    pool: Optional[ProcessPoolExecutor] = None
    try:
        for kind, path in jobs:
            report = FileReport(kind, str(path))
            reports.append(report)
            started = time.perf_counter()
            columns, db_columns, _ = KINDS[kind]
            index, width, offset, problem = read_header(path, columns)
            if problem:
                report.errors.append((1, problem))
                continue
            tick = progress(kind, path.stat().st_size) if progress else None
            n_workers = workers if workers is not None else (os.cpu_count() or 1)
            big = workers is not None or path.stat().st_size > PARALLEL_MIN_BYTES
            if pool is None and n_workers > 1 and big:
                pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("fork"))
            line = 1  # lines before the current chunk
            uncommitted = 0
            chunks = _chunks(pool, kind, path, offset, index, width, chunk_bytes)  # type: ignore[arg-type]
            async for (start, end), chunk in chunks:
                report.rows += chunk.count
                report.errors.extend((line + n, msg) for n, msg in chunk.errors)
                line += chunk.lines
                if tick:
                    tick(end - start)
                if strict and report.errors:
                    continue  # keep reading to report every bad row, write nothing
                if chunk.rows:
                    await sink.upsert(kind, db_columns, _dedupe(chunk.rows))
                    report.imported += len(chunk.rows)
                    uncommitted += len(chunk.rows)
                    if not strict and uncommitted >= COMMIT_ROWS:
                        await sink.checkpoint()
                        uncommitted = 0
            report.seconds = time.perf_counter() - started
        ok = not (strict and any(r.errors for r in reports))
        if not ok:
            for r in reports:
                r.imported = 0
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        await sink.finish(commit=ok)
    return reports


async def _chunks(
    pool: Optional[ProcessPoolExecutor],
    kind: str,
    path: Path,
    offset: int,
    index: list[int],
    width: int,
    chunk_bytes: int,
) -> AsyncIterator[tuple[tuple[int, int], Chunk]]:
    """Chunks in file order; with a pool, a few are validated ahead while
    the previous one is written."""
    bounds = chunk_bounds(path, offset, chunk_bytes)
    if pool is None:
        for start, end in bounds:
            yield (start, end), convert_chunk(kind, str(path), start, end, index, width)
        return
    loop = asyncio.get_running_loop()
    ahead = pool._max_workers * 2  # type: ignore[attr-defined]
    pending: deque[tuple[tuple[int, int], asyncio.Future[Chunk]]] = deque()
    for start, end in bounds:
        pending.append(((start, end), loop.run_in_executor(pool, convert_chunk, kind, str(path), start, end, index, width)))
        if len(pending) >= ahead:
            span, future = pending.popleft()
            yield span, await future
    while pending:
        span, future = pending.popleft()
        yield span, await future
