"""Understanding Chinese: the training data's shape, and the trained
model's intent accuracy on a held-out test set (tests/nlu/) that training
never sees."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from identity import validate_id
from tests.rasa_cli import MODEL, NO_MODEL, RASA, ROOT, run_rasa

pytestmark = pytest.mark.rasa  # needs the Rasa engine (make test-fast leaves these out)

CONTRACT_INTENTS = {
    "greet", "goodbye", "affirm", "deny", "thank", "claim_card", "choose_role", "inform", "request_human",
    "out_of_scope", "faq_claim_failed", "faq_cannot_claim_for_child", "faq_verified_no_card",
    "faq_identity_mismatch", "faq_claim_entry", "faq_view_card", "faq_claim_period", "faq_what_is_account",
    "faq_fee", "faq_face_recognition", "faq_contact_support",
}
ROLE_VALUES = {"k12_student", "parent", "university_student", "teacher", "public"}
ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")
MIN_ACCURACY = 0.95


def examples(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                lines = [ln[2:].strip() for ln in block["examples"].splitlines() if ln.strip().startswith("- ")]
                found.setdefault(block["intent"], []).extend(lines)
    return found


def plain(example: str) -> str:
    return ANNOTATION.sub(lambda m: m.group(1), example)


TRAIN = examples(sorted((ROOT / "data" / "nlu").glob("*.yml")))
TEST = examples([ROOT / "tests" / "nlu" / "test_nlu.yml"])


def test_every_contract_intent_is_trained_and_tested() -> None:
    assert CONTRACT_INTENTS <= set(TRAIN)
    assert set(TEST) <= set(TRAIN)
    for intent in CONTRACT_INTENTS:
        assert len(set(TRAIN[intent])) >= 25, intent
        assert len(set(TEST[intent])) >= 8, intent


def test_test_set_is_held_out() -> None:
    train = {plain(e) for lines in TRAIN.values() for e in lines}
    leaked = [e for lines in TEST.values() for e in lines if plain(e) in train]
    assert leaked == []


def test_annotated_entities_are_valid() -> None:
    roles: Counter[str] = Counter()
    for lines in list(TRAIN.values()) + list(TEST.values()):
        for example in lines:
            for text, annotation in ANNOTATION.findall(example):
                if annotation.startswith("{"):
                    data = json.loads(annotation)
                    entity, value = data["entity"], data.get("value", text)
                else:
                    entity, _, value = annotation[1:-1].partition(":")
                    value = value or text
                if entity == "role":
                    assert value in ROLE_VALUES, example
                    roles[value] += 1
                elif entity == "id_number":
                    assert validate_id(text).ok, example
                else:
                    assert entity == "person_name", example
    assert set(roles) == ROLE_VALUES


@pytest.mark.skipif(not RASA.exists(), reason="no .venv-rasa: run make install")
def test_intent_accuracy_on_the_held_out_set(tmp_path: Path) -> None:
    assert MODEL.exists(), NO_MODEL
    out = run_rasa(["test", "nlu", "--nlu", "tests/nlu/test_nlu.yml", "--model", str(MODEL),
                    "--out", str(tmp_path / "results")], home=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "intent_report.json").read_text())
    weak = {k: v["f1-score"] for k, v in report.items() if isinstance(v, dict) and v.get("f1-score", 1) < 0.8}
    assert report["accuracy"] >= MIN_ACCURACY, (report["accuracy"], weak)
