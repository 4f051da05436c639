"""Typed application keys of the backend's aiohttp app."""
from __future__ import annotations

from aiohttp import web

from backend.attempts import IdHasher
from backend.claims import ClaimService
from backend.config import Settings
from backend.db import Database

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
HASHER = web.AppKey("hasher", IdHasher)
CLAIMS = web.AppKey("claims", ClaimService)
