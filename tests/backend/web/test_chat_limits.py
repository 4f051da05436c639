"""The public chat API against its abusers (issue 13), on a real backend
app whose Rasa is down (every valid message is answered 503 by the
backend, so what is measured is the backend's own gate):

- one address sends at most BACKEND_CHAT_MESSAGES_PER_MINUTE messages a
  minute and opens at most BACKEND_CHAT_CONVERSATIONS_PER_HOUR new
  conversations an hour (each could open a 转人工 ticket), however it
  comes by new ones (dropping the conversation cookie, 新的对话, naming a
  conversation); another address is not affected; the answer is a polite
  429 in Chinese;
- the simulated real name (POST /chat/api/realname-token) signs a token
  for the conversation outside production, and does not exist in
  production, where the page shows no switch.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from backend.app import create_app
from backend.web.address_limits import SlidingWindow
from tests.chat_client import ChatClient
from tests.conftest import settings_for
from tests.people import PUBLIC
from tests.stack import run_services
from trust import realname as signing


def new_sender() -> str:
    return "web-" + secrets.token_hex(16)


@pytest_asyncio.fixture
async def backend(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}",
        rasa_url=f"http://127.0.0.1:{run_services.free_port()}",
        chat_messages_per_minute=5,
        chat_conversations_per_hour=3,
        **overrides,
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def send(base: str, address: str = "127.0.0.1", times: int = 1) -> list[tuple[int, dict[str, Any]]]:
    """`times` messages from one browser (one conversation) at `address`."""
    async with ChatClient(base, address) as browser:
        return [await browser.send("你好") for _ in range(times)]


async def test_one_address_cannot_flood_the_chat(backend: str) -> None:
    async with ChatClient(backend) as me:
        for _ in range(5):
            assert (await me.send("你好"))[0] == 503  # through the gate (Rasa is down here)
        status, body = await me.send("你好")
        assert status == 429 and body["code"] == "too_many_requests"
        assert "太快" in body["message"] and "不会丢失" in body["message"]
    # Another address is not affected.
    assert (await send(backend, "127.0.0.2"))[0][0] == 503


async def test_one_address_cannot_open_conversations_without_end(backend: str) -> None:
    """A browser that drops its cookie (or names a conversation) starts a
    new conversation with every message: those are counted."""
    for _ in range(3):
        assert (await send(backend, "127.0.0.3"))[0][0] == 503
    status, body = (await send(backend, "127.0.0.3"))[0]
    assert status == 429 and re.search(r"[\u4e00-\u9fff]", body["message"]) and "对话" in body["message"]
    async with ChatClient(backend, "127.0.0.3") as sly:
        status, body = await sly.send("你好", sender="web-" + "a" * 32)
        assert status == 429
    assert (await send(backend, "127.0.0.4"))[0][0] == 503
    # 新的对话 stores nothing; the new conversation's first message is counted.
    async with ChatClient(backend, "127.0.0.3") as again:
        await again.new_conversation()
        assert (await again.send("你好"))[0] == 429


def test_a_sliding_window_forgets_what_is_older_than_its_span() -> None:
    now = [0.0]
    window = SlidingWindow(2, 60.0, clock=lambda: now[0])
    assert window.allow("a") and window.allow("a") and not window.allow("a")
    now[0] = 59.9
    assert not window.allow("a") and window.allow("b")
    now[0] = 60.1
    assert window.allow("a") and window.allow("a") and not window.allow("a")


async def test_the_simulated_real_name_signs_for_this_conversation(backend: str) -> None:
    async with ChatClient(backend) as me:
        status, signed, _ = await me.post(
            "/chat/api/realname-token", {"name": PUBLIC.name, "id_number": PUBLIC.id_number}
        )
        assert status == 200
        token = signed["realname_token"]
        mine = me.sender  # the token's request started the conversation
        status, refused, _ = await me.post(
            "/chat/api/realname-token", {"name": PUBLIC.name, "id_number": "360102198001010178"}
        )
        assert status == 400 and "身份证号" in refused["message"]
        async with me.http.get(f"{backend}/") as resp:
            assert 'id="realname-toggle"' in await resp.text()
    public = signing.public_key({})
    assert signing.verify(token, public, sender=mine) == signing.RealName(PUBLIC.name, PUBLIC.id_number)
    assert signing.verify(token, public, sender=new_sender()) is None  # bound to its conversation


@pytest.mark.parametrize("backend", [{"production": True}], indirect=True)
async def test_production_has_no_simulated_real_name(backend: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{backend}/chat/api/realname-token", json={"name": PUBLIC.name, "id_number": PUBLIC.id_number}
        ) as resp:
            assert resp.status in (404, 405)
        async with http.get(f"{backend}/") as resp:
            page = await resp.text()
    assert "realname" not in page and "模拟实名" not in page
