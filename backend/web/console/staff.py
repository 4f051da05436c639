"""Staff console accounts and their audit trail, without the web: the
passwords (argon2id, argon2-cffi; tens of milliseconds of CPU each, so
callers on the event loop verify in a thread), `create_staff` (also
`python -m backend create-staff`), and `record_audit`, the one writer of the
staff audit log (the console's `auth.audit`, and the admin CLI as "cli:" +
the OS user). Admins read the log at /staff/audit.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from backend.campaign.scope import Scope
from backend.db import Database
from backend.models import AuditEntry, StaffUser

MIN_PASSWORD_LENGTH = 10
MAX_FIELD = 256

_hasher = PasswordHasher()  # argon2id, the library's current parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters please"
    if len(password) > MAX_FIELD:
        return f"at most {MAX_FIELD} characters please"
    return None


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash to verify against when the username is unknown, so that a wrong
# username and a wrong password take the same time.
DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


async def create_staff(db: Database, username: str, password: str, role: str, scope: str | None = None) -> StaffUser:
    """Create an account (or reset an existing one's password, role and
    scope). `district` and `school` accounts need a scope (Scope.parse)."""
    checked = Scope.parse(role, scope)
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise ValueError("username: 1 to 64 characters, no spaces")
    problem = password_problem(password)
    if problem:
        raise ValueError("password: " + problem)
    password_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
    async with db.writing() as session:
        user = (await session.scalars(select(StaffUser).where(StaffUser.username == username))).one_or_none()
        if user is None:
            user = StaffUser(username=username, password_hash=password_hash, role=role, active=True, scope=checked.text)
            session.add(user)
        else:
            user.password_hash, user.role, user.active, user.scope = password_hash, role, True, checked.text
            user.session_version = (user.session_version or 0) + 1
    return user


async def record_audit(
    db: Database, username: str | None, action: str, target: str | None, detail: str | None, remote: str | None
) -> None:
    async with db.writing() as session:
        session.add(
            AuditEntry(
                staff_username=username,
                action=action[:32],
                target=(target or None) and target[:128],
                detail=(detail or None) and detail[:512],
                remote=remote,
            )
        )
