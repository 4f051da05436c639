"""A Redis lock store that is atomic across Rasa instances.

Open-source Rasa's `RedisLockStore` (RasaHQ/rasa#9213) keeps each
conversation's ticket lock as one JSON value and changes it with a plain
GET, a change in Python, and a SET. Two Rasa instances handling messages of
the same conversation at the same moment both read the lock before either
writes it: both issue themselves the same ticket, both find it "now
serving", and the two messages are processed at once (interleaved events,
a form's answers in the wrong slots). The release has the same flaw: one
instance can write back a lock without the ticket another has just added.

`AtomicRedisLockStore` keeps Rasa's ticket algorithm (first come, first
served per conversation; tickets expire after the lock lifetime) and makes
every read-change-write of the lock one optimistic Redis transaction (WATCH
the key, MULTI/EXEC the write, retry when another instance changed it in
between). Use it in endpoints.yml:

    lock_store:
      type: bot.lock_store.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 1

A ticket is also a lease. Rasa gives each ticket a fixed lifetime
(TICKET_LOCK_LIFETIME, 60 s): when an instance crashes while it holds a
conversation's lock, the next message of that conversation waits out the
whole minute. Here a ticket lives LOCK_LEASE_SECONDS (10 s) and the instance
holding or waiting with it extends it every third of that, for at most
Rasa's lifetime: a crashed instance's ticket is gone within seconds, a
slow message keeps its lock (tests/e2e/test_faults.py kills an instance that
holds a lock; tests/bot/test_lock_store.py checks both sides).

tests/bot/test_lock_store.py proves the race with the stock store and its
absence with this one, with the same test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

logger = logging.getLogger(__name__)
LEASE_SECONDS = float(os.environ.get("LOCK_LEASE_SECONDS") or 10)

T = TypeVar("T")
Change = Callable[[TicketLock | None], tuple[TicketLock | None, T]]


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Any = None, lease_seconds: float | None = None, **kwargs: Any) -> None:
        """Made by Rasa from endpoints.yml (`endpoint_config`: url, port, db,
        password, key_prefix ...), or directly with RedisLockStore's arguments."""
        if endpoint_config is not None:
            kwargs = {**endpoint_config.kwargs, **kwargs}
            if endpoint_config.url:
                kwargs.setdefault("host", endpoint_config.url)
        self.lease_seconds = float(kwargs.pop("lease_seconds", None) or lease_seconds or LEASE_SECONDS)
        super().__init__(**kwargs)

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        """Rasa's lock, with the ticket held as a lease that this instance
        renews while it waits and while it works, up to `lock_lifetime`."""
        lease = min(self.lease_seconds, lock_lifetime)
        ticket = self.issue_ticket(conversation_id, lease)
        renewal = asyncio.ensure_future(self._renew(conversation_id, ticket, lease, time.time() + lock_lifetime))
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            renewal.cancel()
            try:
                await renewal
            except asyncio.CancelledError:
                pass
            self.cleanup(conversation_id, ticket)

    async def _renew(self, conversation_id: str, ticket: int, lease: float, until: float) -> None:
        def extend(lock: TicketLock | None) -> tuple[TicketLock | None, bool]:
            held = lock._ticket_for_ticket_number(ticket) if lock is not None else None
            if held is None:  # released, or expired after all
                return lock, False
            held.expires = min(time.time() + lease, until)
            return lock, True

        while time.time() < until:
            await asyncio.sleep(lease / 3)
            try:
                if not self._transact(conversation_id, extend):
                    return
            except Exception as e:  # noqa: BLE001 - Redis away for a moment: the next round tries again
                logger.debug(f"Could not renew the lock of a conversation: {e}")

    def _transact(self, conversation_id: str, change: Change[T]) -> T:
        """Apply `change` to the stored lock atomically: it gets the current
        lock (or None) and returns the lock to store (None: delete) and a
        result. Retried when another instance wrote the lock meanwhile."""
        import redis

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new, result = change(lock)
                    pipe.multi()
                    if new is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, new.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: TicketLock | None) -> tuple[TicketLock | None, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._transact(conversation_id, issue)
        except Exception as e:  # as in Rasa: any storage error is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._transact(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self.cleanup(conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove this ticket, and the lock when no one else waits: one step."""

        def release(lock: TicketLock | None) -> tuple[TicketLock | None, bool]:
            if lock is None:
                return None, False
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                return lock, False
            return None, True

        deleted = self._transact(conversation_id, release)
        if deleted:
            self._log_deletion(conversation_id, True)
