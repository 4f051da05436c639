"""The benchmark's databases (bench/run_all.py): the PostgreSQL bench
database created, dropped and tuned, the SQLite file and its companions,
row counts and sizes, and the claim tables emptied for a re-run.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

PG_ADMIN_DB = "test"
PG_BENCH_DB = "xxh_bench"


async def fresh_postgres(pg_url: str, keep: bool = False) -> None:
    """Drop and create the bench database (with `keep`: create it if missing)."""
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_ADMIN_DB}")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_BENCH_DB)
        if exists and keep:
            return
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    finally:
        await conn.close()


async def set_pg_database_settings(pg_url: str, settings: list[str]) -> dict[str, str]:
    """ALTER DATABASE xxh_bench SET k = v for each "k=v" (the server's new
    connections pick them up); RESET ALL first, so a reused database keeps
    nothing from an earlier run."""
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_ADMIN_DB}")
    try:
        await conn.execute(f"ALTER DATABASE {PG_BENCH_DB} RESET ALL")
        out = {}
        for kv in settings:
            key, _, value = kv.partition("=")
            if not re.fullmatch(r"[a-z_.]+", key) or not re.fullmatch(r"[A-Za-z0-9_.]+", value):
                raise ValueError(f"unexpected setting {kv!r}")
            await conn.execute(f"ALTER DATABASE {PG_BENCH_DB} SET {key} = '{value}'")
            out[key] = value
        return out
    finally:
        await conn.close()


async def drop_postgres(pg_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_ADMIN_DB}")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
    finally:
        await conn.close()


def sqlite_files(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")]


async def database_counts(kind: str, target: Any, pg_url: str) -> dict[str, int]:
    tables = ("students", "teachers", "cards", "claim_attempts")
    if kind == "sqlite":
        with sqlite3.connect(target) as conn:
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        counts["bytes"] = sum(p.stat().st_size for p in sqlite_files(target) if p.exists())
        return counts
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_BENCH_DB}")
    try:
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        counts["bytes"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        return counts
    finally:
        await conn.close()


async def registry_loaded(kind: str, target: Any, pg_url: str, ds: Any) -> bool:
    """Does the bench database already hold this registry (for --reuse-db)?"""
    try:
        if kind == "sqlite" and not Path(target).is_file():
            return False
        counts = await database_counts(kind, target, pg_url)
    except Exception:  # noqa: BLE001 - no database, no tables: not loaded
        return False
    return counts["students"] == ds.students and counts["teachers"] == ds.teachers


async def clear_claims(kind: str, target: Any, pg_url: str) -> None:
    """Empty what the load phases write, so claims are issued afresh."""
    tables = ("cards", "proxy_claims", "claim_attempts")
    if kind == "sqlite":
        with sqlite3.connect(target) as conn:
            for t in tables:
                conn.execute(f"DELETE FROM {t}")
        return
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_BENCH_DB}")
    try:
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
    finally:
        await conn.close()
