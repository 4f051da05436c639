"""Typed application keys of the backend's aiohttp app: its settings, the
database, the ID hasher, the claim service, and the read-only tracker store
(opened by the staff console)."""

from __future__ import annotations

from aiohttp import web

from backend.claims.attempts import IdHasher
from backend.claims.service import ClaimService
from backend.config import Settings
from backend.conversations.tracker import TrackerStore
from backend.db import Database

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HASHER = web.AppKey("hasher", IdHasher)
CLAIMS = web.AppKey("claims", ClaimService)
TRACKER = web.AppKey("tracker_store", TrackerStore)
