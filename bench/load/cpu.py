"""CPU per message: what one chat message costs each process of the stack.

The load steps (bench/load/cli.py) say what rate passes; this says why: it
chats complete claims one at a time (no think time, so the machine is
otherwise idle) and divides each process's CPU seconds by the messages
sent. A Rasa server runs its Python on one event loop, so its CPU
milliseconds per message bound what one instance can sustain: 1000 / ms
messages/s at 100 % busy, and p95 < 300 ms with random arrivals needs it
well below that.

    .venv/bin/python -m bench.load.cpu                      # default profile, 40 claims (~1.5 min)
    .venv/bin/python -m bench.load.cpu --profile scaled --conversations 80
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from bench.load.conversation import ConversationRecord, TurnRecord, claim_turns, converse, registry_claimants
from bench.load.stack import CpuWatch, own_stack


async def _claims(
    url: str, people: Sequence[Any], concurrency: int, tag: str
) -> tuple[list[TurnRecord], list[ConversationRecord]]:
    records: list[TurnRecord] = []
    convs: list[ConversationRecord] = []
    clock = time.perf_counter
    rng = random.Random(7)
    queue = list(people)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def worker(w: int) -> None:
            while queue:
                person = queue.pop(0)
                sender = f"cpu-{tag}-{secrets.token_hex(4)}-{w}-{len(convs)}"
                conv = ConversationRecord(sender, "claim", clock(), person=person)
                convs.append(conv)
                await converse(http, url, conv, claim_turns(person), clock, records, 0.0, rng)

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return records, convs


def account(
    url: str, pids: dict[str, int], people: Sequence[Any], concurrency: int = 1, tag: str = "run"
) -> dict[str, Any]:
    """Chat a claim for each person (through the REST channel at `url`) and
    divide each process's CPU (`pids`: member name to pid, children
    included) by the messages sent."""
    cpu = CpuWatch(pids)
    cpu.start()
    records, convs = asyncio.run(_claims(url, people, concurrency, tag))
    used = cpu.stop()
    messages = len(records)
    failed = [c.last_text for c in convs if c.outcome not in ("issued", "existing")]
    latencies = sorted(r.latency * 1000 for r in records if r.error is None)
    return {
        "conversations": len(convs),
        "messages": messages,
        "errors": sum(1 for r in records if r.error),
        "failed_claims": len(failed),
        "failed_examples": failed[:3],
        "turn_ms_median": round(statistics.median(latencies), 1) if latencies else None,
        "cpu_ms_per_message": {
            name: round(1000 * m["cpu_s"] / messages, 1) if messages else None for name, m in used["members"].items()
        },
        "seconds": used["seconds"],
    }


def measure(profile: str, conversations: int, warmup: int, concurrency: int, rasa_instances: int = 1) -> dict[str, Any]:
    """Start a stack, warm it up, chat `conversations` claims and account the CPU."""
    students = max(5000, (conversations + warmup) * 2)
    with own_stack(profile, rasa_instances, rasa_instances, students) as (stack, registry, _):
        people = registry_claimants(registry, conversations + warmup)
        url = f"{stack.rasa_url}/webhooks/rest/webhook"
        asyncio.run(_claims(url, people[:warmup], 1, "warm"))
        pids = {name: proc.pid for name, proc in stack.procs.items()}
        out = account(url, pids, people[warmup:], concurrency)
    return {"profile": profile, "rasa_instances": rasa_instances, **out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load.cpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", choices=("default", "scaled"), default="default")
    p.add_argument("--rasa-instances", type=int, default=1)
    p.add_argument("--conversations", type=int, default=40, help="claims measured (7 messages each)")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=1, help="claims chatting at once")
    args = p.parse_args(argv)
    out = measure(args.profile, args.conversations, args.warmup, args.concurrency, args.rasa_instances)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if out["errors"] == 0 and out["failed_claims"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
