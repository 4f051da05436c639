"""Staff console access: login, sessions, CSRF, roles, audit; the guard
(`require_staff`) and renderer (`render`) every console page uses.

- Passwords: argon2id (staff.py), verified in a thread (tens of
  milliseconds of CPU each: never on the event loop).
- Sessions: a signed cookie (HMAC-SHA256 with BACKEND_SESSION_SECRET),
  HttpOnly, SameSite=Strict, path /staff, eight hours. Every request checks
  the account again, so a disabled account or a changed role takes effect
  at once; the cookie carries the account's session version, which logout
  and a password reset raise, so a copy of an old cookie is worthless after
  it (logout signs the account out of every browser).
- CSRF: every POST under /staff carries `csrf_token`, an HMAC of the
  session's nonce (or, for the login form, of a signed pre-session cookie).
- Roles (contract/staff.py): `agent` (conversations, tickets), `admin`
  (also the dashboard, the audit log, person data), `district` and
  `school` (the campaign's pages only: the dashboard, coverage and the
  reports, limited to the account's scope, backend/campaign/scope.py).
  `require_staff(*roles)` refuses anonymous requests (a page redirects to
  the login form, `/staff/api/...` answers 401 JSON) and other roles (403).
  `POST /staff/api/login` signs in with JSON and sets the same cookie,
  throttled like the form.
- Throttling that cannot lock an account out for others: after
  LOGIN_MAX_FAILURES failed logins for one username from one address (or
  LOGIN_MAX_FAILURES_PER_ADDRESS from one address) within
  LOGIN_WINDOW_SECONDS, logins from that address are refused without
  checking the password; the account's owner logs in from elsewhere as
  usual. Failures for a username from everywhere only slow its logins down
  (LOGIN_SLOWDOWN_SECONDS), so guessing from many addresses stays slow.
- Audit: `audit()` records what a staff member did (sign-ins, every page
  that shows people's data: list views with their searches and filters,
  transcripts, tickets, exports, the dashboard, the audit log itself; every
  change), through `staff.record_audit()`, which also records what the
  admin CLI looked up (as "cli:" + the OS user). Admins read it at
  /staff/audit.
- Every answer under /staff (pages, redirects, errors, downloads,
  /staff/api/) carries STAFF_HEADERS: a Content-Security-Policy that allows
  scripts and styles from this origin only (the templates hold no inline
  script, style or event handler), forbids framing (`frame-ancestors
  'none'`, and X-Frame-Options for older browsers), no referrer (console
  URLs name conversations and searches), and no caching.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import delete, func, select, update

from backend.appkeys import DB, SETTINGS
from backend.campaign.scope import Scope
from backend.db import Database
from backend.models import AuditEntry, LoginFailure, StaffUser, utcnow
from backend.web.console.signing import mac as _mac
from backend.web.console.signing import sign as sign
from backend.web.console.signing import unsign
from backend.web.console.staff import DUMMY_HASH, MAX_FIELD, record_audit, verify_password
from backend.web.console.urls import API_LOGIN, API_PREFIX, DASHBOARD, LOGIN, PREFIX, TICKETS, is_console
from backend.web.errors import ApiError, json_body, json_response
from backend.web.headers import STRICT_PAGE_HEADERS
from contract.staff import CAMPAIGN_ROLES, STAFF_ROLE_LABELS, STAFF_ROLES, SUPPORT_ROLES

SESSION_COOKIE = "xxh_staff"
LOGIN_COOKIE = "xxh_login"
SESSION_SECONDS = 8 * 3600
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_MAX_FAILURES = 5
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
LOGIN_SLOWDOWN_SECONDS = 1.0

# The console's policy: the chat page's (backend/web/headers.py).
STAFF_HEADERS = dict(STRICT_PAGE_HEADERS)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class StaffSession:
    user_id: int
    username: str
    role: str
    nonce: str  # per session: the CSRF token derives from it
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def does_support(self) -> bool:
        """Tickets and conversations (agents and admins)."""
        return self.role in SUPPORT_ROLES

    @property
    def sees_campaign(self) -> bool:
        """The dashboard, coverage and reports (admins, districts, schools)."""
        return self.role in CAMPAIGN_ROLES


# -- sessions and CSRF -------------------------------------------------------------------

# Request keys: the checked session (None: anonymous), and the login form's
# nonce and `next` while it is being rendered.
_SESSION_KEY = web.RequestKey[StaffSession | None]("staff_session")
_LOGIN_NONCE = web.RequestKey("login_nonce", str)
_LOGIN_NEXT = web.RequestKey("login_next", object)


def _secret(request: web.Request) -> str:
    return request.app[SETTINGS].session_secret


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].secure_cookies,
    )


async def current_staff(request: web.Request) -> StaffSession | None:
    """The signed-in staff member, checked against the account table."""
    if _SESSION_KEY in request:
        return request[_SESSION_KEY]
    staff: StaffSession | None = None
    raw = request.cookies.get(SESSION_COOKIE)
    payload = unsign(_secret(request), "session", raw, SESSION_SECONDS) if raw else None
    if payload is not None and isinstance(payload.get("u"), int) and isinstance(payload.get("c"), str):
        async with request.app[DB].reading() as session:
            user = await session.get(StaffUser, payload["u"])
        if user is not None and user.active and payload.get("v") == user.session_version:
            try:
                scope = Scope.parse(user.role, user.scope)
            except ValueError:  # a role without its scope (edited by hand): signed out
                scope = None
            if scope is not None:
                staff = StaffSession(user.id, user.username, user.role, payload["c"], scope)
    request[_SESSION_KEY] = staff
    return staff


def csrf_token(request: web.Request) -> str:
    """The token forms must send back. Signed-in: bound to the session;
    on the login form: bound to the pre-session cookie set by `login_form`."""
    staff: StaffSession | None = request.get(_SESSION_KEY)
    if staff is not None:
        return _mac(_secret(request), "csrf", staff.nonce)
    nonce = request.get(_LOGIN_NONCE) or _login_nonce(request)
    return _mac(_secret(request), "login-csrf", nonce or "")


def _login_nonce(request: web.Request) -> str | None:
    raw = request.cookies.get(LOGIN_COOKIE)
    payload = unsign(_secret(request), "login", raw, SESSION_SECONDS) if raw else None
    return payload.get("n") if payload else None


class CsrfError(web.HTTPForbidden):
    pass


async def checked_form(request: web.Request) -> Any:
    """The POSTed form, after its CSRF token was checked (403 otherwise)."""
    form = await request.post()
    given = form.get("csrf_token")
    if not isinstance(given, str) or not hmac.compare_digest(given, csrf_token(request)):
        raise CsrfError(text="CSRF 校验失败，请刷新页面后重试。", content_type="text/plain")
    return form


def require_staff(*roles: str) -> Callable[[Handler], Handler]:
    """Refuse anonymous requests (pages: to the login form; /staff/api/:
    401 JSON) and accounts of other roles than `roles` (403; default: the
    support roles, agent and admin). POSTs must carry a valid CSRF token:
    read the form with `checked_form`."""
    allowed = roles or SUPPORT_ROLES
    assert set(allowed) <= set(STAFF_ROLES), allowed

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = await current_staff(request)
            api = request.path.startswith(API_PREFIX)
            if staff is None:
                if api:
                    return web.json_response({"code": "unauthorized", "message": "please sign in"}, status=401)
                raise web.HTTPFound(LOGIN + "?next=" + quote(request.path_qs, safe=""))
            if staff.role not in allowed:
                if api:
                    return web.json_response({"code": "forbidden", "message": "not for this role"}, status=403)
                text = "此页面仅限管理员。" if allowed == ("admin",) else "您的账号无权访问此页面。"
                raise web.HTTPForbidden(text=text, content_type="text/plain")
            return await handler(request)

        return guarded

    return wrap


def staff_of(request: web.Request) -> StaffSession:
    """The session of a request that passed `require_staff`."""
    staff: StaffSession | None = request.get(_SESSION_KEY)
    assert staff is not None, "only inside a handler guarded by require_staff"
    return staff


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """Render a page; every template also sees the signed-in staff member
    (`staff`) and the CSRF token for its forms (`csrf_token`)."""
    staff = request.get(_SESSION_KEY)
    base = {
        "staff": staff,
        "csrf_token": csrf_token(request) if staff or request.path.startswith(PREFIX) else "",
        "role_labels": STAFF_ROLE_LABELS,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **(context or {})}, status=status)


# -- audit ---------------------------------------------------------------------------


def remote_address(request: web.Request) -> str:
    return (request.remote or "")[:64]


async def audit(request: web.Request, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Record a staff action (login, view_transcript, export_story, reply, ...)."""
    staff: StaffSession | None = request.get(_SESSION_KEY)
    await record_audit(
        request.app[DB], staff.username if staff else None, action, target, detail, remote_address(request)
    )


