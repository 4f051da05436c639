"""Who has not claimed, for a school's staff to follow up
(backend/campaign/not_claimed.py): a school's classes with how many of
their students hold no card, a class's students without a card and a
school's teachers without one, names and ID numbers masked, a page at a
time; the whole unit as a download (CSV or Excel); `GET
/staff/api/not-claimed?unit=…` for scripts. Admins, districts and schools,
each within its scope: a school outside it is not found (404), whether it
exists or not. Every view and every download is audited."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from backend.appkeys import DB
from backend.campaign.export import write_unclaimed_csv, write_unclaimed_xlsx
from backend.campaign.not_claimed import KIND_LABELS, School, Unclaimed, Unit, classes, find_school, unclaimed
from backend.campaign.scope import Scope
from backend.web.console.auth import audit, render, require_staff, staff_of
from backend.web.console.urls import API_NOT_CLAIMED, DASHBOARD, NOT_CLAIMED, NOT_CLAIMED_EXPORT, not_claimed_href
from backend.web.errors import ApiError, json_response
from contract import beijing as clock
from contract.staff import CAMPAIGN_ROLES

PAGE_SIZE = 200  # a class has fewer than 100 students; a school fewer than 1000 teachers
MAX_PAGE = 1000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOT_FOUND = "未找到该学校，或该学校不在您的账号范围内。"


def _page(query: Any) -> int:
    raw = query.get("page", "1")
    return min(int(raw), MAX_PAGE) if raw.isascii() and raw.isdigit() and int(raw) >= 1 else 1


def _unit(query: Any) -> Unit:
    """The unit of a page's or a download's parameters; a bad one is a 400."""
    try:
        return Unit.of(query.get("school"), query.get("grade"), query.get("class"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"参数无效：{exc}", content_type="text/plain") from None


async def _school(session: AsyncSession, unit: Unit, scope: Scope) -> School:
    school = await find_school(session, unit.school, scope)
    if school is None:
        raise web.HTTPNotFound(text=NOT_FOUND, content_type="text/plain")
    return school


async def _a_page(
    session: AsyncSession, kind: str, unit: Unit, scope: Scope, page: int
) -> tuple[list[Unclaimed], bool]:
    """One page of a list, and whether another follows."""
    rows = await unclaimed(session, kind, unit, scope, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@require_staff(*CAMPAIGN_ROLES)
async def not_claimed_page(request: web.Request) -> web.StreamResponse:
    scope = staff_of(request).scope
    if not (request.query.get("school") or "").strip():
        return render(request, "staff/not_claimed.html", _chooser(scope))
    unit, page = _unit(request.query), _page(request.query)
    people: list[Unclaimed] = []
    more = False
    async with request.app[DB].reading() as session:
        school = await _school(session, unit, scope)
        counts = [] if unit.class_name else await classes(session, unit, scope)
        if unit.class_name:
            people, more = await _a_page(session, "student", unit, scope, page)
        elif unit.is_school:
            people, more = await _a_page(session, "teacher", unit, scope, page)
    await audit(request, "view_not_claimed", unit.code, f"page={page}; {len(people)} 人")
    here = not_claimed_href(unit.code)
    return render(
        request,
        "staff/not_claimed.html",
        {
            "scope": scope.label,
            "school": school,
            "unit": unit,
            "classes": [(c, not_claimed_href(f"{unit.school}/{c.unit}")) for c in counts],
            "kind": "student" if unit.class_name else "teacher",
            "kind_labels": KIND_LABELS,
            "people": people,
            "page": page,
            "first": (page - 1) * PAGE_SIZE,
            "previous": f"{here}&page={page - 1}" if page > 1 else None,
            "next": f"{here}&page={page + 1}" if more else None,
            "school_href": not_claimed_href(unit.school),
            "grade_href": not_claimed_href(f"{unit.school}/{unit.grade}") if unit.grade else None,
            "csv": not_claimed_href(unit.code, NOT_CLAIMED_EXPORT) + "&format=csv",
            "xlsx": not_claimed_href(unit.code, NOT_CLAIMED_EXPORT) + "&format=xlsx",
            "dashboard": DASHBOARD,
        },
    )


def _chooser(scope: Scope) -> dict[str, Any]:
    """Without a school: a school account's schools to pick from, or the form."""
    mine = [(code, not_claimed_href(code)) for code in scope.codes] if scope.role == "school" else []
    return {"scope": scope.label, "school": None, "mine": mine, "dashboard": DASHBOARD, "action": NOT_CLAIMED}


