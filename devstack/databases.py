"""The stack's databases and the files that hold personal data.

- var/ and the folders the services write to are made 0700, the SQLite
  databases (backend, tracker store) 0600 with their -wal and -shm before
  any service opens them (existing ones are tightened);
- the scaled profile's PostgreSQL databases (backend, tracker store) are
  created when missing and dropped by the tests and benchmarks; a new
  backend database gets the demo registry of var/demo/;
- the lock store's Redis must answer before the scaled profile starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from backend.private_files import PRIVATE_UMASK, private_dir, private_file, private_sqlite, sqlite_path
from devstack.paths import ROOT, VAR, VENV_PY

T = TypeVar("T")


def private_var(var: Path) -> None:
    """var/ and the folders the services write to, readable by their owner
    only; the development keys in var/secrets/ (made 0600 by trust/secrets.py)
    tightened if an older checkout left them wider."""
    for folder in (var, var / "rasa-home", var / "tmp"):
        private_dir(folder)
    keys = var / "secrets"
    if keys.is_dir():
        private_dir(keys)
        for key in keys.iterdir():
            if key.is_file():
                private_file(key)


def private_databases(env: dict[str, str]) -> list[Path]:
    """The SQLite databases of the backend and the tracker store, made (or
    tightened to) 0600 with their -wal and -shm before any service opens
    them (SQLite gives a database's -wal and -shm its own mode)."""
    urls = [env.get("BACKEND_DATABASE_URL") or f"sqlite:///{VAR / 'backend.db'}"]
    if env.get("TRACKER_DIALECT", "sqlite") == "sqlite":
        urls.append(f"sqlite:///{env['TRACKER_DB']}")
    made = []
    for url in urls:
        path = sqlite_path(url)
        if path is not None:
            made.append(private_sqlite(path))
    return made


def tracker_url(env: dict[str, str]) -> str:
    """SQLAlchemy URL of a server tracker store, as Rasa builds it from endpoints.yml."""
    user = env.get("TRACKER_USER", "")
    password = env.get("TRACKER_PASSWORD", "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"{env['TRACKER_DIALECT']}://{auth}{env['TRACKER_HOST']}:5432/{env['TRACKER_DB']}"


def scaled_databases(env: dict[str, str]) -> dict[str, SplitResult]:
    """The scaled profile's PostgreSQL databases (backend and tracker
    store), each with the URL of its server."""
    backend = urlsplit(env["BACKEND_DATABASE_URL"])
    found = {backend.path.lstrip("/"): backend}
    if env["TRACKER_DIALECT"].startswith("postgresql"):
        found.setdefault(env["TRACKER_DB"], urlsplit(tracker_url(env)))
    return found


@contextlib.asynccontextmanager
async def maintenance_connection(server: SplitResult) -> AsyncIterator[Any]:
    """A connection to the server's `postgres` database, for CREATE and DROP DATABASE."""
    import asyncpg

    try:
        conn = await asyncpg.connect(
            host=server.hostname,
            port=server.port or 5432,
            user=server.username,
            password=server.password,
            database="postgres",
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(
            f"ERROR: the scaled profile needs PostgreSQL at {server.hostname}:{server.port or 5432} ({exc})"
        ) from exc
    try:
        yield conn
    finally:
        await conn.close()


async def ensure_databases(env: dict[str, str]) -> list[str]:
    """Create the scaled profile's databases that do not exist yet; returns the names created."""
    created = []
    for name, server in scaled_databases(env).items():
        async with maintenance_connection(server) as conn:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


async def drop_databases(env: dict[str, str]) -> None:
    """Drop the scaled profile's databases (tests and benchmarks clean up with this)."""
    for name, server in scaled_databases(env).items():
        async with maintenance_connection(server) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, also when that
    code is itself called inside a running event loop (a fixture requested
    by an async test)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def check_redis(env: dict[str, str]) -> None:
    """The lock store's Redis answers (nothing to check for the in-memory one)."""
    if env["LOCK_STORE_TYPE"] == "in_memory":
        return
    host, port = env["LOCK_STORE_HOST"], int(env["LOCK_STORE_PORT"])
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        raise SystemExit(f"ERROR: the lock store needs Redis at {host}:{port} ({exc})") from exc


def seed_demo_registry(env: dict[str, str]) -> None:
    """The demo registry of var/demo/ (generated if missing) imported into the backend's database."""
    demo = VAR / "demo"
    if not (demo / "students.csv").exists():
        subprocess.run(
            [str(VENV_PY), "-m", "backend", "demo-registry", "--out", str(demo)],
            cwd=ROOT,
            env=env,
            check=True,
            umask=PRIVATE_UMASK,
        )
    subprocess.run(
        [
            str(VENV_PY),
            "-m",
            "backend",
            "import-registry",
            "--students",
            str(demo / "students.csv"),
            "--teachers",
            str(demo / "teachers.csv"),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        umask=PRIVATE_UMASK,
    )
