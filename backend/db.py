"""Engines and sessions (the claim hot path runs its own SQL: the claim
service makes its runner, backend/claims/runner.py).

SQLite allows one writer at a time, and a deferred transaction that starts
reading and then writes can fail with "database is locked" instead of
waiting. So on SQLite, writes go through their own engine with a single
connection and `BEGIN IMMEDIATE` (writers queue in-process on the pool and
across processes on the busy timeout), while reads use a separate pool
under WAL; every connection is set up by backend/sqlite.py. PostgreSQL
uses one engine for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from backend.models import Base, create_card_triggers
from backend.private_files import private_sqlite
from backend.sqlite import setup_sqlite


def rows_matched(result: object) -> int:
    """The rows an UPDATE or DELETE run by `session.execute` matched. Its
    result is a CursorResult, which the types of `execute` do not say."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> AsyncEngine:
    path = make_url(url).database
    if path and path != ":memory:":
        private_sqlite(path)  # 0600 (and its -wal, -shm), before anything opens it
    engine = create_async_engine(
        url,
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=60,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        setup_sqlite(cursor.execute)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


# Columns added to existing tables since their first release: create_all
# makes new tables only. (table, column, SQL type)
ADDED_COLUMNS = (
    ("staff_users", "scope", "TEXT"),
    # When an import last changed a registry row (NULL for rows older than the column).
    ("students", "updated_at", "TIMESTAMP"),
    ("teachers", "updated_at", "TIMESTAMP"),
)


def _add_missing_columns(conn: Connection) -> None:
    inspector = inspect(conn)
    for table, column, sql_type in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def _add_missing_indexes_and_triggers(conn: Connection) -> None:
    """What create_all adds only with a new table: indexes added to existing
    tables since, and the coverage counts' triggers on `cards` (an existing
    database then needs `python -m backend recount-coverage` once)."""
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    if conn.dialect.name != "postgresql" or not conn.exec_driver_sql(PG_HAS_CARD_TRIGGER).first():
        create_card_triggers(conn)


PG_HAS_CARD_TRIGGER = "SELECT 1 FROM pg_trigger WHERE tgname = 'cards_counted' AND NOT tgisinternal"
# Server processes starting together create the schema one at a time.
PG_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(3600360036)"


class Database:
    """The engines of one process, and sessions on them (one per task)."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self.is_sqlite = url.startswith("sqlite")
        self.schema_ready = False
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, writer=False, pool_size=pool_size)
            self.write_engine = _sqlite_engine(url, writer=True, pool_size=1)
        else:
            self.read_engine = self.write_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success, rolls back on error."""
        async with self._write() as session, session.begin():
            yield session

    async def create_schema(self) -> None:
        async with self.write_engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(text(PG_SCHEMA_LOCK))
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(_add_missing_columns)
            await conn.run_sync(_add_missing_indexes_and_triggers)

    async def ping(self) -> bool:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