@require_staff(*CAMPAIGN_ROLES)
async def not_claimed_export(request: web.Request) -> web.StreamResponse:
    """The whole unit, unpaginated: its students without a card, and a
    school's teachers without one; `format=csv` (the default) or `xlsx`."""
    kind = request.query.get("format") or "csv"
    if kind not in ("csv", "xlsx"):
        raise web.HTTPBadRequest(text="format 应为 csv 或 xlsx。", content_type="text/plain")
    unit, scope = _unit(request.query), staff_of(request).scope
    async with request.app[DB].reading() as session:
        school = await _school(session, unit, scope)
        people = await unclaimed(session, "student", unit, scope)
        if unit.is_school:
            people += await unclaimed(session, "teacher", unit, scope)
    label = " ".join(p for p in (school.name, unit.grade, unit.class_name) if p)
    out = io.BytesIO()
    if kind == "xlsx":
        write_unclaimed_xlsx(people, out, label)
        content_type = XLSX
    else:
        text = io.StringIO()
        text.write("\ufeff")  # UTF-8 BOM: Excel then reads the Chinese right
        write_unclaimed_csv(people, text)
        out.write(text.getvalue().encode("utf-8"))
        content_type = "text/csv; charset=utf-8"
    await audit(request, "export_not_claimed", unit.code, f"{kind}; {len(people)} 人")
    today = f"{clock.today():%Y%m%d}"
    filename = f"未领卡名单_{label}_{today}.{kind}"
    return web.Response(
        body=out.getvalue(),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": (
                f'attachment; filename="not-claimed-{unit.school}-{today}.{kind}"; '
                f"filename*=UTF-8''{quote(filename, safe='')}"
            ),
            "Cache-Control": "no-store",
        },
    )


@require_staff(*CAMPAIGN_ROLES)
async def not_claimed_api(request: web.Request) -> web.StreamResponse:
    """`?unit=SCHOOL[/GRADE[/CLASS]]&kind=student|teacher&page=N`: a page of
    the unit's students (the default) or of a school's teachers without a card."""
    scope = staff_of(request).scope
    try:
        unit = Unit.parse(request.query.get("unit"))
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    kind = (request.query.get("kind") or "student").removesuffix("s")
    if kind not in KIND_LABELS:
        raise ApiError(400, "bad_request", "kind must be student or teacher")
    if kind == "teacher" and not unit.is_school:
        raise ApiError(400, "bad_request", "teachers belong to a school: give the school's code as unit")
    page = _page(request.query)
    async with request.app[DB].reading() as session:
        school = await find_school(session, unit.school, scope)
        if school is None:
            raise ApiError(404, "not_found", "no such school in this account's scope")
        people, more = await _a_page(session, kind, unit, scope, page)
    await audit(request, "view_not_claimed", unit.code, f"api; kind={kind}; page={page}; {len(people)} 人")
    return json_response(
        {
            "unit": unit.code,
            "school": {"code": school.code, "name": school.name},
            "kind": kind,
            "page": page,
            "page_size": PAGE_SIZE,
            "more": more,
            "rows": [p.as_json() for p in people],
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get(NOT_CLAIMED, not_claimed_page)
    app.router.add_get(NOT_CLAIMED_EXPORT, not_claimed_export)
    app.router.add_get(API_NOT_CLAIMED, not_claimed_api)
