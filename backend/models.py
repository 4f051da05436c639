"""Database schema. Rules that must hold under concurrency live here as
constraints: one card per person, unique learning account numbers, at most
three proxy slots per guardian, one proxy record per guardian and child;
and the coverage counts, kept by triggers on `cards` (CARD_TRIGGERS)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contract.beijing import beijing
from contract.limits import MAX_PROXY_CHILDREN
from contract.paths import PATHS
from contract.registry import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from contract.staff import SCOPED_ROLES, STAFF_ROLES, SUPPORT_ROLES, TICKET_STATUSES


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Base(DeclarativeBase):
    pass


class Student(Base):
    """学籍库: one row per student, keyed by ID number."""

    __tablename__ = "students"
    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="ck_students_stage"),
        CheckConstraint(_in("status", STUDENT_STATUSES), name="ck_students_status"),
        # A school's (grade's, class's) students: the not-claimed lists, the
        # fixes query and the coverage recount of a school (backend/registry/counts.py).
        Index("ix_students_school_class", "school_code", "grade", "class_name"),
        # SQLite: one B-tree keyed by ID number (not a rowid table plus an
        # index): half the writes in a bulk import, one look-up per match.
        {"sqlite_with_rowid": False},
    )

    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    student_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    name_norm: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(16))
    school_code: Mapped[str] = mapped_column(String(32))
    school_name: Mapped[str] = mapped_column(String(128))
    district_code: Mapped[str] = mapped_column(String(6))
    grade: Mapped[str] = mapped_column(String(32))
    class_name: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    guardian1_name_norm: Mapped[str | None] = mapped_column(String(64))
    guardian1_id_number: Mapped[str | None] = mapped_column(String(18))
    guardian1_name: Mapped[str | None] = mapped_column(String(64))
    guardian1_relation: Mapped[str | None] = mapped_column(String(16))
    guardian2_name: Mapped[str | None] = mapped_column(String(64))
    guardian2_name_norm: Mapped[str | None] = mapped_column(String(64))
    guardian2_id_number: Mapped[str | None] = mapped_column(String(18))
    guardian2_relation: Mapped[str | None] = mapped_column(String(16))
    # When an import last inserted or changed the row (UTC; backend/registry/sinks.py);
    # NULL: not since the column was added.
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=utcnow)


class Teacher(Base):
    """教师库: one row per teacher, keyed by ID number."""

    __tablename__ = "teachers"
    __table_args__ = (
        CheckConstraint(_in("status", TEACHER_STATUSES), name="ck_teachers_status"),
        Index("ix_teachers_school", "school_code"),
        {"sqlite_with_rowid": False},
    )

    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    teacher_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    name_norm: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(1))
    school_code: Mapped[str] = mapped_column(String(32))
    school_name: Mapped[str] = mapped_column(String(128))
    district_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=utcnow)  # as Student's


class Card(Base):
    """An issued e-card. `holder_id_number` is unique: one card per person."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("holder_id_number", name="uq_cards_holder"),
        UniqueConstraint("card_number", name="uq_cards_number"),
        CheckConstraint(_in("path", PATHS), name="ck_cards_path"),
        Index("ix_cards_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_number: Mapped[str] = mapped_column(String(16))
    holder_id_number: Mapped[str] = mapped_column(String(18))
    holder_name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(24))
    identities: Mapped[list[str]] = mapped_column(JSON)
    permissions: Mapped[list[str]] = mapped_column(JSON)
    face_verification: Mapped[bool | None] = mapped_column(Boolean)
    claimed_by_guardian_id: Mapped[str | None] = mapped_column(String(18))
    channel_user: Mapped[str | None] = mapped_column(String(128))
    district_code: Mapped[str | None] = mapped_column(String(6))
    school_code: Mapped[str | None] = mapped_column(String(32))
    school_name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StudentCount(Base):
    """Coverage counts of the 学籍库 (backend/registry/counts.py): one row per
    school, grade, class, stage and district (and school name, which
    coverage shows) of the registry's students of any status. `students`:
    those enrolled; `claimed`: those of them holding a card. Rows whose
    `students` is 0 still tell which schools teach a stage."""

    __tablename__ = "coverage_students"

    school_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    grade: Mapped[str] = mapped_column(String(32), primary_key=True)
    class_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    school_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    students: Mapped[int] = mapped_column(Integer, default=0)
    claimed: Mapped[int] = mapped_column(Integer, default=0)


