"""The chat load generator in the three configurations of issue 5, with
the same steps: default profile (1 Rasa), scaled profile with 1 Rasa, scaled
profile with 2 Rasa instances. Each writes its own
bench/results/load-<profile>-<N>rasa.json; then one combined
bench/results/load-matrix.json and a Markdown table,
bench/results/load-matrix.md, ready for bench/README.md.

    .venv/bin/python -m bench.load.matrix [load options of python -m bench.load]
    .venv/bin/python -m bench.load --matrix [...]    # the same
"""

from __future__ import annotations

import argparse
import copy
import json
import traceback
from typing import Any

from bench.load.chat import now_iso
from bench.load.cli import RESULTS, command_line, git_commit, parser, run_one

CONFIGS = (("default", 1), ("scaled", 1), ("scaled", 2))


def run_matrix(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.url:
        raise SystemExit("--matrix starts its own stacks: no --url")
    started = now_iso()
    docs: list[dict[str, Any]] = []
    for profile, rasa in CONFIGS:
        one = copy.copy(args)
        one.out = None
        actions = 1 if profile == "default" else (args.action_instances or rasa)
        print(f"\n### {profile} profile, {rasa} Rasa, {actions} action server(s)", flush=True)
        try:
            docs.append(run_one(one, argv, profile, rasa, actions))
        except Exception as exc:  # noqa: BLE001 - one configuration failing does not lose the others' figures
            traceback.print_exc()
            docs.append(
                {
                    "profile": profile,
                    "rasa_instances": rasa,
                    "action_instances": actions,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
    combined = {
        "commit": git_commit(),
        "command": command_line(argv),
        "started_at": started,
        "finished_at": now_iso(),
        "configurations": docs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load-matrix.json").write_text(
        json.dumps(combined, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    table = markdown(combined)
    (RESULTS / "load-matrix.md").write_text(table, encoding="utf-8")
    print("\n" + table)
    print(f"written to {RESULTS / 'load-matrix.json'} and {RESULTS / 'load-matrix.md'}")
    return 0


def _label(doc: dict[str, Any]) -> str:
    return f"{doc['profile']}, {doc['rasa_instances']} Rasa" + (
        f" + {doc['action_instances']} actions" if doc["profile"] == "scaled" else ""
    )


def _ms(lat: dict[str, float]) -> str:
    return " / ".join(f"{lat[k]:,.0f}" if k in lat else "-" for k in ("p50", "p95", "p99", "max"))


def markdown(combined: dict[str, Any]) -> str:
    """The combined results as two Markdown tables: every step, then each configuration's summary."""
    docs = combined["configurations"]
    first = next((d for d in docs if "run" in d), None)
    lines = [f"Chat load, commit `{combined['commit']}`, {combined['started_at']}: `{combined['command']}`", ""]
    if first:
        o = first["run"]["options"]
        lines += [
            f"Open loop: conversations start at Poisson times; {100 * o['claim_ratio']:.0f} % complete "
            f"K-12 claims (7 messages), the rest a question and 谢谢 (2 messages), "
            f"{o['mean_turns_per_conversation']} messages a conversation; think time {o['think_time']:g} s "
            f"(±50 %); steps of {o['steps'][0][1]:g} s; a step passes with p95 < {o['p95_target_ms']:g} ms, "
            "no error, no failed claim.",
            "",
        ]
    lines += [
        "| configuration | offered msg/s | achieved msg/s | turns | p50 / p95 / p99 / max ms | errors "
        "| conversations done | cards issued | failed claims | pass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        if "run" not in doc:
            lines.append(f"| {_label(doc)} | | | | | **failed to run**: {doc.get('error', '')} | | | | |")
            continue
        for step in doc["run"]["steps"]:
            errors = str(step["errors"]) + (
                " (" + ", ".join(f"{k} {n}" for k, n in sorted(step["error_kinds"].items())) + ")"
                if step["error_kinds"]
                else ""
            )
            lines.append(
                f"| {_label(doc)} | {step['offered_rate']:g} | {step['achieved_rate']:.1f} | {step['turns']:,} "
                f"| {_ms(step['latency_ms'])} | {errors} | {step['completed']}/{step['conversations']}"
                + (f" (+{step['shed']} shed)" if step["shed"] else "")
                + f" | {step['cards_issued']} | {step['failed_claims']} | {'yes' if step['passed'] else '**no**'} |"
            )
    lines += [
        "",
        "| configuration | highest passing rate msg/s | errors (all turns) | failed claims (all) "
        "| cards lost / mismatched / duplicated | peak RSS MiB | CPU cores busy (machine) | start s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for doc in docs:
        if "run" not in doc:
            continue
        run, audit = doc["run"], doc.get("card_audit") or {}
        failed = run["total"]["failed_claims"] + ((run["warmup"] or {}).get("failed_claims") or 0)
        memory = ", ".join(f"{name} {m['peak_mib']:,.0f}" for name, m in (doc.get("memory") or {}).items())
        cpu = doc.get("cpu") or {}
        cores = ", ".join(f"{name} {m['cores']:.2f}" for name, m in (cpu.get("members") or {}).items())
        if cpu:
            cores += f" ({cpu['machine_busy_pct']:.0f} %)"
        best = run["highest_passing_rate"]
        lines.append(
            f"| {_label(doc)} | {'none' if best is None else f'{best:g}'} | {run['errors_including_warmup']} "
            f"| {failed} | {audit.get('lost', '-')} / {audit.get('mismatched', '-')} / {audit.get('duplicated', '-')} "
            f"| {memory} | {cores} | {doc.get('start_seconds', '-')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return run_matrix(parser("python -m bench.load.matrix").parse_args(argv), argv)


if __name__ == "__main__":
    raise SystemExit(main())
