"""Faults under load (issue 5): a Rasa instance, both action servers, the
lock store's Redis or the backend is killed (SIGKILL, as a crash) and
restarted while simulated claimants chat through the load balancer.

The scaled stack is this module's own, with a redis-server of its own (on
a free port, no persistence) as the lock store, so that the test can kill
and restart it; the machine's Redis on 6379 and PostgreSQL are never
touched. The registry: tests/people.py's and a demo registry of 400
students, whose enrolled K-12 students are the claimants (each claims once
in the whole module, so each claim should issue a new card).

A claimant is a patient user who sees the chat. After an error (the load
balancer's 503 "系统繁忙", another status, a broken connection, no answer
in time) it waits a second; after every turn it reads the conversation's
tracker and answers what the bot is asking *now* (`next_message`), rather
than blindly going on with a script; when the bot said the claim system
was busy, it says "重试" as the bot asked. A conversation is bounded in
turns and time.

Each test injects its fault once the load is under way (conversations at
every stage), keeps the service down a few seconds and restarts it (start,
then wait until ready). rasa-1 is first frozen (SIGSTOP) at a moment when
it holds a conversation's lock, so that its kill surely cuts off turns,
one of them in the middle of its processing. Then:
- every conversation ended with its card (the bot said 领卡成功 or 已经领取
  with the number that its tracker and the backend hold), or with one of
  the assistant's clear messages about the outage (CLEAR_MESSAGES, exact
  phrases); as the service is back well within each conversation's
  bounds, all of them with the card; and every turn that failed showed
  the user a clear message (the load balancer's 503 does, a bare 500 does
  not);
- no conversation lost collected details: person_name and id_number, once
  in the tracker, keep their value in every later look (after every turn,
  and in snapshots of all conversations right before the fault and right
  after the service is back);
- no card was issued twice: one card per person in the backend's
  database, the number each conversation was told, and exactly one
  "issued" row of the claim log per card (the row that the card's own
  INSERT writes, claims/statements.INSERT_CARD_LOGGED: same card number,
  same created_at), by the person's own conversation;
- the fault really hit the load: a third of the conversations at least
  were mid-claim when it came (the others ended or not yet started), and
  some turns failed or were answered with an apology because of it;
- no conversation stalled: every turn answered within STALL_S. After the
  crash of a Rasa instance this holds because the lock store's tickets are
  leases (bot/lock_store.py): with Rasa's fixed 60 s ticket lifetime, the
  conversation whose message the instance was handling waited a minute for
  the orphaned ticket (found by this test).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backend.claims.cardnumber import is_valid_card_number
from bench.load.audit import ClaimRecord, audit_cards
from bench.load.conversation import CARD_NUMBER, EXISTING, ISSUED, Claimant, mask_text, registry_claimants
from bot.channel_replies import SILENCE_APOLOGY
from identity.masking import mask_id, mask_name
from tests.responses import text_of
from tests.stack import NEEDS_STACK, ROOT, Stack, run_services, started_scaled_stack
from trust.secrets import RASA_AUTH_TOKEN, secret

# The stack starts in the first test's time: more than the suite's default 300 s.
pytestmark = [*NEEDS_STACK, pytest.mark.timeout(600)]

REDIS_SERVER = "/usr/bin/redis-server"
CONVERSATIONS = 20
STAGGER_S = 0.5  # between the starts of two conversations
THINK_S = (0.5, 1.5)  # a user's pause before the next message
RETRY_WAIT_S = 1.0  # after an error
REQUEST_TIMEOUT_S = 30.0
MAX_TURNS = 30  # per conversation
MAX_SECONDS = 150.0  # per conversation
FAULT_AFTER_TURNS = 40  # answered turns of the load before the fault
DOWN_S = 5.0  # how long the service stays down before its restart
FREEZE_S = 3.0  # rasa-1 frozen before its kill
STALL_S = 15.0  # a turn answered later than this (or not at all) stalled its conversation

# What the claimant answers to each question of the claim form.
ROLE, SELF, START, RETRY, WHERE_IS_MY_CARD = (
    '/choose_role{"role": "k12_student"}',
    '/inform{"k12_claimant": "self"}',
    "我要领卡",
    "重试",
    "验证成功了但是没有领到卡",
)
FIXED_ANSWERS = {"role": ROLE, "k12_claimant": SELF, "face_verification": "不开通", "details_confirmed": "确认"}


BUSY = json.loads(run_services.BUSY_REPLY)[0]["text"]
# The clear messages a conversation may end with when it did not get its
# card: the load balancer's 503 when no Rasa instance is up, the REST
# channel's apology when a turn produced no message (action server or lock
# store down), the claim action's when the backend did not answer.
CLEAR_MESSAGES = {
    "busy": BUSY,  # the load balancer
    "no reply": SILENCE_APOLOGY,  # the REST channel
    "backend unavailable": text_of("utter_claim_failed_backend_unavailable"),  # the claim action
}


def clear_message(text: str) -> str | None:
    """Which of the clear messages the text holds, if any."""
    return next((kind for kind, message in CLEAR_MESSAGES.items() if message in text), None)


# -- a redis-server of the module's own -----------------------------------------------


class PrivateRedis:
    """The lock store's Redis: a redis-server on a free port, no persistence
    (a restart comes back empty, as a crashed cache would)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = run_services.free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.folder / "redis-server.log", "ab")
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {self.port} not ready after {timeout}s")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("faults-redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, private_redis: PrivateRedis) -> Iterator[Stack]:
    lock_store = {"LOCK_STORE_PORT": str(private_redis.port), "LOCK_STORE_DB": "0"}
    # redis_db: what started_scaled_stack flushes on the machine's Redis, unused here.
    with started_scaled_stack(tmp_path_factory.mktemp("faults"), "faults", lock_store, redis_db=10) as s:
        yield s


