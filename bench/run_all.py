"""Run every benchmark: registry import, match-only look-ups and full claims
through the HTTP API, on SQLite and on PostgreSQL.

    python -m bench.run_all [--students N] [--databases sqlite,postgresql]
                            [--skip-generate] [--out bench/results/NAME.json]

Per database: a fresh database; `python -m backend init-db`; `python -m
backend import-registry` (its own rows/s figure is recorded); `python -m
backend serve` on a free loopback port; a short warm-up; match-only
look-ups (POST /api/v1/matches) for distinct enrolled K-12 students; full
claims (POST /api/v1/claims, path k12_student) for other distinct enrolled
K-12 students; the server's peak RSS; SIGINT. Results go to a JSON file and a
Markdown table on stdout. See bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import re
import secrets
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import aiohttp

from bench import procstat
from bench.dataset import DATA_DIR, ROOT, Person, ensure_dataset, label, sample_k12_students
from bench.load import LoadResult, run_load

RESULTS_DIR = ROOT / "bench" / "results"
PG_ADMIN_DB = "test"
PG_BENCH_DB = "xxh_bench"
IMPORT_LINE = re.compile(
    r"^(?P<table>students|teachers): (?P<rows>\d+) rows read, (?P<imported>\d+) imported, "
    r"(?P<bad>\d+) bad \((?P<rps>[\d,]+) rows/s\)$"
)


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


# -- databases -------------------------------------------------------------------


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


# -- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the backend exited with {proc.returncode} before it was healthy")
            try:
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return await resp.json()
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the backend did not become healthy")
            await asyncio.sleep(0.2)


def stop(proc: subprocess.Popen) -> Optional[int]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def claim_body(person: Person) -> dict[str, Any]:
    return {"path": "k12_student", "name": person.name, "id_number": person.id_number, "face_verification": False}


async def load_phase(
    name: str, url: str, people: list[Person], args: argparse.Namespace, token: str, pid: int, expect: tuple[int, ...]
) -> dict[str, Any]:
    idle = procstat.wait_idle(args.idle_threshold, args.idle_max_wait)
    tracker = procstat.PostgresTracker(PG_BENCH_DB if args.current_db == "postgresql" else None)
    before = procstat.snapshot_tracked(pid, tracker)

    async def poll() -> None:
        while True:
            await asyncio.sleep(2)
            tracker.poll()

    poller = asyncio.create_task(poll())
    try:
        result: LoadResult = await run_load(
            url, (claim_body(p) for p in people), name=name, token=token, concurrency=args.concurrency,
            max_requests=len(people), time_limit=args.time_limit, expect=expect,
            channel_user_per_request=args.channel_users == "request",
        )
    finally:
        poller.cancel()
    after = procstat.snapshot_tracked(pid, tracker)
    print("  " + result.summary(), flush=True)
    data = result.as_dict()
    data["idle_before"] = idle
    data["cpu"] = procstat.cpu_delta(before, after, result.requests)
    cpu = data["cpu"]
    print(
        f"  cpu: server {cpu['server_cpu_s']:.1f}s, load generator {cpu['client_cpu_s']:.1f}s, "
        f"postgres {cpu['postgres_cpu_s']:.1f}s, other processes {cpu['other_cpu_s']:.1f}s; "
        f"machine {cpu['machine_busy_pct']:.0f}% busy",
        flush=True,
    )
    return data


# -- one database ----------------------------------------------------------------


def run_import(kind: str, env: dict[str, str], ds: Any, args: argparse.Namespace, stem: str) -> dict[str, Any]:
    """`init-db` and `import-registry` into the (empty) database of `env`."""
    out: dict[str, Any] = {}
    log_dir = RESULTS_DIR
    full_env = {**os.environ, **env}
    # Schema and import.
    argv = [sys.executable, "-m", "backend", "init-db"]
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=full_env, check=True, capture_output=True)
    out["init_db"] = {"command": shell_line(env, argv), "seconds": round(time.perf_counter() - t0, 2)}
    argv = [sys.executable, "-m", "backend", "import-registry", "--students", rel(ds.students_csv),
            "--teachers", rel(ds.teachers_csv), "--no-progress"]
    print("$ " + shell_line(env, argv), flush=True)
    idle = procstat.wait_idle(args.idle_threshold, args.idle_max_wait)
    tracker = procstat.PostgresTracker(PG_BENCH_DB if kind == "postgresql" else None)
    before = procstat.snapshot_tracked(os.getpid(), tracker)
    children0 = procstat.children_cpu()
    t0 = time.perf_counter()
    with open(log_dir / f"{stem}-{kind}-import.out", "w+") as fout, open(log_dir / f"{stem}-{kind}-import.err", "w+") as ferr:
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=fout, stderr=ferr, text=True)
        while proc.poll() is None:
            time.sleep(0.5)
            tracker.poll()
        wall = time.perf_counter() - t0
        fout.seek(0)
        ferr.seek(0)
        proc_stdout, proc_stderr = fout.read(), ferr.read()
    import_cpu = procstat.cpu_delta(before, procstat.snapshot_tracked(os.getpid(), tracker), 0)
    import_cpu["import_cpu_s"] = round(procstat.children_cpu() - children0, 3)
    import_cpu["other_cpu_s"] = round(import_cpu["other_cpu_s"] - import_cpu["import_cpu_s"], 3)
    for key in ("server_cpu_s", "client_cpu_s"):
        import_cpu.pop(key, None)
    print(proc_stdout.strip(), flush=True)
    if proc.returncode != 0:
        print(proc_stderr[-4000:], file=sys.stderr)
        raise RuntimeError(f"import-registry failed with {proc.returncode}")
    tables = {}
    for line in proc_stdout.splitlines():
        m = IMPORT_LINE.match(line.strip())
        if m:
            tables[m["table"]] = {
                "rows": int(m["rows"]), "imported": int(m["imported"]), "bad": int(m["bad"]),
                "rows_per_second": int(m["rps"].replace(",", "")),
            }
    total_rows = sum(t["rows"] for t in tables.values())
    out["import"] = {
        "command": shell_line(env, argv),
        "output": proc_stdout.strip().splitlines(),
        "tables": tables,
        "wall_seconds": round(wall, 1),
        "rows_per_second_wall": round(total_rows / wall) if wall else 0,
        "idle_before": idle,
        "cpu": import_cpu,
    }
    return out


async def bench_database(
    kind: str, ds: Any, people: dict[str, list[Person]], args: argparse.Namespace, tag: str, stem: str
) -> dict[str, Any]:
    """One database: fresh, init-db, import, serve, load. `tag` names the
    database file, `stem` the log files."""
    out: dict[str, Any] = {"database": kind, "started": dt.datetime.now().isoformat(timespec="seconds")}
    out["backend"] = backend_fingerprint()
    args.current_db = kind
    if kind == "sqlite":
        db_path = DATA_DIR / f"{tag}.sqlite3"
        url = f"sqlite:///{rel(db_path)}"
        target: Any = db_path
    else:
        url = f"{args.pg_url}/{PG_BENCH_DB}"
        target = None
    env = {"BACKEND_DATABASE_URL": url}
    print(f"\n== {kind}: {url}", flush=True)
    if kind == "postgresql":
        await fresh_postgres(args.pg_url, keep=args.reuse_db)
    if args.reuse_db and await registry_loaded(kind, target, args.pg_url, ds):
        print("  reusing the imported registry; emptying cards, proxy claims and the claim log", flush=True)
        await clear_claims(kind, target, args.pg_url)
        out["import"] = {"reused": True}
    else:
        if kind == "sqlite":
            for p in sqlite_files(db_path):
                p.unlink(missing_ok=True)
        else:
            await fresh_postgres(args.pg_url)
        out.update(run_import(kind, env, ds, args, stem))
    if kind == "postgresql":
        out["pg_database_settings"] = await set_pg_database_settings(args.pg_url, args.pg_setting)
    out["after_import"] = await database_counts(kind, target, args.pg_url)
    if not out["import"].get("reused"):
        import_cpu = out["import"]["cpu"]
        print(
            f"  import wall time {out['import']['wall_seconds']:.1f}s; database "
            f"{out['after_import']['bytes'] / 2**30:.2f} GiB; cpu: import {import_cpu['import_cpu_s']:.0f}s, "
            f"postgres {import_cpu['postgres_cpu_s']:.0f}s, other processes {import_cpu['other_cpu_s']:.0f}s; "
            f"machine {import_cpu['machine_busy_pct']:.0f}% busy",
            flush=True,
        )

    # The server.
    port = free_port()
    token = secrets.token_urlsafe(24)
    serve_env = {**env, "BACKEND_SERVICE_TOKEN": "<random>", "BACKEND_RATE_LIMIT_FAILURES": "1000000000",
                 **dict(kv.split("=", 1) for kv in args.server_env)}
    argv = [sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.profile_server:
        prof = RESULTS_DIR / f"{stem}-{kind}-server.pstats"
        argv[1:1] = ["-m", "cProfile", "-o", str(prof)]
        out["profile"] = rel(prof)
    log_path = RESULTS_DIR / f"{stem}-{kind}-server.log"
    out["serve"] = {"command": shell_line(serve_env, argv), "log": rel(log_path)}
    print("$ " + shell_line(serve_env, argv), flush=True)
    run_env = {**os.environ, **serve_env, "BACKEND_SERVICE_TOKEN": token}
    with open(log_path, "w") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=run_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        out["serve"]["healthz"] = await wait_healthy(base, server)
        out["serve"]["start_seconds"] = round(time.perf_counter() - t0, 2)
        if people["warmup"]:
            await run_load(f"{base}/api/v1/matches", (claim_body(p) for p in people["warmup"]), name="warm-up",
                           token=token, concurrency=args.concurrency, max_requests=len(people["warmup"]),
                           time_limit=args.time_limit)
        out["matches"] = await load_phase(
            "matches", f"{base}/api/v1/matches", people["matches"], args, token, server.pid, expect=(200,)
        )
        out["claims"] = await load_phase(
            "claims", f"{base}/api/v1/claims", people["claims"], args, token, server.pid, expect=(201,)
        )
        out["server_memory_kib"] = procstat.memory(server.pid)
        print(f"  server peak RSS {out['server_memory_kib'].get('VmHWM', 0) / 1024:.0f} MiB", flush=True)
    finally:
        out["serve"]["exit_code"] = stop(server)
    out["after_load"] = await database_counts(kind, target, args.pg_url)
    issued = out["claims"]["outcomes"].get("201 issued", 0)
    out["cards_check"] = {
        "issued_answers": issued, "cards_in_db": out["after_load"]["cards"], "ok": issued == out["after_load"]["cards"]
    }
    if args.drop_after:
        if kind == "sqlite":
            for p in sqlite_files(db_path):
                p.unlink(missing_ok=True)
        else:
            await drop_postgres(args.pg_url)
        out["dropped_after"] = True
    out["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return out


# -- report ----------------------------------------------------------------------


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
            return f"{p['rps']:,.0f} ({lat.get('p50', 0):.0f}/{lat.get('p95', 0):.0f}/{lat.get('p99', 0):.0f}){bad}{errs}"

        rows.append(
            f"| {kind} | {t.get('students', {}).get('rows_per_second', 0):,} | "
            f"{t.get('teachers', {}).get('rows_per_second', 0):,} | {wall} | "
            f"{phase(r['matches'])} | {phase(r['claims'])} | "
            f"{r['server_memory_kib'].get('VmHWM', 0) / 1024:.0f} MiB |"
        )
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=10_000_000, help="registry size (default 10,000,000)")
    p.add_argument("--teachers", type=int, help="default: students / 20")
    p.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--skip-generate", action="store_true", help="use the registry in bench/data, never generate")
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/<size>-<time>.json)")
    p.add_argument("--concurrency", type=int, default=32, help="simulated clients (default 32)")
    p.add_argument("--match-requests", type=int, default=20_000, help="match-only look-ups (default 20,000)")
    p.add_argument("--claim-requests", type=int, default=20_000, help="claims (default 20,000)")
    p.add_argument("--warmup", type=int, default=500, help="match requests before measuring (default 500)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per load phase (default 60)")
    p.add_argument("--channel-users", choices=("client", "request"), default="client",
                   help="one channel_user per simulated client (default), or a new one for every request")
    p.add_argument("--seed", type=int, default=1, help="seed for sampling students")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server (without database); the bench database is dropped and created")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the server, e.g. BACKEND_DB_POOL_SIZE=20")
    p.add_argument("--profile-server", action="store_true", help="run the server under cProfile (slower!)")
    p.add_argument("--idle-threshold", type=float, default=0.25,
                   help="before the import and each load phase, wait until the machine is less busy than this")
    p.add_argument("--idle-max-wait", type=float, default=120.0, help="seconds to wait for that (default 120)")
    p.add_argument("--pg-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="ALTER DATABASE xxh_bench SET KEY = VALUE before serving, "
                        "e.g. plan_cache_mode=force_custom_plan")
    p.add_argument("--reuse-db", action="store_true",
                   help="keep an already imported bench database (emptying its cards and claim log) "
                        "instead of importing again: for re-measuring the API only")
    p.add_argument("--drop-after", action="store_true", help="delete the bench database afterwards")
    args = p.parse_args(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        p.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    for kv in args.server_env:
        if "=" not in kv:
            p.error(f"--server-env wants KEY=VALUE, not {kv!r}")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tag = label(args.students)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_path = args.out or RESULTS_DIR / f"{tag}-{stamp}.json"
    results: dict[str, Any] = {
        "command": "python -m bench.run_all " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "databases": {},
    }
    if "postgresql" in databases:
        results["postgresql"] = asyncio.run(postgres_facts(args.pg_url))
    print(json.dumps({"machine": results["machine"], "postgresql": results.get("postgresql")}, indent=1))

    ds = ensure_dataset(args.students, args.teachers, generate=not args.skip_generate)
    results["dataset"] = ds.as_dict()
    needed = args.warmup + args.match_requests + args.claim_requests
    t0 = time.perf_counter()
    sample = sample_k12_students(ds.students_csv, needed, seed=args.seed)
    print(f"sampled {len(sample)} distinct enrolled K-12 students in {time.perf_counter() - t0:.1f}s", flush=True)
    people = {
        "warmup": sample[: args.warmup],
        "matches": sample[args.warmup: args.warmup + args.match_requests],
        "claims": sample[args.warmup + args.match_requests:],
    }
    failed = False
    for kind in databases:
        try:
            results["databases"][kind] = asyncio.run(bench_database(kind, ds, people, args, tag, out_path.stem))
        except Exception as exc:  # noqa: BLE001 - record it, go on with the next database
            failed = True
            print(f"{kind} failed: {exc!r}", file=sys.stderr)
            results["databases"][kind] = {"error": repr(exc)}
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    out_path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nresults: {rel(out_path)}\n")
    print(markdown_table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
