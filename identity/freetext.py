"""The masker of free text, the one policy for text a person typed.

Stored (the tracker store, bot/redaction.py): anything that may be an ID
number is masked. Wider than a valid ID: 15 to 20 digits (a final X
allowed), full-width or half-width, with the spaces and dashes people type
between groups, so an ID with a digit too many or too few is masked as
well. Learning account numbers (12 digits) and phone numbers (11) are
shorter and stay readable.

Shown to staff (transcripts, tickets, the console): the same, and phone
numbers too: mainland mobiles as `138****5678`, landlines as
`0791-****5066`, but the public hotline, which identifies no one.
"""

from __future__ import annotations

import re
import unicodedata

from contract.contacts import HOTLINE
from identity.masking import mask_id

_DIGIT = "[0-9\uff10-\uff19]"
_SEP = "[ \u3000\\-\u2010-\u2015\u2212]?"
ID_LIKE_IN_TEXT = re.compile(
    rf"(?<![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"
    rf"(?:{_DIGIT}{_SEP}){{14,19}}[0-9Xx\uff10-\uff19\uff38\uff58]"
    rf"(?![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"
)


def _masked(match: re.Match[str]) -> str:
    return mask_id(unicodedata.normalize("NFKC", match.group(0)))


def mask_ids_in_text(text: str) -> str:
    """`text` with every ID-like run masked (`3601**********1234`)."""
    if len(text) < 15:
        return text
    return ID_LIKE_IN_TEXT.sub(_masked, text)


def has_id_like(text: str) -> bool:
    return ID_LIKE_IN_TEXT.search(text) is not None


# Full-width digits and X as the ASCII ones (staff read the masked text).
_FULLWIDTH = {c: chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)} | {0xFF38: "X", 0xFF58: "x"}
MOBILE = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?(1[3-9][0-9])[ \-]?([0-9]{4})[ \-]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[0-9]{2,3})[ \-]([0-9]{3,4}[ \-]?[0-9]{4})(?![0-9])")


def ascii_digits(text: str) -> str:
    return text.translate(_FULLWIDTH)


def mask_phones(text: str) -> str:
    """Mobile and landline numbers masked; the hotline stays."""
    text = MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)

    def landline(m: re.Match[str]) -> str:
        digits = re.sub(r"[ \-]", "", m.group(2))
        if f"{m.group(1)}-{digits}" == HOTLINE:
            return m.group(0)
        return f"{m.group(1)}-****{digits[-4:]}"

    return _LANDLINE.sub(landline, text)


def mask_for_staff(text: str) -> str:
    """Free text as staff see it: ID-like runs and phone numbers masked."""
    return mask_phones(mask_ids_in_text(ascii_digits(text)))
