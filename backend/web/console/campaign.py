"""The campaign's figures for admins, districts and schools, within the
account's scope: `GET /staff/api/coverage?level=…` (CONTRACT.md,
"Campaign"; `within` and `stage` narrow it) and the coverage table as a
download (`/staff/dashboard/coverage?format=csv|xlsx`), each audited. The dashboard (dashboard.py) shows
the same table with drill-down links."""

from __future__ import annotations

import io
from urllib.parse import quote

from aiohttp import web

from backend.appkeys import DB
from backend.campaign.coverage import LEVEL_LABELS, LEVELS, coverage, top_level
from backend.campaign.export import write_csv, write_xlsx
from backend.web.console.auth import audit, require_staff, staff_of
from backend.web.console.urls import API_COVERAGE, COVERAGE_EXPORT
from backend.web.errors import ApiError, json_response
from contract import beijing as clock
from contract.registry import STAGES
from contract.staff import CAMPAIGN_ROLES

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _query(request: web.Request) -> tuple[str, str | None, str | None]:
    """(level, within, stage) of the request; a bad level or stage is a 400."""
    scope = staff_of(request).scope
    level = request.query.get("level") or top_level(scope)
    stage = request.query.get("stage") or None
    if level not in LEVELS:
        raise ApiError(400, "bad_request", f"level must be one of {', '.join(LEVELS)}")
    if stage is not None and stage not in STAGES:
        raise ApiError(400, "bad_request", f"stage must be one of {', '.join(STAGES)}")
    return level, (request.query.get("within") or "").strip()[:200] or None, stage


@require_staff(*CAMPAIGN_ROLES)
async def coverage_api(request: web.Request) -> web.StreamResponse:
    level, within, stage = _query(request)
    scope = staff_of(request).scope
    async with request.app[DB].reading() as session:
        rows = await coverage(session, level, scope, within=within, stage=stage)
    await audit(request, "view_coverage", scope.label, f"level={level}; within={within or ''}; stage={stage or ''}")
    return json_response({"level": level, "scope": scope.text, "rows": [r.as_json() for r in rows]})


async def _export(request: web.Request, kind: str) -> web.StreamResponse:
    try:
        level, within, stage = _query(request)
    except ApiError as exc:
        raise web.HTTPBadRequest(text=exc.message, content_type="text/plain") from None
    scope = staff_of(request).scope
    async with request.app[DB].reading() as session:
        rows = await coverage(session, level, scope, within=within, stage=stage)
    out = io.BytesIO()
    if kind == "xlsx":
        write_xlsx(rows, out, level, scope.label)
        content_type = XLSX
    else:
        text = io.StringIO()
        text.write("\ufeff")  # UTF-8 BOM: Excel then reads the Chinese right
        write_csv(rows, text, people=True)
        out.write(text.getvalue().encode("utf-8"))
        content_type = "text/csv; charset=utf-8"
    await audit(
        request, "export_coverage", scope.label, f"{kind}; level={level}; within={within or ''}; {len(rows)} 行"
    )
    today = f"{clock.today():%Y%m%d}"
    filename = f"领卡覆盖率_{LEVEL_LABELS[level]}_{today}.{kind}"
    return web.Response(
        body=out.getvalue(),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": (
                f"attachment; filename=\"coverage-{level}-{today}.{kind}\"; filename*=UTF-8''{quote(filename)}"
            ),
            "Cache-Control": "no-store",
        },
    )


@require_staff(*CAMPAIGN_ROLES)
async def coverage_export(request: web.Request) -> web.StreamResponse:
    """The coverage table as a file: `format=csv` (the default) or `xlsx`."""
    kind = request.query.get("format") or "csv"
    if kind not in ("csv", "xlsx"):
        raise web.HTTPBadRequest(text="format 应为 csv 或 xlsx。", content_type="text/plain")
    return await _export(request, kind)


def setup(app: web.Application) -> None:
    app.router.add_get(API_COVERAGE, coverage_api)
    app.router.add_get(COVERAGE_EXPORT, coverage_export)
