"""Staging in worker processes (SQLite), and the ADBC helper every SQLite
writer of the import uses.

SQLite has one writer, and upserting chunk after chunk into a
ten-million-row B-tree (each chunk's keys spread over the whole tree) from
the main process costs more than validating the rows: ~51,000 rows/s at
10M rows (bench/README.md), and workers taking turns to write paid for
every chunk's commit with tens of megabytes of WAL. So, for large files,
each worker appends the rows it validated to its own staging database (an
unindexed table, no journal; ADBC binds the frame in C), and at the end of
the file the main process merges all staging tables in one statement,
sorted by ID number (SqliteSink.merge_staged): the B-tree is then written
in key order, in C (~106,000 rows/s at 10M).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from typing import Any

import polars as pl

from backend.sqlite import setup_sqlite


def execute(cursor: Any, sql: str) -> None:
    """Run a statement through ADBC, discarding any result (reading rows
    would need pyarrow)."""
    cursor.executemany(sql, None)


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
            setup_sqlite(lambda sql: execute(cur, sql), scratch=True)
    with conn.cursor() as cur:
        execute(cur, f"CREATE TABLE IF NOT EXISTS {stage_table(kind)} (seq INTEGER, {', '.join(columns)})")
        execute(cur, "BEGIN")
        cur.adbc_ingest(stage_table(kind), frame.select(pl.lit(seq).alias("seq"), *columns), mode="append")
        execute(cur, "COMMIT")
