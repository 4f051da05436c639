"""The import's vectorised fast path (backend/registry/frames.py) must give
exactly what the row-by-row converters give, for every row: canonical rows
through the fast path, everything else through the converters."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.registry.chunks import _dedupe, _frame, _rows_by_line, convert_chunk, read_header
from backend.registry.frames import fast_split
from backend.registry.rows import KINDS, RowError
from identity.idnumber import check_char
from tests.people import student_rows, teacher_rows
from tools.demo_registry import generate


def _fix_check(id_number: str) -> str:
    return id_number[:17] + check_char(id_number[:17])


# Each mutation takes a row (dict) and changes it in one way; about half of
# them leave a row that is still valid after normalisation.
STUDENT_MUTATIONS: list[tuple[str, Any]] = [
    ("lower-case x", lambda r: r.update(id_number=r["id_number"].lower())),
    ("ID with spaces", lambda r: r.update(id_number=r["id_number"][:6] + " " + r["id_number"][6:])),
    ("full-width ID", lambda r: r.update(id_number="".join(chr(ord(c) + 0xFEE0) for c in r["id_number"]))),
    ("Traditional name", lambda r: r.update(name="陳" + r["name"][1:])),
    ("bullet as middle dot", lambda r: r.update(name="阿依古丽•买买提")),
    ("name with spaces", lambda r: r.update(name=" " + r["name"] + " ")),
    ("gender in Chinese", lambda r: r.update(gender="男" if r["gender"] == "M" else "女")),
    ("lower-case gender", lambda r: r.update(gender=r["gender"].lower())),
    ("capitalised stage", lambda r: r.update(stage=r["stage"].capitalize())),
    ("status with space", lambda r: r.update(status=" " + r["status"])),
    ("grade with space", lambda r: r.update(grade=r["grade"] + " ")),
    ("file separator at the edge", lambda r: r.update(school_name=r["school_name"] + "\x1c")),
    ("no-break space inside", lambda r: r.update(school_name=r["school_name"][:2] + "\u00a0" + r["school_name"][2:])),
    ("guardian name only", lambda r: r.update(guardian1_id_number="")),
    ("guardian Traditional", lambda r: r.update(guardian1_name="劉" + (r["guardian1_name"] or "某某")[1:])),
    ("checksum", lambda r: r.update(id_number=r["id_number"][:17] + ("0" if r["id_number"][17] != "0" else "1"))),
    ("future birth", lambda r: r.update(id_number=_fix_check(r["id_number"][:6] + "20990101" + r["id_number"][14:]))),
    ("area 0000", lambda r: r.update(id_number=_fix_check(r["id_number"][:2] + "0000" + r["id_number"][6:]))),
    ("province 99", lambda r: r.update(id_number=_fix_check("99" + r["id_number"][2:]))),
    ("own guardian", lambda r: r.update(guardian1_id_number=r["id_number"], guardian1_name=r["name"])),
    ("long school name", lambda r: r.update(school_name="学" * 129)),
    ("empty school code", lambda r: r.update(school_code="")),
    ("long name", lambda r: r.update(name="张" * 31)),
    ("one-character name", lambda r: r.update(name="张")),
    ("leading dot", lambda r: r.update(name="·张三")),
    ("double dot", lambda r: r.update(name="张··三")),
    ("extension B name", lambda r: r.update(name="张\U00020000")),
    ("compatibility ideograph", lambda r: r.update(name="张\uf900")),
    ("birth date differs", lambda r: r.update(birth_date="2001-01-01")),
    ("bad birth date", lambda r: r.update(birth_date="2015-02-30")),
    ("district letters", lambda r: r.update(district_code="36A102")),
    ("HTML name", lambda r: r.update(name="<b>李</b>")),
    ("duplicate of the previous row", None),  # handled below
]


def _registry(tmp_path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    out = tmp_path / "demo"
    generate(students=1500, teachers=200, out_dir=out, seed=7)
    with open(out / "students.csv", encoding="utf-8") as fh:
        students = list(csv.DictReader(fh)) + student_rows()
    with open(out / "teachers.csv", encoding="utf-8") as fh:
        teachers = list(csv.DictReader(fh)) + teacher_rows()
    return students, teachers


def _mutated(rows: list[dict[str, str]], mutations: list[tuple[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        out.append(dict(row))
        if i % 3 == 0:
            label, change = mutations[(i // 3) % len(mutations)]
            changed = dict(row)
            if change is not None:
                change(changed)
            out.append(changed)
    return out


def _write(path: Path, columns: list[str], rows: list[dict[str, str]], reorder: bool = False) -> Path:
    fields = list(reversed(columns)) if reorder else columns  # another column order than the contract's
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _both_paths(kind: str, path: Path) -> tuple[Any, Any, tuple[pl.DataFrame, pl.DataFrame] | None]:
    columns, db_columns, convert = KINDS[kind]
    index, width, offset, problem = read_header(path, columns)
    assert problem is None and index is not None
    end = path.stat().st_size
    chunk = convert_chunk(kind, str(path), offset, end, index, width)
    data = path.read_bytes()[offset:]
    lines = data.split(b"\n")[:-1]
    rows, errors, _ = _rows_by_line(convert, data, lines, index, width)
    reference = (_dedupe(_frame(rows, db_columns)), sorted(errors), len(rows))
    split = fast_split(kind, data, lines, columns, index, width)
    return chunk, reference, split


def test_fast_path_agrees_with_row_by_row(tmp_path: Path) -> None:
    students, teachers = _registry(tmp_path)
    student_mutations = STUDENT_MUTATIONS
    teacher_mutations = [
        m
        for m in STUDENT_MUTATIONS
        if m[0]
        in {
            "lower-case x",
            "Traditional name",
            "name with spaces",
            "gender in Chinese",
            "checksum",
            "long name",
            "empty school code",
            "file separator at the edge",
            "HTML name",
            "district letters",
        }
    ] + [("retired capitalised", lambda r: r.update(status="Retired"))]
    for kind, rows, mutations, columns in (
        ("students", students, student_mutations, KINDS["students"][0]),
        ("teachers", teachers, teacher_mutations, KINDS["teachers"][0]),
    ):
        for reorder in (False, True):
            path = _write(tmp_path / f"{kind}-{reorder}.csv", columns, _mutated(rows, mutations), reorder)
            chunk, (frame, errors, valid), split = _both_paths(kind, path)
            assert split is not None, "the fast path was not taken"
            good, bad = split
            assert good.height > 0.6 * len(rows) and bad.height > 0.1 * len(rows)
            assert chunk.errors == errors and len(errors) > 10
            assert chunk.imported == valid
            assert chunk.frame.equals(frame), (kind, reorder)


def test_chunks_the_fast_path_cannot_take(tmp_path: Path) -> None:
    students, _ = _registry(tmp_path)
    columns = KINDS["students"][0]
    quoted = [dict(r) for r in students[:50]]
    quoted[3]["school_name"] = "南昌,第一中学"  # a comma: quoted by the CSV writer
    blank = _write(tmp_path / "blank.csv", columns, students[:50])
    blank.write_bytes(blank.read_bytes().replace(b"\n", b"\n\n", 3))
    short = _write(tmp_path / "short.csv", columns, students[:50])
    text = short.read_bytes().split(b"\n")
    text[5] = text[5].rsplit(b",", 1)[0]  # a field missing
    short.write_bytes(b"\n".join(text))
    latin1 = _write(tmp_path / "latin1.csv", columns, students[:50])
    text = latin1.read_bytes().split(b"\n")
    text[7] = text[7].replace(students[6]["name"].encode(), b"\xe9t\xe9")  # not UTF-8, right field count
    latin1.write_bytes(b"\n".join(text))
    for path in (_write(tmp_path / "quoted.csv", columns, quoted), blank, short, latin1):
        chunk, (frame, errors, valid), split = _both_paths("students", path)
        assert split is None, path.name
        assert chunk.errors == errors and chunk.imported == valid and chunk.frame.equals(frame), path.name


_field_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("0123456789Xx 　·•.-张王李陳劉阿\x1c\u00a0\t"),
        st.characters(exclude_characters=',"\n\r', codec="utf-8"),
    ),
    max_size=24,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(
        [
            "name",
            "id_number",
            "gender",
            "birth_date",
            "stage",
            "status",
            "school_name",
            "grade",
            "guardian1_name",
            "guardian1_id_number",
            "guardian1_relation",
            "district_code",
        ]
    ),
    value=_field_text,
)
def test_one_changed_field_either_path(tmp_path: Path, field: str, value: str) -> None:
    columns, _, convert = KINDS["students"]
    row = {c: "" for c in columns}
    row.update(
        student_no="S1",
        name="李小明",
        id_number="360102201505061234",
        gender="M",
        birth_date="2015-05-06",
        stage="primary",
        school_code="3601",
        school_name="南昌小学",
        district_code="360102",
        grade="三年级",
        class_name="1班",
        status="enrolled",
        guardian1_name="李大明",
        guardian1_id_number="360102198001011236",
        guardian1_relation="父亲",
    )
    row["id_number"] = _fix_check(row["id_number"])
    row["guardian1_id_number"] = _fix_check(row["guardian1_id_number"])
    row[field] = value
    line = ",".join(row[c] for c in columns).encode("utf-8")
    split = fast_split("students", line + b"\n", [line], columns, list(range(len(columns))), len(columns))
    if split is None:
        return  # e.g. a value with a line separator: row-by-row as a whole
    good, bad = split
    try:
        expected: tuple[Any, ...] | None = convert([row[c] for c in columns])
    except RowError:
        expected = None
    if good.height:
        assert good.drop("_row").row(0) == expected
    else:
        assert bad.height == 1
