"""The action server's client of the backend's JSON API.

Every call answers within a deadline (default 2.5 s, so the user hears
back within 3 s); a backend that is down, slow or answering garbage becomes
`BackendUnavailable`, never an exception the action server would turn into
silence.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TOKEN = "dev-service-token"
DEFAULT_TIMEOUT_S = 2.5


class BackendUnavailable(Exception):
    """The backend could not answer in time (down, slow, or broken)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.body.get("success"))

    @property
    def code(self) -> str | None:
        return self.body.get("code")


class BackendClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float | None = None) -> None:
        self.url = (url or os.environ.get("BACKEND_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("BACKEND_SERVICE_TOKEN") or DEFAULT_TOKEN
        self.timeout_s = timeout_s or float(os.environ.get("BACKEND_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_S)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # One pooled session per event loop (the action server runs one loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"Authorization": f"Bearer {self.token}"},
            )
        return self._session

    async def post(self, path: str, body: dict[str, Any]) -> Reply:
        try:
            async with self._http().post(f"{self.url}/api/v1{path}", json=body) as resp:
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise BackendUnavailable(type(exc).__name__) from None
        if resp.status >= 500 or not isinstance(data, dict):
            raise BackendUnavailable(f"HTTP {resp.status}")
        return Reply(resp.status, data)

    async def claim(self, **body: Any) -> Reply:
        return await self.post("/claims", body)

    async def match(self, **body: Any) -> Reply:
        """A claim checked but not issued: the card when there is one (rate
        limited and logged as claims are)."""
        return await self.post("/matches", body)

    async def card(self, id_number: str, name: str | None = None) -> Reply:
        return await self.post("/cards/query", {"id_number": id_number, **({"name": name} if name else {})})

    async def refresh(self, name: str, id_number: str, channel_user: str) -> Reply:
        return await self.post("/cards/refresh", {"name": name, "id_number": id_number, "channel_user": channel_user})

    async def attempts(self, channel_user: str, limit: int = 5) -> Reply:
        return await self.post("/attempts/query", {"channel_user": channel_user, "limit": limit})

    async def corrected_records(self, channel_user: str) -> Reply:
        """This chat's failed claims whose registry record was corrected since."""
        return await self.post("/records/corrected", {"channel_user": channel_user})

    async def proxy_claims(self, guardian_id_number: str) -> Reply:
        return await self.post("/proxy-claims/query", {"guardian_id_number": guardian_id_number})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


backend = BackendClient()
