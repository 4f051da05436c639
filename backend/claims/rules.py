"""The claim and refresh rules, free of I/O.

Each flow is a generator: it yields database operations as tuples
(`("gate", ...)`, `("card_insert", {...}, {...})`, ...) and receives each
one's result, then returns an `Outcome`. A runner (runner.py) executes
the operations: on SQLite the whole flow in one transaction with the stdlib
driver, on PostgreSQL each operation as one asyncpg round trip. So the rules
exist once, and the hot path pays neither the ORM nor a thread hop per
statement.

The operations are shaped for few round trips: a claim's first look-up
("gate") brings the rate-limit count together with the person's registry
records and card, and issuing a card logs the attempt in the same statement
("card_insert" carries the log row it writes when the card is new). A
K-12 claim is two round trips on PostgreSQL.

The invariants that concurrent requests could break are held by the schema
(models.py) and `INSERT ... ON CONFLICT DO NOTHING`, never by
check-then-insert:
- one card per person: a losing concurrent insert finds the winner's card;
- at most three children per guardian: a proxy claim must take one of the
  slots 1..3; the primary key (guardian, slot) refuses a fourth.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Generator, Optional

from backend.claims.cardnumber import new_card_number
from backend.claims.permissions import permissions_for
from contract.limits import MAX_PROXY_CHILDREN
from contract.paths import K12_PATHS, SELF_SERVICE_PATHS
from contract.registry import K12_STAGES
from identity import IdCheck, mask_id, mask_name, normalise_name

# Failures that mean "the registry was consulted and said no": the ones an
# enumeration attempt produces, and so the ones the rate limit counts.
MATCH_FAILURES = ("identity_not_found", "not_enrolled", "guardian_mismatch")
CARD_NUMBER_DRAWS = 8

Op = tuple[Any, ...]
Flow = Generator[Op, Any, "Outcome"]


@dataclass
class ClaimRequest:
    path: str
    name: str
    id_number: str
    guardian_name: Optional[str] = None
    guardian_id_number: Optional[str] = None
    face_verification: Optional[bool] = None
    channel_user: Optional[str] = None
    # The ID number of the chat's verified real name (the mini-program's
    # signed identity), when it has one: proves the claimant is that person.
    verified_id_number: Optional[str] = None


@dataclass(frozen=True)
class StudentRec:
    name_norm: str
    stage: str
    status: str
    school_code: str
    school_name: str
    district_code: str
    guardian1_id_number: Optional[str]
    guardian1_name_norm: Optional[str]
    guardian2_id_number: Optional[str]
    guardian2_name_norm: Optional[str]


@dataclass(frozen=True)
class TeacherRec:
    name_norm: str
    status: str
    school_code: str
    school_name: str
    district_code: str


@dataclass(frozen=True)
class CardRec:
    """An issued card as the flows see it (same attribute names as the ORM
    model, so `card_view` shows either)."""

    id: int
    card_number: str
    holder_id_number: str
    holder_name: str
    path: str
    identities: list[str]
    permissions: list[str]
    face_verification: Optional[bool]
    claimed_by_guardian_id: Optional[str]
    district_code: Optional[str]
    school_code: Optional[str]
    school_name: Optional[str]
    created_at: dt.datetime
    channel_user: Optional[str] = None  # the chat that claimed it


@dataclass
class Outcome:
    """Result of a claim, match or refresh. `failure_code` is one of the
    contract's codes (or `card_not_found` for a refresh without a card)."""

    success: bool
    status: Optional[str] = None  # issued | existing | matched | refreshed
    failure_code: Optional[str] = None
    bad_field: Optional[str] = None  # which input failed, when one did
    detail: Optional[str] = None  # e.g. the ID check's reason, or a hint
    card: Optional[CardRec] = None
    identities: list[str] = field(default_factory=list)
    previous_identities: Optional[list[str]] = None
    path_mismatch: bool = False
    logged: bool = False  # the attempt was logged with the card (see _issue)
    # The claimant is the card's holder (verified real name), its recorded
    # guardian (passed the guardian check), or the chat that claimed it:
    # only then does the bot show the card (issue 13).
    holder_proven: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"success": self.success}
        if self.success:
            data["status"] = self.status
            data["identities"] = self.identities
            data["permissions"] = permissions_for(self.identities)
            data["path_mismatch"] = self.path_mismatch
            if self.card is not None:
                data["holder_proven"] = self.holder_proven
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


def card_view(card: Any) -> dict[str, Any]:
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


@dataclass(frozen=True)
class RegistryMatch:
    """Registry records of one ID number whose name matches the given one."""

    student: Optional[StudentRec]
    teacher: Optional[TeacherRec]
    identities: list[str]
    other_name_only: bool  # the ID is on record, but only under another name

    @property
    def origin(self) -> Optional[StudentRec | TeacherRec]:
        return self.student or self.teacher


def match_registry(student: Optional[StudentRec], teacher: Optional[TeacherRec], name_norm: str) -> RegistryMatch:
    """Identities come from what the registries hold for the ID, never from
    the path the user chose."""
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


