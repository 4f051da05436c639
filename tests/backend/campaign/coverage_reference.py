"""Coverage as it was counted before the coverage counts
(backend/registry/counts.py): one GROUP BY per registry table, joined to
cards by the holder's ID number. The tests of the counts compare
coverage's answers with these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.campaign.coverage import SEP, CoverageRow, _code, _name
from backend.campaign.scope import Scope
from backend.models import Card, Student, Teacher
from contract.registry import ACTIVE, ENROLLED


def _keys(level: str, model: type[Student] | type[Teacher]) -> list[Any]:
    if level == "city":
        return [func.substr(model.district_code, 1, 4)]
    if level == "county":
        return [model.district_code]
    if level == "school" or model is Teacher:
        return [model.school_code]
    if level == "grade":
        return [Student.school_code, Student.grade]
    return [Student.school_code, Student.grade, Student.class_name]


def _within(unit: str | None, model: type[Student] | type[Teacher]) -> list[ColumnElement[bool]]:
    if not unit:
        return []
    if SEP in unit:
        school, _, rest = unit.partition(SEP)
        grade, _, klass = rest.partition(SEP)
        if model is Teacher:
            return [Teacher.school_code == school]
        conditions = [Student.school_code == school, Student.grade == grade]
        return conditions + ([Student.class_name == klass] if klass else [])
    if unit.isdigit() and len(unit) in (4, 6):
        return [Scope("district", (unit,)).where(model.district_code, model.school_code)]
    return [model.school_code == unit]


async def grouped_coverage(
    session: AsyncSession, level: str, scope: Scope, *, within: str | None = None, stage: str | None = None
) -> list[CoverageRow]:
    rows: dict[str, CoverageRow] = {}
    keys = _keys(level, Student)
    students = (
        select(*keys, func.count(), func.count(Card.id), func.max(Student.school_name))
        .select_from(Student)
        .outerjoin(Card, Card.holder_id_number == Student.id_number)
        .where(
            Student.status == ENROLLED,
            scope.where(Student.district_code, Student.school_code),
            *_within(within, Student),
            *([Student.stage == stage] if stage else []),
        )
        .group_by(*keys)
    )
    for *key, n, claimed, school_name in await session.execute(students):
        row = rows.setdefault(_code(key), CoverageRow(_code(key), _name(level, key, school_name)))
        row.students, row.students_claimed = int(n), int(claimed)
    if level in ("city", "county", "school"):
        teacher_keys = _keys(level, Teacher)
        teacher_stage = [Teacher.school_code.in_(select(Student.school_code).where(Student.stage == stage))]
        teachers = (
            select(*teacher_keys, func.count(), func.count(Card.id), func.max(Teacher.school_name))
            .select_from(Teacher)
            .outerjoin(Card, Card.holder_id_number == Teacher.id_number)
            .where(
                Teacher.status == ACTIVE,
                scope.where(Teacher.district_code, Teacher.school_code),
                *_within(within, Teacher),
                *(teacher_stage if stage else []),
            )
            .group_by(*teacher_keys)
        )
        for *key, n, claimed, school_name in await session.execute(teachers):
            row = rows.setdefault(_code(key), CoverageRow(_code(key), _name(level, key, school_name)))
            row.teachers, row.teachers_claimed = int(n), int(claimed)
    return [rows[code] for code in sorted(rows)]
