"""Scoring the NLU model on an annotated Rasa NLU YAML file.

`score(examples, parse)` is a pure function: `examples` come from
`read_examples(path)`, `parse(text)` answers what Rasa's `/model/parse`
answers (a dict with `intent` and `entities`).

- intent accuracy: predicted intent name == annotated intent; for an
  annotated `out_of_scope`, `nlu_fallback` counts as correct;
- entity recall: of all annotated (entity, value) pairs, the fraction among
  the predicted entities (same entity name and value; person_name values
  compared after identity.normalise_name, id_number after
  identity.normalise_id);
- entity precision: of all predicted (entity, value) pairs, the fraction
  annotated.

For tuning, with the Rasa environment (loads the model once):

    .venv-rasa/bin/python -m tests.model.nlu_score --model models/xuexihao.tar.gz --data tests/nlu/dev.yml

prints the scores, the errors per intent and the missed entities
(`--json` prints one JSON object instead).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from identity import normalise_id, normalise_name  # noqa: E402

# [text](entity), [text](entity:value), [text]{"entity": ..., "value": ...}
ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")
FALLBACK = "nlu_fallback"


class Example(NamedTuple):
    intent: str
    text: str  # annotations removed
    entities: tuple[tuple[str, str], ...]  # (entity, value), values as annotated
    source: str  # the line as written


def annotation_of(span: str, annotation: str) -> tuple[str, str]:
    """(entity, value) of one annotation."""
    if annotation.startswith("{"):
        data = json.loads(annotation)
        return data["entity"], str(data.get("value", span))
    entity, _, value = annotation[1:-1].partition(":")
    return entity.strip(), (value.strip() or span)


def plain(example: str) -> str:
    return ANNOTATION.sub(lambda m: m.group(1), example)


def parse_example(intent: str, line: str) -> Example:
    entities = tuple(annotation_of(span, ann) for span, ann in ANNOTATION.findall(line))
    return Example(intent, plain(line), entities, line)


def example_lines(block: dict[str, Any]) -> list[str]:
    return [ln.strip()[2:].strip() for ln in (block.get("examples") or "").splitlines() if ln.strip().startswith("- ")]


def read_examples(path: Path | str) -> list[Example]:
    """The intent examples of a Rasa NLU YAML file, in file order."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    found = []
    for block in data.get("nlu") or []:
        if "intent" in block:
            found.extend(parse_example(block["intent"], line) for line in example_lines(block))
    return found


def canonical(entity: str, value: Any) -> tuple[str, str]:
    text = "" if value is None else str(value)
    if entity == "person_name":
        return entity, normalise_name(text)
    if entity == "id_number":
        return entity, normalise_id(text)
    return entity, text.strip()


def intent_ok(expected: str, predicted: str) -> bool:
    return predicted == expected or (expected == "out_of_scope" and predicted == FALLBACK)


def score(examples: Iterable[Example], parse: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Intent accuracy, entity recall and precision, and the errors."""
    total = correct = 0
    annotated = found = predicted_n = predicted_ok = 0
    errors: dict[str, list[dict[str, Any]]] = defaultdict(list)
    confusion: Counter[tuple[str, str]] = Counter()
    missed: list[dict[str, Any]] = []
    spurious: list[dict[str, Any]] = []
    per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ex in examples:
        result = parse(ex.text)
        name = ((result.get("intent") or {}).get("name")) or ""
        total += 1
        per_intent[ex.intent][1] += 1
        if intent_ok(ex.intent, name):
            correct += 1
            per_intent[ex.intent][0] += 1
        else:
            conf = (result.get("intent") or {}).get("confidence")
            errors[ex.intent].append({"text": ex.text, "predicted": name, "confidence": round(float(conf or 0), 3)})
            confusion[(ex.intent, name)] += 1
        want = Counter(canonical(e, v) for e, v in ex.entities)
        got = Counter(canonical(e.get("entity", ""), e.get("value")) for e in result.get("entities") or [])
        hit = want & got
        annotated += sum(want.values())
        found += sum(hit.values())
        predicted_n += sum(got.values())
        predicted_ok += sum(hit.values())
        if want - got:
            missed.append(
                {"text": ex.text, "intent": ex.intent, "missed": sorted(want - got), "predicted": sorted(got)}
            )
        if got - want:
            spurious.append({"text": ex.text, "intent": ex.intent, "spurious": sorted(got - want)})
    return {
        "examples": total,
        "intent_accuracy": correct / total if total else 0.0,
        "entity_recall": found / annotated if annotated else 1.0,
        "entity_precision": predicted_ok / predicted_n if predicted_n else 1.0,
        "annotated_entities": annotated,
        "per_intent": {k: {"correct": v[0], "total": v[1]} for k, v in sorted(per_intent.items())},
        "errors": dict(errors),
        "confusion": [{"expected": a, "predicted": b, "count": n} for (a, b), n in confusion.most_common()],
        "missed_entities": missed,
        "spurious_entities": spurious,
    }


def report(result: dict[str, Any], out: Any = sys.stdout) -> None:
    w = out.write
    w(
        f"examples {result['examples']}  intent accuracy {result['intent_accuracy']:.4f}  "
        f"entity recall {result['entity_recall']:.4f} (of {result['annotated_entities']})  "
        f"entity precision {result['entity_precision']:.4f}\n"
    )
    if result.get("ms_per_message") is not None:
        w(f"parse time {result['ms_per_message']:.2f} ms a message\n")
    w("\n== intent errors (expected -> predicted)\n")
    for intent, errs in sorted(result["errors"].items(), key=lambda kv: -len(kv[1])):
        n = result["per_intent"][intent]
        w(f"-- {intent}: {n['correct']}/{n['total']}\n")
        for e in errs:
            w(f"   {e['text']}  -> {e['predicted']} ({e['confidence']})\n")
    w("\n== missed entities\n")
    for m in result["missed_entities"]:
        w(f"   [{m['intent']}] {m['text']}\n      missed {m['missed']}  got {m['predicted']}\n")
    w("\n== spurious entities\n")
    for m in result["spurious_entities"]:
        w(f"   [{m['intent']}] {m['text']}  {m['spurious']}\n")


def rasa_environment() -> None:
    """As the Makefile's RASA_ENV: Rasa, TensorFlow, matplotlib and Jieba
    write their caches under HOME and TMPDIR (var/), and no telemetry."""
    var = ROOT / "var"
    for folder in ("rasa-home", "tmp"):
        (var / folder).mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(var / "rasa-home")
    os.environ["TMPDIR"] = str(var / "tmp")
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def score_model(model: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Load the model once (Rasa's Agent) and score every file."""
    rasa_environment()
    import asyncio
    import logging

    logging.disable(logging.WARNING)
    import structlog
    from rasa.core.agent import Agent

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    os.chdir(ROOT)  # the pipeline's paths (bot/jieba) are relative
    agent = Agent.load(model)
    loop = asyncio.new_event_loop()

    def parse(text: str) -> dict[str, Any]:
        return loop.run_until_complete(agent.parse_message(text))

    parse("你好")  # warm-up: the first parse builds TensorFlow's graph
    results = {}
    for path in paths:
        examples = read_examples(path)
        started = time.perf_counter()
        result = score(examples, parse)
        result["ms_per_message"] = 1000 * (time.perf_counter() - started) / max(1, len(examples))
        results[path] = result
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "xuexihao.tar.gz"))
    ap.add_argument("--data", action="append", required=True, help="a Rasa NLU YAML file (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON object {path: scores}")
    args = ap.parse_args(argv)
    results = score_model(args.model, args.data)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for path, result in results.items():
            print(f"##### {path}")
            report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
