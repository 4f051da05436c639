"""Row checks of the registry import: one CSV row (its fields in the
contract's column order) -> the database row, or a RowError saying what is
wrong. Every row the vectorised fast path (frames.py) does not take comes
through here, so these checks define what the import accepts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from backend.registry.columns import (
    MAX_FIELD,
    STUDENT_COLUMNS,
    STUDENT_DB_COLUMNS,
    TEACHER_COLUMNS,
    TEACHER_DB_COLUMNS,
)
from contract.registry import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from identity.idnumber import validate_id
from identity.names import check_name

_GENDERS = {"M": "M", "F": "F", "男": "M", "女": "F", "MALE": "M", "FEMALE": "F"}
_DISTRICT = re.compile(r"^[1-8][0-9]{5}$")


class RowError(ValueError):
    pass


def _text(value: str, what: str, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise RowError(f"{what} is empty")
    if len(value) > MAX_FIELD:
        raise RowError(f"{what} is longer than {MAX_FIELD} characters")
    return value


def _id(value: str, what: str) -> tuple[str, dt.date, str]:
    check = validate_id(value)
    if check.birth_date is None or check.gender is None:  # set when, and only when, the number is valid
        raise RowError(f"{what} is not a valid ID number ({check.problem})")
    return check.normalised, check.birth_date, check.gender


def _name(value: str, what: str) -> tuple[str, str]:
    value = value.strip()
    norm, problem = check_name(value)
    if problem:
        raise RowError(f"{what} is not a plausible name ({problem})")
    return value, norm


def _gender(value: str) -> str:
    gender = _GENDERS.get(value.strip().upper())
    if gender is None:
        raise RowError(f"gender {value!r} is not M or F")
    return gender


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise RowError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def _district(value: str) -> str:
    value = value.strip()
    if not _DISTRICT.match(value):
        raise RowError(f"district_code {value!r} is not a 6-digit code")
    return value


_GUARDIAN_LABELS = {n: (f"guardian{n}_name", f"guardian{n}_id_number", f"guardian{n}_relation") for n in (1, 2)}
_STAGE_SET = frozenset(STAGES)
_STUDENT_STATUS_SET = frozenset(STUDENT_STATUSES)


def _guardian(name: str, id_number: str, relation: str, n: int) -> tuple[Any, Any, Any, Any]:
    name, id_number, relation = name.strip(), id_number.strip(), relation.strip()
    if not name and not id_number:
        return None, None, None, (relation or None)
    if not name or not id_number:
        raise RowError(f"guardian{n} needs both a name and an ID number")
    name_label, id_label, relation_label = _GUARDIAN_LABELS[n]
    display, norm = _name(name, name_label)
    gid, _, _ = _id(id_number, id_label)
    if len(relation) > MAX_FIELD:
        raise RowError(f"{relation_label} is longer than {MAX_FIELD} characters")
    return display, norm, gid, relation or None


def student_row(f: Sequence[str]) -> tuple[Any, ...]:
    """Fields in STUDENT_COLUMNS order -> a row in STUDENT_DB_COLUMNS order.
    Written for speed (ten million rows): checks inlined, one call per ID
    and per name."""
    (
        student_no,
        name,
        id_number,
        gender,
        birth_date,
        stage,
        school_code,
        school_name,
        district_code,
        grade,
        class_name,
        status,
        g1_name,
        g1_id,
        g1_rel,
        g2_name,
        g2_id,
        g2_rel,
    ) = f
    id_number, born, id_gender = _id(id_number, "id_number")
    name, name_norm = _name(name, "name")
    sex = _GENDERS.get(gender.strip().upper())
    if sex is None:
        raise RowError(f"gender {gender!r} is not M or F")
    birth_date = birth_date.strip()
    if birth_date != born.isoformat():
        try:
            dt.date.fromisoformat(birth_date)
        except ValueError:
            raise RowError(f"birth_date {birth_date!r} is not YYYY-MM-DD") from None
        raise RowError("birth_date differs from the birth date in id_number")
    if sex != id_gender:
        raise RowError("gender differs from the gender in id_number")
    stage = stage.strip().lower()
    if stage not in _STAGE_SET:
        raise RowError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    status = status.strip().lower()
    if status not in _STUDENT_STATUS_SET:
        raise RowError(f"status {status!r} is not one of {', '.join(STUDENT_STATUSES)}")
    district_code = district_code.strip()
    if not _DISTRICT.match(district_code):
        raise RowError(f"district_code {district_code!r} is not a 6-digit code")
    texts = (student_no.strip(), school_code.strip(), school_name.strip(), grade.strip(), class_name.strip())
    if not (texts[0] and texts[1] and texts[2]) or max(map(len, texts)) > MAX_FIELD:
        for value, label, required in zip(
            texts,
            ("student_no", "school_code", "school_name", "grade", "class_name"),
            (True, True, True, False, False),
            strict=True,
        ):
            _text(value, label, required)  # raises with the reason
    g1 = _guardian(g1_name, g1_id, g1_rel, 1) if (g1_name or g1_id) else (None, None, None, g1_rel.strip() or None)
    g2 = _guardian(g2_name, g2_id, g2_rel, 2) if (g2_name or g2_id) else (None, None, None, g2_rel.strip() or None)
    if id_number == g1[2] or id_number == g2[2]:
        raise RowError("a student cannot be their own guardian")
    return (
        id_number,
        texts[0],
        name,
        name_norm,
        sex,
        birth_date,  # ISO text: cheap to pass between processes
        stage,
        texts[1],
        texts[2],
        district_code,
        texts[3],
        texts[4],
        status,
        g1[0],
        g1[1],
        g1[2],
        g1[3],
        g2[0],
        g2[1],
        g2[2],
        g2[3],
    )


def teacher_row(f: Sequence[str]) -> tuple[Any, ...]:
    """Fields in TEACHER_COLUMNS order -> a row in TEACHER_DB_COLUMNS order."""
    teacher_no, name, id_number, gender, school_code, school_name, district_code, status = f
    id_number, _, id_gender = _id(id_number, "id_number")
    name, name_norm = _name(name, "name")
    gender = _gender(gender)
    if gender != id_gender:
        raise RowError("gender differs from the gender in id_number")
    return (
        id_number,
        _text(teacher_no, "teacher_no"),
        name,
        name_norm,
        gender,
        _text(school_code, "school_code"),
        _text(school_name, "school_name"),
        _district(district_code),
        _choice(status, TEACHER_STATUSES, "status"),
    )


KINDS: dict[str, tuple[list[str], tuple[str, ...], Callable[[Sequence[str]], tuple[Any, ...]]]] = {
    "students": (STUDENT_COLUMNS, STUDENT_DB_COLUMNS, student_row),
    "teachers": (TEACHER_COLUMNS, TEACHER_DB_COLUMNS, teacher_row),
}
