"""`make run`: the services in the foreground, with labelled logs; Ctrl-C
(or any one of them exiting) stops them all. `make shell`: `rasa shell`
against them.

Personal data (README "Personal data"): every service starts with the umask
077, so what it creates (the SQLite tracker store and its -wal/-shm, logs,
caches) is readable by its owner only (devstack/databases.py makes var/ and
the databases private first). The scaled profile also runs the retention
purge (`python -m backend purge-conversations`, backend/privacy/retention.py) at
start and then every PURGE_INTERVAL_HOURS [24] hours (0: never).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from urllib.parse import urlsplit

from backend.private_files import PRIVATE_UMASK
from devstack.databases import check_redis, ensure_databases, private_databases, seed_demo_registry
from devstack.members import members
from devstack.nginx import remove_nginx_temp
from devstack.paths import MODEL, RASA_CLI, ROOT, VAR, VENV_PY
from devstack.profiles import rasa_env, service_env
from trust import secrets

COLOURS = {"backend": "\033[36m", "actions": "\033[35m", "rasa": "\033[33m", "nginx": "\033[32m", "purge": "\033[34m"}
PURGE_INTERVAL_HOURS = 24.0


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


async def purge_periodically(
    env: dict[str, str], interval_s: float, runs: int = 0, command: list[str] | None = None
) -> int:
    """Run the retention purge now, then every `interval_s` seconds (`runs`
    times, 0: until cancelled), its output labelled "purge". A failed run
    is reported and tried again at the next interval. Returns the runs made."""
    done = 0
    while True:
        proc = await asyncio.create_subprocess_exec(
            *(command or purge_command()),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            umask=PRIVATE_UMASK,
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


async def run(scaled: bool) -> int:
    """Start every member of the profile, pipe their output, stop them all
    on Ctrl-C (0) or when one exits (1)."""
    secrets.refuse_development_secrets(service="make run")
    env = service_env(scaled)
    private_databases(env)
    logs = VAR / "scaled"
    if env.get("PROFILE") == "scaled":
        check_redis(env)
        if urlsplit(env["BACKEND_DATABASE_URL"]).path.lstrip("/") in await ensure_databases(env):
            seed_demo_registry(env)
    procs: dict[str, asyncio.subprocess.Process] = {}
    plan = members(env, logs)
    for m in plan:
        procs[m.name] = await asyncio.create_subprocess_exec(
            *m.command,
            cwd=ROOT,
            env=rasa_env(env) if m.group == "rasa" else env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
    print(
        f"backend http://127.0.0.1:{env['BACKEND_PORT']}  actions :{env['ACTION_PORT']}  "
        f"rasa http://127.0.0.1:{env['RASA_PORT']} ({len(plan)} processes; Rasa is ready in about a minute); "
        "Ctrl-C stops all",
        flush=True,
    )
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
    for proc in procs.values():
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
        remove_nginx_temp(logs / "nginx")
    return 0 if stop.is_set() else 1


def shell() -> None:
    """`rasa shell` in this terminal, against the backend and action server
    that `make run` started (its own Rasa port, the same tracker store)."""
    env = service_env()
    cmd = [
        *RASA_CLI,
        "shell",
        "--interface",
        "127.0.0.1",
        "--port",
        os.environ.get("RASA_SHELL_PORT", "5006"),
        "--model",
        env.get("RASA_MODEL", str(MODEL)),
        "--endpoints",
        "endpoints.yml",
    ]
    os.chdir(ROOT)
    os.execve(cmd[0], cmd, rasa_env(env))
