"""Matching against the registries and issuing cards.

Each operation runs in one transaction. The invariants that concurrent
requests could break are held by the schema (see models.py) and by
`INSERT ... ON CONFLICT DO NOTHING`, never by check-then-insert:
- one card per person: a losing concurrent insert finds the winner's card;
- at most three children per guardian: a proxy claim must take one of the
  slots 1..3, the primary key (guardian, slot) refuses a fourth.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.attempts import IdHasher, RateLimit, is_rate_limited
from backend.cardnumber import new_card_number
from backend.db import Database
from backend.models import (
    K12_STAGES,
    MAX_PROXY_CHILDREN,
    Card,
    ClaimAttempt,
    ProxyClaim,
    Student,
    Teacher,
    utcnow,
)
from backend.permissions import permissions_for
from identity import mask_id, mask_name, normalise_name, validate_id

SELF_SERVICE_PATHS = ("university_student", "teacher", "public")
K12_PATHS = ("k12_student", "parent")


@dataclass
class ClaimRequest:
    path: str
    name: str
    id_number: str
    guardian_name: Optional[str] = None
    guardian_id_number: Optional[str] = None
    face_verification: Optional[bool] = None
    channel_user: Optional[str] = None


@dataclass
class Outcome:
    """Result of a claim, match or refresh. `failure_code` is one of the
    contract's codes (or `card_not_found` for a refresh without a card)."""

    success: bool
    status: Optional[str] = None  # issued | existing | matched | refreshed
    failure_code: Optional[str] = None
    bad_field: Optional[str] = None  # which input failed, when one did
    detail: Optional[str] = None  # e.g. the ID check's reason, or a hint
    card: Optional[Card] = None
    identities: list[str] = field(default_factory=list)
    previous_identities: Optional[list[str]] = None
    path_mismatch: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"success": self.success}
        if self.success:
            data["status"] = self.status
            data["identities"] = self.identities
            data["permissions"] = permissions_for(self.identities)
            data["path_mismatch"] = self.path_mismatch
            if self.previous_identities is not None:
                data["previous_identities"] = self.previous_identities
            if self.card is not None:
                data["card"] = card_view(self.card)
        else:
            data["code"] = self.failure_code
            if self.bad_field:
                data["field"] = self.bad_field
            if self.detail:
                data["detail"] = self.detail
        return data


def card_view(card: Card) -> dict[str, Any]:
    """A card as the API shows it: masked holder, never the full ID."""
    return {
        "card_number": card.card_number,
        "holder_name_masked": mask_name(card.holder_name),
        "holder_id_masked": mask_id(card.holder_id_number),
        "path": card.path,
        "identities": list(card.identities),
        "permissions": list(card.permissions),
        "face_verification": card.face_verification,
        "claimed_by_guardian": card.claimed_by_guardian_id is not None,
        "school_name": card.school_name,
        "created_at": card.created_at.replace(tzinfo=dt.timezone.utc).isoformat(),
    }


@dataclass
class RegistryMatch:
    """Registry records of one ID number whose name matches the given one."""

    student: Optional[Student]
    teacher: Optional[Teacher]
    identities: list[str]
    other_name_only: bool  # the ID is on record, but only under another name


async def match_registry(session: AsyncSession, id_number: str, name_norm: str) -> RegistryMatch:
    student = await session.get(Student, id_number)
    teacher = await session.get(Teacher, id_number)
    on_record = student is not None or teacher is not None
    if student is not None and student.name_norm != name_norm:
        student = None
    if teacher is not None and teacher.name_norm != name_norm:
        teacher = None
    identities: list[str] = []
    if student is not None and student.status == "enrolled":
        identities.append("k12_student" if student.stage in K12_STAGES else "university_student")
    if teacher is not None and teacher.status == "active":
        identities.append("teacher")
    other_name_only = on_record and student is None and teacher is None
    return RegistryMatch(student, teacher, identities or ["public"], other_name_only)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def card_for(session: AsyncSession, id_number: str) -> Optional[Card]:
    return (
        await session.scalars(select(Card).where(Card.holder_id_number == id_number))
    ).one_or_none()