async def console_headers(request: web.Request, response: web.StreamResponse) -> None:
    """STAFF_HEADERS on every answer under /staff, whoever made it (handlers,
    redirects, 401/403/404, the router's own errors)."""
    if is_console(request.path):
        response.headers.update(STAFF_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")


# -- pages -------------------------------------------------------------------------------


def _safe_next(value: Any) -> str:
    """Only a path of this console: never another site."""
    if isinstance(value, str) and value.startswith(PREFIX) and not value.startswith("//"):
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc and "\\" not in value:
            return value
    return PREFIX


async def _throttled(db: Database, username: str, remote: str) -> tuple[bool, bool]:
    """(refused from this address, slowed down: the username's failures from
    anywhere)."""
    since = utcnow() - dt.timedelta(seconds=LOGIN_WINDOW_SECONDS)
    recent = LoginFailure.created_at >= since
    async with db.reading() as session:
        by_pair = await session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == username, LoginFailure.remote == remote, recent)
        )
        by_remote = await session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.remote == remote, recent)
        )
        by_user = await session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username == username, recent)
        )
    refused = (by_pair or 0) >= LOGIN_MAX_FAILURES or (by_remote or 0) >= LOGIN_MAX_FAILURES_PER_ADDRESS
    return refused, (by_user or 0) >= LOGIN_MAX_FAILURES


