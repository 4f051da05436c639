"""The services a chat load run starts for itself, as bench/bot.py does:
a fresh demo registry, fresh databases, free loopback ports.

- default profile: backend on SQLite, one action server, one Rasa server
  (SQLite tracker store, in-memory lock store), all under
  bench/data/load/default-1rasa/;
- scaled profile: backend and tracker store on fresh PostgreSQL databases
  (xxh_bench_load, xxh_bench_load_tracker: dropped before and after), the
  lock store on Redis database 12 (flushed before and after), N Rasa and
  M action servers behind nginx.

Also the memory of every process of a stack, children included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import devstack
from bench.procstat import _machine, _proc_cpu, memory

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "load"
MODEL = ROOT / "models" / "xuexihao.tar.gz"
PG_DATABASE = "xxh_bench_load"
REDIS_DB = 12


def overrides(profile: str, rasa: int, actions: int, folder: Path, free_port: Callable[[], int]) -> dict[str, str]:
    """The stack's settings: free ports, databases of its own."""
    if profile not in ("default", "scaled"):
        raise ValueError(f"unknown profile {profile!r}")
    if profile == "default" and (rasa, actions) != (1, 1):
        raise ValueError(
            "the default profile is one Rasa server (in-memory lock store, SQLite) and one action "
            "server: use --profile scaled for more"
        )
    if rasa < 1 or actions < 1:
        raise ValueError("at least one Rasa and one action server")
    settings = {
        "BACKEND_PORT": str(free_port()),
        "ACTION_PORT": str(free_port()),
        "RASA_PORT": str(free_port()),
        "RASA_MODEL": str(MODEL),
        "BACKEND_SERVICE_TOKEN": os.urandom(12).hex(),
    }
    if profile == "default":
        settings.update(
            {
                "PROFILE": "default",
                "BACKEND_DATABASE_URL": f"sqlite:///{folder / 'backend.db'}",
                "TRACKER_DB": str(folder / "tracker.db"),
            }
        )
    else:
        settings.update(
            {
                "PROFILE": "scaled",
                "BACKEND_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}",
                "TRACKER_DB": f"{PG_DATABASE}_tracker",
                "LOCK_STORE_DB": str(REDIS_DB),
                "RASA_INSTANCES": str(rasa),
                "ACTION_INSTANCES": str(actions),
                "RASA_MEMBER_PORTS": ",".join(str(free_port()) for _ in range(rasa)),
                "ACTION_MEMBER_PORTS": ",".join(str(free_port()) for _ in range(actions)),
            }
        )
    return settings


def flush_redis(db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=5).flushdb()


def students_needed(messages: float, mean_turns: float, claim_ratio: float, warmup: int) -> int:
    """Registry size so that every claim of a run finds a person of its own
    (about 85 % of the demo registry's students are enrolled K-12)."""
    claims = messages / mean_turns * claim_ratio * 1.3 + warmup + 20
    return max(5000, int(claims / 0.8) + 1)


@contextlib.contextmanager
def own_stack(
    profile: str, rasa: int, actions: int, students: int, log: Callable[[str], None] = print
) -> Iterator[tuple[Any, Path, float]]:
    """(the running ServiceStack, its students CSV, seconds to start)."""
    if not MODEL.exists():
        raise SystemExit("no trained model: run `make train` first")
    folder = DATA / f"{profile}-{rasa}rasa"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "logs").mkdir(parents=True)
    log(f"demo registry: {students:,} students")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "demo-registry",
            "--students",
            str(students),
            "--teachers",
            str(max(100, students // 6)),
            "--out",
            str(folder),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    stack = devstack.ServiceStack(folder / "logs", overrides(profile, rasa, actions, folder, devstack.free_port))
    if stack.scaled:
        flush_redis(REDIS_DB)
        asyncio.run(devstack.drop_databases(stack.env))  # left over from a killed run
    try:
        stack.prepare()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "backend",
                "import-registry",
                "--students",
                str(folder / "students.csv"),
                "--teachers",
                str(folder / "teachers.csv"),
                "--no-progress",
            ],
            cwd=ROOT,
            env=stack.env,
            check=True,
            capture_output=True,
        )
        log(f"starting {', '.join(stack.members)} (logs in {folder / 'logs'})")
        started = time.perf_counter()
        stack.start_all()
        yield stack, folder / "students.csv", time.perf_counter() - started
    finally:
        stack.stop_all()
        if stack.scaled:
            asyncio.run(devstack.drop_databases(stack.env))
            flush_redis(REDIS_DB)


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """The process and its descendants."""
    children = _parents()
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(sorted(children.get(p, [])))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def stack_memory(pids: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per member: RSS and peak RSS (VmHWM) in MiB of its processes, children
    included; `rss_mib` and `peak_mib` are the sums over them (the peak sum
    is an upper bound of the peak of the whole)."""
    out: dict[str, dict[str, Any]] = {}
    for name, pid in pids.items():
        procs = []
        for p in process_tree(pid):
            m = memory(p)
            if m:
                procs.append(
                    {
                        "pid": p,
                        "comm": _comm(p),
                        "rss_mib": round(m.get("VmRSS", 0) / 1024, 1),
                        "peak_mib": round(m.get("VmHWM", 0) / 1024, 1),
                    }
                )
        out[name] = {
            "rss_mib": round(sum(p["rss_mib"] for p in procs), 1),
            "peak_mib": round(sum(p["peak_mib"] for p in procs), 1),
            "processes": procs,
        }
    return out


class CpuWatch:
    """CPU seconds of each member's processes (children included) and of the
    whole machine between `start()` and `stop()`: who was busy during a run."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[int, float] = {}
        self.machine: tuple[float, float] = (0.0, 0.0)
        self.t0 = 0.0

    def _all(self) -> dict[int, float]:
        return {p: _proc_cpu(p) or 0.0 for pid in self.pids.values() for p in process_tree(pid)}

    def start(self) -> None:
        self.before, self.machine, self.t0 = self._all(), _machine(), time.perf_counter()

    def stop(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.t0
        busy0, total0 = self.machine
        busy1, total1 = _machine()
        members = {}
        for name, pid in self.pids.items():
            used = sum((_proc_cpu(p) or 0.0) - self.before.get(p, 0.0) for p in process_tree(pid))
            members[name] = {"cpu_s": round(used, 1), "cores": round(used / seconds, 2) if seconds else 0.0}
        return {
            "seconds": round(seconds, 1),
            "members": members,
            "machine_busy_pct": round(100 * (busy1 - busy0) / (total1 - total0), 1) if total1 > total0 else 0.0,
        }
