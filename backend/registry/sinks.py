"""Writing registry rows, keyed on `id_number`, straight through the
database driver (the ORM would cost ten times the time at ten million rows):
SQLite through ADBC (SqliteSink, which also merges what workers staged),
PostgreSQL by COPY into a temporary table and an upsert (PostgresSink).

Every upsert stamps `updated_at` (UTC, the time the rows are written) on
the rows it inserts and on the rows whose values it changes; a row imported
again unchanged keeps its stamp. So "the school corrected this record since
that failed claim" is `updated_at > attempt.created_at`
(backend/campaign/fixes.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
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


# The schools of some ID numbers (a JSON array of them on SQLite, an array on
# PostgreSQL): where an import's rows were before it (importer.py).
SCHOOLS_OF = {
    "sqlite": "SELECT DISTINCT school_code FROM {table} WHERE id_number IN (SELECT value FROM json_each(?))",
    "postgresql": "SELECT DISTINCT school_code FROM {table} WHERE id_number = ANY($1::varchar[])",
}


def stamp(dialect: str) -> str:
    """Now (UTC) as an SQL literal of the `updated_at` column: the text
    SQLAlchemy stores on SQLite, a timestamp on PostgreSQL."""
    text = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"'{text}'" if dialect == "sqlite" else f"TIMESTAMP '{text}'"


def on_conflict(table: str, columns: Sequence[str], dialect: str) -> str:
    """The upsert's conflict clause (columns[0] is id_number): every value
    replaced; `updated_at` taken from the new row only when a value differs,
    null-safely (excluded.updated_at is the stamp the insert carried)."""
    differs = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    changed = " OR ".join(f"{table}.{c} {differs} excluded.{c}" for c in columns[1:])
    return (
        f"ON CONFLICT (id_number) DO UPDATE SET {updates}, "
        f"updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE {table}.updated_at END"
    )


def upsert_sql(table: str, columns: Sequence[str]) -> str:
    values = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}, updated_at) VALUES ({values}, {stamp('sqlite')}) "
        + on_conflict(table, columns, "sqlite")
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

    async def schools_of(self, table: str, ids: list[str]) -> set[str]:
        """The schools of these ID numbers as committed (read through a
        connection of its own: reading rows through ADBC would need pyarrow)."""
        conn = sqlite3.connect(self.path)
        try:
            return {r[0] for r in conn.execute(SCHOOLS_OF["sqlite"].format(table=table), (json.dumps(ids),))}
        finally:
            conn.close()

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
            self._execute("BEGIN IMMEDIATE")
            self.in_tx = True
            # "WHERE true": SQLite's way to tell an upsert's ON CONFLICT from a join's ON.
            self._execute(
                f"INSERT INTO {kind} ({cols}, updated_at) SELECT {cols}, {stamp('sqlite')} FROM ({union}) "
                f"WHERE true ORDER BY id_number, seq " + on_conflict(kind, columns, "sqlite")
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
        await self.conn.execute(
            f"INSERT INTO {table} ({cols}, updated_at) SELECT {cols}, {stamp('postgresql')} FROM {stage} "
            + on_conflict(table, columns, "postgresql")
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

    async def schools_of(self, table: str, ids: list[str]) -> set[str]:
        """The schools of these ID numbers."""
        rows = await self.lanes[0].conn.fetch(SCHOOLS_OF["postgresql"].format(table=table), ids)
        return {r[0] for r in rows}

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
