"""Chat load generator: simulated claimants talking to the dialogue assistant
over Rasa's REST channel, loopback only.

Each simulated claimant is a coroutine with its own sender id that chats one
whole conversation: mostly a complete K-12 self claim (a person of the
registry, each used at most once per run, so every claim should issue a new
card), otherwise a troubleshooting question followed by "谢谢".
Conversations start at Poisson arrival times (open loop): for an offered
rate of R messages/s, conversations start at R / (mean turns a
conversation) a second, whatever the answers' speed. A run is a list of
steps (offered rate, seconds), bounded by a number of conversations and a
time limit; conversations in flight at the end finish, within a drain
timeout.

A turn is an error when no HTTP 200 answer came (transport error, timeout,
another status such as the load balancer's 503) or the answer is not a
non-empty JSON list of messages. A claim conversation that ends without
"领卡成功" or "已经领取" is a failed claim.

The command line (`python -m bench.load`) is in bench/load/cli.py; this
module holds the generator and its reports.
"""
from __future__ import annotations

import asyncio
import csv
import json
import math
import random
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import aiohttp

from bench.load.http import check_loopback, percentile
from identity.masking import mask_id, mask_name

QUESTIONS = ("领卡失败怎么办", "在哪里查看电子卡", "孩子的卡领不了", "认证成功了但是没有卡")
THANKS = "谢谢"
ISSUED, EXISTING = "领卡成功", "已经领取"
CARD_NUMBER = re.compile(r"学习号：\s*(\d{12})")
FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
CLAIM_TURNS = 7
QUESTION_TURNS = 2
# Outcomes of a conversation. "running" only while the run lasts: a
# conversation still running when the drain timeout ends is "unfinished".
SUCCESS = frozenset({"issued", "existing"})


@dataclass(frozen=True)
class Claimant:
    name: str
    id_number: str

    @property
    def masked(self) -> str:
        return f"{mask_name(self.name)} {mask_id(self.id_number)}"


def claim_turns(person: Claimant) -> list[str]:
    """A complete K-12 self claim, typed (people type the buttons' titles
    and their own words rather than tap: issue 12)."""
    return ["我要领卡", "中小学生", "我是学生本人", person.name, person.id_number, "不开通", "确认"]


def question_turns(question: str) -> list[str]:
    return [question, THANKS]


def mean_turns(claim_ratio: float) -> float:
    """Messages a conversation sends on average, for a share of claims."""
    return claim_ratio * CLAIM_TURNS + (1 - claim_ratio) * QUESTION_TURNS


def registry_claimants(path: Path, limit: Optional[int] = None) -> list[Claimant]:
    """Enrolled, non-university students of a registry CSV, in file order."""
    found: list[Claimant] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] == "enrolled" and row["stage"] != "university":
                found.append(Claimant(row["name"], row["id_number"]))
                if limit is not None and len(found) >= limit:
                    break
    return found


def mask_text(text: str, person: Optional[Claimant] = None, limit: int = 200) -> str:
    """A bot answer fit for a report: full ID numbers and the person's name masked."""
    text = FULL_ID.sub(lambda m: mask_id(m.group(0)), text)
    if person is not None and person.name:
        text = text.replace(person.name, mask_name(person.name))
    text = text.replace("\n", " / ")
    return text if len(text) <= limit else text[:limit] + "…"


# -- arrivals ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    rate: float  # offered messages/s
    seconds: float


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the start of the measured run
    step: int


def parse_steps(text: str, seconds: float) -> list[Step]:
    """"20,30,40" -> three steps of `seconds` each."""
    rates = [float(part) for part in text.split(",") if part.strip()]
    if not rates or any(r <= 0 for r in rates) or seconds <= 0:
        raise ValueError("steps need positive rates and a positive duration")
    return [Step(r, seconds) for r in rates]


def step_windows(steps: Sequence[Step], time_limit: float) -> list[tuple[float, float]]:
    """[start, end) of each step that starts before the time limit (the last
    one cut at the limit)."""
    windows = []
    start = 0.0
    for step in steps:
        if start >= time_limit:
            break
        end = min(start + step.seconds, time_limit)
        windows.append((start, end))
        start = end
    return windows


