"""`python -m backend report --level … [--scope CODE] --format csv|xlsx --out FILE`
(CONTRACT.md, "Campaign") on SQLite and PostgreSQL: one row per unit with
its code, name, enrolled students, those with a card, their rate in per
cent, and the same for active teachers; audited as the CLI's export."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from tests.backend.campaign.campaign_data import expected, load

ROOT = Path(__file__).resolve().parents[3]


def report(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "BACKEND_DATABASE_URL": database_url, "HOME": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, "-m", "backend", "report", *args],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


async def test_report_by_level_as_csv_and_xlsx(database_url: str, tmp_path: Path) -> None:
    await load(database_url, tmp_path)
    out = tmp_path / "county.csv"
    done = report(database_url, "--level", "county", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "code",
        "name",
        "students",
        "students_claimed",
        "students_claim_rate_pct",
        "teachers",
        "teachers_claimed",
        "teachers_claim_rate_pct",
    ]
    want = expected("county")
    assert {
        r["code"]: tuple(int(r[k]) for k in ("students", "students_claimed", "teachers", "teachers_claimed"))
        for r in rows
    } == want
    donghu = next(r for r in rows if r["code"] == "360102")
    assert donghu["name"] == "南昌市东湖区"
    assert float(donghu["students_claim_rate_pct"]) == round(want["360102"][1] * 100 / want["360102"][0], 1)

    xlsx = tmp_path / "class.xlsx"
    done = report(database_url, "--level", "class", "--scope", "3601020101", "--format", "xlsx", "--out", str(xlsx))
    assert done.returncode == 0, done.stderr
    sheet = load_workbook(xlsx).active
    assert sheet.freeze_panes == "C2" and sheet.cell(1, 1).value == "代码"
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    assert body[-1][1] == "合计"
    assert {r[0]: (r[2], r[3]) for r in body[:-1]} == {
        k: v[:2] for k, v in expected("class").items() if k.startswith("3601020101/")
    }
    assert all(isinstance(r[2], int) for r in body)
    assert sheet.cell(2, 5).number_format == "0.0%" and 0 <= sheet.cell(2, 5).value <= 1

    # To standard output, a city's schools only; bad arguments refused.
    done = report(database_url, "--level", "school", "--scope", "3607")
    assert done.returncode == 0 and [line.split(",")[0] for line in done.stdout.splitlines()[1:]] == ["3607810301"]
    assert report(database_url, "--level", "school", "--scope", "3699").returncode == 2
    assert report(database_url, "--level", "school", "--format", "xlsx").returncode == 2
    assert report(database_url, "--level", "street").returncode == 2
    # Without --level: the cards and failures report, as before.
    done = report(database_url)
    assert done.returncode == 0 and done.stdout.startswith("district_code,school_code,school_name,cards_total")
