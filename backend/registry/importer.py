"""Registry import from the contract's CSV format (see shared CONTRACT.md).

A file is cut into chunks (chunks.py) validated in worker processes: rows
in canonical form as polars column expressions (frames.py), the others row
by row (rows.py). Rows are then upserted, keyed on `id_number`, straight
through the database driver (sinks.py; the ORM would cost ten times the
time at ten million rows):
- PostgreSQL: CSV through COPY into a temporary table, then an upsert, over
  two connections (PostgresSink), committed every COMMIT_ROWS rows;
- SQLite, large files: each worker stages its rows in a database of its own
  (staging.py), merged in ID order at the end of the file (merge_staged): a
  crash before the merge imports nothing of that file; small files: from
  the main process, committed every COMMIT_ROWS rows.
A bad row is reported with its line number and skipped; rows of district
codes the reference data does not know (jiangxi.py) are imported and
counted per code in the report; in strict mode the
whole import (both files) runs in one transaction, from the main process,
rolled back when any row is bad.

Once the rows are committed, the coverage counts
(backend/registry/counts.py) are recounted: for an import of up to
RECOUNT_SCHOOLS_MAX_ROWS rows written from this process, only the schools
it touched (its rows' schools, and the schools its ID numbers were in
before: a student who moved leaves a class behind), looked up chunk by
chunk before the upsert; for larger imports every school (a full recount
costs a small part of such an import; bench/README.md).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from backend.registry.chunks import CHUNK_BYTES, Chunk, chunk_bounds, convert_chunk, read_header
from backend.registry.jiangxi import is_known_district
from backend.registry.rows import KINDS
from backend.registry.sinks import SqliteSink, open_sink

PARALLEL_MIN_BYTES = 8 * 1024 * 1024
COMMIT_ROWS = 200_000  # non-strict imports written from this process commit this often
PG_LANES = 2  # PostgreSQL connections upserting at once (non-strict imports)
RECOUNT_SCHOOLS_MAX_ROWS = 100_000  # larger imports recount the coverage of every school


@dataclass
class FileReport:
    table: str
    path: str
    rows: int = 0
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    # Valid rows (imported all the same) whose district_code is not a
    # county-level division of the reference data (jiangxi.py), per code.
    unknown_districts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def import_registry(
    database_url: str,
    students: Path | None = None,
    teachers: Path | None = None,
    *,
    strict: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    workers: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[FileReport]:
    """Import one or both files; returns a report per file. The schema must
    exist (the CLI creates it). `workers`: processes validating rows in
    parallel (default: one per core, for files over a few megabytes)."""
    jobs = [(k, p) for k, p in (("students", students), ("teachers", teachers)) if p is not None]
    sink = await open_sink(database_url, lanes=1 if strict else PG_LANES)
    reports: list[FileReport] = []
    ok = False
    pool: Workers | None = None
    touched: set[str] | None = set()  # schools whose coverage to recount; None: every school
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
            assert index is not None  # a header without a problem has its columns' index
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
                for code, n in chunk.districts.items():
                    if not is_known_district(code):
                        report.unknown_districts[code] = report.unknown_districts.get(code, 0) + n
                line += chunk.lines
                if tick:
                    tick(end - start)
                if strict and report.errors:
                    continue  # keep reading to report every bad row, write nothing
                report.imported += chunk.imported
                if chunk.written or sum(r.imported for r in reports) > RECOUNT_SCHOOLS_MAX_ROWS:
                    touched = None
                if chunk.frame.height and not chunk.written:
                    if touched is not None:
                        touched.update(chunk.frame["school_code"].to_list())
                        touched.update(await sink.schools_of(kind, chunk.frame["id_number"].to_list()))
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
    if ok and any(r.imported for r in reports):
        await recount_coverage(database_url, touched)
    return reports


async def recount_coverage(database_url: str, schools: set[str] | None) -> None:
    """Recount the coverage counts of `schools` (None: of every school)."""
    from backend.db import Database
    from backend.registry.counts import recount

    db = Database(database_url, pool_size=1)
    try:
        async with db.writing() as session:
            await recount(session, schools)
    finally:
        await db.dispose()


class Workers:
    """Worker processes validating chunks; for an SQLite database they also
    stage them (stage_chunk) in a temporary directory next to it. Spawned,
    not forked: polars' thread pool does not survive a fork."""

    def __init__(self, n: int, sqlite_path: str | None) -> None:
        self.size = n
        self.stage_dir: str | None = None
        if sqlite_path is not None and sqlite_path != ":memory:":
            self.stage_dir = tempfile.mkdtemp(prefix=".import-", dir=Path(sqlite_path).resolve().parent)
        self.next_seq = 0
        self.pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"))

    def stage_to(self) -> tuple[str, int] | None:
        if self.stage_dir is None:
            return None
        self.next_seq += 1
        return self.stage_dir, self.next_seq

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
        if self.stage_dir is not None:
            shutil.rmtree(self.stage_dir, ignore_errors=True)


async def _chunks(
    pool: Workers | None,
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
