"""Resident identity card numbers, GB 11643-1999.

18 characters: 6-digit area code, 8-digit birth date, 3-digit sequence
(odd for men, even for women), and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from operator import mul
from typing import NamedTuple

from contract import beijing

_WEIGHTS = bytes(pow(2, 17 - i, 11) for i in range(17))
_ASCII_ZERO_TOTAL = ord("0") * sum(_WEIGHTS)
_CHECK_CHARS = "10X98765432"
# The one pattern of an ID number in canonical form: 17 digits and a check
# character. Every other pattern of an ID number is built from it (a typed
# one may have a lower-case x: compile with re.IGNORECASE).
ID_PATTERN = "[0-9]{17}[0-9X]"
ID_SHAPE = re.compile(ID_PATTERN, re.ASCII)
_BODY = re.compile(ID_PATTERN + r"\Z", re.ASCII)
# Spaces and the dashes people type inside an ID number (after NFKC).
SEPARATOR_CHARS = r"\s\-\u2010-\u2015\u2212_"
_SEPARATORS = re.compile(f"[{SEPARATOR_CHARS}]+")

# First two digits: provinces, autonomous regions, municipalities, and the
# codes used for Hong Kong, Macau and Taiwan residence permits.
PROVINCE_CODES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    }
)

_SAFE_YEAR = beijing.today().year - 1  # births before this year are in the past

# Reason codes of a failed check; the dialogue turns each into a sentence.
REASON_EMPTY = "empty"
REASON_LENGTH = "length"
REASON_CHARACTERS = "characters"
REASON_AREA = "area"
REASON_BIRTH_DATE = "birth_date"
REASON_CHECKSUM = "checksum"


class IdCheck(NamedTuple):
    """Outcome of validating one ID number input (a tuple: cheap to make)."""

    normalised: str
    problem: str | None = None
    birth_date: _dt.date | None = None
    gender: str | None = None  # "M" / "F"

    @property
    def ok(self) -> bool:
        return self.problem is None


def normalise_id(raw: str) -> str:
    """Full-width to half-width, separators removed, upper-case X."""
    text = unicodedata.normalize("NFKC", raw or "")
    return _SEPARATORS.sub("", text).upper()


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 ASCII digits."""
    # Sum over the ASCII codes, minus the codes' share: no int() per digit
    # (this runs for every row of a ten-million-row import).
    total = sum(map(mul, first17.encode("ascii"), _WEIGHTS)) - _ASCII_ZERO_TOTAL
    return _CHECK_CHARS[total % 11]


def validate_id(raw: str, today: _dt.date | None = None) -> IdCheck:
    if raw.__class__ is str and len(raw) == 18 and _BODY.match(raw):
        value = raw  # fast path: registry files hold canonical IDs already
    else:
        value = normalise_id(raw)
        if not value:
            return IdCheck(value, REASON_EMPTY)
        if len(value) != 18:
            return IdCheck(value, REASON_LENGTH)
        if not _BODY.match(value):
            return IdCheck(value, REASON_CHARACTERS)
    if value[:2] not in PROVINCE_CODES or value[2:6] == "0000":
        return IdCheck(value, REASON_AREA)
    try:
        born = _dt.date.fromisoformat(f"{value[6:10]}-{value[10:12]}-{value[12:14]}")
    except ValueError:
        return IdCheck(value, REASON_BIRTH_DATE)
    if today is None and born.year < _SAFE_YEAR:
        today = born  # surely in the past: spare the clock call (hot in imports)
    if born.year < 1900 or born > (today or beijing.today()):
        return IdCheck(value, REASON_BIRTH_DATE)
    if check_char(value[:17]) != value[17]:
        return IdCheck(value, REASON_CHECKSUM)
    gender = "M" if int(value[16]) % 2 else "F"
    return IdCheck(value, None, born, gender)
