"""What the demo registry looks like: the contract's headers, the fixed
reference date, ages and grades per stage, and the probabilities that
shape families, names and careers (tuned for a plausible registry, not
official statistics)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS

T = TypeVar("T")

# The contract's columns, from the importer.
STUDENT_HEADER: tuple[str, ...] = tuple(STUDENT_COLUMNS)
TEACHER_HEADER: tuple[str, ...] = tuple(TEACHER_COLUMNS)

DEFAULT_SEED = 20190618
# Ages are computed against this fixed date, never against today.
REFERENCE_DATE = dt.date(2026, 9, 1)
# Inclusive age ranges (completed years on REFERENCE_DATE) per stage.
STAGE_AGES: dict[str, tuple[int, int]] = {
    "primary": (6, 12),
    "junior": (12, 15),
    "senior": (15, 18),
    "vocational": (15, 19),
    "university": (18, 23),
}
K12_STAGES = ("primary", "junior", "senior", "vocational")

GRADES: dict[str, tuple[str, ...]] = {
    "primary": ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级"),
    "junior": ("初一", "初二", "初三"),
    "senior": ("高一", "高二", "高三"),
    "vocational": ("中职一年级", "中职二年级", "中职三年级"),
    "university": ("大一", "大二", "大三", "大四"),
}
CLASS_COUNT: dict[str, int] = {
    "primary": 10,
    "junior": 12,
    "senior": 14,
    "vocational": 8,
    "university": 6,
}
CLASS_NAMES = {s: [f"{k}班" for k in range(1, n + 1)] for s, n in CLASS_COUNT.items()}

P_MULTI_CHILD_FAMILY = 0.10
P_MINORITY = 0.005
P_COMPOUND_SURNAME = 0.01
P_MALE_CHILD = 0.52
P_LATE_START = 0.15  # started school a year late / repeated a year
P_VOCATIONAL = 0.35  # of upper-secondary students
P_GUARDIANS_K12 = 0.97  # registry has guardian data for a K-12 family
P_GUARDIANS_UNIVERSITY = 0.15  # ... for a university-only family
P_FATHER_FIRST = 0.62
P_SECOND_GUARDIAN = 0.45
P_HOME_DISTRICT = 0.85  # ID area code equals the school's district
P_TEACHER_FEMALE = 0.65
P_TEACHER_UNIVERSITY = 0.15
TEACHER_STUDENT_SHARE = 0.01  # of teachers who are also university students
# Student status: enrolled 95%, graduated 2.5%, suspended 1.3%, withdrawn 1.2%.
RELATION = ("母亲", "父亲")  # by male 0/1


def age_window(age: int) -> tuple[dt.date, dt.date]:
    """First and last birth date of people aged `age` on REFERENCE_DATE."""
    last = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    first = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age - 1) + dt.timedelta(days=1)
    return first, last


def expand(items: Sequence[T], weights: Sequence[float], scale: float) -> list[T]:
    """A lookup pool: each item repeated round(weight * scale) times, so a
    weighted pick is `pool[int(random() * len(pool))]`."""
    pool: list[T] = []
    for item, w in zip(items, weights, strict=True):
        pool.extend([item] * max(1, round(w * scale)))
    return pool
