"""CachedSQLTrackerStore (bot/tracker_store.py) against Rasa's own store.

Run with the Rasa environment's Python (it imports Rasa):

    .venv-rasa/bin/python tests/bot/tracker_store_check.py sqlite PATH
    .venv-rasa/bin/python tests/bot/tracker_store_check.py postgresql DBNAME [--host H --port P]

on an SQLite file, or on an existing, empty PostgreSQL database. The
conversations are made of real events (user messages with their NLU parse,
actions, bot messages, slots of domain.yml, session starts with the
timestamps Rasa 3.6 gives them) on trackers of the real domain. After every
save the script reads the `events` table itself (every row in id order: it
must hold each event of the conversation exactly once), and a stock
`SQLTrackerStore` on the same database says what Rasa would load: the
cached store must hand out those very events, and serve a tracker from
memory only when nothing else has written to the conversation.

Prints one JSON line, {"backend": ..., "checks_passed": [names]}, and exits
non-zero at the first failed check, saying what differed. `--keep-going`
runs every check and lists the failed ones too (for diagnosis).

Used by tests/bot/test_tracker_store.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.tracker_store import COMPOSITE_INDEX, CachedSQLTrackerStore  # noqa: E402
from trust import sealing  # noqa: E402

CACHE_SIZE = 16
Tracker = DialogueStateTracker | None


class CheckFailed(AssertionError):
    """A check found the store behaving otherwise than expected."""


def expect(condition: bool, check: str, what: str) -> None:
    if not condition:
        raise CheckFailed(f"check {check!r} failed: {what}")


# -- conversations -----------------------------------------------------------------


class Clock:
    """Event timestamps, increasing as Rasa's successive time.time() calls."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def tick(self) -> float:
        self.now += 0.001
        return self.now


class Talk:
    """Builds the events of a conversation on the real domain."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.clock = Clock()

    def session_start(self, carried: Sequence[tuple[str, Any]] = ()) -> list[Event]:
        """What Rasa 3.6 logs when a session starts, with its timestamps: the
        processor logs ActionExecuted(action_session_start), then the events
        ActionSessionStart returned (SessionStarted, the carried-over slots,
        an action_listen), their timestamps renewed as they are added
        (`update_with_events`). So action_session_start is older than
        SessionStarted, and stock Rasa, which loads the events from the
        latest SessionStarted's timestamp on, leaves it out."""
        action = ActionExecuted(ACTION_SESSION_START_NAME, timestamp=self.clock.tick())
        started = SessionStarted(timestamp=self.clock.tick())
        slots = [SlotSet(name, value, timestamp=self.clock.tick()) for name, value in carried]
        listen = ActionExecuted(ACTION_LISTEN_NAME, timestamp=self.clock.tick())
        return [action, started, *slots, listen]

    def turn(self, text: str, intent: str, response: str, slots: Sequence[tuple[str, Any]] = ()) -> list[Event]:
        """A user message, the slots it sets, one response, back to listening."""
        assert intent in self.domain.intents and response in self.domain.responses, (intent, response)
        assert {name for name, _ in slots} <= {slot.name for slot in self.domain.slots}, slots
        ranking = [{"name": intent, "confidence": 0.97}, {"name": "out_of_scope", "confidence": 0.02}]
        parse_data = {"text": text, "intent": ranking[0], "entities": [], "intent_ranking": ranking}
        events: list[Event] = [
            UserUttered(
                text,
                intent=ranking[0],
                parse_data=parse_data,  # type: ignore[arg-type]
                timestamp=self.clock.tick(),
                input_channel="rest",
            )
        ]
        events += [SlotSet(name, value, timestamp=self.clock.tick()) for name, value in slots]
        bot_text = self.domain.responses[response][0].get("text", response)
        events += [
            ActionExecuted(response, policy="RulePolicy", confidence=1.0, timestamp=self.clock.tick()),
            BotUttered(bot_text, {"utter_action": response}, timestamp=self.clock.tick()),
            ActionExecuted(ACTION_LISTEN_NAME, policy="RulePolicy", confidence=1.0, timestamp=self.clock.tick()),
        ]
        return events

    def greet(self) -> list[Event]:
        return self.turn("你好", "greet", "utter_greet")

    def choose_role(self) -> list[Event]:
        return self.turn("我是大学生", "choose_role", "utter_greet", slots=[("role", "university_student")])

    def give_name(self, name: str = "王小明") -> list[Event]:
        return self.turn(name, "inform", "utter_greet", slots=[("person_name", name)])

    def thank(self) -> list[Event]:
        return self.turn("谢谢", "thank", "utter_thank")


