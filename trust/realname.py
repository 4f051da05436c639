"""The channel's verified real name: a JWT signed by the mini-program's own
server (ES256), verified with that server's public key.

The mini-program's server knows who its user is (实名认证 in the app) and
signs `{"name", "id_number", "aud", "iat", "exp"[, "sub"]}` with its private
key; the assistant holds only the public key (REALNAME_PUBLIC_KEY, PEM, or
REALNAME_PUBLIC_KEY_FILE). A token is accepted only when its signature,
algorithm, audience and lifetime check out, its identity is well formed,
and, when it names a conversation (`sub`), it is that conversation's.
Anything else is ignored: it fills nothing and proves nothing.

Outside production, `make run` makes a development key pair in var/secrets/
(ensure_dev_keys), `python -m backend sign-realname` signs with it as the
mini-program's server would, and production refuses its public key.

Python 3.10 and 3.11 (the Rasa server verifies; the backend signs): PyJWT
with cryptography, in both environments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.idnumber import validate_id
from identity.names import check_name
from trust.secrets import DEV_SECRETS_DIR, REALNAME_PUBLIC_KEY, SecretError, configured, private_file, production

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
AUDIENCE = "xuexihao-assistant"
# A token is meant for the next message, not to be kept: the signer gives it
# 15 minutes, and the verifier refuses one that claims to live longer than a day.
DEFAULT_TTL_S = 15 * 60
MAX_LIFETIME_S = 24 * 3600
LEEWAY_S = 30
MAX_TOKEN_CHARS = 4096
DEV_PRIVATE_KEY = DEV_SECRETS_DIR / "realname-dev.key"
DEV_PUBLIC_KEY = DEV_SECRETS_DIR / "realname-dev.pub"


@dataclass(frozen=True)
class RealName:
    """A verified identity: the name and ID number the token was signed for."""

    name: str
    id_number: str


def ensure_dev_keys(folder: Path = DEV_SECRETS_DIR) -> tuple[Path, Path]:
    """The development key pair (made when missing, owner-only files)."""
    private, public = folder / DEV_PRIVATE_KEY.name, folder / DEV_PUBLIC_KEY.name
    if not (private.exists() and public.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        private_file(
            private,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        private_file(
            public,
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        )
    return private, public


def _public_der(pem: str) -> bytes | None:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def is_development_key(pem: str) -> bool:
    """Whether this public key is the development one of this checkout."""
    if not DEV_PUBLIC_KEY.exists():
        return False
    mine = _public_der(pem)
    return mine is not None and mine == _public_der(DEV_PUBLIC_KEY.read_text(encoding="utf-8"))


def public_key(env: Mapping[str, str] | None = None) -> str:
    """The verifying key (PEM): configured, or outside production the
    development key (made when missing)."""
    value = configured(REALNAME_PUBLIC_KEY, env)
    if value is None:
        if production(env):
            raise SecretError(
                f"ERROR: APP_ENV=production and {REALNAME_PUBLIC_KEY} is not set (nor {REALNAME_PUBLIC_KEY}_FILE)"
            )
        return ensure_dev_keys()[1].read_text(encoding="utf-8")
    if _public_der(value) is None:
        raise SecretError(f"ERROR: {REALNAME_PUBLIC_KEY} is not a PEM public key")
    return value


def dev_private_key(env: Mapping[str, str] | None = None) -> str:
    """The development signing key; refused in production, where only the
    mini-program's own server signs."""
    if production(env):
        raise SecretError(
            "ERROR: APP_ENV=production: real-name tokens are signed by the mini-program's server, not here"
        )
    return ensure_dev_keys()[0].read_text(encoding="utf-8")


def sign(
    private_pem: str,
    name: str,
    id_number: str,
    ttl_s: int = DEFAULT_TTL_S,
    audience: str = AUDIENCE,
    subject: str | None = None,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "name": name,
        "id_number": id_number,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if subject is not None:
        claims["sub"] = subject
    return jwt.encode(claims, private_pem, algorithm=ALGORITHM)


def verify(
    token: Any, public_pem: str, sender: str | None = None, audience: str = AUDIENCE, now: float | None = None
) -> RealName | None:
    """The identity a valid token carries, or None (the reason logged,
    never the token or its content)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        log.info("real-name token ignored: not a token of at most %d characters", MAX_TOKEN_CHARS)
        return None
    try:
        claims = jwt.decode(
            token,
            public_pem,
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "aud"]},
        )
    except jwt.PyJWTError as exc:
        log.info("real-name token ignored: %s", type(exc).__name__)
        return None
    current = time.time() if now is None else now
    if (
        not isinstance(claims.get("iat"), (int, float))
        or claims["iat"] > current + LEEWAY_S
        or claims["exp"] - claims["iat"] > MAX_LIFETIME_S
    ):
        log.info("real-name token ignored: lifetime out of bounds")
        return None
    if "sub" in claims and claims["sub"] != sender:
        log.info("real-name token ignored: signed for another conversation")
        return None
    name, id_number = claims.get("name"), claims.get("id_number")
    if not isinstance(name, str) or not isinstance(id_number, str):
        log.info("real-name token ignored: no name or ID number")
        return None
    clean_name, problem = check_name(name)
    checked = validate_id(id_number)
    if problem or not checked.ok:
        log.info("real-name token ignored: malformed identity")
        return None
    return RealName(clean_name, checked.normalised)
