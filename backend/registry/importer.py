"""Registry import from the contract's CSV format (see shared CONTRACT.md).

A file is cut into chunks validated in worker processes: rows in canonical
form as polars column expressions (registry_frames.py), the others row by
row here. Rows are then upserted, keyed on `id_number`, straight through the
database driver (the ORM would cost ten times the time at ten million rows):
- PostgreSQL: CSV through COPY into a temporary table, then an upsert, over
  two connections (PostgresSink), committed every COMMIT_ROWS rows;
- SQLite, large files: each worker stages its rows in a database of its own,
  merged in ID order at the end of the file (stage_chunk, merge_staged): a
  crash before the merge imports nothing of that file; small files: from
  the main process, committed every COMMIT_ROWS rows.
A bad row is reported with its line number and skipped; in strict mode the
whole import (both files) runs in one transaction, from the main process,
rolled back when any row is bad.
"""
from __future__ import annotations

import asyncio
import atexit
import csv
import io
import datetime as dt
import multiprocessing as mp
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Optional, Sequence

import polars as pl
from sqlalchemy.engine import make_url

from backend.models import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from backend.registry_frames import MAX_FIELD, ROW, fast_split
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
COMMIT_ROWS = 200_000  # non-strict imports written from this process commit this often
PG_LANES = 2  # PostgreSQL connections upserting at once (non-strict imports)


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
    frame: pl.DataFrame  # database rows, last row per ID number, sorted by ID number
    imported: int  # valid rows (before duplicates within the chunk collapse)
    errors: list[tuple[int, str]]  # line numbers relative to the chunk's start
    count: int  # data rows seen
    lines: int  # physical lines consumed
    written: bool = False  # already staged by the worker (SQLite, see stage_chunk)


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


def _rows_by_line(
    convert: Callable[[Sequence[str]], tuple[Any, ...]], data: bytes, lines: list[bytes], index: Sequence[int],
    width: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[int, str]], int]:
    """The row-by-row path: (rows, each led by its line number; errors; data rows seen)."""
    errors: list[tuple[int, str]] = []
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
            rows.append((n, *convert(fields if identity else [fields[i] for i in index])))
        except RowError as exc:
            errors.append((n, str(exc)))
    return rows, errors, count


def convert_chunk(
    kind: str, path: str, start: int, end: int, index: Sequence[int], width: int,
    stage_to: Optional[tuple[str, int]] = None,
) -> Chunk:
    """Decode, parse and validate one chunk (runs in a worker process):
    vectorised for rows in canonical form (registry_frames.py), row by row
    for the rest. With `stage_to` (staging directory, chunk sequence number)
    the worker also stages the rows for SQLite (see stage_chunk)."""
    columns, db_columns, convert = KINDS[kind]
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    split = fast_split(kind, data, lines, columns, index, width)
    if split is None:
        rows, errors, count = _rows_by_line(convert, data, lines, index, width)
        frames = [_frame(rows, db_columns)]
    else:
        good, bad = split
        rows, errors = [], []
        for n, *fields in bad.iter_rows():
            try:
                rows.append((n, *convert(fields)))
            except RowError as exc:
                errors.append((n, str(exc)))
        frames, count = [good, _frame(rows, db_columns)], len(lines)
    frame = pl.concat(frames, how="vertical_relaxed")
    chunk = Chunk(_dedupe(frame), frame.height, sorted(errors), count, len(lines))
    if stage_to is not None:
        stage_chunk(*stage_to, kind, db_columns, chunk.frame)
        chunk.frame, chunk.written = chunk.frame.clear(), True
    return chunk


def _frame(rows: list[tuple[Any, ...]], db_columns: Sequence[str]) -> pl.DataFrame:
    schema = {ROW: pl.UInt32, **{c: pl.String for c in db_columns}}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _dedupe(frame: pl.DataFrame) -> pl.DataFrame:
    """Last row wins within a chunk, as it does across chunks; sorted by ID
    number, so the index is updated in key order (fewer pages touched)."""
    return frame.sort(ROW).unique(subset="id_number", keep="last").sort("id_number").drop(ROW)


