"""`person-data export|delete`: one person's data on their request."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from backend.cli.common import audit_cli, load_settings, print_json, with_db


def _person_id(raw: str) -> str | None:
    from identity import validate_id

    check = validate_id(raw)
    if not check.ok:
        print(f"ERROR: --id-number is not a valid ID number ({check.problem})", file=sys.stderr)
        return None
    return check.normalised


def cmd_person_data(args: argparse.Namespace) -> int:
    """One person's data on their request (backend/privacy/person_data.py):
    `export` writes their copy as JSON (their own full ID number in it),
    `delete --yes` deletes card, proxy claims, claim attempts, tickets and
    linked conversations. Registry records are never deleted. Audited,
    with the masked ID number."""
    from backend.claims.attempts import IdHasher
    from backend.conversations.tracker import TrackerStore, TrackerUnavailable
    from backend.conversations.writer import TrackerWriteError, TrackerWriter
    from backend.privacy.person_data import REGISTRY_NOTE_EN, audit_detail, delete_person, export, gather
    from identity import mask_id

    id_number = _person_id(args.id_number)
    if id_number is None:
        return 2
    settings = load_settings()
    masked = mask_id(id_number)
    action = f"person_data_{args.person_command}"

    async def run() -> tuple[dict[str, Any], dict[str, Any] | None]:
        db = await with_db(settings)
        try:
            records = await gather(db, IdHasher(settings.id_hash_key), id_number)
            counts = records.counts()
            if args.person_command == "export":
                store = TrackerStore(settings.tracker_url)
                try:
                    copy = await export(records, store)
                finally:
                    await store.close()
                await audit_cli(db, action, masked, audit_detail(counts))
                return counts, copy
            if not args.yes:
                await audit_cli(db, action, masked, "not confirmed (no --yes): " + audit_detail(counts))
                return counts, None
            writer = TrackerWriter(settings.tracker_url)
            try:
                deleted = await delete_person(db, writer, records)
            except TrackerWriteError as exc:
                await audit_cli(db, action, masked, f"failed: tracker store {exc}")
                raise
            finally:
                await writer.close()
            await audit_cli(db, action, masked, audit_detail(deleted))
            return deleted, None
        finally:
            await db.dispose()

    try:
        counts, copy = asyncio.run(run())
    except (TrackerWriteError, TrackerUnavailable) as exc:
        print(f"ERROR: the tracker store could not be read or written ({exc}); run the command again", file=sys.stderr)
        return 1
    if copy is not None:
        text = json.dumps(copy, ensure_ascii=False, indent=2)
        if args.out:
            from backend.private_files import private_file

            with open(private_file(args.out), "w", encoding="utf-8") as fh:  # 0600: it holds the full ID
                fh.write(text + "\n")
            print(
                f"wrote the copy of {masked} to {args.out} (it holds the person's full ID number: "
                "hand it to them only, then delete it)",
                file=sys.stderr,
            )
        else:
            print(text)
        return 0
    if args.person_command == "delete" and not args.yes:
        print_json({"id_masked": masked, "would_delete": counts})
        print("nothing deleted: add --yes to delete", file=sys.stderr)
        return 2
    print_json({"id_masked": masked, "deleted": counts, "registry": REGISTRY_NOTE_EN})
    return 0
