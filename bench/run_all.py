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

The bench databases are made and measured by bench/databases.py; the
machine and code facts and the Markdown table come from bench/run_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import procstat
from bench.databases import (
    PG_BENCH_DB,
    clear_claims,
    database_counts,
    drop_postgres,
    fresh_postgres,
    registry_loaded,
    set_pg_database_settings,
    sqlite_files,
)
from bench.dataset import DATA_DIR, ROOT, Person, ensure_dataset, label, sample_k12_students
from bench.load import LoadResult, run_load
from bench.run_report import backend_fingerprint, machine_facts, markdown_table, postgres_facts, rel, shell_line

RESULTS_DIR = ROOT / "bench" / "results"
IMPORT_LINE = re.compile(
    r"^(?P<table>students|teachers): (?P<rows>\d+) rows read, (?P<imported>\d+) imported, "
    r"(?P<bad>\d+) bad \((?P<rps>[\d,]+) rows/s\)$"
)


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


def stop(proc: subprocess.Popen) -> int | None:
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
            url,
            (claim_body(p) for p in people),
            name=name,
            token=token,
            concurrency=args.concurrency,
            max_requests=len(people),
            time_limit=args.time_limit,
            expect=expect,
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
    argv = [
        sys.executable,
        "-m",
        "backend",
        "import-registry",
        "--students",
        rel(ds.students_csv),
        "--teachers",
        rel(ds.teachers_csv),
        "--no-progress",
    ]
    print("$ " + shell_line(env, argv), flush=True)
    idle = procstat.wait_idle(args.idle_threshold, args.idle_max_wait)
    tracker = procstat.PostgresTracker(PG_BENCH_DB if kind == "postgresql" else None)
    before = procstat.snapshot_tracked(os.getpid(), tracker)
    children0 = procstat.children_cpu()
    t0 = time.perf_counter()
    with (
        open(log_dir / f"{stem}-{kind}-import.out", "w+") as fout,
        open(log_dir / f"{stem}-{kind}-import.err", "w+") as ferr,
    ):
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
                "rows": int(m["rows"]),
                "imported": int(m["imported"]),
                "bad": int(m["bad"]),
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
    serve_env = {
        **env,
        "BACKEND_SERVICE_TOKEN": "<random>",
        "BACKEND_RATE_LIMIT_FAILURES": "1000000000",
        **dict(kv.split("=", 1) for kv in args.server_env),
    }
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
            await run_load(
                f"{base}/api/v1/matches",
                (claim_body(p) for p in people["warmup"]),
                name="warm-up",
                token=token,
                concurrency=args.concurrency,
                max_requests=len(people["warmup"]),
                time_limit=args.time_limit,
            )
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
        "issued_answers": issued,
        "cards_in_db": out["after_load"]["cards"],
        "ok": issued == out["after_load"]["cards"],
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


def main(argv: list[str] | None = None) -> int:
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
    p.add_argument(
        "--channel-users",
        choices=("client", "request"),
        default="client",
        help="one channel_user per simulated client (default), or a new one for every request",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for sampling students")
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (without database); the bench database is dropped and created",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server, e.g. BACKEND_DB_POOL_SIZE=20",
    )
    p.add_argument("--profile-server", action="store_true", help="run the server under cProfile (slower!)")
    p.add_argument(
        "--idle-threshold",
        type=float,
        default=0.25,
        help="before the import and each load phase, wait until the machine is less busy than this",
    )
    p.add_argument("--idle-max-wait", type=float, default=120.0, help="seconds to wait for that (default 120)")
    p.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ALTER DATABASE xxh_bench SET KEY = VALUE before serving, e.g. plan_cache_mode=force_custom_plan",
    )
    p.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep an already imported bench database (emptying its cards and claim log) "
        "instead of importing again: for re-measuring the API only",
    )
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
        "matches": sample[args.warmup : args.warmup + args.match_requests],
        "claims": sample[args.warmup + args.match_requests :],
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
