"""Remember what the NLU pipeline made of texts that people type again and again.

Most messages of a claim are the same few texts (我要领卡, 不开通, 确认,
谢谢, the common questions); only names and ID numbers differ. The NLU
pipeline (Jieba, the featurizers, DIET's TensorFlow graph) is a pure
function of the text: the same text always parses the same way, and it is
the largest part of what a message costs the Rasa server
(bench/README.md "Chat load"). `install()` wraps Rasa 3.6's
`MessageProcessor._parse_message_with_graph` so that a text parsed before
gets a copy of that parse without running the pipeline.

A text's parse is kept only from the second time the text is seen (the
first time leaves an 8-byte digest of it), so one-off texts (a name, an ID
number) never enter the cache; at most `NLU_CACHE_SIZE` parses (4096) and
as many digests are kept, the least recently used dropped first.
`NLU_CACHE_SIZE=0` turns the cache off.

The cache belongs to the loaded model: a different model (Rasa can load
another one at run time) gets a new cache.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import OrderedDict
from typing import Any

from rasa.core.processor import MessageProcessor

DEFAULT_SIZE = 4096
_MARK = "_xuexihao_nlu_cache"


class ParseCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._parses: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _digest(key: tuple) -> bytes:
        return hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).digest()

    def get(self, key: tuple) -> dict[str, Any] | None:
        found = self._parses.get(key)
        if found is None:
            self.misses += 1
            return None
        self._parses.move_to_end(key)
        self.hits += 1
        return copy.deepcopy(found)

    def put(self, key: tuple, parse: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        digest = self._digest(key)
        if digest not in self._seen:
            self._seen[digest] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return
        self._seen.move_to_end(digest)
        self._parses[key] = copy.deepcopy(parse)
        if len(self._parses) > self.size:
            self._parses.popitem(last=False)


def cache_of(processor: MessageProcessor) -> ParseCache:
    """The processor's cache (one per loaded model)."""
    cache = processor.__dict__.get(_MARK)
    if cache is None:
        cache = ParseCache(int(os.environ.get("NLU_CACHE_SIZE") or DEFAULT_SIZE))
        setattr(processor, _MARK, cache)
    return cache


def install() -> None:
    """Idempotent."""
    original = MessageProcessor._parse_message_with_graph
    if getattr(original, _MARK, False):
        return

    def parse_message_with_graph(
        self: MessageProcessor, message: Any, tracker: Any, only_output_properties: bool = True
    ) -> dict[str, Any]:
        cache = cache_of(self)
        text = message.text
        if cache.size <= 0 or not isinstance(text, str) or not only_output_properties:
            # All properties include the message's id and metadata.
            return original(self, message, tracker, only_output_properties)
        key = (text,)
        found = cache.get(key)
        if found is not None:
            return found
        parse = original(self, message, tracker, only_output_properties)
        cache.put(key, parse)
        return parse

    setattr(parse_message_with_graph, _MARK, True)
    MessageProcessor._parse_message_with_graph = parse_message_with_graph  # type: ignore[method-assign]
