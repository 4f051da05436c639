"""The services as separate, restartable processes, their output in log
files: what the end-to-end tests (tests/stack.py) and the benchmarks
(bench/bot.py, bench/load/stack.py) start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from backend.private_files import PRIVATE_UMASK
from devstack.databases import check_redis, ensure_databases, private_databases, run_blocking
from devstack.members import Member, members
from devstack.nginx import make_nginx_temp, remove_nginx_temp
from devstack.paths import ROOT
from devstack.profiles import rasa_env, service_env


def private_log(path: Path) -> Any:
    """A log file opened for appending, readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceStack:
    """The services on the given (or current) environment, each member's
    output in `logs`/<name>.log.

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
        self.members: dict[str, Member] = {m.name: m for m in members(self.env, logs)}
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
            self.procs[n] = subprocess.Popen(
                member.command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )

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
                remove_nginx_temp(self.logs / "nginx")

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
        return "".join(
            (self.logs / f"{n}.log").read_text(errors="replace")
            for n in self.members
            if (self.logs / f"{n}.log").exists()
        )
