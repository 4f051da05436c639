"""Records to fix (issue 15, item 5): K-12 claims that failed on the
学籍库, as a work list per school saying which field the school must
change, and whether a later registry import has changed it since.

The registry failures (contract/failures.py):
- `guardian_mismatch`: the parent is not the child's recorded guardian 1
  or 2 (guardian data missing, or another person's);
- `not_enrolled`: the student's status is not 在读 (or the stage is
  university);
- `identity_not_found` under another name: the ID number is a student's,
  the name typed is not the one on record (the claim rules log such an
  attempt at that student's school; an ID the registry does not hold has
  no school and is no school's item).

The claim log holds no full ID number: an attempt is matched to its
student through what it stores. Candidates are the students of the school
the attempt was logged at whose ID number has the masked form's visible
ends (`3601**********1234`); the keyed hash (`id_hash`) then picks the one.
Nothing leaves this module but masked names and ID numbers.

An item is fixed when the student's row was changed by an import after the
failed attempt (`students.updated_at`, stamped by backend/registry/sinks.py
only when a value changes) and the rule that failed now passes as far as
the attempt tells: status 在读 at a K-12 stage; the guardian ID the parent
typed (its hash) among the recorded guardians; the masked name typed equal
to the record's. A student holding a card has nothing left to fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaign.scope import Scope
from backend.models import Card, ClaimAttempt, Student
from contract.failures import GUARDIAN_MISMATCH, NOT_ENROLLED, REGISTRY_FAILURES
from contract.paths import K12_PATHS
from contract.registry import ENROLLED, K12_STAGES
from identity import mask_name

MAX_ROWS = 5000  # attempts read for one list (newest first)
STATUS_LABELS = {"enrolled": "在读", "graduated": "已毕业", "suspended": "休学", "withdrawn": "退学"}
STATE_LABELS = {"open": "待修改", "fixed": "已修改，可重新领卡"}

Hasher = Callable[[str], str]


@dataclass(frozen=True)
class FixItem:
    """One student's record to fix, as staff may see it (masked)."""

    school_code: str
    school_name: str
    district_code: str
    grade: str
    class_name: str
    student_masked: str
    id_masked: str
    failure_code: str
    problem: str  # what is wrong, e.g. 监护人信息缺失
    field: str  # what the school must change in the 学籍库
    given: str  # what the claimant typed, masked ("" when nothing to say)
    failed_at: dt.datetime  # UTC
    fixed_at: dt.datetime | None  # UTC: the import that changed the record

    @property
    def state(self) -> str:
        return "fixed" if self.fixed_at is not None else "open"

    def as_json(self) -> dict[str, Any]:
        return {
            "school_code": self.school_code,
            "school_name": self.school_name,
            "grade": self.grade,
            "class_name": self.class_name,
            "student_masked": self.student_masked,
            "id_masked": self.id_masked,
            "failure_code": self.failure_code,
            "problem": self.problem,
            "field": self.field,
            "given": self.given,
            "state": self.state,
            "failed_at": self.failed_at.replace(tzinfo=dt.timezone.utc).isoformat(),
            "fixed_at": self.fixed_at.replace(tzinfo=dt.timezone.utc).isoformat() if self.fixed_at else None,
        }


def _candidates() -> Any:
    """Failed K-12 claims on the registry, each with the students it may be
    (same school, same visible ends of the ID number), unless they hold a
    card. Callers add who (scope or chat user) and filter by hash."""
    a, s = ClaimAttempt, Student
    return (
        select(
            a.created_at,
            a.failure_code,
            a.id_hash,
            a.id_masked,
            a.name_masked,
            a.guardian_id_hash,
            a.guardian_id_masked,
            s.id_number,
            s.name,
            s.stage,
            s.status,
            s.school_code,
            s.school_name,
            s.district_code,
            s.grade,
            s.class_name,
            s.guardian1_id_number,
            s.guardian2_id_number,
            s.updated_at,
        )
        .select_from(a)
        .join(
            s,
            and_(
                s.school_code == a.school_code,
                func.substr(s.id_number, 1, 4) == func.substr(a.id_masked, 1, 4),
                func.substr(s.id_number, 15, 4) == func.substr(a.id_masked, 15, 4),
            ),
        )
        .outerjoin(Card, Card.holder_id_number == s.id_number)
        .where(
            a.success.is_(False),
            a.action.in_(("claim", "match")),
            a.path.in_(K12_PATHS),
            a.failure_code.in_(REGISTRY_FAILURES),
            a.id_hash.is_not(None),
            Card.id.is_(None),
        )
        .order_by(a.created_at.desc(), a.id.desc())
        .limit(MAX_ROWS)
    )


