"""bot.tracker_store.CachedSQLTrackerStore keeps the database what stock
Rasa 3.6 reads, and hands out from memory only what stock Rasa would load.

tests/bot/tracker_store_check.py (run with the Rasa environment's Python) drives
the store with conversations of real events on the real domain, on a real
SQLite file and on a fresh real PostgreSQL database made for the test, and
after every save compares the `events` table (each event once, in order)
and a stock `SQLTrackerStore`'s retrieve with what the store hands out:

- save_retrieve_hit: the tracker saved at a message is the object handed
  out at the next one (a cache hit), and its new events are stored once;
- first_message: after a conversation's first message (created by
  get_or_create_tracker, session started, saved) the next retrieve holds
  what stock Rasa loads, and the next save adds just the new events;
- other_instance_write: a second store (another Rasa instance) writes to
  the conversation: the first one's next retrieve is a miss, with its events;
- unsaved_not_reused: a tracker changed by a message that failed before its
  save (also a just-created one) is not handed out again;
- concurrent_read: two retrieves before a save get two objects; saving
  either (also after a first message) stores each event once;
- session_restart: a tracker spanning two sessions is stored whole and not
  served from memory; the next retrieve is the latest session, as stock;
- cache_size: 0 turns the cache off (every retrieve a miss); 2 keeps the
  two most recently saved conversations of three;
- composite_index: the (sender_id, id) index exists; unknown_sender: None;
- no_full_id_stored: a typed ID number (text, entity), the sealed slot and
  a bot message repeating the number are stored masked, and the tracker
  handed out next is still what stock Rasa loads;
- sqlite_wal (SQLite only): the file is in WAL mode, synchronous=NORMAL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, pg_admin, postgres_reachable
from tests.rasa_cli import RASA_PY, ROOT, rasa_env

pytestmark = pytest.mark.rasa

CHECKS = [
    "save_retrieve_hit",
    "first_message",
    "other_instance_write",
    "unsaved_not_reused",
    "concurrent_read",
    "session_restart",
    "cache_size",
    "composite_index",
    "unknown_sender",
    "no_full_id_stored",
]
EXPECTED = {"sqlite": CHECKS + ["sqlite_wal"], "postgresql": CHECKS}


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(backend, target): an SQLite file path, or a PostgreSQL database
    created empty for the test and dropped after it."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "tracker.db")
        return
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable in CI")
        pytest.skip("PostgreSQL not reachable")
    name = f"xxh_trackerstore_{os.getpid()}"
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield "postgresql", name
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_cached_tracker_store_stores_and_serves_what_stock_rasa_loads(
    tracker_db: tuple[str, str], tmp_path: Path
) -> None:
    backend, target = tracker_db
    out = subprocess.run(
        [
            str(RASA_PY),
            "tests/bot/tracker_store_check.py",
            backend,
            target,
            "--host",
            PG_HOST,
            "--port",
            str(PG_PORT),
            "--keep-going",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=rasa_env(tmp_path),
    )
    failures = "\n".join(line for line in out.stderr.splitlines() if line.startswith("FAILED"))
    lines = out.stdout.strip().splitlines()
    assert lines, f"no result (exit code {out.returncode}):\n{out.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result == {"backend": backend, "checks_passed": EXPECTED[backend], "checks_failed": []}, failures
    assert out.returncode == 0, out.stderr[-3000:]