@pytest.fixture(scope="module")
def claimants(fault_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Claimant]:
    """Enrolled K-12 students of a demo registry imported into the stack's
    backend, each handed out once in the module."""
    folder = tmp_path_factory.mktemp("faults-registry")
    for command in (
        ["demo-registry", "--students", "400", "--teachers", "10", "--out", str(folder)],
        [
            "import-registry",
            "--students",
            str(folder / "students.csv"),
            "--teachers",
            str(folder / "teachers.csv"),
            "--no-progress",
        ],
    ):
        subprocess.run(
            [sys.executable, "-m", "backend", *command], cwd=ROOT, env=fault_stack.env, check=True, capture_output=True
        )
    people = registry_claimants(folder / "students.csv")
    assert len(people) >= 4 * CONVERSATIONS
    return iter(people)


# -- simulated claimants ----------------------------------------------------------------


def next_message(person: Claimant, tracker: dict[str, Any]) -> str:
    """What a user who sees the chat answers now."""
    slots = tracker.get("slots") or {}
    loop = (tracker.get("active_loop") or {}).get("name")
    if slots.get("card_number"):
        return WHERE_IS_MY_CARD  # issued, but the answer that said so was lost
    if loop == "claim_form":
        asked = slots.get("requested_slot")
        if asked == "person_name":
            return person.name
        if asked == "id_number":
            return person.id_number
        if asked in FIXED_ANSWERS:
            return FIXED_ANSWERS[asked]
    if slots.get("failure_reason") == "backend_unavailable":
        return RETRY  # "稍后回复“重试”即可再次提交"
    return START  # no claim going on: start it (again)


@dataclass
class Turn:
    sent: float  # time.monotonic()
    seconds: float
    said: str  # a short label of the message sent (no personal data)
    error: str | None  # None: HTTP 200 with a list of messages
    text: str  # what the user saw (the 503's busy message too), masked
    clear: str | None  # the clear message it held (CLEAR_MESSAGES' key)

    @property
    def shown(self) -> str:
        slow = f"({self.seconds:.0f}s)" if self.seconds >= 5 else ""
        return self.said + slow + (f"[{self.error}]" if self.error else "") + (f"[{self.clear}]" if self.clear else "")


@dataclass
class Conversation:
    """One simulated conversation; its repr (in pytest's explanations) shows no personal data."""

    sender: str
    person: Claimant = field(repr=False)
    turns: list[Turn] = field(default_factory=list)
    started: float = 0.0
    ended: float | None = None
    waiting_since: float | None = None  # a turn in flight, sent then
    told: list[tuple[str, str]] = field(default_factory=list)  # ("issued" | "existing", card number)
    tracker_card: str | None = None
    kept: dict[str, str] = field(default_factory=dict, repr=False)  # details seen in the tracker
    lost: list[str] = field(default_factory=list)  # masked notes

    @property
    def card_number(self) -> str | None:
        return self.told[-1][1] if self.told else None

    @property
    def last_text(self) -> str:
        return self.turns[-1].text if self.turns else ""

    @property
    def ended_clearly(self) -> bool:
        return bool(self.turns and self.turns[-1].clear)

    @property
    def trouble(self) -> list[Turn]:
        """Turns that failed, or were answered with an apology."""
        return [t for t in self.turns if t.error is not None or t.clear]

    def observe(self, slots: dict[str, Any], when: str) -> None:
        """person_name and id_number keep their value once collected."""
        for slot in ("person_name", "id_number"):
            value = slots.get(slot)
            if slot not in self.kept:
                if value:
                    self.kept[slot] = value
            elif value != self.kept[slot]:
                shown = mask_id if slot == "id_number" else mask_name
                self.lost.append(f"{slot} {shown(self.kept[slot])} -> {shown(value) if value else value} ({when})")

    def describe(self) -> str:
        return (
            f"{self.sender} {self.person.masked}: told {self.told}, tracker card {self.tracker_card}, "
            f"{self.ended - self.started if self.ended else 0:.0f}s: {' > '.join(t.shown for t in self.turns)}"
            + ("" if self.told else f"; last {self.last_text[:80]!r}")
        )


