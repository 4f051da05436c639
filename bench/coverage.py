"""Coverage at province scale: the campaign's reports timed on the bench
registry (bench/dataset.py), on SQLite and PostgreSQL.

    python -m bench.coverage --students 10000000 [--databases sqlite,postgresql] [--reuse-db]

Per database: the schema and the registry imported by the backend's own CLI
(timed: the import, its indexes and its full recount of the coverage counts);
cards issued for one student in CARD_SHARE, in one INSERT (timed: the
trigger on `cards` counts each); then, each run REPEAT times (the first run
cold, after the import): coverage of the province (by city) and of a city (by
county), the full report (`report --level class`: every class), the
bulletin's data of the province (coverage, trend, failure causes), a full
recount and one school's, the largest school's not-claimed list and classes,
and, for comparison, the province's figures as coverage counted them before
the counts (one GROUP BY over the students joined to the cards).

`--import-code DIR` also times the import with the code of another checkout
(e.g. the commit before the indexes), into a database of its own.
Databases: bench/data/<label>-scale.sqlite3, PostgreSQL xxh_scale_<label>.
Results: bench/results/coverage-<label>-<database>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.dataset import DATA_DIR, ROOT, ensure_dataset, label

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CARD_SHARE = 10  # one student in CARD_SHARE gets a card
REPEAT = 3

# Cards for every CARD_SHARE-th enrolled student (by ID number), created
# over the last 20 days (the bulletin's trend has days to show).
CARDS = {
    "sqlite": """
INSERT INTO cards (card_number, holder_id_number, holder_name, path, identities, permissions,
                   district_code, school_code, school_name, created_at, updated_at)
SELECT printf('B%015d', n), id_number, name, 'k12_student', '["k12_student"]', '[]',
       district_code, school_code, school_name,
       datetime('now', printf('-%d days', n % 20)), datetime('now')
FROM (SELECT s.*, row_number() OVER (ORDER BY id_number) AS n FROM students AS s WHERE status = 'enrolled')
WHERE n % :share = 0
""",
    "postgresql": """
INSERT INTO cards (card_number, holder_id_number, holder_name, path, identities, permissions,
                   district_code, school_code, school_name, created_at, updated_at)
SELECT 'B' || lpad(n::text, 15, '0'), id_number, name, 'k12_student', '["k12_student"]', '[]',
       district_code, school_code, school_name,
       now() - make_interval(days => (n % 20)::int), now()
