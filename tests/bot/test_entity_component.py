"""bot/entities.py's EntityRules as the pipeline runs it (in .venv-rasa):
what DIET guessed for the intent does not change the entities of a message
that is nothing but a name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.rasa_cli import RASA_PY, ROOT, rasa_env

pytestmark = pytest.mark.rasa  # needs the Rasa engine environment

# Runs each (text, DIET's intent) through the component; prints, as JSON,
# the intent and the entities it leaves.
PROBE = """
import json
from rasa.shared.nlu.training_data.message import Message
from bot.entities import EntityRules
component = EntityRules(EntityRules.get_default_config())
out = []
for text, intent in {cases!r}:
    message = Message(data={{"text": text, "intent": {{"name": intent, "confidence": 0.6}}, "entities": []}})
    component.process([message])
    out.append([message.get("intent")["name"], [(e["entity"], e["value"]) for e in message.get("entities")]])
print(json.dumps(out, ensure_ascii=False))
"""


def run_component(cases: list[tuple[str, str]], home: Path) -> list[list[object]]:
    out = subprocess.run(
        [str(RASA_PY), "-c", PROBE.format(cases=cases)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=rasa_env(home),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.skipif(not RASA_PY.exists(), reason="no .venv-rasa: run make install")
def test_a_bare_name_is_an_inform_with_its_name_whatever_diet_guessed(tmp_path: Path) -> None:
    """王大明 alone is read as inform (the intent rule) and must carry its
    person_name too, also when DIET first guessed greet or faq: otherwise the
    same message gets an entity or not depending on DIET's guess, and a
    pseudonymised export of it (张小三) no longer replays."""
    cases = [("王大明", "greet"), ("王大明", "faq_fee"), ("王大明", "inform"), ("张小三", "greet")]
    got = run_component(cases, tmp_path)
    assert got == [
        ["inform", [["person_name", "王大明"]]],
        ["inform", [["person_name", "王大明"]]],
        ["inform", [["person_name", "王大明"]]],
        ["inform", [["person_name", "张小三"]]],
    ]


@pytest.mark.skipif(not RASA_PY.exists(), reason="no .venv-rasa: run make install")
def test_a_question_is_not_turned_into_a_name(tmp_path: Path) -> None:
    got = run_component([("收费吗", "faq_fee"), ("你好", "greet")], tmp_path)
    assert got == [["faq_fee", []], ["greet", []]]
