"""Admin command line: `python -m backend COMMAND --help`.

Every command works on the database of BACKEND_DATABASE_URL (SQLite file
var/backend.db by default), the same one the running backend uses. Personal
data is printed masked.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

from backend.config import PROJECT_ROOT, Settings, async_database_url


def _settings() -> Settings:
    return Settings.from_env()


def _print(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


async def _with_db(settings: Settings):  # type: ignore[no-untyped-def]
    from backend.db import Database

    db = Database(settings.database_url)
    await db.create_schema()
    return db


# -- commands ----------------------------------------------------------------


def _serve_one(host: str, port: int, reuse_port: bool) -> None:
    import uvloop
    from aiohttp import web

    from backend.app import create_app
    from backend.web.logs import AccessLog, install

    install(logging.INFO)
    # Access logs show method, path and status: bodies (and so ID numbers) never.
    web.run_app(
        create_app(_settings()), host=host, port=port, loop=uvloop.new_event_loop(), reuse_port=reuse_port,
        access_log_class=AccessLog,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve in one process, or in N processes sharing the port
    (SO_REUSEPORT), the parent passing Ctrl-C / SIGTERM on to them."""
    from trust.secrets import refuse_development_secrets

    refuse_development_secrets(service="the backend")
    settings = _settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers <= 1:
        _serve_one(host, port, reuse_port=False)
        return 0
    import multiprocessing as mp
    import signal

    ctx = mp.get_context("spawn")
    children = [ctx.Process(target=_serve_one, args=(host, port, True), daemon=False) for _ in range(workers)]
    for child in children:
        child.start()

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)


def cmd_init_db(args: argparse.Namespace) -> int:
    async def run() -> None:
        db = await _with_db(_settings())
        await db.dispose()

    asyncio.run(run())
    print("schema ready")
    return 0


def cmd_import_registry(args: argparse.Namespace) -> int:
    from backend.registry.importer import import_registry

    if not args.students and not args.teachers:
        print("give --students FILE, --teachers FILE or both", file=sys.stderr)
        return 2
    for path in (args.students, args.teachers):
        if path is not None and not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    settings = _settings()
    bars: list[Any] = []

    def progress(table: str, total: int):  # type: ignore[no-untyped-def]
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=table, disable=args.no_progress or None)
        bars.append(bar)
        return bar.update

    async def run():  # type: ignore[no-untyped-def]
        db = await _with_db(settings)
        await db.dispose()
        return await import_registry(
            settings.database_url, args.students, args.teachers, strict=args.strict, progress=progress
        )

    reports = asyncio.run(run())
    for bar in bars:
        bar.close()
    failed = False
    for r in reports:
        print(
            f"{r.table}: {r.rows} rows read, {r.imported} imported, {len(r.errors)} bad "
            f"({r.rows_per_second:,.0f} rows/s)"
        )
        for line, message in r.errors[: args.max_errors]:
            print(f"  {r.path}:{line}: {message}")
        if len(r.errors) > args.max_errors:
            print(f"  ... and {len(r.errors) - args.max_errors} more bad rows")
        failed = failed or bool(r.errors)
    if args.strict and failed:
        print("strict mode: nothing was imported")
    return 1 if failed else 0


def cmd_demo_registry(args: argparse.Namespace) -> int:
    from tools.demo_registry import generate

    summary = generate(args.students, args.teachers, args.out, seed=args.seed)
    print(f"wrote {args.out}/students.csv and {args.out}/teachers.csv")
    _print({k: v for k, v in vars(summary).items() if k != "samples"})
    return 0


def cmd_demo_identities(args: argparse.Namespace) -> int:
    """Print demo identities to try in a chat (demo data only, so unmasked)."""
    from tools.demo_registry import find_samples

    samples = find_samples(args.dir)
    print("Demo identities from the generated demo registry (fictional people):")
    for sample in samples[: args.count] if args.count else samples:
        print("  " + json.dumps(sample, ensure_ascii=False))
    print("Teachers, university students and the public claim for their verified real name: switch on "
          "模拟实名认证 in the chat page, or send metadata.realname_token from "
          "`python -m backend sign-realname --name … --id-number …`.")
    return 0


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


async def _audit_cli(db: Any, action: str, target: Optional[str], detail: str) -> None:
    """What the admin CLI did, in the staff audit log (admins read it at
    /staff/audit), as "cli:" + the OS user (and who ran sudo)."""
    from backend.web.console.staff import record_audit

    sudo = os.environ.get("SUDO_USER")
    await record_audit(db, cli_actor(), action, target, detail + (f"; sudo by {sudo}" if sudo else ""), None)


