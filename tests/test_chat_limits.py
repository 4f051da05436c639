"""The public chat API against its abusers (issue 13), on a real backend
app whose Rasa is down (every valid message is answered 503 by the
backend, so what is measured is the backend's own gate):

- one address sends at most BACKEND_CHAT_MESSAGES_PER_MINUTE messages a
  minute and opens at most BACKEND_CHAT_CONVERSATIONS_PER_HOUR new
  conversations an hour (each could open a 转人工 ticket); another address
  is not affected; the answer is a polite 429 in Chinese;
- the simulated real name (POST /chat/api/realname-token) signs a token
  for the conversation outside production, and does not exist in
  production, where the page shows no switch.
"""
from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from backend.address_limits import SlidingWindow
from backend.app import create_app
from tests.conftest import settings_for
from tests.people import PUBLIC
from tests.stack import run_services
from trust import realname as signing


def new_sender() -> str:
    return "web-" + secrets.token_hex(16)


@pytest_asyncio.fixture
async def backend(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}",
                            rasa_url=f"http://127.0.0.1:{run_services.free_port()}",
                            chat_messages_per_minute=5, chat_conversations_per_hour=3, **overrides)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def send(base: str, sender: str, address: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as http:
        async with http.post(f"{base}/chat/api/messages", json={"sender": sender, "message": "你好"}) as resp:
            return resp.status, await resp.json()


async def test_one_address_cannot_flood_the_chat(backend: str) -> None:
    me = new_sender()
    for _ in range(5):
        assert (await send(backend, me))[0] == 503  # through the gate (Rasa is down here)
    status, body = await send(backend, me)
    assert status == 429 and body["code"] == "too_many_requests"
    assert "太快" in body["message"] and "不会丢失" in body["message"]
    # Another address is not affected.
    assert (await send(backend, me, "127.0.0.2"))[0] == 503


async def test_one_address_cannot_open_conversations_without_end(backend: str) -> None:
    for _ in range(3):
        assert (await send(backend, new_sender(), "127.0.0.3"))[0] == 503
    status, body = await send(backend, new_sender(), "127.0.0.3")
    assert status == 429 and re.search(r"[\u4e00-\u9fff]", body["message"]) and "对话" in body["message"]
    assert (await send(backend, new_sender(), "127.0.0.4"))[0] == 503


def test_a_sliding_window_forgets_what_is_older_than_its_span() -> None:
    now = [0.0]
    window = SlidingWindow(2, 60.0, clock=lambda: now[0])
    assert window.allow("a") and window.allow("a") and not window.allow("a")
    now[0] = 59.9
    assert not window.allow("a") and window.allow("b")
    now[0] = 60.1
    assert window.allow("a") and window.allow("a") and not window.allow("a")


async def test_the_simulated_real_name_signs_for_this_conversation(backend: str) -> None:
    me = new_sender()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{backend}/chat/api/realname-token",
                             json={"sender": me, "name": PUBLIC.name, "id_number": PUBLIC.id_number}) as resp:
            assert resp.status == 200
            token = (await resp.json())["realname_token"]
        async with http.post(f"{backend}/chat/api/realname-token",
                             json={"sender": me, "name": PUBLIC.name, "id_number": "360102198001010178"}) as resp:
            assert resp.status == 400 and "身份证号" in (await resp.json())["message"]
        async with http.get(f"{backend}/") as resp:
            assert 'id="realname-toggle"' in await resp.text()
    public = signing.public_key({})
    assert signing.verify(token, public, sender=me) == signing.RealName(PUBLIC.name, PUBLIC.id_number)
    assert signing.verify(token, public, sender=new_sender()) is None  # bound to its conversation


@pytest.mark.parametrize("backend", [{"production": True}], indirect=True)
async def test_production_has_no_simulated_real_name(backend: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{backend}/chat/api/realname-token",
                             json={"sender": new_sender(), "name": PUBLIC.name,
                                   "id_number": PUBLIC.id_number}) as resp:
            assert resp.status in (404, 405)
        async with http.get(f"{backend}/") as resp:
            page = await resp.text()
    assert "realname" not in page and "模拟实名" not in page
