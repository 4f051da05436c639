"""The Rasa engine environment (.venv-rasa, Python 3.10) that `make`
installs: Rasa 3.6.21, and our shared identity code importable there."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.rasa_cli import MODEL, NO_MODEL, RASA_PY, ROOT, rasa_env, run_rasa

pytestmark = pytest.mark.rasa  # needs the Rasa engine (make test-fast leaves these out)


def test_rasa_engine_environment(tmp_path: Path) -> None:
    assert RASA_PY.exists(), "no .venv-rasa: run `make install`"
    script = (
        "import sys, rasa, jieba, sqlalchemy; "
        "from identity import normalise_text, validate_id, mask_id; "
        "print(sys.version_info[:2], rasa.__version__, sqlalchemy.__version__, "
        "normalise_text('幫孩子領卡３６'), mask_id('36010219900101123X'))"
    )
    out = subprocess.run(
        [str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=rasa_env(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(3, 10) 3.6.21 1.4.54 帮孩子领卡36 3601**********123X"


def test_rasa_data_validates_without_warnings(tmp_path: Path) -> None:
    # Training data only (data/): the test stories of tests/stories/ are not read.
    out = run_rasa(["data", "validate", "--fail-on-warnings"], home=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # --fail-on-warnings lets "not used in any story or rule" pass: check it
    # too. Rasa's validator does not see the responses that the form asks
    # (utter_ask_<slot>) and that actions send by name: those must really be
    # sent, everything else must be used by a rule.
    unused = re.findall(r"The (?:utterance|intent) '(\w+)' is not used in any story or rule", out.stdout + out.stderr)
    actions_source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "actions").glob("*.py"))
    form_slots = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["forms"]["claim_form"][
        "required_slots"
    ]
    sent_by_code = {u for u in unused if f'"{u}"' in actions_source or u in {f"utter_ask_{s}" for s in form_slots}}
    assert set(unused) == sent_by_code, set(unused) - sent_by_code


def test_schema_cache_validates_like_jsonschema(tmp_path: Path) -> None:
    """bot/patches/jsonschema_cache.py (installed in the Rasa server by python -m bot):
    same answers as jsonschema.validate, the schema checked once."""
    script = """
import jsonschema
from jsonschema import ValidationError
from bot.patches import jsonschema_cache
from rasa.core.actions.action import RemoteAction

schema = RemoteAction("action_x", None).action_response_format_spec()
good = {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": [{"text": "hi"}]}
bad = {"events": "not a list", "responses": []}
checks = []
original_check = jsonschema.validators.validator_for(schema).check_schema
def counting(s):
    checks.append(1)
    return original_check(s)
jsonschema.validators.validator_for(schema).check_schema = staticmethod(counting)
jsonschema_cache.install()
for _ in range(3):
    jsonschema.validate(good, schema)
    try:
        jsonschema.validate(bad, schema)
    except ValidationError as e:
        assert "not a list" in str(e) or "array" in str(e), e
    else:
        raise SystemExit("bad instance accepted")
assert RemoteAction("action_x", None)._validate_action_result(good)
assert len(checks) == 1, checks
print("ok")
"""
    out = subprocess.run(
        [str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=rasa_env(tmp_path)
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr


def test_fast_schema_validation_used_for_valid_responses(tmp_path: Path) -> None:
    """A valid action response passes on the compiled (fastjsonschema)
    validator alone, events checked against the schema their name picks out
    of the `oneOf`; jsonschema walks only the ones it rejects, and rejects
    them all."""
    script = """
import jsonschema
from jsonschema import ValidationError, validators
from bot.patches import jsonschema_cache
from rasa.core.actions.action import RemoteAction

schema = RemoteAction("action_x", None).action_response_format_spec()
walks = []
cls = validators.validator_for(schema)
original_iter = cls.iter_errors
def counting(self, *a, **k):
    if self.schema == schema:  # the response's walk, not the metaschema's or a subschema's
        walks.append(1)
    return original_iter(self, *a, **k)
cls.iter_errors = counting
jsonschema_cache.install()
good = {"events": [{"event": "slot", "name": "a", "value": 1}, {"event": "active_loop", "name": None}],
        "responses": [{"text": "您好", "buttons": [{"title": "是", "payload": "/affirm"}]}]}
for _ in range(5):
    jsonschema.validate(good, schema)
assert walks == [], walks
bad = [{"events": "x", "responses": []}, {"events": [{"event": 3}], "responses": []},
       {"events": [{"event": "slot", "name": "a"}]},  # no value
       {"events": [{"event": "no_such_event"}]}, {"events": [{"name": "a", "value": 1}]},
       {"events": [{"event": "slot", "name": 1, "value": 2}]},
       {"events": [{"event": ["slot"], "name": "a", "value": 1}]},
       {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}]}, {"responses": "x"},
       {"events": [{"event": "slot", "name": "a", "value": 1}, "not an event"]}]
