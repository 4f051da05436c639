"""Staff console, admins only: one person's data on their request
(backend/privacy/person_data.py), the same two actions as `python -m backend
person-data export|delete`.

Routes (role `admin`; POSTs carry the console's `csrf_token`; the ID
number travels in the POST body, never in a URL):
- GET  /staff/person-data: the form.
- POST /staff/person-data/export: form `id_number`; the person's copy as a
  JSON download (their own full ID number in it). Audited
  (person_data_export, the masked ID number, counts).
- POST /staff/person-data/delete: form `id_number`, `confirm=yes`; deletes
  card, proxy claims, claim attempts, tickets and linked conversations
  (registry records stay: the page says so). Audited (person_data_delete).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from backend.appkeys import DB, HASHER, SETTINGS, TRACKER
from backend.conversations.tracker import TrackerUnavailable
from backend.conversations.writer import TrackerWriteError, TrackerWriter
from backend.privacy.person_data import REGISTRY_NOTE, audit_detail, delete_person, export, gather
from backend.web.console.auth import audit, checked_form, render, require_staff
from backend.web.console.urls import PREFIX
from identity import mask_id, validate_id

PATH = PREFIX + "/person-data"
MAX_ID_FIELD = 64
COUNT_LABELS = {
    "registry_records": "学籍库/教师库记录",
    "guardian_of": "登记为监护人的学生",
    "card": "电子卡",
    "children_cards": "为孩子代领的电子卡",
    "proxy_claims": "代领记录",
    "claim_attempts": "领卡尝试记录",
    "conversations": "相关对话",
    "tickets": "客服工单",
    "agent_replies": "客服回复",
    "tracker_events_deleted": "对话事件（tracker store）",
    "conversations_deleted": "对话",
    "summaries_deleted": "会话索引",
    "tags_deleted": "会话标签",
    "cards_unlinked": "解除与对话关联的电子卡",
    "children_cards_unlinked": "孩子电子卡上的监护人关联",
}
# What a deletion counts is called as the export calls it.
COUNT_LABELS.update(
    {f"{kind}_deleted": COUNT_LABELS[kind] for kind in ("agent_replies", "tickets", "proxy_claims", "claim_attempts")}
)
COUNT_LABELS["cards_deleted"] = COUNT_LABELS["card"]
UNAVAILABLE = "暂时无法读写对话记录库（Rasa tracker store），未做任何删除，请稍后再试。"


def _form_page(
    request: web.Request, *, error: str | None = None, done: dict[str, Any] | None = None, status: int = 200
) -> web.StreamResponse:
    return render(
        request,
        "staff/person_data.html",
        {
            "nav": "person_data",
            "error": error,
            "done": done,
            "labels": COUNT_LABELS,
            "registry_note": REGISTRY_NOTE,
            "max_id": MAX_ID_FIELD,
        },
        status=status,
    )


def _id_number(form: Any) -> str | None:
    checked = validate_id(str(form.get("id_number") or "")[:MAX_ID_FIELD])
    return checked.normalised if checked.ok else None


@require_staff("admin")
async def person_data_form(request: web.Request) -> web.StreamResponse:
    return _form_page(request)


@require_staff("admin")
async def person_data_export(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    id_number = _id_number(form)
    if id_number is None:
        return _form_page(request, error="身份证号不正确，请核对后重新填写。", status=400)
    records = await gather(request.app[DB], request.app[HASHER], id_number)
    try:
        copy = await export(records, request.app[TRACKER])
    except TrackerUnavailable:
        return _form_page(request, error="暂时无法读取对话记录库，请稍后再试。", status=503)
    await audit(request, "person_data_export", mask_id(id_number), audit_detail(records.counts()))
    day = dt.date.today().strftime("%Y%m%d")
    return web.Response(
        text=json.dumps(copy, ensure_ascii=False, indent=2) + "\n",
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="person-data-{day}.json"', "Cache-Control": "no-store"},
    )


@require_staff("admin")
async def person_data_delete(request: web.Request) -> web.StreamResponse:
    form = await checked_form(request)
    id_number = _id_number(form)
    if id_number is None:
        return _form_page(request, error="身份证号不正确，请核对后重新填写。", status=400)
    if form.get("confirm") != "yes":
        return _form_page(request, error="删除前请勾选“确认删除”。", status=400)
    db = request.app[DB]
    records = await gather(db, request.app[HASHER], id_number)
    writer = TrackerWriter(request.app[SETTINGS].tracker_url)
    try:
        counts = await delete_person(db, writer, records)
    except TrackerWriteError as exc:
        await audit(request, "person_data_delete", mask_id(id_number), f"failed: tracker store {exc}")
        return _form_page(request, error=UNAVAILABLE, status=503)
    finally:
        await writer.close()
    await audit(request, "person_data_delete", mask_id(id_number), audit_detail(counts))
    return _form_page(
        request,
        done={
            "id_masked": mask_id(id_number),
            "counts": counts,
            "registry": records.counts()["registry_records"] + records.counts()["guardian_of"],
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, person_data_form)
    app.router.add_post(PATH + "/export", person_data_export)
    app.router.add_post(PATH + "/delete", person_data_delete)
