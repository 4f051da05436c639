"""Runs the services in the foreground, with labelled logs; Ctrl-C (or any
one of them exiting) stops them all. `run_services.py shell` (`make shell`)
opens `rasa shell` against the running services. Rasa starts through
`python -m bot` (bot/__main__.py): Rasa's command line with our patches.

Two profiles, their settings from the environment (defaults in brackets):

- default (`make run`): the backend on BACKEND_PORT [8080] with SQLite, one
  action server on ACTION_PORT [5055], one Rasa server on RASA_PORT [5005]
  with an SQLite tracker store and an in-memory lock store.
- scaled (`make run-scaled`, `run_services.py --scaled`): the backend on
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
  registry of var/demo/.

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
NLU_CACHE_SIZE [4096] parses of repeated texts (bot/nlu_cache.py); 0 turns
either off.

Personal data (README "Personal data"): every service starts with the umask
077, so what it creates (the SQLite tracker store and its -wal/-shm, logs,
caches) is readable by its owner only; var/ and its folders are made 0700,
the SQLite databases 0600 before any service opens them (existing ones are
tightened). The scaled profile also runs the retention purge
(`python -m backend purge-conversations`, backend/privacy/retention.py) at start
and then every PURGE_INTERVAL_HOURS [24] hours (0: never).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator, Coroutine, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from backend.private_files import (  # noqa: E402
    PRIVATE_UMASK,
    private_dir,
    private_file,
    private_sqlite,
    sqlite_path,
)
from trust import realname, secrets  # noqa: E402  (after the path: this file also runs as a script)

VENV_PY = ROOT / ".venv" / "bin" / "python"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# Rasa's command line with our patches of Rasa installed first (bot/__main__.py).
RASA_CLI = [str(ROOT / ".venv-rasa" / "bin" / "python"), "-m", "bot"]
T = TypeVar("T")
COLOURS = {"backend": "\033[36m", "actions": "\033[35m", "rasa": "\033[33m", "nginx": "\033[32m",
           "purge": "\033[34m"}
PURGE_INTERVAL_HOURS = 24.0

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


def service_env(scaled: bool = False) -> dict[str, str]:
    """Environment shared by the services (and by the e2e tests)."""
    env = dict(os.environ)
    if scaled:
        env["PROFILE"] = "scaled"
    scaled = env.get("PROFILE") == "scaled"
    if scaled:
        for key, value in SCALED_DEFAULTS.items():
            env.setdefault(key, value)
    var = ROOT / "var"
    private_var(var)
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
    env.setdefault("TRACKER_DB", str(var / "rasa_tracker.db"))
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


def private_var(var: Path) -> None:
    """var/ and the folders the services write to, readable by their owner
    only; the development keys in var/secrets/ (made 0600 by trust/secrets.py)
    tightened if an older checkout left them wider."""
    for folder in (var, var / "rasa-home", var / "tmp"):
        private_dir(folder)
    keys = var / "secrets"
    if keys.is_dir():
        private_dir(keys)
        for key in keys.iterdir():
            if key.is_file():
                private_file(key)


def private_databases(env: dict[str, str]) -> list[Path]:
    """The SQLite databases of the backend and the tracker store, made (or
    tightened to) 0600 with their -wal and -shm before any service opens
    them (SQLite gives a database's -wal and -shm its own mode)."""
    urls = [env.get("BACKEND_DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'backend.db'}"]
    if env.get("TRACKER_DIALECT", "sqlite") == "sqlite":
        urls.append(f"sqlite:///{env['TRACKER_DB']}")
    made = []
    for url in urls:
        path = sqlite_path(url)
        if path is not None:
            made.append(private_sqlite(path))
    return made


def private_log(path: Path) -> Any:
    """A log file opened for appending, readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def tracker_url(env: dict[str, str]) -> str:
    """SQLAlchemy URL of a server tracker store, as Rasa builds it from endpoints.yml."""
    user = env.get("TRACKER_USER", "")
    password = env.get("TRACKER_PASSWORD", "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"{env['TRACKER_DIALECT']}://{auth}{env['TRACKER_HOST']}:5432/{env['TRACKER_DB']}"


class Member(NamedTuple):
    """One process of the stack: `group` is what it is (backend, actions,
    rasa, nginx), `name` tells the instances of a group apart."""

    name: str
    group: str
    command: list[str]
    health_url: str
    port: int


def reach(host: str) -> str:
    """The address to reach a service listening on `host` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def rasa_token(env: dict[str, str]) -> str:
    return secrets.secret(secrets.RASA_AUTH_TOKEN, env)


def members(env: dict[str, str], logs: Path) -> list[Member]:
    model = env.get("RASA_MODEL", str(ROOT / "models" / "xuexihao.tar.gz"))
    rasa_host, action_host = env["RASA_HOST"], env["ACTION_HOST"]

    def rasa(port: str) -> list[str]:
        return [*RASA_CLI, "run", "--enable-api", "--auth-token", rasa_token(env), "--interface", rasa_host,
                "--port", port, "--model", model, "--endpoints", "endpoints.yml", "--credentials",
                "credentials.yml"]

    def rasa_health(port: str) -> str:
        return f"http://{reach(rasa_host)}:{port}/status?token={rasa_token(env)}"

    def actions(port: str) -> list[str]:
        return [str(VENV_PY), "-m", "actions.server", "--host", action_host, "--port", port]

    backend = Member("backend", "backend", [str(VENV_PY), "-m", "backend", "serve"],
                     f"http://{reach(env['BACKEND_HOST'])}:{env['BACKEND_PORT']}/healthz", int(env["BACKEND_PORT"]))
    if env.get("PROFILE") != "scaled":
        return [
            backend,
            Member("actions", "actions", actions(env["ACTION_PORT"]),
                   f"http://{reach(action_host)}:{env['ACTION_PORT']}/health", int(env["ACTION_PORT"])),
            Member("rasa", "rasa", rasa(env["RASA_PORT"]), rasa_health(env["RASA_PORT"]), int(env["RASA_PORT"])),
        ]
    action_ports = env["ACTION_MEMBER_PORTS"].split(",")
    rasa_ports = env["RASA_MEMBER_PORTS"].split(",")
    conf = write_nginx_conf(logs / "nginx", int(env["RASA_PORT"]), rasa_ports, int(env["ACTION_PORT"]), action_ports,
                            rasa_host, action_host)
    return [
        backend,
        *[Member(f"actions-{i + 1}", "actions", actions(p), f"http://{reach(action_host)}:{p}/health", int(p))
          for i, p in enumerate(action_ports)],
        *[Member(f"rasa-{i + 1}", "rasa", rasa(p), rasa_health(p), int(p)) for i, p in enumerate(rasa_ports)],
        Member("nginx", "nginx", [nginx_binary(), "-p", str(conf.parent), "-c", str(conf)],
               f"http://{reach(rasa_host)}:{env['RASA_PORT']}/nginx-health", int(env["RASA_PORT"])),
    ]


def nginx_binary() -> str:
    found = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit("ERROR: the scaled profile needs nginx: `make nginx` installs Debian's package "
                         "(apt-get install nginx), or set NGINX=/path/to/nginx")
    return found


# Rasa's REST channel answers with a JSON list of messages: when no Rasa
# instance can take a message, the load balancer answers in the same shape,
# politely, with status 503 so that clients know to send it again.
BUSY_REPLY = '[{"recipient_id": "", "text": "系统繁忙，请稍后再发送一次。您已填写的信息不会丢失。"}]'


def nginx_temp(folder: Path) -> tuple[Path, bool]:
    """nginx's temp folder for the configuration in `folder`, and whether
    it is a private one under /tmp. Started as root, nginx's workers drop
    root for nobody, who may not enter `folder` (pytest's and mkdtemp's
    folders are 0700): their temp folder is then one of their own, removed
    when nginx stops."""
    if os.geteuid() == 0:
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"xuexihao-nginx-{digest}", True
    return folder / "temp", False


def make_nginx_temp(folder: Path) -> Path:
    temp, private = nginx_temp(folder)
    temp.mkdir(exist_ok=True)
    if private:
        shutil.chown(temp, "nobody")
    return temp


def write_nginx_conf(folder: Path, rasa_port: int, rasa_members: list[str], action_port: int,
                     action_members: list[str], rasa_host: str = "127.0.0.1", action_host: str = "127.0.0.1") -> Path:
    """nginx as the load balancer: round robin over the Rasa servers (any
    instance serves any message: the tracker store and the lock store are
    shared) and over the action servers. A request goes to the next
    instance only when the first could not be reached; one that an
    instance received is never sent twice (nginx does not repeat POSTs)."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = make_nginx_temp(folder)
    user = "user nobody nogroup;" if nginx_temp(folder)[1] else ""

    def upstream(name: str, ports: list[str]) -> str:
        # max_fails=0: never mark an instance down. A stopped instance refuses
        # the connection at once and nginx tries the next; marked down, a
        # restarted one would be skipped ("no live upstreams") for a while.
        servers = "\n".join(f"    server {reach(rasa_host if name == 'rasa' else action_host)}:{p} max_fails=0;" for p in ports)
        return f"  upstream {name} {{\n{servers}\n    keepalive 64;\n  }}"

    proxy = """      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_connect_timeout 2s;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 0;"""
    conf = folder / "nginx.conf"
    conf.write_text(f"""# Written by scripts/run_services.py (scaled profile).
daemon off;
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  # Bodies and answers in memory: an action server request carries the
  # whole tracker.
  client_body_buffer_size 1m;
  proxy_buffer_size 64k;
  proxy_buffers 16 64k;
{upstream("rasa", rasa_members)}
{upstream("actions", action_members)}
  server {{
    listen {rasa_host}:{rasa_port};
    client_max_body_size 64k;
    location = /nginx-health {{ return 200 "ok"; }}
    location / {{
      proxy_pass http://rasa;
{proxy}
    }}
    error_page 502 503 504 = @busy;
    location @busy {{
      default_type application/json;
      return 503 '{BUSY_REPLY}';
    }}
  }}
  server {{
    listen {action_host}:{action_port};
    client_max_body_size 32m;
    location / {{
      proxy_pass http://actions;
{proxy}
    }}
  }}
}}
""", encoding="utf-8")
    return conf


def scaled_databases(env: dict[str, str]) -> dict[str, SplitResult]:
    """The scaled profile's PostgreSQL databases (backend and tracker
    store), each with the URL of its server."""
    backend = urlsplit(env["BACKEND_DATABASE_URL"])
    found = {backend.path.lstrip("/"): backend}
    if env["TRACKER_DIALECT"].startswith("postgresql"):
        found.setdefault(env["TRACKER_DB"], urlsplit(tracker_url(env)))
    return found


@contextlib.asynccontextmanager
async def maintenance_connection(server: SplitResult) -> AsyncIterator[Any]:
    """A connection to the server's `postgres` database, for CREATE and DROP DATABASE."""
    import asyncpg

    try:
        conn = await asyncpg.connect(host=server.hostname, port=server.port or 5432, user=server.username,
                                     password=server.password, database="postgres", timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"ERROR: the scaled profile needs PostgreSQL at {server.hostname}:{server.port or 5432} "
                         f"({exc})") from exc
    try:
        yield conn
    finally:
        await conn.close()


