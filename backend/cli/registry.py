"""The registries: `import-registry`, `demo-registry` (tools/demo_registry), `demo-identities`,
and the campaign's reports (`report`: coverage by unit with --level, else cards and failures;
`bulletin`: the September report as PDF, Excel or HTML; `not-claimed`: who in a school has no card, masked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from backend.cli.common import audit_cli, load_settings, print_json, with_db


def cmd_import_registry(args: argparse.Namespace) -> int:
    from backend.registry.importer import FileReport, import_registry

    if not args.students and not args.teachers:
        print("give --students FILE, --teachers FILE or both", file=sys.stderr)
        return 2
    for path in (args.students, args.teachers):
        if path is not None and not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    settings = load_settings()
    bars: list[Any] = []

    def progress(table: str, total: int) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=table, disable=args.no_progress or None)
        bars.append(bar)

        def advance(n_bytes: int) -> None:  # tqdm is untyped
            bar.update(n_bytes)

        return advance

    async def run() -> list[FileReport]:
        db = await with_db(settings)
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
        if r.unknown_districts:
            unknown = sorted(r.unknown_districts.items())
            listed = ", ".join(f"{code} ({n} rows)" for code, n in unknown[: args.max_errors])
            more = f", ... {len(unknown) - args.max_errors} more" if len(unknown) > args.max_errors else ""
            print(f"  warning: {len(unknown)} district codes not in the Jiangxi reference data: {listed}{more}")
        failed = failed or bool(r.errors)
    if args.strict and failed:
        print("strict mode: nothing was imported")
    return 1 if failed else 0


def cmd_demo_registry(args: argparse.Namespace) -> int:
    from tools.demo_registry import generate

    summary = generate(args.students, args.teachers, args.out, seed=args.seed)
    print(f"wrote {args.out}/students.csv and {args.out}/teachers.csv")
    print_json({k: v for k, v in vars(summary).items() if k != "samples"})
    return 0


def cmd_demo_identities(args: argparse.Namespace) -> int:
    """Print demo identities to try in a chat (demo data only, so unmasked)."""
    from tools.demo_registry import find_samples

    samples = find_samples(args.dir)
    print("Demo identities from the generated demo registry (fictional people):")
    for sample in samples[: args.count] if args.count else samples:
        print("  " + json.dumps(sample, ensure_ascii=False))
    print(
        "Teachers, university students and the public claim for their verified real name: switch on "
        "模拟实名认证 in the chat page, or send metadata.realname_token from "
        "`python -m backend sign-realname --name … --id-number …`."
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.level is None:
        if args.scope or args.stage or args.format != "csv":
            print("--scope, --stage and --format xlsx go with --level", file=sys.stderr)
            return 2
        return _campaign_report(args)
    return _coverage_report(args)


def _coverage_report(args: argparse.Namespace) -> int:
    """Coverage by unit (CONTRACT.md, "Campaign"), as CSV or Excel."""
    from backend.campaign.coverage import CoverageRow, coverage
    from backend.campaign.export import write_csv, write_xlsx
    from backend.campaign.scope import Scope

    try:
        scope = Scope.of_filter(args.scope) if args.scope else Scope("admin")
    except ValueError as exc:
        print(f"--scope: {exc}", file=sys.stderr)
        return 2
    if args.format == "xlsx" and not args.out:
        print("--format xlsx needs --out FILE", file=sys.stderr)
        return 2

    async def run() -> list[CoverageRow]:
        db = await with_db(load_settings())
        try:
            async with db.reading() as session:
                rows = await coverage(session, args.level, scope, stage=args.stage)
            await audit_cli(db, "export_coverage", scope.label, f"level={args.level}; {len(rows)} rows")
            return rows
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    if args.format == "xlsx":
        with open(args.out, "wb") as binary:
            write_xlsx(rows, binary, args.level, scope.label)
    elif args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as text:
            write_csv(rows, text)
    else:
        write_csv(rows, sys.stdout)
    if args.out:
        print(f"wrote {len(rows)} rows to {args.out}")
    return 0


def _campaign_report(args: argparse.Namespace) -> int:
    from backend.report import campaign_rows, write_csv

    async def run() -> list[dict[str, Any]]:
        db = await with_db(load_settings())
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


def cmd_bulletin(args: argparse.Namespace) -> int:
    """The September report (发放领取情况通报) of the province or one unit, as PDF, Excel or HTML."""
    from backend.campaign.bulletin import PROVINCE, UnitError, check_unit, gather
    from backend.campaign.bulletin_files import ChromiumMissing, PdfFailed
    from backend.web.console.bulletin import document, pdf, xlsx

    try:
        unit = check_unit(args.unit or PROVINCE)
    except UnitError as exc:
        print(f"--{exc}", file=sys.stderr)
        return 2

    async def run() -> bytes:
        db = await with_db(load_settings())
        try:
            async with db.reading() as session:
                bulletin = await gather(session, db.dialect, unit)
            if args.format == "pdf":
                body = await pdf(bulletin)
            elif args.format == "xlsx":
                body = xlsx(bulletin)
            else:
                body = document(bulletin).encode("utf-8")
            await audit_cli(db, "export_bulletin", bulletin.name, f"{args.format}; unit={unit}")
            return body
        finally:
            await db.dispose()

    try:
        body = asyncio.run(run())
    except (ChromiumMissing, PdfFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.write_bytes(body)
    print(f"wrote the {args.format} bulletin of unit {unit} to {args.out} ({len(body):,} bytes)")
    return 0


def cmd_not_claimed(args: argparse.Namespace) -> int:
    """Who has not claimed in a school (a grade, a class), masked, as CSV or Excel; audited."""
    from backend.campaign.export import write_unclaimed_csv, write_unclaimed_xlsx
    from backend.campaign.not_claimed import Unclaimed, Unit, find_school, unclaimed
    from backend.campaign.scope import Scope

    try:
        unit = Unit.of(args.school, args.grade, getattr(args, "class"))
    except ValueError as exc:
        print(f"--school/--grade/--class: {exc}", file=sys.stderr)
        return 2
    if args.format == "xlsx" and not args.out:
        print("--format xlsx needs --out FILE", file=sys.stderr)
        return 2
    scope = Scope("admin")

    async def run() -> tuple[str | None, list[Unclaimed]]:
        db = await with_db(load_settings())
        try:
            async with db.reading() as session:
                school = await find_school(session, unit.school, scope)
                if school is None:
                    return None, []
                people = await unclaimed(session, "student", unit, scope)
                if unit.is_school:
                    people += await unclaimed(session, "teacher", unit, scope)
            await audit_cli(db, "export_not_claimed", unit.code, f"{args.format}; {len(people)} 人")
            return school.name, people
        finally:
            await db.dispose()

    name, people = asyncio.run(run())
    if name is None:
        print(f"no school {unit.school} in the registry", file=sys.stderr)
        return 1
    if args.format == "xlsx":
        with open(args.out, "wb") as binary:
            write_unclaimed_xlsx(people, binary, " ".join(p for p in (name, unit.grade, unit.class_name) if p))
    elif args.out:
        with open(args.out, "w", encoding="utf-8-sig", newline="") as text:
            write_unclaimed_csv(people, text)
    else:
        write_unclaimed_csv(people, sys.stdout)
    if args.out:
        print(f"wrote {len(people)} rows to {args.out}")
    return 0
