"""How the Rasa server talks HTTP to its endpoints (the action server):
kept-alive connections, JSON encoded by orjson.

Rasa 3.6's `EndpointConfig.request` opens a new `aiohttp.ClientSession`,
and so a new TCP connection, for every call of a custom action, and closes
it after the answer; a form turn makes two such calls. Every call also
sends the whole conversation (all its events, with each message's parse)
and the whole domain (every response text) as JSON, encoded by Python's
`json.dumps`. Under chat load the connections took the Rasa server about
10 % of its CPU and the encoding about 7 % (bench/README.md "Chat load").

`install()` makes `EndpointConfig.session()` hand out one session per
endpoint and event loop, kept open (the `async with` around it no longer
closes it), whose idle connections are reused for 2 s: less than the 5 s
for which the action server (Sanic) keeps an idle connection, so the client
lets a connection go before the server does. A connection the server
closed (say, the action server was restarted) is dropped from the pool
when the close arrives. The sessions encode JSON bodies with orjson, which
writes the same JSON several times faster (UTF-8 rather than \\u escapes,
which any JSON reader takes alike); values orjson does not take go through
`json.dumps` as before. The kept sessions are closed when the server stops
(bot/patches/server_listeners.py).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.utils.endpoints import EndpointConfig

from bot.patches import server_listeners

_MARK = "_xuexihao_http_client"
OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
KEEPALIVE_SECONDS = 2.0
_sessions: list[aiohttp.ClientSession] = []


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=OPTIONS).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """Rasa 3.6's EndpointConfig.session, plus keep-alive and orjson."""
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    return aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        json_serialize=dumps,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
    )


class SharedSession:
    """What `EndpointConfig.session()` returns once installed: `async with`
    gives the endpoint's open session for the running loop and leaves it open."""

    def __init__(self, endpoint: EndpointConfig) -> None:
        self.endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        found = self.endpoint.__dict__.get(_MARK)
        if found is not None and found[0] is loop and not found[1].closed:
            return found[1]  # type: ignore[no-any-return]
        session = new_session(self.endpoint)
        setattr(self.endpoint, _MARK, (loop, session))
        _sessions[:] = [s for s in _sessions if not s.closed] + [session]
        return session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


async def close_sessions(*_: Any) -> None:
    """A Sanic `after_server_stop` listener: close the kept sessions."""
    while _sessions:
        await _sessions.pop().close()


def install() -> None:
    """Idempotent."""
    server_listeners.register(close_sessions, "after_server_stop")
    if getattr(EndpointConfig.session, _MARK, False):
        return

    def session(self: EndpointConfig) -> SharedSession:
        return SharedSession(self)

    setattr(session, _MARK, True)
    EndpointConfig.session = session  # type: ignore[method-assign,assignment]
