"""Between the claim operations and the SQL: which statement runs an
operation, its parameters by name, and its row read by name into the
result the flow expects. Shared by both runners; the drivers' rows (sqlite3.Row,
asyncpg.Record) are both read by column name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from backend.claims import statements as sql
from backend.claims.operations import (
    FindCard,
    Gate,
    GateResult,
    HasProxyClaim,
    InsertCard,
    LogAttempt,
    Op,
    RecentFailures,
    TakeProxySlot,
    UpdateCard,
)
from backend.claims.records import Attempt, CardRec, Person, StudentRec, TeacherRec

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Row = Mapping[str, Any]
ParseTime = Callable[[Any], dt.datetime]
T = TypeVar("T", bound="DataclassInstance")

STATEMENTS: dict[type, str] = {
    RecentFailures: sql.RECENT_FAILURES,
    Gate: sql.GATE,
    FindCard: sql.FIND_CARD,
    HasProxyClaim: sql.HAS_PROXY_CLAIM,
    TakeProxySlot: sql.TAKE_PROXY_SLOT,
    InsertCard: sql.INSERT_CARD,
    UpdateCard: sql.UPDATE_CARD,
    LogAttempt: sql.LOG_ATTEMPT,
}
# Operations whose statement returns no row.
WRITES_ONLY = (UpdateCard, LogAttempt)


def parameters(op: Op) -> dict[str, Any]:
    """The named parameters of an operation's statement."""
    if isinstance(op, Gate):
        return {**parameters(op.failures), "id_number": op.id_number}
    if isinstance(op, (InsertCard, UpdateCard)):
        values = _fields(op.card if isinstance(op, InsertCard) else op)
        values["identities"] = json.dumps(values["identities"])
        values["permissions"] = json.dumps(values["permissions"])
        return values
    if isinstance(op, LogAttempt):
        return _fields(op.attempt)
    return _fields(op)


def attempt_parameters(attempt: Attempt) -> dict[str, Any]:
    """An attempt's parameters in INSERT_CARD_LOGGED (`:attempt_*`)."""
    return {f"attempt_{name}": value for name, value in _fields(attempt).items()}


def result(op: Op, row: Row | None, parse_time: ParseTime) -> Any:
    """What the flow receives for an operation, from its row (or None)."""
    if isinstance(op, Gate):
        assert row is not None
        return GateResult(
            row["recent"],
            Person(_record(StudentRec, row, "student_"), _record(TeacherRec, row, "teacher_"), card(row, parse_time)),
        )
    if isinstance(op, RecentFailures):
        assert row is not None
        return row["recent"]
    if isinstance(op, (FindCard, InsertCard)):
        return None if row is None else card(row, parse_time)
    if isinstance(op, (HasProxyClaim, TakeProxySlot)):
        return row is not None
    return None


def card(row: Row, parse_time: ParseTime) -> CardRec | None:
    """A `cards` row (None: the LEFT JOIN found none). JSON lists are text
    on SQLite and PostgreSQL alike (the column is SQLAlchemy's JSON);
    SQLite holds booleans as 0/1 and times as text."""
    if row["id"] is None:
        return None
    values = {f.name: row[f.name] for f in dataclasses.fields(CardRec)}
    values["identities"] = json.loads(values["identities"])
    values["permissions"] = json.loads(values["permissions"])
    if values["face_verification"] is not None:
        values["face_verification"] = bool(values["face_verification"])
    values["created_at"] = parse_time(values["created_at"])
    values["updated_at"] = parse_time(values["updated_at"])
    return CardRec(**values)


def _record(cls: type[T], row: Row, prefix: str) -> T | None:
    """A registry record from its `prefix`ed columns (None: no such record;
    name_norm is never null in the registry)."""
    if row[prefix + "name_norm"] is None:
        return None
    return cls(**{f.name: row[prefix + f.name] for f in dataclasses.fields(cls)})


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields by name (shallow, unlike dataclasses.asdict)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