async def ensure_databases(env: dict[str, str]) -> list[str]:
    """Create the scaled profile's databases that do not exist yet; returns the names created."""
    created = []
    for name, server in scaled_databases(env).items():
        async with maintenance_connection(server) as conn:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


async def drop_databases(env: dict[str, str]) -> None:
    """Drop the scaled profile's databases (tests and benchmarks clean up with this)."""
    for name, server in scaled_databases(env).items():
        async with maintenance_connection(server) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, also when that
    code is itself called inside a running event loop (a fixture requested
    by an async test)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# Sanic's own limit on a request body to Rasa (its default is 100 MB): a chat
# message is at most a few kB, a tracker replaced through the API more.
RASA_MAX_BODY_BYTES = str(1024 * 1024)


def rasa_env(env: dict[str, str]) -> dict[str, str]:
    """Rasa and its libraries write caches under HOME and TMPDIR: keep them in var/."""
    return {"SANIC_REQUEST_MAX_SIZE": RASA_MAX_BODY_BYTES, **env, "HOME": str(ROOT / "var" / "rasa-home"),
            "TMPDIR": str(ROOT / "var" / "tmp")}


def check_redis(env: dict[str, str]) -> None:
    import socket

    if env["LOCK_STORE_TYPE"] == "in_memory":
        return
    host, port = env["LOCK_STORE_HOST"], int(env["LOCK_STORE_PORT"])
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        raise SystemExit(f"ERROR: the lock store needs Redis at {host}:{port} ({exc})") from exc


