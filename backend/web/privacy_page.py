"""The privacy page, `GET /privacy` (个人信息处理说明): who processes what
of the people who chat with the assistant, why, how long it is kept, and
how they exercise their rights. Anonymous, server-rendered
(templates/privacy.html), with the strict headers of every page of ours
(backend/web/headers.py).

It is this deployment's own policy: the notice of the campaign
(../shared/seed-notice-and-manual.txt) says nothing about personal
information, and the page attributes nothing of it to the notice. Contacts
come from contract/contacts.py; the retention period is
`Settings.retention_days` (backend/config.py), the value the purge
command applies.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from backend.appkeys import SETTINGS
from backend.web.headers import STRICT_PAGE_HEADERS
from contract import contacts
from identity import mask_id

PATH = "/privacy"
PAGE_HEADERS = {**STRICT_PAGE_HEADERS, "Cache-Control": "no-cache"}
MASKED_EXAMPLE = mask_id("360102198001010179")  # how a kept ID number looks (a made-up one)


async def privacy_page(request: web.Request) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "privacy.html",
        request,
        {
            "retention_days": request.app[SETTINGS].retention_days,
            "hotline": contacts.HOTLINE,
            "mini_program": contacts.MINI_PROGRAM,
            "notice_issuer": contacts.NOTICE_ISSUER,
            "notice_title": contacts.NOTICE_TITLE,
            "notice_number": contacts.NOTICE_NUMBER,
            "masked_example": MASKED_EXAMPLE,
        },
    )
    response.headers.update(PAGE_HEADERS)
    return response


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, privacy_page)
