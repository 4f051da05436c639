"""Jiangxi's reference data (backend/registry/jiangxi.py): the 11 设区市 and
their 100 county-level divisions with their current GB/T 2260 codes, the
省直管县; and a registry import that reports district codes it does not
know (SQLite and PostgreSQL), through the API and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from backend.registry.columns import STUDENT_COLUMNS, TEACHER_COLUMNS
from backend.registry.importer import import_registry
from backend.registry.jiangxi import (
    CITIES,
    COUNTIES,
    PROVINCE_ADMINISTERED,
    UNIVERSITIES,
    city_name,
    district_name,
    is_known_district,
)
from tests.conftest import reset_schema
from tests.people import TEACHER, XIAOMING, _student, _teacher, write_csv

ROOT = Path(__file__).resolve().parents[3]


def test_eleven_cities_and_their_hundred_county_level_divisions() -> None:
    assert sorted(CITIES) == [f"36{n:02d}" for n in range(1, 12)]
    codes = [code for code, _, _ in COUNTIES]
    assert len(codes) == len(set(codes)) == 100
    assert all(len(c) == 6 and c[:4] in CITIES for c in codes)
    per_city = Counter(c[:4] for c in codes)
    assert per_city == {
        "3601": 9,
        "3602": 4,
        "3603": 5,
        "3604": 13,
        "3605": 2,
        "3606": 3,
        "3607": 18,
        "3608": 13,
        "3609": 10,
        "3610": 11,
        "3611": 12,
    }
    kinds = Counter(name[-1] for _, name, _ in COUNTIES)
    assert kinds == {"区": 27, "市": 12, "县": 61}
    # Changes since 2017: the old codes are gone, the new ones there.
    for gone in ("360105", "360727", "361029", "360421", "361121", "360721"):
        assert not is_known_district(gone), gone
    assert district_name("360113") == "南昌市红谷滩区"
    assert district_name("360783") == "赣州市龙南市"
    assert district_name("361003") == "抚州市东乡区"
    assert district_name("361104") == "上饶市广信区"
    assert district_name("360404") == "九江市柴桑区"
    assert city_name("3607") == "赣州市" and city_name("9999") == "9999"


def test_province_administered_counties_are_county_level_divisions() -> None:
    assert set(PROVINCE_ADMINISTERED) == {"360482", "360781", "360981"}
    names = {code: name for code, name, _ in COUNTIES}
    for code, name in PROVINCE_ADMINISTERED.items():
        assert names[code] == name


def test_universities_stand_in_known_districts() -> None:
    assert all(is_known_district(district) for _, district, _, _ in UNIVERSITIES)


async def test_an_import_reports_the_district_codes_it_does_not_know(database_url: str, tmp_path: Path) -> None:
    await reset_schema(database_url)
    known = _student(XIAOMING, "primary")
    old = dict(_student(TEACHER, "primary"), district_code="360105")  # 湾里区, merged in 2019
    students = write_csv(tmp_path / "s.csv", STUDENT_COLUMNS, [known, old])
    teachers = write_csv(
        tmp_path / "t.csv", TEACHER_COLUMNS, [dict(_teacher(TEACHER), district_code="110101")]
    )  # Beijing
    s, t = await import_registry(database_url, students, teachers)
    # Imported all the same, and reported.
    assert (s.imported, s.errors, s.unknown_districts) == (2, [], {"360105": 1})
    assert (t.imported, t.errors, t.unknown_districts) == (1, [], {"110101": 1})
    # The CLI says so.
    env = {
        "PATH": "/usr/bin:/bin",
        "BACKEND_DATABASE_URL": database_url,
        "HOME": str(ROOT / "var"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "backend", "import-registry", "--students", str(students), "--no-progress"],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env={**env, **{k: v for k, v in os.environ.items() if k == "TMPDIR"}},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "360105 (1 rows)" in done.stdout and "not in the Jiangxi reference data" in done.stdout
