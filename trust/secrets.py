"""The secrets every service knows by name, their development defaults, and
production mode (../shared/CONTRACT.md).

A secret is read from its variable, or from the file its `NAME_FILE`
variable names (the form secret stores and systemd credentials use). With
`APP_ENV=production` every service refuses to start while any secret is
unset or at its development default, naming the variable; outside
production the development defaults fill what is unset, so `make run`
works on a fresh machine.

Imported by the backend, the action server and the Rasa server (Python 3.10
and 3.11): standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Development keys and tokens made on this machine by `make run` (owner only).
DEV_SECRETS_DIR = ROOT / "var" / "secrets"

BACKEND_SERVICE_TOKEN = "BACKEND_SERVICE_TOKEN"
BACKEND_SESSION_SECRET = "BACKEND_SESSION_SECRET"
BACKEND_ID_HASH_KEY = "BACKEND_ID_HASH_KEY"
RASA_AUTH_TOKEN = "RASA_AUTH_TOKEN"
ACTION_SERVER_TOKEN = "ACTION_SERVER_TOKEN"
REALNAME_PUBLIC_KEY = "REALNAME_PUBLIC_KEY"
# Seals ID numbers kept in conversations (trust/sealing.py): the Rasa server
# and the action server.
ID_SEAL_KEY = "ID_SEAL_KEY"

# Development defaults: public knowledge, so refused in production. The
# real-name key has none: its development key pair is made per machine
# (trust/realname.py) and refused in production by its fingerprint.
DEV_DEFAULTS: dict[str, str] = {
    BACKEND_SERVICE_TOKEN: "dev-service-token",
    BACKEND_SESSION_SECRET: "dev-session-secret",
    BACKEND_ID_HASH_KEY: "dev-id-hash-key",
    RASA_AUTH_TOKEN: "dev-rasa-token",
    ACTION_SERVER_TOKEN: "dev-action-token",
    ID_SEAL_KEY: "dev-id-seal-key",
}
ALL_SECRETS = (*DEV_DEFAULTS, REALNAME_PUBLIC_KEY)


class SecretError(SystemExit):
    """A service must not start: the message names the variable."""


def production(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("APP_ENV", "").strip().lower() == "production"


def configured(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret as configured (its variable, else the file `NAME_FILE`
    names), or None when neither is set."""
    env = os.environ if env is None else env
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"ERROR: {name}_FILE names {path!r}, which cannot be read ({exc.strerror})") from None
        return text or None
    return None


def secret(name: str, env: Mapping[str, str] | None = None) -> str:
    """The secret to use: the configured one, else (outside production) its
    development default."""
    value = configured(name, env)
    if value is None:
        if production(env):
            raise SecretError(f"ERROR: APP_ENV=production and {name} is not set (nor {name}_FILE)")
        return DEV_DEFAULTS[name]
    return value


def refuse_development_secrets(env: Mapping[str, str] | None = None, service: str = "this service") -> None:
    """In production: raise SecretError naming the first secret that is
    unset or at its development default. Outside production: nothing."""
    if not production(env):
        return
    for name in ALL_SECRETS:
        value = configured(name, env)
        if value is None:
            raise SecretError(
                f"ERROR: {service} will not start: APP_ENV=production and {name} is not set (nor {name}_FILE)"
            )
        if value == DEV_DEFAULTS.get(name):
            raise SecretError(
                f"ERROR: {service} will not start: APP_ENV=production and {name} is the development default"
            )
    from trust import realname  # the public key's own check (cryptography, imported only here)

    if realname.is_development_key(configured(REALNAME_PUBLIC_KEY, env) or ""):
        raise SecretError(
            f"ERROR: {service} will not start: APP_ENV=production and {REALNAME_PUBLIC_KEY} "
            f"is the development key made by `make run`"
        )


def private_file(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.parent.chmod(0o700)
    except OSError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)
