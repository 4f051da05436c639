"""Conversations as Rasa keeps them: reading the SQL tracker store, the
summary index for the staff console's list, masked transcripts, and the
export of a conversation as a Rasa test story.

Tracker store: Rasa 3.6's SQLTrackerStore writes one row per event to the
table `events` (id, sender_id, type_name, timestamp, intent_name,
action_name, data = the event as JSON). `TrackerStore` reads it on its own
engine, never writes (PostgreSQL sessions are read-only; SQLite is opened
with mode=ro), and treats a store that does not exist yet (no file, no
table) as one without conversations.

Index: `refresh_index` folds events with ids above the highest one already
applied into `ConversationSummary` rows, a bounded batch at a time. Each
summary remembers the id of its newest applied event, so re-reading an
event (the small overlap below, or two refreshes at once) never counts it
twice.

Masking (everything a staff member sees): free text by the staff policy of
identity/freetext.py (ID numbers, and any run of 15 to 20 digits, spaced or
not, as `3601**********1234`; phone numbers other than the public hotline),
and names partly (`张*明`). Names are masked
where the conversation tells us they are names: the slots person_name and
guardian_name, the entities of those names, and the channel's verified
identity (metadata `realname`); every occurrence of such a name in any text
of the conversation is masked too. A name typed in a message that never
became one of those cannot be recognised reliably and is shown as typed.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import heapq
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence
from urllib.parse import quote

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from backend.models import AgentReply, ConversationSummary
from identity import mask_id, mask_name, normalise_for_nlu, normalise_id, validate_id
from identity.freetext import ID_LIKE_IN_TEXT, MOBILE, ascii_digits, mask_for_staff, mask_phones
from identity.idnumber import PROVINCE_CODES, check_char
from identity.masking import MASKED_ID_IN_TEXT
from trust.sealing import is_sealed
from trust.sealing import masked as sealed_masked

log = logging.getLogger("backend.transcripts")

HANDOFF_ACTION = "action_handoff"
NAME_SLOTS = frozenset({"person_name", "guardian_name"})
ID_SLOTS = frozenset({"id_number", "guardian_id_number"})
# Keys of metadata (e.g. {"realname": {"name": ..., "id_number": ...}}).
NAME_KEYS = NAME_SLOTS | {"name", "realname_name"}
ID_KEYS = ID_SLOTS | {"id", "idcard", "id_card"}
REFRESH_BATCH = 5_000
# Re-read this many events below the highest id applied: on PostgreSQL, a
# transaction that took a lower id can commit after one with a higher id.
REFRESH_OVERLAP = 200
MAX_TRANSCRIPT_EVENTS = 5_000
IN_PROGRESS_MINUTES = 30

# -- masking --------------------------------------------------------------------------


def _name_spans(value: str, names: Sequence[str]) -> list[tuple[int, int, str]]:
    """Where the known names occur in `value` (compared after the NLU's
    length-keeping normalisation: Traditional characters, full-width)."""
    if not names or not value:
        return []
    normalised = normalise_for_nlu(value)
    taken = [False] * len(value)
    spans: list[tuple[int, int, str]] = []
    for name in names:  # longest first
        start = normalised.find(name)
        while start >= 0:
            end = start + len(name)
            if not any(taken[start:end]):
                spans.append((start, end, name))
                for i in range(start, end):
                    taken[i] = True
            start = normalised.find(name, end)
    return sorted(spans)


def _replace_spans(value: str, spans: Iterable[tuple[int, int, str]], replace: Any) -> str:
    out, pos = [], 0
    for start, end, name in spans:
        out.append(value[pos:start])
        out.append(replace(value[start:end], name))
        pos = end
    out.append(value[pos:])
    return "".join(out)


def _known_name(raw: Any) -> Optional[str]:
    if not isinstance(raw, str):
        return None
    name = normalise_for_nlu(raw.strip())
    return name if len(name) >= 2 else None


class Masker:
    """Masks the texts and values of one conversation for display."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = sorted(set(names), key=len, reverse=True)

    def text(self, value: Any) -> str:
        if value is None:
            return ""
        value = str(value)
        value = _replace_spans(value, _name_spans(value, self.names), lambda original, _n: mask_name(original))
        return mask_for_staff(value)

    def value(self, key: Optional[str], value: Any) -> Any:
        """A slot value, an entity value or metadata, masked (same shape)."""
        if isinstance(value, dict):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(key, v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if is_sealed(value):
            return sealed_masked(value)
        if key in NAME_KEYS and isinstance(value, str):
            return mask_name(value)
        if key in ID_KEYS:
            raw = ascii_digits(str(value)).strip()
            return mask_for_staff(raw) if MOBILE.fullmatch(raw) else mask_id(raw)
        return self.text(value)


def describe(value: Any) -> str:
    """A masked value as short text (never raw JSON)."""
    if value is None:
        return "（空）"
    if value is True:
        return "是"
    if value is False:
        return "否"
    if isinstance(value, dict):
        return "；".join(f"{k}: {describe(v)}" for k, v in value.items()) or "（空）"
    if isinstance(value, list):
        return "、".join(describe(v) for v in value) or "（空）"
    return str(value)


# -- the tracker store ------------------------------------------------------------------

_metadata = MetaData()
EVENTS = Table(
    "events", _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class TrackerUnavailable(Exception):
    """The tracker store could not be read (down, refused, misconfigured)."""


@dataclasses.dataclass(frozen=True)
class TrackerEvent:
    id: int
    sender_id: str
    type_name: str
    timestamp: float
    data: dict[str, Any]

    @property
    def when(self) -> dt.datetime:
        """UTC, naive (as the backend's tables keep times)."""
        return to_utc(self.timestamp)

    @property
    def name(self) -> Optional[str]:
        value = self.data.get("name")
        return value if isinstance(value, str) else None


def to_utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)


def _event(row: Any) -> TrackerEvent:
    try:
        data = json.loads(row.data) if row.data else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    timestamp = row.timestamp if row.timestamp is not None else data.get("timestamp")
    return TrackerEvent(int(row.id), str(row.sender_id), str(row.type_name),
                        float(timestamp) if isinstance(timestamp, (int, float)) else 0.0, data)


def _missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "no such table" in message or ("relation" in message and "does not exist" in message) \
        or type(exc.orig).__name__ == "UndefinedTableError"


class TrackerStore:
    """Read-only access to Rasa's SQL tracker store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.refresh_lock = asyncio.Lock()
        self.sqlite_path: Optional[Path] = None
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError("the tracker store must be a SQLite file or a PostgreSQL database")
            self.sqlite_path = Path(parsed.database)
            ro = f"file:{quote(str(self.sqlite_path.resolve()))}?mode=ro"
            # uri=true: SQLAlchemy passes the database as an SQLite URI (with mode=ro).
            self.engine: AsyncEngine = create_async_engine(
                parsed.set(database=ro, query={"uri": "true"}), connect_args={"timeout": 10},
            )
        else:
            connect_args: dict[str, Any] = {}
            if parsed.get_driver_name() == "asyncpg":
                connect_args = {"server_settings": {"default_transaction_read_only": "on"}, "timeout": 10}
            self.engine = create_async_engine(url, pool_size=3, max_overflow=2, pool_pre_ping=True,
                                              connect_args=connect_args)

    async def close(self) -> None:
        await self.engine.dispose()

    async def _rows(self, stmt: Any) -> list[TrackerEvent]:
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return []  # Rasa has not started yet: no conversations
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        except DBAPIError as exc:
            if _missing_table(exc):
                return []
            log.warning("tracker store unreadable: %s", type(exc.orig).__name__)
            raise TrackerUnavailable(str(type(exc.orig).__name__)) from None
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("tracker store unreachable: %s", type(exc).__name__)
            raise TrackerUnavailable(type(exc).__name__) from None
        return [_event(r) for r in rows]

    async def events_after(self, after_id: int, limit: int) -> list[TrackerEvent]:
        """Events of all conversations with ids above `after_id`, oldest first."""
        c = EVENTS.c
        return await self._rows(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.id > after_id).order_by(c.id).limit(limit)
        )

    async def events_of(self, sender_id: str, limit: int = MAX_TRANSCRIPT_EVENTS) -> list[TrackerEvent]:
        """One conversation's events (all sessions), oldest first."""
        c = EVENTS.c
        return await self._rows(
            select(c.id, c.sender_id, c.type_name, c.timestamp, c.data)
            .where(c.sender_id == sender_id).order_by(c.id).limit(limit)
        )


# -- summaries ----------------------------------------------------------------------------


def new_summary(sender_id: str, first: TrackerEvent) -> ConversationSummary:
    return ConversationSummary(sender_id=sender_id, started_at=first.when, last_at=first.when, path=None,
                               outcome="open", failure_code=None, handed_off=False, user_messages=0,
                               last_event_id=0)


def apply_event(summary: ConversationSummary, event: TrackerEvent) -> None:
    """Fold one event into a summary. Outcome: `issued` once a card number
    was set (wins over failures), else `failed` once a failure code was set,
    else `open` (shown as in progress or abandoned by its last activity)."""
    when = event.when
    if when < summary.started_at:
        summary.started_at = when
    if when > summary.last_at:
        summary.last_at = when
    summary.last_event_id = event.id
    if event.type_name == "user":
        summary.user_messages = (summary.user_messages or 0) + 1
    elif event.type_name == "slot":
        value = event.data.get("value")
        if event.name == "role" and isinstance(value, str) and value:
            summary.path = value[:32]
        elif event.name == "card_number" and value:
            summary.outcome = "issued"
        elif event.name == "failure_reason" and isinstance(value, str) and value:
            summary.failure_code = value[:32]
            if summary.outcome != "issued":
                summary.outcome = "failed"
    elif event.type_name == "action" and event.name == HANDOFF_ACTION:
        summary.handed_off = True


def summarise(sender_id: str, events: Sequence[TrackerEvent]) -> Optional[ConversationSummary]:
    """The summary of one conversation from its events (not stored)."""
    if not events:
        return None
    summary = new_summary(sender_id, events[0])
    for event in events:
        apply_event(summary, event)
    return summary


@dataclasses.dataclass
class RefreshResult:
    events_read: int = 0
    events_applied: int = 0
    conversations: int = 0
    more: bool = False  # the batch was full: more events are waiting


_PG_LOCK_KEY = 0x78786863  # pg_advisory_xact_lock key of the index ("xxhc")


async def refresh_index(db: Any, tracker: TrackerStore, batch: int = REFRESH_BATCH,
                        overlap: int = REFRESH_OVERLAP) -> RefreshResult:
    """Apply the tracker events not indexed yet (at most `batch`) to the
    summaries. Raises TrackerUnavailable when the store cannot be read."""
    async with tracker.refresh_lock:  # one refresh at a time in this process (others would redo its work)
        async with db.reading() as session:
            highest = await session.scalar(select(func.max(ConversationSummary.last_event_id)))
        # Ids are global, so the overlap holds at most `overlap` events: each
        # refresh reads at least `batch` new ones when there are.
        limit = batch + overlap
        events = await tracker.events_after(max(0, (highest or 0) - overlap), limit)
        result = RefreshResult(events_read=len(events), more=len(events) >= limit)
        if not events:
            return result
        by_sender: dict[str, list[TrackerEvent]] = {}
        for event in events:
            by_sender.setdefault(event.sender_id, []).append(event)
        senders = list(by_sender)
        async with db.writing() as session:
            if db.dialect == "postgresql":  # and one across processes (SQLite: BEGIN IMMEDIATE)
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            known: dict[str, ConversationSummary] = {}
            for i in range(0, len(senders), 500):
                chunk = senders[i:i + 500]
                rows = await session.scalars(select(ConversationSummary).where(ConversationSummary.sender_id.in_(chunk)))
                known.update({row.sender_id: row for row in rows})
            for sender, sender_events in by_sender.items():
                summary = known.get(sender)
                fresh = [e for e in sender_events if summary is None or e.id > summary.last_event_id]
                if not fresh:
                    continue
                if summary is None:
                    summary = new_summary(sender[:255], fresh[0])
                    session.add(summary)
                for event in fresh:
                    apply_event(summary, event)
                result.events_applied += len(fresh)
                result.conversations += 1
        return result


async def catch_up(db: Any, tracker: TrackerStore, batch: int = REFRESH_BATCH) -> int:
    """Index everything (e.g. from a command after importing an old store)."""
    total = 0
    while True:
        result = await refresh_index(db, tracker, batch)
        total += result.events_applied
        if not result.more:
            return total


# -- button payloads ------------------------------------------------------------------------

_PAYLOAD = re.compile(r"^/([^{@\s]+)(?:@[0-9.]+)?(\{.*\})?\s*$", re.DOTALL)


def parse_payload(value: Any) -> Optional[tuple[str, dict[str, Any]]]:
    """`/choose_role{"role": "parent"}` -> ("choose_role", {"role": "parent"})."""
    if not isinstance(value, str):
        return None
    m = _PAYLOAD.match(value.strip())
    if not m:
        return None
    entities: dict[str, Any] = {}
    if m.group(2):
        try:
            parsed = json.loads(m.group(2))
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        entities = parsed
    return m.group(1), entities


# -- transcripts -----------------------------------------------------------------------------


def known_names(events: Iterable[TrackerEvent]) -> set[str]:
    """Names the conversation itself identifies as names (see the module doc)."""
    names: set[str] = set()

    def from_metadata(meta: Any) -> None:
        if isinstance(meta, dict):
            for key, value in meta.items():
                if key in NAME_KEYS and (name := _known_name(value)):
                    names.add(name)
                else:
                    from_metadata(value)
        elif isinstance(meta, list):
            for value in meta:
                from_metadata(value)

    for event in events:
        if event.type_name == "slot":
            if event.name in NAME_SLOTS and (name := _known_name(event.data.get("value"))):
                names.add(name)
            elif isinstance(event.data.get("value"), (dict, list)):
                from_metadata(event.data.get("value"))
        elif event.type_name == "user":
            from_metadata(event.data.get("metadata"))
            text_value = event.data.get("text") if isinstance(event.data.get("text"), str) else ""
            for entity in _entities(event):
                if entity.get("entity") in NAME_SLOTS:
                    for raw in (entity.get("value"), _span(text_value, entity)):
                        if name := _known_name(raw):
                            names.add(name)
    return names


def _entities(event: TrackerEvent) -> list[dict[str, Any]]:
    parse = event.data.get("parse_data")
    entities = parse.get("entities") if isinstance(parse, dict) else None
    return [e for e in entities if isinstance(e, dict)] if isinstance(entities, list) else []


def _span(value: str, entity: dict[str, Any]) -> Optional[str]:
    start, end = entity.get("start"), entity.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(value):
        return value[start:end]
    return None


def _intent(event: TrackerEvent) -> tuple[Optional[str], Optional[float]]:
    parse = event.data.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, dict) else None
    if not isinstance(intent, dict):
        return None, None
    name = intent.get("name") if isinstance(intent.get("name"), str) else None
    confidence = intent.get("confidence")
    return name, float(confidence) if isinstance(confidence, (int, float)) else None


