"""Issue 13, a private engine and a verified identity, attacked over HTTP
against the real services (tests/stack.py), as anyone who reaches a port
would:

- every service listens on the loopback interface only;
- Rasa's HTTP API (status, parse, trackers, model loading) answers only
  with RASA_AUTH_TOKEN; its REST channel needs none (CONTRACT.md);
- the action server runs actions only for Rasa (its shared secret), and a
  compressed body cannot inflate past its cap;
- the channel's identity is a token signed by the mini-program's server:
  an unsigned `realname`, a token signed with another key, expired, for
  another audience or another conversation fills nothing;
- production mode refuses development secrets, in every service, naming
  the variable; secrets may come from files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.people import FATHER_LI, IMPERSONATED, PUBLIC, TEACHER
from tests.rasa_cli import RASA_PY
from tests.stack import NEEDS_STACK, ROOT, Stack, rasa_token, realname, say, slots, text
from trust import realname as signing
from trust import secrets

pytestmark = NEEDS_STACK
LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def listening(port: int) -> set[str]:
    """Local addresses (hex, as the kernel lists them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            host, _, hex_port = address.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(host)
    return found


def test_every_service_listens_on_loopback_only(stack: Stack) -> None:
    for name, member in stack.members.items():
        assert listening(member.port) == {LOOPBACK}, (name, member.port, listening(member.port))


# -- Rasa's HTTP API ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/status", None),
        ("POST", "/model/parse", {"text": "我要领卡"}),
        ("GET", "/conversations/attack-victim/tracker", None),
        ("POST", "/conversations/attack-victim/messages", {"text": "你好", "sender": "user"}),
        ("POST", "/conversations/attack-victim/trigger_intent", {"name": "greet"}),
        ("PUT", "/conversations/attack-victim/tracker/events", []),
        ("DELETE", "/model", None),
        ("PUT", "/model", {"model_file": "/tmp/other.tar.gz"}),
        ("GET", "/domain", None),
    ],
)
async def test_rasa_api_refuses_requests_without_the_token(stack: Stack, method: str, path: str, body: Any) -> None:
    async with aiohttp.ClientSession() as http:
        for params in ({}, {"token": "wrong"}, {"token": ""}):
            async with http.request(method, stack.rasa_url + path, json=body, params=params) as resp:
                assert resp.status in (401, 403), (path, params, resp.status)
    # The model is still there: the refused DELETE did nothing.
    assert "身份" in text(await say(stack, "attack-after-model", "我要领卡"))


async def test_rasa_api_answers_with_the_token_and_the_channel_without(stack: Stack) -> None:
    me = "attack-with-token"
    await say(stack, me, "你好")  # the REST channel: no token (CONTRACT.md)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_url}/status", params=rasa_token(stack)) as resp:
            assert resp.status == 200 and (await resp.json())["model_file"]
        async with http.post(
            f"{stack.rasa_url}/model/parse", params=rasa_token(stack), json={"text": "我要领卡"}
        ) as resp:
            assert resp.status == 200 and (await resp.json())["intent"]["name"] == "claim_card"
        async with http.get(f"{stack.rasa_url}/conversations/{me}/tracker", params=rasa_token(stack)) as resp:
            assert resp.status == 200 and (await resp.json())["sender_id"] == me


# -- the action server -----------------------------------------------------------------------


def action_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.env['ACTION_PORT']}"


