"""bot/patches/nlu_cache.py against the trained model: a cached parse is the parse.

Run with the Rasa environment's Python (it loads the model):

    .venv-rasa/bin/python tests/bot/nlu_cache_check.py models/xuexihao.tar.gz

Loads the model as the Rasa server does and parses a third of the held-out
NLU test set's texts with the pipeline alone; then installs the cache and
types each text three times: checks that every answer is exactly the
pipeline's, that the pipeline ran for the first two times only (a text's parse
is kept from its second sighting), that a text typed once (a name) never
enters the cache, that the caller cannot change a cached parse, and that a
parse with all properties (it holds the message id) is never agent.
Prints one JSON line.

Used by tests/bot/test_rasa_engine.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")


def test_texts() -> list[str]:
    import yaml

    texts = []
    for block in yaml.safe_load((ROOT / "tests" / "nlu" / "test_nlu.yml").read_text(encoding="utf-8"))["nlu"]:
        for line in block.get("examples", "").splitlines():
            if line.strip().startswith("- "):
                texts.append(ANNOTATION.sub(lambda m: m.group(1), line.strip()[2:]))
    return texts


def comparable(parse: dict[str, Any]) -> str:
    return json.dumps(parse, sort_keys=True, ensure_ascii=False, default=str)


async def main(model: str) -> dict[str, Any]:
    import structlog
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from bot.patches import nlu_cache

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    agent = Agent.load(model)
    texts = list(dict.fromkeys(test_texts()))[::3]
    # The pipeline's own answers, before the cache is installed.
    expected = {text: comparable(await agent.parse_message(text)) for text in texts}

    os.environ["NLU_CACHE_SIZE"] = "4096"  # a processor's cache takes its size when first used
    nlu_cache.install()
    nlu_cache.install()  # idempotent
    cache = nlu_cache.cache_of(agent.processor)
    assert cache.size == 4096
    runs = {"n": 0}
    graph_run = agent.processor.graph_runner.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        runs["n"] += 1
        return graph_run(*args, **kwargs)

    agent.processor.graph_runner.run = counting_run  # type: ignore[method-assign]

    mismatches = []
    for text in texts:
        before = runs["n"]
        answers = [comparable(await agent.parse_message(text)) for _ in range(3)]
        if runs["n"] - before != 2:
            raise SystemExit(f"pipeline ran {runs['n'] - before} times for a text typed 3 times")
        mismatches += [text for answer in answers if answer != expected[text]]
    if mismatches:
        raise SystemExit(f"{len(mismatches)} cached parses differ, e.g. {mismatches[0]!r}")

    # A parse handed out is a copy.
    first = await agent.parse_message(texts[0])
    first["intent"]["name"] = "changed"
    first["entities"].append({"entity": "x"})
    again = await agent.parse_message(texts[0])
    assert again["intent"]["name"] != "changed" and {"entity": "x"} not in again["entities"], again

    # A one-off text never enters the cache.
    kept = len(cache._parses)
    await agent.parse_message("欧阳紫萱")
    assert len(cache._parses) == kept

    # All properties (message id, metadata): never from the cache.
    before = runs["n"]
    for _ in range(3):
        agent.processor._parse_message_with_graph(UserMessage(texts[0]), None, only_output_properties=False)
    assert runs["n"] - before == 3, runs

    return {
        "texts": len(texts),
        "mismatches": 0,
        "pipeline_runs_per_text": 2,
        "cached_parses": len(cache._parses),
        "hits": cache.hits,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