FROM (SELECT s.*, row_number() OVER (ORDER BY id_number) AS n FROM students AS s WHERE status = 'enrolled') AS s
WHERE n % :share = 0
""",
}

# The province by city as coverage counted it before the counts (students only).
GROUPED_PROVINCE = """
SELECT substr(s.district_code, 1, 4), count(*), count(c.id), max(s.school_name)
FROM students AS s
LEFT JOIN cards AS c ON c.holder_id_number = s.id_number
WHERE s.status = 'enrolled'
GROUP BY substr(s.district_code, 1, 4)
"""

LARGEST_SCHOOL = """
SELECT school_code FROM coverage_students GROUP BY school_code ORDER BY sum(students) DESC, school_code LIMIT 1
"""


def urls(kind: str, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{DATA_DIR / name}.sqlite3"
    return f"{PG_SERVER}/{name}"


async def fresh_database(kind: str, name: str) -> None:
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{DATA_DIR / name}.sqlite3{suffix}").unlink(missing_ok=True)
        return
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


def backend(url: str, *argv: str, cwd: Path = ROOT) -> tuple[float, str]:
    """`python -m backend ARGV` on `url` from `cwd`: (wall seconds, output)."""
    env = {**os.environ, "BACKEND_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "backend", *argv], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return time.perf_counter() - started, done.stdout.strip()


def import_registry(url: str, ds: Any, cwd: Path = ROOT) -> dict[str, Any]:
    backend(url, "init-db", cwd=cwd)
    seconds, out = backend(
        url,
        "import-registry",
        "--students",
        str(ds.students_csv),
        "--teachers",
        str(ds.teachers_csv),
        "--no-progress",
        cwd=cwd,
    )
    return {"seconds": round(seconds, 1), "rows_per_second": round((ds.students + ds.teachers) / seconds)}


async def timed(fn: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        result = await fn()
        runs.append(time.perf_counter() - started)
    rows = len(result) if isinstance(result, list) else None
    return {"first": round(runs[0], 3), "median": round(statistics.median(runs), 3), "rows": rows}


async def measure(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from backend.campaign.bulletin import gather
    from backend.campaign.coverage import coverage
    from backend.campaign.not_claimed import Unit, classes, unclaimed
    from backend.campaign.scope import Scope
    from backend.db import Database
    from backend.registry.counts import recount

    db = Database(url, pool_size=2)
    province, city = Scope("admin"), Scope.parse("district", "3601")

    async def read(fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async with db.reading() as session:
            return await fn(session)

    async def write(fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async with db.writing() as session:
            return await fn(session)

    try:
        school = await read(lambda s: s.execute(text(LARGEST_SCHOOL)))
        school_code = school.scalar()
        unit = Unit.of(school_code)
        out = {
            "coverage_province": await timed(lambda: read(lambda s: coverage(s, "city", province))),
            "coverage_city": await timed(lambda: read(lambda s: coverage(s, "county", city))),
            "report_class": await timed(lambda: read(lambda s: coverage(s, "class", province))),
            "report_school": await timed(lambda: read(lambda s: coverage(s, "school", province))),
            "bulletin_province": await timed(lambda: read(lambda s: gather(s, db.dialect, "36"))),
            "not_claimed_largest_school": await timed(lambda: read(lambda s: unclaimed(s, "student", unit, province))),
            "classes_largest_school": await timed(lambda: read(lambda s: classes(s, unit, province))),
            "recount_one_school": await timed(lambda: write(lambda s: recount(s, [school_code]))),
            "recount_all": await timed(lambda: write(lambda s: recount(s))),
            "grouped_province_before_counts": await timed(lambda: read(lambda s: _all(s, GROUPED_PROVINCE))),
        }
        out["largest_school"] = school_code
        return out
    finally:
        await db.dispose()


async def _all(session: Any, sql: str) -> list[Any]:
    from sqlalchemy import text

    return list(await session.execute(text(sql)))


async def issue_cards(kind: str, url: str) -> dict[str, Any]:
    """CARDS in one statement; (seconds, cards)."""
    from sqlalchemy import text

    from backend.db import Database

    db = Database(url, pool_size=1)
    try:
        started = time.perf_counter()
        async with db.writing() as session:
            await session.execute(text(CARDS[kind]), {"share": CARD_SHARE})
        seconds = time.perf_counter() - started
        async with db.reading() as session:
            n = (await session.execute(text("SELECT count(*) FROM cards"))).scalar()
        return {"seconds": round(seconds, 1), "cards": n, "per_second": round(n / seconds) if seconds else None}
    finally:
        await db.dispose()


def sizes(kind: str, name: str) -> dict[str, int]:
    if kind != "sqlite":
        return {}
    with sqlite3.connect(f"{DATA_DIR / name}.sqlite3") as conn:
        rows = conn.execute("SELECT count(*) FROM coverage_students").fetchone()[0]
        teachers = conn.execute("SELECT count(*) FROM coverage_teachers").fetchone()[0]
    return {"coverage_students_rows": rows, "coverage_teachers_rows": teachers}


async def bench_database(kind: str, ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    name = f"{label(ds.students)}-scale" if kind == "sqlite" else f"xxh_scale_{label(ds.students)}"
    url = urls(kind, name)
    result: dict[str, Any] = {"database": kind, "students": ds.students, "teachers": ds.teachers}
    if args.import_code:
        other = name + ("-before" if kind == "sqlite" else "_before")
        await fresh_database(kind, other)
        result["import_before"] = import_registry(urls(kind, other), ds, cwd=args.import_code)
        print(kind, "import with", args.import_code, result["import_before"], flush=True)
        await fresh_database(kind, other)  # emptied: it is not used again
    if not args.reuse_db:
        await fresh_database(kind, name)
        result["import"] = import_registry(url, ds)
        print(kind, "import", result["import"], flush=True)
        result["cards"] = await issue_cards(kind, url)
        print(kind, "cards", result["cards"], flush=True)
    seconds, out = backend(url, "recount-coverage")
    result["recount_command"] = {"seconds": round(seconds, 1), "said": out}
    result["timings"] = await measure(url)
    result.update(sizes(kind, name))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=10_000_000, help="registry size (default 10,000,000)")
    p.add_argument("--teachers", type=int, help="default: students / 20")
    p.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--skip-generate", action="store_true", help="use the registry in bench/data, never generate")
    p.add_argument("--reuse-db", action="store_true", help="time the reports on the database of the last run")
    p.add_argument("--import-code", type=Path, help="also time the import with this checkout's code")
    args = p.parse_args(argv)
    ds = ensure_dataset(args.students, args.teachers, generate=not args.skip_generate)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    for kind in args.databases.split(","):
        result = asyncio.run(bench_database(kind, ds, args))
        result["day"] = dt.date.today().isoformat()
        print(json.dumps(result, indent=2), flush=True)
        path = results_dir / f"coverage-{label(ds.students)}-{kind}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
