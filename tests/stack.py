"""The running services for end-to-end and browser tests: backend, action
server and Rasa server as `make run` starts them (devstack/),
once per test session (Rasa takes about a minute to load), on free ports,
with the known registry of tests/people.py. The model is the one `make
test` trains (models/xuexihao.tar.gz).

Session fixtures (made visible to every test module by conftest.py):
`stack` (alias `default_stack`) is the default profile; `scaled_stack` is `make run-scaled`'s
(PostgreSQL, Redis, two Rasa and two action servers behind nginx) on
throw-away databases. `say`, `slots` and `text` talk to a stack's Rasa
address.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import devstack
from tests.leak_scan import page_full_ids, registry_ids, report, stored_full_ids
from tests.people import write_registry

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "xuexihao.tar.gz"
FULL_ID = re.compile(r"\d{17}[\dXx]")
# Test modules that use the stack mark themselves with this.
NEEDS_STACK = [
    pytest.mark.rasa,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: `make train` (make test trains it)"),
]


# The launcher's package under the name the test modules use for it.
run_services = devstack
Stack = devstack.ServiceStack


@contextlib.contextmanager
def started_stack(tmp: Path, overrides: dict[str, str] | None = None) -> Iterator[Any]:
    """The three services on free ports with the known registry, stopped
    afterwards; their logs, the staff pages, the tracker store and the
    backend's tables other than the registry and cards must then hold no
    full ID number (tests/leak_scan.py)."""
    port = devstack.free_port
    s = Stack(
        tmp,
        {
            "BACKEND_PORT": str(port()),
            "ACTION_PORT": str(port()),
            "RASA_PORT": str(port()),
            "BACKEND_DATABASE_URL": f"sqlite:///{tmp / 'backend.db'}",
            "BACKEND_SERVICE_TOKEN": "e2e-token",
            "TRACKER_DB": str(tmp / "tracker.db"),
            "RASA_MODEL": str(MODEL),
            # The tests send far more than a person would, all from 127.0.0.1.
            "BACKEND_CHAT_MESSAGES_PER_MINUTE": "1000000",
            "BACKEND_CHAT_CONVERSATIONS_PER_HOUR": "1000000",
            **(overrides or {}),
        },
    )
    s.prepare()
    students, teachers = write_registry(tmp)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "import-registry",
            "--students",
            str(students),
            "--teachers",
            str(teachers),
            "--no-progress",
        ],
        cwd=ROOT,
        env=s.env,
        check=True,
        capture_output=True,
    )
    pages: dict[str, list[str]] = {}
    try:
        s.start_all()
        yield s
        pages = page_full_ids(s.backend_url, s.env, ROOT, registry_ids(students, teachers))
    finally:
        s.stop_all()
    full = FULL_ID.findall(s.logs_text())
    assert not full, f"full ID numbers in the services' logs: {len(full)}"
    assert not pages, f"full ID numbers on staff pages: {report(pages)}"
    stored = stored_full_ids(s.env)
    assert not stored, f"full ID numbers stored outside the registry and card tables: {report(stored)}"


def scaled_overrides(tag: str, redis_db: int = 13) -> dict[str, str]:
    """Settings of a scaled stack of its own: databases named for the tag
    and this process, a Redis database of its own, free member ports."""
    port = devstack.free_port
    db = f"xxh_{tag}_{os.getpid()}"
    return {
        "PROFILE": "scaled",
        "BACKEND_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
        "TRACKER_DB": f"{db}_tracker",
        "LOCK_STORE_DB": str(redis_db),
        "RASA_MEMBER_PORTS": f"{port()},{port()}",
        "ACTION_MEMBER_PORTS": f"{port()},{port()}",
    }


@contextlib.contextmanager
def started_scaled_stack(
    tmp: Path, tag: str, overrides: dict[str, str] | None = None, redis_db: int = 13
) -> Iterator[Any]:
    """A scaled stack on fresh databases, dropped afterwards."""
    import redis

    settings = {**scaled_overrides(tag, redis_db), **(overrides or {})}
    red = redis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    red.flushdb()
    env = Stack(tmp, settings).env
    devstack.run_blocking(devstack.drop_databases(env))  # left over from an earlier, killed run
    try:
        with started_stack(tmp, settings) as s:
            yield s
    finally:
        devstack.run_blocking(devstack.drop_databases(env))
        red.flushdb()


@pytest.fixture(scope="session")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with started_stack(tmp_path_factory.mktemp("e2e")) as s:
        yield s


@pytest.fixture(scope="session")
def stack(default_stack: Any) -> Any:
    return default_stack


# The session fixture's scaled stack caps conversations low enough to test.
SCALED_E2E_OVERRIDES = {"CONVERSATION_MAX_MESSAGES": "60"}


@pytest.fixture(scope="session")
def scaled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with started_scaled_stack(tmp_path_factory.mktemp("e2e-scaled"), "e2e", SCALED_E2E_OVERRIDES) as s:
        yield s


# The ID numbers each conversation typed: the bot may show those back (the
# confirmation shows every digit to the person who typed them), never another.
TYPED_IDS: dict[str, set[str]] = {}


def typed_ids(text: str) -> set[str]:
    from identity import normalise_for_nlu

    compact = re.sub(r"[\s\-]", "", normalise_for_nlu(text or ""))
    return {m.upper() for m in FULL_ID.findall(compact)}


def assert_only_own_ids(
    sender: str, sent: str, messages: list[dict[str, Any]], metadata: dict[str, Any] | None = None
) -> None:
    """A reply holds no full ID number this conversation did not type (or
    its channel identity did not bring: the user's own)."""
    own = TYPED_IDS.setdefault(sender, set())
    own |= typed_ids(sent)
    token = (metadata or {}).get("realname_token")
    if isinstance(token, str):
        import jwt

        own |= typed_ids(str(jwt.decode(token, options={"verify_signature": False}).get("id_number") or ""))
    for m in messages:
        shown = {i.upper() for i in FULL_ID.findall(m.get("text") or "")}
        assert shown <= own, f"the bot showed an ID number this chat never typed: {m}"


async def say(stack: Stack, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            assert resp.status == 200
            messages = await resp.json()
    assert messages, f"no reply to {text!r}"
    assert_only_own_ids(sender, text, messages, metadata)
    return messages


def rasa_token(stack: Stack) -> dict[str, str]:
    """Query parameters of Rasa's HTTP API (it needs the token)."""
    return {"token": stack.env["RASA_AUTH_TOKEN"]}


def realname(name: str, id_number: str, sender: str | None = None, **claims: Any) -> dict[str, str]:
    """Metadata with the channel's identity, signed with the development key
    as the mini-program's server would sign it (`sender` binds it to one
    conversation)."""
    from trust import realname as signing

    token = signing.sign(signing.dev_private_key(), name, id_number, subject=sender, **claims)
    return {"realname_token": token}


async def tracker(stack: Stack, sender: str, **params: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{stack.rasa_url}/conversations/{sender}/tracker", params={**params, **rasa_token(stack)}
        ) as resp:
            assert resp.status == 200, resp.status
            return await resp.json()  # type: ignore[no-any-return]


def opened(found: dict[str, Any]) -> dict[str, Any]:
    """A tracker's slots with the ID slots opened (in place): the tracker
    holds them sealed (trust/sealing.py; the stacks run with the
    development key), and must."""
    from trust.sealing import SEALED_SLOTS, is_sealed, unseal

    for name in SEALED_SLOTS:
        value = found.get(name)
        assert value is None or is_sealed(value), f"slot {name} is not sealed in the tracker"
        found[name] = unseal(value)
    return found


async def slots(stack: Stack, sender: str) -> dict[str, Any]:
    """The conversation's slots, the ID slots opened."""
    return opened((await tracker(stack, sender))["slots"])


def text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)
