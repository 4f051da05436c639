"""The claim service, what the API calls: validates and masks the input,
then runs a flow of rules.py through the runner of the database (runner.py).
It owns the runner: `close` closes it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.claims.attempts import IdHasher, RateLimit
from backend.claims.records import ClaimRequest, Outcome, card_view
from backend.claims.rules import claim_flow, new_attempt, refresh_flow
from backend.claims.runner import make_runner
from backend.db import Database
from backend.models import Card, utcnow
from contract.paths import PARENT
from identity import validate_id

__all__ = ["ClaimRequest", "ClaimService", "Outcome", "card_for", "card_view"]


async def card_for(session: AsyncSession, id_number: str) -> Card | None:
    return (await session.scalars(select(Card).where(Card.holder_id_number == id_number))).one_or_none()


class ClaimService:
    def __init__(self, db: Database, hasher: IdHasher, limit: RateLimit) -> None:
        self.db = db
        self.hash_id = hasher
        self.limit = limit
        self.runner = make_runner(db.url, db.pool_size)

    async def close(self) -> None:
        await self.runner.close()

    def _window(self, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(seconds=self.limit.window_seconds)

    async def claim(self, req: ClaimRequest, *, issue: bool = True) -> Outcome:
        """Match the identity against the registries and, with `issue`,
        issue the card (idempotently)."""
        holder = validate_id(req.id_number)
        guardian = validate_id(req.guardian_id_number or "") if req.path == PARENT else None
        now = utcnow()
        attempt = new_attempt(
            self.hash_id, "claim" if issue else "match", req.path, req.channel_user, holder, req.name, guardian, now
        )
        flow = claim_flow(
            req,
            holder,
            guardian,
            attempt,
            issue=issue,
            limit_failures=self.limit.failures,
            since=self._window(now),
            now=now,
        )
        return await self.runner.run(flow)

    async def refresh(self, name: str, id_number: str, channel_user: str | None) -> Outcome:
        """更新身份: re-match a card holder and update identities and permissions."""
        holder = validate_id(id_number)
        now = utcnow()
        attempt = new_attempt(self.hash_id, "refresh", None, channel_user, holder, name, None, now)
        flow = refresh_flow(name, holder, attempt, limit_failures=self.limit.failures, since=self._window(now), now=now)
        return await self.runner.run(flow)
