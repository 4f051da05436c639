"""A small registry for the campaign's tests: four schools in two cities
(one of them a 省直管县), two grades of two classes each, teachers, and
cards for some of them; the figures coverage must find, computed here
from the same definitions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.db import Database
from backend.models import Card
from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS
from backend.registry.importer import import_registry
from tests.conftest import reset_schema
from tests.people import make_id, write_csv

# (school code, name, district code, stage)
SCHOOLS = [
    ("3601020101", "东湖区实验小学", "360102", "primary"),
    ("3601020102", "东湖区第二小学", "360102", "primary"),
    ("3601110201", "青山湖区实验中学", "360111", "junior"),
    ("3607810301", "瑞金市第一中学", "360781", "senior"),
]
GRADES = ["一年级", "二年级"]
CLASSES = ["1班", "2班"]
PER_CLASS = 3
NAMES = "张明 王芳 李强 刘洋 陈静 杨帆 赵磊 黄敏 周杰 吴婷 徐亮 孙悦".split()


@dataclass(frozen=True)
class Member:
    kind: str  # student | teacher
    name: str
    id_number: str
    school: tuple[str, str, str, str]
    grade: str
    class_name: str
    status: str
    claimed: bool


def members() -> list[Member]:
    out: list[Member] = []
    seq = 100
    for i, school in enumerate(SCHOOLS):
        district = school[2]
        for g, grade in enumerate(GRADES):
            for c, klass in enumerate(CLASSES):
                claimed = (i + g + c) % 3  # 0, 1 or 2 of the class's three hold a card
                for k in range(PER_CLASS):
                    seq += 1
                    out.append(
                        Member(
                            "student",
                            NAMES[seq % len(NAMES)],
                            make_id(district, "20120101", seq),
                            school,
                            grade,
                            klass,
                            "enrolled",
                            k < claimed,
                        )
                    )
        seq += 1  # a graduate with a card and a suspended student: neither counts
        out.append(
            Member(
                "student",
                "钱毕业",
                make_id(district, "20120101", seq),
                school,
                GRADES[0],
                CLASSES[0],
                "graduated",
                True,
            )
        )
        seq += 1
        out.append(
            Member(
                "student",
                "孙停学",
                make_id(district, "20120101", seq),
                school,
                GRADES[0],
                CLASSES[0],
                "suspended",
                False,
            )
        )
        for k in range(3):
            seq += 1
            out.append(
                Member(
                    "teacher",
                    NAMES[seq % len(NAMES)] + "师",
                    make_id(district, "19800101", seq),
                    school,
                    "",
                    "",
                    "active",
                    k < i % 3,
                )
            )
        seq += 1
        out.append(Member("teacher", "郑退休", make_id(district, "19600101", seq), school, "", "", "retired", True))
    return out


def expected(level: str, within: str | None = None) -> dict[str, tuple[int, int, int, int]]:
    """code -> (students, students claimed, teachers, teachers claimed)."""
    result: dict[str, list[int]] = {}
    for m in members():
        code, _, district, _ = m.school
        if m.status not in ("enrolled", "active"):
            continue
        key = {
            "city": district[:4],
            "county": district,
            "school": code,
            "grade": f"{code}/{m.grade}",
            "class": f"{code}/{m.grade}/{m.class_name}",
        }[level]
        if m.kind == "teacher" and level in ("grade", "class"):
            continue
        if within and not (district.startswith(within) or code == within or key.startswith(within + "/")):
            continue
        figures = result.setdefault(key, [0, 0, 0, 0])
        offset = 0 if m.kind == "student" else 2
        figures[offset] += 1
        figures[offset + 1] += int(m.claimed)
    return {k: (v[0], v[1], v[2], v[3]) for k, v in sorted(result.items())}


def _student_row(m: Member) -> dict[str, str]:
    code, name, district, stage = m.school
    b = m.id_number[6:14]
    return {
        "student_no": "S" + m.id_number[-6:],
        "name": m.name,
        "id_number": m.id_number,
        "gender": "M" if int(m.id_number[16]) % 2 else "F",
        "birth_date": f"{b[:4]}-{b[4:6]}-{b[6:]}",
        "stage": stage,
        "school_code": code,
        "school_name": name,
        "district_code": district,
        "grade": m.grade,
        "class_name": m.class_name,
        "status": m.status,
        **{f"guardian{n}_{f}": "" for n in (1, 2) for f in ("name", "id_number", "relation")},
    }


def _teacher_row(m: Member) -> dict[str, str]:
    code, name, district, _ = m.school
    return {
        "teacher_no": "T" + m.id_number[-6:],
        "name": m.name,
        "id_number": m.id_number,
        "gender": "M" if int(m.id_number[16]) % 2 else "F",
        "school_code": code,
        "school_name": name,
        "district_code": district,
        "status": m.status,
    }


async def load(database_url: str, directory: Path) -> None:
    """An empty schema, the registry imported, the cards issued."""
    await reset_schema(database_url)
    people = members()
    students = write_csv(
        directory / "students.csv", STUDENT_COLUMNS, [_student_row(m) for m in people if m.kind == "student"]
    )
    teachers = write_csv(
        directory / "teachers.csv", TEACHER_COLUMNS, [_teacher_row(m) for m in people if m.kind == "teacher"]
    )
    reports = await import_registry(database_url, students, teachers, strict=True)
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    db = Database(database_url)
    try:
        async with db.writing() as session:
            for n, m in enumerate(p for p in people if p.claimed):
                path = "k12_student" if m.kind == "student" else "teacher"
                session.add(
                    Card(
                        card_number=f"3600{n:08d}",
                        holder_id_number=m.id_number,
                        holder_name=m.name,
                        path=path,
                        identities=[path],
                        permissions=[],
                        district_code=m.school[2],
                        school_code=m.school[0],
                        school_name=m.school[1],
                    )
                )
    finally:
        await db.dispose()


def as_figures(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int, int, int]]:
    return {r["code"]: (r["students"], r["students_claimed"], r["teachers"], r["teachers_claimed"]) for r in rows}