def dicts(tracker: Tracker) -> list[dict]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


def as_dicts(events: Iterable[Event]) -> list[dict]:
    return [event.as_dict() for event in events]


def latest_session(history: list[dict]) -> list[dict]:
    """The events stock Rasa 3.6 loads of a stored conversation: those, in
    id order, whose timestamp is no older than the latest SessionStarted's."""
    starts = [e["timestamp"] for e in history if e["event"] == "session_started"]
    return [e for e in history if e["timestamp"] >= max(starts)] if starts else list(history)


def label(event: dict) -> str:
    return event["event"] + (f":{event['name']}" if event.get("name") else "")


def outline(events: list[dict]) -> str:
    """A short description of events, for failure messages."""
    names = [label(e) for e in events]
    shown = names if len(names) <= 6 else names[:4] + ["...", names[-1]]
    return f"{len(events)} events [{', '.join(shown)}]"


def first_difference(rows: list[dict], history: list[dict]) -> str:
    """Where the stored rows part from the conversation's events."""
    for i in range(max(len(rows), len(history))):
        row = rows[i] if i < len(rows) else None
        event = history[i] if i < len(history) else None
        if row == event:
            continue
        said = f"row {i + 1} is {label(row)}" if row else f"row {i + 1} is missing"
        copies = [j + 1 for j, e in enumerate(history[:i]) if e == row]
        if copies:
            said += f", a second copy of event {copies[-1]}"
        return said + (f"; event {i + 1} is {label(event)}" if event else "; there is no such event")
    return "no difference"


class Harness:
    """The stores under test, a stock reader, and the table as it is."""

    def __init__(self, domain: Domain, db_kwargs: dict[str, Any]) -> None:
        self.domain = domain
        self.db_kwargs = db_kwargs
        self.stores: list[SQLTrackerStore] = []
        self.a = self.cached(CACHE_SIZE)
        self.stock = SQLTrackerStore(domain=domain, **db_kwargs)
        self.stores.append(self.stock)
        self.talk = Talk(domain)

    def cached(self, cache_size: int) -> CachedSQLTrackerStore:
        store = CachedSQLTrackerStore(domain=self.domain, cache_size=cache_size, **self.db_kwargs)
        self.stores.append(store)
        return store

    def new_tracker(self, store: SQLTrackerStore, sender_id: str, events: Iterable[Event]) -> DialogueStateTracker:
        tracker = store.init_tracker(sender_id)
        self.add(tracker, events)
        return tracker

    def add(self, tracker: Tracker, events: Iterable[Event]) -> list[dict]:
        """Appends events keeping their timestamps (Talk's clock: session
        boundaries as in a real conversation, never dependent on two
        time.time() calls differing); returns them as dicts."""
        assert tracker is not None
        events = list(events)
        tracker.update_with_events(events, self.domain, override_timestamp=False)
        return as_dicts(events)

    def rows(self, sender_id: str) -> list[dict]:
        """Every stored event of the conversation, in id order."""
        with self.a.engine.connect() as conn:
            result = conn.execute(sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender_id})
            return [json.loads(data) for (data,) in result]

    async def stored(self, check: str, sender_id: str, history: list[dict]) -> None:
        """The table holds the conversation's events `history`, each once, in
        order, and stock Rasa loads its latest session."""
        rows = self.rows(sender_id)
        if rows != history:
            raise CheckFailed(
                f"check {check!r} failed: {sender_id}: `events` holds {outline(rows)}; the "
                f"conversation is {outline(history)}: {first_difference(rows, history)}"
            )
        loaded = await self.stock.retrieve(sender_id)
        expect(
            loaded is not None and dicts(loaded) == latest_session(history),
            check,
            f"{sender_id}: stock SQLTrackerStore loads {outline(dicts(loaded)) if loaded else None}, expected "
            f"{outline(latest_session(history))}",
        )

    async def as_stock(self, check: str, sender_id: str, ours: Tracker) -> None:
        """A tracker the cached store handed out holds what stock Rasa loads."""
        loaded = await self.stock.retrieve(sender_id)
        expect(
            ours is not None and loaded is not None and dicts(ours) == dicts(loaded),
            check,
            f"{sender_id}: the cached store handed out {outline(dicts(ours)) if ours else None}; stock Rasa "
            f"loads {outline(dicts(loaded)) if loaded else None} from the same database",
        )

    async def seed(self, check: str, sender_id: str, events: Iterable[Event]) -> list[dict]:
        """A conversation stored by stock Rasa (an earlier message, handled
        elsewhere): the cached stores here have not seen it."""
        tracker = self.new_tracker(self.stock, sender_id, events)
        await self.stock.save(tracker)
        history = dicts(tracker)
        await self.stored(check, sender_id, history)
        return history

    async def loaded(self, check: str, store: CachedSQLTrackerStore, sender_id: str) -> DialogueStateTracker:
        """The conversation as `store` loads it from the database (a miss)."""
        before = counters(store)
        tracker = await store.retrieve(sender_id)
        expect(tracker is not None, check, f"{sender_id}: not found")
        expect_counters(store, check, before, 0, 1, f"{sender_id}: first retrieve")
        await self.as_stock(check, sender_id, tracker)
        assert tracker is not None
        return tracker

    def dispose(self) -> None:
        for store in self.stores:
            store.engine.dispose()


