"""Runs the backend (8080), the action server (5055) and the Rasa server
(5005) in the foreground, with labelled logs; Ctrl-C (or any one of them
exiting) stops all three. Used by `make run`; `run_services.py shell`
(`make shell`) opens `rasa shell` against the running services.

Settings come from the environment (defaults in brackets):
BACKEND_PORT [8080], ACTION_PORT [5055], RASA_PORT [5005],
RASA_MODEL [models/xuexihao.tar.gz], and the backend's BACKEND_* variables.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
COLOURS = {"backend": "\033[36m", "actions": "\033[35m", "rasa": "\033[33m"}


def service_env() -> dict[str, str]:
    """Environment shared by the three services (and by the e2e tests)."""
    env = dict(os.environ)
    var = ROOT / "var"
    for folder in ("rasa-home", "tmp"):
        (var / folder).mkdir(parents=True, exist_ok=True)
    backend_port = env.setdefault("BACKEND_PORT", "8080")
    action_port = env.setdefault("ACTION_PORT", "5055")
    env.setdefault("RASA_PORT", "5005")
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
    env.setdefault("BACKEND_RASA_URL", f"http://127.0.0.1:{env['RASA_PORT']}")
    if env["TRACKER_DIALECT"] == "sqlite":
        env.setdefault("BACKEND_TRACKER_URL", f"sqlite:///{env['TRACKER_DB']}")
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


def commands(env: dict[str, str]) -> dict[str, list[str]]:
    return {
        "backend": [str(VENV_PY), "-m", "backend", "serve"],
        "actions": [str(VENV_PY), "-m", "rasa_sdk", "--actions", "actions", "--port", env["ACTION_PORT"]],
        "rasa": [
            str(RASA), "run", "--enable-api", "--port", env["RASA_PORT"],
            "--model", env.get("RASA_MODEL", str(ROOT / "models" / "xuexihao.tar.gz")),
            "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
        ],
    }


def rasa_env(env: dict[str, str]) -> dict[str, str]:
    """Rasa and its libraries write caches under HOME and TMPDIR: keep them in var/."""
    return {**env, "HOME": str(ROOT / "var" / "rasa-home"), "TMPDIR": str(ROOT / "var" / "tmp")}


async def pipe(name: str, stream: asyncio.StreamReader) -> None:
    colour = COLOURS[name] if sys.stdout.isatty() else ""
    reset = "\033[0m" if colour else ""
    while line := await stream.readline():
        sys.stdout.write(f"{colour}[{name:7}]{reset} {line.decode(errors='replace')}")
        sys.stdout.flush()


async def main() -> int:
    env = service_env()
    procs: dict[str, asyncio.subprocess.Process] = {}
    for name, cmd in commands(env).items():
        procs[name] = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, env=rasa_env(env) if name == "rasa" else env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    print(f"backend http://127.0.0.1:{env['BACKEND_PORT']}  actions :{env['ACTION_PORT']}  "
          f"rasa http://127.0.0.1:{env['RASA_PORT']} (ready in about a minute); Ctrl-C stops all", flush=True)
    pipes = [asyncio.create_task(pipe(n, p.stdout)) for n, p in procs.items() if p.stdout]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = [asyncio.create_task(p.wait()) for p in procs.values()]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([stopper, *exits], return_when=asyncio.FIRST_COMPLETED)
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
    return 0 if stop.is_set() else 1


class ServiceStack:
    """The three services as separate, restartable processes on the given
    (or current) environment: used by the end-to-end tests and bench/bot.py."""

    def __init__(self, logs: Path, overrides: dict[str, str]) -> None:
        self.logs = logs
        saved = dict(os.environ)
        os.environ.update(overrides)
        try:
            self.env = service_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.commands = commands(self.env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.rasa_url = f"http://127.0.0.1:{self.env['RASA_PORT']}"
        self.backend_url = f"http://127.0.0.1:{self.env['BACKEND_PORT']}"

    def start(self, name: str) -> None:
        env = rasa_env(self.env) if name == "rasa" else self.env
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(self.commands[name], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def wait_ready(self, name: str, timeout: float = 240) -> None:
        import time
        import urllib.request

        url = {"backend": f"{self.backend_url}/healthz",
               "actions": f"http://127.0.0.1:{self.env['ACTION_PORT']}/health",
               "rasa": f"{self.rasa_url}/status"}[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError((self.logs / f"{name}.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{name} not ready after {timeout}s")

    def start_all(self) -> None:
        for name in ("backend", "actions", "rasa"):
            self.start(name)
        for name in ("backend", "actions", "rasa"):
            self.wait_ready(name)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs_text(self) -> str:
        return "".join((self.logs / f"{n}.log").read_text(errors="replace")
                       for n in ("backend", "actions", "rasa") if (self.logs / f"{n}.log").exists())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shell() -> None:
    """`rasa shell` in this terminal, against the backend and action server
    that `make run` started (its own Rasa port, the same tracker store)."""
    env = service_env()
    cmd = [str(RASA), "shell", "--port", os.environ.get("RASA_SHELL_PORT", "5006"), "--model",
           env.get("RASA_MODEL", str(ROOT / "models" / "xuexihao.tar.gz")), "--endpoints", "endpoints.yml"]
    os.chdir(ROOT)
    os.execve(cmd[0], cmd, rasa_env(env))


if __name__ == "__main__":
    if sys.argv[1:] == ["shell"]:
        shell()
    raise SystemExit(asyncio.run(main()))
