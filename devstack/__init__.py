"""The development stack: the backend, the action server(s) and the Rasa
server(s) on this machine, as `make run`, `make run-scaled` and `make shell`
start them (`python -m devstack [--scaled | shell]`), and as the end-to-end
tests and the benchmarks start them (`ServiceStack`).

- paths.py: the repository, its two Python environments, the model, var/;
- profiles.py: the default and scaled profiles and every setting they read
  from the environment (documented there);
- members.py: the processes of a profile (Rasa through `python -m bot`);
- nginx.py, nginx.conf.j2: the scaled profile's load balancer;
- databases.py: private files, the PostgreSQL databases, Redis, the demo registry;
- supervise.py: `make run` in the foreground, the retention purge, `make shell`;
- stack.py: `ServiceStack`, restartable processes logging to files.
"""

from __future__ import annotations

from devstack.databases import (
    check_redis,
    drop_databases,
    ensure_databases,
    private_databases,
    private_var,
    run_blocking,
    seed_demo_registry,
    tracker_url,
)
from devstack.members import Member, members, reach
from devstack.nginx import BUSY_REPLY, nginx_temp, write_nginx_conf
from devstack.paths import MODEL, RASA, RASA_CLI, ROOT, VAR, VENV_PY
from devstack.profiles import SCALED_DEFAULTS, rasa_env, service_env
from devstack.stack import ServiceStack, free_port, private_log
from devstack.supervise import purge_command, purge_interval_s, purge_periodically, run, shell

__all__ = [
    "BUSY_REPLY",
    "MODEL",
    "RASA",
    "RASA_CLI",
    "ROOT",
    "SCALED_DEFAULTS",
    "VAR",
    "VENV_PY",
    "Member",
    "ServiceStack",
    "check_redis",
    "drop_databases",
    "ensure_databases",
    "free_port",
    "members",
    "nginx_temp",
    "private_databases",
    "private_log",
    "private_var",
    "purge_command",
    "purge_interval_s",
    "purge_periodically",
    "rasa_env",
    "reach",
    "run",
    "run_blocking",
    "seed_demo_registry",
    "service_env",
    "shell",
    "tracker_url",
    "write_nginx_conf",
]
