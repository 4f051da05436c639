"""One person's data, on their request (查阅、复制、删除): everything the
service holds about an ID number, as a JSON copy for that person, and its
deletion. Used by `python -m backend person-data export|delete` and the
staff console's admin page /staff/person-data (backend/web/console/person_data.py);
each run is audited with the masked ID number.

What is linked to a person (by ID number `I`, and the keyed hash of I that
the claim log keeps instead of the number):

- registry: the `students` / `teachers` row of I, and the students whose
  recorded guardian 1 or 2 is I. These rows belong to the education
  department's registry import: shown in the copy, never deleted here (a
  correction or removal goes through the school and the registry, and the
  next import would bring them back);
- the card held by I; the cards I claimed for children as their guardian;
- proxy claims with I as the guardian or as the child;
- claim attempts naming I as the card holder or as the guardian;
- conversations: those that claimed I's card or a card for I's children,
  and those in which a claim attempt named I (the chat's channel user);
  with them their tickets and the agents' replies.

The copy shows I in full (it is the person's own copy), their own name as
recorded, their card in full. Everyone else in it is masked: children and
guardians named in records (a parent asks for a child's copy with the
child's ID number), and in the conversations every ID number other than I,
phone numbers and names other than the person's own (a conversation is
linked when somebody typed I into it, who may be somebody else).

Deletion removes the card, the proxy claims, the claim attempts, the linked
conversations (their events in the tracker store, summaries, tags,
tickets, agent replies: backend/conversations/rows.py) and the person's
link on the cards they claimed for children (those cards are the
children's and stay). The tracker store is cleared first: if it cannot be
written nothing else is deleted, and running again finishes the job.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, update

from backend.claims.attempts import IdHasher, attempt_view
from backend.conversations.events import known_names
from backend.conversations.masking import Masker
from backend.conversations.rows import PURGED_SENDER, forget_conversations
from backend.conversations.tracker import MAX_TRANSCRIPT_EVENTS, TrackerEvent, TrackerStore
from backend.conversations.writer import TrackerWriter
from backend.db import Database
from backend.models import AgentReply, Card, ClaimAttempt, ProxyClaim, Student, Teacher, Ticket
from identity import mask_id, mask_name, normalise_for_nlu

REGISTRY_NOTE = (
    "学籍库、教师库中的记录由教育主管部门导入，本服务不删除；如需更正或删除，"
    "请联系所在学校，由学校在学籍系统或教师管理系统中处理。"
)
REGISTRY_NOTE_EN = (
    "registry records (students, teachers) belong to the education department's registry "
    "import and are not deleted here: corrections go through the school and the registry"
)


def _iso(when: dt.datetime | None) -> str | None:
    return when.replace(tzinfo=dt.timezone.utc).isoformat(timespec="seconds") if when else None


def _masked_id(value: str | None) -> str | None:
    return mask_id(value) if value else None


def _masked_name(value: str | None) -> str | None:
    return mask_name(value) if value else None


@dataclass
class PersonRecords:
    """Everything linked to one ID number (see the module's documentation)."""

    id_number: str
    id_hash: str
    student: Student | None = None
    teacher: Teacher | None = None
    guardian_of: list[Student] = field(default_factory=list)
    card: Card | None = None
    children_cards: list[Card] = field(default_factory=list)
    proxy_as_guardian: list[ProxyClaim] = field(default_factory=list)
    proxy_as_child: list[ProxyClaim] = field(default_factory=list)
    attempts: list[ClaimAttempt] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    replies: list[AgentReply] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return any(
            (
                self.student,
                self.teacher,
                self.guardian_of,
                self.card,
                self.children_cards,
                self.proxy_as_guardian,
                self.proxy_as_child,
                self.attempts,
                self.conversations,
            )
        )

    def own_names(self) -> set[str]:
        names = {r.name for r in (self.student, self.teacher) if r is not None}
        if self.card is not None:
            names.add(self.card.holder_name)
        for child in self.guardian_of:
            for slot in (1, 2):
                if getattr(child, f"guardian{slot}_id_number") == self.id_number:
                    names.add(getattr(child, f"guardian{slot}_name") or "")
        return {n for n in names if n}

    def counts(self) -> dict[str, int]:
        """What the records hold, as counts (for the audit log and the console)."""
        return {
            "registry_records": int(self.student is not None) + int(self.teacher is not None),
            "guardian_of": len(self.guardian_of),
            "card": int(self.card is not None),
            "children_cards": len(self.children_cards),
            "proxy_claims": len(self.proxy_as_guardian) + len(self.proxy_as_child),
            "claim_attempts": len(self.attempts),
            "conversations": len(self.conversations),
            "tickets": len(self.tickets),
            "agent_replies": len(self.replies),
        }


async def gather(db: Database, hasher: IdHasher, id_number: str) -> PersonRecords:
    """The records of a (normalised, valid) ID number."""
    records = PersonRecords(id_number, hasher(id_number))
    async with db.reading() as session:
        records.student = await session.get(Student, id_number)
        records.teacher = await session.get(Teacher, id_number)
        records.guardian_of = list(
            await session.scalars(
                select(Student)
                .where(or_(Student.guardian1_id_number == id_number, Student.guardian2_id_number == id_number))
                .order_by(Student.id_number)
            )
        )
        records.card = (await session.scalars(select(Card).where(Card.holder_id_number == id_number))).first()
        records.children_cards = list(
            await session.scalars(select(Card).where(Card.claimed_by_guardian_id == id_number).order_by(Card.id))
        )
        records.proxy_as_guardian = list(
            await session.scalars(
                select(ProxyClaim).where(ProxyClaim.guardian_id_number == id_number).order_by(ProxyClaim.slot)
            )
        )
        records.proxy_as_child = list(
            await session.scalars(
                select(ProxyClaim).where(ProxyClaim.child_id_number == id_number).order_by(ProxyClaim.created_at)
            )
        )
        records.attempts = list(
            await session.scalars(
                select(ClaimAttempt)
                .where(or_(ClaimAttempt.id_hash == records.id_hash, ClaimAttempt.guardian_id_hash == records.id_hash))
                .order_by(ClaimAttempt.created_at, ClaimAttempt.id)
            )
        )
        senders = {c.channel_user for c in [records.card, *records.children_cards] if c is not None}
        senders.update(a.channel_user for a in records.attempts)
        senders.discard(None)
        senders.discard(PURGED_SENDER)
        records.conversations = sorted(s for s in senders if s)
        if records.conversations:
            records.tickets = list(
                await session.scalars(
                    select(Ticket).where(Ticket.channel_user.in_(records.conversations)).order_by(Ticket.id)
                )
            )
            records.replies = list(
                await session.scalars(
                    select(AgentReply).where(AgentReply.channel_user.in_(records.conversations)).order_by(AgentReply.id)
                )
            )
    return records


# -- the copy ----------------------------------------------------------------------------------


class OwnCopyMasker:
    """Masks a conversation's texts for the person's own copy: their own ID
    number and names stay, every other ID number, phone number and name
    the conversation identifies is masked (conversations.masking.Masker)."""

    def __init__(self, id_number: str, own_names: Iterable[str], events: Iterable[TrackerEvent]) -> None:
        own = {normalise_for_nlu(n) for n in own_names}
        self._masker = Masker(known_names(events) - own)
        last = "[Xx]" if id_number.endswith("X") else re.escape(id_number[-1])
        self._own_id = re.compile(re.escape(id_number[:-1]) + last)
        self._id = id_number

    def text(self, value: Any) -> str:
        if value is None:
            return ""
        return self._id.join(self._masker.text(piece) for piece in self._own_id.split(str(value)))


def _student_view(s: Student) -> dict[str, Any]:
    return {
        "student_no": s.student_no,
        "name": s.name,
        "id_number": s.id_number,
        "gender": s.gender,
        "birth_date": s.birth_date.isoformat(),
        "stage": s.stage,
        "school_code": s.school_code,
        "school_name": s.school_name,
        "district_code": s.district_code,
        "grade": s.grade,
        "class_name": s.class_name,
        "status": s.status,
        "guardians": [
            {
                "name_masked": _masked_name(getattr(s, f"guardian{n}_name")),
                "id_masked": _masked_id(getattr(s, f"guardian{n}_id_number")),
                "relation": getattr(s, f"guardian{n}_relation"),
            }
            for n in (1, 2)
            if getattr(s, f"guardian{n}_id_number") or getattr(s, f"guardian{n}_name")
        ],
    }


def _teacher_view(t: Teacher) -> dict[str, Any]:
    return {
        "teacher_no": t.teacher_no,
        "name": t.name,
        "id_number": t.id_number,
        "gender": t.gender,
        "school_code": t.school_code,
        "school_name": t.school_name,
        "district_code": t.district_code,
        "status": t.status,
    }


def _guardian_of_view(child: Student, id_number: str) -> dict[str, Any]:
    slot = 1 if child.guardian1_id_number == id_number else 2
    return {
        "child_name_masked": mask_name(child.name),
        "child_id_masked": mask_id(child.id_number),
        "school_name": child.school_name,
        "recorded_as_guardian": slot,
        "recorded_name": getattr(child, f"guardian{slot}_name"),
        "relation": getattr(child, f"guardian{slot}_relation"),
    }


def _card_view(card: Card) -> dict[str, Any]:
    return {
        "card_number": card.card_number,
        "holder_name": card.holder_name,
        "holder_id_number": card.holder_id_number,
        "path": card.path,
        "identities": list(card.identities),
        "permissions": list(card.permissions),
        "face_verification": card.face_verification,
        "claimed_by_guardian": card.claimed_by_guardian_id is not None,
        "school_name": card.school_name,
        "created_at": _iso(card.created_at),
        "updated_at": _iso(card.updated_at),
    }


def _messages(events: list[TrackerEvent], replies: list[AgentReply], masker: OwnCopyMasker) -> list[dict[str, Any]]:
    items: list[tuple[dt.datetime, dict[str, Any]]] = []
    for event in events:
        if event.type_name in ("user", "bot") and isinstance(event.data.get("text"), str) and event.data["text"]:
            items.append(
                (
                    event.when,
                    {"time": _iso(event.when), "from": event.type_name, "text": masker.text(event.data["text"])},
                )
            )
    for reply in replies:
        items.append(
            (reply.created_at, {"time": _iso(reply.created_at), "from": "agent", "text": masker.text(reply.text)})
        )
    items.sort(key=lambda item: item[0])
    return [item for _, item in items]


async def export(records: PersonRecords, tracker: TrackerStore, now: dt.datetime | None = None) -> dict[str, Any]:
    """The person's copy, as JSON-ready data. Raises TrackerUnavailable
    when the tracker store cannot be read."""
    own_names = records.own_names()
    conversations = []
    for sender in records.conversations:
        events = await tracker.events_of(sender)
        replies = [r for r in records.replies if r.channel_user == sender]
        masker = OwnCopyMasker(records.id_number, own_names, events)
        conversations.append(
            {
                "conversation": sender,
                "messages": _messages(events, replies, masker),
                "truncated": len(events) >= MAX_TRANSCRIPT_EVENTS,
                "tickets": [
                    {
                        "number": t.number,
                        "status": t.status,
                        "reason": t.reason,
                        "summary": masker.text(t.summary) if t.summary else None,
                        "created_at": _iso(t.created_at),
                        "resolved_at": _iso(t.resolved_at),
                    }
                    for t in records.tickets
                    if t.channel_user == sender
                ],
            }
        )
    children = {c.holder_id_number: c for c in records.children_cards}
    return {
        "about": "本人个人信息副本（学习号领卡助手）",
        "generated_at": _iso(now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
        "id_number": records.id_number,
        "registry": {
            "note": REGISTRY_NOTE,
            "student": _student_view(records.student) if records.student else None,
            "teacher": _teacher_view(records.teacher) if records.teacher else None,
            "guardian_of": [_guardian_of_view(child, records.id_number) for child in records.guardian_of],
        },
        "card": _card_view(records.card) if records.card else None,
        "proxy_claims": {
            "as_guardian": [
                {
                    "slot": p.slot,
                    "child_id_masked": mask_id(p.child_id_number),
                    "child_name_masked": _masked_name(children[p.child_id_number].holder_name)
                    if p.child_id_number in children
                    else None,
                    "created_at": _iso(p.created_at),
                }
                for p in records.proxy_as_guardian
            ],
            "as_child": [
                {"guardian_id_masked": mask_id(p.guardian_id_number), "created_at": _iso(p.created_at)}
                for p in records.proxy_as_child
            ],
        },
        "claim_attempts": [
            {**attempt_view(a), "as": "holder" if a.id_hash == records.id_hash else "guardian"}
            for a in records.attempts
        ],
        "conversations": conversations,
    }


# -- deletion ----------------------------------------------------------------------------------


async def delete_person(db: Database, tracker: TrackerWriter, records: PersonRecords) -> dict[str, int]:
    """Delete what `records` found (see the module's documentation); returns counts."""
    counts: dict[str, int] = {"tracker_events_deleted": await tracker.delete(records.conversations)}

    def n(result: Any) -> int:
        return max(int(result.rowcount or 0), 0)

    id_number, id_hash = records.id_number, records.id_hash
    async with db.writing() as session:
        rows = await forget_conversations(session, records.conversations, keep_tickets=False)
        counts["conversations_deleted"] = len(records.conversations)
        counts.update(rows.as_dict())
        counts["cards_deleted"] = n(await session.execute(delete(Card).where(Card.holder_id_number == id_number)))
        counts["children_cards_unlinked"] = n(
            await session.execute(
                update(Card).where(Card.claimed_by_guardian_id == id_number).values(claimed_by_guardian_id=None)
            )
        )
        counts["proxy_claims_deleted"] = n(
            await session.execute(
                delete(ProxyClaim).where(
                    or_(ProxyClaim.guardian_id_number == id_number, ProxyClaim.child_id_number == id_number)
                )
            )
        )
        counts["claim_attempts_deleted"] = n(
            await session.execute(
                delete(ClaimAttempt).where(
                    or_(ClaimAttempt.id_hash == id_hash, ClaimAttempt.guardian_id_hash == id_hash)
                )
            )
        )
    counts.pop("tickets_pseudonymised", None)
    return counts


def audit_detail(counts: dict[str, int]) -> str:
    """Counts as the audit log keeps them ("card=1; claim_attempts=3"): no personal data."""
    return "; ".join(f"{k}={v}" for k, v in counts.items() if v)[:512] or "nothing found"
