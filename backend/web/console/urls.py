"""Where the staff console lives: its prefix and the addresses its pages
link to one another by. The console registers its routes under PREFIX and
its JSON answers under API_PREFIX (backend/web/errors.py); no other part of
the backend names them."""

from __future__ import annotations

from urllib.parse import quote

PREFIX = "/staff"
API_PREFIX = PREFIX + "/api/"
LOGIN = PREFIX + "/login"
TICKETS = PREFIX + "/tickets"
CONVERSATIONS = PREFIX + "/conversations"
DASHBOARD = PREFIX + "/dashboard"
API_LOGIN = API_PREFIX + "login"
API_COVERAGE = API_PREFIX + "coverage"
COVERAGE_EXPORT = DASHBOARD + "/coverage"  # ?format=csv|xlsx
BULLETIN = PREFIX + "/campaign/bulletin"  # ?unit=36|3601|360102&format=html|pdf|xlsx
FIXES = PREFIX + "/fixes"  # records to fix (?school=&state=)
FIXES_EXPORT = FIXES + ".csv"
NOT_CLAIMED = PREFIX + "/campaign/not-claimed"  # ?school=&grade=&class=&page=
NOT_CLAIMED_EXPORT = NOT_CLAIMED + "/export"  # ?format=csv|xlsx&school=&grade=&class=
API_NOT_CLAIMED = API_PREFIX + "not-claimed"  # ?unit=&kind=&page=


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def not_claimed_href(unit: str, base: str = NOT_CLAIMED) -> str:
    """Who has not claimed in a unit (a coverage code: SCHOOL, SCHOOL/GRADE, SCHOOL/GRADE/CLASS)."""
    names = ("school", "grade", "class")
    parts = unit.split("/")[:3]
    return base + "?" + "&".join(f"{n}={quote(p, safe='')}" for n, p in zip(names, parts, strict=False))


def conversation_href(ref: str, suffix: str = "") -> str:
    """A conversation's page (by its opaque reference, refs.py), or one of its actions."""
    return f"{CONVERSATIONS}/{ref}{suffix}"


def ticket_href(ticket_id: int | str, suffix: str = "") -> str:
    """A ticket's page (or one of its actions); a pattern such as {ticket_id:\\d+} names the route."""
    return f"{TICKETS}/{ticket_id}{suffix}"
