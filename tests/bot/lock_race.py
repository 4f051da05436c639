"""Two Rasa instances' lock stores, one conversation: do they serialise?

Run with the Rasa environment's Python (it imports Rasa):

    .venv-rasa/bin/python tests/bot/lock_race.py stock|atomic --rounds N

Two processes (two "Rasa instances"), each with its own lock store on the
same Redis, take the lock of the same conversation at the same moment
(a barrier), once per round, and inside it write "start" and, 20 ms later,
"end" to a Redis list. If the lock works, every round's list reads start,
end, start, end; two starts in a row mean both messages were being processed
at once. Prints one JSON line: rounds, overlapping rounds, lock errors.

    .venv-rasa/bin/python tests/bot/lock_race.py lease

checks AtomicRedisLockStore's leases (1 s here): a holder that keeps the
lock three times as long as its lease still has it to itself (the other
instance gets in only after it), and a holder that crashes while holding
the lock (os._exit: no release) frees it within about a lease, not after
Rasa's 60 s lifetime. Prints one JSON line.

Used by tests/bot/test_lock_store.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def make_store(kind: str, prefix: str, port: int, db: int) -> Any:
    if kind == "stock":
        from rasa.core.lock_store import RedisLockStore

        return RedisLockStore(host="127.0.0.1", port=port, db=db, key_prefix=prefix)
    # Made the way Rasa makes it from endpoints.yml.
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(
        url="127.0.0.1", type="bot.lock_store.AtomicRedisLockStore", port=port, db=db, key_prefix=prefix
    )
    store = LockStore.create(config)
    assert type(store).__name__ == "AtomicRedisLockStore", store
    return store


def instance(kind: str, prefix: str, port: int, db: int, rounds: int, barrier: Any, errors: Any) -> None:
    import redis
    from rasa.core.lock_store import LockError

    store = make_store(kind, prefix, port, db)
    log = redis.StrictRedis(host="127.0.0.1", port=port, db=db)
    me = str(os.getpid())

    async def one(r: int) -> None:
        async with store.lock(f"conv{r}", lock_lifetime=10, wait_time_in_seconds=0.005):
            log.rpush(f"{prefix}:log{r}", f"start-{me}")
            await asyncio.sleep(0.02)
            log.rpush(f"{prefix}:log{r}", f"end-{me}")

    async def main() -> None:
        for r in range(rounds):
            barrier.wait()
            try:
                await one(r)
            except LockError:
                with errors.get_lock():
                    errors.value += 1

    asyncio.run(main())


def run(kind: str, rounds: int, port: int = 6379, db: int = 15) -> dict[str, int]:
    import redis

    prefix = "race" + uuid.uuid4().hex[:8]
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    errors = ctx.Value("i", 0)
    procs = [ctx.Process(target=instance, args=(kind, prefix, port, db, rounds, barrier, errors)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        if p.exitcode != 0:
            raise SystemExit(f"an instance failed (exit code {p.exitcode})")
    red = redis.StrictRedis(host="127.0.0.1", port=port, db=db)
    overlaps = served = 0
    for r in range(rounds):
        entries = [e.decode().split("-")[0] for e in red.lrange(f"{prefix}:log{r}", 0, -1)]
        served += len(entries) // 2
        overlaps += entries != ["start", "end"] * (len(entries) // 2)
    for key in red.scan_iter(f"{prefix}*"):
        red.delete(key)
    return {"rounds": rounds, "messages_served": served, "overlapping_rounds": overlaps, "lock_errors": errors.value}


def holder(prefix: str, port: int, db: int, conversation: str, hold: float, crash: bool, taken: Any) -> None:
    import redis

    store = make_store("atomic", prefix, port, db)
    store.lease_seconds = 1.0
    log = redis.StrictRedis(host="127.0.0.1", port=port, db=db)

    async def main() -> None:
        async with store.lock(conversation, lock_lifetime=60, wait_time_in_seconds=0.05):
            log.rpush(f"{prefix}:log", "holder-start")
            taken.set()
            await asyncio.sleep(hold)
            if crash:
                os._exit(3)  # as a killed instance: the lock is never released
            log.rpush(f"{prefix}:log", "holder-end")

    asyncio.run(main())


def waiter_seconds(prefix: str, port: int, db: int, conversation: str) -> float:
    """How long the second instance waits for the lock (and it logs its turn)."""
    import time

    import redis

    store = make_store("atomic", prefix, port, db)
    store.lease_seconds = 1.0
    log = redis.StrictRedis(host="127.0.0.1", port=port, db=db)

    async def main() -> float:
        started = time.monotonic()
        async with store.lock(conversation, lock_lifetime=60, wait_time_in_seconds=0.05):
            waited = time.monotonic() - started
            log.rpush(f"{prefix}:log", "waiter")
        return waited

    return asyncio.run(main())


def lease(port: int = 6379, db: int = 15) -> dict[str, Any]:
    import redis

    red = redis.StrictRedis(host="127.0.0.1", port=port, db=db)
    ctx = mp.get_context("fork")
    result: dict[str, Any] = {}
    for case, hold, crash in (("slow_holder", 3.0, False), ("crashed_holder", 0.2, True)):
        prefix = "lease" + uuid.uuid4().hex[:8]
        taken = ctx.Event()
        proc = ctx.Process(target=holder, args=(prefix, port, db, "conv", hold, crash, taken))
        proc.start()
        assert taken.wait(30), "the holder never got the lock"
        waited = waiter_seconds(prefix, port, db, "conv")
        proc.join(timeout=30)
        order = [e.decode() for e in red.lrange(f"{prefix}:log", 0, -1)]
        result[case] = {
            "waited_s": round(waited, 2),
            "order": order,
            "holder_exit": proc.exitcode,
            "locks_left": sum(1 for _ in red.scan_iter(f"{prefix}*")) - 1,
        }
        for key in red.scan_iter(f"{prefix}*"):
            red.delete(key)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("stock", "atomic", "lease"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--port", type=int, default=6379)
    args = parser.parse_args()
    print(json.dumps(lease(args.port) if args.kind == "lease" else run(args.kind, args.rounds, args.port)))
