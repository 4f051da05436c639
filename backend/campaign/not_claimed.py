"""Who has not claimed: a class's enrolled students, and a school's active
teachers, who hold no card, for the school's staff to follow up.

A unit is a school, a grade of it or a class of it (coverage.py's codes:
SCHOOL, SCHOOL/GRADE, SCHOOL/GRADE/CLASS); a school's teachers belong to
the school only (the 教师库 does not place them in classes). Every query
is for one school, limited to the account's scope twice: the school must
lie in it (`find_school`: a school outside it is not found, whether or not
it exists), and every row read must lie in it (the scope's district
prefix in the SQL).

The SQL is written out whole below. Names and ID numbers are masked as the
rows are read (`_person`): no full ID number or full name leaves this
module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaign.coverage import SEP
from backend.campaign.scope import Scope
from contract.paths import IDENTITY_LABELS, TEACHER
from identity import mask_id, mask_name

KINDS = ("student", "teacher")
KIND_LABELS = {"student": "学生", "teacher": IDENTITY_LABELS[TEACHER]}
MAX_PART = 32  # school_code, grade and class_name are VARCHAR(32)

# The school as the registry names it, when it lies in the scope's district prefix
# ('' + '%' for the province or school accounts: their schools are checked by code).
SCHOOL = """
SELECT school_name, district_code FROM (
    SELECT school_name, district_code FROM students
    WHERE school_code = :school AND district_code LIKE :district_prefix
    UNION ALL
    SELECT school_name, district_code FROM teachers
    WHERE school_code = :school AND district_code LIKE :district_prefix
) AS found
LIMIT 1
"""

# A school's (grade's, class's) enrolled students without a card, class by class.
STUDENTS = """
SELECT s.school_code, s.school_name, s.grade, s.class_name, s.name, s.id_number
FROM students AS s
WHERE s.school_code = :school
  AND s.district_code LIKE :district_prefix
  AND (CAST(:grade AS VARCHAR(32)) IS NULL OR s.grade = :grade)
  AND (CAST(:class_name AS VARCHAR(32)) IS NULL OR s.class_name = :class_name)
  AND s.status = 'enrolled'
  AND NOT EXISTS (SELECT 1 FROM cards AS c WHERE c.holder_id_number = s.id_number)
ORDER BY s.grade, s.class_name, s.student_no, s.id_number
"""

# A school's active teachers without a card.
TEACHERS = """
SELECT t.school_code, t.school_name, '' AS grade, '' AS class_name, t.name, t.id_number
FROM teachers AS t
WHERE t.school_code = :school
  AND t.district_code LIKE :district_prefix
  AND t.status = 'active'
  AND NOT EXISTS (SELECT 1 FROM cards AS c WHERE c.holder_id_number = t.id_number)
ORDER BY t.teacher_no, t.id_number
"""

# A school's (grade's) classes: enrolled students, and those of them without a card.
CLASSES = """
SELECT s.grade, s.class_name, count(*) AS students, count(*) - count(c.id) AS unclaimed
FROM students AS s
LEFT JOIN cards AS c ON c.holder_id_number = s.id_number
WHERE s.school_code = :school
  AND s.district_code LIKE :district_prefix
  AND (CAST(:grade AS VARCHAR(32)) IS NULL OR s.grade = :grade)
  AND s.status = 'enrolled'