def counters(store: CachedSQLTrackerStore) -> tuple[int, int]:
    return store.hits, store.misses


def expect_counters(
    store: CachedSQLTrackerStore, check: str, before: tuple[int, int], hits: int, misses: int, what: str
) -> None:
    want = (before[0] + hits, before[1] + misses)
    expect(counters(store) == want, check, f"{what}: hits/misses {counters(store)}, expected {want}")


# -- checks --------------------------------------------------------------------------


async def save_then_hit(
    h: Harness,
    name: str,
    store: CachedSQLTrackerStore,
    sender_id: str,
    tracker: DialogueStateTracker,
    history: list[dict],
) -> DialogueStateTracker:
    """Save; the rows are the history; the next retrieve is a cache hit that
    hands out that very tracker, equal to what stock Rasa loads."""
    await store.save(tracker)
    await h.stored(name, sender_id, history)
    before = counters(store)
    got = await store.retrieve(sender_id)
    expect(got is tracker, name, "a retrieve after a save did not return the saved tracker object")
    expect_counters(store, name, before, 1, 0, "save, retrieve")
    await h.as_stock(name, sender_id, got)
    assert got is not None
    return got


async def check_save_retrieve_hit(h: Harness) -> None:
    """A conversation's next message: the tracker saved at the last one is
    handed out again, and what it saves is stored once, as stock Rasa reads it."""
    name, a, t = "save_retrieve_hit", h.a, h.talk
    history = await h.seed(name, "c1", t.session_start() + t.greet())
    tracker = await h.loaded(name, a, "c1")
    history += h.add(tracker, t.choose_role())
    got = await save_then_hit(h, name, a, "c1", tracker, history)
    history += h.add(got, t.give_name())
    again = await save_then_hit(h, name, a, "c1", got, history)  # after a cache hit, too
    expect(
        (again.get_slot("role"), again.get_slot("person_name")) == ("university_student", "王小明"),
        name,
        f"slots {again.current_slot_values()}",
    )
    await a.save(again)  # nothing new: nothing written
    await h.stored(name, "c1", history)


async def first_message(h: Harness, sender_id: str) -> tuple[DialogueStateTracker, list[dict]]:
    """A conversation's first message as MessageProcessor handles it:
    get_or_create_tracker (no action_listen) saves an empty tracker, the
    session starts, the user speaks, the tracker is saved."""
    created = await h.a.get_or_create_tracker(sender_id, append_action_listen=False)
    history = h.add(created, h.talk.session_start() + h.talk.greet())
    await h.a.save(created)
    return created, history


async def check_first_message(h: Harness) -> None:
    """After a conversation's first message, the next retrieve hands out what
    stock Rasa loads (the latest session: from SessionStarted on, without
    the older action_session_start before it), and the next save adds
    exactly the new events."""
    name, a, t = "first_message", h.a, h.talk
    _, history = await first_message(h, "c0")
    await h.stored(name, "c0", history)
    got = await a.retrieve("c0")
    await h.as_stock(name, "c0", got)
    history += h.add(got, t.thank())
    await a.save(got)
    await h.stored(name, "c0", history)
    await h.as_stock(name, "c0", await a.retrieve("c0"))


