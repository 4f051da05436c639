"""Runs the flows of rules.py.

SQLite: the whole flow runs with the stdlib driver in one `BEGIN IMMEDIATE`
transaction, on the event loop's thread when the write lock is free, else
in a writer thread that waits for it (see SqliteRunner).

PostgreSQL: an asyncpg pool; each operation is one prepared-statement
round trip. Statements run in autocommit until a flow makes a write that a
later write must accompany (a proxy slot, which the card follows; a card
update, which its log row follows): from there on, one transaction. Each
statement is atomic by itself, and under READ COMMITTED a transaction around
the reads would see nothing more consistent, so a K-12 claim costs two round
trips (look-up; card and its log row in one statement) instead of six.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy.engine import make_url

from backend.claims.operations import (
    OPENS_TRANSACTION,
    FindCard,
    Flow,
    Gate,
    GateResult,
    HasProxyClaim,
    InsertCard,
    LogAttempt,
    Op,
    RecentFailures,
    TakeProxySlot,
    UpdateCard,
)
from backend.claims.records import CardRec, Outcome, Person, StudentRec, TeacherRec

SQLITE_BUSY_TIMEOUT_S = 30
CHECKPOINT_SECONDS = 1.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)

# Failures that mean "the registry was consulted and said no": the ones an
# enumeration attempt produces, and so the ones the rate limit counts.
MATCH_FAILURES = ("identity_not_found", "not_enrolled", "guardian_mismatch")
_FAILURES = ", ".join(f"'{code}'" for code in MATCH_FAILURES)
_CARD_COLUMNS = (
    "id, card_number, holder_id_number, holder_name, path, identities, permissions, face_verification, "
    "claimed_by_guardian_id, district_code, school_code, school_name, created_at, channel_user, updated_at"
)
_CARD_INSERT_COLUMNS = (
    "card_number", "holder_id_number", "holder_name", "path", "identities", "permissions", "face_verification",
    "claimed_by_guardian_id", "channel_user", "district_code", "school_code", "school_name", "created_at",
    "updated_at",
)
_ATTEMPT_COLUMNS = (
    "created_at", "channel_user", "action", "path", "id_hash", "id_masked", "name_masked", "guardian_id_hash",
    "guardian_id_masked", "success", "failure_code", "card_number", "district_code", "school_code",
)
_CARD_UPDATE_COLUMNS = ("identities", "permissions", "district_code", "school_code", "school_name", "updated_at")

_RECENT_FAILURES = (
    "SELECT count(*) FROM (SELECT 1 FROM claim_attempts WHERE "
    "(channel_user = ? OR id_hash IN (?, ?) OR guardian_id_hash IN (?, ?)) "
    f"AND created_at >= ? AND failure_code IN ({_FAILURES}) LIMIT ?) AS recent"
)
# The registries' records and the card of one ID number.
_PERSON = (
    "s.name_norm, s.stage, s.status, s.school_code, s.school_name, s.district_code, "
    "s.guardian1_id_number, s.guardian1_name_norm, s.guardian2_id_number, s.guardian2_name_norm, "
    "t.name_norm, t.status, t.school_code, t.school_name, t.district_code, "
    + ", ".join(f"c.{c.strip()}" for c in _CARD_COLUMNS.split(","))
    + " FROM (SELECT CAST(? AS VARCHAR(18)) AS id) AS q "
    "LEFT JOIN students AS s ON s.id_number = q.id "
    "LEFT JOIN teachers AS t ON t.id_number = q.id "
    "LEFT JOIN cards AS c ON c.holder_id_number = q.id"
)
_ATTEMPT_INSERT = (
    f"INSERT INTO claim_attempts ({', '.join(_ATTEMPT_COLUMNS)}) VALUES ({', '.join('?' for _ in _ATTEMPT_COLUMNS)})"
)
_CARD_INSERT = (
    f"INSERT INTO cards ({', '.join(_CARD_INSERT_COLUMNS)}) VALUES ({', '.join('?' for _ in _CARD_INSERT_COLUMNS)}) "
    f"ON CONFLICT DO NOTHING RETURNING {_CARD_COLUMNS}"
)

# SQL with "?" placeholders; the PostgreSQL runner numbers them.
SQL = {
    "recent_failures": _RECENT_FAILURES,
    # The rate-limit count and the person, in one round trip.
    "gate": f"SELECT ({_RECENT_FAILURES}), {_PERSON}",
    "card": f"SELECT {_CARD_COLUMNS} FROM cards WHERE holder_id_number = ?",
    "proxy_pair": "SELECT 1 FROM proxy_claims WHERE guardian_id_number = ? AND child_id_number = ?",
    "proxy_take": (
        "INSERT INTO proxy_claims (guardian_id_number, slot, child_id_number, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING RETURNING slot"
    ),
    # SQLite runs the card's log row as a second statement (see SqliteRunner._drive).
    "card_insert": _CARD_INSERT,
    "card_update": f"UPDATE cards SET {', '.join(c + ' = ?' for c in _CARD_UPDATE_COLUMNS)} WHERE id = ?",
    "attempt_insert": _ATTEMPT_INSERT,
}
# What each operation returns: a row, a value, or nothing.
FETCH = {
    "recent_failures": "value", "gate": "row", "card": "row", "proxy_pair": "row",
    "proxy_take": "row", "card_insert": "row", "card_update": "none", "attempt_insert": "none",
}
# PostgreSQL: a new card and its log row in one statement (the log row is
# written only when the card is).
PG_CARD_INSERT_LOGGED = (
    f"WITH card AS ({_CARD_INSERT}), "
    f"logged AS (INSERT INTO claim_attempts ({', '.join(_ATTEMPT_COLUMNS)}) "
    f"SELECT {', '.join('?' for _ in _ATTEMPT_COLUMNS)} FROM card) "
    "SELECT * FROM card"
)
_NAMES: dict[type, str] = {
    RecentFailures: "recent_failures", Gate: "gate", FindCard: "card", HasProxyClaim: "proxy_pair",
    TakeProxySlot: "proxy_take", InsertCard: "card_insert", UpdateCard: "card_update", LogAttempt: "attempt_insert",
}


def name_of(op: Op) -> str:
    return _NAMES[type(op)]


def params(op: Op) -> tuple[Any, ...]:
    """The SQL parameters of an operation, in placeholder order."""
    if isinstance(op, Gate):
        return params(op.failures) + (op.id_number,)
    if isinstance(op, RecentFailures):
        h1, h2 = op.id_hash, op.guardian_id_hash
        return (op.channel_user, h1, h2, h1, h2, op.since, op.limit)
    if isinstance(op, InsertCard):
        values = dataclasses.asdict(op.card)
        values["identities"], values["permissions"] = json.dumps(op.card.identities), json.dumps(op.card.permissions)
        return tuple(values[c] for c in _CARD_INSERT_COLUMNS)
    if isinstance(op, LogAttempt):
        return tuple(getattr(op.attempt, c) for c in _ATTEMPT_COLUMNS)
    if isinstance(op, UpdateCard):
        values = dataclasses.asdict(op)
        values["identities"], values["permissions"] = json.dumps(op.identities), json.dumps(op.permissions)
        return tuple(values[c] for c in _CARD_UPDATE_COLUMNS) + (op.id,)
    if isinstance(op, FindCard):
        return (op.holder_id_number,)
    if isinstance(op, HasProxyClaim):
        return (op.guardian_id_number, op.child_id_number)
    return (op.guardian_id_number, op.slot, op.child_id_number, op.created_at)


_STUDENT = [f.name for f in dataclasses.fields(StudentRec)]
_TEACHER = [f.name for f in dataclasses.fields(TeacherRec)]
_CARD = [c.strip() for c in _CARD_COLUMNS.split(",")]


def result(op: Op, row: Any, parse_time: Callable[[Any], dt.datetime]) -> Any:
    """Turn a driver row into what the flow expects."""
    if isinstance(op, Gate):
        recent, *rest = tuple(row)
        student = dict(zip(_STUDENT, rest[:10]))
        teacher = dict(zip(_TEACHER, rest[10:15]))
        card = dict(zip(_CARD, rest[15:]))
        return GateResult(recent, Person(
            StudentRec(**student) if student["name_norm"] is not None else None,
            TeacherRec(**teacher) if teacher["name_norm"] is not None else None,
            _card(card, parse_time),
        ))
    if isinstance(op, (FindCard, InsertCard)):
        return _card(dict(zip(_CARD, row)), parse_time) if row is not None else None
    if isinstance(op, (HasProxyClaim, TakeProxySlot)):
        return row is not None
    return row


def _card(r: dict[str, Any], parse_time: Callable[[Any], dt.datetime]) -> Optional[CardRec]:
    if r["id"] is None:
        return None
    r["identities"], r["permissions"] = json.loads(r["identities"]), json.loads(r["permissions"])
    r["face_verification"] = None if r["face_verification"] is None else bool(r["face_verification"])
    r["created_at"], r["updated_at"] = parse_time(r["created_at"]), parse_time(r["updated_at"])
    return CardRec(**r)


def drive(flow: Flow, execute: Callable[[Op], Any]) -> Outcome:
    """Run a flow synchronously (used in the SQLite writer thread)."""
    try:
        op = next(flow)
        while True:
            op = flow.send(execute(op))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


# -- SQLite ------------------------------------------------------------------------

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format


def _sqlite_value(value: Any) -> Any:
    return value.strftime(_SQLITE_TIME) if isinstance(value, dt.datetime) else value


class SqliteRunner:
    """Runs a flow on the event loop's thread when the database's write lock
    is free (a claim's statements take a fraction of a millisecond: cheaper
    than a hop to a thread and back), else in a writer thread that waits
    for the lock (another process writing: an import, the admin CLI)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._inline: Optional[sqlite3.Connection] = None  # event loop thread only; never waits
        self._waiting: Optional[sqlite3.Connection] = None  # writer thread only
        self._queued = 0  # flows handed to the writer thread and not done yet
        self._checkpointer: Optional[asyncio.Task[None]] = None

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoints (they write and fsync the database file) run in the
        # writer thread (_checkpoint), never on the event loop.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _begin_waiting(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retrying every 0.2 ms up to the timeout. (SQLite's
        own busy handler sleeps 1 ms and more between tries: with several
        server processes sharing the file the lock would sit free.)"""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0002)

    def _checkpoint(self) -> None:
        conn = self._waiting_connection()
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def _checkpoint_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await loop.run_in_executor(self._thread, self._checkpoint)
            except sqlite3.Error:
                pass  # e.g. the database is unreachable: the next one tries again

    def _waiting_connection(self) -> sqlite3.Connection:
        if self._waiting is None:
            self._waiting = self._connect()
        return self._waiting

    @staticmethod
    def _drive(conn: sqlite3.Connection, flow: Flow) -> Outcome:
        """Run the flow in a transaction that already holds the write lock."""

        def execute(op: Op) -> Any:
            name = name_of(op)
            cursor = conn.execute(SQL[name], [_sqlite_value(v) for v in params(op)])
            kind = FETCH[name]
            row = cursor.fetchone() if kind != "none" else None
            if isinstance(op, InsertCard) and row is not None:
                execute(LogAttempt(op.attempt))
            return row[0] if kind == "value" else result(op, row, dt.datetime.fromisoformat)

        try:
            outcome = drive(flow, execute)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return outcome

    def _run_waiting(self, flow: Flow) -> Outcome:
        conn = self._waiting_connection()
        self._begin_waiting(conn)
        return self._drive(conn, flow)

    async def run(self, flow: Flow) -> Outcome:
        if self._checkpointer is None:
            self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_periodically())
        if not self._queued:  # keep order with flows already waiting in the thread
            if self._inline is None:
                self._inline = self._connect()
            try:
                self._inline.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            else:
                return self._drive(self._inline, flow)
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._run_waiting, flow)
        finally:
            self._queued -= 1

    def _close_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.close()
            self._waiting = None

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            self._checkpointer = None
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_waiting)
        self._thread.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None


# -- PostgreSQL --------------------------------------------------------------------


def _numbered(sql: str) -> str:
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


PG_SQL = {name: _numbered(sql) for name, sql in SQL.items()}
PG_CARD_INSERT_LOGGED_SQL = _numbered(PG_CARD_INSERT_LOGGED)


class PostgresRunner:
    def __init__(self, url: str, pool_size: int) -> None:
        self.url = make_url(url)
        self.pool_size = pool_size
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _get_pool(self) -> Any:
        """Opened on first use, so a database that is down at start-up does
        not keep the service from starting."""
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncpg

                    u = self.url
                    self._pool = await asyncpg.create_pool(
                        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database,
                        min_size=1, max_size=self.pool_size, timeout=5, command_timeout=30,
                        # Every statement of this pool is an index look-up. A generic plan
                        # made while the claim log was empty scanned the whole log forever
                        # after (bench/: 2-5 ms of PostgreSQL CPU a request), and planning
                        # each execution instead costs ~0.1 ms a statement. So: no
                        # sequential scans on these connections, each statement planned once.
                        server_settings={"enable_seqscan": "off", "plan_cache_mode": "force_generic_plan"},
                    )
        return self._pool

    @staticmethod
    async def _execute(conn: Any, op: Op) -> Any:
        name = name_of(op)
        kind = FETCH[name]
        args = params(op)
        if isinstance(op, InsertCard):
            row = await conn.fetchrow(PG_CARD_INSERT_LOGGED_SQL, *args, *params(LogAttempt(op.attempt)))
            return result(op, row, lambda t: t)
        if kind == "none":
            await conn.execute(PG_SQL[name], *args)
            return None
        if kind == "value":
            return await conn.fetchval(PG_SQL[name], *args)
        return result(op, await conn.fetchrow(PG_SQL[name], *args), lambda t: t)

    async def run(self, flow: Flow) -> Outcome:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            tx = None
            try:
                op = next(flow)
                while True:
                    if tx is None and isinstance(op, OPENS_TRANSACTION):
                        tx = conn.transaction()
                        await tx.start()
                    op = flow.send(await self._execute(conn, op))
            except StopIteration as stop:
                if tx is not None:
                    await tx.commit()
                return stop.value  # type: ignore[no-any-return]
            except BaseException:
                if tx is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await tx.rollback()
                raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_runner(database_url: str, pool_size: int) -> SqliteRunner | PostgresRunner:
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
