"""A small registry of known, fictional people for the tests."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS
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
IMPERSONATED = Person("蔡可欣", make_id("360102", "20120315", 97))  # claimed by one chat, typed by another

# University, teachers, public
UNIVERSITY = Person("吴大学", make_id("360102", "20040404", 15))
TEACHER = Person("郑老师", make_id("360102", "19880808", 17))
TEACHER_AND_UNIVERSITY = Person("欧阳双", make_id("360103", "19990909", 19))
RETIRED_TEACHER = Person("钱退休", make_id("360103", "19600101", 24))
PUBLIC = Person("黄公众", make_id("360402", "19750515", 35))  # in no registry

SCHOOL = ("3601020001", "南昌市东湖区育新学校", "360102")


def _student(
    p: Person,
    stage: str,
    status: str = "enrolled",
    g1: Person | None = None,
    g2: Person | None = None,
    school: tuple[str, str, str] = SCHOOL,
) -> dict[str, str]:
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
        _student(IMPERSONATED, "primary"),
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


# -- tests/e2e/test_typed_chats.py: people of its own (claims and failures of
# these IDs happen nowhere else) ------------------------------------------------
TYPED_MOTHER_LI = Person("李秀兰", make_id("360124", "19850312", 42))
TYPED_DAUGHTER_LI = Person("李小雨", make_id("360124", "20130415", 62))
TYPED_FATHER_WANG = Person("王建军", make_id("360302", "19780909", 13))
TYPED_SON_WANG = Person("王子涵", make_id("360302", "20120321", 35))
TYPED_STUDENT_LIU = Person("刘晓东", make_id("360203", "20090118", 33))  # senior, claims for himself
TYPED_TEACHER_CHEN = Person("陈丽华", make_id("360403", "19860214", 26))  # typed as 陳麗華
TYPED_UNIVERSITY_SONG = Person("宋佳怡", make_id("360502", "20030706", 48))
TYPED_PUBLIC_MA = Person("马志强", make_id("360102", "19900101", 57))  # in no registry
TYPED_STUDENT_FANG = Person("方佳怡", make_id("360502", "20100706", 46))  # junior, types her name wrong first
TYPED_FATHER_SUN = Person("孙伟", make_id("360111", "19800808", 39))
TYPED_SON_SUN = Person("孙浩", make_id("360111", "20120909", 77))  # guardian: 孙伟 only
TYPED_MOTHER_ZHAO = Person("赵敏", make_id("360111", "19820202", 44))  # nobody's guardian
TYPED_FATHER_HUANG = Person("黄志明", make_id("360502", "19790419", 51))  # four children
TYPED_HUANG_CHILDREN = [
    Person("黄嘉欣", make_id("360502", "20090101", 62)),
    Person("黄嘉豪", make_id("360502", "20110202", 73)),
    Person("黄嘉怡", make_id("360502", "20130303", 84)),
    Person("黄嘉乐", make_id("360502", "20150404", 95)),
]
TYPED_STUDENT_XU = Person("徐文博", make_id("360124", "20100606", 17))  # claims, repeats, cancels
# Under 14 until 2032 (PIPL art. 31): one claims with a parent's consent, one through her mother.
TYPED_MOTHER_ZHOU = Person("周丽", make_id("360124", "19880808", 28))
TYPED_YOUNG_ZHOU = Person("周小禾", make_id("360124", "20180808", 31))
TYPED_YOUNGER_ZHOU = Person("周小苗", make_id("360124", "20190909", 42))
# Her school records no guardian until the registry is imported again (records to fix).
TYPED_FATHER_DENG = Person("邓建国", make_id("360124", "19800303", 53))
TYPED_DAUGHTER_DENG = Person("邓欣怡", make_id("360124", "20140404", 64))


def _typed_students() -> list[dict[str, str]]:
    uni = ("4136010403", "南昌大学", "360111")
    return [
        _student(TYPED_DAUGHTER_LI, "primary", g2=TYPED_MOTHER_LI),
        _student(TYPED_SON_WANG, "primary", g1=TYPED_FATHER_WANG),
        _student(TYPED_STUDENT_LIU, "senior", g1=TYPED_FATHER_WANG),
        _student(TYPED_UNIVERSITY_SONG, "university", school=uni),
        _student(TYPED_STUDENT_FANG, "junior"),
        _student(TYPED_SON_SUN, "primary", g1=TYPED_FATHER_SUN),
        *[
            _student(c, "junior" if i == 0 else "primary", g1=TYPED_FATHER_HUANG)
            for i, c in enumerate(TYPED_HUANG_CHILDREN)
        ],
        _student(TYPED_STUDENT_XU, "primary", g1=TYPED_FATHER_SUN),
        _student(TYPED_YOUNG_ZHOU, "primary", g1=TYPED_MOTHER_ZHOU),
        _student(TYPED_YOUNGER_ZHOU, "primary", g1=TYPED_MOTHER_ZHOU),
        _student(TYPED_DAUGHTER_DENG, "primary"),
    ]


_base_student_rows, _base_teacher_rows = student_rows, teacher_rows


def student_rows() -> list[dict[str, str]]:  # type: ignore[no-redef]
    return [*_base_student_rows(), *_typed_students()]


def teacher_rows() -> list[dict[str, str]]:  # type: ignore[no-redef]
    return [*_base_teacher_rows(), _teacher(TYPED_TEACHER_CHEN)]


# -- tests/e2e/test_buttons.py: people of its own, so its many replays of the same
# conversations neither issue cards other tests expect to issue nor reach the
# rate limit (five match failures an hour count per ID number). ------------------
BTN_STUDENT = Person("柳思源", make_id("360730", "20120515", 33))  # claims for themself
BTN_PARENT = Person("蒋志强", make_id("360730", "19810312", 35))  # two children
BTN_VERIFIED = Person(
    "钟明远", make_id("360730", "19920304", 45)
)  # the verified real name of some chats (in no registry)
BTN_CHILDREN = [
    Person("蒋小雨", make_id("360730", "20130101", 37)),
    Person("蒋小雪", make_id("360730", "20150202", 38)),
]
BTN_FOUR_PARENT = Person("冯建华", make_id("360730", "19780707", 41))  # three children, then a fourth
BTN_FOUR_CHILDREN = [
    Person(f"冯小{n}", make_id("360730", f"20{9 + i:02d}0{i + 3}0{i + 1}", 43 + 2 * i)) for i, n in enumerate("一二三")
]
# One for each replay that fails on purpose: graduates (not_enrolled) and
# children with no guardian recorded (guardian_mismatch for any parent).
_BTN_GIVEN = [a + b for a in "春夏秋冬松竹" for b in "一二三四五六七八九十"]
BTN_GRADUATES = [
    Person(f"周{c}", make_id("360730", f"2005{1 + i // 28:02d}{1 + i % 28:02d}", 101 + 2 * i))
    for i, c in enumerate(_BTN_GIVEN)
]
BTN_NO_GUARDIAN = [
    Person(f"赵{c}", make_id("360730", f"2014{1 + i // 28:02d}{1 + i % 28:02d}", 301 + 2 * i))
    for i, c in enumerate(_BTN_GIVEN)
]
# Fourth children of 冯建华: one for each replay (a replay may issue its card
# to the child claiming for themself, and the next must still hit the limit).
BTN_FOURTH_CHILDREN = [
    Person(f"冯{c}", make_id("360730", f"2016{1 + i // 28:02d}{1 + i % 28:02d}", 501 + 2 * i))
    for i, c in enumerate(_BTN_GIVEN)
]

_rows_before_buttons = student_rows


def student_rows() -> list[dict[str, str]]:  # type: ignore[no-redef]
    return [
        *_rows_before_buttons(),
        _student(BTN_STUDENT, "primary", g1=BTN_PARENT),
        *[_student(c, "primary", g1=BTN_PARENT) for c in BTN_CHILDREN],
        *[_student(c, "primary", g1=BTN_FOUR_PARENT) for c in BTN_FOUR_CHILDREN],
        *[_student(p, "senior", status="graduated") for p in BTN_GRADUATES],
        *[_student(p, "primary") for p in BTN_NO_GUARDIAN],
        *[_student(p, "primary", g1=BTN_FOUR_PARENT) for p in BTN_FOURTH_CHILDREN],
    ]
