"""Runs claim flows (rules.py) on SQLite.

The whole flow runs with the stdlib driver in one `BEGIN IMMEDIATE`
transaction: on the event loop's thread when the write lock is free, else
in a writer thread that waits for it (SqliteRunner). Rows come back as
sqlite3.Row, read by column name (binding.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backend.claims.binding import STATEMENTS, WRITES_ONLY, parameters, result
from backend.claims.operations import Flow, InsertCard, LogAttempt, Op
from backend.claims.records import Outcome
from backend.sqlite import BUSY_TIMEOUT_MS, connect_sqlite

CHECKPOINT_SECONDS = 1.0
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _sqlite_values(params: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.strftime(_SQLITE_TIME) if isinstance(value, dt.datetime) else value
        for name, value in params.items()
    }


def drive(flow: Flow, execute: Callable[[Op], Any]) -> Outcome:
    """Run a flow synchronously, each operation through `execute`."""
    try:
        op = next(flow)
        while True:
            op = flow.send(execute(op))
    except StopIteration as stop:
        outcome: Outcome = stop.value
        return outcome


class SqliteRunner:
    """Runs a flow on the event loop's thread when the database's write lock
    is free (a claim's statements take a fraction of a millisecond: cheaper
    than a hop to a thread and back), else in a writer thread that waits
    for the lock (another process writing: an import, the admin CLI)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._inline: sqlite3.Connection | None = None  # event loop thread only; never waits
        self._waiting: sqlite3.Connection | None = None  # writer thread only
        self._queued = 0  # flows handed to the writer thread and not done yet
        self._checkpointer: asyncio.Task[None] | None = None

    def _connect(self) -> sqlite3.Connection:
        # Never in SQLite's busy handler (the event loop must not wait; the
        # writer thread retries itself, _begin_waiting). Checkpoints (they
        # write and fsync the database file) run in the writer thread
        # (_checkpoint), never on the event loop.
        conn = connect_sqlite(self.path, wait=False, autocheckpoint=False)
        conn.row_factory = sqlite3.Row  # rows read by column name
        return conn

    def _begin_waiting(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retrying every 0.2 ms up to the timeout. (SQLite's
        own busy handler sleeps 1 ms and more between tries: with several
        server processes sharing the file the lock would sit free.)"""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
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
            cursor = conn.execute(STATEMENTS[type(op)], _sqlite_values(parameters(op)))
            row = None if isinstance(op, WRITES_ONLY) else cursor.fetchone()
            if isinstance(op, InsertCard) and row is not None:
                execute(LogAttempt(op.attempt))  # the new card's log row, in the same transaction
            return result(op, row, dt.datetime.fromisoformat)

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