for instance in bad:
    try:
        jsonschema.validate(instance, schema)
    except ValidationError:
        pass
    else:
        raise SystemExit(f"accepted {instance}")
assert len(walks) == len(bad), walks  # each rejected by the compiled check, then explained by jsonschema
print("ok")
"""
    out = subprocess.run(
        [str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=rasa_env(tmp_path)
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr


def test_action_calls_encoded_with_orjson_as_json_would(tmp_path: Path) -> None:
    """bot/patches/http_client.py: a real action call's body (a tracker with a
    message's parse, the whole domain) encoded by orjson decodes to what
    json.dumps would have sent."""
    script = """
import json
import numpy as np
from bot.patches import http_client
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

domain = Domain.load("domain.yml")
tracker = DialogueStateTracker.from_events("s1", [
    ActionExecuted("action_listen"),
    UserUttered("我叫阿依古丽·买买提", {"name": "inform", "confidence": 0.98},
                [{"entity": "person_name", "value": "阿依古丽·买买提", "start": 2, "end": 10}]),
    SlotSet("person_name", "阿依古丽·买买提"),
], domain.slots)
body = RemoteAction("validate_claim_form", None)._action_call_format(tracker, domain)
encoded = http_client.dumps(body)
assert json.loads(encoded) == json.loads(json.dumps(body)), "different JSON"
assert "阿依古丽" in encoded  # UTF-8, not \\u escapes
assert json.loads(http_client.dumps({"c": np.float32(0.5), 1: "x"})) == {"c": 0.5, "1": "x"}
class Odd:
    pass
try:
    http_client.dumps({"x": Odd()})
except TypeError:
    pass  # json.dumps' own error, as before
else:
    raise SystemExit("an object with no JSON form was encoded")
print("ok")
"""
    out = subprocess.run(
        [str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=rasa_env(tmp_path)
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr


def test_action_calls_reuse_connections_and_survive_a_server_restart(tmp_path: Path) -> None:
    """bot/patches/http_client.py: Rasa's EndpointConfig.request through a real
    HTTP server (aiohttp, standing in for the action server) - ten calls,
    one TCP connection, bodies JSON-encoded by orjson; the server restarted
    on the same port: the next call opens a new connection and succeeds;
    a server closing idle connections after 5 s as Sanic does: the client
    has let them go first; the sessions close at server stop."""
    script = """
import asyncio, json, socket
from aiohttp import web
from bot.patches import http_client
from rasa.utils.endpoints import EndpointConfig

http_client.install()
http_client.install()  # idempotent
peers, bodies = [], []

async def handler(request):
    peers.append(request.transport.get_extra_info("peername"))
    bodies.append(await request.text())
    return web.json_response({"events": [], "responses": []})

async def serve(port, keepalive=75.0):
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app, keepalive_timeout=keepalive)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner

async def main():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    runner = await serve(port)
    for i in range(10):
        assert await endpoint.request(json={"n": i, "名": "领卡"}, method="post") == {"events": [], "responses": []}
    assert len(set(peers)) == 1, peers
    assert bodies[0] == '{"n":0,"名":"领卡"}', bodies[0]
    async with endpoint.session() as first:
        pass
    async with endpoint.session() as second:
        assert second is first and not first.closed
    await runner.cleanup()  # the action server stops...
    runner = await serve(port)  # ...and comes back
    await asyncio.sleep(0.1)
    assert await endpoint.request(json={"n": 10}, method="post") == {"events": [], "responses": []}
    assert len(set(peers)) == 2, peers
    await runner.cleanup()
    runner = await serve(port, keepalive=http_client.KEEPALIVE_SECONDS + 3)  # Sanic's 5 s
    await endpoint.request(json={"n": 11}, method="post")
    await asyncio.sleep(http_client.KEEPALIVE_SECONDS + 1)  # idle: the client let it go
    await endpoint.request(json={"n": 12}, method="post")
    assert len(set(peers)) == 4, peers
    await http_client.close_sessions()
    assert first.closed
    await runner.cleanup()
    print("ok")

asyncio.run(main())
"""
    out = subprocess.run(
        [str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, env=rasa_env(tmp_path)
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr


def test_nlu_cache_answers_what_the_pipeline_answers(tmp_path: Path) -> None:
    """bot/patches/nlu_cache.py on the trained model (tests/bot/nlu_cache_check.py)."""
    if not MODEL.exists():
        pytest.fail(NO_MODEL)
    out = subprocess.run(
        [str(RASA_PY), "tests/bot/nlu_cache_check.py", str(MODEL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=rasa_env(tmp_path),
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    texts = result["texts"]
    assert texts >= 80
    assert result == {
        "texts": texts,
        "mismatches": 0,
        "pipeline_runs_per_text": 2,
        "cached_parses": texts,
        "hits": texts + 2,
    }