@dataclasses.dataclass
class Button:
    title: str
    payload: str
    pressed: bool = False


@dataclasses.dataclass
class Turn:
    """One line of a transcript, masked."""

    kind: str  # user | bot | action | slot | loop | event | agent
    when: dt.datetime
    text: str = ""
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    buttons: list[Button] = dataclasses.field(default_factory=list)
    pressed: Optional[str] = None  # user turns that are button presses: the button's title
    is_payload: bool = False
    name: str = ""  # action, slot or loop name; agent username
    value: str = ""  # slot value
    detail: str = ""  # channel, verified identity, policy...
    event_id: Optional[int] = None


_EVENT_NOTES = {
    "session_started": "新会话开始",
    "restart": "对话已重置",
    "rewind": "撤回了上一条用户消息（不计入对话状态）",
    "undo": "撤销了上一个动作",
    "reset_slots": "清空了所有槽位",
    "pause": "对话暂停",
    "resume": "对话恢复",
    "followup": "后续动作",
    "reminder": "设置提醒",
    "cancel_reminder": "取消提醒",
    "action_execution_rejected": "动作被拒绝",
    "loop_interrupted": "表单被打断",
    "export": "导出",
    "agent": "代理消息",
}
_RASA_METADATA = {"model_id", "assistant_id"}  # added by Rasa to every event
_HIDDEN_EVENTS = {"user_featurization", "entities", "form_validation"}
_HIDDEN_ACTIONS = {"action_listen"}