async def _audit_lookup(db: Any, action: str, target: str, found: bool) -> None:
    """A look-up of the admin CLI, in the staff audit log."""
    await _audit_cli(db, action, target, "found" if found else "not found")


def cmd_lookup_card(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from backend.claims.service import card_for, card_view
    from backend.models import Card
    from identity import mask_id, validate_id

    async def run() -> Optional[dict[str, Any]]:
        db = await _with_db(_settings())
        try:
            async with db.reading() as session:
                if args.card_number:
                    card = (await session.scalars(select(Card).where(Card.card_number == args.card_number))).first()
                    target = str(args.card_number)[:32]
                else:
                    checked = validate_id(args.id_number)
                    card = await card_for(session, checked.normalised)
                    target = mask_id(checked.normalised) if checked.ok else "(invalid ID number)"
            await _audit_lookup(db, "lookup_card", target, card is not None)
            return card_view(card) if card else None
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result is None:
        print("no such card")
        return 1
    _print(result)
    return 0


def cmd_lookup_person(args: argparse.Namespace) -> int:
    from backend.claims.attempts import IdHasher, latest_attempts
    from backend.claims.service import card_for, card_view
    from backend.models import ProxyClaim, Student, Teacher
    from identity import mask_id, mask_name, validate_id
    from sqlalchemy import func, select

    check = validate_id(args.id_number)
    if not check.ok:
        print(f"not a valid ID number ({check.problem})")
        return 2
    settings = _settings()

    async def run() -> dict[str, Any]:
        db = await _with_db(settings)
        try:
            async with db.reading() as session:
                student = await session.get(Student, check.normalised)
                teacher = await session.get(Teacher, check.normalised)
                card = await card_for(session, check.normalised)
                proxies = (
                    await session.execute(
                        select(func.count()).where(ProxyClaim.guardian_id_number == check.normalised)
                    )
                ).scalar_one()
                attempts = await latest_attempts(session, id_hash=IdHasher(settings.id_hash_key)(check.normalised))
            found = bool(student or teacher or card or proxies or attempts)
            await _audit_lookup(db, "lookup_person", mask_id(check.normalised), found)
            person: dict[str, Any] = {"id_masked": mask_id(check.normalised)}
            if student:
                person["student"] = {
                    "name_masked": mask_name(student.name), "stage": student.stage, "status": student.status,
                    "school": student.school_name, "district_code": student.district_code,
                    "grade": student.grade, "has_guardian_data": bool(student.guardian1_id_number or student.guardian2_id_number),
                }
            if teacher:
                person["teacher"] = {
                    "name_masked": mask_name(teacher.name), "status": teacher.status,
                    "school": teacher.school_name, "district_code": teacher.district_code,
                }
            person["card"] = card_view(card) if card else None
            person["proxy_claims_as_guardian"] = proxies
            person["latest_attempts"] = attempts
            return person
        finally:
            await db.dispose()

    _print(asyncio.run(run()))
    return 0


def cmd_refresh_identity(args: argparse.Namespace) -> int:
    from backend.claims.attempts import IdHasher, RateLimit
    from backend.claims.service import ClaimService

    settings = _settings()

    async def run():  # type: ignore[no-untyped-def]
        db = await _with_db(settings)
        try:
            service = ClaimService(db, IdHasher(settings.id_hash_key), RateLimit(10**9, 1))
            return await service.refresh(args.name, args.id_number, channel_user="admin-cli")
        finally:
            await db.dispose()

    outcome = asyncio.run(run())
    _print(outcome.as_dict())
    return 0 if outcome.success else 1


def cmd_create_staff(args: argparse.Namespace) -> int:
    """A staff console account; the password is asked twice (or read from
    standard input with --password-stdin), never given on the command line."""
    import getpass

    from backend.web.console.staff import create_staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2

    async def run() -> None:
        db = await _with_db(_settings())
        try:
            await create_staff(db, args.username, password, args.role)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"staff account {args.username!r} ({args.role}) ready")
    return 0


