"""The backend's own rows about chat conversations, and what becomes of
them when a conversation is deleted (by the retention purge,
backend/privacy/retention.py, or on a person's request, backend/privacy/person_data.py).

A conversation is named by its Rasa sender id (`channel_user`,
`sender_id`). The backend keeps about it:

- `conversation_summaries`, `conversation_tags`: the staff console's index
  and labels. Deleted with the conversation.
- `agent_replies`: support agents' messages to the person. Deleted.
- `tickets` (转人工): deleted on a person's request. The retention purge
  keeps each ticket as a bare record instead (`keep_tickets`): the
  conversation link replaced by `PURGED_SENDER` and the summary (what the
  bot wrote about the chat) cleared, so the support statistics (tickets
  open / assigned / resolved, their reasons and times, the agent who
  handled them) stay right while nothing in the row is about the person.
- `cards.channel_user`: the chat that claimed a card (it may see that card
  again). Cleared: the card stays, it no longer names a deleted chat.

`claim_attempts` are not touched here: their `channel_user` is handled by
the purge's anonymisation of old attempts and by the deletion of a
person's attempts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import AgentReply, Card, ConversationSummary, ConversationTag, Ticket

# What a kept ticket's `channel_user` becomes: no conversation's id (a Rasa
# sender id never has parentheses in the channels we run).
PURGED_SENDER = "(purged)"
CHUNK = 500  # senders a statement


@dataclass
class RowCounts:
    """How many backend rows of the deleted conversations went (or changed)."""

    summaries_deleted: int = 0
    tags_deleted: int = 0
    agent_replies_deleted: int = 0
    tickets_deleted: int = 0
    tickets_pseudonymised: int = 0
    cards_unlinked: int = 0

    def add(self, other: RowCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _count(result: object) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def forget_conversations(session: AsyncSession, senders: Collection[str], *, keep_tickets: bool) -> RowCounts:
    """Delete (or, for tickets with `keep_tickets`, pseudonymise) the
    backend's rows about these conversations, in the caller's transaction."""
    counts = RowCounts()
    ordered = sorted(set(senders) - {PURGED_SENDER})
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        counts.summaries_deleted += _count(
            await session.execute(delete(ConversationSummary).where(ConversationSummary.sender_id.in_(chunk)))
        )
        counts.tags_deleted += _count(
            await session.execute(delete(ConversationTag).where(ConversationTag.sender_id.in_(chunk)))
        )
        counts.agent_replies_deleted += _count(
            await session.execute(delete(AgentReply).where(AgentReply.channel_user.in_(chunk)))
        )
        if keep_tickets:
            counts.tickets_pseudonymised += _count(
                await session.execute(
                    update(Ticket)
                    .where(Ticket.channel_user.in_(chunk))
                    .values(channel_user=PURGED_SENDER, summary=None)
                )
            )
        else:
            counts.tickets_deleted += _count(
                await session.execute(delete(Ticket).where(Ticket.channel_user.in_(chunk)))
            )
        counts.cards_unlinked += _count(
            await session.execute(update(Card).where(Card.channel_user.in_(chunk)).values(channel_user=None))
        )
    return counts
