"""Fixtures: a real database (SQLite file, and PostgreSQL when reachable),
the known registry of tests/people.py imported into it, and a real backend
app served over HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from backend.app import create_app
from backend.config import Settings
from backend.conversations.tracker import EVENTS
from backend.db import Database
from backend.models import Base
from backend.registry.importer import import_registry
from tests.people import write_registry
from tests.stack import default_stack, scaled_stack, stack  # noqa: F401 - the running services, one of each per test session

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
PG_HOST, PG_PORT = os.environ.get("TEST_PG_HOST", "127.0.0.1"), int(os.environ.get("TEST_PG_PORT", "5432"))
PG_ADMIN_DB = os.environ.get("TEST_PG_DATABASE", "test")
TOKEN = "test-service-token"


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


async def pg_admin(sql: str) -> None:
    """One statement on the maintenance database (CREATE/DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session."""
    name = f"xxh_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}"
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable in CI")
        pytest.skip("PostgreSQL not reachable")
    return request.getfixturevalue("pg_database")


async def reset_schema(url: str) -> None:
    db = Database(url)
    try:
        async with db.write_engine.begin() as conn:
            await conn.run_sync(lambda c: EVENTS.drop(c, checkfirst=True))  # a tracker store another test left
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await db.dispose()


@pytest_asyncio.fixture
async def registry_db(database_url: str, tmp_path: Path) -> str:
    """An empty schema with the known registry imported."""
    await reset_schema(database_url)
    students, teachers = write_registry(tmp_path)
    reports = await import_registry(database_url, students, teachers, strict=True)
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    return database_url


# A tracker store that does not exist: apps under test never read the
# developer's own var/rasa_tracker.db (tests that need one pass tracker_url).
NO_TRACKER = "sqlite+aiosqlite:////nonexistent/xxh-test-tracker.db"


def settings_for(url: str, **overrides: Any) -> Settings:
    overrides.setdefault("tracker_url", NO_TRACKER)
    return Settings(database_url=url, service_token=TOKEN, id_hash_key="test-key", **overrides)


class Api:
    """A client of the running backend, with the service token."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client = client
        self.db = db
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
        async with self.client.post(path, json=body, headers=self.headers, **kw) as resp:
            return resp.status, await resp.json()

    async def claim(self, **body: Any) -> tuple[int, dict[str, Any]]:
        return await self.post("/api/v1/claims", body)

    async def scalar(self, sql: str) -> Any:
        async with self.db.reading() as session:
            return (await session.execute(text(sql))).scalar()


@pytest_asyncio.fixture
async def api(registry_db: str) -> AsyncIterator[Api]:
    async for a in serve_api(registry_db):
        yield a


async def serve_api(url: str, **overrides: Any) -> AsyncIterator[Api]:
    app = create_app(settings_for(url, **overrides))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    db = Database(url)
    try:
        yield Api(client, db)
    finally:
        await db.dispose()
        await client.close()