# -- staging in worker processes (SQLite) ------------------------------------
#
# SQLite has one writer, and upserting chunk after chunk into a
# ten-million-row B-tree (each chunk's keys spread over the whole tree) from
# the main process costs more than validating the rows: ~51,000 rows/s at
# 10M rows (bench/README.md), and workers taking turns to write paid for
# every chunk's commit with tens of megabytes of WAL. So, for large files,
# each worker appends the rows it validated to its own staging database (an
# unindexed table, no journal; ADBC binds the frame in C), and at the end of
# the file the main process merges all staging tables in one statement,
# sorted by ID number (merge_staged): the B-tree is then written in key
# order, in C (~106,000 rows/s at 10M).

_stage_connections: dict[str, Any] = {}


def _close_stages() -> None:
    for conn in _stage_connections.values():
        conn.close()
    _stage_connections.clear()


def stage_table(kind: str) -> str:
    return f"staged_{kind}"


def stage_chunk(stage_dir: str, seq: int, kind: str, columns: Sequence[str], frame: pl.DataFrame) -> None:
    """Append a chunk's rows to this worker's staging database (through
    ADBC: the frame's columns are bound in C). `seq` orders chunks, so the
    last row of an ID number in the file wins the merge."""
    conn = _stage_connections.get(stage_dir)
    if conn is None:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        if not _stage_connections:
            atexit.register(_close_stages)
        path = os.path.join(stage_dir, f"worker-{os.getpid()}.sqlite3")
        conn = _stage_connections[stage_dir] = adbc_sqlite.connect(path, autocommit=True)
        with conn.cursor() as cur:
            execute(cur, "PRAGMA journal_mode=OFF")
            execute(cur, "PRAGMA synchronous=OFF")
    with conn.cursor() as cur:
        execute(cur, f"CREATE TABLE IF NOT EXISTS {stage_table(kind)} (seq INTEGER, {', '.join(columns)})")
        execute(cur, "BEGIN")
        cur.adbc_ingest(stage_table(kind), frame.select(pl.lit(seq).alias("seq"), *columns), mode="append")
        execute(cur, "COMMIT")


# -- writing -----------------------------------------------------------------


def sqlite_connection(path: str, cache_mib: int) -> Any:
    """An ADBC connection (C driver): `executemany` binds a polars frame's
    Arrow columns in C, about 2 µs a row where the stdlib driver spent ~11 µs
    turning columns into tuples and binding them. Autocommit: transactions
    are begun and ended by the sink itself."""
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    conn = adbc_sqlite.connect(path, autocommit=True)
    cur = conn.cursor()
    for pragma in ("busy_timeout=60000", "journal_mode=WAL", "synchronous=NORMAL", f"cache_size=-{cache_mib * 1024}"):
        execute(cur, "PRAGMA " + pragma)
    cur.close()
    return conn


def execute(cursor: Any, sql: str) -> None:
    """Run a statement through ADBC, discarding any result (reading rows
    would need pyarrow)."""
    cursor.executemany(sql, None)


def upsert_sql(table: str, columns: Sequence[str]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT (id_number) DO UPDATE SET {updates}"
    )