def cmd_index_conversations(args: argparse.Namespace) -> int:
    """Bring the staff console's conversation summaries up to date with the
    tracker store in one go (the console does it 5,000 events per list
    request); --rebuild first forgets them (a recreated tracker store starts
    its event ids at 1 again)."""
    from sqlalchemy import delete

    from backend.models import ConversationSummary
    from backend.conversations.index import catch_up
    from backend.conversations.tracker import TrackerStore

    settings = _settings()

    async def run() -> int:
        db = await _with_db(settings)
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
    from backend.privacy.retention import parse_age, purge_conversations, retention_period
    from backend.conversations.writer import TrackerWriteError, TrackerWriter

    settings = _settings()
    spec = args.older_than or retention_period(settings.retention_days)
    try:
        age = parse_age(spec)
    except ValueError as exc:
        print(f"ERROR: --older-than: {exc}", file=sys.stderr)
        return 2
    target = f"older than {spec.strip().lower()}"

    async def run() -> dict[str, Any]:
        db = await _with_db(settings)
        tracker = TrackerWriter(async_database_url(args.tracker_url) if args.tracker_url else settings.tracker_url)
        try:
            try:
                report = await purge_conversations(db, tracker, age)
            except TrackerWriteError as exc:
                await _audit_cli(db, "purge_conversations", target, f"failed: tracker store {exc}")
                raise
            counts = report.as_dict()
            await _audit_cli(db, "purge_conversations", target,
                             "; ".join(f"{k}={v}" for k, v in counts.items() if k != "cutoff_utc"))
            return counts
        finally:
            await tracker.close()
            await db.dispose()

    try:
        counts = asyncio.run(run())
    except TrackerWriteError as exc:
        print(f"ERROR: the tracker store could not be read or written ({exc}); nothing more was deleted, "
              "run the command again", file=sys.stderr)
        return 1
    _print({"older_than": spec.strip().lower(), **counts})
    return 0


def _person_id(raw: str) -> Optional[str]:
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
    from backend.privacy.person_data import REGISTRY_NOTE_EN, audit_detail, delete_person, export, gather
    from backend.conversations.writer import TrackerWriteError, TrackerWriter
    from backend.conversations.tracker import TrackerStore, TrackerUnavailable
    from identity import mask_id

    id_number = _person_id(args.id_number)
    if id_number is None:
        return 2
    settings = _settings()
    masked = mask_id(id_number)
    action = f"person_data_{args.person_command}"

    async def run() -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
        db = await _with_db(settings)
        try:
            records = await gather(db, IdHasher(settings.id_hash_key), id_number)
            counts = records.counts()
            if args.person_command == "export":
                store = TrackerStore(settings.tracker_url)
                try:
                    copy = await export(records, store)
                finally:
                    await store.close()
                await _audit_cli(db, action, masked, audit_detail(counts))
                return counts, copy
            if not args.yes:
                await _audit_cli(db, action, masked, "not confirmed (no --yes): " + audit_detail(counts))
                return counts, None
            writer = TrackerWriter(settings.tracker_url)
            try:
                deleted = await delete_person(db, writer, records)
            except TrackerWriteError as exc:
                await _audit_cli(db, action, masked, f"failed: tracker store {exc}")
                raise
            finally:
                await writer.close()
            await _audit_cli(db, action, masked, audit_detail(deleted))
            return deleted, None
        finally:
            await db.dispose()

    try:
        counts, copy = asyncio.run(run())
    except (TrackerWriteError, TrackerUnavailable) as exc:
        print(f"ERROR: the tracker store could not be read or written ({exc}); run the command again",
              file=sys.stderr)
        return 1
    if copy is not None:
        text = json.dumps(copy, ensure_ascii=False, indent=2)
        if args.out:
            from backend.private_files import private_file

            with open(private_file(args.out), "w", encoding="utf-8") as fh:  # 0600: it holds the full ID
                fh.write(text + "\n")
            print(f"wrote the copy of {masked} to {args.out} (it holds the person's full ID number: "
                  "hand it to them only, then delete it)", file=sys.stderr)
        else:
            print(text)
        return 0
    if args.person_command == "delete" and not args.yes:
        _print({"id_masked": masked, "would_delete": counts})
        print("nothing deleted: add --yes to delete", file=sys.stderr)
        return 2
    _print({"id_masked": masked, "deleted": counts, "registry": REGISTRY_NOTE_EN})
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from backend.report import campaign_rows, write_csv

    async def run():  # type: ignore[no-untyped-def]
        db = await _with_db(_settings())
        try:
            return await campaign_rows(db)
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    if args.out:
        with open(args.out, "w", encoding="utf-8-sig", newline="") as fh:
            write_csv(rows, fh)
        print(f"wrote {len(rows)} rows to {args.out}")
    else:
        write_csv(rows, sys.stdout)
    return 0


