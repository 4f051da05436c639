"""Signed values of the staff console (session and login cookies, CSRF
tokens): HMAC-SHA256 with BACKEND_SESSION_SECRET, per purpose, with a
timestamp checked against a maximum age."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(secret: str, purpose: str, data: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{purpose}\0{data}".encode(), hashlib.sha256).digest())


def sign(secret: str, purpose: str, payload: dict[str, Any]) -> str:
    data = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{data}.{mac(secret, purpose, data)}"


def unsign(secret: str, purpose: str, value: str, max_age: int) -> dict[str, Any] | None:
    """The payload of a signed value, or None when forged, malformed or expired."""
    data, _, given = value.partition(".")
    if not data or not given or not hmac.compare_digest(given, mac(secret, purpose, data)):
        return None
    try:
        payload = json.loads(_unb64(data))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), int):
        return None
    if not 0 <= time.time() - payload["t"] <= max_age:
        return None
    return payload
