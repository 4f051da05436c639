"""Benchmark registry data: generate it once, sample people from it.

The registry is the deterministic demo registry of `tools.demo_registry`,
written by the backend's own CLI:

    python -m backend demo-registry --students N --teachers M --out bench/data/<label>

and reused when `students.csv` and `teachers.csv` are already there.

`sample_k12_students()` picks distinct enrolled K-12 students (the people
who can claim on the `k12_student` path) at random, reproducibly. For a big
file it seeks to random byte offsets instead of reading ten million rows.
"""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
K12_STAGES = ("primary", "junior", "senior", "vocational")
READ_ALL_BELOW = 256 * 1024 * 1024  # bytes: smaller files are read whole


def label(students: int) -> str:
    """10_000_000 -> '10m', 200_000 -> '200k', 12_345 -> '12345'."""
    for size, suffix in ((1_000_000, "m"), (1_000, "k")):
        if students >= size and students % size == 0:
            return f"{students // size}{suffix}"
    return str(students)


@dataclass
class Dataset:
    dir: Path
    students: int
    teachers: int
    generated: bool  # False: reused
    seconds: float  # generation time (0 when reused)

    @property
    def students_csv(self) -> Path:
        return self.dir / "students.csv"

    @property
    def teachers_csv(self) -> Path:
        return self.dir / "teachers.csv"

    def as_dict(self) -> dict:
        return {
            "dir": str(self.dir.relative_to(ROOT)) if self.dir.is_relative_to(ROOT) else str(self.dir),
            "students": self.students,
            "teachers": self.teachers,
            "generated": self.generated,
            "generate_seconds": round(self.seconds, 1),
            "students_csv_bytes": self.students_csv.stat().st_size,
            "teachers_csv_bytes": self.teachers_csv.stat().st_size,
        }


def ensure_dataset(
    students: int, teachers: int | None = None, *, out: Path | None = None, generate: bool = True
) -> Dataset:
    """The demo registry of `students` students (and `teachers` teachers,
    default students/20), generated unless present."""
    teachers = teachers if teachers is not None else max(students // 20, 1)
    out = out or DATA_DIR / label(students)
    ds = Dataset(out, students, teachers, generated=False, seconds=0.0)
    if ds.students_csv.is_file() and ds.teachers_csv.is_file():
        return ds
    if not generate:
        raise SystemExit(f"no registry in {out} (drop --skip-generate to generate it)")
    cmd = [
        sys.executable,
        "-m",
        "backend",
        "demo-registry",
        "--students",
        str(students),
        "--teachers",
        str(teachers),
        "--out",
        str(out),
    ]
    print("$", " ".join(cmd[1:]) if cmd[0] == sys.executable else " ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    ds.generated, ds.seconds = True, time.perf_counter() - started
    return ds


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str


def _k12_enrolled(row: list[str], idx: dict[str, int]) -> Person | None:
    if len(row) != len(idx):
        return None
    if row[idx["status"]] != "enrolled" or row[idx["stage"]] not in K12_STAGES:
        return None
    return Person(row[idx["name"]], row[idx["id_number"]])


def sample_k12_students(students_csv: Path, count: int, *, seed: int = 1) -> list[Person]:
    """`count` distinct enrolled K-12 students, in random order."""
    rng = random.Random(seed)
    with open(students_csv, "rb") as fh:
        header = next(csv.reader([fh.readline().decode("utf-8-sig")]))
        idx = {name.strip(): i for i, name in enumerate(header)}
        body_start = fh.tell()
        size = students_csv.stat().st_size
        if size < READ_ALL_BELOW:
            rows = csv.reader(fh.read().decode("utf-8").splitlines())
            people = [p for p in (_k12_enrolled(r, idx) for r in rows) if p is not None]
            if len(people) < count:
                raise SystemExit(f"{students_csv} has only {len(people)} enrolled K-12 students, need {count}")
            return rng.sample(people, count)
        chosen: dict[str, Person] = {}
        tries = 0
        while len(chosen) < count:
            tries += 1
            if tries > count * 20:
                raise SystemExit(f"could not sample {count} distinct K-12 students from {students_csv}")
            fh.seek(rng.randrange(body_start, size))
            fh.readline()  # finish the partial line
            line = fh.readline()
            if not line:
                continue
            row = next(csv.reader([line.decode("utf-8")]), [])
            person = _k12_enrolled(row, idx)
            if person is not None and person.id_number not in chosen:
                chosen[person.id_number] = person
        return list(chosen.values())