async def check_other_instance_write(h: Harness) -> None:
    name, a, t = "other_instance_write", h.a, h.talk
    b = h.cached(CACHE_SIZE)
    history = await h.seed(name, "c2", t.session_start() + t.greet())
    tracker = await h.loaded(name, a, "c2")
    await a.save(tracker)  # cached in A
    from_b = await h.loaded(name, b, "c2")
    history += h.add(from_b, t.choose_role())
    await b.save(from_b)
    await h.stored(name, "c2", history)

    before = counters(a)
    from_a = await a.retrieve("c2")
    expect(from_a is not tracker, name, "A served its cached tracker although B had written to the conversation")
    expect_counters(a, name, before, 0, 1, "A's retrieve after B's write")
    expect(dicts(from_a) == dicts(from_b), name, f"A loaded {outline(dicts(from_a))}, B saved {outline(dicts(from_b))}")
    # And back: A writes, B's cached tracker is now stale.
    history += h.add(from_a, t.give_name())
    await a.save(from_a)
    await h.stored(name, "c2", history)
    before = counters(b)
    again_b = await b.retrieve("c2")
    expect(again_b is not from_b, name, "B served its cached tracker although A had written to the conversation")
    expect_counters(b, name, before, 0, 1, "B's retrieve after A's write")
    expect(dicts(again_b) == dicts(from_a), name, "B did not load A's events")
    await h.as_stock(name, "c2", again_b)


async def check_unsaved_not_reused(h: Harness) -> None:
    name, a, t = "unsaved_not_reused", h.a, h.talk
    # A tracker handed out from the cache, changed by a message that fails.
    history = await h.seed(name, "c3", t.session_start() + t.greet())
    tracker = await h.loaded(name, a, "c3")
    await a.save(tracker)
    got = await a.retrieve("c3")
    expect(got is tracker, name, "setup: no cache hit")
    h.add(got, t.choose_role())  # never saved
    before = counters(a)
    again = await a.retrieve("c3")
    expect(again is not got, name, "the tracker of a message that was never saved was handed out again")
    expect_counters(a, name, before, 0, 1, "retrieve after a failed message")
    expect(
        dicts(again) == latest_session(history),
        name,
        f"retrieve gave {outline(dicts(again))}; the database holds {outline(latest_session(history))}",
    )
    history += h.add(again, t.thank())
    await a.save(again)
    await h.stored(name, "c3", history)

    # A new conversation's tracker: get_or_create_tracker saves it (one
    # action_listen) and hands it out; the message then fails.
    created = await a.get_or_create_tracker("c3-new")
    history = dicts(created)
    expect([e["event"] for e in history] == ["action"], name, f"a created tracker holds {outline(history)}")
    h.add(created, t.session_start() + t.greet())  # never saved
    before = counters(a)
    again = await a.retrieve("c3-new")
    expect(again is not created, name, "a created tracker changed by a failed message was handed out again")
    expect_counters(a, name, before, 0, 1, "retrieve after a failed first message")
    expect(dicts(again) == history, name, f"retrieve gave {outline(dicts(again))}; the database holds 1 event")
    await h.stored(name, "c3-new", history)


async def check_concurrent_read(h: Harness) -> None:
    """One retrieve for the message being handled, one for a read meanwhile;
    then the first (c4-first, and c4-new after a first message) or the
    second (c4-second) is changed and saved."""
    name, a, t = "concurrent_read", h.a, h.talk
    for sender_id, saver in (("c4-first", 0), ("c4-second", 1), ("c4-new", 0)):
        if sender_id == "c4-new":
            _, history = await first_message(h, sender_id)
            first = await a.retrieve(sender_id)
            second = await a.retrieve(sender_id)
        else:
            history = await h.seed(name, sender_id, t.session_start() + t.greet())
            tracker = await h.loaded(name, a, sender_id)
            await a.save(tracker)
            before = counters(a)
            first = await a.retrieve(sender_id)
            second = await a.retrieve(sender_id)
            expect(first is tracker, name, "setup: no cache hit")
            expect_counters(a, name, before, 1, 1, f"{sender_id}: two retrieves")
        expect(
            first is not None and second is not None and second is not first,
            name,
            f"{sender_id}: two retrieves before a save shared one object",
        )
        await h.as_stock(name, sender_id, second)
        pair = (first, second)
        changed, other = pair[saver], pair[1 - saver]
        unchanged = dicts(other)
        history += h.add(changed, t.choose_role())
        expect(dicts(other) == unchanged, name, "changing one retrieved tracker changed the other")
        await a.save(changed)
        await h.stored(name, sender_id, history)
        await h.as_stock(name, sender_id, await a.retrieve(sender_id))


