"""An SQL tracker store that keeps conversations in memory between messages.

Rasa 3.6's `SQLTrackerStore` rebuilds a conversation's tracker from its
stored events at every message (load the rows, parse their JSON, replay
every event) and saves it by counting the stored events with a subquery,
then inserting the new ones one ORM object at a time. A py-spy profile put
a quarter of the Rasa server's CPU there (bench/README.md "Chat load").

`CachedSQLTrackerStore` writes the same rows to the same table, so the
database stays the source of truth and can be read by stock Rasa, but:

- after a save it keeps the tracker object, and hands it out again at the
  conversation's next message when the database has not changed: one
  indexed `max(id)` query instead of loading and replaying the events.
  Another Rasa instance (or anything else) that writes to the conversation
  changes its largest event id, so the next retrieve here reloads. Rasa
  holds the conversation's lock from retrieve to save, so no other writer
  slips in between (bot/lock_store.py makes that lock hold across
  instances);
- a tracker is handed out to one caller only (a retrieve takes it out of
  the cache, a save puts it back), so a read of the same conversation that
  runs while a message is handled gets its own copy from the database, and
  a tracker left half-updated by a failed message is never reused;
- a save that knows how many of the tracker's events are already stored
  (it handed the tracker out, and the database still ends where it did)
  inserts the new events in one multi-row INSERT without counting;
  otherwise it counts as Rasa does;
- every event is stored with its ID numbers masked (bot/redaction.py);
  the ID slots hold sealed references (trust/sealing.py);
- on SQLite it keeps its connections open (SQLAlchemy 1.4 opens one per
  session there) and runs in WAL mode with `synchronous=NORMAL`: a commit
  no longer waits for the disk on Rasa's event loop (a crash of the
  machine, not of Rasa, can lose the last commits).

Settings (endpoints.yml `tracker_store`, or the environment):
`cache_size` / `TRACKER_CACHE_SIZE` conversations kept (default 500;
0 turns the cache off and leaves the faster saves).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.redaction import stored_form

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 500
COMPOSITE_INDEX = "ix_events_sender_id_id"
INSERT_CHUNK = 500  # rows a statement: 3,000 parameters, well under SQLite's and PostgreSQL's limits
COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")


class _Known(NamedTuple):
    """A tracker object of which the first `stored` events are in the
    database, whose largest event id for the conversation was `last_id`."""

    tracker: DialogueStateTracker
    stored: int
    last_id: int | None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The stores of this process (one per Rasa server), for `conversation_messages`.
_STORES: weakref.WeakSet[CachedSQLTrackerStore] = weakref.WeakSet()
LENGTHS_KEPT = 10_000


def conversation_messages(sender_id: str) -> int | None:
    """How many user messages the conversation's current session held when
    this process last saved it (None: not seen here lately). The channel
    caps a conversation's length with it (bot/channels.py)."""
    for store in _STORES:
        count = store.lengths.get(sender_id)
        if count is not None:
            return count
    return None


def _session_messages(tracker: DialogueStateTracker) -> int:
    count = 0
    for event in reversed(tracker.events):
        if isinstance(event, SessionStarted):
            break
        if isinstance(event, UserUttered):
            count += 1
    return count


class CachedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, cache_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _STORES.add(self)
        # User messages of each recently saved conversation's session.
        self.lengths: OrderedDict[str, int] = OrderedDict()
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite()
        if cache_size is None:
            cache_size = int(os.environ.get("TRACKER_CACHE_SIZE") or DEFAULT_CACHE_SIZE)
        self.cache_size = max(0, int(cache_size))
        # Saved trackers, waiting for their conversation's next message.
        self._cache: OrderedDict[str, _Known] = OrderedDict()
        # Trackers handed out, waiting for their save.
        self._out: OrderedDict[str, _Known] = OrderedDict()
        self.hits = 0
        self.misses = 0
        # The hot path's two statements, straight to the driver: through the
        # ORM, building and caching the query cost more than running it.
        mark = "%s" if self.engine.dialect.paramstyle in ("format", "pyformat") else "?"
        self._mark = mark
        self._last_id_sql = f"SELECT max(id) FROM events WHERE sender_id = {mark}"
        self._ensure_index()

    def _pool_sqlite(self) -> None:
        """SQLAlchemy 1.4 opens a new SQLite connection for every session
        (NullPool); Rasa's tracker store runs on the event loop's thread
        only, so keep a few open, each in WAL mode."""
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8, connect_args={"check_same_thread": False}
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _ensure_index(self) -> None:
        """(sender_id, id): the `max(id)` of a conversation from the index alone."""
        table = self.SQLEvent.__table__
        try:
            sa.Index(COMPOSITE_INDEX, table.c.sender_id, table.c.id).create(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError as e:  # another instance created it at the same moment
            logger.debug(f"Index {COMPOSITE_INDEX} not created: {e}")

    # -- bookkeeping ---------------------------------------------------------------

    @staticmethod
    def _remember(table: OrderedDict[str, _Known], known: _Known, limit: int) -> None:
        sender_id = known.tracker.sender_id
        table.pop(sender_id, None)
        if limit <= 0:
            return
        table[sender_id] = known
        while len(table) > limit:
            table.popitem(last=False)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A DB-API cursor on a pooled connection (rolled back on return
        unless committed)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                yield cursor
                connection.commit()
            finally:
                cursor.close()
        finally:
            connection.close()

    def _last_id(self, cursor: Any, sender_id: str) -> int | None:
        cursor.execute(self._last_id_sql, (sender_id,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _insert(self, cursor: Any, sender_id: str, events: list[Event]) -> int | None:
        """Multi-row INSERTs (a message adds a handful of events: one
        statement); the largest id inserted, when the database tells it
        without another query (PostgreSQL: RETURNING; SQLite: the last rowid)."""
        row = "(" + ", ".join([self._mark] * len(COLUMNS)) + ")"
        returning = " RETURNING id" if self.engine.dialect.name == "postgresql" else ""
        last: int | None = None
        for start in range(0, len(events), INSERT_CHUNK):
            chunk = events[start : start + INSERT_CHUNK]
            sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES " + ", ".join([row] * len(chunk)) + returning
            cursor.execute(sql, [value for event in chunk for value in self._row(sender_id, event)])
            if returning:
                last = max(found for (found,) in cursor.fetchall())
            elif self.engine.dialect.name == "sqlite":
                last = cursor.lastrowid
        return last

    @staticmethod
    def _as_stored(tracker: DialogueStateTracker) -> bool:
        """Would SQLTrackerStore load this very tracker back? It loads the
        events stamped at or after the latest SessionStarted: a tracker that
        also holds an earlier session, or the first message's
        `action_session_start` (logged before SessionStarted), is not what
        the database gives, so it is not kept."""
        start = None
        for event in reversed(tracker.events):
            if isinstance(event, SessionStarted):
                start = event.timestamp
                break
        return start is None or all(event.timestamp >= start for event in tracker.events)

    # -- TrackerStore ----------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        known = self._cache.pop(sender_id, None)
        if known is not None:
            with self._cursor() as cursor:
                last_id = self._last_id(cursor, sender_id)
            if last_id == known.last_id and len(known.tracker.events) == known.stored:
                self.hits += 1
                self._remember(self._out, known, max(self.cache_size, 64))
                return known.tracker
        self.misses += 1
        return self._load(sender_id)

    def _load(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session's events, as SQLTrackerStore.retrieve loads them."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            if not rows or not self.domain:
                return None
            tracker = DialogueStateTracker.from_dict(
                sender_id, [json.loads(row.data) for row in rows], self.domain.slots
            )
            last_id = rows[-1].id
        self._remember(self._out, _Known(tracker, len(tracker.events), last_id), max(self.cache_size, 64))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        known = self._out.pop(sender_id, None)
        with self._cursor() as cursor:
            last_id = self._last_id(cursor, sender_id)
            handed_out = (
                known is not None
                and known.tracker is tracker
                and known.last_id == last_id
                and known.stored <= len(tracker.events)
            )
            if handed_out:
                new_events: list[Event] = list(itertools.islice(tracker.events, known.stored, None))
            else:  # not handed out here, or changed since: count as Rasa does
                with self.session_scope() as session:
                    new_events = list(self._additional_events(session, tracker))
            if new_events:
                inserted = self._insert(cursor, sender_id, new_events)
                last_id = inserted if inserted is not None else self._last_id(cursor, sender_id)
        logger.debug(f"Tracker with sender_id '{sender_id}' stored to database")
        self.lengths.pop(sender_id, None)
        self.lengths[sender_id] = _session_messages(tracker)
        while len(self.lengths) > LENGTHS_KEPT:
            self.lengths.popitem(last=False)
        # After a count (a new conversation, a tracker replaced through the
        # HTTP API, one read twice at once) the database need not hold this
        # very tracker: the next message loads it.
        if handed_out and self._as_stored(tracker):
            self._remember(self._cache, _Known(tracker, len(tracker.events), last_id), self.cache_size)

    @staticmethod
    def _row(sender_id: str, event: Event) -> tuple:
        """The values of COLUMNS, as SQLTrackerStore.save writes them."""
        data = stored_form(event)  # no full ID number is stored (bot/redaction.py)
        intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
        return (sender_id, event.type_name, data.get("timestamp"), intent, data.get("name"), json.dumps(data))
