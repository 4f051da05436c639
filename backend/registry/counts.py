"""The coverage counts (backend/models.py: StudentCount, TeacherCount): the
registry's enrolled students and active teachers, and those of them holding
a card, per class and per school, so that coverage
(backend/campaign/coverage.py) sums some tens of thousands of small rows
instead of grouping ten million students. Here, beside the importer that
recounts them, as the registry's own figures.

Kept up to date:
- as cards are issued or deleted: by triggers on `cards` (models.py), in
  the card's transaction;
- as imports land: the importer (importer.py) recounts the
  schools the import touched (the schools of its rows, before and after),
  or every school after a large import;
- on demand: `python -m backend recount-coverage` recounts everything
  (after upgrading a database that had no counts, or to repair).

A recount upserts each row in place and then deletes the rows nobody is
counted in any more. On PostgreSQL it first locks the counts tables
against concurrent writers (SHARE ROW EXCLUSIVE: readers go on), so a card
issued meanwhile either committed before the recount read the cards (and
is counted by it) or waits and adds its one to the recounted row.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

BATCH = 1000  # school codes in one statement (well under both databases' parameter limits)

LOCK = "LOCK TABLE coverage_students, coverage_teachers IN SHARE ROW EXCLUSIVE MODE"

# {schools}: "TRUE" (every school) or "s.school_code IN :schools".
# "WHERE ... AND true": SQLite's way to tell an upsert's ON CONFLICT from a join's ON.
RECOUNT_STUDENTS = """
INSERT INTO coverage_students (school_code, grade, class_name, stage, district_code, school_name, students, claimed)
SELECT s.school_code, s.grade, s.class_name, s.stage, s.district_code, s.school_name,
       sum(CASE WHEN s.status = 'enrolled' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.status = 'enrolled' AND c.id IS NOT NULL THEN 1 ELSE 0 END)
FROM students AS s
LEFT JOIN cards AS c ON c.holder_id_number = s.id_number
WHERE {schools} AND true
GROUP BY s.school_code, s.grade, s.class_name, s.stage, s.district_code, s.school_name
ON CONFLICT (school_code, grade, class_name, stage, district_code, school_name)
DO UPDATE SET students = excluded.students, claimed = excluded.claimed
"""

DROP_EMPTY_STUDENTS = """
DELETE FROM coverage_students
WHERE {schools}
  AND NOT EXISTS (
    SELECT 1 FROM students AS s
    WHERE s.school_code = coverage_students.school_code
      AND s.grade = coverage_students.grade
      AND s.class_name = coverage_students.class_name
      AND s.stage = coverage_students.stage
      AND s.district_code = coverage_students.district_code
      AND s.school_name = coverage_students.school_name
  )
"""

RECOUNT_TEACHERS = """
INSERT INTO coverage_teachers (school_code, district_code, school_name, teachers, claimed)
SELECT s.school_code, s.district_code, s.school_name,
       sum(CASE WHEN s.status = 'active' THEN 1 ELSE 0 END),
       sum(CASE WHEN s.status = 'active' AND c.id IS NOT NULL THEN 1 ELSE 0 END)
FROM teachers AS s
LEFT JOIN cards AS c ON c.holder_id_number = s.id_number
WHERE {schools} AND true
GROUP BY s.school_code, s.district_code, s.school_name
ON CONFLICT (school_code, district_code, school_name)
DO UPDATE SET teachers = excluded.teachers, claimed = excluded.claimed
"""

DROP_EMPTY_TEACHERS = """
DELETE FROM coverage_teachers
WHERE {schools}
  AND NOT EXISTS (
    SELECT 1 FROM teachers AS s
    WHERE s.school_code = coverage_teachers.school_code
      AND s.district_code = coverage_teachers.district_code
      AND s.school_name = coverage_teachers.school_name
  )
"""

# Each statement, and its school code column (for "{schools}").
STATEMENTS = (
    (RECOUNT_STUDENTS, "s.school_code"),
    (DROP_EMPTY_STUDENTS, "school_code"),
    (RECOUNT_TEACHERS, "s.school_code"),
    (DROP_EMPTY_TEACHERS, "school_code"),
)

# Full recounts and the figures tests compare the maintained counts with.
STUDENT_COUNTS = """
SELECT school_code, grade, class_name, stage, district_code, school_name, students, claimed
FROM coverage_students
ORDER BY school_code, grade, class_name, stage, district_code, school_name
"""

TEACHER_COUNTS = """
SELECT school_code, district_code, school_name, teachers, claimed
FROM coverage_teachers
ORDER BY school_code, district_code, school_name
"""


def _batches(schools: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(set(schools))
    for i in range(0, len(ordered), BATCH):
        yield ordered[i : i + BATCH]


async def recount(session: AsyncSession, schools: Collection[str] | None = None) -> None:
    """Recount the counts rows of `schools` (school codes), or of every
    school (None), in the session's transaction (a writing one)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(LOCK))
    if schools is None:
        for sql, _ in STATEMENTS:
            await session.execute(text(sql.format(schools="TRUE")))
        return
    for batch in _batches(schools):
        for sql, column in STATEMENTS:
            statement = text(sql.format(schools=f"{column} IN :schools"))
            await session.execute(statement.bindparams(bindparam("schools", expanding=True)), {"schools": batch})


async def snapshot(session: AsyncSession) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every counts row, in order (students', teachers')."""
    students = [tuple(r) for r in await session.execute(text(STUDENT_COUNTS))]
    teachers = [tuple(r) for r in await session.execute(text(TEACHER_COUNTS))]
    return students, teachers