async def fetch_tracker(http: aiohttp.ClientSession, base: str, sender: str) -> dict[str, Any] | None:
    try:
        async with http.get(
            f"{base}/conversations/{sender}/tracker",
            params={"include_events": "NONE", "token": secret(RASA_AUTH_TOKEN)},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as resp:
            if resp.status != 200:
                return None
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get("slots"), dict) else None


class SimulatedUser:
    """One simulated user chatting one K-12 self claim."""

    def __init__(self, conv: Conversation, base: str, rng: random.Random) -> None:
        self.conv = conv
        self.base = base
        self.rng = rng

    async def say(self, http: aiohttp.ClientSession, message: str) -> None:
        conv = self.conv
        sent = time.monotonic()
        error: str | None = None
        replies: Any = None
        conv.waiting_since = sent
        try:
            async with http.post(
                f"{self.base}/webhooks/rest/webhook",
                json={"sender": conv.sender, "message": message},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    error = f"http {resp.status}"
                try:
                    replies = json.loads(raw)
                except ValueError:
                    error = error or "not json"
        except asyncio.TimeoutError:
            error = "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"transport {type(exc).__name__}"
        finally:
            conv.waiting_since = None
        if error is None and not (isinstance(replies, list) and replies):
            error = "no messages"
        text = (
            "\n".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))
            if isinstance(replies, list)
            else ""
        )
        said = {conv.person.name: "NAME", conv.person.id_number: "ID", ROLE: "role", SELF: "self"}.get(message, message)
        conv.turns.append(
            Turn(
                sent, time.monotonic() - sent, said, error, mask_text(text, conv.person, limit=300), clear_message(text)
            )
        )
        if error is None and (ISSUED in text or EXISTING in text):
            found = CARD_NUMBER.search(text)
            conv.told.append(("issued" if ISSUED in text else "existing", found.group(1) if found else ""))

    async def look(self, http: aiohttp.ClientSession, deadline: float) -> dict[str, Any] | None:
        while time.monotonic() < deadline:
            tracker = await fetch_tracker(http, self.base, self.conv.sender)
            if tracker is not None:
                self.conv.observe(tracker["slots"], f"turn {len(self.conv.turns)}")
                self.conv.tracker_card = tracker["slots"].get("card_number")
                return tracker
            await asyncio.sleep(RETRY_WAIT_S)
        return None

    async def chat(self, http: aiohttp.ClientSession) -> None:
        conv = self.conv
        conv.started = time.monotonic()
        deadline = conv.started + MAX_SECONDS
        message = START
        try:
            while len(conv.turns) < MAX_TURNS and time.monotonic() < deadline:
                await self.say(http, message)
                if conv.turns[-1].error is not None:
                    await asyncio.sleep(RETRY_WAIT_S)
                tracker = await self.look(http, deadline)
                if tracker is None or conv.told:
                    break  # out of time, or the card was shown
                message = next_message(conv.person, tracker)
                await asyncio.sleep(self.rng.uniform(*THINK_S))
        finally:
            conv.ended = time.monotonic()


# -- a fault in the middle of the load -----------------------------------------------------


@dataclass
class Run:
    conversations: list[Conversation]
    down_at: float = 0.0  # the service stopped answering
    up_at: float = 0.0  # the service ready again
    running_at_fault: int = 0
    orphaned: list[str] = field(default_factory=list)  # rasa-1: conversations whose lock it held when killed
    before: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # sender -> slots
    after: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        return "\n".join(c.describe() for c in self.conversations)


async def snapshot(http: aiohttp.ClientSession, base: str, convs: list[Conversation]) -> dict[str, dict[str, Any]]:
    trackers = await asyncio.gather(*(fetch_tracker(http, base, c.sender) for c in convs))
    return {c.sender: t["slots"] for c, t in zip(convs, trackers, strict=True) if t is not None}