def arrival_schedule(steps: Sequence[Step], turns_per_conversation: float, *, max_conversations: int,
                     time_limit: float, rng: random.Random) -> list[Arrival]:
    """Poisson arrivals of conversations, step by step, so that the offered
    messages/s of each step is its rate; at most `max_conversations`, none
    at or after `time_limit`."""
    if turns_per_conversation <= 0:
        raise ValueError("turns_per_conversation must be positive")
    out: list[Arrival] = []
    for i, (start, end) in enumerate(step_windows(steps, time_limit)):
        per_second = steps[i].rate / turns_per_conversation
        t = start + rng.expovariate(per_second)
        while t < end and len(out) < max_conversations:
            out.append(Arrival(t, i))
            t += rng.expovariate(per_second)
    return out


# -- one turn, one conversation ------------------------------------------------


def classify(status: Optional[int], raw: Optional[bytes],
             exc: Optional[BaseException]) -> tuple[Optional[str], list[dict[str, Any]]]:
    """(error kind or None, the bot's messages) of one turn."""
    if exc is not None:
        if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's timeouts are TimeoutErrors
            return "timeout", []
        return f"transport {type(exc).__name__}", []
    if status != 200:
        return f"http {status}", []
    try:
        replies = json.loads(raw or b"")
    except ValueError:
        return "not json", []
    if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
        return "not a list of messages", []
    if not replies:
        return "empty reply", []
    return None, replies


@dataclass
class TurnRecord:
    sent: float  # seconds after the start of the measured run
    latency: float  # seconds until the answer (or the error)
    error: Optional[str] = None


@dataclass
class ConversationRecord:
    sender: str
    kind: str  # "claim" | "question"
    started: float
    person: Optional[Claimant] = None
    question: str = ""
    outcome: str = "running"  # issued | existing | failed | answered | error | unfinished
    error: Optional[str] = None
    card_number: Optional[str] = None
    last_text: str = ""  # masked
    turns_done: int = 0
    waiting_since: Optional[float] = None  # a turn in flight, sent then

    @property
    def failed_claim(self) -> bool:
        return self.kind == "claim" and self.outcome not in SUCCESS and self.outcome != "running"

    def note_answer(self, replies: list[dict[str, Any]]) -> None:
        text = "\n".join(str(r.get("text") or "") for r in replies)
        self.last_text = mask_text(text, self.person)
        if self.kind == "claim" and self.outcome == "running":
            if ISSUED in text or EXISTING in text:
                self.outcome = "issued" if ISSUED in text else "existing"
                found = CARD_NUMBER.search(text)
                self.card_number = found.group(1) if found else None

    def finish(self) -> None:
        if self.outcome == "running":
            self.outcome = "answered" if self.kind == "question" else "failed"


Clock = Callable[[], float]


async def converse(http: aiohttp.ClientSession, url: str, conv: ConversationRecord, turns: Sequence[str],
                   clock: Clock, records: list[TurnRecord], think_time: float, rng: random.Random) -> None:
    """Chat one conversation; stop at the first error."""
    for i, message in enumerate(turns):
        if i and think_time > 0:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_time)
        status: Optional[int] = None
        raw: Optional[bytes] = None
        exc: Optional[BaseException] = None
        sent = clock()
        conv.waiting_since = sent
        try:
            async with http.post(url, json={"sender": conv.sender, "message": message}) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            exc = e
        conv.waiting_since = None
        kind, replies = classify(status, raw, exc)
        records.append(TurnRecord(sent, clock() - sent, kind))
        if kind is not None:
            conv.outcome, conv.error = "error", kind
            return
        conv.turns_done += 1
        conv.note_answer(replies)
    conv.finish()


# -- reports -------------------------------------------------------------------


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
    offered_rate: Optional[float]  # messages/s; None for warm-up, drain and the total
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
    passed: Optional[bool] = None  # p95 under target, no error, no failed claim, nothing shed or unfinished

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_report(name: str, window: tuple[float, float], offered_rate: Optional[float], turns: Iterable[TurnRecord],
                conversations: Iterable[ConversationRecord], p95_target_ms: Optional[float] = None,
                shed: int = 0) -> StepReport:
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
        name=name, offered_rate=offered_rate, seconds=round(end - start, 2),
        achieved_rate=round(done_in_window / seconds, 2), turns=len(mine), answered=len(ok),
        latency_ms=latency_summary([t.latency for t in ok]), errors=len(mine) - len(ok), error_kinds=kinds,
        conversations=len(convs), completed=sum(1 for c in convs if c.outcome not in ("running", "unfinished")),
        claims=len(claims), cards_issued=sum(1 for c in claims if c.outcome == "issued"),
        cards_existing=sum(1 for c in claims if c.outcome == "existing"),
        failed_claims=sum(1 for c in claims if c.failed_claim),
        unfinished=sum(1 for c in convs if c.outcome == "unfinished"), shed=shed,
    )
    if p95_target_ms is not None:
        report.passed = bool(
            report.answered and report.errors == 0 and report.failed_claims == 0 and report.shed == 0
            and report.unfinished == 0 and report.latency_ms.get("p95", math.inf) < p95_target_ms
        )
    return report