GROUP BY s.grade, s.class_name
ORDER BY s.grade, s.class_name
"""

PAGE = "\nLIMIT :limit OFFSET :offset"


@dataclass(frozen=True)
class Unit:
    """A school, a grade of it, or a class of a grade."""

    school: str
    grade: str | None = None
    class_name: str | None = None

    @property
    def code(self) -> str:
        return SEP.join(p for p in (self.school, self.grade, self.class_name) if p is not None)

    @property
    def is_school(self) -> bool:
        return self.grade is None

    @classmethod
    def of(cls, school: str | None, grade: str | None = None, class_name: str | None = None) -> Unit:
        """From a page's parameters; ValueError says what is wrong."""
        school, grade, class_name = (_part(p) for p in (school, grade, class_name))
        if school is None:
            raise ValueError("school is required")
        if not (school.isascii() and school.isalnum()):
            raise ValueError("a school code has letters and digits only")
        if class_name is not None and grade is None:
            raise ValueError("a class needs its grade")
        return cls(school, grade, class_name)

    @classmethod
    def parse(cls, code: str | None) -> Unit:
        """From a unit's code: SCHOOL, SCHOOL/GRADE or SCHOOL/GRADE/CLASS."""
        parts = (code or "").split(SEP)
        if len(parts) > 3:
            raise ValueError("a unit is SCHOOL, SCHOOL/GRADE or SCHOOL/GRADE/CLASS")
        if len(parts) > 1 and not all(p.strip() for p in parts[1:]):
            raise ValueError("a grade or class is empty")
        return cls.of(*parts)


def _part(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_PART or not value.isprintable():
        raise ValueError(f"codes, grades and classes have at most {MAX_PART} printable characters")
    return value


@dataclass(frozen=True)
class School:
    code: str
    name: str
    district_code: str


@dataclass(frozen=True)
class Unclaimed:
    """One person without a card, masked: `name` as 张*明, `id_number` as 3601**********1234."""

    kind: str  # student | teacher
    school_code: str
    school_name: str
    grade: str
    class_name: str
    name: str
    id_number: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "school_code": self.school_code,
            "school_name": self.school_name,
            "grade": self.grade,
            "class_name": self.class_name,
            "name": self.name,
            "id_number": self.id_number,
        }


@dataclass(frozen=True)
class ClassCount:
    grade: str
    class_name: str
    students: int
    unclaimed: int

    @property
    def unit(self) -> str:
        return SEP.join((self.grade, self.class_name))


def _params(scope: Scope, school: str) -> dict[str, Any] | None:
    """The scope's parameters of the queries of one school, or None when
    the school is outside it (a school account's other schools)."""
    if scope.role == "school" and school not in scope.codes:
        return None
    prefix = scope.codes[0] if scope.role == "district" else ""
    return {"school": school, "district_prefix": prefix + "%"}


def _person(kind: str, row: Any) -> Unclaimed:
    """The result layer: a row as it leaves this module, masked."""
    school_code, school_name, grade, class_name, name, id_number = row
    return Unclaimed(
        kind, school_code, school_name or "", grade or "", class_name or "", mask_name(name), mask_id(id_number)
    )


async def find_school(session: AsyncSession, school: str, scope: Scope) -> School | None:
    """The school in the registry, if the scope holds it; None otherwise
    (unknown or another's: the same answer)."""
    params = _params(scope, school)
    if params is None:
        return None
    row = (await session.execute(text(SCHOOL), params)).first()
    if row is None or not scope.holds(row.district_code, school):
        return None
    return School(school, row.school_name or school, row.district_code)


async def unclaimed(
    session: AsyncSession,
    kind: str,
    unit: Unit,
    scope: Scope,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[Unclaimed]:
    """The unit's students (`kind` student) or the school's teachers
    (teacher) without a card, masked; a page of them with `limit`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    params = _params(scope, unit.school)
    if params is None:
        return []
    if kind == "student":
        sql, params = STUDENTS, {**params, "grade": unit.grade, "class_name": unit.class_name}
    elif not unit.is_school:
        return []  # teachers belong to a school, not to its grades or classes
    else:
        sql = TEACHERS
    if limit is not None:
        sql, params = sql + PAGE, {**params, "limit": limit, "offset": max(offset, 0)}
    return [_person(kind, row) for row in await session.execute(text(sql), params)]


async def classes(session: AsyncSession, unit: Unit, scope: Scope) -> list[ClassCount]:
    """The classes of a school (of one grade with `unit.grade`): how many
    enrolled students, how many of them without a card."""
    params = _params(scope, unit.school)
    if params is None:
        return []
    result = await session.execute(text(CLASSES), {**params, "grade": unit.grade})
    return [ClassCount(g or "", c or "", int(n), int(u)) for g, c, n, u in result]