Fault = Callable[[Stack, PrivateRedis, Run], Awaitable[None]]


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait for the condition, at most `timeout` seconds (then go on anyway)."""
    limit = time.monotonic() + timeout
    while not condition() and time.monotonic() < limit:
        await asyncio.sleep(0.02)


async def restart(stack: Stack, name: str) -> None:
    """Crash (SIGKILL), a few seconds down, start, wait until ready."""
    await asyncio.to_thread(stack.kill, name)
    await asyncio.sleep(DOWN_S)
    stack.start(name)
    await asyncio.to_thread(stack.wait_ready, name)


def serving(redis: PrivateRedis) -> dict[str, int]:
    """Conversation -> the ticket now served, of the lock store's locks."""
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=redis.port, socket_timeout=2)
    try:
        found: dict[str, int] = {}
        for key in client.scan_iter("lock:*"):
            raw = client.get(key)
            tickets = [json.loads(t) for t in json.loads(raw)["tickets"]] if raw else []
            if tickets:
                found[key.decode()[len("lock:") :]] = int(tickets[0]["number"])
        return found
    finally:
        client.close()


async def crash_rasa(stack: Stack, redis: PrivateRedis, run: Run) -> None:
    """rasa-1 hangs, then crashes, in the middle of a message: frozen
    (SIGSTOP) at a moment when conversations hold their lock, kept frozen
    while a lock stays with the same ticket (the frozen instance's: the
    other one serves a message in well under FREEZE_S), else thawed and
    tried again; then killed (SIGKILL) and restarted as the others. The
    turns sent to it meanwhile are cut off too."""
    rasa = stack.procs["rasa-1"].pid
    for _ in range(20):
        await until(lambda: bool(serving(redis)), 5)
        os.killpg(rasa, signal.SIGSTOP)
        held = serving(redis)
        await asyncio.sleep(FREEZE_S)
        still = serving(redis)
        run.orphaned = [c for c, ticket in held.items() if still.get(c) == ticket]
        if run.orphaned:
            break
        os.killpg(rasa, signal.SIGCONT)
        await asyncio.sleep(0.5)
    assert run.orphaned, "rasa-1 was never caught holding a conversation's lock"
    await restart(stack, "rasa-1")  # SIGKILL ends a stopped process too


async def restart_redis(stack: Stack, redis: PrivateRedis, run: Run) -> None:
    await asyncio.to_thread(redis.kill)
    await asyncio.sleep(DOWN_S)
    await asyncio.to_thread(redis.start)  # same port, empty


FAULTS: dict[str, Fault] = {
    "backend": lambda s, r, run: restart(s, "backend"),
    "actions": lambda s, r, run: restart(s, "actions"),  # both action servers
    "redis": restart_redis,
    "rasa-1": crash_rasa,
}


