"""Coverage: the registry's enrolled students (status `enrolled`) and active
teachers (status `active`) against those of them holding a card, one row
per unit of a level:

- `city`: the 设区市, by the first four digits of district_code;
- `county`: the county-level division (district_code);
- `school`: school_code;
- `grade`, `class`: a school's grade, a grade's class (students only: the
  教师库 does not place teachers in classes, so their figures are 0).

A unit's code names it across levels: 3601, 360102, the school code, then
SCHOOL/GRADE and SCHOOL/GRADE/CLASS; `within` (a unit of a level above)
narrows the rows to that unit, for the dashboard's drill-down. Every query
is limited to a scope (scope.py); `stage` keeps the students of one stage
and the teachers of the schools that teach it.

One GROUP BY per table, joined to cards by the holder's ID number (unique).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.campaign.scope import Scope
from backend.models import Card, Student, Teacher
from backend.registry.jiangxi import city_name, district_name
from contract.registry import ACTIVE, COVERAGE_LEVEL_LABELS, COVERAGE_LEVELS, ENROLLED, STAGES

LEVELS = COVERAGE_LEVELS
LEVEL_LABELS = COVERAGE_LEVEL_LABELS
SEP = "/"  # between a school code, a grade and a class in a unit's code


@dataclass
class CoverageRow:
    code: str
    name: str
    students: int = 0
    students_claimed: int = 0
    teachers: int = 0
    teachers_claimed: int = 0

    @property
    def students_rate(self) -> float | None:
        """Per cent, one decimal; None without students."""
        return round(self.students_claimed * 100 / self.students, 1) if self.students else None

    @property
    def teachers_rate(self) -> float | None:
        return round(self.teachers_claimed * 100 / self.teachers, 1) if self.teachers else None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "students": self.students,
            "students_claimed": self.students_claimed,
            "students_rate": self.students_rate,
            "teachers": self.teachers,
            "teachers_claimed": self.teachers_claimed,
            "teachers_rate": self.teachers_rate,
        }


def top_level(scope: Scope) -> str:
    """Where a scope's coverage starts: the province by city, a city by
    county, a county or schools by school."""
    if scope.everything:
        return "city"
    return "county" if scope.role == "district" and len(scope.codes[0]) == 4 else "school"


def child_level(level: str) -> str | None:
    """The level a unit of `level` drills down to."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


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
    """Rows of one unit (any level's code); nothing for None or ""."""
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


async def coverage(
    session: AsyncSession,
    level: str,
    scope: Scope,
    *,
    within: str | None = None,
    stage: str | None = None,
) -> list[CoverageRow]:
    """One row per unit of `level` in `scope` (and `within`), by code."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}")
    rows: dict[str, CoverageRow] = {}
    in_scope = scope.where(Student.district_code, Student.school_code)
    keys = _keys(level, Student)
    stage_filter = [Student.stage == stage] if stage else []
    students = (
        select(*keys, func.count(), func.count(Card.id), func.max(Student.school_name))
        .select_from(Student)
        .outerjoin(Card, Card.holder_id_number == Student.id_number)
        .where(Student.status == ENROLLED, in_scope, *_within(within, Student), *stage_filter)
        .group_by(*keys)
    )
    for *key, n, claimed, school_name in await session.execute(students):
        row = rows.setdefault(_code(key), CoverageRow(_code(key), _name(level, key, school_name)))
        row.students, row.students_claimed = int(n), int(claimed)
    teacher_keys = _keys(level, Teacher)
    teacher_filter: list[ColumnElement[bool]] = []
    if stage:
        teacher_filter.append(Teacher.school_code.in_(select(Student.school_code).where(Student.stage == stage)))
    if level in ("city", "county", "school"):
        teachers = (
            select(*teacher_keys, func.count(), func.count(Card.id), func.max(Teacher.school_name))
            .select_from(Teacher)
            .outerjoin(Card, Card.holder_id_number == Teacher.id_number)
            .where(
                Teacher.status == ACTIVE,
                scope.where(Teacher.district_code, Teacher.school_code),
                *_within(within, Teacher),
                *teacher_filter,
            )
            .group_by(*teacher_keys)
        )
        for *key, n, claimed, school_name in await session.execute(teachers):
            row = rows.setdefault(_code(key), CoverageRow(_code(key), _name(level, key, school_name)))
            row.teachers, row.teachers_claimed = int(n), int(claimed)
    return [rows[code] for code in sorted(rows)]


def _code(key: list[Any]) -> str:
    return SEP.join(str(k or "") for k in key)


def _name(level: str, key: list[Any], school_name: str | None) -> str:
    if level == "city":
        return city_name(key[0])
    if level == "county":
        return district_name(key[0])
    school = school_name or str(key[0])
    if level == "school":
        return school
    return " ".join([school, *(str(k) for k in key[1:])])


def totals(rows: list[CoverageRow]) -> CoverageRow:
    total = CoverageRow("", "合计")
    for row in rows:
        total.students += row.students
        total.students_claimed += row.students_claimed
        total.teachers += row.teachers
        total.teachers_claimed += row.teachers_claimed
    return total
