"""Settings, read from the environment once at start-up. Secrets (and
production mode's refusal of development ones) come from trust/secrets.py."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contract.limits import RATE_LIMIT_FAILURES, RATE_LIMIT_WINDOW_SECONDS
from trust import secrets

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "backend.db"
DEV_SERVICE_TOKEN = secrets.DEV_DEFAULTS[secrets.BACKEND_SERVICE_TOKEN]
DEV_ID_HASH_KEY = secrets.DEV_DEFAULTS[secrets.BACKEND_ID_HASH_KEY]
DEV_SESSION_SECRET = secrets.DEV_DEFAULTS[secrets.BACKEND_SESSION_SECRET]
DEV_RASA_TOKEN = secrets.DEV_DEFAULTS[secrets.RASA_AUTH_TOKEN]
DEFAULT_TRACKER_PATH = PROJECT_ROOT / "var" / "rasa_tracker.db"
# How long conversations are kept after their last activity: the privacy
# page says it, `python -m backend purge-conversations` applies it
# (BACKEND_RETENTION_DAYS overrides it).
DEFAULT_RETENTION_DAYS = 180


def async_database_url(url: str) -> str:
    """Accept plain SQLAlchemy URLs and pick the async driver."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql:", "postgres:", "postgresql+psycopg2:", "postgresql+psycopg:"):
        if url.startswith(prefix):
            return "postgresql+asyncpg:" + url[len(prefix) :]
    return url


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: f"sqlite+aiosqlite:///{DEFAULT_DB_PATH}")
    host: str = "127.0.0.1"
    port: int = 8080
    service_token: str = DEV_SERVICE_TOKEN
    id_hash_key: str = DEV_ID_HASH_KEY
    rate_limit_failures: int = RATE_LIMIT_FAILURES
    rate_limit_window_seconds: int = RATE_LIMIT_WINDOW_SECONDS
    max_body_bytes: int = 16 * 1024
    db_pool_size: int = 10
    workers: int = 1
    # The Rasa server (the web chat page talks to its REST channel through
    # the backend) and its SQL tracker store (the staff console reads it).
    rasa_url: str = "http://127.0.0.1:5005"
    tracker_url: str = field(default_factory=lambda: f"sqlite+aiosqlite:///{DEFAULT_TRACKER_PATH}")
    # Signs the staff console's session cookies and CSRF tokens.
    session_secret: str = DEV_SESSION_SECRET
    # Served over HTTPS: staff cookies get the Secure flag.
    secure_cookies: bool = False
    # The public chat API, per client address (backend/web/address_limits.py).
    chat_messages_per_minute: int = 30
    chat_conversations_per_hour: int = 20
    # Rasa's HTTP API token (the chat page reads a conversation's tracker).
    rasa_token: str = DEV_RASA_TOKEN
    # APP_ENV=production: no development secrets, no development tools
    # (the chat page's simulated real name).
    production: bool = False
    # Conversations are deleted this many days after their last activity
    # (backend/privacy/retention.py; shown on the privacy page).
    retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        settings = cls(
            database_url=async_database_url(env.get("BACKEND_DATABASE_URL") or f"sqlite:///{DEFAULT_DB_PATH}"),
            host=env.get("BACKEND_HOST", "127.0.0.1"),
            port=_int("BACKEND_PORT", 8080),
            service_token=secrets.secret(secrets.BACKEND_SERVICE_TOKEN, env),
            id_hash_key=secrets.secret(secrets.BACKEND_ID_HASH_KEY, env),
            rate_limit_failures=_int("BACKEND_RATE_LIMIT_FAILURES", RATE_LIMIT_FAILURES),
            rate_limit_window_seconds=_int("BACKEND_RATE_LIMIT_WINDOW_SECONDS", RATE_LIMIT_WINDOW_SECONDS),
            max_body_bytes=_int("BACKEND_MAX_BODY_BYTES", 16 * 1024),
            db_pool_size=_int("BACKEND_DB_POOL_SIZE", 10),
            workers=_int("BACKEND_WORKERS", 1),
            rasa_url=(env.get("BACKEND_RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
            tracker_url=async_database_url(env.get("BACKEND_TRACKER_URL") or f"sqlite:///{DEFAULT_TRACKER_PATH}"),
            session_secret=secrets.secret(secrets.BACKEND_SESSION_SECRET, env),
            secure_cookies=env.get("BACKEND_SECURE_COOKIES", "") in ("1", "true", "yes"),
            rasa_token=secrets.secret(secrets.RASA_AUTH_TOKEN, env),
            chat_messages_per_minute=_int("BACKEND_CHAT_MESSAGES_PER_MINUTE", 30),
            chat_conversations_per_hour=_int("BACKEND_CHAT_CONVERSATIONS_PER_HOUR", 20),
            production=secrets.production(env),
            retention_days=_int("BACKEND_RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
        )
        return settings