async def run_with_fault(stack: Stack, redis: PrivateRedis, people: Iterator[Claimant], fault: str) -> Run:
    rng = random.Random(fault)
    run = Run([Conversation(f"faults-{fault}-{i}", next(people)) for i in range(CONVERSATIONS)])
    connector = aiohttp.TCPConnector(limit=4 * CONVERSATIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def start(i: int, conv: Conversation) -> None:
            await asyncio.sleep(i * STAGGER_S)
            await SimulatedUser(conv, stack.rasa_url, rng).chat(http)

        chats = [asyncio.create_task(start(i, c)) for i, c in enumerate(run.conversations)]

        async def inject() -> None:
            # Once the load is under way: conversations at every stage.
            await until(lambda: sum(len(c.turns) for c in run.conversations) >= FAULT_AFTER_TURNS, 60)
            started = [c for c in run.conversations if c.started]
            run.before = await snapshot(http, stack.rasa_url, started)
            run.running_at_fault = sum(1 for c in run.conversations if c.started and c.ended is None)
            run.down_at = time.monotonic()
            await FAULTS[fault](stack, redis, run)
            run.up_at = time.monotonic()
            run.after = await snapshot(http, stack.rasa_url, started)

        await asyncio.gather(inject(), *chats)
    return run


async def card_rows(database_url: str, convs: list[Conversation]) -> tuple[list[Any], list[Any]]:
    """The backend's cards of these people, and the claim log rows of these cards."""
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        cards = await conn.fetch(
            "SELECT holder_id_number, card_number, channel_user, created_at FROM cards "
            "WHERE holder_id_number = ANY($1::text[])",
            [c.person.id_number for c in convs],
        )
        log = await conn.fetch(
            "SELECT channel_user, success, card_number, created_at FROM claim_attempts "
            "WHERE action = 'claim' AND card_number = ANY($1::text[])",
            [r["card_number"] for r in cards],
        )
        return list(cards), list(log)
    finally:
        await conn.close()


async def check(stack: Stack, run: Run) -> None:
    convs = run.conversations
    summary = run.summary()

    # The fault came in the middle of the load, and hit it: turns that
    # ended while the service was down (or just after) failed or were
    # answered with an apology.
    assert run.running_at_fault >= CONVERSATIONS // 3, (run.running_at_fault, summary)
    hit = [t for c in convs for t in c.trouble if run.down_at <= t.sent + t.seconds <= run.up_at + 5]
    assert hit, f"no turn failed or was apologised for while the service was down:\n{summary}"

    # What the users saw: every failed turn explained (the load balancer's
    # 503 is; a bare 500 is not; no answer in time is a stall, below) ...
    unexplained = [
        f"{c.sender}: {t.shown} after {t.seconds:.1f}s"
        for c in convs
        for t in c.turns
        if t.error not in (None, "timeout") and not t.clear
    ]
    assert not unexplained, "turns that failed without a clear message:\n" + "\n".join(unexplained)
    # ... every conversation ended with its card or a clear message ...
    unclear = [c.describe() for c in convs if not c.told and not c.ended_clearly]
    assert not unclear, "conversations that ended with neither a card nor a clear message:\n" + "\n".join(unclear)
    # ... and, the service back well within each conversation's bounds, with its card.
    assert all(c.told for c in convs), f"conversations without a card:\n{summary}"
    for c in convs:
        assert is_valid_card_number(c.card_number or ""), c.describe()
        assert c.tracker_card == c.card_number, c.describe()
        assert len(c.told) == 1, c.describe()

    # No conversation lost collected details.
    lost = [f"{c.sender}: {note}" for c in convs for note in c.lost]
    for c in convs:
        before, after = run.before.get(c.sender), run.after.get(c.sender)
        if before is not None:
            assert after is not None, f"{c.sender}: no tracker after the fault"
            for slot in ("person_name", "id_number"):
                if before.get(slot) and after.get(slot) != before[slot]:
                    lost.append(f"{c.sender}: {slot} not the same after the fault")
    assert not lost, "details lost:\n" + "\n".join(lost)

    # No card issued twice: one card per person, the number each
    # conversation was told; one "issued" log row per card (written by the
    # card's INSERT: same number, same time), by the person's conversation.
    cards, log = await card_rows(stack.env["BACKEND_DATABASE_URL"], convs)
    audit = audit_cards(
        [ClaimRecord(c.person.id_number, c.told[0][0], c.card_number) for c in convs],
        [(r["holder_id_number"], r["card_number"]) for r in cards],
    )
    assert audit.ok and audit.cards_found == len(convs), audit.as_dict()
    issued_by: dict[str, list[str]] = {}
    for card in cards:
        issued_by[card["card_number"]] = [
            r["channel_user"]
            for r in log
            if r["success"] and r["card_number"] == card["card_number"] and r["created_at"] == card["created_at"]
        ]
    assert all(len(users) == 1 for users in issued_by.values()), issued_by
    for c in convs:  # each person is claimed by one conversation only
        assert issued_by[c.card_number or ""] == [c.sender], c.describe()

    # No conversation stalled: every turn answered within STALL_S.
    stalled = [f"{c.sender}: {t.shown}" for c in convs for t in c.turns if t.error == "timeout" or t.seconds > STALL_S]
    if stalled:
        raise Stalled(
            f"turns unanswered for more than {STALL_S:g}s (locks held by a killed instance: "
            f"{run.orphaned}):\n" + "\n".join(stalled)
        )


class Stalled(AssertionError):
    """A conversation waited for an answer longer than STALL_S."""


@pytest.mark.parametrize("fault", ["backend", "actions", "redis", "rasa-1"])
async def test_conversations_ride_over_a_fault(
    fault: str, fault_stack: Stack, private_redis: PrivateRedis, claimants: Iterator[Claimant]
) -> None:
    started = time.monotonic()
    run = await run_with_fault(fault_stack, private_redis, claimants, fault)
    print(
        f"\n{fault}: {time.monotonic() - started:.0f}s, down {run.up_at - run.down_at:.1f}s, "
        f"{run.running_at_fault} running at the fault, locks held by the killed instance: {run.orphaned}\n"
        f"{run.summary()}"
    )
    await check(fault_stack, run)
