"""Records to fix (backend/campaign/fixes.py) in the staff console, for
admins, districts and schools, each within the account's scope (agents:
403):

- GET /staff/fixes: the work list, by school, grade and class; `school`
  narrows it to one school of the scope, `state` to open (待修改) or fixed
  (已修改) items. Audited (view_fixes).
- GET /staff/fixes.csv: the same list as a CSV download (UTF-8 with BOM,
  for Excel), audited like the coverage downloads (export_fixes).

Names and ID numbers are masked (张*明, 3601**********1234) on both.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from backend.appkeys import DB, HASHER
from backend.campaign.fixes import STATE_LABELS, FixItem, records_to_fix
from backend.web.console.auth import audit, render, require_staff, staff_of
from backend.web.console.urls import FIXES, FIXES_EXPORT
from contract import beijing as clock
from contract.staff import CAMPAIGN_ROLES

_SCHOOL = re.compile(r"^[0-9A-Za-z]{1,32}$")
HEADER = (
    "学校代码",
    "学校",
    "年级",
    "班级",
    "学生",
    "身份证号",
    "问题",
    "需修改的字段",
    "领卡时所填",
    "领卡失败时间",
    "状态",
    "学籍库修改时间",
)


def _when(value: Any) -> str:
    return f"{clock.beijing(value):%Y-%m-%d %H:%M}" if value else ""


def _cell(value: str) -> str:
    """A text cell a spreadsheet would evaluate (=, +, -, @ ...) gets a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _row(item: FixItem) -> list[str]:
    return [
        item.school_code,
        item.school_name,
        item.grade,
        item.class_name,
        item.student_masked,
        item.id_masked,
        item.problem,
        item.field,
        item.given,
        _when(item.failed_at),
        STATE_LABELS[item.state],
        _when(item.fixed_at),
    ]


async def _items(request: web.Request, kind: str) -> tuple[list[FixItem], str, str]:
    """The list the query asks for (school, state), within the account's scope."""
    school = request.query.get("school", "").strip()
    state = request.query.get("state", "").strip()
    if (school and not _SCHOOL.match(school)) or state not in ("", *STATE_LABELS):
        raise web.HTTPBadRequest(text="school 应为学校代码，state 应为 open 或 fixed。", content_type="text/plain")
    scope = staff_of(request).scope
    async with request.app[DB].reading() as session:
        items = await records_to_fix(session, scope, request.app[HASHER], school=school or None, state=state or None)
    detail = f"school={school}; state={state}; {len(items)} 行" + ("; csv" if kind == "csv" else "")
    await audit(request, "export_fixes" if kind == "csv" else "view_fixes", scope.label, detail)
    return items, school, state


@require_staff(*CAMPAIGN_ROLES)
async def fixes_page(request: web.Request) -> web.StreamResponse:
    items, school, state = await _items(request, "page")
    return render(
        request,
        "staff/fixes.html",
        {
            "nav": "fixes",
            "items": items,
            "rows": [_row(i) for i in items],
            "header": HEADER,
            "school": school,
            "state": state,
            "states": STATE_LABELS,
            "open_count": sum(1 for i in items if i.state == "open"),
            "scope": staff_of(request).scope.label,
            "export": FIXES_EXPORT,
        },
    )


@require_staff(*CAMPAIGN_ROLES)
async def fixes_csv(request: web.Request) -> web.StreamResponse:
    items, school, state = await _items(request, "csv")
    out = io.StringIO()
    out.write("\ufeff")  # UTF-8 BOM: Excel then reads the Chinese right
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for item in items:
        writer.writerow([_cell(v) for v in _row(item)])
    today = f"{clock.today():%Y%m%d}"
    filename = f"待修改学籍_{today}.csv"
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename=\"fixes-{today}.csv\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get(FIXES, fixes_page)
    app.router.add_get(FIXES_EXPORT, fixes_csv)
