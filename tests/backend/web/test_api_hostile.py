"""Hostile and malformed input to every endpoint: always a JSON 4xx answer
with a stable code, never a 5xx or a stack trace, and nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TOKEN, Api, serve_api
from tests.people import FATHER_LI, XIAOMING

ENDPOINTS = [
    "/api/v1/claims",
    "/api/v1/matches",
    "/api/v1/cards/query",
    "/api/v1/cards/refresh",
    "/api/v1/attempts/query",
    "/api/v1/proxy-claims/query",
    "/api/v1/tickets",
]

RAW_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b"123",
    b'"a string"',
    b"\xff\xfe\x00garbage",
    b"[" * 8000 + b"]" * 8000,  # deep nesting
    b'{"name": "\xe6\x9d"}',  # broken UTF-8 inside a string
    json.dumps({"x": "y" * 40_000}).encode(),  # over the body limit
]

HOSTILE_STRINGS = [
    "",
    " ",
    "Robert'); DROP TABLE students;--",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "😀😀😀",
    "张三\x00",
    "\u202e张三",
    "张" * 10_000,
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "{{7*7}}",
]

WRONG_TYPES: list[Any] = [123, 1.5, True, None, [], {}, ["张三"], {"$ne": ""}]


def field_bodies() -> list[dict[str, Any]]:
    valid = {
        "path": "parent",
        "name": XIAOMING.name,
        "id_number": XIAOMING.id_number,
        "guardian_name": FATHER_LI.name,
        "guardian_id_number": FATHER_LI.id_number,
        "face_verification": True,
        "channel_user": "hostile",
        "limit": 5,
        "summary": "摘要",
        "reason": "x",
    }
    bodies = []
    for key in valid:
        for bad in HOSTILE_STRINGS + WRONG_TYPES:
            if key == "name" and bad == XIAOMING.name:
                continue
            body = dict(valid)
            body[key] = bad
            bodies.append(body)
        body = dict(valid)
        del body[key]
        bodies.append(body)
    return bodies


async def counts(api: Api) -> tuple[int, ...]:
    return tuple(
        [await api.scalar(f"SELECT count(*) FROM {t}") for t in ("students", "teachers", "cards", "proxy_claims")]
        + [await api.scalar("SELECT count(*) FROM claim_attempts WHERE success")]
    )


def assert_clean_error(status: int, text: str) -> dict[str, Any]:
    assert 400 <= status < 500, (status, text[:300])
    body = json.loads(text)
    assert body["success"] is False and isinstance(body["code"], str) and body["code"]
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_raw_garbage_bodies(api: Api, endpoint: str) -> None:
    before = await counts(api)
    for raw in RAW_BODIES:
        async with api.client.post(
            endpoint, data=raw, headers={**api.headers, "Content-Type": "application/json"}
        ) as resp:
            assert_clean_error(resp.status, await resp.text())
    assert await counts(api) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_hostile_fields(api: Api, endpoint: str) -> None:
    before = await counts(api)
    for body in field_bodies():
        async with api.client.post(endpoint, json=body, headers=api.headers) as resp:
            text = await resp.text()
            assert resp.status < 500, (body, text[:300])
            if resp.status >= 400:
                assert_clean_error(resp.status, text)
            assert XIAOMING.id_number not in text and FATHER_LI.id_number not in text
    after = await counts(api)
    # The registry is untouched; a well-formed claim among the corpus (e.g. a
    # hostile channel_user) may legitimately issue the one card.
    assert after[:2] == before[:2]
    assert after[2] <= 1 and after[3] <= 1


async def test_sql_in_name_is_refused_politely_and_tables_survive(api: Api) -> None:
    status, body = await api.claim(path="public", name="Robert'); DROP TABLE students;--", id_number=XIAOMING.id_number)
    assert (status, body["code"], body["field"]) == (422, "invalid_name", "name")
    assert await api.scalar("SELECT count(*) FROM students") > 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_token_required(api: Api, endpoint: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Bearer "}):
        async with api.client.post(endpoint, json={"id_number": XIAOMING.id_number}, headers=headers) as resp:
            body = assert_clean_error(resp.status, await resp.text())
            assert (resp.status, body["code"]) == (401, "unauthorized")


async def test_wrong_method_path_and_media_type(api: Api) -> None:
    async with api.client.get("/api/v1/claims", headers=api.headers) as resp:
        assert assert_clean_error(resp.status, await resp.text())["code"] == "method_not_allowed"
    async with api.client.post("/api/v1/nothing", headers=api.headers, json={}) as resp:
        assert resp.status in (401, 404)
    async with api.client.post("/api/v1/claims", data="a=b", headers=api.headers) as resp:
        assert assert_clean_error(resp.status, await resp.text())["code"] == "unsupported_media_type"


async def test_openapi_document_is_served(api: Api) -> None:
    import yaml  # type: ignore[import-untyped]

    async with api.client.get("/api/v1/openapi.yaml") as resp:
        assert resp.status == 200
        spec = yaml.safe_load(await resp.text())
    assert spec["openapi"].startswith("3.")
    for endpoint in ENDPOINTS:
        assert endpoint.removeprefix("/api/v1") in spec["paths"] or endpoint in spec["paths"], endpoint


async def test_healthz_reports_the_database(api: Api) -> None:
    async with api.client.get("/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["database"] == "ok"


async def test_database_down_gives_503_not_500() -> None:
    async for api in serve_api("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"):
        async with api.client.get("/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["database"] == "unreachable"
        status, body = await api.claim(path="public", name="张三", id_number=XIAOMING.id_number)
        assert (status, body["code"]) == (503, "database_unavailable")
