"""The conversation list's search and filters (Filters), and a conversation's outcome.

The list reads the summary index (backend/conversations/index.py), brought up to
date from the tracker store on each request (a bounded batch). Search `q`
covers: a full ID number (the conversations whose claim attempts or cards
carry it, matched by the keyed hash or the card's holder/guardian), a
learning account number, a ticket number (T + date + id), a conversation's
reference (or the address of its page), and otherwise a substring of the
conversation's id (other channels' ids, known from elsewhere).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, exists, not_, or_, select

from backend.claims.cardnumber import is_valid_card_number
from backend.conversations.index import IN_PROGRESS_MINUTES
from backend.conversations.masking import Masker
from backend.models import Card, ClaimAttempt, ConversationSummary, ConversationTag, Ticket, utcnow
from backend.web.console.refs import conversation_ref, ref_in, sender_of_ref
from backend.web.console.urls import CONVERSATIONS
from contract.beijing import day_start_utc
from contract.failures import FAILURE_CODES, FAILURE_LABELS
from contract.paths import PATHS
from identity import mask_id, normalise_id
from identity.idnumber import ID_SHAPE
from identity.masking import MASKED_ID

MAX_TAG = 32
MAX_QUERY = 256
OUTCOME_LABELS = {
    "issued": "已领卡",
    "failed": "领卡失败",
    "in_progress": "进行中",
    "abandoned": "未完成",
    "inquiry": "仅咨询",
}
# The failures a conversation can end with (the slot failure_reason).
CONVERSATION_FAILURE_LABELS = {code: FAILURE_LABELS[code] for code in FAILURE_CODES}
_HASH = re.compile(r"[0-9a-f]{32}")
_TICKET_NUMBER = re.compile(r"[Tt]([0-9]{8})([0-9]{5,9})")


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclasses.dataclass
class Filters:
    q: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    path: str = ""
    outcome: str = ""
    failure: str = ""
    handed_off: str = ""
    tag: str = ""
    page: int = 1
    id_hash: str = ""  # an ID number search, as the keyed hash (the URL never holds the ID)
    ref_sender: str | None = None  # a search by a conversation's reference: the conversation
    ref: str = ""  # ...and its reference

    @classmethod
    def from_query(cls, query: Mapping[str, str], secret: str = "") -> Filters:
        """Unknown values are ignored (treated as "all")."""

        def pick(name: str, allowed: Any) -> str:
            value = (query.get(name) or "").strip()
            return value if value in allowed else ""

        idh = (query.get("idh") or "").strip()
        try:
            page = max(1, min(int(query.get("page") or 1), 100_000))
        except ValueError:
            page = 1
        q = (query.get("q") or "").strip()[:MAX_QUERY]
        ref_sender = sender_of_ref(secret, ref_in(q)) if secret and q else None
        return cls(
            q=q,
            ref_sender=ref_sender,
            ref=conversation_ref(secret, ref_sender) if ref_sender is not None else "",
            date_from=_date((query.get("from") or "").strip()),
            date_to=_date((query.get("to") or "").strip()),
            path=pick("path", (*PATHS, "none")),
            outcome=pick("outcome", OUTCOME_LABELS),
            failure=pick("failure", CONVERSATION_FAILURE_LABELS),
            handed_off=pick("handed_off", ("yes", "no")),
            tag=(query.get("tag") or "").strip()[:MAX_TAG],
            page=page,
            id_hash=idh if _HASH.fullmatch(idh) else "",
        )

    def params(self, **changes: Any) -> dict[str, str]:
        values = {
            "q": self.q,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "path": self.path,
            "outcome": self.outcome,
            "failure": self.failure,
            "handed_off": self.handed_off,
            "tag": self.tag,
            "page": str(self.page),
            "idh": self.id_hash if self.search_kind() == "id_hash" else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return CONVERSATIONS + ("?" + urlencode(params) if params else "")

    def search_kind(self) -> str:
        """What `q` is: id (a full ID number: redirected to id_hash) |
        id_hash (its masked form, with the hash) | card | ticket | ref (a
        conversation's reference) | sender | "" (none)."""
        if not self.q:
            return ""
        if ID_SHAPE.fullmatch(normalise_id(self.q)):
            return "id"
        if self.id_hash and MASKED_ID.fullmatch(self.q):
            return "id_hash"
        if is_valid_card_number(self.q):
            return "card"
        if _TICKET_NUMBER.fullmatch(self.q):
            return "ticket"
        if self.ref_sender is not None:
            return "ref"
        return "sender"

    def conditions(self, hash_id: Any) -> list[Any]:
        cs = ConversationSummary
        where: list[Any] = []
        if self.date_from:
            where.append(cs.last_at >= day_start_utc(self.date_from))
        if self.date_to:
            where.append(cs.started_at < day_start_utc(self.date_to + dt.timedelta(days=1)))
        if self.path == "none":
            where.append(cs.path.is_(None))
        elif self.path:
            where.append(cs.path == self.path)
        if self.outcome in ("issued", "failed"):
            where.append(cs.outcome == self.outcome)
        elif self.outcome:
            cutoff = utcnow() - dt.timedelta(minutes=IN_PROGRESS_MINUTES)
            where.append(cs.outcome == "open")
            where.append(
                {
                    "inquiry": cs.path.is_(None),
                    "in_progress": and_(cs.path.is_not(None), cs.last_at >= cutoff),
                    "abandoned": and_(cs.path.is_not(None), cs.last_at < cutoff),
                }[self.outcome]
            )
        if self.failure:
            where.append(cs.failure_code == self.failure)
        ticket = exists().where(Ticket.channel_user == cs.sender_id)
        if self.handed_off == "yes":
            where.append(or_(cs.handed_off.is_(True), ticket))
        elif self.handed_off == "no":
            where.append(and_(cs.handed_off.is_(False), not_(ticket)))
        if self.tag:
            where.append(exists().where(ConversationTag.sender_id == cs.sender_id, ConversationTag.tag == self.tag))
        kind = self.search_kind()
        if kind in ("id", "id_hash"):
            # Every claim (issued or not) is logged with the keyed hash of the
            # holder's and the guardian's ID number and the conversation.
            digest = hash_id(normalise_id(self.q)) if kind == "id" else self.id_hash
            where.append(
                cs.sender_id.in_(
                    select(ClaimAttempt.channel_user).where(
                        or_(ClaimAttempt.id_hash == digest, ClaimAttempt.guardian_id_hash == digest)
                    )
                )
            )
        elif kind == "card":
            where.append(
                or_(
                    cs.sender_id.in_(select(Card.channel_user).where(Card.card_number == self.q)),
                    cs.sender_id.in_(select(ClaimAttempt.channel_user).where(ClaimAttempt.card_number == self.q)),
                )
            )
        elif kind == "ticket":
            m = _TICKET_NUMBER.fullmatch(self.q)
            assert m is not None
            where.append(cs.sender_id.in_(select(Ticket.channel_user).where(Ticket.id == int(m.group(2)))))
        elif kind == "ref":
            where.append(cs.sender_id == self.ref_sender)
        elif kind == "sender":
            escaped = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(cs.sender_id.ilike(f"%{escaped}%", escape="\\"))
        return where

    def masked_q(self) -> str:
        """The query as the audit log keeps it."""
        kind = self.search_kind()
        if kind == "id":
            return mask_id(normalise_id(self.q))
        return self.ref if kind == "ref" else Masker().text(self.q)

    def describe(self) -> str:
        """The search and filters as the audit log keeps them, e.g.
        "id: 3601**********1234; path=parent; page=2"."""
        kind = self.search_kind()
        parts = [f"{'id' if kind == 'id_hash' else kind}: {self.masked_q()}"] if kind else []
        for name, value in (
            ("from", self.date_from.isoformat() if self.date_from else ""),
            ("to", self.date_to.isoformat() if self.date_to else ""),
            ("path", self.path),
            ("outcome", self.outcome),
            ("failure", self.failure),
            ("handed_off", self.handed_off),
            ("tag", Masker().text(self.tag) if self.tag else ""),
        ):
            if value:
                parts.append(f"{name}={value}")
        if self.page > 1:
            parts.append(f"page={self.page}")
        return "; ".join(parts)

    def without_id_number(self, hash_id: Any) -> str:
        """The URL of this search with the ID number replaced by its masked
        form and keyed hash (so it stays out of addresses, history, logs)."""
        id_number = normalise_id(self.q)
        masked = dataclasses.replace(self, q=mask_id(id_number), id_hash=hash_id(id_number), page=1)
        return masked.url()


def outcome_of(summary: ConversationSummary, now: dt.datetime | None = None) -> str:
    if summary.outcome in ("issued", "failed"):
        return summary.outcome
    if summary.path is None:
        return "inquiry"
    cutoff = (now or utcnow()) - dt.timedelta(minutes=IN_PROGRESS_MINUTES)
    return "in_progress" if summary.last_at >= cutoff else "abandoned"
