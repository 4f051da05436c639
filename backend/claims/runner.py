"""The runner of claim flows for a database URL: SQLite (sqlite_runner.py)
or PostgreSQL (postgres_runner.py). Both run a flow of rules.py and return
its outcome; the SQL they run is statements.py's."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy.engine import make_url

from backend.claims.postgres_runner import PostgresRunner
from backend.claims.sqlite_runner import SqliteRunner

Runner = SqliteRunner | PostgresRunner


def make_runner(database_url: str, pool_size: int) -> Runner:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteRunner(url.database or ":memory:")
    if url.get_backend_name() == "postgresql":
        return PostgresRunner(database_url, pool_size)
    raise ValueError(f"unsupported database: {url.get_backend_name()}")


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the database cannot be reached right now"."""
    import asyncpg

    return (
        OSError,
        asyncio.TimeoutError,
        sqlite3.OperationalError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
    )
