"""One person or account: `lookup-card`, `lookup-person`, `refresh-identity`, `create-staff`,
`sign-realname`. Personal data is printed masked.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from backend.cli.common import audit_lookup, load_settings, print_json, with_db


def cmd_lookup_card(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from backend.claims.service import card_for, card_view
    from backend.models import Card
    from identity import mask_id, validate_id

    async def run() -> dict[str, Any] | None:
        db = await with_db(load_settings())
        try:
            async with db.reading() as session:
                if args.card_number:
                    card = (await session.scalars(select(Card).where(Card.card_number == args.card_number))).first()
                    target = str(args.card_number)[:32]
                else:
                    checked = validate_id(args.id_number)
                    card = await card_for(session, checked.normalised)
                    target = mask_id(checked.normalised) if checked.ok else "(invalid ID number)"
            await audit_lookup(db, "lookup_card", target, card is not None)
            return card_view(card) if card else None
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result is None:
        print("no such card")
        return 1
    print_json(result)
    return 0


def cmd_lookup_person(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from backend.claims.attempts import IdHasher, latest_attempts
    from backend.claims.service import card_for, card_view
    from backend.models import ProxyClaim, Student, Teacher
    from identity import mask_id, mask_name, validate_id

    check = validate_id(args.id_number)
    if not check.ok:
        print(f"not a valid ID number ({check.problem})")
        return 2
    settings = load_settings()

    async def run() -> dict[str, Any]:
        db = await with_db(settings)
        try:
            async with db.reading() as session:
                student = await session.get(Student, check.normalised)
                teacher = await session.get(Teacher, check.normalised)
                card = await card_for(session, check.normalised)
                proxies = (
                    await session.execute(select(func.count()).where(ProxyClaim.guardian_id_number == check.normalised))
                ).scalar_one()
                attempts = await latest_attempts(session, id_hash=IdHasher(settings.id_hash_key)(check.normalised))
            found = bool(student or teacher or card or proxies or attempts)
            await audit_lookup(db, "lookup_person", mask_id(check.normalised), found)
            person: dict[str, Any] = {"id_masked": mask_id(check.normalised)}
            if student:
                person["student"] = {
                    "name_masked": mask_name(student.name),
                    "stage": student.stage,
                    "status": student.status,
                    "school": student.school_name,
                    "district_code": student.district_code,
                    "grade": student.grade,
                    "has_guardian_data": bool(student.guardian1_id_number or student.guardian2_id_number),
                }
            if teacher:
                person["teacher"] = {
                    "name_masked": mask_name(teacher.name),
                    "status": teacher.status,
                    "school": teacher.school_name,
                    "district_code": teacher.district_code,
                }
            person["card"] = card_view(card) if card else None
            person["proxy_claims_as_guardian"] = proxies
            person["latest_attempts"] = attempts
            return person
        finally:
            await db.dispose()

    print_json(asyncio.run(run()))
    return 0


def cmd_refresh_identity(args: argparse.Namespace) -> int:
    from backend.claims.attempts import IdHasher, RateLimit
    from backend.claims.records import Outcome
    from backend.claims.service import ClaimService

    settings = load_settings()

    async def run() -> Outcome:
        db = await with_db(settings)
        try:
            service = ClaimService(db, IdHasher(settings.id_hash_key), RateLimit(10**9, 1))
            try:
                return await service.refresh(args.name, args.id_number, channel_user="admin-cli")
            finally:
                await service.close()
        finally:
            await db.dispose()

    outcome = asyncio.run(run())
    print_json(outcome.as_dict())
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
        db = await with_db(load_settings())
        try:
            await create_staff(db, args.username, password, args.role, args.scope)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    scope = f", scope {args.scope.strip()}" if args.scope else ""
    print(f"staff account {args.username!r} ({args.role}{scope}) ready")
    return 0


def cmd_sign_realname(args: argparse.Namespace) -> int:
    """Print a real-name token signed with the development key, as the
    mini-program's server would sign one (refused in production)."""
    from identity import check_name, validate_id
    from trust import realname

    name, problem = check_name(args.name)
    checked = validate_id(args.id_number)
    if problem or not checked.ok:
        print(
            f"ERROR: {'--name' if problem else '--id-number'} is not a valid {'name' if problem else 'ID number'}",
            file=sys.stderr,
        )
        return 2
    print(realname.sign(realname.dev_private_key(), name, checked.normalised, ttl_s=args.ttl, subject=args.sender))
    return 0
