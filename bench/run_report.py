"""What bench/run_all.py records besides its figures: paths and command
lines as typed from the project root, the measured backend's commit and
sources, the machine, PostgreSQL's settings; and the Markdown table of the
results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.databases import PG_ADMIN_DB
from bench.dataset import ROOT


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def shell_line(env: dict[str, str], argv: list[str]) -> str:
    """The command as one would type it from the project root."""
    argv = ["python" if a == sys.executable else a for a in argv]
    return " ".join([f"{k}={shlex.quote(v)}" for k, v in env.items()] + [shlex.quote(a) for a in argv])


# -- facts -----------------------------------------------------------------------


def _run_text(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def backend_fingerprint() -> dict[str, Any]:
    """Which backend code was measured: the commit, and whether backend/ had
    uncommitted changes (with a hash of its files, to tell versions apart)."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "backend").rglob("*"), *(ROOT / "identity").rglob("*")]):
        if path.is_file() and path.suffix in (".py", ".yaml"):
            digest.update(rel(path).encode() + b"\0" + path.read_bytes())
    status = _run_text(["git", "status", "--porcelain", "--", "backend", "identity"])
    return {
        "commit": _run_text(["git", "log", "--oneline", "-1"]),
        "uncommitted_backend_changes": status.splitlines() if status else [],
        "backend_sha256": digest.hexdigest()[:16],  # backend/ and identity/ sources
    }


def machine_facts() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    versions = {}
    for dist in ("aiohttp", "SQLAlchemy", "asyncpg", "aiosqlite"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # noqa: BLE001
            versions[dist] = "?"
    return {
        "nproc": _run_text(["nproc"]) or str(os.cpu_count()),
        "cpu_model": cpu.group(1).strip() if cpu else "?",
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "libraries": versions,
    }


async def postgres_facts(pg_url: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(f"{pg_url}/{PG_ADMIN_DB}")
    try:
        facts = {"version": await conn.fetchval("SHOW server_version")}
        for name in ("shared_buffers", "synchronous_commit", "fsync", "autovacuum", "max_connections"):
            facts[name] = await conn.fetchval(f"SHOW {name}")
        return facts
    finally:
        await conn.close()


def markdown_table(results: dict[str, Any]) -> str:
    rows = [
        "| database | import students rows/s | import teachers rows/s | import wall (both files) | "
        "matches req/s (p50/p95/p99 ms) | claims req/s (p50/p95/p99 ms) | server peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results["databases"].items():
        if "error" in r:
            rows.append(f"| {kind} | failed: {r['error']} | | | | | |")
            continue
        t = r["import"].get("tables", {})
        wall = "reused" if r["import"].get("reused") else f"{r['import']['wall_seconds']:.0f} s"

        def phase(p: dict[str, Any]) -> str:
            lat = p["latency_ms"]
            bad = f", {p['unexpected']} unexpected" if p["unexpected"] else ""
            errs = f", {p['errors']} errors" if p["errors"] else ""
            return (
                f"{p['rps']:,.0f} ({lat.get('p50', 0):.0f}/{lat.get('p95', 0):.0f}/{lat.get('p99', 0):.0f}){bad}{errs}"
            )

        rows.append(
            f"| {kind} | {t.get('students', {}).get('rows_per_second', 0):,} | "
            f"{t.get('teachers', {}).get('rows_per_second', 0):,} | {wall} | "
            f"{phase(r['matches'])} | {phase(r['claims'])} | "
            f"{r['server_memory_kib'].get('VmHWM', 0) / 1024:.0f} MiB |"
        )
    return "\n".join(rows)
