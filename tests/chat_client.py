"""A browser-like client of the web chat page's API for tests: its own
cookie jar (the conversation is the backend's HttpOnly cookie, never a
parameter), an optional client address (another loopback address is
another client to the server), and the conversation id (the Rasa sender)
its cookie stands for, derived as the backend derives it.

    async with ChatClient(base_url) as me:
        status, body = await me.send("我要领卡")
        await slots(stack, me.sender)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from backend.config import DEV_SESSION_SECRET
from backend.web.chat_page import COOKIE, conversation_sender
from trust import secrets

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def session_secret(env: Mapping[str, str] | None = None) -> str:
    """The backend's BACKEND_SESSION_SECRET in this environment (a stack's env)."""
    return secrets.secret(secrets.BACKEND_SESSION_SECRET, env) if env is not None else DEV_SESSION_SECRET


class ChatClient:
    def __init__(
        self, base_url: str, address: str = "127.0.0.1", secret: str = DEV_SESSION_SECRET, timeout: float = 60
    ) -> None:
        self.base = base_url.rstrip("/")
        self.secret = secret
        # unsafe: keep the cookies of an IP-address host (127.0.0.1)
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    @property
    def key(self) -> str | None:
        """The conversation cookie's value (None before the first message)."""
        for c in self.http.cookie_jar:
            if c.key == COOKIE:
                return c.value
        return None

    @property
    def sender(self) -> str:
        """The conversation id (Rasa's sender) the cookie stands for."""
        key = self.key
        assert key, "no conversation yet"
        return conversation_sender(self.secret, key)

    async def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.post(self.base + path, json=body, headers={**JSON, **(headers or {})}, **kw) as resp:
            data = await resp.json(content_type=None) if (await resp.read()) else None
            return resp.status, data, resp

    async def get(self, path: str, **params: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.get(self.base + path, params=params, headers={"Accept": "application/json"}) as resp:
            return resp.status, await resp.json(content_type=None), resp

    async def send(self, message: str, metadata: dict[str, Any] | None = None, **extra: Any) -> tuple[int, Any]:
        body: dict[str, Any] = {"message": message, **extra}
        if metadata is not None:
            body["metadata"] = metadata
        status, data, _ = await self.post("/chat/api/messages", body)
        return status, data

    async def history(self, **params: str) -> tuple[int, Any]:
        status, data, _ = await self.get("/chat/api/history", **params)
        return status, data

    async def updates(self, **params: str) -> tuple[int, Any]:
        status, data, _ = await self.get("/chat/api/updates", **params)
        return status, data

    async def new_conversation(self) -> str:
        """新的对话: the backend issues a new conversation; its sender."""
        status, data, _ = await self.post("/chat/api/conversations", {})
        assert status == 200, data
        return self.sender
