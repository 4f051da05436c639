"""Issue 5's lock-store race (RasaHQ/rasa#9213), proved and fixed.

Two processes stand for two Rasa instances sharing a Redis lock store: each
takes the lock of the same conversation at the same moment and holds it
for 20 ms (tests/bot/lock_race.py, run with the Rasa environment's Python, real
Redis on 127.0.0.1:6379). The same test shows open-source Rasa's
`RedisLockStore` letting both in at once, and `bot.lock_store.
AtomicRedisLockStore` (made from an endpoint config, as endpoints.yml would)
serving them one after the other, every message served. The same race
through two real Rasa servers is in tests/e2e/test_scaled.py.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.rasa_cli import RASA_PY, ROOT

ROUNDS = 40
pytestmark = pytest.mark.rasa


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


class Interleaved(AssertionError):
    """Two messages of one conversation were processed at once."""


def race(kind: str) -> dict[str, int]:
    assert redis_reachable(), "Redis on 127.0.0.1:6379 is needed (it runs on this machine and in CI)"
    out = subprocess.run(
        [str(RASA_PY), "tests/bot/lock_race.py", kind, "--rounds", str(ROUNDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "kind",
    [
        # The race: with Rasa's own store this test fails (strict: should the
        # stock store ever pass it, the suite says so).
        pytest.param(
            "stock", marks=pytest.mark.xfail(strict=True, raises=Interleaved, reason="RasaHQ/rasa#9213: GET-change-SET")
        ),
        "atomic",
    ],
)
def test_two_instances_serve_one_conversation_one_message_at_a_time(kind: str) -> None:
    result = race(kind)
    if result["overlapping_rounds"]:
        raise Interleaved(f"{result['overlapping_rounds']} of {ROUNDS} rounds interleaved: {result}")
    assert result == {"rounds": ROUNDS, "messages_served": 2 * ROUNDS, "overlapping_rounds": 0, "lock_errors": 0}


def test_a_lease_is_kept_while_held_and_lapses_when_its_instance_dies() -> None:
    """AtomicRedisLockStore's tickets are 1 s leases here (10 s in service):
    a holder busy for 3 s keeps the lock to itself, renewing it; a holder
    that dies while holding the lock frees it about a lease later, not
    after Rasa's 60 s ticket lifetime (tests/bot/lock_race.py `lease`)."""
    assert redis_reachable(), "Redis on 127.0.0.1:6379 is needed (it runs on this machine and in CI)"
    out = subprocess.run(
        [str(RASA_PY), "tests/bot/lock_race.py", "lease"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    slow, crashed = result["slow_holder"], result["crashed_holder"]
    assert slow["order"] == ["holder-start", "holder-end", "waiter"] and slow["holder_exit"] == 0
    assert crashed["order"] == ["holder-start", "waiter"] and crashed["holder_exit"] == 3
    # Well under Rasa's 60 s lifetime (about 1 s measured; the bound is generous for a busy machine).
    assert crashed["waited_s"] < 15
    assert slow["locks_left"] == crashed["locks_left"] == 0
