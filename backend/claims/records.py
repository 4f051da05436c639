"""What the claim rules read and write, as typed records (free of I/O).

A claim request comes in; the registries' records of one ID number and its
card come back from the database; an attempt is logged; an outcome goes
out to the API. The runners build these records from rows by column name
(binding.py), so the field names here are the tables' column names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from backend.claims.permissions import permissions_for
from identity import mask_id, mask_name


@dataclass
class ClaimRequest:
    path: str
    name: str
    id_number: str
    guardian_name: str | None = None
    guardian_id_number: str | None = None
    face_verification: bool | None = None
    channel_user: str | None = None
    # The ID number of the chat's verified real name (the mini-program's
    # signed identity), when it has one: proves the claimant is that person.
    verified_id_number: str | None = None


@dataclass(frozen=True)
class StudentRec:
    """A 学籍库 record, as far as the rules need it."""

    name_norm: str
    stage: str
    status: str
    school_code: str
    school_name: str
    district_code: str
    guardian1_id_number: str | None
    guardian1_name_norm: str | None
    guardian2_id_number: str | None
    guardian2_name_norm: str | None


@dataclass(frozen=True)
class TeacherRec:
    """A 教师库 record, as far as the rules need it."""

    name_norm: str
    status: str
    school_code: str
    school_name: str
    district_code: str


@dataclass(frozen=True, kw_only=True)
class CardValues:
    """The columns of a card a claim writes (the `cards` table less its id)."""

    card_number: str
    holder_id_number: str
    holder_name: str
    path: str
    identities: list[str]
    permissions: list[str]
    face_verification: bool | None
    claimed_by_guardian_id: str | None
    channel_user: str | None  # the chat that claimed it
    district_code: str | None
    school_code: str | None
    school_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class CardRec(CardValues):
    """An issued card as the flows see it (the same attribute names as the
    ORM model, so `card_view` shows either)."""

    id: int


@dataclass(frozen=True)
class Person:
    """The registries' records of one ID number, and its card."""

    student: StudentRec | None
    teacher: TeacherRec | None
    card: CardRec | None


NO_ONE = Person(None, None, None)


@dataclass
class Attempt:
    """The claim log row of one attempt: keyed hashes and masks, never a
    full ID number. The flow fills in where the person studies or works,
    then logs it with the outcome."""

    created_at: dt.datetime
    channel_user: str | None
    action: str  # claim | match | refresh
    path: str | None
    id_hash: str
    id_masked: str
    name_masked: str
    guardian_id_hash: str | None
    guardian_id_masked: str | None
    success: bool = False
    failure_code: str | None = None
    card_number: str | None = None
    district_code: str | None = None
    school_code: str | None = None

    def with_outcome(self, success: bool, failure_code: str | None, card_number: str | None) -> Attempt:
        return dataclasses.replace(self, success=success, failure_code=failure_code, card_number=card_number)


@dataclass
class Outcome:
    """Result of a claim, match or refresh. `failure_code` is one of the
    contract's codes (or `card_not_found` for a refresh without a card)."""

    success: bool
    status: str | None = None  # issued | existing | matched | refreshed
    failure_code: str | None = None
    bad_field: str | None = None  # which input failed, when one did
    detail: str | None = None  # e.g. the ID check's reason, or a hint
    card: CardRec | None = None
    identities: list[str] = field(default_factory=list)
    previous_identities: list[str] | None = None
    path_mismatch: bool = False
    logged: bool = False  # the attempt was logged with the card (see rules._issue)
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
    """A card as the API shows it (a CardRec or the ORM's Card): masked
    holder, never the full ID."""
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
