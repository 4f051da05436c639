"""Runs claim flows (rules.py) on PostgreSQL.

An asyncpg pool; each operation is one prepared-statement round trip.
Statements run in autocommit until a flow makes a write that a later write
must accompany (a proxy slot, which the card follows; a card update, which
its log row follows): from there on, one transaction. Each statement is
atomic by itself, and under READ COMMITTED a transaction around the reads
would see nothing more consistent, so a K-12 claim costs two round trips
(look-up; card and its log row in one statement) instead of six.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from typing import Any

from sqlalchemy.engine import make_url

from backend.claims import statements
from backend.claims.binding import STATEMENTS, WRITES_ONLY, attempt_parameters, parameters, result
from backend.claims.operations import OPENS_TRANSACTION, Flow, InsertCard, Op
from backend.claims.records import Outcome

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def numbered(sql: str) -> tuple[str, list[str]]:
    """A statement with named parameters (`:name`) as asyncpg takes it
    (`$1`, ...; a name used twice is one number), and the names in number order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED.sub(number, sql), names


NUMBERED = {op: numbered(sql) for op, sql in STATEMENTS.items()}
INSERT_CARD_LOGGED = numbered(statements.INSERT_CARD_LOGGED)


def _as_is(value: dt.datetime) -> dt.datetime:
    """asyncpg returns times as datetimes already."""
    return value


class PostgresRunner:
    """Runs flows on a pool of asyncpg connections, one round trip an operation."""

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
                        host=u.host,
                        port=u.port,
                        user=u.username,
                        password=u.password,
                        database=u.database,
                        min_size=1,
                        max_size=self.pool_size,
                        timeout=5,
                        command_timeout=30,
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
        if isinstance(op, InsertCard):  # the card and its log row in one statement
            text, names = INSERT_CARD_LOGGED
            values = {**parameters(op), **attempt_parameters(op.attempt)}
        else:
            text, names = NUMBERED[type(op)]
            values = parameters(op)
        args = [values[name] for name in names]
        if isinstance(op, WRITES_ONLY):
            await conn.execute(text, *args)
            return None
        return result(op, await conn.fetchrow(text, *args), _as_is)

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
                outcome: Outcome = stop.value
                return outcome
            except BaseException:
                if tx is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await tx.rollback()
                raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
