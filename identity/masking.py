"""Masking of personal data for display and logs."""

from __future__ import annotations

import re

from identity.idnumber import normalise_id
from identity.names import MIDDLE_DOT, normalise_name

# What mask_id makes of an 18-character ID number (a search for one)...
MASKED_ID = re.compile(r"[0-9]{4}\*{10}[0-9X]{4}")
# ...and of the 15 to 20 characters the free-text masker masks, in text.
MASKED_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z*])[0-9]{4}\*{7,12}[0-9Xx]{4}(?![0-9A-Za-z*])")


def mask_id(raw: str) -> str:
    """`3601**********1234` for an 18-character ID; shorter inputs keep
    less, so a mistyped ID never shows more than a valid one would."""
    value = normalise_id(raw)
    n = len(value)
    if n == 0:
        return ""
    if n >= 16:
        keep = 4
    elif n >= 8:
        keep = 2
    else:
        return "*" * n
    return value[:keep] + "*" * (n - 2 * keep) + value[-keep:]


def mask_name(raw: str) -> str:
    """`张*明` style: first and last character kept, the rest masked; a
    two-character name keeps its first character. Middle dots stay."""
    value = normalise_name(raw)
    n = len(value)
    if n <= 1:
        return "*" * n
    if n - value.count(MIDDLE_DOT) <= 2:
        # Two characters (with or without a dot between): show the first only.
        return value[0] + "".join(MIDDLE_DOT if ch == MIDDLE_DOT else "*" for ch in value[1:])
    inner = "".join(MIDDLE_DOT if ch == MIDDLE_DOT else "*" for ch in value[1:-1])
    return value[0] + inner + value[-1]
