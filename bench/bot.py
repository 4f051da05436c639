"""Benchmark of the dialogue assistant: turn latency over the REST channel
for complete claim conversations (1 user, then 20 concurrent users), the
memory of each process, and (with --train) the training time.

    .venv/bin/python -m bench.bot [--conversations 30] [--users 20] [--train]

Starts the backend, action server and Rasa server as `make run` does
(devstack/), on free loopback ports, with a fresh demo
registry (5,000 students) and fresh databases under bench/data/bot/.
Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

import devstack
from bench.load import check_loopback, percentile
from bench.procstat import memory

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "bot"
MODEL = ROOT / "models" / "xuexihao.tar.gz"


def k12_students(path: Path, count: int) -> list[tuple[str, str]]:
    found = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] == "enrolled" and row["stage"] != "university":
                found.append((row["name"], row["id_number"]))
                if len(found) == count:
                    break
    return found


def conversation(name: str, id_number: str) -> list[str]:
    """A complete K-12 claim, as typed and tapped."""
    return [
        "我要领卡",
        '/choose_role{"role": "k12_student"}',
        '/inform{"k12_claimant": "self"}',
        name,
        id_number,
        "不开通",
        "确认",
    ]


async def chat(http: aiohttp.ClientSession, url: str, sender: str, turns: list[str], latencies: list[float]) -> bool:
    issued = False
    for message in turns:
        started = time.perf_counter()
        async with http.post(url, json={"sender": sender, "message": message}) as resp:
            replies = await resp.json()
        latencies.append(time.perf_counter() - started)
        issued = issued or any("领卡成功" in (r.get("text") or "") for r in replies)
    return issued


async def phase(url: str, people: list[tuple[str, str]], users: int, tag: str) -> dict[str, Any]:
    latencies: list[float] = []
    queue = list(enumerate(people))
    issued = 0

    async def user(http: aiohttp.ClientSession) -> None:
        nonlocal issued
        while queue:
            i, (name, id_number) = queue.pop()
            ok = await chat(http, url, f"bench-{tag}-{i}", conversation(name, id_number), latencies)
            issued += ok  # not `issued += await ...`: that reads `issued` before awaiting

    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        await asyncio.gather(*[user(http) for _ in range(users)])
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "users": users,
        "conversations": len(people),
        "cards_issued": issued,
        "turns": len(latencies),
        "turns_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def train_time() -> float:
    """A full training from scratch (no cache), into a scratch folder."""
    out = DATA / "train"
    shutil.rmtree(out, ignore_errors=True)
    env = devstack.rasa_env(devstack.service_env())
    started = time.perf_counter()
    subprocess.run(
        [str(devstack.RASA), "train", "--force", "--out", str(out)], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=30, help="per phase")
    parser.add_argument("--users", type=int, default=20, help="concurrent users of the second phase")
    parser.add_argument("--train", action="store_true", help="also time a full training from scratch")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bot.json")
    args = parser.parse_args(argv)
    if not MODEL.exists():
        print("no trained model: run `make train` first", file=sys.stderr)
        return 2
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "demo-registry",
            "--students",
            "5000",
            "--teachers",
            "800",
            "--out",
            str(DATA),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = devstack.free_port
    stack = devstack.ServiceStack(
        DATA,
        {
            "BACKEND_PORT": str(port()),
            "ACTION_PORT": str(port()),
            "RASA_PORT": str(port()),
            "BACKEND_DATABASE_URL": f"sqlite:///{DATA / 'backend.db'}",
            "TRACKER_DB": str(DATA / "tracker.db"),
            "RASA_MODEL": str(MODEL),
        },
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "import-registry",
            "--students",
            str(DATA / "students.csv"),
            "--teachers",
            str(DATA / "teachers.csv"),
            "--no-progress",
        ],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
    )
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    check_loopback(url)
    people = k12_students(DATA / "students.csv", args.conversations * 2 + 5)
    results: dict[str, Any] = {
        "commit": subprocess.run(
            ["git", "log", "--oneline", "-1"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    }
    started = time.perf_counter()
    stack.start_all()
    results["start_seconds"] = round(time.perf_counter() - started, 1)
    try:
        asyncio.run(phase(url, people[:5], 1, "warmup"))
        results["one_user"] = asyncio.run(phase(url, people[5 : 5 + args.conversations], 1, "one"))
        results["concurrent_users"] = asyncio.run(
            phase(url, people[5 + args.conversations : 5 + 2 * args.conversations], args.users, "many")
        )
        results["memory_kib"] = {name: memory(proc.pid) for name, proc in stack.procs.items()}
    finally:
        stack.stop_all()
    if args.train:
        results["train_seconds_from_scratch"] = round(train_time(), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
