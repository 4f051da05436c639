"""Understanding Chinese: the training data's shape, and the trained
model's scores on held-out sets (tests/nlu/) that training never sees:
test_nlu.yml (the first test set), dev.yml (for tuning) and heldout.yml
(the exam: intent accuracy >= 0.97, entity recall >= 0.95, scored by
tests/model/nlu_score.py)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from identity import normalise_for_nlu, validate_id
from tests.model.nlu_score import ANNOTATION, plain, read_examples, score
from tests.rasa_cli import MODEL, NO_MODEL, RASA, RASA_PY, ROOT, rasa_env, run_rasa

pytestmark = pytest.mark.rasa  # needs the Rasa engine (make test-fast leaves these out)

CONTRACT_INTENTS = {
    "greet",
    "goodbye",
    "affirm",
    "deny",
    "thank",
    "claim_card",
    "choose_role",
    "inform",
    "request_human",
    "out_of_scope",
    "faq_claim_failed",
    "faq_cannot_claim_for_child",
    "faq_verified_no_card",
    "faq_identity_mismatch",
    "faq_claim_entry",
    "faq_view_card",
    "faq_claim_period",
    "faq_what_is_account",
    "faq_fee",
    "faq_face_recognition",
    "faq_contact_support",
}
# Internal intents (domain.yml), not in the contract: repairs and follow-ups.
INTERNAL_INTENTS = {
    "correct",
    "next_child",
    "ask_followup",
    "relative_claim",
    "faq_official",
    "faq_school_feedback",
    "repeat",
    "dont_know",
}
ROLE_VALUES = {"k12_student", "parent", "university_student", "teacher", "public"}
MIN_ACCURACY = 0.95
HELDOUT_MIN_INTENT_ACCURACY = 0.97
HELDOUT_MIN_ENTITY_RECALL = 0.95
# What the model reaches today, as regression guards (issue 12 asks for the
# two figures above). heldout.yml reaches them, but the second round of
# training data was asked for with phrasings seen among its errors, so it is
# no longer a clean exam; exam2.yml, written afterwards by someone who saw
# neither, is: there the targets are not met yet (strict xfail below).
# exam3.yml (session 12) was written from docs/NLU_GUIDE.md and the notice
# only, as were training rounds 3 and 4 from the training data only (none of
# their writers saw a test set). Reached with them: exam2 0.941 / 0.944,
# exam3 0.964 / 0.975, heldout 0.984 / 0.994 (session 14: exam2 0.938 / 0.960, exam3
# 0.975 / 0.975, heldout 0.982 / 0.994). Session 15 trained round 5
# (data/nlu/round5.yml, written blind from docs/NLU_GUIDE.md): exam2 0.951 /
# 0.960, exam3 0.969 / 0.975, heldout 0.984 / 0.994 (the same data retrained
# moves a figure by up to 0.006). Session 16 measured how far the same data
# retrained on two machines of this kind moves: exam2 0.935 to 0.951, exam3
# 0.964 to 0.975 in intent accuracy: the floors below leave that room, so a
# regression guard fails on a real regression and not on training noise.
REACHED = {"heldout.yml": (0.97, 0.985), "exam2.yml": (0.925, 0.94), "exam3.yml": (0.955, 0.96)}
CLEAN_EXAMS = ("exam2.yml", "exam3.yml")
NLU_SETS = ROOT / "tests" / "nlu"
HELD_OUT = [
    NLU_SETS / "test_nlu.yml",
    NLU_SETS / "dev.yml",
    NLU_SETS / "heldout.yml",
    NLU_SETS / "exam2.yml",
    NLU_SETS / "exam3.yml",
]


def examples(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        for example in read_examples(path):
            found.setdefault(example.intent, []).append(example.source)
    return found


def leak_key(text: str) -> str:
    """Texts compared as the model sees them: Traditional and full-width
    typed the same as Simplified and half-width."""
    return "".join(normalise_for_nlu(text).split()).casefold()


def training_lines() -> list[tuple[str, int, str]]:
    """(file, line number, text) of every intent example of data/nlu/."""
    found = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        block = ""
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("- ") and ":" in stripped and not line.startswith("      "):
                block = stripped[2:].split(":", 1)[0].strip()  # intent, synonym, regex, lookup
            elif stripped.startswith("- ") and block == "intent":
                found.append((path.name, number, plain(stripped[2:].strip())))
    return found


TRAIN = examples(sorted((ROOT / "data" / "nlu").glob("*.yml")))
TEST = examples([ROOT / "tests" / "nlu" / "test_nlu.yml"])


def test_every_contract_intent_is_trained_and_tested() -> None:
    assert CONTRACT_INTENTS <= set(TRAIN)
    assert set(TEST) <= set(TRAIN)
    for intent in CONTRACT_INTENTS:
        assert len(set(TRAIN[intent])) >= 25, intent
        assert len(set(TEST[intent])) >= 8, intent


def test_internal_intents_are_trained() -> None:
    assert INTERNAL_INTENTS <= set(TRAIN)
    for intent in INTERNAL_INTENTS:
        assert len(set(TRAIN[intent])) >= 40, intent
    for path in HELD_OUT[1:]:
        if path.exists():
            assert set(examples([path])) <= set(TRAIN), path.name


@pytest.mark.parametrize("path", HELD_OUT, ids=lambda p: p.name)
def test_held_out_sets_are_held_out(path: Path) -> None:
    """No text of a held-out set is a training example (the failure names
    the training examples to drop, never the held-out texts)."""
    if not path.exists():
        pytest.skip(f"no {path.name}")
    held = {leak_key(e.text) for e in read_examples(path)}
    leaked = [f"{name}:{number}" for name, number, text in training_lines() if leak_key(text) in held]
    assert leaked == [], f"{len(leaked)} training examples also in {path.name}: {leaked}"


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
    """`rasa test nlu` on the first test set (its own report: F1 per intent)."""
    assert MODEL.exists(), NO_MODEL
    out = run_rasa(
        ["test", "nlu", "--nlu", "tests/nlu/test_nlu.yml", "--model", str(MODEL), "--out", str(tmp_path / "results")],
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "intent_report.json").read_text())
    weak = {k: v["f1-score"] for k, v in report.items() if isinstance(v, dict) and v.get("f1-score", 1) < 0.8}
    assert report["accuracy"] >= MIN_ACCURACY, (report["accuracy"], weak)


async def parse_all(stack: Any, texts: list[str]) -> dict[str, dict[str, Any]] | None:
    """Each distinct text through the running Rasa server's /model/parse
    (None when the server wants a token the tests do not have)."""
    token = stack.env.get("RASA_AUTH_TOKEN") or stack.env.get("RASA_TOKEN")
    params = {"token": token} if token else {}
    found: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession() as http:
        for text in dict.fromkeys(texts):
            async with http.post(
                f"{stack.rasa_url}/model/parse",
                json={"text": text},
                params=params,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                if resp.status in (401, 403):
                    return None
                assert resp.status == 200, (resp.status, await resp.text())
                found[text] = await resp.json()
    return found


def scores_by_subprocess(paths: list[Path], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """tests/model/nlu_score.py's CLI in .venv-rasa: loads the model once."""
    args = [str(RASA_PY), "-m", "tests.model.nlu_score", "--model", str(MODEL), "--json"]
    for path in paths:
        args += ["--data", str(path)]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900, env=rasa_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    by_path = json.loads(out.stdout.strip().splitlines()[-1])
    return {Path(k).name: v for k, v in by_path.items()}


