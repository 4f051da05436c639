"""The card audit after a chat load run: the backend's `cards` table against
what the conversations told the claimants.

For the people the run claimed for: every conversation that said 领卡成功
(or 已经领取) must find exactly one card for its person, with the number the
bot showed; no person may hold two cards, and no card number two people.
"lost" (told, no card), "mismatched" (told another number) and
"duplicated" must all be 0. "silent" counts cards of people whose
conversation did not end in success (a claim that went through while its
answer was lost: not wrong, but worth a look).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from bench.load.conversation import SUCCESS, ConversationRecord
from identity.masking import mask_id


@dataclass(frozen=True)
class ClaimRecord:
    id_number: str
    outcome: str  # a ConversationRecord's outcome
    card_number: str | None = None  # the number the bot showed


@dataclass
class CardAudit:
    people: int = 0  # distinct people claimed for
    told_success: int = 0  # conversations that said 领卡成功 / 已经领取
    cards_found: int = 0  # card rows of these people
    lost: int = 0
    mismatched: int = 0
    duplicated: int = 0  # people with more than one card, card numbers with more than one holder, people claimed twice
    silent: int = 0
    examples: list[str] = field(default_factory=list)  # masked

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.mismatched == 0 and self.duplicated == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def claims_of(conversations: Iterable[ConversationRecord]) -> list[ClaimRecord]:
    return [
        ClaimRecord(c.person.id_number, c.outcome, c.card_number)
        for c in conversations
        if c.kind == "claim" and c.person is not None
    ]


def audit_cards(claims: Sequence[ClaimRecord], cards: Sequence[tuple[str, str]]) -> CardAudit:
    """`cards`: (holder_id_number, card_number) rows of the people claimed for."""
    by_person: dict[str, list[str]] = defaultdict(list)
    holders: dict[str, set[str]] = defaultdict(set)
    for holder, number in cards:
        by_person[holder].append(number)
        holders[number].add(holder)
    audit = CardAudit(people=len({c.id_number for c in claims}), cards_found=len(cards))

    def note(what: str, id_number: str) -> None:
        if len(audit.examples) < 20:
            audit.examples.append(f"{what}: {mask_id(id_number)}")

    times = Counter(c.id_number for c in claims)
    for id_number, n in times.items():
        if n > 1:
            audit.duplicated += 1
            note("claimed in two conversations", id_number)
    for id_number, numbers in by_person.items():
        if len(numbers) > 1:
            audit.duplicated += 1
            note(f"{len(numbers)} cards", id_number)
    for people in holders.values():
        if len(people) > 1:
            audit.duplicated += 1
            note(f"card number held by {len(people)} people", sorted(people)[0])
    for claim in claims:
        numbers = by_person.get(claim.id_number, [])
        if claim.outcome in SUCCESS:
            audit.told_success += 1
            if not numbers:
                audit.lost += 1
                note(f"told {claim.outcome}, no card", claim.id_number)
            elif claim.card_number is not None and claim.card_number not in numbers:
                audit.mismatched += 1
                note("told another card number", claim.id_number)
        elif numbers:
            audit.silent += 1
            note(f"{claim.outcome} conversation, yet a card", claim.id_number)
    return audit


def fetch_cards(database_url: str, id_numbers: Sequence[str]) -> list[tuple[str, str]]:
    """(holder_id_number, card_number) of these people in the backend's
    database (SQLite read-only, or PostgreSQL)."""
    url = make_url(database_url)
    wanted = sorted(set(id_numbers))
    if url.get_backend_name() == "sqlite":
        if not url.database:
            raise ValueError("an SQLite URL with a file, please")
        conn = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        try:
            rows: list[tuple[str, str]] = []
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT holder_id_number, card_number FROM cards WHERE holder_id_number IN ({marks})", chunk
                ).fetchall()
            return rows
        finally:
            conn.close()
    if url.get_backend_name() == "postgresql":
        return asyncio.run(
            _fetch_pg(url.host or "127.0.0.1", url.port or 5432, url.username, url.password, url.database or "", wanted)
        )
    raise ValueError(f"unsupported database: {url.get_backend_name()}")


async def _fetch_pg(
    host: str, port: int, user: str | None, password: str | None, database: str, wanted: list[str]
) -> list[tuple[str, str]]:
    import asyncpg

    conn = await asyncpg.connect(host=host, port=port, user=user, password=password, database=database, timeout=10)
    try:
        records = await conn.fetch(
            "SELECT holder_id_number, card_number FROM cards WHERE holder_id_number = ANY($1::text[])", wanted
        )
        return [(r[0], r[1]) for r in records]
    finally:
        await conn.close()


def audit_run(database_url: str, conversations: Iterable[ConversationRecord]) -> CardAudit:
    claims = claims_of(conversations)
    return audit_cards(claims, fetch_cards(database_url, [c.id_number for c in claims]))