@dataclass
class LoadOptions:
    steps: list[Step]
    claim_ratio: float = 0.8
    think_time: float = 1.0  # mean seconds between an answer and the next message
    max_conversations: int = 20_000
    time_limit: Optional[float] = None  # default: the steps' total
    drain_timeout: float = 120.0
    request_timeout: float = 60.0
    max_in_flight: int = 400
    p95_target_ms: float = 300.0
    stop_on_fail: bool = True  # start no step after one that failed its target
    warmup: int = 4  # conversations before measuring
    seed: int = 1
    sender_prefix: str = "load"
    questions: tuple[str, ...] = QUESTIONS  # the troubleshooting conversations' first message

    def limit(self) -> float:
        total = sum(s.seconds for s in self.steps)
        return min(total, self.time_limit) if self.time_limit is not None else total

    def check(self) -> None:
        if not self.steps:
            raise ValueError("no step")
        if not 0 <= self.claim_ratio <= 1:
            raise ValueError("claim_ratio is a share, 0..1")
        if self.max_conversations < 0 or self.limit() <= 0 or self.max_in_flight < 1:
            raise ValueError("max_conversations >= 0, a positive time limit and max_in_flight >= 1 please")
        if self.think_time < 0 or self.drain_timeout < 0 or self.request_timeout <= 0 or self.warmup < 0:
            raise ValueError("times and counts must not be negative")
        if not self.questions:
            raise ValueError("at least one question")


@dataclass
class ChatLoadResult:
    url: str
    options: dict[str, Any]
    steps: list[StepReport]
    warmup: Optional[StepReport]
    drain: Optional[StepReport]
    total: StepReport
    seconds: float  # measured run, drain included
    stopped_after_step: Optional[int]  # 1-based; a step failed and later steps were not run
    highest_passing_rate: Optional[float]
    people_exhausted: int  # claims that became questions: the registry ran out
    failed_claim_examples: list[dict[str, Any]]
    # Not in the JSON (they hold ID numbers): what the card audit needs.
    conversations: list[ConversationRecord] = field(default_factory=list, repr=False)

    @property
    def errors(self) -> int:
        return self.total.errors + (self.warmup.errors if self.warmup else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url, "options": self.options, "seconds": self.seconds,
            "warmup": self.warmup.as_dict() if self.warmup else None,
            "steps": [s.as_dict() for s in self.steps],
            "drain": self.drain.as_dict() if self.drain else None,
            "total": self.total.as_dict(),
            "errors_including_warmup": self.errors,
            "stopped_after_step": self.stopped_after_step, "highest_passing_rate": self.highest_passing_rate,
            "people_exhausted": self.people_exhausted, "failed_claim_examples": self.failed_claim_examples,
        }


class _Run:
    """The state of one run: the people, the conversations, the turns."""

    def __init__(self, url: str, people: Iterable[Claimant], options: LoadOptions) -> None:
        self.url = url
        self.options = options
        self.rng = random.Random(options.seed)
        self.people: Iterator[Claimant] = iter(people)
        self.tag = secrets.token_hex(3)
        self.count = 0
        self.people_exhausted = 0

    def conversation(self, started: float, warm: bool = False) -> tuple[ConversationRecord, list[str]]:
        self.count += 1
        sender = f"{self.options.sender_prefix}-{self.tag}-{'w' if warm else ''}{self.count}"
        if warm:  # three claims in four, unless the run has none
            wants_claim = self.options.claim_ratio > 0 and self.count % 4 != 0
        else:
            wants_claim = self.rng.random() < self.options.claim_ratio
        if wants_claim:
            person = next(self.people, None)
            if person is not None:
                return ConversationRecord(sender, "claim", started, person=person), claim_turns(person)
            self.people_exhausted += 1
        question = self.rng.choice(self.options.questions)
        return ConversationRecord(sender, "question", started, question=question), question_turns(question)


