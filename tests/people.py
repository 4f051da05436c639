"""A small registry of known, fictional people for the tests."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from backend.registry_import import STUDENT_COLUMNS, TEACHER_COLUMNS
from identity.idnumber import check_char


def make_id(area: str, birth: str, seq: int) -> str:
    """A valid ID number: area code, YYYYMMDD, 3-digit sequence (odd = M)."""
    body = f"{area}{birth}{seq:03d}"
    return body + check_char(body)


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str

    @property
    def gender(self) -> str:
        return "M" if int(self.id_number[16]) % 2 else "F"

    @property
    def birth_date(self) -> str:
        b = self.id_number[6:14]
        return f"{b[:4]}-{b[4:6]}-{b[6:]}"


# Guardians (adults)
FATHER_LI = Person("李建国", make_id("360102", "19800305", 11))
MOTHER_WANG = Person("王芳", make_id("360102", "19820611", 22))
FATHER_CHEN = Person("陈大伟", make_id("360103", "19790101", 31))  # four children
GUARDIAN_HU = Person("胡·不存", make_id("360104", "19850505", 41))  # not anyone's guardian

# K-12 students
XIAOMING = Person("李小明", make_id("360102", "20150910", 13))  # primary, guardians Li + Wang
CHEN_CHILDREN = [
    Person("陈一", make_id("360103", "20100101", 51)),
    Person("陈二", make_id("360103", "20120202", 53)),
    Person("陈三", make_id("360103", "20140303", 55)),
    Person("陈四", make_id("360103", "20160404", 57)),
]
NO_GUARDIAN = Person("赵无监", make_id("360104", "20130707", 61))
GRADUATED = Person("周毕业", make_id("360111", "20060808", 71))
SUSPENDED = Person("孙停学", make_id("360111", "20100909", 73))
MINORITY = Person("阿依古丽·买买提", make_id("360112", "20111111", 82))
TRADITIONAL = Person("张伟", make_id("360121", "20091212", 91))  # typed as 張偉
VOCATIONAL = Person("刘职高", make_id("360202", "20080606", 93))

# University, teachers, public
UNIVERSITY = Person("吴大学", make_id("360102", "20040404", 15))
TEACHER = Person("郑老师", make_id("360102", "19880808", 17))
TEACHER_AND_UNIVERSITY = Person("欧阳双", make_id("360103", "19990909", 19))
RETIRED_TEACHER = Person("钱退休", make_id("360103", "19600101", 24))
PUBLIC = Person("黄公众", make_id("360402", "19750515", 35))  # in no registry

SCHOOL = ("3601020001", "南昌市东湖区育新学校", "360102")


def _student(p: Person, stage: str, status: str = "enrolled", g1: Person | None = None,
             g2: Person | None = None, school: tuple[str, str, str] = SCHOOL) -> dict[str, str]:
    return {
        "student_no": "S" + p.id_number[-8:],
        "name": p.name,
        "id_number": p.id_number,
        "gender": p.gender,
        "birth_date": p.birth_date,
        "stage": stage,
        "school_code": school[0],
        "school_name": school[1],
        "district_code": school[2],
        "grade": "三年级",
        "class_name": "2班",
        "status": status,
        "guardian1_name": g1.name if g1 else "",
        "guardian1_id_number": g1.id_number if g1 else "",
        "guardian1_relation": "父亲" if g1 else "",
        "guardian2_name": g2.name if g2 else "",
        "guardian2_id_number": g2.id_number if g2 else "",
        "guardian2_relation": "母亲" if g2 else "",
    }


def _teacher(p: Person, status: str = "active") -> dict[str, str]:
    return {
        "teacher_no": "T" + p.id_number[-8:],
        "name": p.name,
        "id_number": p.id_number,
        "gender": p.gender,
        "school_code": SCHOOL[0],
        "school_name": SCHOOL[1],
        "district_code": SCHOOL[2],
        "status": status,
    }


def student_rows() -> list[dict[str, str]]:
    uni = ("4136010403", "南昌大学", "360111")
    return [
        _student(XIAOMING, "primary", g1=FATHER_LI, g2=MOTHER_WANG),
        *[_student(c, "primary" if i else "junior", g1=FATHER_CHEN) for i, c in enumerate(CHEN_CHILDREN)],
        _student(NO_GUARDIAN, "primary"),
        _student(GRADUATED, "senior", status="graduated", g1=FATHER_LI),
        _student(SUSPENDED, "junior", status="suspended", g1=FATHER_LI),
        _student(MINORITY, "junior", g1=FATHER_LI),
        _student(TRADITIONAL, "senior", g1=MOTHER_WANG),
        _student(VOCATIONAL, "vocational", g2=MOTHER_WANG),
        _student(UNIVERSITY, "university", school=uni),
        _student(TEACHER_AND_UNIVERSITY, "university", school=uni),
    ]


def teacher_rows() -> list[dict[str, str]]:
    return [_teacher(TEACHER), _teacher(TEACHER_AND_UNIVERSITY), _teacher(RETIRED_TEACHER, "retired")]


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_registry(directory: Path) -> tuple[Path, Path]:
    return (
        write_csv(directory / "students.csv", STUDENT_COLUMNS, student_rows()),
        write_csv(directory / "teachers.csv", TEACHER_COLUMNS, teacher_rows()),
    )
