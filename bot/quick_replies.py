"""QuickReplies: a typed button title is the button.

People type what they could tap: "本人领取", "确认无误，领卡", "暂不开通".
The last component of the NLU pipeline looks the message up among the
titles of every button the bot shows (contract/buttons.py, and the buttons
of domain.yml's responses); a match gets exactly the parse tapping would
give: the payload's intent at confidence 1 and its entities. Anything else
passes through untouched.

Titles are compared after the NLU normalisation (full-width, Traditional)
without spaces, punctuation and a polite tail ("本人领取吧", "开通。"), so
"確認無誤 領卡" is the confirm button too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from contract.buttons import REGISTRY, parse_payload
from identity import normalise_for_nlu

DOMAIN = Path(__file__).resolve().parent.parent / "domain.yml"
_NOISE = re.compile(r"[\s,，。.!！?？、~～:：;；\"'“”‘’()（）【】\[\]]+")
_TAIL = re.compile(r"(吧|呀|啊|哦|噢|哈|啦|的|嗯)+$")

Parse = tuple[str, dict[str, Any]]


def key(text: str) -> str:
    return _TAIL.sub("", _NOISE.sub("", normalise_for_nlu(text or "")))


def domain_buttons(path: Path = DOMAIN) -> list[dict[str, str]]:
    """The buttons of domain.yml's responses."""
    domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for variants in (domain.get("responses") or {}).values():
        for variant in variants or []:
            found.extend(variant.get("buttons") or [])
    return found


def title_table(domain: Path = DOMAIN) -> dict[str, Parse]:
    """Normalised title -> (intent, entities) of every button."""
    table: dict[str, Parse] = {}
    pairs = [(b.title, b.payload) for b in REGISTRY] + [(b["title"], b["payload"]) for b in domain_buttons(domain)]
    for title, payload in pairs:
        parsed = parse_payload(payload)
        if parsed is None:
            raise ValueError(f"button {title!r}: payload {payload!r} is not /intent{{...}}")
        known = table.setdefault(key(title), parsed)
        if known != parsed:
            raise ValueError(f"button title {title!r} has two payloads: {known} and {parsed}")
    return table


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class QuickReplies(GraphComponent):
    def __init__(self, table: dict[str, Parse]) -> None:
        self.table = table

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> QuickReplies:
        return cls(title_table())

    def match(self, text: str) -> Parse | None:
        if not text or len(text) > 40:
            return None
        return self.table.get(key(text))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text: str | None = message.get(TEXT)
            found = self.match(text or "")
            if found is None:
                continue
            intent, entities = found
            message.set(INTENT, {"name": intent, "confidence": 1.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 1.0}], add_to_output=True)
            message.set(
                ENTITIES,
                [
                    {"entity": k, "value": v, "start": 0, "end": len(text or ""), "extractor": "QuickReplies"}
                    for k, v in entities.items()
                ],
                add_to_output=True,
            )
        return messages