def _is_guardian(student: StudentRec, name_norm: str, id_number: str) -> bool:
    return (student.guardian1_id_number == id_number and student.guardian1_name_norm == name_norm) or (
        student.guardian2_id_number == id_number and student.guardian2_name_norm == name_norm
    )


def _mismatch(path: str, identities: list[str]) -> bool:
    return path in SELF_SERVICE_PATHS and path not in identities


def claim_flow(
    req: ClaimRequest,
    holder: IdCheck,
    guardian: Optional[IdCheck],
    attempt: dict[str, Any],
    *,
    issue: bool,
    limit_failures: int,
    since: dt.datetime,
    now: dt.datetime,
) -> Flow:
    """Match (and with `issue`, issue) a card; log the attempt."""
    return _logged(_claim_steps(req, holder, guardian, attempt, issue, limit_failures, since, now), attempt)


def _logged(steps: Flow, attempt: dict[str, Any]) -> Flow:
    """Run a flow's steps, then log the attempt with its outcome (unless
    issuing the card logged it already)."""
    outcome = yield from steps
    if not outcome.logged:
        number = outcome.card.card_number if outcome.card else None
        yield ("attempt_insert", _with_outcome(attempt, outcome.success, outcome.failure_code, number))
    return outcome


def _with_outcome(attempt: dict[str, Any], success: bool, failure_code: Optional[str],
                  card_number: Optional[str]) -> dict[str, Any]:
    return {**attempt, "success": success, "failure_code": failure_code, "card_number": card_number}


def _gate(user: Optional[str], hashes: tuple[str, str], since: dt.datetime, limit: int,
          holder: IdCheck, others_ok: bool = True) -> Generator[Op, Any, tuple[int, Any]]:
    """The rate-limit count of recent failures, with the person's records
    (student, teacher, card) when the ID numbers are valid: one round trip."""
    if holder.ok and others_ok:
        return (yield ("gate", user or "", hashes, since, limit, holder.normalised))
    return (yield ("recent_failures", user or "", hashes, since, limit)), None


# Matches no ID hash (they are hex): what a verified holder's own ID counts as.
NO_HASH = "-"


def _recorded_guardian_not_limited(req: ClaimRequest, guardian: Optional[IdCheck], person: Any,
                                   since: dt.datetime, limit: int) -> Generator[Op, Any, bool]:
    """Failures others typed against a child's ID number do not lock out the
    child's recorded guardian (issue 13): on the parent path, when the
    guardian's name and ID are those the child's record holds, only the
    failures of this chat count. Anyone else stays limited, and learns
    nothing: the answer is the same `rate_limited` either way."""
    if req.path != "parent" or guardian is None or not guardian.ok or person is None or person[0] is None:
        return False
    if not _is_guardian(person[0], normalise_name(req.guardian_name or ""), guardian.normalised):
        return False
    own = yield ("recent_failures", req.channel_user or "", (NO_HASH, NO_HASH), since, limit)
    return bool(own < limit)


def _claim_steps(req, holder, guardian, attempt, issue, limit_failures, since, now) -> Flow:  # type: ignore[no-untyped-def]
    hashes = (attempt["id_hash"], attempt["guardian_id_hash"] or attempt["id_hash"])
    if holder.ok and req.verified_id_number == holder.normalised:
        # The holder by verified real name is not locked out by failures
        # others typed against their ID number (issue 13): only their own
        # chat's failures count.
        hashes = (NO_HASH, NO_HASH)
    recent, person = yield from _gate(req.channel_user, hashes, since, limit_failures, holder,
                                      guardian is None or guardian.ok)
    if recent >= limit_failures and not (yield from _recorded_guardian_not_limited(
            req, guardian, person, since, limit_failures)):
        return Outcome(False, failure_code="rate_limited")
    if not holder.ok:
        return Outcome(False, failure_code="invalid_id_number", bad_field="id_number", detail=holder.problem)
    if guardian is not None and not guardian.ok:
        return Outcome(False, failure_code="invalid_id_number", bad_field="guardian_id_number", detail=guardian.problem)
    name_norm = normalise_name(req.name)
    student, teacher, existing = person
    match = match_registry(student, teacher, name_norm)
    if match.other_name_only:
        # Someone else's ID, or a typo in the name: say neither.
        return Outcome(False, failure_code="identity_not_found", bad_field="id_number")
    if match.origin is not None:
        attempt["district_code"] = match.origin.district_code
        attempt["school_code"] = match.origin.school_code

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

    if existing is not None:
        return Outcome(True, status="existing", card=existing, identities=list(existing.identities),
                       path_mismatch=_mismatch(req.path, existing.identities),
                       holder_proven=_proven(req, holder.normalised, existing))
    if not issue:
        return Outcome(True, status="matched", identities=match.identities,
                       path_mismatch=_mismatch(req.path, match.identities))
    if req.path == "parent":
        assert guardian is not None
        if not (yield from _take_proxy_slot(guardian.normalised, holder.normalised, now)):
            return Outcome(False, failure_code="proxy_limit_reached")
    card, status = yield from _issue(req, holder.normalised, name_norm, match, guardian, attempt, now)
    return Outcome(True, status=status, card=card, identities=list(card.identities),
                   path_mismatch=_mismatch(req.path, card.identities), logged=status == "issued",
                   holder_proven=status == "issued" or _proven(req, holder.normalised, card))