class SqliteSink:
    """Writes in the main process; a transaction is open only while it has
    written something (workers writing in turn need the lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite_connection(path, cache_mib=1024)  # the ID index of ten million rows fits
        self.cur = self.conn.cursor()
        self.in_tx = False

    def _execute(self, sql: str) -> None:
        execute(self.cur, sql)

    async def upsert(self, table: str, columns: Sequence[str], frame: pl.DataFrame) -> None:
        if not self.in_tx:
            self._execute("BEGIN IMMEDIATE")
            self.in_tx = True
        self.cur.executemany(upsert_sql(table, columns), frame.select(columns))

    async def checkpoint(self) -> None:
        if self.in_tx:
            self._execute("COMMIT")
            self.in_tx = False

    async def merge_staged(self, stage_dir: str, kind: str, columns: Sequence[str]) -> None:
        """Upsert what the workers staged (stage_chunk), in ID order; a later
        chunk's row wins over an earlier one's."""
        table = stage_table(kind)
        sources = []
        for path in sorted(Path(stage_dir).glob("worker-*.sqlite3")):
            conn = sqlite3.connect(path)
            has = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            conn.close()
            if has:
                sources.append(path)
        if not sources:
            return
        await self.checkpoint()  # ATTACH is refused inside a transaction
        self._execute("PRAGMA threads=4")  # the sort may use helper threads
        self._execute("PRAGMA temp_store=MEMORY")
        names = [f"stage{i}" for i in range(len(sources))]
        for name, path in zip(names, sources):
            self._execute(f"ATTACH DATABASE '{str(path).replace(chr(39), chr(39) * 2)}' AS {name}")
        try:
            union = " UNION ALL ".join(f"SELECT * FROM {name}.{table}" for name in names)
            cols = ", ".join(columns)
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
            self._execute("BEGIN IMMEDIATE")
            self.in_tx = True
            # "WHERE true": SQLite's way to tell an upsert's ON CONFLICT from a join's ON.
            self._execute(
                f"INSERT INTO {kind} ({cols}) SELECT {cols} FROM ({union}) WHERE true ORDER BY id_number, seq "
                f"ON CONFLICT (id_number) DO UPDATE SET {updates}"
            )
            await self.checkpoint()
        finally:
            if self.in_tx:
                self._execute("ROLLBACK")
                self.in_tx = False
            for name in names:
                self._execute("DETACH DATABASE " + name)
        for path in sources:
            conn = sqlite3.connect(path)
            conn.execute(f"DROP TABLE {table}")
            conn.close()

    async def finish(self, commit: bool) -> None:
        if self.in_tx:
            self._execute("COMMIT" if commit else "ROLLBACK")
        if commit:
            # Fresh statistics for the planner after a bulk load (sampled: quick at 10M rows).
            self._execute("PRAGMA analysis_limit=1000")
            self._execute("ANALYZE")
        self.cur.close()
        self.conn.close()


class PostgresLane:
    """One connection and its transaction; rows go in by COPY into a
    temporary table, then an upsert."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.tx = conn.transaction()
        self.staged: set[str] = set()

    async def upsert(self, table: str, columns: Sequence[str], frame: pl.DataFrame) -> None:
        stage = f"import_{table}"
        if stage not in self.staged:
            await self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            self.staged.add(stage)
        # CSV parsed by PostgreSQL itself: no Python per row. Strings are quoted,
        # so an empty string stays one and an unquoted empty field is NULL.
        data = io.BytesIO()
        frame.write_csv(data, include_header=False, quote_style="non_numeric", null_value="")
        data.seek(0)
        await self.conn.copy_to_table(stage, source=data, columns=list(columns), format="csv")
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


class PostgresSink:
    """Upserts through one or more connections ("lanes") at once. With
    several, each ID number always goes through the same lane (by a hash of
    it), so its rows still land in file order and two lanes never touch the
    same row; the lanes' transactions commit together at each checkpoint.
    A strict import uses one lane: one transaction for everything."""

    def __init__(self, lanes: list[PostgresLane]) -> None:
        self.lanes = lanes

    @classmethod
    async def connect(cls, url: str, lanes: int) -> "PostgresSink":
        import asyncpg

        u = make_url(url)
        conns = [
            await asyncpg.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)
            for _ in range(lanes)
        ]
        sink = cls([PostgresLane(conn) for conn in conns])
        for lane in sink.lanes:
            await lane.tx.start()
        return sink

    async def upsert(self, table: str, columns: Sequence[str], frame: pl.DataFrame) -> None:
        if len(self.lanes) == 1:
            await self.lanes[0].upsert(table, columns, frame)
            return
        lane_of = (pl.col("id_number").hash(seed=0) % len(self.lanes)).alias("_lane")
        parts = frame.with_columns(lane_of).partition_by("_lane", as_dict=True, include_key=False)
        await asyncio.gather(*(
            self.lanes[key[0]].upsert(table, columns, part) for key, part in parts.items()  # type: ignore[index]
        ))

    async def checkpoint(self) -> None:
        for lane in self.lanes:
            await lane.checkpoint()

    async def finish(self, commit: bool) -> None:
        try:
            for lane in self.lanes:
                await (lane.tx.commit() if commit else lane.tx.rollback())
            if commit:
                # Statistics for the planner now: autovacuum may be off, or late after a bulk load.
                await self.lanes[0].conn.execute("ANALYZE students; ANALYZE teachers")
        finally:
            for lane in self.lanes:
                await lane.conn.close()


