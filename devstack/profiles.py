"""The two profiles and their settings, from the environment (defaults in
brackets):

- default (`make run`): the backend on BACKEND_PORT [8080] with SQLite, one
  action server on ACTION_PORT [5055], one Rasa server on RASA_PORT [5005]
  with an SQLite tracker store and an in-memory lock store.
- scaled (`make run-scaled`, `python -m devstack --scaled`): the backend on
  PostgreSQL (BACKEND_DATABASE_URL [postgresql://postgres@127.0.0.1:5432/
  xuexihao]); RASA_INSTANCES [2] Rasa servers and ACTION_INSTANCES [2]
  action servers behind nginx, which listens on RASA_PORT and ACTION_PORT
  and passes each request to any instance (members on RASA_MEMBER_PORTS
  [5105,5106...] and ACTION_MEMBER_PORTS [5155,5156...]); the tracker store
  on PostgreSQL (TRACKER_HOST [127.0.0.1], TRACKER_DB [xuexihao_tracker],
  TRACKER_USER [postgres], port 5432), the lock store on Redis
  (LOCK_STORE_TYPE [bot.lock_store.AtomicRedisLockStore], LOCK_STORE_HOST,
  _PORT, _DB [127.0.0.1, 6379, 1]); each Rasa process's SQL pool is
  SQL_POOL_SIZE [5] + SQL_MAX_OVERFLOW [5] connections (Rasa's own default,
  50 + 100, would exhaust PostgreSQL's 100 connections with two processes).
  Missing databases are created; a new backend database gets the demo
  registry of var/demo/ (devstack/databases.py).

Either way every service listens on 127.0.0.1 (BACKEND_HOST, ACTION_HOST,
RASA_HOST; nginx on RASA_HOST and ACTION_HOST), Rasa's HTTP API needs
RASA_AUTH_TOKEN, the action server answers only requests carrying
ACTION_SERVER_TOKEN (endpoints.yml sends it), and the real-name tokens are
verified with REALNAME_PUBLIC_KEY(_FILE). Outside production each falls
back to its development default (trust/secrets.py; the real-name key pair
is made in var/secrets/ when missing); APP_ENV=production refuses to start
with any secret unset or at its development default.

Either way: RASA_MODEL [models/xuexihao.tar.gz], the backend's BACKEND_*
variables, and in each Rasa process TRACKER_CACHE_SIZE [500] conversations
kept in memory by bot.tracker_store.CachedSQLTrackerStore and
NLU_CACHE_SIZE [4096] parses of repeated texts (bot/patches/nlu_cache.py);
0 turns either off. The scaled profile also runs the retention purge every
PURGE_INTERVAL_HOURS [24] hours (devstack/supervise.py).
"""

from __future__ import annotations

import os

from devstack.databases import private_var, tracker_url
from devstack.paths import VAR
from trust import realname, secrets

SCALED_DEFAULTS = {
    "BACKEND_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/xuexihao",
    "TRACKER_DIALECT": "postgresql",
    "TRACKER_HOST": "127.0.0.1",
    "TRACKER_DB": "xuexihao_tracker",
    "TRACKER_USER": "postgres",
    "LOCK_STORE_TYPE": "bot.lock_store.AtomicRedisLockStore",
    "SQL_POOL_SIZE": "5",
    "SQL_MAX_OVERFLOW": "5",
    "RASA_INSTANCES": "2",
    "ACTION_INSTANCES": "2",
}
# Sanic's own limit on a request body to Rasa (its default is 100 MB): a chat
# message is at most a few kB, a tracker replaced through the API more.
RASA_MAX_BODY_BYTES = str(1024 * 1024)


def service_env(scaled: bool = False) -> dict[str, str]:
    """Environment shared by the services (and by the e2e tests)."""
    env = dict(os.environ)
    if scaled:
        env["PROFILE"] = "scaled"
    scaled = env.get("PROFILE") == "scaled"
    if scaled:
        for key, value in SCALED_DEFAULTS.items():
            env.setdefault(key, value)
    private_var(VAR)
    for name in ("BACKEND_HOST", "ACTION_HOST", "RASA_HOST"):
        env.setdefault(name, "127.0.0.1")
    for name in (secrets.RASA_AUTH_TOKEN, secrets.ACTION_SERVER_TOKEN):
        if secrets.configured(name, env) is None and not secrets.production(env):
            env[name] = secrets.DEV_DEFAULTS[name]
    if secrets.configured(secrets.REALNAME_PUBLIC_KEY, env) is None and not secrets.production(env):
        env[f"{secrets.REALNAME_PUBLIC_KEY}_FILE"] = str(realname.ensure_dev_keys()[1])
    backend_port = env.setdefault("BACKEND_PORT", "8080")
    action_port = env.setdefault("ACTION_PORT", "5055")
    rasa_port = env.setdefault("RASA_PORT", "5005")
    env.setdefault("BACKEND_URL", f"http://127.0.0.1:{backend_port}")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{action_port}/webhook")
    env.setdefault("TRACKER_DIALECT", "sqlite")
    env.setdefault("TRACKER_HOST", "")
    env.setdefault("TRACKER_DB", str(VAR / "rasa_tracker.db"))
    env.setdefault("TRACKER_USER", "")
    env.setdefault("TRACKER_PASSWORD", "")
    # Rasa's lock store: in memory for one instance; several instances need
    # LOCK_STORE_TYPE=bot.lock_store.AtomicRedisLockStore (see bot/lock_store.py).
    env.setdefault("LOCK_STORE_TYPE", "in_memory")
    env.setdefault("LOCK_STORE_HOST", "127.0.0.1")
    env.setdefault("LOCK_STORE_PORT", "6379")
    env.setdefault("LOCK_STORE_DB", "1")
    # The backend's web chat page talks to Rasa; its staff console reads the tracker store.
    env.setdefault("BACKEND_RASA_URL", f"http://127.0.0.1:{rasa_port}")
    if env["TRACKER_DIALECT"] == "sqlite":
        env.setdefault("BACKEND_TRACKER_URL", f"sqlite:///{env['TRACKER_DB']}")
    else:
        env.setdefault("BACKEND_TRACKER_URL", tracker_url(env))
    if scaled:
        rasa_n, action_n = int(env["RASA_INSTANCES"]), int(env["ACTION_INSTANCES"])
        env.setdefault("RASA_MEMBER_PORTS", ",".join(str(int(rasa_port) + 100 + i) for i in range(rasa_n)))
        env.setdefault("ACTION_MEMBER_PORTS", ",".join(str(int(action_port) + 100 + i) for i in range(action_n)))
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


def rasa_env(env: dict[str, str]) -> dict[str, str]:
    """Rasa and its libraries write caches under HOME and TMPDIR: keep them in var/."""
    return {
        "SANIC_REQUEST_MAX_SIZE": RASA_MAX_BODY_BYTES,
        **env,
        "HOME": str(VAR / "rasa-home"),
        "TMPDIR": str(VAR / "tmp"),
    }
