"""Masking (everything a staff member sees): free text by the staff policy of
identity/freetext.py (ID numbers, and any run of 15 to 20 digits, spaced or
not, as `3601**********1234`; phone numbers other than the public hotline),
and names partly (`张*明`). Names are masked
where the conversation tells us they are names: the slots person_name and
guardian_name, the entities of those names, and the channel's verified
identity (metadata `realname`); every occurrence of such a name in any text
of the conversation is masked too. A name typed in a message that never
became one of those cannot be recognised reliably and is shown as typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.conversations.events import ID_KEYS, NAME_KEYS, name_spans, replace_spans
from identity import mask_id, mask_name
from identity.freetext import MOBILE, ascii_digits, mask_for_staff
from trust.sealing import is_sealed
from trust.sealing import masked as sealed_masked


class Masker:
    """Masks the texts and values of one conversation for display."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = sorted(set(names), key=len, reverse=True)

    def text(self, value: Any) -> str:
        if value is None:
            return ""
        value = str(value)
        value = replace_spans(value, name_spans(value, self.names), lambda original, _n: mask_name(original))
        return mask_for_staff(value)

    def value(self, key: str | None, value: Any) -> Any:
        """A slot value, an entity value or metadata, masked (same shape)."""
        if isinstance(value, dict):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(key, v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if is_sealed(value):
            return sealed_masked(value)
        if key in NAME_KEYS and isinstance(value, str):
            return mask_name(value)
        if key in ID_KEYS:
            raw = ascii_digits(str(value)).strip()
            return mask_for_staff(raw) if MOBILE.fullmatch(raw) else mask_id(raw)
        return self.text(value)


def describe(value: Any) -> str:
    """A masked value as short text (never raw JSON)."""
    if value is None:
        return "（空）"
    if value is True:
        return "是"
    if value is False:
        return "否"
    if isinstance(value, dict):
        return "；".join(f"{k}: {describe(v)}" for k, v in value.items()) or "（空）"
    if isinstance(value, list):
        return "、".join(describe(v) for v in value) or "（空）"
    return str(value)
