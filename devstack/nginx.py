"""nginx as the scaled profile's load balancer: its binary, its temp
folder, and its configuration, rendered from devstack/nginx.conf.j2.

Round robin over the Rasa servers (any instance serves any message: the
tracker store and the lock store are shared) and over the action servers.
A request goes to the next instance only when the first could not be
reached; one that an instance received is never sent twice (nginx does not
repeat POSTs). When no Rasa instance can take a message, nginx answers as
Rasa's REST channel would (a JSON list of messages), politely, with status
503 so that clients know to send it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import jinja2

BUSY_REPLY = '[{"recipient_id": "", "text": "系统繁忙，请稍后再发送一次。您已填写的信息不会丢失。"}]'
TEMPLATE = "nginx.conf.j2"


def nginx_binary() -> str:
    found = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit(
            "ERROR: the scaled profile needs nginx: `make nginx` installs Debian's package "
            "(apt-get install nginx), or set NGINX=/path/to/nginx"
        )
    return found


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


def remove_nginx_temp(folder: Path) -> None:
    """The private temp folder under /tmp, once nginx has stopped."""
    temp, private = nginx_temp(folder)
    if private:
        shutil.rmtree(temp, ignore_errors=True)


def render(**values: object) -> str:
    """The configuration template filled in (every value required)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(TEMPLATE).render(**values)


def write_nginx_conf(
    folder: Path, rasa_listen: str, rasa_upstream: list[str], action_listen: str, action_upstream: list[str]
) -> Path:
    """nginx.conf in `folder`: listening on `rasa_listen` and `action_listen`
    (host:port), passing requests to the instances' host:port addresses."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = make_nginx_temp(folder)
    conf = folder / "nginx.conf"
    conf.write_text(
        render(
            user="user nobody nogroup;" if nginx_temp(folder)[1] else "",
            folder=folder,
            temp=temp,
            upstreams={"rasa": rasa_upstream, "actions": action_upstream},
            rasa_listen=rasa_listen,
            action_listen=action_listen,
            busy_reply=BUSY_REPLY,
        ),
        encoding="utf-8",
    )
    return conf
