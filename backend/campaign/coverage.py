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

The figures are the coverage counts (backend/registry/counts.py, kept as cards are issued
and imports land): one GROUP BY per counts table, summing rows of a class
(students) or a school (teachers), never the registry's ten million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.campaign.scope import Scope
from backend.models import StudentCount, TeacherCount
from backend.registry.jiangxi import city_name, district_name
from contract.registry import COVERAGE_LEVEL_LABELS, COVERAGE_LEVELS, STAGES

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


def _keys(level: str, model: type[StudentCount] | type[TeacherCount]) -> list[Any]:
    if level == "city":
        return [func.substr(model.district_code, 1, 4)]
    if level == "county":
        return [model.district_code]
    if level == "school" or model is TeacherCount:
        return [model.school_code]
    if level == "grade":
        return [StudentCount.school_code, StudentCount.grade]
    return [StudentCount.school_code, StudentCount.grade, StudentCount.class_name]


def _within(unit: str | None, model: type[StudentCount] | type[TeacherCount]) -> list[ColumnElement[bool]]:
    """Rows of one unit (any level's code); nothing for None or ""."""
    if not unit:
        return []
    if SEP in unit:
        school, _, rest = unit.partition(SEP)
        grade, _, klass = rest.partition(SEP)
        if model is TeacherCount:
            return [TeacherCount.school_code == school]
        conditions = [StudentCount.school_code == school, StudentCount.grade == grade]
        return conditions + ([StudentCount.class_name == klass] if klass else [])
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
    sc, tc = StudentCount, TeacherCount
    keys = _keys(level, sc)
    stage_filter = [sc.stage == stage] if stage else []
    students = (
        select(*keys, func.sum(sc.students), func.sum(sc.claimed), func.max(sc.school_name))
        .where(sc.students > 0, scope.where(sc.district_code, sc.school_code), *_within(within, sc), *stage_filter)
        .group_by(*keys)
    )
    for *key, n, claimed, school_name in await session.execute(students):
        row = rows.setdefault(_code(key), CoverageRow(_code(key), _name(level, key, school_name)))
        row.students, row.students_claimed = int(n), int(claimed)
    teacher_keys = _keys(level, tc)
    # A stage's schools: those with students of the stage, of any status (rows of 0 enrolled included).
    teacher_filter = [tc.school_code.in_(select(sc.school_code).where(sc.stage == stage))] if stage else []
    if level in ("city", "county", "school"):
        teachers = (
            select(*teacher_keys, func.sum(tc.teachers), func.sum(tc.claimed), func.max(tc.school_name))
            .where(
                tc.teachers > 0,
                scope.where(tc.district_code, tc.school_code),
                *_within(within, tc),
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