def action_call(sender: str) -> dict[str, Any]:
    """What an attacker would send: a made-up conversation that claims a card."""
    return {
        "next_action": "action_claim_card",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {
                "role": "public",
                "person_name": PUBLIC.name,
                "id_number": PUBLIC.id_number,
                "details_confirmed": True,
            },
            "latest_message": {},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


@pytest.mark.parametrize(
    "headers", [{}, {"X-Action-Token": "wrong"}, {"X-Action-Token": ""}, {"Authorization": "Bearer dev-action-token"}]
)
async def test_action_server_runs_nothing_for_anyone_but_rasa(stack: Stack, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{action_url(stack)}/webhook", json=action_call("attack-actions"), headers=headers
        ) as resp:
            assert resp.status == 403
            assert PUBLIC.id_number not in await resp.text()
        async with http.get(f"{action_url(stack)}/actions", headers=headers) as resp:
            assert resp.status == 403
        async with http.get(f"{action_url(stack)}/health") as resp:
            assert resp.status == 200  # the supervisor's health check needs no secret


async def test_action_server_caps_compressed_and_plain_bodies(stack: Stack) -> None:
    token = {"X-Action-Token": stack.env["ACTION_SERVER_TOKEN"]}
    bomb = zlib.compress(b'{"next_action": "' + b"a" * 64_000_000 + b'"}', 9)
    assert len(bomb) < 100_000
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{action_url(stack)}/webhook",
            data=bomb,
            headers={**token, "Content-Encoding": "deflate", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
        async with http.post(
            f"{action_url(stack)}/webhook",
            data=b"{" + b" " * 5_000_000 + b"}",
            headers={**token, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
        async with http.post(
            f"{action_url(stack)}/webhook", data=b"x", headers={**token, "Content-Encoding": "gzip"}
        ) as resp:
            assert resp.status == 415
        # A small compressed call from Rasa still works.
        call = zlib.compress(json.dumps({**action_call("attack-small"), "next_action": "action_repeat"}).encode())
        async with http.post(
            f"{action_url(stack)}/webhook",
            data=call,
            headers={**token, "Content-Encoding": "deflate", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200, await resp.text()


async def test_an_action_error_does_not_echo_the_request(stack: Stack) -> None:
    token = {"X-Action-Token": stack.env["ACTION_SERVER_TOKEN"]}
    call = action_call("attack-echo")
    del call["tracker"]["sender_id"]  # breaks rasa-sdk before any action runs
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{action_url(stack)}/webhook", json=call, headers=token) as resp:
            body = await resp.text()
    assert resp.status >= 400 and PUBLIC.id_number not in body and PUBLIC.name not in body


# -- the channel's identity ------------------------------------------------------------------------


def other_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def forged(kind: str, sender: str) -> dict[str, Any]:
    """Metadata that must prove nothing."""
    dev = signing.dev_private_key()
    name, number = TEACHER.name, TEACHER.id_number
    if kind == "unsigned":
        return {"realname": {"name": name, "id_number": number}}
    if kind == "unsigned beside a token":
        return {
            "realname": {"name": name, "id_number": number},
            **realname(PUBLIC.name, PUBLIC.id_number, sender="someone-else"),
        }
    if kind == "another key":
        return {"realname_token": signing.sign(other_key(), name, number)}
    if kind == "expired":
        return {"realname_token": signing.sign(dev, name, number, ttl_s=60, now=time.time() - 3600)}
    if kind == "another audience":
        return {"realname_token": signing.sign(dev, name, number, audience="another-app")}
    if kind == "another conversation":
        return {"realname_token": signing.sign(dev, name, number, subject=f"{sender}-other")}
    if kind == "no expiry":
        return {
            "realname_token": jwt.encode(
                {"name": name, "id_number": number, "aud": signing.AUDIENCE, "iat": int(time.time())},
                dev,
                algorithm="ES256",
            )
        }
    if kind == "HS256 with the public key":
        return {"realname_token": _hs256(signing.public_key().encode(), name, number)}
    if kind == "alg none":
        return {
            "realname_token": jwt.encode(
                {
                    "name": name,
                    "id_number": number,
                    "aud": signing.AUDIENCE,
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 600,
                },
                None,
                algorithm="none",
            )
        }
    if kind == "lives a year":
        return {"realname_token": signing.sign(dev, name, number, ttl_s=365 * 24 * 3600)}
    if kind == "bad ID number":
        return {"realname_token": signing.sign(dev, name, number[:-1] + ("0" if number[-1] != "0" else "1"))}
    raise KeyError(kind)


def _hs256(key: bytes, name: str, number: str) -> str:
    """The classic algorithm confusion: HMAC keyed with the public key."""
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(
        json.dumps(
            {
                "name": name,
                "id_number": number,
                "aud": signing.AUDIENCE,
                "iat": int(time.time()),
                "exp": int(time.time()) + 600,
            }
        ).encode()
    )
    signature = part(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


FORGERIES = [
    "unsigned",
    "unsigned beside a token",
    "another key",
    "expired",
    "another audience",
    "another conversation",
    "no expiry",
    "HS256 with the public key",
    "alg none",
    "lives a year",
    "bad ID number",
]


@pytest.mark.parametrize("kind", FORGERIES)
async def test_an_identity_that_is_not_validly_signed_fills_nothing(stack: Stack, kind: str) -> None:
    me = f"attack-realname-{FORGERIES.index(kind)}"
    meta = forged(kind, me)
    await say(stack, me, "我要领卡", metadata=meta)
    reply = await say(stack, me, "我是老师", metadata=meta)
    assert "实名认证" in text(reply) and TEACHER.name not in text(reply)
    state = await slots(stack, me)
    assert (state["role"], state["person_name"], state["id_number"], state["card_number"]) == (None, None, None, None)


async def test_a_valid_token_prefills_and_is_not_stored(stack: Stack) -> None:
    me = "attack-realname-valid"
    meta = realname(TEACHER.name, TEACHER.id_number, sender=me)
    await say(stack, me, "我要领卡", metadata=meta)
    reply = await say(stack, me, "我是老师", metadata=meta)
    assert "请确认" in text(reply) and TEACHER.name in text(reply)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_url}/conversations/{me}/tracker", params=rasa_token(stack)) as resp:
            stored = await resp.text()
    assert meta["realname_token"] not in stored and "realname_token" not in stored


# -- production mode ----------------------------------------------------------------------------------


PRODUCTION_SECRETS = {
    "BACKEND_SERVICE_TOKEN": "prod-service-token-0123456789",
    "BACKEND_SESSION_SECRET": "prod-session-secret-0123456789",
    "BACKEND_ID_HASH_KEY": "prod-id-hash-key-0123456789",
    "RASA_AUTH_TOKEN": "prod-rasa-token-0123456789",
    "ACTION_SERVER_TOKEN": "prod-action-token-0123456789",
    "ID_SEAL_KEY": "prod-id-seal-key-0123456789",
}


def production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    public = tmp_path / "mini-program.pub"
    if not public.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_SECRETS and not k.startswith("REALNAME_")}
    env.update(
        {
            "APP_ENV": "production",
            **PRODUCTION_SECRETS,
            "REALNAME_PUBLIC_KEY_FILE": str(public),
            "BACKEND_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
            "BACKEND_PORT": "1",
            "ACTION_PORT": "1",
        }
    )
    for key, value in changes.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


SERVICES = {
    "backend": [sys.executable, "-m", "backend", "serve", "--port", "1"],
    "action server": [sys.executable, "-m", "actions.server", "--port", "1"],
    # The Rasa server refuses in its channel's module, loaded before it serves.
    "rasa": [
        str(RASA_PY),
        "-c",
        "import sys; sys.argv = ['rasa', 'run', '--enable-api', '--auth-token', 'x']; import bot.channels",
    ],
}


@pytest.mark.parametrize("service", list(SERVICES))
@pytest.mark.parametrize(
    "variable, value",
    [
        ("BACKEND_SERVICE_TOKEN", ""),
        ("BACKEND_SERVICE_TOKEN", "dev-service-token"),
        ("BACKEND_SESSION_SECRET", "dev-session-secret"),
        ("BACKEND_ID_HASH_KEY", ""),
        ("RASA_AUTH_TOKEN", "dev-rasa-token"),
        ("ACTION_SERVER_TOKEN", ""),
        ("ID_SEAL_KEY", "dev-id-seal-key"),
        ("ID_SEAL_KEY", ""),
        ("REALNAME_PUBLIC_KEY_FILE", ""),
        ("REALNAME_PUBLIC_KEY_FILE", str(signing.DEV_PUBLIC_KEY)),
    ],
)
def test_production_refuses_development_secrets_naming_the_variable(
    tmp_path: Path, service: str, variable: str, value: str
) -> None:
    signing.ensure_dev_keys()
    env = production_env(tmp_path, **{variable: value})
    out = subprocess.run(SERVICES[service], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    named = variable.removesuffix("_FILE")
    assert out.returncode != 0 and named in out.stderr, (service, out.returncode, out.stderr[-2000:])


def test_production_takes_secrets_from_files(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    secret_file = tmp_path / "service-token"
    secret_file.write_text("prod-token-from-a-file\n")
    del env["BACKEND_SERVICE_TOKEN"]
    env["BACKEND_SERVICE_TOKEN_FILE"] = str(secret_file)
    assert secrets.secret("BACKEND_SERVICE_TOKEN", env) == "prod-token-from-a-file"
    secrets.refuse_development_secrets(env)  # nothing missing
    env["BACKEND_SERVICE_TOKEN_FILE"] = str(tmp_path / "missing")
    with pytest.raises(secrets.SecretError, match="BACKEND_SERVICE_TOKEN_FILE"):
        secrets.refuse_development_secrets(env)


def test_rasa_in_production_needs_its_api_token() -> None:
    env = {**os.environ, **PRODUCTION_SECRETS, "APP_ENV": "production"}
    code = "import sys; sys.argv = ['rasa', 'run', '--enable-api']; import bot.channels"
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env["REALNAME_PUBLIC_KEY"] = key
    out = subprocess.run([str(RASA_PY), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--auth-token" in out.stderr, out.stderr[-2000:]


def test_sign_realname_signs_as_the_mini_program_would_and_never_in_production(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "backend", "sign-realname", "--name", TEACHER.name, "--id-number", TEACHER.id_number]
    out = subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "APP_ENV"},
    )
    assert out.returncode == 0, out.stderr
    verified = signing.verify(out.stdout.strip(), signing.public_key({}))
    assert verified == signing.RealName(TEACHER.name, TEACHER.id_number)
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, env=production_env(tmp_path))
    assert out.returncode != 0 and not out.stdout.strip() and "production" in out.stderr
    bad = [*args[:-1], "110105194912310021"]
    out = subprocess.run(bad, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--id-number" in out.stderr


# -- limits ------------------------------------------------------------------------------------------


async def test_an_overlong_message_is_answered_politely_and_loses_nothing(stack: Stack) -> None:
    me = "attack-long-message"
    await say(stack, me, "我要领卡")
    await say(stack, me, "我是家长")
    await say(stack, me, FATHER_LI.name)
    before = await slots(stack, me)
    reply = await say(stack, me, "学" * 1001)
    assert "太长" in text(reply) and "还在" in text(reply)
    assert await slots(stack, me) == before
    reply = await say(stack, me, FATHER_LI.id_number)  # the claim goes on where it was
    assert (await slots(stack, me))["requested_slot"] == "person_name", text(reply)


async def test_rasa_refuses_huge_bodies(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": "attack-huge", "message": "你好", "pad": "x" * 2_000_000},
        ) as resp:
            assert resp.status == 413


# -- a card is shown only to its holder ------------------------------------------------------------


async def typed_k12_claim(stack: Stack, me: str) -> list[dict[str, Any]]:
    """A student's claim for themselves, typed as people type."""
    await say(stack, me, "我要领卡")
    await say(stack, me, "我是学生")
    await say(stack, me, "我自己领")
    await say(stack, me, f"我叫{IMPERSONATED.name}")
    await say(stack, me, IMPERSONATED.id_number)
    await say(stack, me, "不开")
    return await say(stack, me, "确认无误")


async def test_someone_who_knows_a_students_name_and_id_does_not_see_the_card(stack: Stack) -> None:
    owner, other = "attack-card-owner", "attack-card-classmate"
    reply = await typed_k12_claim(stack, owner)
    number = (await slots(stack, owner))["card_number"]
    assert "领卡成功" in text(reply) and number in text(reply)
    reply = await typed_k12_claim(stack, other)
    assert "已经领取过" in text(reply) and number not in text(reply) and "转人工" in str(reply)
    assert "持卡人：" not in text(reply) and "3601" not in text(reply)  # no holder line, no masked ID
    # Asking for the card another way shows nothing either ...
    reply = await say(stack, other, "验证成功了但是没有领到卡")
    assert number not in text(reply) and "已经领取过" in text(reply)
    # ... while its owner's chat sees it again.
    reply = await say(stack, owner, "验证成功了但是没有领到卡")
    assert number in text(reply)