def _provisional(step: int, windows: list[tuple[float, float]], options: LoadOptions, turns: list[TurnRecord],
                 conversations: list[ConversationRecord], shed: list[int], now: float) -> StepReport:
    """A step's report while later turns may still be in flight: a turn in
    flight counts with the time it has waited so far (a lower bound)."""
    waiting = [TurnRecord(c.waiting_since, now - c.waiting_since) for c in conversations
               if c.waiting_since is not None]
    return step_report(f"step {step + 1}", windows[step], options.steps[step].rate, turns + waiting, conversations,
                       options.p95_target_ms, shed[step])


async def run_chat_load(url: str, people: Iterable[Claimant], options: LoadOptions,
                        log: Callable[[str], None] = print) -> ChatLoadResult:
    """Warm up, then run the steps (open loop) and wait for the conversations
    in flight (at most `drain_timeout` seconds)."""
    check_loopback(url)
    options.check()
    run = _Run(url, people, options)
    limit = options.limit()
    windows = step_windows(options.steps, limit)
    schedule = arrival_schedule(options.steps, mean_turns(options.claim_ratio),
                                max_conversations=options.max_conversations, time_limit=limit, rng=run.rng)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=options.max_in_flight + 8)
    timeout = aiohttp.ClientTimeout(total=options.request_timeout)
    warm_turns: list[TurnRecord] = []
    warm_convs: list[ConversationRecord] = []
    turns: list[TurnRecord] = []
    conversations: list[ConversationRecord] = []
    shed = [0] * len(windows)
    stopped_after: Optional[int] = None
    warm_seconds = 0.0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        if options.warmup:
            w0 = loop.time()

            def warm_clock() -> float:
                return loop.time() - w0

            for _ in range(options.warmup):
                conv, lines = run.conversation(warm_clock(), warm=True)
                warm_convs.append(conv)
                await converse(http, url, conv, lines, warm_clock, warm_turns, 0.0, run.rng)
            warm_seconds = warm_clock()
        t0 = loop.time()

        def clock() -> float:
            return loop.time() - t0

        tasks: set[asyncio.Task[None]] = set()
        current = 0

        def announce(step: int) -> None:
            log(f"  step {step + 1}: {options.steps[step].rate:g} msg/s for {windows[step][1] - windows[step][0]:g}s")

        announce(0)
        for arrival in schedule:
            if arrival.step != current:
                await asyncio.sleep(max(0.0, windows[arrival.step][0] - clock()))
                failed = []
                for s in range(current, arrival.step):
                    so_far = _provisional(s, windows, options, turns, conversations, shed, clock())
                    log(f"    so far: {so_far.achieved_rate:.1f} msg/s, p95 {so_far.latency_ms.get('p95', 0):.0f} ms "
                        f"(turns in flight count as waited so far), {so_far.errors} errors, "
                        f"{so_far.failed_claims} failed claims, {so_far.shed} shed")
                    if not so_far.passed:
                        failed.append(s)
                current = arrival.step
                if failed and options.stop_on_fail:
                    stopped_after = failed[0] + 1
                    log(f"  step {stopped_after} ({options.steps[failed[0]].rate:g} msg/s) missed the target: "
                        "no later step")
                    break
                announce(current)
            await asyncio.sleep(max(0.0, arrival.at - clock()))
            if len(tasks) >= options.max_in_flight:
                shed[arrival.step] += 1
                continue
            conv, lines = run.conversation(clock())
            conversations.append(conv)
            task = asyncio.create_task(converse(http, url, conv, lines, clock, turns, options.think_time, run.rng))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if stopped_after is not None:
            ran = windows[:stopped_after]
        elif schedule and len(schedule) >= options.max_conversations:
            # Bounded by the count: the measured run ends with its last arrival.
            last = schedule[-1].step
            ran = windows[:last] + [(windows[last][0], max(clock(), windows[last][0] + 1e-3))]
        else:
            await asyncio.sleep(max(0.0, limit - clock()))  # the last step lasts its whole window
            ran = windows
        end_of_steps = ran[-1][1] if ran else clock()
        if tasks:
            log(f"  {len(tasks)} conversations in flight: waiting up to {options.drain_timeout:g}s")
            _, pending = await asyncio.wait(set(tasks), timeout=options.drain_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        seconds = clock()
    for conv in conversations + warm_convs:
        if conv.outcome == "running":
            conv.outcome = "unfinished"
            conv.waiting_since = None
    target = options.p95_target_ms
    steps = [step_report(f"step {i + 1}", ran[i], options.steps[i].rate, turns, conversations, target, shed[i])
             for i in range(len(ran))]
    # Turns sent after the last step (conversations finishing) are reported
    # as "drain"; the step windows' figures stand without them.
    drain = step_report("drain", (ran[-1][1] if ran else 0.0, math.inf), None, turns, conversations)
    drain.seconds = round(max(0.0, seconds - end_of_steps), 2)
    drain.achieved_rate = round(drain.answered / drain.seconds, 2) if drain.seconds else 0.0
    total = step_report("all", (0.0, math.inf), None, turns, conversations)
    total.seconds = round(seconds, 2)
    total.achieved_rate = round(total.answered / seconds, 2) if seconds else 0.0
    total.shed = sum(shed)
    warm = None
    if options.warmup:
        warm = step_report("warm-up", (0.0, math.inf), None, warm_turns, warm_convs)
        warm.seconds = round(warm_seconds, 2)
        warm.achieved_rate = round(warm.answered / warm_seconds, 2) if warm_seconds else 0.0
    passing = [s.offered_rate for s in steps if s.passed and s.offered_rate is not None]
    examples = [{"sender": c.sender, "person": c.person.masked if c.person else "", "outcome": c.outcome,
                 "error": c.error, "turns_answered": c.turns_done, "last_bot_text": c.last_text}
                for c in warm_convs + conversations if c.failed_claim][:20]
    return ChatLoadResult(
        url=url, options=_options_dict(options), steps=steps, warmup=warm, drain=drain if drain.turns else None,
        total=total, seconds=round(seconds, 2), stopped_after_step=stopped_after,
        highest_passing_rate=max(passing) if passing else None, people_exhausted=run.people_exhausted,
        failed_claim_examples=examples, conversations=warm_convs + conversations,
    )


def _options_dict(options: LoadOptions) -> dict[str, Any]:
    out = asdict(options)
    out["steps"] = [[s.rate, s.seconds] for s in options.steps]
    out["time_limit"] = options.limit()
    out["mean_turns_per_conversation"] = round(mean_turns(options.claim_ratio), 2)
    return out


# -- printing --------------------------------------------------------------------


TABLE_HEAD = ("step", "offered/s", "achieved/s", "turns", "p50", "p95", "p99", "max ms", "errors", "convs done",
              "cards", "failed claims", "pass")


def table_rows(result: ChatLoadResult) -> list[list[str]]:
    rows = []
    for r in ([result.warmup] if result.warmup else []) + result.steps + ([result.drain] if result.drain else []) + [
            result.total]:
        lat = r.latency_ms
        errors = str(r.errors) + (f" ({', '.join(f'{k} {n}' for k, n in sorted(r.error_kinds.items()))})"
                                  if r.error_kinds else "")
        rows.append([
            r.name, f"{r.offered_rate:g}" if r.offered_rate is not None else "", f"{r.achieved_rate:.1f}",
            str(r.turns), *(f"{lat[k]:.0f}" if k in lat else "-" for k in ("p50", "p95", "p99", "max")), errors,
            f"{r.completed}/{r.conversations}" + (f" +{r.shed} shed" if r.shed else ""),
            f"{r.cards_issued}" + (f" (+{r.cards_existing} existing)" if r.cards_existing else ""),
            str(r.failed_claims), {True: "yes", False: "NO", None: ""}[r.passed],
        ])
    return rows


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(line, widths)) for line in [head, *rows]]
    return "\n".join(lines)


def summary(result: ChatLoadResult) -> str:
    out = [format_table(TABLE_HEAD, table_rows(result))]
    if result.highest_passing_rate is not None:
        out.append(f"highest passing rate: {result.highest_passing_rate:g} msg/s "
                   f"(p95 < {result.options['p95_target_ms']:g} ms, no error, no failed claim)")
    else:
        out.append("no step passed")
    if result.stopped_after_step:
        out.append(f"stopped after step {result.stopped_after_step} (it missed the target)")
    if result.people_exhausted:
        out.append(f"the registry ran out of people: {result.people_exhausted} claims became questions")
    for ex in result.failed_claim_examples[:5]:
        out.append(f"failed claim {ex['sender']} ({ex['person']}): {ex['outcome']}"
                   + (f" [{ex['error']}]" if ex["error"] else "") + f" after {ex['turns_answered']} answers; "
                   f"last bot text: {ex['last_bot_text']!r}")
    return "\n".join(out)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
