"""The processes of a profile: what each one runs and how to tell it is
ready. Rasa starts through `python -m bot` (bot/__main__.py), Rasa's own
command line with our patches of Rasa installed first."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from devstack.nginx import nginx_binary, write_nginx_conf
from devstack.paths import MODEL, RASA_CLI, VENV_PY
from trust import secrets


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
    """The processes of `env`'s profile (devstack/profiles.py); the scaled
    profile's nginx configuration is written in `logs`/nginx/."""
    model = env.get("RASA_MODEL", str(MODEL))
    rasa_host, action_host = env["RASA_HOST"], env["ACTION_HOST"]

    def rasa(port: str) -> list[str]:
        return [
            *RASA_CLI,
            "run",
            "--enable-api",
            "--auth-token",
            rasa_token(env),
            "--interface",
            rasa_host,
            "--port",
            port,
            "--model",
            model,
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
        ]

    def rasa_health(port: str) -> str:
        return f"http://{reach(rasa_host)}:{port}/status?token={rasa_token(env)}"

    def actions(port: str) -> list[str]:
        return [str(VENV_PY), "-m", "actions.server", "--host", action_host, "--port", port]

    backend = Member(
        "backend",
        "backend",
        [str(VENV_PY), "-m", "backend", "serve"],
        f"http://{reach(env['BACKEND_HOST'])}:{env['BACKEND_PORT']}/healthz",
        int(env["BACKEND_PORT"]),
    )
    if env.get("PROFILE") != "scaled":
        return [
            backend,
            Member(
                "actions",
                "actions",
                actions(env["ACTION_PORT"]),
                f"http://{reach(action_host)}:{env['ACTION_PORT']}/health",
                int(env["ACTION_PORT"]),
            ),
            Member("rasa", "rasa", rasa(env["RASA_PORT"]), rasa_health(env["RASA_PORT"]), int(env["RASA_PORT"])),
        ]
    action_ports = env["ACTION_MEMBER_PORTS"].split(",")
    rasa_ports = env["RASA_MEMBER_PORTS"].split(",")
    conf = write_nginx_conf(
        logs / "nginx",
        f"{rasa_host}:{env['RASA_PORT']}",
        [f"{reach(rasa_host)}:{p}" for p in rasa_ports],
        f"{action_host}:{env['ACTION_PORT']}",
        [f"{reach(action_host)}:{p}" for p in action_ports],
    )
    return [
        backend,
        *[
            Member(f"actions-{i + 1}", "actions", actions(p), f"http://{reach(action_host)}:{p}/health", int(p))
            for i, p in enumerate(action_ports)
        ],
        *[Member(f"rasa-{i + 1}", "rasa", rasa(p), rasa_health(p), int(p)) for i, p in enumerate(rasa_ports)],
        Member(
            "nginx",
            "nginx",
            [nginx_binary(), "-p", str(conf.parent), "-c", str(conf)],
            f"http://{reach(rasa_host)}:{env['RASA_PORT']}/nginx-health",
            int(env["RASA_PORT"]),
        ),
    ]
