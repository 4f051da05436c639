"""Deterministic demo registry for the Jiangxi (province code 36) e-card backend.

`generate()` writes ``students.csv`` and ``teachers.csv`` in the registry
contract format (UTF-8, header row, written by the csv module with its
default dialect, so lines end in CRLF) filled with
realistic but fictitious Jiangxi people: real district codes, school names in
the usual patterns, weighted common surnames, compound surnames, minority
names with a middle dot, guardians shared by siblings, and a few people who
are both a teacher and a university student.

A development tool: the product never imports it (the Jiangxi reference
data it draws from lives in backend/registry/jiangxi.py). The modules:
shape.py (ages, grades, probabilities), ids.py (ID numbers), people.py
(names), schools.py (the school catalogue), students.py and teachers.py
(the rows), samples.py (identities to try).

Design notes
------------
* Deterministic: one ``random.Random(seed)`` drives everything, the school
  catalogue is fixed, ages are computed against the fixed reference date
  2026-09-01 (never the current date), and nothing iterates over a set.
* Fast and bounded: rows are streamed and written in batches with
  ``csv.writer.writerows``; every pool (names, schools, dates, check-digit
  partial sums) is precomputed, so a row costs a few list look-ups and
  ``random()`` calls.  Memory does not grow with the number of rows.
* ID numbers are unique by construction, without a set of issued IDs
  (ids.py).  The only shared IDs are the deliberate
  teacher-and-university-student people, who are allocated once in the
  student space and written to both files.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.registry import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from tools.demo_registry.people import People
from tools.demo_registry.samples import SAMPLE_KINDS, find_samples
from tools.demo_registry.schools import build_catalogue
from tools.demo_registry.shape import (
    DEFAULT_SEED,
    REFERENCE_DATE,
    STAGE_AGES,
    STUDENT_HEADER,
    TEACHER_HEADER,
    TEACHER_STUDENT_SHARE,
)
from tools.demo_registry.students import Row, Students, overlap_people
from tools.demo_registry.teachers import teacher_rows

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_DATE",
    "SAMPLE_KINDS",
    "STAGES",
    "STAGE_AGES",
    "STUDENT_HEADER",
    "STUDENT_STATUSES",
    "TEACHER_HEADER",
    "TEACHER_STATUSES",
    "DemoSummary",
    "find_samples",
    "generate",
]
# Rows per writerows() call and progress granularity.
_BATCH_ROWS = 5_000
_PROGRESS_EVERY = 100_000


@dataclass
class DemoSummary:
    """What `generate` wrote, plus sample identities for demos."""

    out_dir: Path
    seed: int
    students: int  # rows in students.csv
    teachers: int  # rows in teachers.csv
    families: int = 0  # groups of siblings sharing guardians
    guardians: int = 0  # distinct guardian people
    multi_child_families: int = 0  # families with 2-4 children
    largest_family: int = 0  # children in the largest family
    students_without_guardian: int = 0  # rows with empty guardian columns
    teacher_and_university_students: int = 0  # people in both files
    by_stage: dict[str, int] = field(default_factory=dict)  # in STAGES order
    by_status: dict[str, int] = field(default_factory=dict)  # in STUDENT_STATUSES order
    samples: list[dict[str, Any]] = field(default_factory=list)  # see find_samples()

    @property
    def students_csv(self) -> Path:
        return self.out_dir / "students.csv"

    @property
    def teachers_csv(self) -> Path:
        return self.out_dir / "teachers.csv"


class _Progress:
    """Rows written so far, reported about every _PROGRESS_EVERY rows."""

    def __init__(self, report: Callable[[int], None] | None) -> None:
        self.report = report
        self.done = 0
        self.reported = -1
        self.next = _PROGRESS_EVERY

    def add(self, rows: int) -> None:
        self.done += rows
        if self.report is not None and self.done >= self.next:
            self.report(self.done)
            self.reported = self.done
            self.next = (self.done // _PROGRESS_EVERY + 1) * _PROGRESS_EVERY

    def finish(self) -> None:
        if self.report is not None and self.reported != self.done:
            self.report(self.done)


def _write(tmp: Path, header: Sequence[str], groups: Iterable[list[Row]], progress: _Progress) -> None:
    """Write the rows (groups of them, e.g. a family's) in batches of about
    _BATCH_ROWS."""
    with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        batch: list[Row] = []
        for group in groups:
            batch.extend(group)
            if len(batch) >= _BATCH_ROWS:
                writer.writerows(batch)
                progress.add(len(batch))
                batch.clear()
        if batch:
            writer.writerows(batch)
            progress.add(len(batch))


def generate(
    students: int,
    teachers: int,
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write `students.csv` and `teachers.csv` into `out_dir`.

    The same arguments always give byte-identical files. `progress`, if
    given, is called with the number of rows written so far (students, then
    teachers) about every 100,000 rows and once at the end. Files are
    written under a temporary name and renamed when complete.
    """
    if students < 0 or teachers < 0:
        raise ValueError("row counts must be >= 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    catalogue = build_catalogue()
    people = People(rng)
    n_overlap = 0
    if students and teachers:
        n_overlap = min(students, teachers, max(1, round(teachers * TEACHER_STUDENT_SHARE)))
    overlap = overlap_people(people, n_overlap)
    drawn = Students(rng, people, catalogue, students, overlap, STAGES, STUDENT_STATUSES)
    written = _Progress(progress)
    _write(out_dir / "students.csv.tmp", STUDENT_HEADER, drawn.rows(), written)
    _write(
        out_dir / "teachers.csv.tmp",
        TEACHER_HEADER,
        ([row] for row in teacher_rows(people, catalogue, teachers, overlap)),
        written,
    )
    # Both files complete: only now do they replace the previous ones.
    os.replace(out_dir / "students.csv.tmp", out_dir / "students.csv")
    os.replace(out_dir / "teachers.csv.tmp", out_dir / "teachers.csv")
    written.finish()
    summary = DemoSummary(
        out_dir=out_dir,
        seed=seed,
        students=students,
        teachers=teachers,
        families=drawn.families,
        guardians=drawn.guardians,
        multi_child_families=drawn.multi_child,
        largest_family=drawn.largest,
        students_without_guardian=drawn.without_guardian,
        teacher_and_university_students=n_overlap,
        by_stage=drawn.by_stage,
        by_status=drawn.by_status,
    )
    summary.samples = find_samples(out_dir)
    return summary