class ClaimService:
    def __init__(self, db: Database, hasher: IdHasher, limit: RateLimit) -> None:
        self.db = db
        self.hash_id = hasher
        self.limit = limit

    # -- public operations -------------------------------------------------

    async def claim(self, req: ClaimRequest, *, issue: bool = True) -> Outcome:
        holder = validate_id(req.id_number)
        guardian = validate_id(req.guardian_id_number or "") if req.path == "parent" else None
        attempt = ClaimAttempt(
            created_at=utcnow(),
            channel_user=req.channel_user,
            action="claim" if issue else "match",
            path=req.path,
            id_hash=self.hash_id(holder.normalised),
            id_masked=mask_id(holder.normalised),
            name_masked=mask_name(req.name),
            guardian_id_hash=self.hash_id(guardian.normalised) if guardian else None,
            guardian_id_masked=mask_id(guardian.normalised) if guardian else None,
        )
        async with self.db.writing() as session:
            outcome = await self._claim(session, req, holder, guardian, attempt, issue)
            attempt.success = outcome.success
            attempt.failure_code = outcome.failure_code
            attempt.card_number = outcome.card.card_number if outcome.card else None
            session.add(attempt)
        return outcome

    async def refresh(self, name: str, id_number: str, channel_user: Optional[str]) -> Outcome:
        """更新身份: re-match a card holder and update identities and permissions."""
        holder = validate_id(id_number)
        attempt = ClaimAttempt(
            created_at=utcnow(),
            channel_user=channel_user,
            action="refresh",
            id_hash=self.hash_id(holder.normalised),
            id_masked=mask_id(holder.normalised),
            name_masked=mask_name(name),
        )
        async with self.db.writing() as session:
            outcome = await self._refresh(session, name, holder, attempt)
            attempt.success = outcome.success
            attempt.failure_code = outcome.failure_code
            attempt.card_number = outcome.card.card_number if outcome.card else None
            session.add(attempt)
        return outcome

    # -- steps -------------------------------------------------------------

    async def _claim(self, session, req, holder, guardian, attempt, issue) -> Outcome:  # type: ignore[no-untyped-def]
        hashes = [attempt.id_hash] + ([attempt.guardian_id_hash] if guardian else [])
        if await is_rate_limited(session, self.limit, req.channel_user, hashes):
            return Outcome(False, failure_code="rate_limited")
        if not holder.ok:
            return Outcome(False, failure_code="invalid_id_number", bad_field="id_number", detail=holder.problem)
        if guardian is not None and not guardian.ok:
            return Outcome(
                False, failure_code="invalid_id_number", bad_field="guardian_id_number", detail=guardian.problem
            )
        name_norm = normalise_name(req.name)
        match = await match_registry(session, holder.normalised, name_norm)
        if match.other_name_only:
            # Someone else's ID, or a typo in the name: say neither.
            return Outcome(False, failure_code="identity_not_found", bad_field="id_number")
        if match.student is not None:
            attempt.district_code = match.student.district_code
            attempt.school_code = match.student.school_code
        elif match.teacher is not None:
            attempt.district_code = match.teacher.district_code
            attempt.school_code = match.teacher.school_code

        if req.path in K12_PATHS:
            student = match.student
            if student is None:
                return Outcome(False, failure_code="identity_not_found", bad_field="id_number")
            if student.stage not in K12_STAGES or student.status != "enrolled":
                hint = "use_path:university_student" if student.stage == "university" else student.status
                return Outcome(False, failure_code="not_enrolled", detail=hint)
            if req.path == "parent":
                assert guardian is not None
                if not _is_guardian(student, normalise_name(req.guardian_name or ""), guardian.normalised):
                    return Outcome(False, failure_code="guardian_mismatch", bad_field="guardian_id_number")

        path_mismatch = req.path in SELF_SERVICE_PATHS and req.path not in match.identities
        existing = await card_for(session, holder.normalised)
        if existing is not None:
            return Outcome(
                True,
                status="existing",
                card=existing,
                identities=list(existing.identities),
                path_mismatch=req.path in SELF_SERVICE_PATHS and req.path not in existing.identities,
            )
        if not issue:
            return Outcome(True, status="matched", identities=match.identities, path_mismatch=path_mismatch)
        if req.path == "parent":
            assert guardian is not None
            if not await self._take_proxy_slot(session, guardian.normalised, holder.normalised):
                return Outcome(False, failure_code="proxy_limit_reached")
        card, status = await self._issue(session, req, holder.normalised, name_norm, match, guardian)
        return Outcome(
            True,
            status=status,
            card=card,
            identities=list(card.identities),
            path_mismatch=req.path in SELF_SERVICE_PATHS and req.path not in card.identities,
        )

    async def _take_proxy_slot(self, session: AsyncSession, guardian_id: str, child_id: str) -> bool:
        pair = select(ProxyClaim.slot).where(
            ProxyClaim.guardian_id_number == guardian_id, ProxyClaim.child_id_number == child_id
        )
        if (await session.execute(pair)).first() is not None:
            return True
        for slot in range(1, MAX_PROXY_CHILDREN + 1):
            stmt = (
                _insert(session, ProxyClaim)
                .values(guardian_id_number=guardian_id, slot=slot, child_id_number=child_id, created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(ProxyClaim.slot)
            )
            if (await session.execute(stmt)).first() is not None:
                return True
            # The slot was taken, possibly by a concurrent claim for this very child.
            if (await session.execute(pair)).first() is not None:
                return True
        return False

    async def _issue(self, session, req, holder_id, name_norm, match, guardian) -> tuple[Card, str]:  # type: ignore[no-untyped-def]
        origin = match.student or match.teacher
        k12 = req.path in K12_PATHS
        now = utcnow()
        for _ in range(8):
            values = dict(
                card_number=new_card_number(),
                holder_id_number=holder_id,
                holder_name=name_norm,
                path=req.path,
                identities=match.identities,
                permissions=permissions_for(match.identities),
                face_verification=bool(req.face_verification) if k12 else None,
                claimed_by_guardian_id=guardian.normalised if guardian else None,
                channel_user=req.channel_user,
                district_code=origin.district_code if origin else None,
                school_code=origin.school_code if origin else None,
                school_name=origin.school_name if origin else None,
                created_at=now,
                updated_at=now,
            )
            stmt = _insert(session, Card).values(**values).on_conflict_do_nothing().returning(Card.id)
            inserted = (await session.execute(stmt)).scalar_one_or_none()
            card = await card_for(session, holder_id)
            if card is not None:
                return card, "issued" if inserted is not None else "existing"
            # Neither ours nor anyone's: the random card number collided. Draw again.
        raise RuntimeError("could not draw a free card number")

    async def _refresh(self, session, name, holder, attempt) -> Outcome:  # type: ignore[no-untyped-def]
        if await is_rate_limited(session, self.limit, attempt.channel_user, [attempt.id_hash]):
            return Outcome(False, failure_code="rate_limited")
        if not holder.ok:
            return Outcome(False, failure_code="invalid_id_number", bad_field="id_number", detail=holder.problem)
        card = await card_for(session, holder.normalised)
        name_norm = normalise_name(name)
        if card is None:
            return Outcome(False, failure_code="card_not_found")
        if card.holder_name != name_norm:
            return Outcome(False, failure_code="identity_not_found", bad_field="person_name")
        match = await match_registry(session, holder.normalised, name_norm)
        previous = list(card.identities)
        if match.student is not None or match.teacher is not None:
            origin = match.student or match.teacher
            district, school_code, school_name = origin.district_code, origin.school_code, origin.school_name
        else:
            district, school_code, school_name = card.district_code, card.school_code, card.school_name
        await session.execute(
            update(Card)
            .where(Card.id == card.id)
            .values(
                identities=match.identities,
                permissions=permissions_for(match.identities),
                district_code=district,
                school_code=school_code,
                school_name=school_name,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        await session.refresh(card)
        return Outcome(
            True, status="refreshed", card=card, identities=list(card.identities), previous_identities=previous
        )


def _is_guardian(student: Student, name_norm: str, id_number: str) -> bool:
    return (student.guardian1_id_number == id_number and student.guardian1_name_norm == name_norm) or (
        student.guardian2_id_number == id_number and student.guardian2_name_norm == name_norm
    )
