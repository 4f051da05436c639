"""Tests for tools.demo_registry: the deterministic demo registry CSVs."""

from __future__ import annotations

import collections
import csv
import datetime as dt
from itertools import pairwise
from pathlib import Path

import pytest

from backend.registry.jiangxi import COUNTIES
from identity.idnumber import validate_id
from identity.names import MIDDLE_DOT
from tools import demo_registry as dr
from tools.demo_registry.ids import guardian_space

STUDENTS = 3000
TEACHERS = 500

STUDENT_HEADER = (
    "student_no,name,id_number,gender,birth_date,stage,school_code,school_name,"
    "district_code,grade,class_name,status,guardian1_name,guardian1_id_number,"
    "guardian1_relation,guardian2_name,guardian2_id_number,guardian2_relation"
)
TEACHER_HEADER = "teacher_no,name,id_number,gender,school_code,school_name,district_code,status"
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙")
REFERENCE = dt.date(2026, 9, 1)
STAGE_AGES = {
    "primary": (6, 12),
    "junior": (12, 15),
    "senior": (15, 18),
    "vocational": (15, 19),
    "university": (18, 23),
}


def _age(born: dt.date) -> int:
    return REFERENCE.year - born.year - ((REFERENCE.month, REFERENCE.day) < (born.month, born.day))


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dr.DemoSummary]:
    out = tmp_path_factory.mktemp("demo")
    summary = dr.generate(STUDENTS, TEACHERS, out)
    return out, summary


@pytest.fixture(scope="module")
def students(registry: tuple[Path, dr.DemoSummary]) -> list[dict[str, str]]:
    return _read(registry[0] / "students.csv")


@pytest.fixture(scope="module")
def teachers(registry: tuple[Path, dr.DemoSummary]) -> list[dict[str, str]]:
    return _read(registry[0] / "teachers.csv")


