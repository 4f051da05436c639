"""Encode the Rasa server's requests to the action server with orjson.

Every call of a custom action sends the whole conversation (all its events,
with each message's parse) and the whole domain (every response text) as
JSON. Python's `json.dumps` of that took the Rasa server about 7 % of its
CPU (bench/README.md "Chat load"). `install()` makes the HTTP client
sessions that Rasa 3.6 opens for its endpoints (`EndpointConfig.session`)
encode JSON bodies with orjson, which writes the same JSON several times
faster (UTF-8 rather than \\u escapes, which any JSON reader takes alike).
Values orjson does not take (an object with no JSON form, a number too
large) go through `json.dumps` as before.
"""
from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.utils.endpoints import EndpointConfig

_MARK = "_xuexihao_orjson"
OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=OPTIONS).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def install() -> None:
    """Idempotent."""
    original = EndpointConfig.session
    if getattr(original, _MARK, False):
        return

    def session(self: EndpointConfig) -> aiohttp.ClientSession:
        # Rasa 3.6's EndpointConfig.session, plus json_serialize.
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        return aiohttp.ClientSession(headers=self.headers, auth=auth, json_serialize=dumps,
                                     timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT))

    setattr(session, _MARK, True)
    EndpointConfig.session = session  # type: ignore[method-assign]
