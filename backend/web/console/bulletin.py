"""The September report (发放领取情况通报, backend/campaign/bulletin.py) as a
printable console page, `/staff/campaign/bulletin?unit=36|3601|360102`,
and as files with `&format=pdf|xlsx` (PDF printed by headless Chromium
from the same report, laid out for A4 by bulletin.css's print rules).

Who may see which unit (bulletin.allowed): an admin any unit (the province
by default); a district account its own city or county (by default), and
a city account the counties within it; any other unit is a 403. School
accounts get a 403: a 通报 ranks the units an education bureau oversees,
and a school's own figures are on the dashboard. Agents do support work:
403. Every view and download is in the staff audit log."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from backend.appkeys import DB
from backend.campaign.bulletin import (
    NOTICE,
    NOTICE_TITLE,
    PROVINCE,
    Bulletin,
    UnitError,
    allowed,
    check_unit,
    default_unit,
)
from backend.campaign.bulletin import gather as gather_bulletin
from backend.campaign.bulletin_files import ChromiumMissing, PdfFailed, html_to_pdf, write_xlsx
from backend.web.console.auth import audit, render, require_staff, staff_of
from backend.web.console.charts import Series, column_chart, line_chart
from backend.web.console.urls import BULLETIN
from contract import beijing as clock
from contract.staff import CAMPAIGN_ROLES

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STYLESHEET = Path(__file__).resolve().parents[1] / "static" / "bulletin.css"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("html", "pdf", "xlsx")
CHART_WIDTH = 720  # SVG units: the width of an A4 page's text
# One PDF at a time per process: each is a Chromium of its own.
_printing = asyncio.Semaphore(1)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def charts(bulletin: Bulletin) -> dict[str, Any]:
    labels = [t.day[5:] for t in bulletin.trend]  # MM-DD
    people = bulletin.people
    return {
        "cards_per_day": column_chart(
            "chart-bulletin-cards",
            "每日发卡数（北京时间）",
            labels,
            [Series("发卡数", [t.cards for t in bulletin.trend])],
            width=CHART_WIDTH,
            height=240,
        ),
        "cumulative_rate": line_chart(
            "chart-bulletin-rate",
            "累计领卡率（师生合计，%）",
            labels,
            [Series("累计领卡率", [t.rate(people) or 0.0 for t in bulletin.trend], "#2f9e44")],
            width=CHART_WIDTH,
            height=240,
        ),
    }


def context(bulletin: Bulletin) -> dict[str, Any]:
    """What the report's markup (staff/bulletin_report.html) reads."""
    return {
        "b": bulletin,
        "charts": charts(bulletin),
        "percent": percent,
        "notice": NOTICE,
        "notice_title": NOTICE_TITLE,
        "generated": f"{bulletin.generated_at:%Y-%m-%d %H:%M}",
    }


def document(bulletin: Bulletin) -> str:
    """The report as one self-contained HTML document (its stylesheet
    inline, no script, nothing loaded from elsewhere): what Chromium prints
    to PDF and the command line's `--format html` writes."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    page = env.get_template("staff/bulletin_print.html")
    return page.render(**context(bulletin), stylesheet=STYLESHEET.read_text(encoding="utf-8"))


async def pdf(bulletin: Bulletin) -> bytes:
    async with _printing:
        return await html_to_pdf(document(bulletin))


def xlsx(bulletin: Bulletin) -> bytes:
    out = io.BytesIO()
    write_xlsx(bulletin, out)
    return out.getvalue()


def filename(bulletin: Bulletin, kind: str) -> tuple[str, str]:
    """(ASCII fallback, the Chinese name) of a download."""
    day = f"{clock.today():%Y%m%d}"
    return f"bulletin-{bulletin.unit}-{day}.{kind}", f"{bulletin.name}发放领取情况通报_{day}.{kind}"


@require_staff(*CAMPAIGN_ROLES)
async def bulletin_page(request: web.Request) -> web.StreamResponse:
    staff = staff_of(request)
    kind = request.query.get("format") or "html"
    if kind not in FORMATS:
        raise web.HTTPBadRequest(text="format 应为 html、pdf 或 xlsx。", content_type="text/plain")
    first = default_unit(staff.scope)
    if first is None:  # schools (agents never get here): no units to rank
        raise web.HTTPForbidden(
            text="通报面向省、设区市和县（市、区）教育局；学校账号请查看数据看板。", content_type="text/plain"
        )
    try:
        unit = check_unit(request.query.get("unit") or first)
    except UnitError:
        raise web.HTTPBadRequest(
            text="unit 应为 36（全省）、设区市代码（如 3601）或县（市、区）代码。", content_type="text/plain"
        ) from None
    if not allowed(staff.scope, unit):
        await audit(request, "denied_bulletin", staff.scope.label, f"unit={unit}")
        raise web.HTTPForbidden(text="您的账号无权查看该单位的通报。", content_type="text/plain")
    db = request.app[DB]
    async with db.reading() as session:
        bulletin = await gather_bulletin(session, db.dialect, unit)
    if kind == "html":
        await audit(request, "view_bulletin", bulletin.name, f"unit={unit}")
        parent = PROVINCE if len(unit) == 4 else unit[:4] if len(unit) == 6 else None
        links = {
            "url": BULLETIN,
            "parent": parent if parent and allowed(staff.scope, parent) else None,
            "drill": bulletin.level != "school",  # a city's or a county's own bulletin
        }
        return render(request, "staff/bulletin.html", {**context(bulletin), **links})
    try:
        body = await pdf(bulletin) if kind == "pdf" else xlsx(bulletin)
    except ChromiumMissing as exc:
        raise web.HTTPServiceUnavailable(
            text=f"无法生成 PDF：服务器未安装 Chromium。{exc}", content_type="text/plain"
        ) from None
    except PdfFailed as exc:
        raise web.HTTPServiceUnavailable(text=f"无法生成 PDF：{exc}", content_type="text/plain") from None
    await audit(request, "export_bulletin", bulletin.name, f"{kind}; unit={unit}; {len(bulletin.ranking)} 行")
    fallback, name = filename(bulletin, kind)
    return web.Response(
        body=body,
        headers={
            "Content-Type": "application/pdf" if kind == "pdf" else XLSX,
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get(BULLETIN, bulletin_page)
