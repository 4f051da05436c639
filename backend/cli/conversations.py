"""The conversations: `index-conversations` (the staff console's summaries) and
`purge-conversations` (retention).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from backend.cli.common import audit_cli, load_settings, print_json, with_db
from backend.config import async_database_url


def cmd_index_conversations(args: argparse.Namespace) -> int:
    """Bring the staff console's conversation summaries up to date with the
    tracker store in one go (the console does it 5,000 events per list
    request); --rebuild first forgets them (a recreated tracker store starts
    its event ids at 1 again)."""
    from sqlalchemy import delete

    from backend.conversations.index import catch_up
    from backend.conversations.tracker import TrackerStore
    from backend.models import ConversationSummary

    settings = load_settings()

    async def run() -> int:
        db = await with_db(settings)
        tracker = TrackerStore(async_database_url(args.tracker_url) if args.tracker_url else settings.tracker_url)
        try:
            if args.rebuild:
                async with db.writing() as session:
                    await session.execute(delete(ConversationSummary))
            return await catch_up(db, tracker)
        finally:
            await tracker.close()
            await db.dispose()

    applied = asyncio.run(run())
    print(f"{applied} tracker events indexed")
    return 0


def cmd_purge_conversations(args: argparse.Namespace) -> int:
    """Delete the conversations idle for longer than --older-than (default:
    the retention period, BACKEND_RETENTION_DAYS or 180 days) from the
    tracker store and the backend, and anonymise older claim attempts
    (backend/privacy/retention.py). Prints counts only; audited."""
    from backend.conversations.writer import TrackerWriteError, TrackerWriter
    from backend.privacy.retention import parse_age, purge_conversations, retention_period

    settings = load_settings()
    spec = args.older_than or retention_period(settings.retention_days)
    try:
        age = parse_age(spec)
    except ValueError as exc:
        print(f"ERROR: --older-than: {exc}", file=sys.stderr)
        return 2
    target = f"older than {spec.strip().lower()}"

    async def run() -> dict[str, Any]:
        db = await with_db(settings)
        tracker = TrackerWriter(async_database_url(args.tracker_url) if args.tracker_url else settings.tracker_url)
        try:
            try:
                report = await purge_conversations(db, tracker, age)
            except TrackerWriteError as exc:
                await audit_cli(db, "purge_conversations", target, f"failed: tracker store {exc}")
                raise
            counts = report.as_dict()
            await audit_cli(
                db, "purge_conversations", target, "; ".join(f"{k}={v}" for k, v in counts.items() if k != "cutoff_utc")
            )
            return counts
        finally:
            await tracker.close()
            await db.dispose()

    try:
        counts = asyncio.run(run())
    except TrackerWriteError as exc:
        print(
            f"ERROR: the tracker store could not be read or written ({exc}); nothing more was deleted, "
            "run the command again",
            file=sys.stderr,
        )
        return 1
    print_json({"older_than": spec.strip().lower(), **counts})
    return 0
