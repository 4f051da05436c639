"""Campaign report (发放领取情况通报): cards issued by district, school and
identity, with failed claim attempts by failure code, as CSV.

`write_csv` writes the CLI's form (column codes as the header);
`write_excel_csv` the staff console's download (Chinese headers, district
names, cells Excel would run as formulas defused)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from typing import Any, TextIO

from sqlalchemy import String, cast, func, select

from backend.campaign.scope import Scope
from backend.db import Database
from backend.models import Card, ClaimAttempt
from backend.registry.jiangxi import district_name
from contract.failures import FAILURE_CODES, FAILURE_LABELS
from contract.paths import IDENTITIES, IDENTITY_LABELS

UNKNOWN = ""


async def campaign_rows(
    db: Database, since: dt.datetime | None = None, until: dt.datetime | None = None, scope: Scope | None = None
) -> list[dict[str, Any]]:
    """Rows per (district, school); with since/until (UTC, until exclusive)
    only cards and attempts of that time; with a scope, only its rows."""
    scope = scope or Scope("admin")
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "cards_total": 0,
            **{f"cards_{i}": 0 for i in IDENTITIES},
            **{f"failures_{c}": 0 for c in FAILURE_CODES},
        }
    )
    names: dict[str, str] = {}
    async with db.reading() as session:
        cards = await session.execute(
            select(
                Card.district_code,
                Card.school_code,
                Card.school_name,
                cast(Card.identities, String),
                func.count(),
            )
            .where(*_between(Card.created_at, since, until), scope.where(Card.district_code, Card.school_code))
            .group_by(Card.district_code, Card.school_code, Card.school_name, cast(Card.identities, String))
        )
        for district, school, school_name, identities, count in cards:
            key = (district or UNKNOWN, school or UNKNOWN, "")
            names[school or UNKNOWN] = school_name or ""
            g = groups[key]
            g["cards_total"] += count
            for identity in json.loads(identities):
                g[f"cards_{identity}"] += count
        failures = await session.execute(
            select(ClaimAttempt.district_code, ClaimAttempt.school_code, ClaimAttempt.failure_code, func.count())
            .where(
                ClaimAttempt.success.is_(False),
                ClaimAttempt.action == "claim",
                *_between(ClaimAttempt.created_at, since, until),
                scope.where(ClaimAttempt.district_code, ClaimAttempt.school_code),
            )
            .group_by(ClaimAttempt.district_code, ClaimAttempt.school_code, ClaimAttempt.failure_code)
        )
        for district, school, code, count in failures:
            if code in FAILURE_CODES:
                groups[(district or UNKNOWN, school or UNKNOWN, "")][f"failures_{code}"] += count
    rows = []
    for (district, school, _), values in sorted(groups.items()):
        rows.append({"district_code": district, "school_code": school, "school_name": names.get(school, ""), **values})
    return rows


def _between(column: Any, since: dt.datetime | None, until: dt.datetime | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def write_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    columns = ["district_code", "school_code", "school_name", "cards_total"]
    columns += [f"cards_{i}" for i in IDENTITIES] + [f"failures_{c}" for c in FAILURE_CODES]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _cell(value: Any) -> Any:
    """A text cell Excel would evaluate (=, +, -, @ ...) gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def excel_columns() -> list[tuple[str, str]]:
    columns = [
        ("district_code", "区县代码"),
        ("district_name", "区县"),
        ("school_code", "学校代码"),
        ("school_name", "学校名称"),
        ("cards_total", "发卡总数"),
    ]
    columns += [(f"cards_{i}", f"发卡-{IDENTITY_LABELS[i]}") for i in IDENTITIES]
    columns += [(f"failures_{c}", f"领取失败-{FAILURE_LABELS[c]}") for c in FAILURE_CODES]
    return columns


def write_excel_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    """The report for people: Chinese headers, district names, a total row
    (write the UTF-8 BOM before it so Excel reads the Chinese)."""
    columns = excel_columns()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _, label in columns])
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        full = {**row, "district_name": district_name(row["district_code"]) if row["district_code"] else "未关联"}
        writer.writerow([_cell(full.get(key, "")) for key, _ in columns])
        for key, _ in columns[4:]:
            totals[key] += int(row.get(key) or 0)
    writer.writerow(["合计", "", "", "", *[totals[key] for key, _ in columns[4:]]])
