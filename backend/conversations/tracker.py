"""Conversations as Rasa keeps them: reading its SQL tracker store.

Tracker store: Rasa 3.6's SQLTrackerStore writes one row per event to the
table `events` (id, sender_id, type_name, timestamp, intent_name,
action_name, data = the event as JSON). `TrackerStore` reads it on its own
engine, never writes (PostgreSQL sessions are read-only; SQLite is opened
with mode=ro), and treats a store that does not exist yet (no file, no
table) as one without conversations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger("backend.conversations")
MAX_TRANSCRIPT_EVENTS = 5_000
_metadata = MetaData()
EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class TrackerUnavailable(Exception):
    """The tracker store could not be read (down, refused, misconfigured)."""


@dataclasses.dataclass(frozen=True)
class TrackerEvent:
    id: int
    sender_id: str
    type_name: str
    timestamp: float
    data: dict[str, Any]

    @property
    def when(self) -> dt.datetime:
        """UTC, naive (as the backend's tables keep times)."""
        return to_utc(self.timestamp)

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None


def to_utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)


def _event(row: Any) -> TrackerEvent:
    try:
        data = json.loads(row.data) if row.data else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    timestamp = row.timestamp if row.timestamp is not None else data.get("timestamp")
    return TrackerEvent(
        int(row.id),
        str(row.sender_id),
        str(row.type_name),
        float(timestamp) if isinstance(timestamp, (int, float)) else 0.0,
        data,
    )


def _missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return (
        "no such table" in message
        or ("relation" in message and "does not exist" in message)
        or type(exc.orig).__name__ == "UndefinedTableError"
    )


class TrackerStore:
    """Read-only access to Rasa's SQL tracker store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.refresh_lock = asyncio.Lock()
        self.sqlite_path: Path | None = None
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError("the tracker store must be a SQLite file or a PostgreSQL database")
            self.sqlite_path = Path(parsed.database)
            ro = f"file:{quote(str(self.sqlite_path.resolve()))}?mode=ro"
            # uri=true: SQLAlchemy passes the database as an SQLite URI (with mode=ro).
            self.engine: AsyncEngine = create_async_engine(
                parsed.set(database=ro, query={"uri": "true"}),
                connect_args={"timeout": 10},
            )
        else:
            connect_args: dict[str, Any] = {}
            if parsed.get_driver_name() == "asyncpg":
                connect_args = {"server_settings": {"default_transaction_read_only": "on"}, "timeout": 10}
            self.engine = create_async_engine(
                url, pool_size=3, max_overflow=2, pool_pre_ping=True, connect_args=connect_args
            )

    async def close(self) -> None:
        await self.engine.dispose()

    async def _rows(self, stmt: Any) -> list[TrackerEvent]:
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return []  # Rasa has not started yet: no conversations
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        except DBAPIError as exc:
            if _missing_table(exc):
                return []
            log.warning("tracker store unreadable: %s", type(exc.orig).__name__)
            raise TrackerUnavailable(str(type(exc.orig).__name__)) from None
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("tracker store unreachable: %s", type(exc).__name__)
            raise TrackerUnavailable(type(exc).__name__) from None
        return [_event(r) for r in rows]

    async def events_after(self, after_id: int, limit: int) -> list[TrackerEvent]:
        """Events of all conversations with ids above `after_id`, oldest first."""
        c = EVENTS.c
        return await self._rows(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.id > after_id)
            .order_by(c.id)
            .limit(limit)
        )

    async def events_of(self, sender_id: str, limit: int = MAX_TRANSCRIPT_EVENTS) -> list[TrackerEvent]:
        """One conversation's events (all sessions), oldest first."""
        c = EVENTS.c
        return await self._rows(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.sender_id == sender_id)
            .order_by(c.id)
            .limit(limit)
        )
