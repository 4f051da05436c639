"""The staff console as the backend serves it: the read-only tracker store
its pages read conversations from, and every page's routes, registered
under the console's prefix (urls.py), its JSON answers under its API
prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from backend.appkeys import SETTINGS, TRACKER
from backend.conversations.tracker import TrackerStore
from backend.web.console import (
    auth,
    bulletin,
    campaign,
    conversations,
    dashboard,
    fixes,
    not_claimed,
    person_data,
    tickets,
)
from backend.web.console.urls import API_PREFIX
from backend.web.errors import answer_json


async def _tracker_store(app: web.Application) -> AsyncIterator[None]:
    store = TrackerStore(app[SETTINGS].tracker_url)
    app[TRACKER] = store
    yield
    await store.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_tracker_store)
    answer_json(app, prefix=API_PREFIX)
    auth.setup(app)
    conversations.setup(app)
    tickets.setup(app)
    dashboard.setup(app)
    campaign.setup(app)
    bulletin.setup(app)
    fixes.setup(app)
    not_claimed.setup(app)
    person_data.setup(app)
