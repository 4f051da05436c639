"""Tickets per status: the queue's tabs and the dashboard's figures."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Ticket

STATUS_LABELS = {"open": "待处理", "assigned": "处理中", "resolved": "已解决"}


async def ticket_counts(session: AsyncSession) -> dict[str, int]:
    """Tickets per status, and "all"."""
    counts = {status: 0 for status in STATUS_LABELS}
    for status, n in await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)):
        counts[status] = int(n)
    counts["all"] = sum(counts.values())
    return counts