def seed_demo_registry(env: dict[str, str]) -> None:
    demo = ROOT / "var" / "demo"
    if not (demo / "students.csv").exists():
        subprocess.run([str(VENV_PY), "-m", "backend", "demo-registry", "--out", str(demo)], cwd=ROOT, env=env,
                       check=True, umask=PRIVATE_UMASK)
    subprocess.run([str(VENV_PY), "-m", "backend", "import-registry", "--students", str(demo / "students.csv"),
                    "--teachers", str(demo / "teachers.csv"), "--no-progress"], cwd=ROOT, env=env, check=True,
                   umask=PRIVATE_UMASK)


async def pipe(name: str, group: str, stream: asyncio.StreamReader) -> None:
    colour = COLOURS[group] if sys.stdout.isatty() else ""
    reset = "\033[0m" if colour else ""
    while line := await stream.readline():
        sys.stdout.write(f"{colour}[{name:9}]{reset} {line.decode(errors='replace')}")
        sys.stdout.flush()


def purge_command() -> list[str]:
    """The retention purge, with its default period (BACKEND_RETENTION_DAYS)."""
    return [str(VENV_PY), "-m", "backend", "purge-conversations"]


def purge_interval_s(env: dict[str, str]) -> float:
    """Seconds between two purges of the scaled profile (0: never)."""
    return max(0.0, float(env.get("PURGE_INTERVAL_HOURS") or PURGE_INTERVAL_HOURS)) * 3600


