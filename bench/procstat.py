"""CPU and memory accounting from /proc (Linux): who used the cores during a
load phase - the backend server, the load generator, PostgreSQL."""

from __future__ import annotations

import os
import re
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of a process, in seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# "postgres: 15/main: USER DATABASE 127.0.0.1(40312) idle": a client backend.
_PG_CLIENT = re.compile(r"^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])")


def _postgres_cpu(database: str | None) -> dict[int, tuple[str, float]]:
    """CPU seconds of PostgreSQL processes, each classed as "bench" (a
    backend connected to `database`), "background" (checkpointer, WAL
    writer, ...) or "other" (a backend of another database)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not _comm(int(entry)).startswith("postgres"):
            continue
        pid = int(entry)
        cpu = _proc_cpu(pid)
        if cpu is None:
            continue
        m = _PG_CLIENT.match(_cmdline(pid))
        kind = "background" if m is None else ("bench" if m.group(1) == database else "other")
        out[pid] = (kind, cpu)
    return out


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts[:8]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (and theirs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _all_cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cpu = _proc_cpu(int(entry))
            if cpu:
                out[int(entry)] = (_comm(int(entry)), cpu)
    return out


@dataclass
class CpuSnapshot:
    server: float
    client: float
    postgres: dict[int, tuple[str, float]]
    busy: float
    total: float
    processes: dict[int, tuple[str, float]] | None = None


def snapshot(server_pid: int, database: str | None = None) -> CpuSnapshot:
    busy, total = _machine()
    return CpuSnapshot(_proc_cpu(server_pid) or 0.0, _self_cpu(), _postgres_cpu(database), busy, total)


class PostgresTracker:
    """Polls PostgreSQL processes so that the CPU of a backend that exits
    before the end of a phase (the import's connection) is still counted."""

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.seen: dict[int, tuple[str, float]] = {}

    def poll(self) -> dict[int, tuple[str, float]]:
        self.seen.update(_postgres_cpu(self.database))
        return dict(self.seen)


def snapshot_tracked(server_pid: int, tracker: PostgresTracker) -> CpuSnapshot:
    busy, total = _machine()
    return CpuSnapshot(_proc_cpu(server_pid) or 0.0, _self_cpu(), tracker.poll(), busy, total, _all_cpu())


def machine_busy(seconds: float = 2.0) -> float:
    """Share of the machine's CPU (0..1) that was busy over `seconds`."""
    b0, t0 = _machine()
    time.sleep(seconds)
    b1, t1 = _machine()
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def wait_idle(threshold: float, max_wait: float, log=print) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Wait (up to max_wait seconds) until the machine is less than
    `threshold` busy, so other work on a shared machine spoils no figure."""
    started = time.monotonic()
    while True:
        busy = machine_busy()
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            if waited > 3:
                log(f"  waited {waited:.0f}s for an idle machine; now {100 * busy:.0f}% busy")
            return {"busy_pct_before": round(100 * busy, 1), "waited_s": round(waited, 1)}
        time.sleep(3)


def cpu_delta(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> dict[str, float]:
    """CPU seconds used between two snapshots, and per request (ms)."""
    pg = {"bench": 0.0, "background": 0.0, "other": 0.0}
    for pid, (kind, cpu) in after.postgres.items():
        pg[kind] += cpu - before.postgres.get(pid, (kind, 0.0))[1]
    wall_cores = after.total - before.total  # CPU seconds available (all cores)
    d = {
        "server_cpu_s": after.server - before.server,
        "client_cpu_s": after.client - before.client,
        "postgres_cpu_s": pg["bench"] + pg["background"],  # ours: the bench database's backends + shared
        "postgres_other_db_cpu_s": pg["other"],
        "machine_busy_s": after.busy - before.busy,
        "machine_capacity_s": wall_cores,
    }
    d["other_cpu_s"] = d["machine_busy_s"] - d["server_cpu_s"] - d["client_cpu_s"] - d["postgres_cpu_s"]
    d["machine_busy_pct"] = 100 * d["machine_busy_s"] / wall_cores if wall_cores else 0.0
    if before.processes is not None and after.processes is not None:
        # The busiest processes outside the benchmark (seen at both ends).
        ours = set(after.postgres) | {os.getpid()}
        others = [
            (cpu - before.processes[pid][1], f"{comm}[{pid}]")
            for pid, (comm, cpu) in after.processes.items()
            if pid in before.processes and pid not in ours and cpu - before.processes[pid][1] >= 0.5
        ]
        d_top = {name: round(cpu, 1) for cpu, name in sorted(others, reverse=True)[:6]}
    else:
        d_top = None
    if requests:
        for key in ("server", "client", "postgres"):
            d[f"{key}_cpu_ms_per_request"] = 1000 * d[f"{key}_cpu_s"] / requests
    out: dict[str, Any] = {k: round(v, 3) for k, v in d.items()}
    if d_top is not None:
        out["busiest_processes"] = d_top  # includes the server; excludes the load generator and PostgreSQL
    return out


def memory(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a process, in KiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out
