"""Command line of the chat load generator (`python -m bench.load`).

    .venv/bin/python -m bench.load                                   # default profile, steps 20..60 msg/s
    .venv/bin/python -m bench.load --profile scaled --rasa-instances 2 --steps 20,30,40 --step-seconds 60
    .venv/bin/python -m bench.load --rate 10 --time-limit 30         # one step
    .venv/bin/python -m bench.load --url http://127.0.0.1:5005 --registry var/demo/students.csv \\
        --backend-db sqlite:///var/backend.db                        # a stack that is already running
    .venv/bin/python -m bench.load --matrix                          # default 1 Rasa, scaled 1 and 2 Rasa

By default it starts a stack of its own (bench/load/stack.py), warms it up,
runs the steps, takes the memory of every process and audits the cards,
then writes bench/results/load-<profile>-<N>rasa.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.load.audit import audit_run
from bench.load.chat import LoadOptions, Step, now_iso, parse_steps, run_chat_load
from bench.load.chat_report import ChatLoadResult, summary
from bench.load.conversation import mean_turns, registry_claimants
from bench.load.http import NotLoopback, check_loopback
from bench.load.stack import ROOT, CpuWatch, own_stack, stack_memory, students_needed
from bench.procstat import wait_idle

RESULTS = ROOT / "bench" / "results"
DEFAULT_STEPS = "20,30,40,50,60"
TARGET_RATE = 40.0  # messages/s one Rasa instance should sustain at p95 under the target


def parser(prog: str = "python -m bench.load") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    g = p.add_argument_group("load")
    g.add_argument("--steps", default=None, help=f"offered messages/s of each step (default {DEFAULT_STEPS})")
    g.add_argument("--step-seconds", type=float, default=60.0, help="duration of each step")
    g.add_argument("--rate", type=float, help="one step at this rate for --time-limit seconds (instead of --steps)")
    g.add_argument(
        "--time-limit",
        type=float,
        help="start no conversation after this many seconds (default: the steps' total; with --rate, 60)",
    )
    g.add_argument("--max-conversations", type=int, default=20_000, help="start at most this many conversations")
    g.add_argument("--claim-ratio", type=float, default=0.8, help="share of claim conversations (the rest: questions)")
    g.add_argument("--think-time", type=float, default=1.0, help="mean seconds between an answer and the next message")
    g.add_argument("--warmup", type=int, default=4, help="conversations before measuring (one at a time)")
    g.add_argument("--drain-timeout", type=float, default=120.0, help="wait this long for conversations in flight")
    g.add_argument("--request-timeout", type=float, default=60.0, help="a turn with no answer by then is an error")
    g.add_argument("--max-in-flight", type=int, default=400, help="conversations at once; more arrivals are shed")
    g.add_argument("--p95-target-ms", type=float, default=300.0, help="a step passes with p95 under this")
    g.add_argument("--all-steps", action="store_true", help="run every step, also after one missed the target")
    g.add_argument("--seed", type=int, default=1)
    s = p.add_argument_group("stack")
    s.add_argument("--profile", choices=("default", "scaled"), default="default")
    s.add_argument("--rasa-instances", type=int, default=1, help="scaled profile only")
    s.add_argument("--action-instances", type=int, help="scaled profile only (default: as many as Rasa instances)")
    s.add_argument("--students", type=int, help="demo registry size (default: enough people for the run, >= 5000)")
    s.add_argument(
        "--idle-threshold",
        type=float,
        default=0.3,
        help="before measuring, wait for the machine to be less busy than this share ...",
    )
    s.add_argument("--idle-max-wait", type=float, default=30.0, help="... for at most this many seconds")
    s.add_argument("--url", help="a running stack's Rasa address (loopback): no stack of its own")
    s.add_argument(
        "--registry", type=Path, help="with --url: students CSV to take claimants from (without it: questions only)"
    )
    s.add_argument("--backend-db", help="with --url: the backend's database URL, for the card audit")
    p.add_argument("--out", type=Path, help="JSON results (default bench/results/load-<profile>-<N>rasa.json)")
    p.add_argument(
        "--matrix",
        action="store_true",
        help="run default 1 Rasa, scaled 1 Rasa and scaled 2 Rasa (bench/load/matrix.py)",
    )
    return p


def load_options(args: argparse.Namespace) -> LoadOptions:
    if args.rate is not None:
        steps = [Step(args.rate, args.time_limit or 60.0)]
    else:
        steps = parse_steps(args.steps or DEFAULT_STEPS, args.step_seconds)
    options = LoadOptions(
        steps=steps,
        claim_ratio=args.claim_ratio,
        think_time=args.think_time,
        max_conversations=args.max_conversations,
        time_limit=args.time_limit,
        drain_timeout=args.drain_timeout,
        request_timeout=args.request_timeout,
        max_in_flight=args.max_in_flight,
        p95_target_ms=args.p95_target_ms,
        stop_on_fail=not args.all_steps,
        warmup=args.warmup,
        seed=args.seed,
    )
    options.check()
    return options


def git_commit() -> str:
    done = subprocess.run(["git", "log", "--oneline", "-1"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def command_line(argv: list[str] | None) -> str:
    module = "bench.load.matrix" if Path(sys.argv[0]).name == "matrix.py" else "bench.load"
    return f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)


def targets(result: ChatLoadResult, audit: dict[str, Any] | None, rasa: int | None) -> dict[str, Any]:
    """The issue's targets, as met (True), missed (False) or not measured (None)."""
    total_failed = result.total.failed_claims + (result.warmup.failed_claims if result.warmup else 0)
    out: dict[str, Any] = {
        "no_errors": result.errors == 0,
        "no_failed_claims": total_failed == 0,
        "no_lost_or_duplicated_card": None
        if audit is None
        else audit["lost"] == audit["mismatched"] == audit["duplicated"] == 0,
    }
    if rasa == 1:
        rate = result.highest_passing_rate
        out[f"one_rasa_{TARGET_RATE:g}_msg_s_p95_under_target"] = rate is not None and rate >= TARGET_RATE
    return out


