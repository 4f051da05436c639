"""Chinese personal names: normalisation before matching, plausibility.

Registry names and typed names go through the same `normalise_name`, so a
name typed in Traditional characters, with full-width letters or another
middle-dot variant, matches the registry's record.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import lru_cache

MIDDLE_DOT = "\u00b7"
# Middle-dot look-alikes seen in minority names (after NFKC): bullet, katakana
# middle dot, full stop, hyphenation point, dot operators, small dots.
_DOT_VARIANTS = "\u2022\u30fb\uff65.\u2027\u2219\u22c5\u0387\u16eb\u2e31\u00b7\uff0e\u318d\u119e\u2024"
_DOTS = re.compile("[" + re.escape(_DOT_VARIANTS) + "]")
_SPACES = re.compile(r"\s+")
_NEEDS_CLEANING = re.compile(r"\s|[" + re.escape(_DOT_VARIANTS.replace(MIDDLE_DOT, "")) + "]")
# CJK unified ideographs (basic, extension A, B-F, compatibility) and the dot.
_NAME_CHARS = re.compile("^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f" + MIDDLE_DOT + "]+$")
MAX_NAME_LENGTH = 30

NAME_EMPTY = "empty"
NAME_CHARACTERS = "characters"
NAME_TOO_SHORT = "too_short"
NAME_TOO_LONG = "too_long"
NAME_DOTS = "dots"


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character table Traditional -> Simplified from OpenCC's dictionary."""
    import opencc  # opencc-python-reimplemented: ships the dictionaries

    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    table: dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and len(parts[0]) == 1:
                target = parts[1].split(" ")[0]
                if len(target) == 1 and target != parts[0]:
                    table[ord(parts[0])] = target
    # Resolve chains (薴 -> 苧 -> 苎) so one translate() pass is final.
    for key, target in table.items():
        seen = {key}
        while ord(target) in table and ord(target) not in seen:
            seen.add(ord(target))
            target = table[ord(target)]
        table[key] = target
    return table


def to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def normalise_text(text: str) -> str:
    """Normalise free text for understanding: NFKC (full-width to
    half-width), Traditional to Simplified, middle-dot variants between
    CJK characters to the standard middle dot."""
    value = to_simplified(unicodedata.normalize("NFKC", text or ""))
    return re.sub(
        r"(?<=[\u3400-\u9fff])\s*[" + re.escape(_DOT_VARIANTS) + r"]\s*(?=[\u3400-\u9fff])",
        MIDDLE_DOT,
        value,
    )


def normalise_name(raw: str) -> str:
    """Canonical form of a name, for matching and storage of the match key."""
    value = raw or ""
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    if _NEEDS_CLEANING.search(value):
        value = _DOTS.sub(MIDDLE_DOT, _SPACES.sub("", value))
    return value.translate(_t2s_table())


def check_name(raw: str) -> tuple[str, str | None]:
    """The normalised name, and None when it is plausible or a reason code."""
    value = normalise_name(raw)
    if not value:
        return value, NAME_EMPTY
    if len(value) > MAX_NAME_LENGTH:
        return value, NAME_TOO_LONG
    if not _NAME_CHARS.match(value):
        return value, NAME_CHARACTERS
    if value[0] == MIDDLE_DOT or value[-1] == MIDDLE_DOT or MIDDLE_DOT * 2 in value:
        return value, NAME_DOTS
    if len(value) - value.count(MIDDLE_DOT) < 2:
        return value, NAME_TOO_SHORT
    return value, None


def name_problem(raw: str) -> str | None:
    """None when the input is a plausible name, else a reason code."""
    return check_name(raw)[1]


_NLU_DOTS = re.compile(r"(?<=[\u3400-\u9fff])[\u2022\u30fb\uff65\u2027\u2219\u22c5\uff0e](?=[\u3400-\u9fff])")


@lru_cache(maxsize=1)
def _nlu_table() -> dict[int, str]:
    """One character to one character: full-width ASCII and the ideographic
    space to ASCII, Traditional to Simplified."""
    table = dict(_t2s_table())
    table.update({c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)})
    table[0x3000] = " "
    return table


def normalise_for_nlu(text: str) -> str:
    """Normalise a chat message for understanding without changing its
    length, so entity offsets found in the result hold for the original:
    full-width to half-width, Traditional to Simplified, and middle-dot
    look-alikes between Chinese characters to the middle dot (an ASCII "."
    stays: people end sentences with it)."""
    return _NLU_DOTS.sub(MIDDLE_DOT, (text or "").translate(_nlu_table()))
