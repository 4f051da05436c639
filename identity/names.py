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
from typing import Dict, Optional

MIDDLE_DOT = "\u00b7"
# Middle-dot look-alikes seen in minority names (after NFKC): bullet, katakana
# middle dot, full stop, hyphenation point, dot operators, small dots.
_DOT_VARIANTS = "\u2022\u30fb\uff65.\u2027\u2219\u22c5\u0387\u16eb\u2e31\u00b7\uff0e\u318d\u119e\u30fb\u2024"
_DOTS = re.compile("[" + re.escape(_DOT_VARIANTS) + "]+")
_SPACES = re.compile(r"\s+")
# CJK unified ideographs (basic, extension A, B-F, compatibility) and the dot.
_NAME_CHARS = re.compile(
    "^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
    + MIDDLE_DOT
    + "]+$"
)
MAX_NAME_LENGTH = 30

NAME_EMPTY = "empty"
NAME_CHARACTERS = "characters"
NAME_TOO_SHORT = "too_short"
NAME_TOO_LONG = "too_long"
NAME_DOTS = "dots"


@lru_cache(maxsize=1)
def _t2s_table() -> Dict[int, str]:
    """Character table Traditional -> Simplified from OpenCC's dictionary."""
    import opencc  # opencc-python-reimplemented: ships the dictionaries

    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    table: Dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and len(parts[0]) == 1:
                target = parts[1].split(" ")[0]
                if len(target) == 1 and target != parts[0]:
                    table[ord(parts[0])] = target
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
    value = unicodedata.normalize("NFKC", raw or "")
    value = _SPACES.sub("", value)
    value = _DOTS.sub(MIDDLE_DOT, value)
    return to_simplified(value)


def name_problem(raw: str) -> Optional[str]:
    """None when the input is a plausible name, else a reason code."""
    value = normalise_name(raw)
    if not value:
        return NAME_EMPTY
    if len(value) > MAX_NAME_LENGTH:
        return NAME_TOO_LONG
    if not _NAME_CHARS.match(value):
        return NAME_CHARACTERS
    if value.startswith(MIDDLE_DOT) or value.endswith(MIDDLE_DOT) or MIDDLE_DOT * 2 in value:
        return NAME_DOTS
    if len(value.replace(MIDDLE_DOT, "")) < 2:
        return NAME_TOO_SHORT
    return None
