"""TextNormaliser: the first component of the NLU pipeline.

Rewrites each message's text (training examples and live messages alike)
with `identity.normalise_for_nlu`: full-width to half-width, Traditional to
Simplified, middle-dot variants to the middle dot. The rewrite keeps the
text's length, so entity offsets (annotated in training data, or found by
the extractors) stay valid for the original message.

Registered as a message featurizer so the recipe runs it, in pipeline order,
before the tokenizer; it adds no features.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from identity import normalise_for_nlu


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextNormaliser(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormaliser:
        return cls()

    @staticmethod
    def _normalise(message: Message) -> None:
        text: str | None = message.get(TEXT)
        if text:
            message.set(TEXT, normalise_for_nlu(text))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalise(example)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._normalise(message)
        return messages
