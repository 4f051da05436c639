"""The claim and refresh rules, free of I/O.

Each flow is a generator: it yields database operations (operations.py:
`Gate`, `InsertCard`, ...) and receives each one's result, then returns an
`Outcome`. A runner executes the operations: on SQLite the whole flow in
one transaction with the stdlib driver (sqlite_runner.py), on PostgreSQL
each operation as one asyncpg round trip (postgres_runner.py). So the rules
exist once, and the hot path pays neither the ORM nor a thread hop per
statement. A K-12 claim is two round trips on PostgreSQL.

The invariants that concurrent requests could break are held by the schema
(backend/models.py) and `INSERT ... ON CONFLICT DO NOTHING`, never by
check-then-insert:
- one card per person: a losing concurrent insert finds the winner's card;
- at most three children per guardian: a proxy claim must take one of the
  slots 1..3; the primary key (guardian, slot) refuses a fourth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from backend.claims.cardnumber import new_card_number
from backend.claims.operations import (
    FindCard,
    Flow,
    Gate,
    GateResult,
    HasProxyClaim,
    InsertCard,
    LogAttempt,
    Op,
    RecentFailures,
    TakeProxySlot,
    UpdateCard,
)
from backend.claims.permissions import permissions_for
from backend.claims.records import (
    NO_ONE,
    Attempt,
    CardRec,
    CardValues,
    ClaimRequest,
    Outcome,
    Person,
    StudentRec,
    TeacherRec,
)
from contract.failures import (
    CARD_NOT_FOUND,
    GUARDIAN_MISMATCH,
    IDENTITY_NOT_FOUND,
    INVALID_ID_NUMBER,
    NOT_ENROLLED,
    PROXY_LIMIT_REACHED,
    RATE_LIMITED,
)
from contract.limits import MAX_PROXY_CHILDREN
from contract.paths import K12_PATHS, K12_STUDENT, PARENT, PUBLIC, SELF_SERVICE_PATHS, TEACHER, UNIVERSITY_STUDENT
from contract.registry import ACTIVE, ENROLLED, K12_STAGES
from identity import IdCheck, mask_id, mask_name, normalise_name

CARD_NUMBER_DRAWS = 8
# Matches no ID hash (they are hex): what a verified holder's own ID counts as.
NO_HASH = "-"


@dataclass(frozen=True)
class RegistryMatch:
    """Registry records of one ID number whose name matches the given one."""

    student: StudentRec | None
    teacher: TeacherRec | None
    identities: list[str]
    other_name_only: bool  # the ID is on record, but only under another name

    @property
    def origin(self) -> StudentRec | TeacherRec | None:
        return self.student or self.teacher


def match_registry(student: StudentRec | None, teacher: TeacherRec | None, name_norm: str) -> RegistryMatch:
    """Identities come from what the registries hold for the ID, never from
    the path the user chose."""
    on_record = student is not None or teacher is not None
    if student is not None and student.name_norm != name_norm:
        student = None
    if teacher is not None and teacher.name_norm != name_norm:
        teacher = None
    identities: list[str] = []
    if student is not None and student.status == ENROLLED:
        identities.append(K12_STUDENT if student.stage in K12_STAGES else UNIVERSITY_STUDENT)
    if teacher is not None and teacher.status == ACTIVE:
        identities.append(TEACHER)
    other_name_only = on_record and student is None and teacher is None
    return RegistryMatch(student, teacher, identities or [PUBLIC], other_name_only)


def _is_guardian(student: StudentRec, name_norm: str, id_number: str) -> bool:
    return (student.guardian1_id_number == id_number and student.guardian1_name_norm == name_norm) or (
        student.guardian2_id_number == id_number and student.guardian2_name_norm == name_norm
    )


def _mismatch(path: str, identities: list[str]) -> bool:
    return path in SELF_SERVICE_PATHS and path not in identities


def claim_flow(
    req: ClaimRequest,
    holder: IdCheck,
    guardian: IdCheck | None,
    attempt: Attempt,
    *,
    issue: bool,
    limit_failures: int,
    since: dt.datetime,
    now: dt.datetime,
) -> Flow:
    """Match (and with `issue`, issue) a card; log the attempt."""
    return _logged(_claim_steps(req, holder, guardian, attempt, issue, limit_failures, since, now), attempt)


def _logged(steps: Flow, attempt: Attempt) -> Flow:
    """Run a flow's steps, then log the attempt with its outcome (unless
    issuing the card logged it already)."""
    outcome = yield from steps
    if not outcome.logged:
        number = outcome.card.card_number if outcome.card else None
        yield LogAttempt(attempt.with_outcome(outcome.success, outcome.failure_code, number))
    return outcome


def _gate(failures: RecentFailures, holder: IdCheck, others_ok: bool = True) -> Generator[Op, Any, GateResult]:
    """The rate-limit count of recent failures, with the person's records
    (student, teacher, card) when the ID numbers are valid: one round trip."""
    if holder.ok and others_ok:
        gate: GateResult = yield Gate(failures, holder.normalised)
        return gate
    recent: int = yield failures
    return GateResult(recent, NO_ONE)


def _recorded_guardian_not_limited(
    req: ClaimRequest, guardian: IdCheck | None, person: Person, since: dt.datetime, limit: int
) -> Generator[Op, Any, bool]:
    """Failures others typed against a child's ID number do not lock out the
    child's recorded guardian (issue 13): on the parent path, when the
    guardian's name and ID are those the child's record holds, only the
    failures of this chat count. Anyone else stays limited, and learns
    nothing: the answer is the same `rate_limited` either way."""
    if req.path != PARENT or guardian is None or not guardian.ok or person.student is None:
        return False
    if not _is_guardian(person.student, normalise_name(req.guardian_name or ""), guardian.normalised):
        return False
    own: int = yield RecentFailures(req.channel_user or "", NO_HASH, NO_HASH, since, limit)
    return own < limit


def _claim_steps(
    req: ClaimRequest,
    holder: IdCheck,
    guardian: IdCheck | None,
    attempt: Attempt,
    issue: bool,
    limit_failures: int,
    since: dt.datetime,
    now: dt.datetime,
) -> Flow:
    id_hash, guardian_hash = attempt.id_hash, attempt.guardian_id_hash or attempt.id_hash
    if holder.ok and req.verified_id_number == holder.normalised:
        # The holder by verified real name is not locked out by failures
        # others typed against their ID number (issue 13): only their own
        # chat's failures count.
        id_hash = guardian_hash = NO_HASH
    failures = RecentFailures(req.channel_user or "", id_hash, guardian_hash, since, limit_failures)
    recent, person = yield from _gate(failures, holder, guardian is None or guardian.ok)
    if recent >= limit_failures and not (
        yield from _recorded_guardian_not_limited(req, guardian, person, since, limit_failures)
    ):
        return Outcome(False, failure_code=RATE_LIMITED)
    if not holder.ok:
        return Outcome(False, failure_code=INVALID_ID_NUMBER, bad_field="id_number", detail=holder.problem)
    if guardian is not None and not guardian.ok:
        return Outcome(False, failure_code=INVALID_ID_NUMBER, bad_field="guardian_id_number", detail=guardian.problem)
    name_norm = normalise_name(req.name)
    match = match_registry(person.student, person.teacher, name_norm)
    if match.other_name_only:
        # Someone else's ID, or a typo in the name: say neither. A K-12
        # claim is logged at the school of the student on record: the name
        # there may be what the school must correct (campaign/fixes.py).
        if req.path in K12_PATHS and person.student is not None:
            attempt.district_code = person.student.district_code
            attempt.school_code = person.student.school_code
        return Outcome(False, failure_code=IDENTITY_NOT_FOUND, bad_field="id_number")
    if match.origin is not None:
        attempt.district_code = match.origin.district_code
        attempt.school_code = match.origin.school_code

    if req.path in K12_PATHS:
        student = match.student
        if student is None:
            return Outcome(False, failure_code=IDENTITY_NOT_FOUND, bad_field="id_number")
        if student.stage not in K12_STAGES or student.status != ENROLLED:
            hint = f"use_path:{UNIVERSITY_STUDENT}" if student.stage == "university" else student.status
            return Outcome(False, failure_code=NOT_ENROLLED, detail=hint)
        if req.path == PARENT:
            assert guardian is not None
            if not _is_guardian(student, normalise_name(req.guardian_name or ""), guardian.normalised):
                return Outcome(False, failure_code=GUARDIAN_MISMATCH, bad_field="guardian_id_number")

    existing = person.card
    if existing is not None:
        return Outcome(
            True,
            status="existing",
            card=existing,
            identities=list(existing.identities),
            path_mismatch=_mismatch(req.path, existing.identities),
            holder_proven=_proven(req, holder.normalised, existing),
        )
    if not issue:
        return Outcome(
            True, status="matched", identities=match.identities, path_mismatch=_mismatch(req.path, match.identities)
        )
    if req.path == PARENT:
        assert guardian is not None
        if not (yield from _take_proxy_slot(guardian.normalised, holder.normalised, now)):
            return Outcome(False, failure_code=PROXY_LIMIT_REACHED)
    card, status = yield from _issue(req, holder.normalised, name_norm, match, guardian, attempt, now)
    return Outcome(
        True,
        status=status,
        card=card,
        identities=list(card.identities),
        path_mismatch=_mismatch(req.path, card.identities),
        logged=status == "issued",
        holder_proven=status == "issued" or _proven(req, holder.normalised, card),
    )


def _proven(req: ClaimRequest, holder_id: str, card: CardRec) -> bool:
    """Whether this claimant may see the card: its holder by verified real
    name, its recorded guardian (the parent path reaches a card only after
    the guardian check), or the chat that claimed it."""
    if req.verified_id_number is not None and req.verified_id_number == holder_id:
        return True
    if req.path == PARENT:
        return True
    return req.channel_user is not None and card.channel_user == req.channel_user


def _take_proxy_slot(guardian_id: str, child_id: str, now: dt.datetime) -> Generator[Op, Any, bool]:
    if (yield HasProxyClaim(guardian_id, child_id)):
        return True  # re-claiming an already claimed child is not a new one
    for slot in range(1, MAX_PROXY_CHILDREN + 1):
        if (yield TakeProxySlot(guardian_id, slot, child_id, now)):
            return True
        # The slot was taken, possibly by a concurrent claim for this very child.
        if (yield HasProxyClaim(guardian_id, child_id)):
            return True
    return False


def _issue(
    req: ClaimRequest,
    holder_id: str,
    name_norm: str,
    match: RegistryMatch,
    guardian: IdCheck | None,
    attempt: Attempt,
    now: dt.datetime,
) -> Generator[Op, Any, tuple[CardRec, str]]:
    """Insert the card; a new card is logged as issued in the same statement.
    A card found instead (a concurrent claim won) is logged by the caller."""
    origin = match.origin
    identities = match.identities
    for _ in range(CARD_NUMBER_DRAWS):
        values = CardValues(
            card_number=new_card_number(),
            holder_id_number=holder_id,
            holder_name=name_norm,
            path=req.path,
            identities=identities,
            permissions=permissions_for(identities),
            face_verification=bool(req.face_verification) if req.path in K12_PATHS else None,
            claimed_by_guardian_id=guardian.normalised if guardian else None,
            channel_user=req.channel_user,
            district_code=origin.district_code if origin else None,
            school_code=origin.school_code if origin else None,
            school_name=origin.school_name if origin else None,
            created_at=now,
            updated_at=now,
        )
        card: CardRec | None = yield InsertCard(values, attempt.with_outcome(True, None, values.card_number))
        if card is not None:
            return card, "issued"
        card = yield FindCard(holder_id)  # a concurrent claim won: its card is the one
        if card is not None:
            return card, "existing"
        # Neither ours nor anyone's: the random card number collided. Draw again.
    raise RuntimeError("could not draw a free card number")


def refresh_flow(
    name: str, holder: IdCheck, attempt: Attempt, *, limit_failures: int, since: dt.datetime, now: dt.datetime
) -> Flow:
    """更新身份: re-match a card holder and update identities and permissions."""
    return _logged(_refresh_steps(name, holder, attempt, limit_failures, since, now), attempt)


def _refresh_steps(
    name: str, holder: IdCheck, attempt: Attempt, limit_failures: int, since: dt.datetime, now: dt.datetime
) -> Flow:
    failures = RecentFailures(attempt.channel_user or "", attempt.id_hash, attempt.id_hash, since, limit_failures)
    recent, person = yield from _gate(failures, holder)
    if recent >= limit_failures:
        return Outcome(False, failure_code=RATE_LIMITED)
    if not holder.ok:
        return Outcome(False, failure_code=INVALID_ID_NUMBER, bad_field="id_number", detail=holder.problem)
    card = person.card
    if card is None:
        return Outcome(False, failure_code=CARD_NOT_FOUND)
    name_norm = normalise_name(name)
    if card.holder_name != name_norm:
        return Outcome(False, failure_code=IDENTITY_NOT_FOUND, bad_field="person_name")
    match = match_registry(person.student, person.teacher, name_norm)
    origin = match.origin or card
    yield UpdateCard(
        id=card.id,
        identities=match.identities,
        permissions=permissions_for(match.identities),
        district_code=origin.district_code,
        school_code=origin.school_code,
        school_name=origin.school_name,
        updated_at=now,
    )
    refreshed: CardRec = yield FindCard(holder.normalised)
    return Outcome(
        True,
        status="refreshed",
        card=refreshed,
        identities=list(refreshed.identities),
        previous_identities=list(card.identities),
    )


def new_attempt(
    hasher: Callable[[str], str],
    action: str,
    path: str | None,
    channel_user: str | None,
    holder: IdCheck,
    name: str,
    guardian: IdCheck | None,
    now: dt.datetime,
) -> Attempt:
    """The claim log row of one attempt: keyed hashes and masks, no full ID."""
    return Attempt(
        created_at=now,
        channel_user=channel_user,
        action=action,
        path=path,
        id_hash=hasher(holder.normalised),
        id_masked=mask_id(holder.normalised),
        name_masked=mask_name(name),
        guardian_id_hash=hasher(guardian.normalised) if guardian else None,
        guardian_id_masked=mask_id(guardian.normalised) if guardian else None,
    )
