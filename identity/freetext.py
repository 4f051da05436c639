"""The masker of free text: anything that may be an ID number, wherever a
person typed it, masked before the text is stored.

Wider than a valid ID: 15 to 20 digits (a final X allowed), full-width or
half-width, with the spaces and dashes people type between groups, so an
ID with a digit too many or too few is masked as well. Learning account
numbers (12 digits) and phone numbers (11) are shorter and stay readable.
"""
from __future__ import annotations

import re
import unicodedata

from identity.masking import mask_id

_DIGIT = "[0-9\uff10-\uff19]"
_SEP = "[ \u3000\\-\u2010-\u2015\u2212]?"
ID_LIKE_IN_TEXT = re.compile(
    rf"(?<![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"
    rf"(?:{_DIGIT}{_SEP}){{14,19}}[0-9Xx\uff10-\uff19\uff38\uff58]"
    rf"(?![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"
)


def _masked(match: "re.Match[str]") -> str:
    return mask_id(unicodedata.normalize("NFKC", match.group(0)))


def mask_ids_in_text(text: str) -> str:
    """`text` with every ID-like run masked (`3601**********1234`)."""
    if len(text) < 15:
        return text
    return ID_LIKE_IN_TEXT.sub(_masked, text)


def has_id_like(text: str) -> bool:
    return ID_LIKE_IN_TEXT.search(text) is not None
