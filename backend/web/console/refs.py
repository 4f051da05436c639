"""How the staff console names a conversation.

A conversation is named by its opaque reference `ref` (conversation_ref):
never by its id (Rasa's sender) in URLs, links, pages, downloads or audit
rows, so nothing the console shows lets anyone act as the chat's browser
(a web chat's id is derived from its cookie and is no credential either:
backend/web/chat_page.py). Pages show its first characters as a label.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from backend.web.console.urls import CONVERSATIONS

LABEL_CHARS = 12


@functools.lru_cache(maxsize=4)
def _siv(secret: str) -> AESSIV:
    return AESSIV(hmac.new(secret.encode(), b"staff-conversation-ref", hashlib.sha256).digest())


def conversation_ref(secret: str, sender_id: str) -> str:
    """The opaque reference of a conversation in the console's URLs, links,
    pages and audit rows: its id encrypted (AES-SIV: deterministic, so one
    conversation always has the same reference; authenticated, so a forged
    or altered one names nothing) with a key derived from
    BACKEND_SESSION_SECRET. Nobody without the secret learns the id from it."""
    sealed = _siv(secret).encrypt(sender_id.encode("utf-8"), None)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def sender_of_ref(secret: str, ref: str) -> str | None:
    """The conversation a reference names, or None (forged, altered, of another secret)."""
    if not 24 <= len(ref) <= 1024 or not ref.isascii():
        return None
    try:
        sealed = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))
        return _siv(secret).decrypt(sealed, None).decode("utf-8")
    except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
        return None


def ref_label(ref: str) -> str:
    """How pages name a conversation: the first characters of its reference."""
    return ref[:LABEL_CHARS]


_REF_IN_URL = re.compile(re.escape(CONVERSATIONS) + r"/([A-Za-z0-9_-]+)")


def ref_in(q: str) -> str:
    """A reference, also when the address of the conversation's page is pasted."""
    m = _REF_IN_URL.search(q)
    return m.group(1) if m else q
