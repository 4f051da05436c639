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

Who claims, what they type and how a turn is judged are in
bench/load/conversation.py; the reports in bench/load/chat_report.py; the
command line (`python -m bench.load`) in bench/load/cli.py.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from bench.load.chat_report import ChatLoadResult, StepReport, step_report
from bench.load.conversation import (
    QUESTIONS,
    Claimant,
    ConversationRecord,
    TurnRecord,
    claim_turns,
    converse,
    mean_turns,
    question_turns,
)
from bench.load.http import check_loopback

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
    """ "20,30,40" -> three steps of `seconds` each."""
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


def arrival_schedule(
    steps: Sequence[Step],
    turns_per_conversation: float,
    *,
    max_conversations: int,
    time_limit: float,
    rng: random.Random,
) -> list[Arrival]:
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


@dataclass
class LoadOptions:
    steps: list[Step]
    claim_ratio: float = 0.8
    think_time: float = 1.0  # mean seconds between an answer and the next message
    max_conversations: int = 20_000
    time_limit: float | None = None  # default: the steps' total
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


def _provisional(
    step: int,
    windows: list[tuple[float, float]],
    options: LoadOptions,
    turns: list[TurnRecord],
    conversations: list[ConversationRecord],
    shed: list[int],
    now: float,
) -> StepReport:
    """A step's report while later turns may still be in flight: a turn in
    flight counts with the time it has waited so far (a lower bound)."""
    waiting = [TurnRecord(c.waiting_since, now - c.waiting_since) for c in conversations if c.waiting_since is not None]
    return step_report(
        f"step {step + 1}",
        windows[step],
        options.steps[step].rate,
        turns + waiting,
        conversations,
        options.p95_target_ms,
        shed[step],
    )


async def run_chat_load(
    url: str, people: Iterable[Claimant], options: LoadOptions, log: Callable[[str], None] = print
) -> ChatLoadResult:
    """Warm up, then run the steps (open loop) and wait for the conversations
    in flight (at most `drain_timeout` seconds)."""
    check_loopback(url)
    options.check()
    run = _Run(url, people, options)
    limit = options.limit()
    windows = step_windows(options.steps, limit)
    schedule = arrival_schedule(
        options.steps,
        mean_turns(options.claim_ratio),
        max_conversations=options.max_conversations,
        time_limit=limit,
        rng=run.rng,
    )
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=options.max_in_flight + 8)
    timeout = aiohttp.ClientTimeout(total=options.request_timeout)
    warm_turns: list[TurnRecord] = []
    warm_convs: list[ConversationRecord] = []
    turns: list[TurnRecord] = []
    conversations: list[ConversationRecord] = []
    shed = [0] * len(windows)
    stopped_after: int | None = None
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
                    log(
                        f"    so far: {so_far.achieved_rate:.1f} msg/s, p95 {so_far.latency_ms.get('p95', 0):.0f} ms "
                        f"(turns in flight count as waited so far), {so_far.errors} errors, "
                        f"{so_far.failed_claims} failed claims, {so_far.shed} shed"
                    )
                    if not so_far.passed:
                        failed.append(s)
                current = arrival.step
                if failed and options.stop_on_fail:
                    stopped_after = failed[0] + 1
                    log(
                        f"  step {stopped_after} ({options.steps[failed[0]].rate:g} msg/s) missed the target: "
                        "no later step"
                    )
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
    steps = [
        step_report(f"step {i + 1}", ran[i], options.steps[i].rate, turns, conversations, target, shed[i])
        for i in range(len(ran))
    ]
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
    examples = [
        {
            "sender": c.sender,
            "person": c.person.masked if c.person else "",
            "outcome": c.outcome,
            "error": c.error,
            "turns_answered": c.turns_done,
            "last_bot_text": c.last_text,
        }
        for c in warm_convs + conversations
        if c.failed_claim
    ][:20]
    return ChatLoadResult(
        url=url,
        options=_options_dict(options),
        steps=steps,
        warmup=warm,
        drain=drain if drain.turns else None,
        total=total,
        seconds=round(seconds, 2),
        stopped_after_step=stopped_after,
        highest_passing_rate=max(passing) if passing else None,
        people_exhausted=run.people_exhausted,
        failed_claim_examples=examples,
        conversations=warm_convs + conversations,
    )


def _options_dict(options: LoadOptions) -> dict[str, Any]:
    out = asdict(options)
    out["steps"] = [[s.rate, s.seconds] for s in options.steps]
    out["time_limit"] = options.limit()
    out["mean_turns_per_conversation"] = round(mean_turns(options.claim_ratio), 2)
    return out


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
