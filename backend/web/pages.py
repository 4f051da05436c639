"""Server-rendered pages: the web chat page (`/`), the privacy page and the
support staff console (`/staff`). Jinja2 with autoescaping everywhere;
static files from backend/web/static (nothing is loaded from the internet).

Each feature module registers its own routes:
- chat_page.py: `/` (with its own CSP) and the chat's same-origin API
  under `/chat/`, the conversation in the backend's HttpOnly cookie;
- privacy_page.py: `/privacy`, the privacy page (个人信息处理说明), anonymous;
- console/routes.py: the staff console's pages (console/auth.py: login,
  sessions, CSRF, roles, the audit log, and the policy headers of every
  answer under /staff; conversations, tickets, the dashboard, one person's
  data). Console pages are rendered with `console.auth.render` (it adds the
  signed-in staff member and the CSRF token).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from backend.web import chat_page, privacy_page
from backend.web.console import routes as console

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
    chat_page.setup(app)
    privacy_page.setup(app)
    console.setup(app)