async def purge_periodically(env: dict[str, str], interval_s: float, runs: int = 0,
                             command: list[str] | None = None) -> int:
    """Run the retention purge now, then every `interval_s` seconds (`runs`
    times, 0: until cancelled), its output labelled "purge". A failed run
    is reported and tried again at the next interval. Returns the runs made."""
    done = 0
    while True:
        proc = await asyncio.create_subprocess_exec(
            *(command or purge_command()), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, umask=PRIVATE_UMASK,
        )
        try:
            if proc.stdout is not None:
                await pipe("purge", "purge", proc.stdout)
            code = await proc.wait()
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
            raise
        done += 1
        if code:
            print(f"[purge    ] exited with status {code}; trying again in {interval_s / 3600:g} h", flush=True)
        if runs and done >= runs:
            return done
        await asyncio.sleep(interval_s)


async def main(scaled: bool) -> int:
    secrets.refuse_development_secrets(service="make run")
    env = service_env(scaled)
    private_databases(env)
    logs = ROOT / "var" / "scaled"
    if env.get("PROFILE") == "scaled":
        check_redis(env)
        if urlsplit(env["BACKEND_DATABASE_URL"]).path.lstrip("/") in await ensure_databases(env):
            seed_demo_registry(env)
    procs: dict[str, asyncio.subprocess.Process] = {}
    plan = members(env, logs)
    for m in plan:
        procs[m.name] = await asyncio.create_subprocess_exec(
            *m.command, cwd=ROOT, env=rasa_env(env) if m.group == "rasa" else env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            umask=PRIVATE_UMASK,
        )
    print(f"backend http://127.0.0.1:{env['BACKEND_PORT']}  actions :{env['ACTION_PORT']}  "
          f"rasa http://127.0.0.1:{env['RASA_PORT']} ({len(plan)} processes; Rasa is ready in about a minute); "
          "Ctrl-C stops all", flush=True)
    groups = {m.name: m.group for m in plan}
    pipes = [asyncio.create_task(pipe(n, groups[n], p.stdout)) for n, p in procs.items() if p.stdout]
    purging = None
    if env.get("PROFILE") == "scaled" and purge_interval_s(env) > 0:
        purging = asyncio.create_task(purge_periodically(env, purge_interval_s(env)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = [asyncio.create_task(p.wait()) for p in procs.values()]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([stopper, *exits], return_when=asyncio.FIRST_COMPLETED)
    if purging is not None:
        purging.cancel()
        await asyncio.gather(purging, return_exceptions=True)
    for name, proc in procs.items():
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGINT)
    try:
        await asyncio.wait_for(asyncio.gather(*exits), timeout=20)
    except asyncio.TimeoutError:
        for proc in procs.values():
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.gather(*exits)
    await asyncio.gather(*pipes, return_exceptions=True)
    if "nginx" in groups.values():
        temp, private = nginx_temp(logs / "nginx")
        if private:
            shutil.rmtree(temp, ignore_errors=True)
    return 0 if stop.is_set() else 1


class ServiceStack:
    """The services as separate, restartable processes on the given (or
    current) environment: used by the end-to-end tests and the benchmarks.

    `start`, `stop` and `wait_ready` take a member's name (rasa-2) or a
    group's (rasa: every Rasa instance); in the default profile the two
    are the same."""

    def __init__(self, logs: Path, overrides: dict[str, str]) -> None:
        self.logs = logs
        saved = dict(os.environ)
        os.environ.update(overrides)
        try:
            self.env = service_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.scaled = self.env.get("PROFILE") == "scaled"
        self.members = {m.name: m for m in members(self.env, logs)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rasa_url = f"http://127.0.0.1:{self.env['RASA_PORT']}"
        self.backend_url = f"http://127.0.0.1:{self.env['BACKEND_PORT']}"

    def _names(self, name: str) -> list[str]:
        if name in self.members:
            return [name]
        names = [m.name for m in self.members.values() if m.group == name]
        if not names:
            raise KeyError(name)
        return names

    def member_urls(self, group: str) -> list[str]:
        """Each instance's own address (bypassing the load balancer)."""
        return [f"http://127.0.0.1:{m.port}" for m in self.members.values() if m.group == group]

    def start(self, name: str) -> None:
        for n in self._names(name):
            member = self.members[n]
            env = rasa_env(self.env) if member.group == "rasa" else self.env
            if member.group == "nginx":
                make_nginx_temp(self.logs / "nginx")  # removed when nginx last stopped
            log = private_log(self.logs / f"{n}.log")
            self.procs[n] = subprocess.Popen(member.command, cwd=ROOT, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE_UMASK)

    def stop(self, name: str, sig: int = signal.SIGINT) -> None:
        for n in self._names(name):
            proc = self.procs.pop(n, None)
            if proc is None:
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if self.members[n].group == "nginx":
                temp, private = nginx_temp(self.logs / "nginx")
                if private:
                    shutil.rmtree(temp, ignore_errors=True)

    def kill(self, name: str) -> None:
        """As a crash would: SIGKILL, no clean shutdown."""
        self.stop(name, signal.SIGKILL)

    def wait_ready(self, name: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        for n in self._names(name):
            url = self.members[n].health_url
            while True:
                if self.procs[n].poll() is not None:
                    raise RuntimeError((self.logs / f"{n}.log").read_text(errors="replace")[-3000:])
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n} not ready after {timeout}s")
                time.sleep(0.5)

    def prepare(self) -> None:
        """What the services need before they start: SQLite databases
        readable by their owner only; in the scaled profile, Redis and the
        PostgreSQL databases."""
        private_databases(self.env)
        if self.scaled:
            check_redis(self.env)
            run_blocking(ensure_databases(self.env))

    def start_all(self) -> None:
        self.prepare()
        for name in self.members:
            self.start(name)
        for name in self.members:
            self.wait_ready(name)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs_text(self) -> str:
        return "".join((self.logs / f"{n}.log").read_text(errors="replace")
                       for n in self.members if (self.logs / f"{n}.log").exists())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shell() -> None:
    """`rasa shell` in this terminal, against the backend and action server
    that `make run` started (its own Rasa port, the same tracker store)."""
    env = service_env()
    cmd = [*RASA_CLI, "shell", "--interface", "127.0.0.1", "--port", os.environ.get("RASA_SHELL_PORT", "5006"),
           "--model",
           env.get("RASA_MODEL", str(ROOT / "models" / "xuexihao.tar.gz")), "--endpoints", "endpoints.yml"]
    os.chdir(ROOT)
    os.execve(cmd[0], cmd, rasa_env(env))


if __name__ == "__main__":
    if sys.argv[1:] == ["shell"]:
        shell()
    raise SystemExit(asyncio.run(main(scaled="--scaled" in sys.argv[1:])))