def run_one(
    args: argparse.Namespace,
    argv: list[str] | None,
    profile: str,
    rasa: int,
    actions: int,
    out: Path | None = None,
) -> dict[str, Any]:
    """One run with a stack of its own (or against --url); writes and returns the JSON document."""
    options = load_options(args)
    doc: dict[str, Any] = {
        "commit": git_commit(),
        "command": command_line(argv),
        "started_at": now_iso(),
        "cpus": os.cpu_count(),
    }
    if args.url:
        url = args.url.rstrip("/") + "/webhooks/rest/webhook"
        check_loopback(url)
        people = registry_claimants(args.registry) if args.registry else []
        if not people:
            options.claim_ratio = 0.0
        doc.update({"profile": "external", "url": args.url})
        result = asyncio.run(run_chat_load(url, people, options))
        audit = audit_run(args.backend_db, result.conversations).as_dict() if args.backend_db else None
        doc.update({"run": result.as_dict(), "card_audit": audit, "targets": targets(result, audit, None)})
        path = out or args.out or RESULTS / "load-external.json"
    else:
        messages = sum(s.rate * s.seconds for s in options.steps)
        students = args.students or students_needed(
            messages, mean_turns(options.claim_ratio), options.claim_ratio, options.warmup
        )
        with own_stack(profile, rasa, actions, students) as (stack, registry, start_seconds):
            doc.update(
                {
                    "profile": profile,
                    "rasa_instances": rasa,
                    "action_instances": actions,
                    "registry_students": students,
                    "start_seconds": round(start_seconds, 1),
                }
            )
            print(f"stack ready in {start_seconds:.0f}s; Rasa at {stack.rasa_url}", flush=True)
            doc["idle_before"] = wait_idle(args.idle_threshold, args.idle_max_wait)
            url = f"{stack.rasa_url}/webhooks/rest/webhook"
            cpu = CpuWatch({name: proc.pid for name, proc in stack.procs.items()})
            cpu.start()
            result = asyncio.run(run_chat_load(url, registry_claimants(registry), options))
            doc["cpu"] = cpu.stop()
            doc["memory"] = stack_memory({name: proc.pid for name, proc in stack.procs.items()})
            audit = audit_run(stack.env["BACKEND_DATABASE_URL"], result.conversations).as_dict()
        doc.update({"run": result.as_dict(), "card_audit": audit, "targets": targets(result, audit, rasa)})
        path = out or args.out or RESULTS / f"load-{profile}-{rasa}rasa.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(report_text(doc, result))
    print(f"written to {path}")
    return doc


def report_text(doc: dict[str, Any], result: ChatLoadResult) -> str:
    head = f"{doc['profile']}" + (
        f", {doc['rasa_instances']} Rasa, {doc['action_instances']} action server(s)"
        if "rasa_instances" in doc
        else f" ({doc.get('url')})"
    )
    lines = [f"== {head}", summary(result)]
    if doc.get("memory"):
        lines.append(
            "memory (RSS / peak MiB, children included): "
            + "; ".join(f"{name} {m['rss_mib']:.0f}/{m['peak_mib']:.0f}" for name, m in doc["memory"].items())
        )
    if doc.get("cpu"):
        cpu = doc["cpu"]
        lines.append(
            f"CPU during the run ({cpu['seconds']:.0f}s, warm-up and drain included), cores busy: "
            + ", ".join(f"{name} {m['cores']:.2f}" for name, m in cpu["members"].items())
            + f"; the machine {cpu['machine_busy_pct']:.0f}% busy"
        )
    audit = doc.get("card_audit")
    if audit:
        lines.append(
            f"card audit: {audit['people']} people, {audit['told_success']} told success, "
            f"{audit['cards_found']} cards; lost {audit['lost']}, mismatched {audit['mismatched']}, "
            f"duplicated {audit['duplicated']}, silent {audit['silent']}"
            + (f"; e.g. {audit['examples'][:3]}" if audit["examples"] else "")
        )
    lines.append(
        "targets: "
        + ", ".join(f"{k} {'-' if v is None else ('met' if v else 'MISSED')}" for k, v in doc["targets"].items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.matrix:
        from bench.load.matrix import run_matrix

        return run_matrix(args, argv)
    if args.url is None and (args.registry or args.backend_db):
        print("error: --registry and --backend-db go with --url", file=sys.stderr)
        return 2
    try:
        load_options(args)
        if args.url:
            check_loopback(args.url)
        elif args.profile == "default" and (args.rasa_instances != 1 or (args.action_instances or 1) != 1):
            raise ValueError(
                "the default profile runs one Rasa server (in-memory lock store, SQLite) and one "
                "action server: use --profile scaled for more"
            )
    except (NotLoopback, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_one(args, argv, args.profile, args.rasa_instances, args.action_instances or args.rasa_instances)
    return 0
