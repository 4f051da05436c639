"""EntityRules: the NLU pipeline's last word on entities (after DIET,
RegexEntityExtractor and EntitySynonymMapper).

The rules themselves are pure Python in bot/entity_rules.py (see its
docstring; the role and name rules in bot/role_rules.py and
bot/name_rules.py): role entities mapped to the five contract values or
dropped, roles and names DIET missed added for clear patterns, ID numbers
typed with separators joined and normalised, duplicates removed.

One intent rule, with high precision: a message that is nothing but a
plausible Chinese name (surname first, not an everyday word, see
name_rules.bare_name) is the answer to "what is the name", `inform`,
whatever DIET made of an unseen three-character word (often "affirm").
`bare_name_intent: false` turns it off.

Not trainable; registered as an entity extractor so the recipe runs it, in
pipeline order, at prediction time only.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.entity_rules import refine
from bot.name_rules import bare_name

NAME_INTENT = "inform"
NAME_INTENT_CONFIDENCE = 0.95


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class EntityRules(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"bare_name_intent": True}

    def __init__(self, config: dict[str, Any]) -> None:
        self.bare_name_intent = bool(config.get("bare_name_intent", True))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityRules:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._process(message)
        return messages

    def _process(self, message: Message) -> None:
        text: str | None = message.get(TEXT)
        if not text:
            return
        intent = message.get(INTENT) or {}
        name = intent.get("name") if isinstance(intent, dict) else None
        if self.bare_name_intent and name not in (NAME_INTENT, "correct") and bare_name(text):
            # First: the entities are refined for the intent the message ends
            # with, so a bare name carries its person_name whatever DIET guessed.
            self._set_intent(message, NAME_INTENT)
            name = NAME_INTENT
        entities = refine(text, message.get(ENTITIES) or [], name)
        message.set(ENTITIES, entities, add_to_output=True)

    @staticmethod
    def _set_intent(message: Message, intent_name: str) -> None:
        confidence = NAME_INTENT_CONFIDENCE
        message.set(INTENT, {"name": intent_name, "confidence": confidence}, add_to_output=True)
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != intent_name]
        scale = (1 - confidence) / (sum(r.get("confidence", 0) for r in ranking) or 1)
        ranking = [{**r, "confidence": r.get("confidence", 0) * scale} for r in ranking]
        message.set(INTENT_RANKING_KEY, [{"name": intent_name, "confidence": confidence}, *ranking], add_to_output=True)