def cmd_sign_realname(args: argparse.Namespace) -> int:
    """Print a real-name token signed with the development key, as the
    mini-program's server would sign one (refused in production)."""
    from identity import check_name, validate_id
    from trust import realname

    name, problem = check_name(args.name)
    checked = validate_id(args.id_number)
    if problem or not checked.ok:
        print(f"ERROR: {'--name' if problem else '--id-number'} is not a valid "
              f"{'name' if problem else 'ID number'}", file=sys.stderr)
        return 2
    print(realname.sign(realname.dev_private_key(), name, checked.normalised, ttl_s=args.ttl, subject=args.sender))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the backend HTTP service")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="processes sharing the port (default BACKEND_WORKERS or 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init-db", help="create the schema")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("import-registry", help="upsert students and/or teachers from CSV")
    p.add_argument("--students", type=Path)
    p.add_argument("--teachers", type=Path)
    p.add_argument("--strict", action="store_true", help="import nothing when any row is bad")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--max-errors", type=int, default=50, help="bad rows to print per file")
    p.set_defaults(func=cmd_import_registry)

    p = sub.add_parser("demo-registry", help="write a deterministic demo registry as CSV")
    p.add_argument("--students", type=int, default=5000)
    p.add_argument("--teachers", type=int, default=800)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=20190618)
    p.set_defaults(func=cmd_demo_registry)

    p = sub.add_parser("demo-identities", help="print demo identities to try")
    p.add_argument("--dir", type=Path, default=PROJECT_ROOT / "var" / "demo")
    p.add_argument("--count", type=int, default=0)
    p.set_defaults(func=cmd_demo_identities)

    p = sub.add_parser("lookup-card", help="show a card (masked)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--card-number")
    g.add_argument("--id-number")
    p.set_defaults(func=cmd_lookup_card)

    p = sub.add_parser("lookup-person", help="registry records, card and attempts of an ID (masked)")
    p.add_argument("--id-number", required=True)
    p.set_defaults(func=cmd_lookup_person)

    p = sub.add_parser("refresh-identity", help="re-match a card holder against the registries")
    p.add_argument("--name", required=True)
    p.add_argument("--id-number", required=True)
    p.set_defaults(func=cmd_refresh_identity)

    p = sub.add_parser("create-staff", help="create a staff console account (or reset its password and role)")
    p.add_argument("username")
    p.add_argument("--role", choices=("agent", "admin"), default="agent")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_staff)
    p = sub.add_parser("index-conversations", help="index the Rasa tracker store for the staff console")
    p.add_argument("--tracker-url", help="SQLAlchemy URL of the tracker store (default: BACKEND_TRACKER_URL)")
    p.add_argument("--rebuild", action="store_true", help="forget the summaries first, then index everything")
    p.set_defaults(func=cmd_index_conversations)
    p = sub.add_parser("sign-realname", help="print a development real-name token (metadata.realname_token)")
    p.add_argument("--name", required=True)
    p.add_argument("--id-number", required=True)
    p.add_argument("--ttl", type=int, default=15 * 60, help="seconds the token lives (default 900)")
    p.add_argument("--sender", help="bind the token to this conversation (its `sub`)")
    p.set_defaults(func=cmd_sign_realname)
    p = sub.add_parser("purge-conversations", help="delete conversations idle longer than the retention period")
    p.add_argument("--older-than", help="a period such as 180d or 12h (default: BACKEND_RETENTION_DAYS or 180d)")
    p.add_argument("--tracker-url", help="SQLAlchemy URL of the tracker store (default: BACKEND_TRACKER_URL)")
    p.set_defaults(func=cmd_purge_conversations)
    p = sub.add_parser("person-data", help="export or delete one person's data on their request (audited)")
    person = p.add_subparsers(dest="person_command", required=True)
    q = person.add_parser("export", help="the person's copy as JSON (with their full ID number)")
    q.add_argument("--id-number", required=True)
    q.add_argument("--out", type=Path, help="write it to this file (mode 0600) instead of standard output")
    q.set_defaults(func=cmd_person_data)
    q = person.add_parser("delete", help="delete card, proxy claims, attempts, tickets, linked conversations")
    q.add_argument("--id-number", required=True)
    q.add_argument("--yes", action="store_true", help="really delete (without it: show what would go)")
    q.set_defaults(func=cmd_person_data)
    p = sub.add_parser("report", help="campaign report as CSV (发放领取情况通报)")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
