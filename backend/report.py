"""Campaign report (发放领取情况通报): cards issued by district, school and
identity, with failed claim attempts by failure code, as CSV."""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from typing import Any, TextIO

from sqlalchemy import String, cast, func, select

from backend.db import Database
from backend.models import IDENTITIES, Card, ClaimAttempt

FAILURE_CODES = (
    "invalid_id_number", "identity_not_found", "not_enrolled", "guardian_mismatch",
    "proxy_limit_reached", "rate_limited", "backend_unavailable",
)
UNKNOWN = ""


async def campaign_rows(db: Database) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"cards_total": 0, **{f"cards_{i}": 0 for i in IDENTITIES},
                 **{f"failures_{c}": 0 for c in FAILURE_CODES}}
    )
    names: dict[str, str] = {}
    async with db.reading() as session:
        cards = await session.execute(
            select(
                Card.district_code, Card.school_code, Card.school_name,
                cast(Card.identities, String), func.count(),
            ).group_by(Card.district_code, Card.school_code, Card.school_name, cast(Card.identities, String))
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
            .where(ClaimAttempt.success.is_(False), ClaimAttempt.action == "claim")
            .group_by(ClaimAttempt.district_code, ClaimAttempt.school_code, ClaimAttempt.failure_code)
        )
        for district, school, code, count in failures:
            if code in FAILURE_CODES:
                groups[(district or UNKNOWN, school or UNKNOWN, "")][f"failures_{code}"] += count
    rows = []
    for (district, school, _), values in sorted(groups.items()):
        rows.append({"district_code": district, "school_code": school,
                     "school_name": names.get(school, ""), **values})
    return rows


def write_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    columns = ["district_code", "school_code", "school_name", "cards_total"]
    columns += [f"cards_{i}" for i in IDENTITIES] + [f"failures_{c}" for c in FAILURE_CODES]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
