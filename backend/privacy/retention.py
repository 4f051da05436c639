"""Retention: conversations are deleted once they have been idle longer
than the retention period (`Settings.retention_days`, 180 days unless
BACKEND_RETENTION_DAYS says otherwise; the privacy page states the same
value). `python -m backend purge-conversations [--older-than 180d]` runs
`purge_conversations`; the scaled profile runs it at start and every 24
hours (devstack/supervise.py).

A conversation's last activity is the newest of: its events in Rasa's
tracker store, its summary in the staff console's index, its tickets
(created, updated, resolved) and the agents' replies to it. Staff tags are
no activity of the person's. A conversation idle since before the cut-off
loses:

- its events in the tracker store (every message, slot and action, over
  all its sessions): deleted (backend/conversations/writer.py);
- the backend's rows about it (backend/conversations/rows.py): summary,
  tags and agent replies deleted; its tickets kept as bare records for the
  support statistics (the conversation link replaced by "(purged)", the
  bot's summary cleared: status, reason, times and the agent's username
  remain, none of them about the person); the card it claimed no longer
  names it.

And every claim attempt older than the cut-off is anonymised in place: its
conversation, the keyed hashes and masked forms of the ID numbers, the
masked name and the card number are cleared. What remains (time, action,
path, success, failure code, district, school) is what the campaign
report and the dashboard count, and identifies nobody. The rate limit only
ever looks at the last hour.

Cards and proxy claims stay: they are the service itself (the person's
e-card, a guardian's three slots), kept while the card exists; a person's
request removes them (backend/privacy/person_data.py). The registry tables are the
education department's import and never touched here.

Safe to run repeatedly, and while the services run: a second run finds
nothing to do; a conversation that comes back to life while the purge runs
keeps its events and rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update

from backend.conversations.rows import PURGED_SENDER, RowCounts, forget_conversations
from backend.conversations.writer import TrackerWriter
from backend.db import Database
from backend.models import AgentReply, ClaimAttempt, ConversationSummary, ConversationTag, Ticket, utcnow

CHUNK = 500  # conversations a round
ATTEMPT_BATCH = 5_000  # claim attempts an UPDATE (short write transactions)
_AGE = re.compile(r"([0-9]{1,6})([dh])")
_UNITS = {"d": "days", "h": "hours"}


def parse_age(text: str) -> dt.timedelta:
    """`180d`, `30d`, `12h` -> a positive timedelta (ValueError otherwise)."""
    m = _AGE.fullmatch(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"not a period: {text!r} (a positive number of days or hours, such as 180d or 12h)")
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def retention_period(days: int) -> str:
    """The `--older-than` form of a number of days (the default: Settings.retention_days)."""
    return f"{days}d"


def _epoch(when: dt.datetime) -> float:
    """A stored (naive UTC) time as seconds since the epoch (the tracker store's timestamps)."""
    return when.replace(tzinfo=dt.timezone.utc).timestamp()


@dataclass
class PurgeReport:
    """What a purge did: counts only, never anybody's data."""

    cutoff: dt.datetime
    conversations: int = 0
    tracker_events_deleted: int = 0
    rows: RowCounts = field(default_factory=RowCounts)
    claim_attempts_anonymised: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff_utc": self.cutoff.replace(tzinfo=dt.timezone.utc).isoformat(timespec="seconds"),
            "conversations_deleted": self.conversations,
            "tracker_events_deleted": self.tracker_events_deleted,
            **self.rows.as_dict(),
            "claim_attempts_anonymised": self.claim_attempts_anonymised,
        }


async def _backend_candidates(db: Database, cutoff: dt.datetime) -> set[str]:
    """Conversations the backend has rows of from before the cut-off."""
    found: set[str] = set()
    async with db.reading() as session:
        for stmt in (
            select(ConversationSummary.sender_id).where(ConversationSummary.last_at < cutoff),
            select(Ticket.channel_user).distinct().where(Ticket.created_at < cutoff),
            select(AgentReply.channel_user).distinct().where(AgentReply.created_at < cutoff),
            select(ConversationTag.sender_id).distinct().where(ConversationTag.created_at < cutoff),
        ):
            found.update(await session.scalars(stmt))
    found.discard(PURGED_SENDER)
    return found


async def _backend_active(db: Database, senders: Collection[str], cutoff: dt.datetime) -> set[str]:
    """Those of `senders` with backend activity at or after the cut-off."""
    chunk = list(senders)
    async with db.reading() as session:
        active = set(
            await session.scalars(
                select(Ticket.channel_user)
                .distinct()
                .where(
                    Ticket.channel_user.in_(chunk),
                    or_(Ticket.created_at >= cutoff, Ticket.updated_at >= cutoff, Ticket.resolved_at >= cutoff),
                )
            )
        )
        active.update(
            await session.scalars(
                select(AgentReply.channel_user)
                .distinct()
                .where(AgentReply.channel_user.in_(chunk), AgentReply.created_at >= cutoff)
            )
        )
        active.update(
            await session.scalars(
                select(ConversationSummary.sender_id).where(
                    ConversationSummary.sender_id.in_(chunk), ConversationSummary.last_at >= cutoff
                )
            )
        )
    return active


_PERSONAL_ATTEMPT_COLUMNS = (
    "channel_user",
    "id_hash",
    "id_masked",
    "name_masked",
    "guardian_id_hash",
    "guardian_id_masked",
    "card_number",
)


async def anonymise_attempts(db: Database, cutoff: dt.datetime) -> int:
    """Clear the personal columns of claim attempts older than the cut-off."""
    personal = or_(*(getattr(ClaimAttempt, name).is_not(None) for name in _PERSONAL_ATTEMPT_COLUMNS))
    total = 0
    while True:
        async with db.writing() as session:
            ids = list(
                await session.scalars(
                    select(ClaimAttempt.id)
                    .where(ClaimAttempt.created_at < cutoff, personal)
                    .order_by(ClaimAttempt.id)
                    .limit(ATTEMPT_BATCH)
                )
            )
            if not ids:
                return total
            await session.execute(
                update(ClaimAttempt)
                .where(ClaimAttempt.id.in_(ids))
                .values({name: None for name in _PERSONAL_ATTEMPT_COLUMNS})
            )
        total += len(ids)


async def purge_conversations(
    db: Database, tracker: TrackerWriter, older_than: dt.timedelta, now: dt.datetime | None = None
) -> PurgeReport:
    """Delete the conversations idle for longer than `older_than` (see the
    module's documentation). Raises TrackerWriteError when the tracker
    store cannot be read or written (nothing of the backend's is changed
    for the conversations not yet done; running again finishes them)."""
    report = PurgeReport(cutoff=(now or utcnow()) - older_than)
    cutoff, since = report.cutoff, _epoch(report.cutoff)
    candidates = set(await tracker.idle_senders(since)) | await _backend_candidates(db, cutoff)
    ordered = sorted(candidates)
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        active = await tracker.active_among(chunk, since) | await _backend_active(db, chunk, cutoff)
        idle = [sender for sender in chunk if sender not in active]
        if not idle:
            continue
        report.tracker_events_deleted += await tracker.delete(idle, idle_since=since)
        # A conversation that came back to life meanwhile kept its events: it keeps its rows too.
        back = await tracker.present(idle)
        gone = [sender for sender in idle if sender not in back]
        async with db.writing() as session:
            report.rows.add(await forget_conversations(session, gone, keep_tickets=True))
        report.conversations += len(gone)
    report.claim_attempts_anonymised = await anonymise_attempts(db, cutoff)
    return report
