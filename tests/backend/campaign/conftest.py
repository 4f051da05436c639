"""Fixtures of the campaign's tests: the registry of campaign_data.py with
an account of each role (`accounts_api`), and signed-in clients of it
(`login`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from backend.web.console.staff import create_staff
from tests.backend.campaign.campaign_data import load
from tests.backend.campaign.not_claimed_lists import ACCOUNTS, PASSWORD
from tests.conftest import Api, serve_api


@pytest_asyncio.fixture
async def accounts_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    await load(database_url, tmp_path)
    async for api in serve_api(database_url):
        for username, (role, scope) in ACCOUNTS.items():
            await create_staff(api.db, username, PASSWORD, role, scope)
        yield api


class Client:
    def __init__(self, api: Api) -> None:
        self.base = str(api.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, username: str) -> Client:
        async with self.http.post(
            self.base + "/staff/api/login", json={"username": username, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
        return self

    async def get(self, path: str) -> tuple[int, bytes, Any]:
        async with self.http.get(self.base + path, allow_redirects=False) as resp:
            return resp.status, await resp.read(), resp.headers


@pytest_asyncio.fixture
async def login(accounts_api: Api) -> AsyncIterator[Any]:
    made: list[Client] = []

    async def make(username: str | None = None) -> Client:
        made.append(Client(accounts_api))
        return await made[-1].login(username) if username else made[-1]

    yield make
    for c in made:
        await c.http.close()
