"""Tickets per status: the queue's tabs and the dashboard's figures."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Ticket
from contract.staff import TICKET_STATUS_LABELS


async def ticket_counts(session: AsyncSession) -> dict[str, int]:
    """Tickets per status, and "all"."""
    counts = {status: 0 for status in TICKET_STATUS_LABELS}
    for status, n in await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)):
        counts[status] = int(n)
    counts["all"] = sum(counts.values())
    return counts