_SCORES: dict[str, dict[str, Any]] = {}


async def held_out_scores(stack: Any, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The exam: tests/nlu/heldout.yml, colloquial messages written by
    someone else, never trained on; and the first test set. Parsed once by
    the test session's running Rasa server (already loaded for the
    end-to-end tests: seconds, not a minute's model load); by the scorer's
    CLI when that server will not answer /model/parse."""
    if _SCORES:
        return _SCORES
    paths = [NLU_SETS / "heldout.yml", NLU_SETS / "exam2.yml", NLU_SETS / "exam3.yml", NLU_SETS / "test_nlu.yml"]
    assert all(p.exists() for p in paths), paths
    sets = {p.name: read_examples(p) for p in paths}
    parses = await parse_all(stack, [e.text for exs in sets.values() for e in exs])
    if parses is None:
        results = scores_by_subprocess(paths, tmp_path)
    else:
        results = {name: score(exs, parses.__getitem__) for name, exs in sets.items()}
    for name, result in results.items():
        print(
            f"{name}: intent accuracy {result['intent_accuracy']:.4f}, entity recall {result['entity_recall']:.4f}, "
            f"entity precision {result['entity_precision']:.4f} ({result['examples']} examples)"
        )
    _SCORES.update(results)
    return _SCORES


@pytest.mark.skipif(not MODEL.exists(), reason=NO_MODEL)
@pytest.mark.parametrize("name", sorted(REACHED))
async def test_held_out_scores_do_not_fall_below_what_was_reached(
    default_stack: Any, tmp_path: Path, name: str
) -> None:
    results = await held_out_scores(default_stack, tmp_path)
    result = results[name]
    intent, entities = REACHED[name]
    weak = {k: v for k, v in result["per_intent"].items() if v["correct"] < v["total"]}
    assert result["intent_accuracy"] >= intent, (result["intent_accuracy"], weak)
    assert result["entity_recall"] >= entities, (result["entity_recall"], result["missed_entities"])
    assert results["test_nlu.yml"]["intent_accuracy"] >= MIN_ACCURACY


def pooled(results: dict[str, dict[str, Any]], names: tuple[str, ...]) -> tuple[float, float]:
    """Intent accuracy and entity recall over several scored sets together
    (weighted by their examples and annotated entities)."""
    examples = sum(results[n]["examples"] for n in names)
    annotated = sum(results[n]["annotated_entities"] for n in names)
    intent = sum(results[n]["intent_accuracy"] * results[n]["examples"] for n in names) / examples
    entities = sum(results[n]["entity_recall"] * results[n]["annotated_entities"] for n in names) / annotated
    return intent, entities


@pytest.mark.skipif(not MODEL.exists(), reason=NO_MODEL)
@pytest.mark.xfail(
    strict=True,
    reason="issue 12's targets (intent >= 0.97, entities >= 0.95) are not met on the "
    "clean exams together yet (about 0.955 / 0.96, varying with training); strict: "
    "the suite says so when they are",
)
async def test_the_clean_exams_together_meet_the_targets(default_stack: Any, tmp_path: Path) -> None:
    """exam2 and exam3, pooled: one figure over the several hundred messages nobody trained
    from varies less with training than either exam alone (exam3 alone
    crossed 0.97 in some trainings and not in others)."""
    intent, entities = pooled(await held_out_scores(default_stack, tmp_path), CLEAN_EXAMS)
    print(f"clean exams together: intent accuracy {intent:.4f}, entity recall {entities:.4f}")
    assert intent >= HELDOUT_MIN_INTENT_ACCURACY, intent
    assert entities >= HELDOUT_MIN_ENTITY_RECALL, entities