def _fixed(row: Any, hasher: Hasher) -> bool:
    """The record changed after the attempt, and the failed rule now passes."""
    if row.updated_at is None or row.updated_at <= row.created_at:
        return False
    if row.failure_code == NOT_ENROLLED:
        return bool(row.status == ENROLLED and row.stage in K12_STAGES)
    if row.failure_code == GUARDIAN_MISMATCH:
        recorded = {hasher(g) for g in (row.guardian1_id_number, row.guardian2_id_number) if g}
        return row.guardian_id_hash is not None and row.guardian_id_hash in recorded
    return bool(mask_name(row.name) == row.name_masked)


def _what(row: Any) -> tuple[str, str, str]:
    """(problem, field to change, what was typed) of an item."""
    if row.failure_code == GUARDIAN_MISMATCH:
        given = f"家长所填身份证号 {row.guardian_id_masked}" if row.guardian_id_masked else ""
        if not (row.guardian1_id_number or row.guardian2_id_number):
            return "监护人信息缺失", "学籍库中该学生的监护人姓名、身份证号（未登记）", given
        return "监护人不符", "学籍库中该学生的监护人姓名/身份证号（与代领家长所填不一致）", given
    if row.failure_code == NOT_ENROLLED:
        if row.stage not in K12_STAGES:
            return "非在读", "学段（学籍库现为大学）", ""
        return "非在读", f"学籍状态（学籍库现为{STATUS_LABELS.get(row.status, row.status)}）", ""
    return "姓名不符", "学籍库中该学生的姓名（与领卡时所填姓名不一致）", f"所填姓名 {row.name_masked or ''}"


def _items(rows: Any, hasher: Hasher) -> list[tuple[str, FixItem]]:
    """The newest attempt of each student and failure (rows newest first),
    only those whose hash is the candidate's own ID number's; each with the
    student's ID number (for this module's own use: it never leaves it)."""
    seen: set[tuple[str, str]] = set()
    items: list[tuple[str, FixItem]] = []
    for row in rows:
        key = (row.id_number, row.failure_code)
        if key in seen or hasher(row.id_number) != row.id_hash:
            continue
        seen.add(key)
        problem, field, given = _what(row)
        item = FixItem(
            school_code=row.school_code,
            school_name=row.school_name,
            district_code=row.district_code,
            grade=row.grade,
            class_name=row.class_name,
            student_masked=mask_name(row.name),
            id_masked=row.id_masked,
            failure_code=row.failure_code,
            problem=problem,
            field=field,
            given=given,
            failed_at=row.created_at,
            fixed_at=row.updated_at if _fixed(row, hasher) else None,
        )
        items.append((row.id_number, item))
    return items


async def records_to_fix(
    session: AsyncSession, scope: Scope, hasher: Hasher, *, school: str | None = None, state: str | None = None
) -> list[FixItem]:
    """The work list of the schools in `scope` (narrowed to `school`, and to
    `state` open or fixed), by school, grade, class, newest failure first."""
    query = _candidates().where(scope.where(Student.district_code, Student.school_code))
    if school:
        query = query.where(Student.school_code == school)
    items = [item for _, item in _items(await session.execute(query), hasher)]
    if state:
        items = [i for i in items if i.state == state]
    return sorted(items, key=lambda i: (i.school_code, i.grade, i.class_name, -i.failed_at.timestamp()))


@dataclass(frozen=True)
class Corrected:
    """A chat user's failed claim whose record has been corrected since."""

    failure_code: str
    student_masked: str
    fixed_at: dt.datetime


async def corrected_for(session: AsyncSession, hasher: Hasher, channel_user: str) -> list[Corrected]:
    """This chat's students whose latest failed claim on the registry has
    been corrected by an import since (newest first). A student the chat
    tried again after the correction is no longer listed: that attempt,
    failed, is the latest and not corrected since; succeeded, a card."""
    rows = await session.execute(_candidates().where(ClaimAttempt.channel_user == channel_user))
    latest: dict[str, FixItem] = {}
    for id_number, item in _items(rows, hasher):  # newest first: the first of a student is its latest
        latest.setdefault(id_number, item)
    return [Corrected(i.failure_code, i.student_masked, i.fixed_at) for i in latest.values() if i.fixed_at is not None]