class TeacherCount(Base):
    """Coverage counts of the 教师库, as StudentCount's: one row per school
    (district, name); `teachers`: the active ones; `claimed`: those of them
    holding a card."""

    __tablename__ = "coverage_teachers"

    school_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    school_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    teachers: Mapped[int] = mapped_column(Integer, default=0)
    claimed: Mapped[int] = mapped_column(Integer, default=0)


# A card inserted (deleted) adds (takes) one to the `claimed` of its holder's
# counts row: the enrolled student's, the active teacher's, or both. A trigger,
# so that every writer of cards (both claim runners, erasure, tests and
# bench/ inserting through the ORM) keeps the counts in the card's own
# transaction; `claimed = claimed + 1` is one atomic row update, never a
# read-modify-write. (A card's holder never changes: UPDATE needs no trigger.)
_COUNT_HOLDER = """
UPDATE coverage_students SET claimed = claimed + {delta}
WHERE (school_code, grade, class_name, stage, district_code, school_name) IN (
    SELECT school_code, grade, class_name, stage, district_code, school_name
    FROM students WHERE id_number = {row}.holder_id_number AND status = 'enrolled'
);
UPDATE coverage_teachers SET claimed = claimed + {delta}
WHERE (school_code, district_code, school_name) IN (
    SELECT school_code, district_code, school_name
    FROM teachers WHERE id_number = {row}.holder_id_number AND status = 'active'
);
"""

CARD_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS cards_counted AFTER INSERT ON cards BEGIN"
        + _COUNT_HOLDER.format(delta=1, row="NEW")
        + "END",
        "CREATE TRIGGER IF NOT EXISTS cards_uncounted AFTER DELETE ON cards BEGIN"
        + _COUNT_HOLDER.format(delta=-1, row="OLD")
        + "END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION cards_count() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        + "IF TG_OP = 'INSERT' THEN"
        + _COUNT_HOLDER.format(delta=1, row="NEW")
        + "ELSE"
        + _COUNT_HOLDER.format(delta=-1, row="OLD")
        + "END IF;\nRETURN NULL;\nEND\n$$",
        "CREATE OR REPLACE TRIGGER cards_counted AFTER INSERT OR DELETE ON cards"
        " FOR EACH ROW EXECUTE FUNCTION cards_count()",
        # TRUNCATE fires no row trigger (SQLite has none: its DELETE fires them).
        "CREATE OR REPLACE FUNCTION cards_truncated() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "UPDATE coverage_students SET claimed = 0 WHERE claimed <> 0;\n"
        "UPDATE coverage_teachers SET claimed = 0 WHERE claimed <> 0;\n"
        "RETURN NULL;\nEND\n$$",
        "CREATE OR REPLACE TRIGGER cards_truncated AFTER TRUNCATE ON cards"
        " FOR EACH STATEMENT EXECUTE FUNCTION cards_truncated()",
    ],
}


def create_card_triggers(connection: Connection) -> None:
    """CARD_TRIGGERS of the connection's database (idempotent): with the
    `cards` table, and by Database.create_schema for databases made before."""
    for sql in CARD_TRIGGERS.get(connection.dialect.name, []):
        connection.exec_driver_sql(sql)


event.listen(Card.__table__, "after_create", lambda _table, connection, **kw: create_card_triggers(connection))


