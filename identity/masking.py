"""Masking of personal data for display and logs."""
from __future__ import annotations

from identity.idnumber import normalise_id
from identity.names import MIDDLE_DOT, normalise_name


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