def _guardians(row: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, id_number, relation) of the row's non-empty guardians."""
    found = []
    for n in ("1", "2"):
        gid = row[f"guardian{n}_id_number"]
        if gid:
            found.append((row[f"guardian{n}_name"], gid, row[f"guardian{n}_relation"]))
    return found


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def test_deterministic_and_seed_dependent(registry: tuple[Path, dr.DemoSummary], tmp_path: Path) -> None:
    out, _ = registry
    again = dr.generate(STUDENTS, TEACHERS, tmp_path / "again")
    other = dr.generate(STUDENTS, TEACHERS, tmp_path / "other", seed=7)
    for name in ("students.csv", "teachers.csv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
        assert (out / name).read_bytes() != (tmp_path / "other" / name).read_bytes()
    assert again.samples == dr.find_samples(out)
    assert other.students == STUDENTS


def test_headers_and_row_counts(registry: tuple[Path, dr.DemoSummary]) -> None:
    out, summary = registry
    for name, header, count in (("students.csv", STUDENT_HEADER, STUDENTS), ("teachers.csv", TEACHER_HEADER, TEACHERS)):
        text = (out / name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == header
        assert ",".join(dr.STUDENT_HEADER if name == "students.csv" else dr.TEACHER_HEADER) == header
        with open(out / name, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == count + 1
        assert all(len(r) == len(rows[0]) for r in rows)
    assert not list(out.glob("*.tmp"))
    assert (summary.students, summary.teachers) == (STUDENTS, TEACHERS)
    assert sum(summary.by_stage.values()) == STUDENTS
    assert sum(summary.by_status.values()) == STUDENTS


def test_zero_rows(tmp_path: Path) -> None:
    summary = dr.generate(0, 0, tmp_path)
    assert (tmp_path / "students.csv").read_text(encoding="utf-8").splitlines() == [STUDENT_HEADER]
    assert (tmp_path / "teachers.csv").read_text(encoding="utf-8").splitlines() == [TEACHER_HEADER]
    assert summary.samples == []


def test_progress_callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dr, "_PROGRESS_EVERY", 1000)
    monkeypatch.setattr(dr, "_BATCH_ROWS", 250)
    calls: list[int] = []
    dr.generate(2600, 900, tmp_path, progress=calls.append)
    assert calls == sorted(calls) and len(calls) == len(set(calls))
    assert calls[-1] == 3500
    assert len(calls) >= 3


# ---------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------


def test_every_id_is_valid_and_matches_row(students: list[dict[str, str]], teachers: list[dict[str, str]]) -> None:
    for row in students:
        check = validate_id(row["id_number"], today=REFERENCE)
        assert check.ok, row
        assert check.gender == row["gender"]
        assert check.birth_date.isoformat() == row["birth_date"]
        for _, gid, relation in _guardians(row):
            g = validate_id(gid, today=REFERENCE)
            assert g.ok, gid
            assert g.gender == ("M" if relation == "父亲" else "F")
            assert 1970 <= g.birth_date.year <= 1995
            assert (check.birth_date - g.birth_date).days >= 20 * 365
    for row in teachers:
        check = validate_id(row["id_number"], today=REFERENCE)
        assert check.ok, row
        assert check.gender == row["gender"]


def test_ids_unique_except_teacher_students(students: list[dict[str, str]], teachers: list[dict[str, str]]) -> None:
    student_ids = [r["id_number"] for r in students]
    teacher_ids = [r["id_number"] for r in teachers]
    assert len(set(student_ids)) == len(student_ids)
    assert len(set(teacher_ids)) == len(teacher_ids)
    assert len({r["student_no"] for r in students}) == len(students)
    assert len({r["teacher_no"] for r in teachers}) == len(teachers)

    shared = set(student_ids) & set(teacher_ids)
    assert len(shared) == max(1, round(TEACHERS * 0.01))
    by_student = {r["id_number"]: r for r in students}
    for row in teachers:
        if row["id_number"] in shared:
            s = by_student[row["id_number"]]
            assert (s["name"], s["gender"]) == (row["name"], row["gender"])
            assert (s["stage"], s["status"], row["status"]) == ("university", "enrolled", "active")
        else:
            assert 1960 <= int(row["id_number"][6:10]) <= 2000

    # Guardians never share an ID with a student or a teacher, and a
    # guardian ID always comes with the same name.
    guardian_names: dict[str, str] = {}
    for row in students:
        for name, gid, _ in _guardians(row):
            assert guardian_names.setdefault(gid, name) == name
    assert not set(guardian_names) & (set(student_ids) | set(teacher_ids))


def test_id_space_is_unique_by_construction() -> None:
    # One birth date and gender: every area's slot fills, then it is exhausted.
    space = guardian_space()
    day = space.day_index(dt.date(1980, 5, 17))
    issued = []
    with pytest.raises(ValueError):
        for _ in range(100_000):
            issued.append(space.issue(0, day, 1))
    assert len(issued) == len(set(issued)) == len(COUNTIES) * 250
    assert all(validate_id(i, today=REFERENCE).ok for i in issued)
    assert all(int(i[14:17]) % 2 == 1 and int(i[14:17]) < 500 for i in issued)
    assert {i[6:14] for i in issued} == {"19800517"}


# ---------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------


def test_codes_and_allowed_values(students: list[dict[str, str]], teachers: list[dict[str, str]]) -> None:
    for row in students:
        assert row["district_code"].startswith("36") and len(row["district_code"]) == 6
        assert row["id_number"].startswith("36")
        assert len(row["school_code"]) == 10 and row["school_code"].isdigit()
        assert row["stage"] in dr.STAGES
        assert row["status"] in dr.STUDENT_STATUSES
        assert row["gender"] in ("M", "F")
        assert row["class_name"].endswith("班")
        assert row["guardian1_relation"] in ("父亲", "母亲", "")
        assert row["guardian2_relation"] in ("父亲", "母亲", "")
    for row in teachers:
        assert row["district_code"].startswith("36") and len(row["district_code"]) == 6
        assert row["status"] in dr.TEACHER_STATUSES
    assert {r["status"] for r in teachers} == set(dr.TEACHER_STATUSES)
    statuses = collections.Counter(r["status"] for r in students)
    assert statuses["enrolled"] > 0.9 * len(students)
    assert statuses["graduated"] and statuses["suspended"] and statuses["withdrawn"]
    assert set(r["stage"] for r in students) == set(dr.STAGES)


def test_ages_fit_stages_and_grades(students: list[dict[str, str]]) -> None:
    grades = {
        "primary": ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级"),
        "junior": ("初一", "初二", "初三"),
        "senior": ("高一", "高二", "高三"),
        "vocational": ("中职一年级", "中职二年级", "中职三年级"),
        "university": ("大一", "大二", "大三", "大四"),
    }
    for row in students:
        lo, hi = STAGE_AGES[row["stage"]]
        assert lo <= _age(dt.date.fromisoformat(row["birth_date"])) <= hi, row
        assert row["grade"] in grades[row["stage"]], row


def test_guardians_and_siblings(students: list[dict[str, str]]) -> None:
    children: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for row in students:
        for _, gid, _ in _guardians(row):
            children[gid].append(row)
    sizes = collections.Counter(len(v) for v in children.values())
    assert max(sizes) >= 4
    assert sizes[2] + sizes[3] > 0
    assert all(n <= 4 for n in sizes)

    k12 = [r for r in students if r["stage"] != "university"]
    empty = [r for r in k12 if not r["guardian1_id_number"]]
    assert 0 < len(empty) < 0.1 * len(k12)
    assert all(not r["guardian2_id_number"] for r in empty)
    university = [r for r in students if r["stage"] == "university"]
    assert sum(1 for r in university if not r["guardian1_id_number"]) > 0.7 * len(university)

    # A father shares his (Han) child's surname; siblings are years apart.
    for row in students:
        if MIDDLE_DOT in row["name"]:
            continue
        surname = row["name"][:2] if row["name"][:2] in COMPOUND_SURNAMES else row["name"][0]
        for name, _, relation in _guardians(row):
            if relation == "父亲":
                assert name.startswith(surname), (name, row["name"])
    for kids in children.values():
        born = sorted(dt.date.fromisoformat(k["birth_date"]) for k in kids)
        assert all((b - a).days > 300 for a, b in pairwise(born))


def test_names(students: list[dict[str, str]], teachers: list[dict[str, str]]) -> None:
    names = [r["name"] for r in students] + [r["name"] for r in teachers]
    names += [g[0] for r in students for g in _guardians(r)]
    dotted = [n for n in names if MIDDLE_DOT in n]
    assert dotted
    for name in dotted:
        own, father = name.split(MIDDLE_DOT)
        assert own and father
    assert any(n[:2] in COMPOUND_SURNAMES for n in names)
    assert all(2 <= len(n) <= 12 for n in names)
    # Common surnames dominate: the top five cover a large share.
    first = collections.Counter(n[0] for n in names if MIDDLE_DOT not in n)
    assert sum(c for _, c in first.most_common(5)) > 0.15 * len(names)

    pytest.importorskip("opencc")
    from identity.names import name_problem

    assert [n for n in set(names) if name_problem(n)] == []


def test_schools(students: list[dict[str, str]], teachers: list[dict[str, str]]) -> None:
    by_code: dict[str, tuple[str, str]] = {}
    for row in students + teachers:
        key = (row["school_name"], row["district_code"])
        assert by_code.setdefault(row["school_code"], key) == key
    names = {r["school_name"] for r in students}
    assert any(n.endswith("小学") for n in names)
    assert any(n.endswith("中学") for n in names)
    assert any(n.endswith("中等专业学校") for n in names)
    assert any(n.endswith("大学") for n in names)
    vocational = {r["school_name"] for r in students if r["stage"] == "vocational"}
    assert all("中等专业学校" in n for n in vocational)


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------


def test_samples(
    registry: tuple[Path, dr.DemoSummary], students: list[dict[str, str]], teachers: list[dict[str, str]]
) -> None:
    out, summary = registry
    samples = dr.find_samples(out)
    assert samples == summary.samples
    assert [s["kind"] for s in samples] == list(dr.SAMPLE_KINDS)
    by_kind = {s["kind"]: s for s in samples}
    student_by_id = {r["id_number"]: r for r in students}
    teacher_by_id = {r["id_number"]: r for r in teachers}

    for kind in (
        "k12_student",
        "vocational_student",
        "university_student",
        "graduated_student",
        "student_without_guardian",
    ):
        row = student_by_id[by_kind[kind]["id_number"]]
        assert row["name"] == by_kind[kind]["name"]
    assert student_by_id[by_kind["vocational_student"]["id_number"]]["stage"] == "vocational"
    assert student_by_id[by_kind["graduated_student"]["id_number"]]["status"] == "graduated"
    assert not student_by_id[by_kind["student_without_guardian"]["id_number"]]["guardian1_id_number"]
    assert by_kind["university_student"]["id_number"] not in teacher_by_id

    both = by_kind["teacher_and_university_student"]
    assert both["id_number"] in teacher_by_id and both["id_number"] in student_by_id
    teacher = by_kind["teacher"]
    assert teacher_by_id[teacher["id_number"]]["status"] == "active"
    assert teacher["id_number"] not in student_by_id

    assert 2 <= len(by_kind["parent_with_children"]["children"]) <= 3
    four = by_kind["parent_with_four_children"]
    assert len(four["children"]) >= 4
    for child in four["children"]:
        row = student_by_id[child["id_number"]]
        assert four["id_number"] in (row["guardian1_id_number"], row["guardian2_id_number"])
