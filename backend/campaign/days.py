"""Beijing days in SQL: the campaign's figures by day (the dashboard's
charts, the bulletin's trend). Times are stored as naive UTC; a day is a
Beijing day (UTC+8), so the timestamp is shifted before taking its date,
in each database's own syntax."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, cast, func, literal_column
from sqlalchemy.types import Interval

from contract import beijing as clock


def day_bucket(column: Any, dialect: str) -> Any:
    """The Beijing date of a naive-UTC timestamp column, in SQL (literal
    offsets, so GROUP BY repeats the very same expression)."""
    if dialect == "sqlite":
        return func.date(column, literal_column(f"'+{clock.UTC_OFFSET_HOURS} hours'"))
    return cast(column + literal_column(f"INTERVAL '{clock.UTC_OFFSET_HOURS} hours'", Interval()), Date)


def as_day(value: Any) -> str:
    """A day_bucket value as YYYY-MM-DD: SQLite gives text, PostgreSQL a date."""
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]
