"""Admin command line: `python -m backend COMMAND --help`.

Every command works on the database of BACKEND_DATABASE_URL (SQLite file
var/backend.db by default), the same one the running backend uses. Personal
data is printed masked.

The commands, by what they work on: serve.py (the service, the schema),
registry.py (registry import, the demo registry, the campaign's reports and bulletin, who has
not claimed), people.py (look-ups, staff accounts, real-name tokens), conversations.py (the
console's index, retention), person_data.py (one person's data on request); common.py what they share.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.cli.conversations import cmd_index_conversations, cmd_purge_conversations
from backend.cli.people import (
    cmd_create_staff,
    cmd_lookup_card,
    cmd_lookup_person,
    cmd_refresh_identity,
    cmd_sign_realname,
)
from backend.cli.person_data import cmd_person_data
from backend.cli.registry import (
    cmd_bulletin,
    cmd_demo_identities,
    cmd_demo_registry,
    cmd_import_registry,
    cmd_not_claimed,
    cmd_report,
)
from backend.cli.serve import cmd_init_db, cmd_recount_coverage, cmd_serve
from backend.config import PROJECT_ROOT
from contract.registry import COVERAGE_LEVELS, STAGES
from contract.staff import STAFF_ROLES


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

    p = sub.add_parser("recount-coverage", help="recount the coverage counts from the registry and the cards")
    p.set_defaults(func=cmd_recount_coverage)

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
    p.add_argument("--role", choices=STAFF_ROLES, default="agent")
    p.add_argument(
        "--scope",
        help="district: a 6-digit county code or a 4-digit city prefix (3601); school: SCHOOL_CODE[,CODE...]",
    )
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
    p = sub.add_parser(
        "report",
        help="coverage by unit (--level), or without --level the cards and failures by school (发放领取情况通报)",
    )
    p.add_argument("--level", choices=COVERAGE_LEVELS, help="one row per city, county, school, grade or class")
    p.add_argument("--scope", help="only this city prefix (3601), county (360102) or school code(s), comma-separated")
    p.add_argument("--stage", choices=STAGES, help="only students of this stage (and their schools' teachers)")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    p.add_argument("--out", type=Path, help="the file to write (standard output for CSV without it)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("bulletin", help="the September report (发放领取情况通报) of the province or a unit")
    p.add_argument("--unit", help="36 (the province, the default), a city prefix (3601) or a county code (360102)")
    p.add_argument("--format", choices=("pdf", "xlsx", "html"), default="pdf", help="PDF needs Chromium")
    p.add_argument("--out", type=Path, required=True, help="the file to write")
    p.set_defaults(func=cmd_bulletin)
    p = sub.add_parser("not-claimed", help="a school's (grade's, class's) people without a card, masked (audited)")
    p.add_argument("--school", required=True, help="the school code")
    p.add_argument("--grade", help="only this grade")
    p.add_argument("--class", help="only this class of --grade")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    p.add_argument("--out", type=Path, help="the file to write (standard output for CSV without it)")
    p.set_defaults(func=cmd_not_claimed)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
