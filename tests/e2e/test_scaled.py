"""The scaled profile (`make run-scaled`): two Rasa servers behind nginx
share one conversation store (PostgreSQL) and one lock store (Redis).

- Any instance serves any message of any conversation: a claim whose turns
  go to the two instances in turn ends with its card.
- The lock-store race of RasaHQ/rasa#9213, through two real Rasa servers:
  two messages of one conversation sent at the same moment, one to each
  instance, are served in turn and both kept with `bot.lock_store.
  AtomicRedisLockStore`. Rasa's own `RedisLockStore` lets both in at once
  (one message then vanishes from the conversation); through real servers
  that race is hit only now and then, so its proof is
  tests/bot/test_lock_store.py, where the race is forced at a barrier.
- The load balancer: with one instance killed the other answers every
  message; with none left, a polite 503 in the REST channel's own shape;
  after the restart the conversation goes on with every detail kept.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp

from backend.claims.cardnumber import is_valid_card_number
from tests.people import MINORITY
from tests.stack import NEEDS_STACK, SCALED_E2E_OVERRIDES, Stack, run_services, say, slots, text
from trust.secrets import RASA_AUTH_TOKEN, secret

pytestmark = NEEDS_STACK
ROUNDS = 20
CAP = int(SCALED_E2E_OVERRIDES["CONVERSATION_MAX_MESSAGES"])


async def post(http: aiohttp.ClientSession, base: str, sender: str, message: str) -> tuple[int, Any]:
    async with http.post(
        f"{base}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=aiohttp.ClientTimeout(total=60),
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def events(base: str, sender: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{base}/conversations/{sender}/tracker", params={"token": secret(RASA_AUTH_TOKEN)}
        ) as resp:
            return (await resp.json())["events"]  # type: ignore[no-any-return]


async def test_any_instance_continues_any_conversation(scaled_stack: Stack) -> None:
    s = scaled_stack
    first, second = s.member_urls("rasa")
    me = "scaled-alternate"
    turns = [
        "我要领卡",
        '/choose_role{"role": "k12_student"}',
        '/inform{"k12_claimant": "self"}',
        MINORITY.name,
        MINORITY.id_number,
        "开通",
        "确认",
    ]
    async with aiohttp.ClientSession() as http:
        for i, message in enumerate(turns):
            status, reply = await post(http, (first, second)[i % 2], me, message)
            assert status == 200 and reply
    assert "领卡成功" in text(reply)
    state = await slots(s, me)
    assert is_valid_card_number(state["card_number"])
    assert (state["person_name"], state["face_verification"]) == (MINORITY.name, True)


async def test_a_conversation_past_its_length_cap_is_answered_politely_and_keeps_its_details(
    scaled_stack: Stack,
) -> None:
    """CONVERSATION_MAX_MESSAGES (the scaled stack of the tests: 60) user
    messages a session: past it, each instance answers without handling the
    message, whichever instance it reaches; the details stay."""
    s = scaled_stack
    members = s.member_urls("rasa")
    me = "scaled-capped"
    async with aiohttp.ClientSession() as http:
        assert (await post(http, members[0], me, "我要领卡"))[0] == 200
        await post(http, members[1], me, '/choose_role{"role": "k12_student"}')  # the form asks on
        for i in range(CAP - 2):
            status, reply = await post(http, members[i % 2], me, "你好")
            assert status == 200 and "消息已经很多" not in text(reply), i
        capped = [text((await post(http, members[i % 2], me, "你好"))[1]) for i in range(3)]
    assert "消息已经很多" in capped[-1] and "0791-88185066" in capped[-1]
    users = [e for e in await events(s.rasa_url, me) if e["event"] == "user"]
    assert CAP <= len(users) <= CAP + 1  # each instance counts what it saved last
    assert (await slots(s, me))["role"] == "k12_student"


class Interleaved(AssertionError):
    """Two messages of one conversation were processed at once."""


def check_turns(evs: list[dict[str, Any]], sent: list[str]) -> None:
    kinds = [e for e in evs if e["event"] in ("user", "action")]
    users = [e["text"] for e in kinds if e["event"] == "user"]
    if sorted(users) != sorted(sent):
        raise Interleaved(f"messages in the conversation: {users}, sent: {sent}")
    for here, after in pairwise(kinds):
        if here["event"] == "user" and after["event"] != "action":
            raise Interleaved(f"two user messages without a bot turn between them: {kinds}")


async def race_rounds(s: Stack, tag: str) -> None:
    first, second = s.member_urls("rasa")
    async with aiohttp.ClientSession() as http:
        for i in range(ROUNDS):
            me = f"race-{tag}-{i}"
            assert (await post(http, first, me, "你好"))[0] == 200
            answers = await asyncio.gather(
                post(http, first, me, "怎么领卡"), post(http, second, me, "在哪里查看电子卡")
            )
            assert [status for status, _ in answers] == [200, 200]
            check_turns(await events(s.rasa_url, me), ["你好", "怎么领卡", "在哪里查看电子卡"])


async def test_simultaneous_messages_at_two_instances_are_served_in_turn(scaled_stack: Stack) -> None:
    import redis

    s = scaled_stack
    assert s.env["LOCK_STORE_TYPE"] == "bot.lock_store.AtomicRedisLockStore"
    red = redis.Redis(host=s.env["LOCK_STORE_HOST"], port=int(s.env["LOCK_STORE_PORT"]), db=int(s.env["LOCK_STORE_DB"]))
    watches = int(red.info("commandstats").get("cmdstat_watch", {}).get("calls", 0))
    await race_rounds(s, "atomic")
    # Rasa really took its locks through our store (WATCH is ours alone),
    # and released every one.
    assert int(red.info("commandstats").get("cmdstat_watch", {}).get("calls", 0)) > watches
    assert not list(red.scan_iter("lock:race-atomic-*"))


async def test_load_balancer_rides_over_a_killed_instance(scaled_stack: Stack) -> None:
    s = scaled_stack
    me = "scaled-failover"
    await say(s, me, "我要领卡")
    await say(s, me, '/choose_role{"role": "k12_student"}')
    await say(s, me, '/inform{"k12_claimant": "self"}')
    try:
        s.kill("rasa-1")  # as a crash: no clean shutdown
        replies = [await say(s, f"scaled-failover-{i}", "在哪里查看电子卡") for i in range(6)]
        assert all("学习号" in text(r) or "电子卡" in text(r) for r in replies)
        reply = await say(s, me, "阿依古丽·买买提")
        assert "身份证号" in text(reply)
        s.stop("rasa-2")
        async with aiohttp.ClientSession() as http:
            status, busy = await post(http, s.rasa_url, me, "你好")
        assert status == 503
        assert isinstance(busy, list) and "系统繁忙" in busy[0]["text"] and "不会丢失" in busy[0]["text"]
    finally:
        s.start("rasa")
        s.wait_ready("rasa")
    state = await slots(s, me)
    assert (state["role"], state["requested_slot"], state["person_name"]) == (
        "k12_student",
        "id_number",
        "阿依古丽·买买提",
    )


def test_nginx_configuration_is_valid(scaled_stack: Stack, tmp_path: Path) -> None:
    """`nginx -t` on the configuration the profile wrote."""
    import subprocess

    conf = Path(scaled_stack.members["nginx"].command[-1])
    out = subprocess.run(
        [scaled_stack.members["nginx"].command[0], "-t", "-p", str(conf.parent), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(run_services.BUSY_REPLY)[0]["text"].startswith("系统繁忙")


async def test_nginx_temp_folder_is_removed_when_nginx_stops(scaled_stack: Stack) -> None:
    """Started as root, nginx's workers (nobody) get a temp folder of their
    own under /tmp: there while nginx runs, removed when it stops, made
    again when it starts (earlier stops left one behind per stack)."""
    temp, private = run_services.nginx_temp(scaled_stack.logs / "nginx")
    assert temp.is_dir()
    if private:
        assert temp.owner() == "nobody" and str(temp).startswith(tempfile.gettempdir())
    scaled_stack.stop("nginx")
    try:
        assert temp.exists() is not private  # a private one is gone; one in the stack's folder stays
    finally:
        scaled_stack.start("nginx")
        scaled_stack.wait_ready("nginx")
    assert temp.is_dir()
    assert await say(scaled_stack, "scaled-nginx-temp", "你好")  # through the restarted nginx