def _login_page(request: web.Request, error: str | None, status: int = 200, username: str = "") -> web.Response:
    nonce = _login_nonce(request)
    fresh = nonce is None
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
    request[_LOGIN_NONCE] = nonce
    response = render(
        request,
        "staff/login.html",
        {
            "error": error,
            "next": _safe_next(request.query.get("next") or request.get(_LOGIN_NEXT)),
            "username": username,
        },
        status=status,
    )
    if fresh:
        _set_cookie(
            request,
            response,
            LOGIN_COOKIE,
            sign(_secret(request), "login", {"n": nonce, "t": int(time.time())}),
            SESSION_SECONDS,
        )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    if await current_staff(request) is not None:
        raise web.HTTPFound(_safe_next(request.query.get("next")))
    return _login_page(request, None)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    request[_LOGIN_NEXT] = form.get("next")
    given = form.get("csrf_token")
    nonce = _login_nonce(request)
    if (
        nonce is None
        or not isinstance(given, str)
        or not hmac.compare_digest(given, _mac(_secret(request), "login-csrf", nonce))
    ):
        return _login_page(request, "页面已过期，请重新登录。", status=403)
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")[:MAX_FIELD]
    user, status = await _sign_in(request, username, password)
    if user is None:
        message = "登录失败次数过多，请 15 分钟后再试。" if status == 429 else "用户名或密码不正确。"
        return _login_page(request, message, status=status, username=username)
    response = web.HTTPFound(_safe_next(form.get("next")))
    _start_session(request, response, user)
    response.del_cookie(LOGIN_COOKIE, path=PREFIX)
    raise response


async def api_login(request: web.Request) -> web.StreamResponse:
    """POST /staff/api/login {"username", "password"}: the login form's
    checks and throttling, for scripts; sets the same session cookie. JSON
    only (415 otherwise): a cross-site form cannot send it."""
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "bad_request", "username and password must be strings")
    user, status = await _sign_in(request, username.strip()[:64], password[:MAX_FIELD])
    if user is None:
        if status == 429:
            return json_response({"code": "rate_limited", "message": "登录失败次数过多，请 15 分钟后再试。"}, 429)
        return json_response({"code": "unauthorized", "message": "用户名或密码不正确。"}, 401)
    response = json_response({"username": user.username, "role": user.role, "scope": user.scope})
    _start_session(request, response, user)
    return response


async def _sign_in(request: web.Request, username: str, password: str) -> tuple[StaffUser | None, int]:
    """The account, or None and the status to answer (401, 429): throttled,
    slowed down, verified in a thread, failures recorded, all audited."""
    db = request.app[DB]
    remote = remote_address(request)
    refused, slowed = await _throttled(db, username, remote)
    if refused:
        await record_audit(db, username or None, "login_throttled", None, None, remote)
        return None, 429
    if slowed:
        await asyncio.sleep(LOGIN_SLOWDOWN_SECONDS)
    async with db.reading() as session:
        user = (await session.scalars(select(StaffUser).where(StaffUser.username == username))).one_or_none()
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, verify_password, user.password_hash if user else DUMMY_HASH, password)
    if not ok or user is None or not user.active:
        async with db.writing() as session:
            session.add(LoginFailure(username=username, remote=remote))
        await record_audit(db, username or None, "login_failed", None, None, remote)
        return None, 401
    async with db.writing() as session:
        await session.execute(
            delete(LoginFailure).where(LoginFailure.username == username, LoginFailure.remote == remote)
        )
        stored = await session.get(StaffUser, user.id)
        if stored is not None:
            stored.last_login_at = utcnow()
    await record_audit(db, user.username, "login", None, None, remote)
    return user, 200


def _start_session(request: web.Request, response: web.StreamResponse, user: StaffUser) -> None:
    payload = {"u": user.id, "v": user.session_version, "c": secrets.token_urlsafe(16), "t": int(time.time())}
    _set_cookie(request, response, SESSION_COOKIE, sign(_secret(request), "session", payload), SESSION_SECONDS)


@require_staff(*STAFF_ROLES)
async def logout(request: web.Request) -> web.StreamResponse:
    await checked_form(request)
    async with request.app[DB].writing() as session:
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == staff_of(request).user_id)
            .values(session_version=StaffUser.session_version + 1)
        )
    await audit(request, "logout")
    response = web.HTTPFound(LOGIN)
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    raise response


@require_staff(*STAFF_ROLES)
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(TICKETS if staff_of(request).does_support else DASHBOARD)


@require_staff("admin")
async def audit_log(request: web.Request) -> web.StreamResponse:
    await audit(request, "view_audit")
    async with request.app[DB].reading() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(500))).all()
    return render(request, "staff/audit.html", {"entries": entries})


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(console_headers)
    app.router.add_get(PREFIX, home)
    app.router.add_get(PREFIX + "/", home)
    app.router.add_get(LOGIN, login_form)
    app.router.add_post(LOGIN, login_submit)
    app.router.add_post(API_LOGIN, api_login)
    app.router.add_post(PREFIX + "/logout", logout)
    app.router.add_get(PREFIX + "/audit", audit_log)
