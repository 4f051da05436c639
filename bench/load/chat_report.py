"""What a chat load run reports: the figures of each step (turns, latency,
errors, conversations, cards), the run's result, and its table as printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load.conversation import ConversationRecord, TurnRecord
from bench.load.http import percentile


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    """Milliseconds: mean, p50, p95, p99, max (empty when there is none)."""
    values = sorted(latencies)
    if not values:
        return {}
    return {
        "mean": round(1000 * sum(values) / len(values), 1),
        "p50": round(1000 * percentile(values, 50), 1),
        "p95": round(1000 * percentile(values, 95), 1),
        "p99": round(1000 * percentile(values, 99), 1),
        "max": round(1000 * values[-1], 1),
    }


@dataclass
class StepReport:
    name: str
    offered_rate: float | None  # messages/s; None for warm-up, drain and the total
    seconds: float
    achieved_rate: float  # answered turns completed in the window, per second
    turns: int  # sent in the window
    answered: int
    latency_ms: dict[str, float]
    errors: int
    error_kinds: dict[str, int]
    conversations: int  # started in the window
    completed: int
    claims: int
    cards_issued: int
    cards_existing: int
    failed_claims: int
    unfinished: int
    shed: int  # arrivals not started: too many conversations in flight
    passed: bool | None = None  # p95 under target, no error, no failed claim, nothing shed or unfinished

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_report(
    name: str,
    window: tuple[float, float],
    offered_rate: float | None,
    turns: Iterable[TurnRecord],
    conversations: Iterable[ConversationRecord],
    p95_target_ms: float | None = None,
    shed: int = 0,
) -> StepReport:
    """Figures of the turns sent and the conversations started in [start, end).
    With a target, `passed` says whether the step met it."""
    start, end = window
    seconds = max(end - start, 1e-9)
    mine = [t for t in turns if start <= t.sent < end]
    ok = [t for t in mine if t.error is None]
    done_in_window = sum(1 for t in turns if t.error is None and start <= t.sent + t.latency < end)
    kinds: dict[str, int] = {}
    for t in mine:
        if t.error is not None:
            kinds[t.error] = kinds.get(t.error, 0) + 1
    convs = [c for c in conversations if start <= c.started < end]
    claims = [c for c in convs if c.kind == "claim"]
    report = StepReport(
        name=name,
        offered_rate=offered_rate,
        seconds=round(end - start, 2),
        achieved_rate=round(done_in_window / seconds, 2),
        turns=len(mine),
        answered=len(ok),
        latency_ms=latency_summary([t.latency for t in ok]),
        errors=len(mine) - len(ok),
        error_kinds=kinds,
        conversations=len(convs),
        completed=sum(1 for c in convs if c.outcome not in ("running", "unfinished")),
        claims=len(claims),
        cards_issued=sum(1 for c in claims if c.outcome == "issued"),
        cards_existing=sum(1 for c in claims if c.outcome == "existing"),
        failed_claims=sum(1 for c in claims if c.failed_claim),
        unfinished=sum(1 for c in convs if c.outcome == "unfinished"),
        shed=shed,
    )
    if p95_target_ms is not None:
        report.passed = bool(
            report.answered
            and report.errors == 0
            and report.failed_claims == 0
            and report.shed == 0
            and report.unfinished == 0
            and report.latency_ms.get("p95", math.inf) < p95_target_ms
        )
    return report


@dataclass
class ChatLoadResult:
    url: str
    options: dict[str, Any]
    steps: list[StepReport]
    warmup: StepReport | None
    drain: StepReport | None
    total: StepReport
    seconds: float  # measured run, drain included
    stopped_after_step: int | None  # 1-based; a step failed and later steps were not run
    highest_passing_rate: float | None
    people_exhausted: int  # claims that became questions: the registry ran out
    failed_claim_examples: list[dict[str, Any]]
    # Not in the JSON (they hold ID numbers): what the card audit needs.
    conversations: list[ConversationRecord] = field(default_factory=list, repr=False)

    @property
    def errors(self) -> int:
        return self.total.errors + (self.warmup.errors if self.warmup else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "options": self.options,
            "seconds": self.seconds,
            "warmup": self.warmup.as_dict() if self.warmup else None,
            "steps": [s.as_dict() for s in self.steps],
            "drain": self.drain.as_dict() if self.drain else None,
            "total": self.total.as_dict(),
            "errors_including_warmup": self.errors,
            "stopped_after_step": self.stopped_after_step,
            "highest_passing_rate": self.highest_passing_rate,
            "people_exhausted": self.people_exhausted,
            "failed_claim_examples": self.failed_claim_examples,
        }


TABLE_HEAD = (
    "step",
    "offered/s",
    "achieved/s",
    "turns",
    "p50",
    "p95",
    "p99",
    "max ms",
    "errors",
    "convs done",
    "cards",
    "failed claims",
    "pass",
)


def table_rows(result: ChatLoadResult) -> list[list[str]]:
    rows = []
    for r in (
        ([result.warmup] if result.warmup else [])
        + result.steps
        + ([result.drain] if result.drain else [])
        + [result.total]
    ):
        lat = r.latency_ms
        errors = str(r.errors) + (
            f" ({', '.join(f'{k} {n}' for k, n in sorted(r.error_kinds.items()))})" if r.error_kinds else ""
        )
        rows.append(
            [
                r.name,
                f"{r.offered_rate:g}" if r.offered_rate is not None else "",
                f"{r.achieved_rate:.1f}",
                str(r.turns),
                *(f"{lat[k]:.0f}" if k in lat else "-" for k in ("p50", "p95", "p99", "max")),
                errors,
                f"{r.completed}/{r.conversations}" + (f" +{r.shed} shed" if r.shed else ""),
                f"{r.cards_issued}" + (f" (+{r.cards_existing} existing)" if r.cards_existing else ""),
                str(r.failed_claims),
                {True: "yes", False: "NO", None: ""}[r.passed],
            ]
        )
    return rows


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)) for line in [head, *rows]]
    return "\n".join(lines)


def summary(result: ChatLoadResult) -> str:
    out = [format_table(TABLE_HEAD, table_rows(result))]
    if result.highest_passing_rate is not None:
        out.append(
            f"highest passing rate: {result.highest_passing_rate:g} msg/s "
            f"(p95 < {result.options['p95_target_ms']:g} ms, no error, no failed claim)"
        )
    else:
        out.append("no step passed")
    if result.stopped_after_step:
        out.append(f"stopped after step {result.stopped_after_step} (it missed the target)")
    if result.people_exhausted:
        out.append(f"the registry ran out of people: {result.people_exhausted} claims became questions")
    for ex in result.failed_claim_examples[:5]:
        out.append(
            f"failed claim {ex['sender']} ({ex['person']}): {ex['outcome']}"
            + (f" [{ex['error']}]" if ex["error"] else "")
            + f" after {ex['turns_answered']} answers; "
            f"last bot text: {ex['last_bot_text']!r}"
        )
    return "\n".join(out)
