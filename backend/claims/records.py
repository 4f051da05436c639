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
from typing import Any, Optional

from backend.claims.permissions import permissions_for
from identity import mask_id, mask_name


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
    """A 学籍库 record, as far as the rules need it."""

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
    face_verification: Optional[bool]
    claimed_by_guardian_id: Optional[str]
    channel_user: Optional[str]  # the chat that claimed it
    district_code: Optional[str]
    school_code: Optional[str]
    school_name: Optional[str]
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

    student: Optional[StudentRec]
    teacher: Optional[TeacherRec]
    card: Optional[CardRec]


NO_ONE = Person(None, None, None)


@dataclass
class Attempt:
    """The claim log row of one attempt: keyed hashes and masks, never a
    full ID number. The flow fills in where the person studies or works,
    then logs it with the outcome."""

    created_at: dt.datetime
    channel_user: Optional[str]
    action: str  # claim | match | refresh
    path: Optional[str]
    id_hash: str
    id_masked: str
    name_masked: str
    guardian_id_hash: Optional[str]
    guardian_id_masked: Optional[str]
    success: bool = False
    failure_code: Optional[str] = None
    card_number: Optional[str] = None
    district_code: Optional[str] = None
    school_code: Optional[str] = None

    def with_outcome(self, success: bool, failure_code: Optional[str], card_number: Optional[str]) -> "Attempt":
        return dataclasses.replace(self, success=success, failure_code=failure_code, card_number=card_number)


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
