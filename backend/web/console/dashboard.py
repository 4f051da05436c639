"""The campaign dashboard (admins, and district and school accounts for
their scope): coverage by unit with drill-down (city → county → school →
grade → class, backend/campaign/coverage.py), cards issued per day and per
identity, claims and failures by district and school, failure codes over
time, as server-side SVG charts; and the distribution report (发放领取情况通报)
as a CSV download. Every figure is limited to the account's scope.

Every figure is one aggregate query (GROUP BY) over a created_at range, so
the indexes on cards.created_at and claim_attempts.created_at bound the
work however many rows there are. Days are Beijing days (UTC+8; times are
stored as naive UTC): `day_bucket` shifts before taking the date, in each
database's own syntax. "Claims" are claim attempts (action "claim": what
the bot sends); a repeated claim of an existing card counts as a success.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.appkeys import DB
from backend.campaign.coverage import LEVEL_LABELS, LEVELS, child_level, coverage, top_level, totals
from backend.campaign.days import as_day as _day
from backend.campaign.days import day_bucket
from backend.campaign.scope import Scope
from backend.models import Card, ClaimAttempt
from backend.registry.jiangxi import district_name
from backend.report import campaign_rows, write_excel_csv
from backend.web.console.auth import audit, render, require_staff, staff_of
from backend.web.console.charts import Series, bar_chart, column_chart, line_chart
from backend.web.console.ticket_stats import ticket_counts
from backend.web.console.urls import COVERAGE_EXPORT, DASHBOARD, not_claimed_href
from contract import beijing as clock
from contract.failures import FAILURE_LABELS
from contract.paths import IDENTITIES, IDENTITY_LABELS, PATH_LABELS
from contract.staff import CAMPAIGN_ROLES

DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_DISTRICTS = 15
TOP_SCHOOLS = 15
NO_DISTRICT = "未关联区县"
GOOD, BAD = "#2f9e44", "#b42318"
FULL_WIDTH = 1100  # SVG units of a chart across the page (shrinks on narrow screens)


@dataclass(frozen=True)
class DayRange:
    """Beijing days first..last (inclusive)."""

    first: dt.date
    last: dt.date

    @property
    def since(self) -> dt.datetime:  # naive UTC, inclusive
        return clock.day_start_utc(self.first)

    @property
    def until(self) -> dt.datetime:  # naive UTC, exclusive
        return clock.day_start_utc(self.last + dt.timedelta(days=1))

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def default_range(days: int = DEFAULT_DAYS) -> DayRange:
    last = clock.today()
    return DayRange(last - dt.timedelta(days=days - 1), last)


def parse_range(query: Any) -> tuple[DayRange, str | None]:
    """The range of `from`/`to` (YYYY-MM-DD), or the default and what was wrong."""
    raw_from, raw_to = query.get("from", "").strip(), query.get("to", "").strip()
    if not raw_from and not raw_to:
        return default_range(), None
    try:
        last = dt.date.fromisoformat(raw_to) if raw_to else clock.today()
        first = dt.date.fromisoformat(raw_from) if raw_from else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        return default_range(), "日期格式应为 YYYY-MM-DD，已显示最近 30 天。"
    if first > last:
        return default_range(), "开始日期晚于结束日期，已显示最近 30 天。"
    if (last - first).days + 1 > MAX_DAYS:
        return default_range(), f"时间范围最长 {MAX_DAYS} 天，已显示最近 30 天。"
    return DayRange(first, last), None


# -- queries ------------------------------------------------------------------------------


async def dashboard_data(
    session: AsyncSession, dialect: str, r: DayRange, scope: Scope, tickets_too: bool = True
) -> dict[str, Any]:
    cards_in_scope = scope.where(Card.district_code, Card.school_code)
    card_range = (Card.created_at >= r.since, Card.created_at < r.until, cards_in_scope)
    claim_range = (
        ClaimAttempt.created_at >= r.since,
        ClaimAttempt.created_at < r.until,
        ClaimAttempt.action == "claim",
        scope.where(ClaimAttempt.district_code, ClaimAttempt.school_code),
    )
    failed = func.sum(case((ClaimAttempt.success.is_(False), 1), else_=0))

    card_day = day_bucket(Card.created_at, dialect)
    per_day = {
        _day(d): int(n)
        for d, n in await session.execute(select(card_day, func.count()).where(*card_range).group_by(card_day))
    }

    identities = {i: 0 for i in IDENTITIES}
    paths: dict[str, int] = {}
    for raw, path, n in await session.execute(
        select(cast(Card.identities, String), Card.path, func.count())
        .where(*card_range)
        .group_by(cast(Card.identities, String), Card.path)
    ):
        for identity in json.loads(raw):
            identities[identity] = identities.get(identity, 0) + int(n)
        paths[path] = paths.get(path, 0) + int(n)

    districts: list[dict[str, Any]] = [
        {
            "code": code or "",
            "name": district_name(code) if code else NO_DISTRICT,
            "claims": int(n),
            "failures": int(f or 0),
        }
        for code, n, f in await session.execute(
            select(ClaimAttempt.district_code, func.count(), failed)
            .where(*claim_range)
            .group_by(ClaimAttempt.district_code)
            .order_by(func.count().desc(), ClaimAttempt.district_code)
        )
    ]

    schools = [
        {
            "code": code,
            "district": district_name(district) if district else "",
            "claims": int(n),
            "failures": int(f or 0),
            "name": "",
            "cards": 0,
        }
        for code, district, n, f in await session.execute(
            select(ClaimAttempt.school_code, func.max(ClaimAttempt.district_code), func.count(), failed)
            .where(*claim_range, ClaimAttempt.school_code.is_not(None))
            .group_by(ClaimAttempt.school_code)
            .order_by(func.count().desc(), ClaimAttempt.school_code)
            .limit(TOP_SCHOOLS)
        )
    ]
    if schools:
        by_code = {s["code"]: s for s in schools}
        for code, name, n in await session.execute(
            select(Card.school_code, Card.school_name, func.count())
            .where(*card_range, Card.school_code.in_(list(by_code)))
            .group_by(Card.school_code, Card.school_name)
        ):
            by_code[code]["name"] = by_code[code]["name"] or name or ""
            by_code[code]["cards"] += int(n)

    attempt_day = day_bucket(ClaimAttempt.created_at, dialect)
    failures_by_day: dict[str, dict[str, int]] = {}
    for d, code, n in await session.execute(
        select(attempt_day, ClaimAttempt.failure_code, func.count())
        .where(*claim_range, ClaimAttempt.success.is_(False))
        .group_by(attempt_day, ClaimAttempt.failure_code)
    ):
        failures_by_day.setdefault(code or "unknown", {})[_day(d)] = int(n)

    cards_all = int(await session.scalar(select(func.count()).select_from(Card).where(cards_in_scope)) or 0)
    tickets = await ticket_counts(session) if tickets_too else {"open": None, "assigned": None}
    claims = sum(d["claims"] for d in districts)
    failures = sum(d["failures"] for d in districts)
    return {
        "per_day": per_day,
        "identities": identities,
        "paths": paths,
        "districts": districts,
        "schools": schools,
        "failures_by_day": failures_by_day,
        "tickets": tickets,
        "summary": {
            "cards": sum(per_day.values()),
            "cards_all": cards_all,
            "claims": claims,
            "successes": claims - failures,
            "failures": failures,
            "success_rate": f"{(claims - failures) / claims * 100:.1f}%" if claims else "—",
            "open_tickets": tickets["open"],
            "assigned_tickets": tickets["assigned"],
        },
    }


def charts(data: dict[str, Any], r: DayRange) -> dict[str, Any]:
    days = [d.isoformat() for d in r.days]
    labels = [d[5:] for d in days]  # MM-DD
    top = data["districts"][:TOP_DISTRICTS]
    order = list(FAILURE_LABELS)
    codes = sorted(data["failures_by_day"], key=lambda c: (order.index(c) if c in order else len(order), c))
    return {
        "cards_per_day": column_chart(
            "chart-cards-per-day",
            "每日发卡数（北京时间）",
            labels,
            [Series("发卡数", [data["per_day"].get(d, 0) for d in days])],
            width=FULL_WIDTH,
        ),
        "cards_by_identity": bar_chart(
            "chart-cards-by-identity",
            "按身份统计发卡数（一人可有多个身份）",
            [IDENTITY_LABELS[i] for i in IDENTITIES],
            [Series("发卡数", [data["identities"][i] for i in IDENTITIES])],
            width=520,
        ),
        "claims_by_district": bar_chart(
            "chart-claims-by-district",
            f"各区县领卡成功与失败次数（前 {TOP_DISTRICTS}）",
            [d["name"] for d in top],
            [
                Series("成功", [d["claims"] - d["failures"] for d in top], GOOD),
                Series("失败", [d["failures"] for d in top], BAD),
            ],
            width=FULL_WIDTH,
        ),
        "claims_by_school": bar_chart(
            "chart-claims-by-school",
            f"领卡次数最多的 {TOP_SCHOOLS} 所学校",
            [s["name"] or s["code"] for s in data["schools"]],
            [
                Series("成功", [s["claims"] - s["failures"] for s in data["schools"]], GOOD),
                Series("失败", [s["failures"] for s in data["schools"]], BAD),
            ],
            width=FULL_WIDTH,
            label_width=260,
        ),
        "failures_over_time": line_chart(
            "chart-failures-over-time",
            "每日领卡失败原因",
            labels,
            [Series(FAILURE_LABELS.get(c, c), [data["failures_by_day"][c].get(d, 0) for d in days]) for c in codes],
            width=FULL_WIDTH,
        ),
    }


# -- handlers --------------------------------------------------------------------------


def coverage_view(query: Any, scope: Scope) -> tuple[str, str]:
    """(level, within) of the coverage table: the query's, else the scope's top."""
    level = query.get("level", "")
    return (level if level in LEVELS else top_level(scope)), query.get("within", "").strip()[:200]


@require_staff(*CAMPAIGN_ROLES)
async def dashboard(request: web.Request) -> web.StreamResponse:
    r, error = parse_range(request.query)
    db = request.app[DB]
    staff = staff_of(request)
    level, within = coverage_view(request.query, staff.scope)
    async with db.reading() as session:
        data = await dashboard_data(session, db.dialect, r, staff.scope, staff.does_support)
        units = await coverage(session, level, staff.scope, within=within or None)
    target = f"{staff.scope.label}; level={level}" + (f"; within={within}" if within else "")
    await audit(request, "view_dashboard", target, f"{r.first.isoformat()}~{r.last.isoformat()}")
    top = top_level(staff.scope)
    crumbs = [(LEVEL_LABELS[lv], lv) for lv in LEVELS[LEVELS.index(top) : LEVELS.index(level) + 1]]
    presets = [(n, default_range(n)) for n in (7, 30, 90)]
    return render(
        request,
        "staff/dashboard.html",
        {
            "range": r,
            "error": error,
            "data": data,
            "charts": charts(data, r),
            "presets": presets,
            "identity_labels": IDENTITY_LABELS,
            "path_labels": PATH_LABELS,
            "coverage": {
                "level": level,
                "label": LEVEL_LABELS[level],
                "within": within,
                "child": child_level(level),
                "rows": units,
                "total": totals(units),
                "top": top,
                "crumbs": crumbs,
                "scope": staff.scope.label,
                "export": COVERAGE_EXPORT,
                # who has not claimed, by school and by class (grades: their classes)
                "not_claimed": not_claimed_href if level in ("school", "grade", "class") else None,
            },
        },
        status=400 if error else 200,
    )


@require_staff(*CAMPAIGN_ROLES)
async def report_csv(request: web.Request) -> web.StreamResponse:
    """发放领取情况通报 as CSV: cumulative, or of a range with from/to."""
    ranged = bool(request.query.get("from") or request.query.get("to"))
    r, error = parse_range(request.query) if ranged else (None, None)
    if error:
        raise web.HTTPBadRequest(text=f"日期范围无效：请用 YYYY-MM-DD，最长 {MAX_DAYS} 天。", content_type="text/plain")
    units = staff_of(request).scope
    rows = await campaign_rows(request.app[DB], r.since if r else None, r.until if r else None, units)
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 BOM: Excel then reads the Chinese right
    write_excel_csv(rows, out)
    scope = f"{r.first:%Y%m%d}-{r.last:%Y%m%d}" if r else f"截至{clock.today():%Y%m%d}"
    scope_text = f"{r.first.isoformat()}~{r.last.isoformat()}" if r else "累计"
    await audit(request, "export_report", units.label, f"{scope_text}，{len(rows)} 行")
    filename = f"发放领取情况通报_{scope}.csv"
    fallback = f"report-{r.first:%Y%m%d}-{r.last:%Y%m%d}.csv" if r else f"report-{clock.today():%Y%m%d}.csv"
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get(DASHBOARD, dashboard)
    app.router.add_get(DASHBOARD + "/report.csv", report_csv)
