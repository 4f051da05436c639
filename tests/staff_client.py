"""A browser-like client of the staff console for tests: its own cookie jar,
signing in through the real login form (the CSRF token from the form's
HTML and the xxh_login cookie), and POSTs that carry the session's CSRF
token.

    async with StaffClient(base_url) as agent:
        await agent.login("alice", "a-long-password")
        page = await agent.get("/staff/tickets")
        done = await agent.post("/staff/tickets/1/take")

or, creating the account first: `await signed_in(base_url, db, "alice", "agent")`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from backend.web.console.staff import create_staff

PASSWORD = "correct-horse-battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_from(html: str) -> str | None:
    """The CSRF token of the first form on a page."""
    m = _CSRF.search(html)
    return m.group(1) if m else None


@dataclass
class Page:
    status: int
    text: str
    headers: CIMultiDictProxy[str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class StaffClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # unsafe: keep cookies of an IP-address host (127.0.0.1)
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None
        self.username: str | None = None

    async def __aenter__(self) -> StaffClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self.session.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    async def _page(self, resp: aiohttp.ClientResponse) -> Page:
        body = await resp.read()
        return Page(resp.status, body.decode("utf-8", errors="replace"), resp.headers, body)

    async def get(self, path: str, *, follow: bool = False) -> Page:
        async with self.session.get(self.url(path), allow_redirects=follow) as resp:
            page = await self._page(resp)
        token = csrf_from(page.text) if page.status == 200 else None
        if token and self.username:
            self.csrf = token
        return page

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, follow: bool = False
    ) -> Page:
        """POST a form, with this session's CSRF token unless csrf=False."""
        form = dict(data or {})
        if csrf:
            if self.csrf is None:
                await self.get("/staff/tickets")
            assert self.csrf, "not signed in"
            form.setdefault("csrf_token", self.csrf)
        async with self.session.post(self.url(path), data=form, allow_redirects=follow) as resp:
            return await self._page(resp)

    async def login(self, username: str, password: str = PASSWORD) -> Page:
        form = await self.get("/staff/login")
        assert form.status == 200, form.text
        token = csrf_from(form.text)
        assert token, "no CSRF token on the login form"
        async with self.session.post(
            self.url("/staff/login"),
            data={"username": username, "password": password, "csrf_token": token, "next": "/staff/tickets"},
            allow_redirects=False,
        ) as resp:
            page = await self._page(resp)
        assert page.status == 302, f"login of {username} failed: {page.status} {page.text[:300]}"
        self.username = username
        self.csrf = None
        landing = await self.get("/staff/tickets")
        assert landing.status == 200 and self.csrf, landing.text[:300]
        return page


async def signed_in(
    base_url: str, db: Any, username: str, role: str = "agent", password: str = PASSWORD
) -> StaffClient:
    """Create (or reset) an account and return a client signed in as it
    (close it, or use it as `async with`)."""
    await create_staff(db, username, password, role)
    client = StaffClient(base_url)
    try:
        await client.login(username, password)
    except BaseException:
        await client.close()
        raise
    return client
