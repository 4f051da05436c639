"""Writing registry rows, keyed on `id_number`, straight through the
database driver (the ORM would cost ten times the time at ten million rows):
SQLite through ADBC (SqliteSink, which also merges what workers staged),
PostgreSQL by COPY into a temporary table and an upsert (PostgresSink)."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import make_url

from backend.registry.staging import execute, stage_table
from backend.sqlite import setup_sqlite


def sqlite_connection(path: str, cache_mib: int) -> Any:
    """An ADBC connection (C driver): `executemany` binds a polars frame's
    Arrow columns in C, about 2 µs a row where the stdlib driver spent ~11 µs
    turning columns into tuples and binding them. Autocommit: transactions
    are begun and ended by the sink itself."""
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    conn = adbc_sqlite.connect(path, autocommit=True)
    cur = conn.cursor()
    setup_sqlite(lambda sql: execute(cur, sql), cache_mib=cache_mib)
    cur.close()
    return conn


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
        for name, path in zip(names, sources, strict=True):
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
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT (id_number) DO UPDATE SET {updates}"
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
    async def connect(cls, url: str, lanes: int) -> PostgresSink:
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
        await asyncio.gather(*(self.lanes[key[0]].upsert(table, columns, part) for key, part in parts.items()))

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