def _same_payload(a: Any, b: Any) -> bool:
    pa, pb = parse_payload(a), parse_payload(b)
    if pa and pb:
        return pa == pb
    return isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip()


def build_transcript(events: Sequence[TrackerEvent], replies: Sequence[AgentReply] = ()) -> list[Turn]:
    """The conversation's events (and agents' replies, by time) as masked
    turns: messages, buttons offered and pressed, slots, actions."""
    masker = Masker(known_names(events))
    turns: list[Turn] = []
    offered: list[tuple[Button, Any]] = []  # buttons of the bot messages since the last user message
    for event in events:
        t, d = event.type_name, event.data
        if t == "user":
            raw = d.get("text") if isinstance(d.get("text"), str) else ""
            intent, confidence = _intent(event)
            turn = Turn("user", event.when, text=masker.text(raw), intent=intent, confidence=confidence,
                        event_id=event.id)
            if parse_payload(raw):
                turn.is_payload = True
                for button, payload in reversed(offered):
                    if _same_payload(payload, raw):
                        button.pressed = True
                        turn.pressed = button.title
                        break
            for e in _entities(event):
                shown = (str(e.get("entity")), describe(masker.value(str(e.get("entity")), e.get("value"))))
                if shown not in turn.entities:  # two extractors may find the same entity
                    turn.entities.append(shown)
            details = []
            if isinstance(d.get("input_channel"), str):
                details.append(f"渠道 {d['input_channel']}")
            meta = d.get("metadata")
            meta = {k: v for k, v in meta.items() if k not in _RASA_METADATA} if isinstance(meta, dict) else None
            if meta:
                details.append("元数据 " + describe(masker.value(None, meta)))
            turn.detail = "；".join(details)
            turns.append(turn)
            offered = []
        elif t == "bot":
            data = d.get("data") if isinstance(d.get("data"), dict) else {}
            turn = Turn("bot", event.when, text=masker.text(d.get("text")), event_id=event.id)
            for raw_button in (data.get("buttons") or []) + (data.get("quick_replies") or []):
                if isinstance(raw_button, dict):
                    button = Button(masker.text(raw_button.get("title")), masker.text(raw_button.get("payload")))
                    turn.buttons.append(button)
                    offered.append((button, raw_button.get("payload")))
            if turn.text or turn.buttons:
                turns.append(turn)
        elif t == "action":
            if event.name in _HIDDEN_ACTIONS:
                continue
            policy = d.get("policy") if isinstance(d.get("policy"), str) else ""
            confidence = d.get("confidence")
            detail = policy.rsplit(".", 1)[-1] if policy else ""
            if isinstance(confidence, (int, float)) and detail:
                detail += f" {confidence:.2f}"
            turns.append(Turn("action", event.when, name=event.name or "?", detail=detail, event_id=event.id))
        elif t == "slot":
            name = event.name or "?"
            turns.append(Turn("slot", event.when, name=name, value=describe(masker.value(name, d.get("value"))),
                              event_id=event.id))
        elif t == "active_loop":
            turns.append(Turn("loop", event.when, name=event.name or "", event_id=event.id))
        elif t in _HIDDEN_EVENTS:
            continue
        else:
            note = _EVENT_NOTES.get(t, t)
            if t == "action_execution_rejected" and event.name:
                note += f"：{event.name}"
            turns.append(Turn("event", event.when, text=note, event_id=event.id))
    agent_turns = [Turn("agent", r.created_at, text=masker.text(r.text), name=r.staff_username,
                        detail=f"工单 {r.ticket_id}" if r.ticket_id else "") for r in replies]
    return list(heapq.merge(turns, sorted(agent_turns, key=lambda x: x.when), key=lambda x: x.when))


