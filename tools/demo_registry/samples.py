"""Sample identities of a written demo registry, one per kind, for demos
and the README (`python -m backend demo-identities`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SAMPLE_KINDS: tuple[str, ...] = (
    "k12_student",
    "vocational_student",
    "parent_with_children",
    "parent_with_four_children",
    "university_student",
    "teacher",
    "teacher_and_university_student",
    "graduated_student",
    "student_without_guardian",
)


def find_samples(out_dir: Path, limit: int = 5000) -> list[dict[str, Any]]:
    """One example identity per kind in SAMPLE_KINDS (in that order; kinds
    not found in the first `limit` rows of each file are left out).

    Every sample has "kind", "name" and "id_number"; students also carry
    "stage", "grade", "school_name" and "status"; teachers "school_name" and
    "status"; parents "relation" and "children" (name, id_number, stage,
    grade, status of each child).
    """
    out_dir = Path(out_dir)
    students = _read_rows(out_dir / "students.csv", limit)
    teachers = _read_rows(out_dir / "teachers.csv", limit)
    student_ids = {row["id_number"] for row in students}
    teacher_ids = {row["id_number"] for row in teachers}
    found: dict[str, dict[str, Any]] = {}

    def student_sample(kind: str, row: dict[str, str]) -> dict[str, Any]:
        return {
            "kind": kind,
            "name": row["name"],
            "id_number": row["id_number"],
            "stage": row["stage"],
            "grade": row["grade"],
            "school_name": row["school_name"],
            "status": row["status"],
        }

    # Parents in order of first appearance; a family's rows are consecutive.
    parents: dict[str, dict[str, Any]] = {}
    for row in students:
        stage, status = row["stage"], row["status"]
        for n in ("1", "2"):
            gid = row[f"guardian{n}_id_number"]
            if gid:
                entry = parents.setdefault(
                    gid,
                    {
                        "name": row[f"guardian{n}_name"],
                        "id_number": gid,
                        "relation": row[f"guardian{n}_relation"],
                        "children": [],
                    },
                )
                entry["children"].append(
                    {
                        "name": row["name"],
                        "id_number": row["id_number"],
                        "stage": stage,
                        "grade": row["grade"],
                        "status": status,
                    }
                )
        if status == "graduated":
            found.setdefault("graduated_student", student_sample("graduated_student", row))
        if status != "enrolled":
            continue
        if stage == "university":
            kind = "teacher_and_university_student" if row["id_number"] in teacher_ids else "university_student"
            found.setdefault(kind, student_sample(kind, row))
        elif not row["guardian1_id_number"]:
            found.setdefault("student_without_guardian", student_sample("student_without_guardian", row))
        elif stage == "vocational":
            found.setdefault("vocational_student", student_sample("vocational_student", row))
        else:
            found.setdefault("k12_student", student_sample("k12_student", row))

    for entry in parents.values():
        n_children = len(entry["children"])
        parent_kind = (
            "parent_with_four_children" if n_children >= 4 else "parent_with_children" if n_children >= 2 else None
        )
        if parent_kind and parent_kind not in found:
            found[parent_kind] = {"kind": parent_kind, **entry}

    for row in teachers:
        # Regular teachers are born before 2001; the younger ones are the
        # teacher-and-university-student people.
        if row["status"] == "active" and row["id_number"][6:10] <= "2000" and row["id_number"] not in student_ids:
            found["teacher"] = {
                "kind": "teacher",
                "name": row["name"],
                "id_number": row["id_number"],
                "school_name": row["school_name"],
                "status": row["status"],
            }
            break
    if "teacher_and_university_student" in found:
        sample = found["teacher_and_university_student"]
        teacher = next(r for r in teachers if r["id_number"] == sample["id_number"])
        sample["teacher_school_name"] = teacher["school_name"]
        sample["teacher_status"] = teacher["status"]

    return [found[kind] for kind in SAMPLE_KINDS if kind in found]


def _read_rows(path: Path, limit: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append(row)
            if len(rows) >= limit:
                break
    return rows
