"""Beijing time, the time of every date and time a person reads.

China has one time zone and no daylight saving time. The databases store
naive UTC; pages, reports, the console's day filters and ticket numbers
speak Beijing time.
"""

from __future__ import annotations

import datetime as dt

UTC_OFFSET_HOURS = 8
BEIJING = dt.timezone(dt.timedelta(hours=UTC_OFFSET_HOURS), "Asia/Shanghai")


def beijing(utc: dt.datetime) -> dt.datetime:
    """A time (naive means UTC, as stored) in Beijing time."""
    return (utc if utc.tzinfo else utc.replace(tzinfo=dt.timezone.utc)).astimezone(BEIJING)


def day_start_utc(day: dt.date) -> dt.datetime:
    """The naive UTC time at which a Beijing day starts."""
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.timezone.utc).replace(tzinfo=None)


def today() -> dt.date:
    """Today's date in Beijing."""
    return dt.datetime.now(BEIJING).date()
