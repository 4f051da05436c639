"""Server-rendered pages: the web chat page (`/`) and the support staff
console (`/staff`). Jinja2 with autoescaping everywhere; static files from
backend/static (nothing is loaded from the internet).

Pages are rendered with `web.console.auth.render` (it adds the signed-in staff
member and the CSRF token). Each feature module registers its own routes:
- chat_page.py: `/` (with its own CSP) and the chat's same-origin API
  under `/chat/`, the conversation in the backend's HttpOnly cookie;
- privacy.py: `/privacy`, the privacy page (个人信息处理说明), anonymous;
- web/console/auth.py: login, logout, sessions, CSRF, roles, the audit log, and
  the policy headers (CSP, no framing) of every answer under /staff;
- conversations.py: conversation list, transcripts, tags, story export
  (conversations named by an opaque reference);
- tickets_console.py: the 转人工 ticket queue and agent replies;
- dashboard.py: the campaign dashboard and the distribution report CSV;
- person_data_console.py: an admin's export and deletion of one person's
  data on request (/staff/person-data).
"""
from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from backend import (
    chat_page,
    conversations,
    dashboard,
    person_data_console,
    privacy,
    tickets_console,
)
from backend.web.console import auth as staff_auth

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def setup_pages(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    env.globals["static"] = lambda name: f"/static/{name}"
    app.router.add_static("/static/", STATIC, append_version=False)
    staff_auth.setup(app)
    chat_page.setup(app)
    privacy.setup(app)
    conversations.setup(app)
    tickets_console.setup(app)
    dashboard.setup(app)
    person_data_console.setup(app)