class ProxyClaim(Base):
    """A guardian's claim for a child. The primary key (guardian, slot) with
    slot in 1..3 caps a guardian at three children in the schema itself;
    (guardian, child) is unique so re-claiming a child takes no new slot."""

    __tablename__ = "proxy_claims"
    __table_args__ = (
        UniqueConstraint("guardian_id_number", "child_id_number", name="uq_proxy_pair"),
        CheckConstraint(f"slot BETWEEN 1 AND {MAX_PROXY_CHILDREN}", name="ck_proxy_slot"),
    )

    guardian_id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    child_id_number: Mapped[str] = mapped_column(String(18))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ClaimAttempt(Base):
    """Every claim, refresh or match attempt. Holds no full ID number: a keyed
    hash for look-ups and the masked form for display."""

    __tablename__ = "claim_attempts"
    __table_args__ = (
        # (who, failure_code, time): the rate limit counts recent failures of
        # one user or ID with tight range scans, however many successful
        # attempts that user has; look-ups of the latest attempts use the prefix.
        Index("ix_attempts_user_failure_time", "channel_user", "failure_code", "created_at"),
        Index("ix_attempts_id_failure_time", "id_hash", "failure_code", "created_at"),
        Index("ix_attempts_guardian_failure_time", "guardian_id_hash", "failure_code", "created_at"),
        Index("ix_attempts_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    channel_user: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))  # claim | refresh | match
    path: Mapped[str | None] = mapped_column(String(24))
    id_hash: Mapped[str | None] = mapped_column(String(32))
    id_masked: Mapped[str | None] = mapped_column(String(64))
    name_masked: Mapped[str | None] = mapped_column(String(64))
    guardian_id_hash: Mapped[str | None] = mapped_column(String(32))
    guardian_id_masked: Mapped[str | None] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    failure_code: Mapped[str | None] = mapped_column(String(32))
    card_number: Mapped[str | None] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(6))
    school_code: Mapped[str | None] = mapped_column(String(32))


class Ticket(Base):
    """A hand-over to a human (转人工), linked to the conversation. An agent
    takes it (assigned), replies in the chat (AgentReply), resolves it."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_in("status", TICKET_STATUSES), name="ck_tickets_status"),
        Index("ix_tickets_status_time", "status", "created_at"),
        Index("ix_tickets_user", "channel_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_user: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    assigned_to: Mapped[str | None] = mapped_column(String(64))  # staff username
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    @property
    def number(self) -> str:
        """The number the user is told: T + date (Beijing time, as the user
        and the console see it; stored times are UTC) + id."""
        return f"T{beijing(self.created_at):%Y%m%d}{self.id:05d}"


class AgentReply(Base):
    """A support agent's message to a chat user (answering a ticket); the
    web chat page polls for them."""

    __tablename__ = "agent_replies"
    __table_args__ = (Index("ix_agent_replies_user", "channel_user", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_user: Mapped[str] = mapped_column(String(128))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    staff_username: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# -- support staff console ------------------------------------------------------------


class StaffUser(Base):
    """A staff console account (made with `python -m backend create-staff`).
    `district` and `school` accounts have a scope (backend/campaign/scope.py:
    a county code or city prefix; school codes, comma-separated); support
    accounts have none."""

    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("username", name="uq_staff_username"),
        CheckConstraint(_in("role", STAFF_ROLES), name="ck_staff_role"),
        CheckConstraint(
            f"({_in('role', SUPPORT_ROLES)} AND scope IS NULL)"
            f" OR ({_in('role', SCOPED_ROLES)} AND scope IS NOT NULL AND length(scope) > 0)",
            name="ck_staff_scope",
        ),
        CheckConstraint("role <> 'district' OR length(scope) IN (4, 6)", name="ck_staff_district_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # In every session cookie; raised by logout and by a password reset, so
    # that copies of older cookies stop working at once.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    scope: Mapped[str | None] = mapped_column(Text)


class LoginFailure(Base):
    """A failed staff login, for throttling (per username and per address)."""

    __tablename__ = "staff_login_failures"
    __table_args__ = (
        Index("ix_login_failures_user_time", "username", "created_at"),
        Index("ix_login_failures_remote_time", "remote", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """What a staff member did: login, viewing a transcript, exporting,
    replying... (readable by admins)."""

    __tablename__ = "staff_audit"
    __table_args__ = (Index("ix_staff_audit_time", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    staff_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(String(512))
    remote: Mapped[str | None] = mapped_column(String(64))


class ConversationTag(Base):
    """A label an agent put on a conversation (e.g. "NLU error")."""

    __tablename__ = "conversation_tags"
    __table_args__ = (UniqueConstraint("sender_id", "tag", name="uq_conversation_tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ConversationSummary(Base):
    """One Rasa conversation (tracker sender id), summarised from the tracker
    store's events for the staff console's list and filters. Updated
    incrementally (backend/conversations/index.py): `last_event_id` is the id of the
    newest tracker event applied, so an event is never counted twice."""

    __tablename__ = "conversation_summaries"
    __table_args__ = (
        Index("ix_conv_last_at", "last_at"),
        Index("ix_conv_last_event", "last_event_id"),
        Index("ix_conv_path_last", "path", "last_at"),
        Index("ix_conv_outcome_last", "outcome", "last_at"),
        Index("ix_conv_failure_last", "failure_code", "last_at"),
    )

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime)
    path: Mapped[str | None] = mapped_column(String(32))  # the last role chosen
    outcome: Mapped[str] = mapped_column(String(16), default="open")  # issued | failed | open
    failure_code: Mapped[str | None] = mapped_column(String(32))  # the last failure_reason set
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)  # action_handoff ran
    user_messages: Mapped[int] = mapped_column(Integer, default=0)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
