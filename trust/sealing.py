"""ID numbers sealed in the conversation: what the tracker store keeps of
the ID slots and of the verified real name.

The slots `id_number` and `guardian_id_number` (../shared/CONTRACT.md) hold
a sealed reference, never the number itself: `idref:3601**********1234:…`,
the masked number (what any page may show) and the number encrypted with
AES-SIV under ID_SEAL_KEY. Only the action server, which must send the
number to the backend and show it to the person who typed it, opens it
(actions/sealing.py); the Rasa server seals the verified real name's
number as it reads the token (bot/channels.py). Conversations in the
tracker store, its HTTP API and anything copied from them (transcripts,
exports, backups) hold no full ID number: without the key a reference is
the masked number. AES-SIV is deterministic, so one number always seals to
the same reference: a slot that did not change does not look changed.

Standard library and `cryptography` (both Python 3.10 and 3.11 venvs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from identity.masking import mask_id
from trust import secrets

PREFIX = "idref:"
SEALED_SLOTS = ("id_number", "guardian_id_number")
_CONTEXT = b"xuexihao-id-seal-v1"


@lru_cache(maxsize=4)
def _cipher(key: str) -> AESSIV:
    return AESSIV(hmac.new(key.encode(), _CONTEXT, hashlib.sha256).digest())


def _key(key: str | None) -> str:
    return key if key is not None else secrets.secret(secrets.ID_SEAL_KEY)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(value: Any, key: str | None = None) -> Any:
    """A reference for the ID number `value`; anything else (None, a
    reference already) is returned as it is."""
    if not isinstance(value, str) or not value or is_sealed(value):
        return value
    sealed = _cipher(_key(key)).encrypt(value.encode(), [_CONTEXT])
    return f"{PREFIX}{mask_id(value)}:{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def unseal(value: Any, key: str | None = None) -> Any:
    """The ID number a reference stands for. A value that is no reference
    is returned as it is; a reference this key did not make opens to None
    (the slot is then asked again, as if it were empty)."""
    if not is_sealed(value):
        return value
    token = value.rsplit(":", 1)[-1]
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _cipher(_key(key)).decrypt(data, [_CONTEXT]).decode()
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return None


def masked(value: Any) -> str:
    """What a page shows of an ID slot's value, sealed or not."""
    if is_sealed(value):
        return str(value)[len(PREFIX) :].split(":", 1)[0]
    return mask_id(str(value)) if value else ""
