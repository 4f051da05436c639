"""Deleting conversations from Rasa's SQL tracker store: the only code of
the backend that writes there (the staff console reads it with
backend/conversations/tracker.py's read-only `TrackerStore`).

The store is Rasa 3.6's `events` table (one row per event: sender_id,
timestamp as seconds since the epoch, ...). A conversation is all the rows
of its sender id, over every session. A store that does not exist yet (no
SQLite file, no table) holds no conversations: nothing is created here.

Rasa may be writing while a conversation is deleted. With `idle_since`,
`delete` removes a conversation only when it has no event at or after
that time, in the same statement, so a conversation that came back to life
since it was chosen keeps its events. The Rasa servers notice the deletion
(bot/tracker_store.py compares the conversation's largest event id before
reusing a tracker it keeps in memory) and start the conversation afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from backend.conversations.tracker import EVENTS

log = logging.getLogger("backend.conversations.writer")

CHUNK = 500  # senders a statement
SQLITE_TIMEOUT_S = 60  # Rasa holds the write lock for milliseconds at a time


class TrackerWriteError(Exception):
    """The tracker store could not be read or written (down, refused, misconfigured)."""


def _missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return (
        "no such table" in message
        or ("relation" in message and "does not exist" in message)
        or type(exc.orig).__name__ == "UndefinedTableError"
    )


class TrackerWriter:
    """Write access to the tracker store at `url` (an async SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite_path: Path | None = None
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError("the tracker store must be an SQLite file or a PostgreSQL database")
            self.sqlite_path = Path(parsed.database)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": SQLITE_TIMEOUT_S})
        else:
            self.engine = create_async_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True)

    async def close(self) -> None:
        await self.engine.dispose()

    def _absent(self) -> bool:
        return self.sqlite_path is not None and not self.sqlite_path.exists()

    async def _run(self, stmt: Any, *, write: bool = False) -> Any:
        """Rows of a query (or the row count of a write); None when the
        store has no `events` table yet."""
        try:
            async with self.engine.begin() if write else self.engine.connect() as conn:
                result = await conn.execute(stmt)
                return max(int(result.rowcount or 0), 0) if write else result.all()
        except DBAPIError as exc:
            if _missing_table(exc):
                return None
            raise TrackerWriteError(type(exc.orig).__name__) from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise TrackerWriteError(type(exc).__name__) from None

    async def idle_senders(self, cutoff: float) -> list[str]:
        """Conversations whose newest event is older than `cutoff` (epoch seconds)."""
        if self._absent():
            return []
        c = EVENTS.c
        rows = await self._run(select(c.sender_id).group_by(c.sender_id).having(func.max(c.timestamp) < cutoff))
        return [str(r[0]) for r in rows or []]

    async def active_among(self, senders: Collection[str], since: float) -> set[str]:
        """Those of `senders` with an event at or after `since`."""
        return await self._present(senders, since)

    async def present(self, senders: Collection[str]) -> set[str]:
        """Those of `senders` with any event."""
        return await self._present(senders, None)

    async def _present(self, senders: Collection[str], since: float | None) -> set[str]:
        if self._absent():
            return set()
        c = EVENTS.c
        found: set[str] = set()
        ordered = sorted(set(senders))
        for i in range(0, len(ordered), CHUNK):
            where: list[ColumnElement[bool]] = [c.sender_id.in_(ordered[i : i + CHUNK])]
            if since is not None:
                where.append(c.timestamp >= since)
            rows = await self._run(select(c.sender_id).distinct().where(*where))
            found.update(str(r[0]) for r in rows or [])
        return found

    async def delete(self, senders: Collection[str], idle_since: float | None = None) -> int:
        """Delete these conversations' events (with `idle_since`: only of
        those with no event at or after it); returns the events deleted."""
        if self._absent():
            return 0
        c = EVENTS.c
        deleted = 0
        ordered = sorted(set(senders))
        for i in range(0, len(ordered), CHUNK):
            chunk = ordered[i : i + CHUNK]
            stmt = delete(EVENTS).where(c.sender_id.in_(chunk))
            if idle_since is not None:
                recent = select(c.sender_id).where(c.sender_id.in_(chunk), c.timestamp >= idle_since)
                stmt = stmt.where(c.sender_id.not_in(recent))
            deleted += await self._run(stmt, write=True) or 0
        return deleted