async def check_session_restart(h: Harness) -> None:
    name, a, t = "session_restart", h.a, h.talk
    # A cached tracker is handed out; the session has expired, a new one starts.
    history = await h.seed(name, "c5", t.session_start() + t.greet())
    tracker = await h.loaded(name, a, "c5")
    history += h.add(tracker, t.choose_role())
    await a.save(tracker)
    got = await a.retrieve("c5")
    expect(got is tracker, name, "setup: no cache hit")
    history += h.add(got, t.session_start(carried=[("role", "university_student")]) + t.give_name())
    await a.save(got)
    await h.stored(name, "c5", history)
    before = counters(a)
    loaded = await a.retrieve("c5")
    expect(loaded is not got, name, "a tracker spanning two sessions was served from the cache")
    expect_counters(a, name, before, 0, 1, "retrieve after a session restart")
    expect(
        dicts(loaded) == latest_session(history),
        name,
        f"retrieve gave {outline(dicts(loaded))}, the latest session is {outline(latest_session(history))}",
    )
    await h.as_stock(name, "c5", loaded)
    assert loaded is not None
    expect(
        (loaded.get_slot("role"), loaded.get_slot("person_name")) == ("university_student", "王小明"),
        name,
        f"slots after the restart {loaded.current_slot_values()}",
    )
    # The new session goes on: one session again, cached after its save.
    history += h.add(loaded, t.thank())
    await a.save(loaded)
    await h.stored(name, "c5", history)
    before = counters(a)
    expect(await a.retrieve("c5") is loaded, name, "a tracker of one session, saved, was not served from the cache")
    expect_counters(a, name, before, 1, 0, "retrieve in the new session")

    # A tracker never stored, holding two sessions, saved at once.
    events = t.session_start() + t.greet() + t.choose_role()
    events += t.session_start(carried=[("role", "university_student")]) + t.thank()
    two = h.new_tracker(a, "c5-two", events)
    await a.save(two)
    history = dicts(two)
    await h.stored(name, "c5-two", history)
    before = counters(a)
    loaded = await a.retrieve("c5-two")
    expect(loaded is not two, name, "a tracker spanning two sessions was served from the cache")
    expect_counters(a, name, before, 0, 1, "retrieve after saving two sessions")
    expect(
        dicts(loaded) == latest_session(history),
        name,
        f"retrieve gave {outline(dicts(loaded))}, the latest session is {outline(latest_session(history))}",
    )


async def check_cache_size(h: Harness) -> None:
    name, t = "cache_size", h.talk
    off = h.cached(0)
    history = await h.seed(name, "c6-off", t.session_start() + t.greet())
    current: Tracker = None
    for more in (t.choose_role(), t.give_name(), t.thank()):
        got = await off.retrieve("c6-off")
        expect(got is not None and got is not current, name, "cache_size=0: a retrieve was served from memory")
        await h.as_stock(name, "c6-off", got)
        history += h.add(got, more)
        await off.save(got)
        await h.stored(name, "c6-off", history)
        current = got
    expect(counters(off) == (0, 3), name, f"cache_size=0: hits/misses {counters(off)}, expected (0, 3)")

    lru = h.cached(2)
    saved = {}
    for sender_id in ("c6-1", "c6-2", "c6-3"):
        await h.seed(name, sender_id, t.session_start() + t.greet())
        saved[sender_id] = await h.loaded(name, lru, sender_id)
        await lru.save(saved[sender_id])
    oldest = await lru.retrieve("c6-1")
    expect(
        oldest is not None and oldest is not saved["c6-1"],
        name,
        "cache_size=2: the oldest of three conversations was still cached",
    )
    expect(counters(lru) == (0, 4), name, f"cache_size=2: hits/misses {counters(lru)}, expected (0, 4)")
    for sender_id in ("c6-2", "c6-3"):
        expect(
            await lru.retrieve(sender_id) is saved[sender_id],
            name,
            f"cache_size=2: {sender_id}, one of the two newest, was not cached",
        )
    expect(counters(lru) == (2, 4), name, f"cache_size=2: hits/misses {counters(lru)}, expected (2, 4)")


async def check_composite_index(h: Harness) -> None:
    name = "composite_index"
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(h.a.engine).get_indexes("events")}
    expect(indexes.get(COMPOSITE_INDEX) == ["sender_id", "id"], name, f"indexes on events: {indexes}")


async def check_unknown_sender(h: Harness) -> None:
    name, a = "unknown_sender", h.a
    before = counters(a)
    expect(await a.retrieve("nobody-here") is None, name, "retrieve of an unknown sender did not return None")
    expect(await h.stock.retrieve("nobody-here") is None, name, "stock retrieve of an unknown sender not None")
    expect_counters(a, name, before, 0, 1, "retrieve of an unknown sender")
    expect(h.rows("nobody-here") == [], name, "a retrieve wrote rows")