def _proven(req: ClaimRequest, holder_id: str, card: CardRec) -> bool:
    """Whether this claimant may see the card: its holder by verified real
    name, its recorded guardian (the parent path reaches a card only after
    the guardian check), or the chat that claimed it."""
    if req.verified_id_number is not None and req.verified_id_number == holder_id:
        return True
    if req.path == "parent":
        return True
    return req.channel_user is not None and card.channel_user == req.channel_user


def _take_proxy_slot(guardian_id: str, child_id: str, now: dt.datetime) -> Generator[Op, Any, bool]:
    if (yield ("proxy_pair", guardian_id, child_id)):
        return True  # re-claiming an already claimed child is not a new one
    for slot in range(1, MAX_PROXY_CHILDREN + 1):
        if (yield ("proxy_take", guardian_id, slot, child_id, now)):
            return True
        # The slot was taken, possibly by a concurrent claim for this very child.
        if (yield ("proxy_pair", guardian_id, child_id)):
            return True
    return False


def _issue(req, holder_id, name_norm, match, guardian, attempt, now) -> Generator[Op, Any, tuple[CardRec, str]]:  # type: ignore[no-untyped-def]
    """Insert the card; a new card is logged as issued in the same statement.
    A card found instead (a concurrent claim won) is logged by the caller."""
    origin = match.origin
    identities = match.identities
    values = {
        "holder_id_number": holder_id,
        "holder_name": name_norm,
        "path": req.path,
        "identities": json.dumps(identities),
        "permissions": json.dumps(permissions_for(identities)),
        "face_verification": bool(req.face_verification) if req.path in K12_PATHS else None,
        "claimed_by_guardian_id": guardian.normalised if guardian else None,
        "channel_user": req.channel_user,
        "district_code": origin.district_code if origin else None,
        "school_code": origin.school_code if origin else None,
        "school_name": origin.school_name if origin else None,
        "created_at": now,
        "updated_at": now,
    }
    for _ in range(CARD_NUMBER_DRAWS):
        card_values = {"card_number": new_card_number(), **values}
        card = yield ("card_insert", card_values, _with_outcome(attempt, True, None, card_values["card_number"]))
        if card is not None:
            return card, "issued"
        card = yield ("card", holder_id)  # a concurrent claim won: its card is the one
        if card is not None:
            return card, "existing"
        # Neither ours nor anyone's: the random card number collided. Draw again.
    raise RuntimeError("could not draw a free card number")


def refresh_flow(
    name: str, holder: IdCheck, attempt: dict[str, Any], *, limit_failures: int, since: dt.datetime, now: dt.datetime
) -> Flow:
    """更新身份: re-match a card holder and update identities and permissions."""
    return _logged(_refresh_steps(name, holder, attempt, limit_failures, since, now), attempt)


def _refresh_steps(name, holder, attempt, limit_failures, since, now) -> Flow:  # type: ignore[no-untyped-def]
    hashes = (attempt["id_hash"], attempt["id_hash"])
    recent, person = yield from _gate(attempt["channel_user"], hashes, since, limit_failures, holder)
    if recent >= limit_failures:
        return Outcome(False, failure_code="rate_limited")
    if not holder.ok:
        return Outcome(False, failure_code="invalid_id_number", bad_field="id_number", detail=holder.problem)
    student, teacher, card = person
    if card is None:
        return Outcome(False, failure_code="card_not_found")
    name_norm = normalise_name(name)
    if card.holder_name != name_norm:
        return Outcome(False, failure_code="identity_not_found", bad_field="person_name")
    match = match_registry(student, teacher, name_norm)
    origin = match.origin or card
    yield ("card_update", {
        "id": card.id,
        "identities": json.dumps(match.identities),
        "permissions": json.dumps(permissions_for(match.identities)),
        "district_code": origin.district_code,
        "school_code": origin.school_code,
        "school_name": origin.school_name,
        "updated_at": now,
    })
    refreshed = yield ("card", holder.normalised)
    return Outcome(True, status="refreshed", card=refreshed, identities=list(refreshed.identities),
                   previous_identities=list(card.identities))


def new_attempt(
    hasher: Any, action: str, path: Optional[str], channel_user: Optional[str], holder: IdCheck, name: str,
    guardian: Optional[IdCheck], now: dt.datetime,
) -> dict[str, Any]:
    """The claim log row of one attempt: keyed hashes and masks, no full ID."""
    return {
        "created_at": now,
        "channel_user": channel_user,
        "action": action,
        "path": path,
        "id_hash": hasher(holder.normalised),
        "id_masked": mask_id(holder.normalised),
        "name_masked": mask_name(name),
        "guardian_id_hash": hasher(guardian.normalised) if guardian else None,
        "guardian_id_masked": mask_id(guardian.normalised) if guardian else None,
        "success": False,
        "failure_code": None,
        "card_number": None,
        "district_code": None,
        "school_code": None,
    }