# -- export as a test story -------------------------------------------------------------------

PLACEHOLDER_NAMES = {
    2: ["张三", "李四", "王五", "赵六", "钱七", "孙八"],
    3: ["张小三", "李小四", "王小五", "赵小六", "钱小七", "孙小八"],
    4: ["欧阳小明", "司马小红", "诸葛小华", "上官小丽"],
}


class Pseudonymiser:
    """Replaces the personal data of one conversation for a test story:
    each distinct ID number by a fictional one of the same kind (valid ones
    by valid ones with the same province, birth year and sex; a wrong
    check character stays wrong; other lengths stay the same length), each
    known name by a placeholder name of its length, phone numbers masked.
    The same input always gets the same replacement within the story."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = sorted(set(names), key=len, reverse=True)
        self.ids: dict[str, str] = {}
        self.placeholders: dict[str, str] = {}

    def name(self, raw: str) -> str:
        key = normalise_for_nlu(raw.strip())
        if key not in self.placeholders:
            length = min(max(len(key.replace("·", "")), 2), 4)
            pool = PLACEHOLDER_NAMES[length]
            used = sum(1 for v in self.placeholders.values() if v in pool or v[:-1] in pool)
            self.placeholders[key] = pool[used % len(pool)] + ("" if used < len(pool) else "甲")
        return self.placeholders[key]

    def id_number(self, raw: str) -> str:
        value = raw if "*" in raw else normalise_id(raw)  # as stored (3601**********1234) or typed
        if value not in self.ids:
            self.ids[value] = fictional_id(value, len(self.ids))
        return self.ids[value]

    def text(self, value: Any) -> str:
        value = "" if value is None else ascii_digits(str(value))
        value = _replace_spans(value, _name_spans(value, self.names), lambda _o, name: self.name(name))
        value = MASKED_ID_IN_TEXT.sub(lambda m: self.id_number(m.group(0)), value)
        return mask_phones(ID_LIKE_IN_TEXT.sub(lambda m: self.id_number(m.group(0)), value))

    def value(self, key: Optional[str], value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(key, v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if is_sealed(value):  # the number the stored texts show masked: the same fictional one
            return self.id_number(sealed_masked(value))
        if key in NAME_KEYS and isinstance(value, str):
            return self.name(value)
        if key in ID_KEYS and (ID_LIKE_IN_TEXT.fullmatch(ascii_digits(str(value)).strip())
                               or MASKED_ID_IN_TEXT.fullmatch(str(value))):
            return self.id_number(str(value))
        if isinstance(value, (int, float)):
            return value if len(str(value)) < 15 else self.text(value)
        return self.text(value)


def fictional_id(real: str, index: int) -> str:
    """A fictional ID number standing in for `real` (see Pseudonymiser)."""
    province = real[:2] if real[:2] in PROVINCE_CODES else "36"
    year = real[6:10] if len(real) >= 10 and real[6:10].isdigit() and "1900" <= real[6:10] <= "2099" else "2000"
    male = len(real) >= 17 and real[16].isdigit() and int(real[16]) % 2 == 1
    seq = 900 + (2 * index) % 100 + (1 if male else 0)
    body = f"{province}0102{year}0101{seq:03d}"
    good = body + check_char(body)
    if len(real) != 18:
        return (good + "0" * len(real))[:len(real)]
    if validate_id(real).problem == "checksum":
        return body + "10X98765432"[("10X98765432".index(good[-1]) + 1) % 11]
    return good


def _q(value: Any) -> str:
    """A YAML scalar: JSON is valid YAML (double-quoted strings, numbers,
    true/false/null, flow mappings and sequences)."""
    return json.dumps(value, ensure_ascii=False)


def _key(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else _q(value)


def _annotated(raw: str, entities: list[dict[str, Any]], pseudo: Pseudonymiser) -> str:
    """The user's text with its entities in Rasa's markup, pseudonymised:
    `我叫[张三](person_name)`, `[初中生]{"entity": "role", "value": "k12_student"}`."""
    names = _name_spans(raw, pseudo.names)
    spans = []
    for e in sorted(entities, key=lambda e: (e.get("start") or 0, -(e.get("end") or 0))):
        piece = _span(raw, e)
        if piece is None or not isinstance(e.get("entity"), str):
            continue
        if spans and e["start"] < spans[-1][1]:
            continue  # overlapping or duplicate (two extractors)
        if any(s < e["end"] and e["start"] < end and (s, end) != (e["start"], e["end"]) for s, end, _ in names):
            continue  # part of a name (e.g. 公众 in 黄公众): the name is replaced as a whole
        spans.append((e["start"], e["end"], e))
    out, pos = [], 0
    for start, end, e in spans:
        out.append(pseudo.text(raw[pos:start]))
        name = e["entity"]
        piece = pseudo.value(name, raw[start:end]) if name in NAME_SLOTS | ID_SLOTS else pseudo.text(raw[start:end])
        value = pseudo.value(name, e.get("value"))
        if isinstance(value, str) and value == piece and not e.get("role") and not e.get("group"):
            out.append(f"[{piece}]({name})")
        else:
            spec = {"entity": name, "value": value}
            for extra in ("role", "group"):
                if isinstance(e.get(extra), str):
                    spec[extra] = e[extra]
            out.append(f"[{piece}]{_q(spec)}")
        pos = end
    out.append(pseudo.text(raw[pos:]))
    return "".join(out)


def _applied(events: Sequence[TrackerEvent]) -> list[Any]:
    """The events that shaped the conversation, as Rasa applies them: a
    rewind takes back the last user message (and the listen before it), an
    undo the last action; what was taken back is kept as a comment.
    Session starts (and the slots carried over) are left out; the
    conversation goes on across sessions."""
    applied: list[Any] = []
    in_session_start = False

    def undo_till(kind: str) -> Optional[TrackerEvent]:
        while applied:
            item = applied.pop()
            if isinstance(item, TrackerEvent) and item.type_name == kind:
                return item
        return None

    for event in events:
        t = event.type_name
        if t == "action" and event.name == "action_session_start":
            in_session_start = True
            continue
        if in_session_start:
            if t == "action" and event.name == "action_listen":
                in_session_start = False
            continue
        if t == "rewind":
            user = undo_till("user")
            undo_till("action")
            if user is not None:
                intent, _ = _intent(user)
                applied.append(("comment", user, intent))
        elif t == "undo":
            undo_till("action")
        else:
            applied.append(event)
    return applied


def export_story(sender_id: str, events: Sequence[TrackerEvent], tags: Sequence[str] = ()) -> str:
    """The conversation as a Rasa 3.x test story (YAML), pseudonymised."""
    names = known_names(events)
    pseudo = Pseudonymiser(names)
    masker = Masker(names)
    title = f"会话 {masker.text(sender_id)}" + (f"（{'、'.join(tags)}）" if tags else "")
    lines = [
        'version: "3.1"',
        "",
        "# Exported from the staff console as a regression test story. Personal",
        "# data is replaced: ID numbers by fictional ones (same province, birth",
        "# year and sex; valid stays valid), names by placeholders, phone numbers",
        "# masked. Move it to tests/stories/test_*.yml and check the steps.",
        "",
        "stories:",
        f"  - story: {_q(title)}",
        "    steps:",
    ]
    steps = 0
    for item in _applied(events):
        if isinstance(item, tuple):
            _, user, intent = item
            said = pseudo.text(user.data.get("text")).replace("\n", " ")
            lines.append(f"      # taken back by the bot: {_q(said)} (intent {intent or '?'})")
            continue
        event: TrackerEvent = item
        t, d = event.type_name, event.data
        if t == "user":
            raw = d.get("text") if isinstance(d.get("text"), str) else ""
            intent, _ = _intent(event)
            payload = parse_payload(raw)
            if payload:
                name, entities = payload
                lines.append(f"      - intent: {_key(name)}")
                if entities:
                    lines.append("        entities:")
                    for key, value in entities.items():
                        lines.append(f"          - {_key(str(key))}: {_q(pseudo.value(str(key), value))}")
            else:
                said = _annotated(raw, _entities(event), pseudo)
                if said and "\n" not in said and said == said.strip() and said.isprintable() \
                        and not said.startswith(("#", "'", '"')):
                    lines.append("      - user: |")
                    lines.append(f"          {said}")
                else:
                    lines.append(f"      - user: {_q(said)}")
                lines.append(f"        intent: {_key(intent or 'nlu_fallback')}")
            steps += 1
        elif t == "action":
            if event.name and event.name not in ("action_listen", "action_session_start"):
                lines.append(f"      - action: {_key(event.name)}")
                steps += 1
        elif t == "slot":
            if event.name and event.name != "session_started_metadata":
                lines.append("      - slot_was_set:")
                lines.append(f"          - {_key(event.name)}: {_q(pseudo.value(event.name, d.get('value')))}")
                steps += 1
        elif t == "active_loop":
            lines.append(f"      - active_loop: {_key(event.name) if event.name else 'null'}")
            steps += 1
    if not steps:
        lines[-1] = "    steps: []"
    return "\n".join(lines) + "\n"
