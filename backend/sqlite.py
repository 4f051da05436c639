"""How every connection to an SQLite database of the backend is set up.

Three drivers open the backend's database: SQLAlchemy's engines (backend/db.py,
through aiosqlite), the claim runner's stdlib connections
(backend/claims/sqlite_runner.py) and the registry import's ADBC connections
(backend/registry/). Each runs `setup_sqlite` with its own way of executing
a statement, so they all agree on the journal, the durability and how long
a writer waits for the lock. Standard library only: the import's worker
processes use it too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

# How long a connection waits for another one's write lock before "database
# is locked". The claim runner waits as long with a retry loop of its own
# (sqlite_runner.py), its connections never in SQLite's busy handler.
BUSY_TIMEOUT_MS = 30_000


def sqlite_pragmas(
    *, wait: bool = True, autocheckpoint: bool = True, cache_mib: int | None = None, scratch: bool = False
) -> list[str]:
    """The PRAGMAs of a new connection.

    - `wait`: wait up to BUSY_TIMEOUT_MS for the write lock (else fail at once);
    - `autocheckpoint`: False when the owner checkpoints the WAL itself;
    - `cache_mib`: a page cache this large instead of SQLite's 2 MiB;
    - `scratch`: a throw-away file only its process reads (an import worker's
      staging table): no journal, no fsync.
    """
    if scratch:
        return ["journal_mode=OFF", "synchronous=OFF"]
    # The busy timeout first: setting WAL may itself wait for a lock.
    pragmas = [
        f"busy_timeout={BUSY_TIMEOUT_MS if wait else 0}",
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ]
    if not autocheckpoint:
        pragmas.append("wal_autocheckpoint=0")
    if cache_mib is not None:
        pragmas.append(f"cache_size=-{cache_mib * 1024}")
    return pragmas


def setup_sqlite(
    execute: Callable[[str], object],
    *,
    wait: bool = True,
    autocheckpoint: bool = True,
    cache_mib: int | None = None,
    scratch: bool = False,
) -> None:
    """Set up a new connection, given the driver's way to run a statement."""
    for pragma in sqlite_pragmas(wait=wait, autocheckpoint=autocheckpoint, cache_mib=cache_mib, scratch=scratch):
        execute("PRAGMA " + pragma)


def connect_sqlite(path: str, *, wait: bool = True, autocheckpoint: bool = True) -> sqlite3.Connection:
    """A stdlib connection in autocommit mode (the caller emits BEGIN),
    usable from any thread (one at a time), set up by `setup_sqlite`."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    setup_sqlite(conn.execute, wait=wait, autocheckpoint=autocheckpoint)
    return conn