async def check_sqlite_wal(h: Harness) -> None:
    name = "sqlite_wal"
    conn = sqlite3.connect(h.db_kwargs["db"])
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    expect(mode == "wal", name, f"journal_mode is {mode!r}")
    with h.a.engine.connect() as store_conn:
        synchronous = store_conn.execute(sa.text("PRAGMA synchronous")).scalar()
    expect(synchronous == 1, name, f"the store's connections run with synchronous={synchronous}, not 1 (NORMAL)")


async def check_no_full_id_stored(h: Harness) -> None:
    """A message typing an ID number (with its entity), the sealed slot the
    action sets, and a bot message repeating the number: no row holds the
    number, the tracker handed out next is what stock Rasa loads, and the
    slot still opens to the number."""
    name, a, t = "no_full_id_stored", h.a, h.talk
    h_id = "360102201509100137"
    spaced = f"{h_id[:6]} {h_id[6:14]} {h_id[14:]}"
    history = await h.seed(name, "c9", t.session_start() + t.greet())
    tracker = await h.loaded(name, a, "c9")
    events = t.turn(f"身份证号是{spaced}", "inform", "utter_greet", slots=[("id_number", sealing.seal(h_id))])
    user, bot = events[0], events[-2]
    assert isinstance(user, UserUttered) and isinstance(bot, BotUttered)
    user.parse_data["entities"] = [
        {"entity": "id_number", "value": h_id, "start": 5, "end": 5 + len(spaced), "extractor": "RegexEntityExtractor"}
    ]
    user.entities = list(user.parse_data["entities"])
    bot.text = f"身份证号：{h_id}\n请确认"
    history += h.add(tracker, events)
    await a.save(tracker)
    stored = json.dumps(h.rows("c9"), ensure_ascii=False)
    expect(h_id not in stored and spaced not in stored, name, "a full ID number is stored")
    expect(stored.count("3601**********0137") >= 3, name, "the text, the entity and the bot message are not masked")
    got = await a.retrieve("c9")
    expect(got is tracker, name, "the saved tracker was not handed out again")
    await h.as_stock(name, "c9", got)
    assert got is not None
    expect(sealing.unseal(got.get_slot("id_number")) == h_id, name, "the sealed slot does not open to the number")


CHECKS: list[tuple[str, Callable[[Harness], Awaitable[None]]]] = [
    ("save_retrieve_hit", check_save_retrieve_hit),
    ("first_message", check_first_message),
    ("other_instance_write", check_other_instance_write),
    ("unsaved_not_reused", check_unsaved_not_reused),
    ("concurrent_read", check_concurrent_read),
    ("session_restart", check_session_restart),
    ("cache_size", check_cache_size),
    ("composite_index", check_composite_index),
    ("unknown_sender", check_unknown_sender),
    ("no_full_id_stored", check_no_full_id_stored),
]


async def run(backend: str, target: str, host: str, port: int, keep_going: bool) -> dict[str, Any]:
    domain = Domain.load(str(ROOT / "domain.yml"))
    if backend == "sqlite":
        db_kwargs: dict[str, Any] = {"dialect": "sqlite", "db": target}
    else:
        db_kwargs = {"dialect": "postgresql", "host": host, "port": port, "db": target, "username": "postgres"}
    h = Harness(domain, db_kwargs)
    checks = list(CHECKS)
    if backend == "sqlite":
        checks.append(("sqlite_wal", check_sqlite_wal))
    passed: list[str] = []
    failed: list[str] = []
    try:
        for name, check in checks:
            try:
                await check(h)
            except CheckFailed as e:
                if not keep_going:
                    raise
                print(f"FAILED ({backend}): {e}", file=sys.stderr)
                failed.append(name)
            else:
                passed.append(name)
    finally:
        h.dispose()
    result: dict[str, Any] = {"backend": backend, "checks_passed": passed}
    if keep_going:
        result["checks_failed"] = failed
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=("sqlite", "postgresql"))
    parser.add_argument("target", help="SQLite file path, or the name of an empty PostgreSQL database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--keep-going", action="store_true", help="run every check, list the failed ones")
    args = parser.parse_args()
    try:
        result = asyncio.run(run(args.backend, args.target, args.host, args.port, args.keep_going))
    except CheckFailed as e:
        print(f"FAILED ({args.backend}): {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(result))
    if result.get("checks_failed"):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
