"""The summary index of conversations, the staff console's list.

Index: `refresh_index` folds events with ids above the highest one already
applied into `ConversationSummary` rows, a bounded batch at a time. Each
summary remembers the id of its newest applied event, so re-reading an
event (the small overlap below, or two refreshes at once) never counts it
twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import func, select, text

from backend.conversations.tracker import TrackerEvent, TrackerStore
from backend.db import Database
from backend.models import ConversationSummary

HANDOFF_ACTION = "action_handoff"
REFRESH_BATCH = 5_000
# Re-read this many events below the highest id applied: on PostgreSQL, a
# transaction that took a lower id can commit after one with a higher id.
REFRESH_OVERLAP = 200
IN_PROGRESS_MINUTES = 30


def new_summary(sender_id: str, first: TrackerEvent) -> ConversationSummary:
    return ConversationSummary(
        sender_id=sender_id,
        started_at=first.when,
        last_at=first.when,
        path=None,
        outcome="open",
        failure_code=None,
        handed_off=False,
        user_messages=0,
        last_event_id=0,
    )


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


def summarise(sender_id: str, events: Sequence[TrackerEvent]) -> ConversationSummary | None:
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


async def refresh_index(
    db: Database, tracker: TrackerStore, batch: int = REFRESH_BATCH, overlap: int = REFRESH_OVERLAP
) -> RefreshResult:
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
                chunk = senders[i : i + 500]
                rows = await session.scalars(
                    select(ConversationSummary).where(ConversationSummary.sender_id.in_(chunk))
                )
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


async def catch_up(db: Database, tracker: TrackerStore, batch: int = REFRESH_BATCH) -> int:
    """Index everything (e.g. from a command after importing an old store)."""
    total = 0
    while True:
        result = await refresh_index(db, tracker, batch)
        total += result.events_applied
        if not result.more:
            return total
