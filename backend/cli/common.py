"""What the admin commands share: settings, the database, JSON output, and the audit log
entries of what they did (as "cli:" + the OS user).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from backend.config import Settings

if TYPE_CHECKING:  # imported when a command needs it: the CLI starts fast
    from backend.db import Database


def load_settings() -> Settings:
    return Settings.from_env()


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


async def with_db(settings: Settings) -> Database:
    from backend.db import Database

    db = Database(settings.database_url)
    await db.create_schema()
    return db


def cli_actor() -> str:
    """Who ran a command, as the audit log keeps it: "cli:" + the OS user
    (the account of the process, not a variable anyone can set)."""
    import getpass
    import pwd

    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = getpass.getuser()
    return f"cli:{name}"[:64]


async def audit_cli(db: Database, action: str, target: str | None, detail: str) -> None:
    """What the admin CLI did, in the staff audit log (admins read it at
    /staff/audit), as "cli:" + the OS user (and who ran sudo)."""
    from backend.web.console.staff import record_audit

    sudo = os.environ.get("SUDO_USER")
    await record_audit(db, cli_actor(), action, target, detail + (f"; sudo by {sudo}" if sudo else ""), None)


async def audit_lookup(db: Database, action: str, target: str, found: bool) -> None:
    """A look-up of the admin CLI, in the staff audit log."""
    await audit_cli(db, action, target, "found" if found else "not found")