async def open_sink(database_url: str, lanes: int = 1) -> Any:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteSink(url.database or ":memory:")
    if url.get_backend_name() == "postgresql":
        return await PostgresSink.connect(database_url, lanes)
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
    sink = await open_sink(database_url, lanes=1 if strict else PG_LANES)
    reports: list[FileReport] = []
    ok = False
    pool: Optional[Workers] = None
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
                # Strict imports write in one transaction, from the main process.
                pool = Workers(n_workers, sink.path if isinstance(sink, SqliteSink) and not strict else None)
            line = 1  # lines before the current chunk
            uncommitted = 0
            chunks = _chunks(pool, kind, path, offset, index, width, chunk_bytes)
            async for (start, end), chunk in chunks:
                report.rows += chunk.count
                report.errors.extend((line + n, msg) for n, msg in chunk.errors)
                line += chunk.lines
                if tick:
                    tick(end - start)
                if strict and report.errors:
                    continue  # keep reading to report every bad row, write nothing
                report.imported += chunk.imported
                if chunk.frame.height and not chunk.written:
                    await sink.upsert(kind, db_columns, chunk.frame)
                    uncommitted += chunk.frame.height
                    if not strict and uncommitted >= COMMIT_ROWS:
                        await sink.checkpoint()
                        uncommitted = 0
            if pool is not None and pool.stage_dir:  # every chunk is staged by now
                await sink.merge_staged(pool.stage_dir, kind, db_columns)
            report.seconds = time.perf_counter() - started
        ok = not (strict and any(r.errors for r in reports))
        if not ok:
            for r in reports:
                r.imported = 0
    finally:
        if pool is not None:
            pool.close()
        await sink.finish(commit=ok)
    return reports


class Workers:
    """Worker processes validating chunks; for an SQLite database they also
    stage them (stage_chunk) in a temporary directory next to it. Spawned,
    not forked: polars' thread pool does not survive a fork."""

    def __init__(self, n: int, sqlite_path: Optional[str]) -> None:
        self.size = n
        self.stage_dir: Optional[str] = None
        if sqlite_path is not None and sqlite_path != ":memory:":
            self.stage_dir = tempfile.mkdtemp(prefix=".import-", dir=Path(sqlite_path).resolve().parent)
        self.next_seq = 0
        self.pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"))

    def stage_to(self) -> Optional[tuple[str, int]]:
        if self.stage_dir is None:
            return None
        self.next_seq += 1
        return self.stage_dir, self.next_seq

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        if self.stage_dir is not None:
            shutil.rmtree(self.stage_dir, ignore_errors=True)


async def _chunks(
    pool: Optional[Workers],
    kind: str,
    path: Path,
    offset: int,
    index: list[int],
    width: int,
    chunk_bytes: int,
) -> AsyncIterator[tuple[tuple[int, int], Chunk]]:
    """Chunks in file order; with workers, a few are validated ahead while
    the previous one is written."""
    bounds = chunk_bounds(path, offset, chunk_bytes)
    if pool is None:
        for start, end in bounds:
            yield (start, end), convert_chunk(kind, str(path), start, end, index, width)
        return
    loop = asyncio.get_running_loop()
    ahead = pool.size * 2
    pending: deque[tuple[tuple[int, int], asyncio.Future[Chunk]]] = deque()
    for start, end in bounds:
        job = (kind, str(path), start, end, index, width, pool.stage_to())
        pending.append(((start, end), loop.run_in_executor(pool.pool, convert_chunk, *job)))
        if len(pending) >= ahead:
            span, future = pending.popleft()
            yield span, await future
    while pending:
        span, future = pending.popleft()
        yield span, await future
