"""The database operations a claim flow asks for (free of I/O).

A flow (rules.py) yields these and receives each one's result, typed as
`Result` says. The runners know how to run each (binding.py holds which
statement of statements.py runs it and how its row becomes the result).

The operations are shaped for few round trips: `Gate`, a claim's first
look-up, brings the rate-limit count together with the person's registry
records and card, and `InsertCard` logs the attempt in the same statement
when the card is new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from backend.claims.records import Attempt, CardValues, Outcome, Person


@dataclass(frozen=True)
class RecentFailures:
    """How many failures the rate limit counts (at most `limit`) this chat,
    or these ID numbers (as holder or as guardian), had since `since`.
    Result: int."""

    channel_user: str
    id_hash: str
    guardian_id_hash: str
    since: dt.datetime
    limit: int


@dataclass(frozen=True)
class Gate:
    """`RecentFailures` and the person of `id_number`, in one round trip.
    Result: GateResult."""

    failures: RecentFailures
    id_number: str


class GateResult(NamedTuple):
    recent: int
    person: Person


@dataclass(frozen=True)
class FindCard:
    """The card of a holder. Result: Optional[CardRec]."""

    holder_id_number: str


@dataclass(frozen=True)
class HasProxyClaim:
    """Whether this guardian already claimed for this child. Result: bool."""

    guardian_id_number: str
    child_id_number: str


@dataclass(frozen=True)
class TakeProxySlot:
    """Take one of a guardian's slots (1..MAX_PROXY_CHILDREN) for a child,
    unless it is taken. Result: bool, whether this call took it."""

    guardian_id_number: str
    slot: int
    child_id_number: str
    created_at: dt.datetime


@dataclass(frozen=True)
class InsertCard:
    """Insert a card unless the holder or the card number has one already;
    a new card is logged with `attempt` in the same statement.
    Result: Optional[CardRec], the new card (None: nothing inserted)."""

    card: CardValues
    attempt: Attempt


@dataclass(frozen=True)
class UpdateCard:
    """New identities, permissions and school of a card. Result: None."""

    id: int
    identities: list[str]
    permissions: list[str]
    district_code: str | None
    school_code: str | None
    school_name: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class LogAttempt:
    """Write an attempt to the claim log. Result: None."""

    attempt: Attempt


Op: TypeAlias = RecentFailures | Gate | FindCard | HasProxyClaim | TakeProxySlot | InsertCard | UpdateCard | LogAttempt
# A flow yields operations, is sent their results, and returns the outcome.
Flow: TypeAlias = Generator[Op, Any, Outcome]
# Writes that a later write of the same flow must accompany: on PostgreSQL
# a transaction starts with the first of them (postgres_runner.py).
OPENS_TRANSACTION = (TakeProxySlot, UpdateCard)
