"""The backend's aiohttp application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.exc import InterfaceError, OperationalError

from backend.appkeys import CLAIMS, DB, HASHER, SETTINGS
from backend.claims.attempts import IdHasher, RateLimit
from backend.claims.service import ClaimService
from backend.config import Settings
from backend.db import Database
from backend.web.api import service_token, setup_api
from backend.web.errors import answer_json, errors_as_json
from backend.web.pages import setup_pages

log = logging.getLogger("backend")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    app[DB] = db
    await _ensure_schema(db)
    app[HASHER] = IdHasher(settings.id_hash_key)
    app[CLAIMS] = ClaimService(
        db, app[HASHER], RateLimit(settings.rate_limit_failures, settings.rate_limit_window_seconds)
    )
    yield
    await app[CLAIMS].close()
    await db.dispose()


async def _ensure_schema(db: Database) -> bool:
    """Create missing tables. A database that is down at start-up must not
    keep the service from starting: /healthz reports it and retries."""
    try:
        await db.create_schema()
    except (OSError, asyncio.TimeoutError, OperationalError, InterfaceError) as exc:
        log.error("database unreachable (%s); will retry", type(exc).__name__)
        return False
    db.schema_ready = True
    return True


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB]
    try:
        if not db.schema_ready:
            await _ensure_schema(db)
        await db.ping()
    except Exception:  # noqa: BLE001 - any failure means unreachable
        log.warning("health check: database unreachable")
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "dialect": request.app[DB].dialect})


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(
        middlewares=[errors_as_json, service_token],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app.router.add_get("/healthz", healthz)
    answer_json(app, path="/healthz")
    setup_api(app)
    setup_pages(app)
    return app
