"""The claim log: keyed hashes of ID numbers, the rate-limit settings, and
look-ups of the latest attempts for the assistant. (The attempts are
written, and the limit applied, by the claim flows.)"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ClaimAttempt


class IdHasher:
    """Keyed hash of a normalised ID number: lets the log be searched by ID
    without storing it."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def __call__(self, id_number: str) -> str:
        return hmac.new(self._key, id_number.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class RateLimit:
    failures: int = 5
    window_seconds: int = 3600


def attempt_view(row: ClaimAttempt) -> dict[str, Any]:
    return {
        "time": row.created_at.replace(tzinfo=dt.timezone.utc).isoformat(),
        "action": row.action,
        "path": row.path,
        "success": row.success,
        "failure_code": row.failure_code,
        "id_masked": row.id_masked,
        "name_masked": row.name_masked,
        "guardian_id_masked": row.guardian_id_masked,
        "card_number": row.card_number,
    }


async def latest_attempts(
    session: AsyncSession,
    *,
    channel_user: str | None = None,
    id_hash: str | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    who = []
    if channel_user:
        who.append(ClaimAttempt.channel_user == channel_user)
    if id_hash:
        who += [ClaimAttempt.id_hash == id_hash, ClaimAttempt.guardian_id_hash == id_hash]
    if not who:
        return []
    rows = await session.scalars(
        select(ClaimAttempt)
        .where(or_(*who))
        .order_by(ClaimAttempt.created_at.desc(), ClaimAttempt.id.desc())
        .limit(limit)
    )
    return [attempt_view(r) for r in rows]
