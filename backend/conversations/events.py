"""What a tracker event says: button payloads, entities, intents, and the names a conversation
identifies as names (the slots person_name and guardian_name, the entities of those names, the
channel's verified identity in metadata).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from backend.conversations.tracker import TrackerEvent
from identity import normalise_for_nlu

NAME_SLOTS = frozenset({"person_name", "guardian_name"})
ID_SLOTS = frozenset({"id_number", "guardian_id_number"})
# Keys of metadata (e.g. {"realname": {"name": ..., "id_number": ...}}).
NAME_KEYS = NAME_SLOTS | {"name", "realname_name"}
ID_KEYS = ID_SLOTS | {"id", "idcard", "id_card"}


def name_spans(value: str, names: Sequence[str]) -> list[tuple[int, int, str]]:
    """Where the known names occur in `value` (compared after the NLU's
    length-keeping normalisation: Traditional characters, full-width)."""
    if not names or not value:
        return []
    normalised = normalise_for_nlu(value)
    taken = [False] * len(value)
    spans: list[tuple[int, int, str]] = []
    for name in names:  # longest first
        start = normalised.find(name)
        while start >= 0:
            end = start + len(name)
            if not any(taken[start:end]):
                spans.append((start, end, name))
                for i in range(start, end):
                    taken[i] = True
            start = normalised.find(name, end)
    return sorted(spans)


def replace_spans(value: str, spans: Iterable[tuple[int, int, str]], replace: Any) -> str:
    out, pos = [], 0
    for start, end, name in spans:
        out.append(value[pos:start])
        out.append(replace(value[start:end], name))
        pos = end
    out.append(value[pos:])
    return "".join(out)


def known_name(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    name = normalise_for_nlu(raw.strip())
    return name if len(name) >= 2 else None


_PAYLOAD = re.compile(r"^/([^{@\s]+)(?:@[0-9.]+)?(\{.*\})?\s*$", re.DOTALL)


def parse_payload(value: Any) -> tuple[str, dict[str, Any]] | None:
    """`/choose_role{"role": "parent"}` -> ("choose_role", {"role": "parent"})."""
    if not isinstance(value, str):
        return None
    m = _PAYLOAD.match(value.strip())
    if not m:
        return None
    entities: dict[str, Any] = {}
    if m.group(2):
        try:
            parsed = json.loads(m.group(2))
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        entities = parsed
    return m.group(1), entities


def known_names(events: Iterable[TrackerEvent]) -> set[str]:
    """Names the conversation itself identifies as names (see the module doc)."""
    names: set[str] = set()

    def from_metadata(meta: Any) -> None:
        if isinstance(meta, dict):
            for key, value in meta.items():
                if key in NAME_KEYS and (name := known_name(value)):
                    names.add(name)
                else:
                    from_metadata(value)
        elif isinstance(meta, list):
            for value in meta:
                from_metadata(value)

    for event in events:
        if event.type_name == "slot":
            if event.name in NAME_SLOTS and (name := known_name(event.data.get("value"))):
                names.add(name)
            elif isinstance(event.data.get("value"), (dict, list)):
                from_metadata(event.data.get("value"))
        elif event.type_name == "user":
            from_metadata(event.data.get("metadata"))
            text_value = text if isinstance(text := event.data.get("text"), str) else ""
            for entity in entities_of(event):
                if entity.get("entity") in NAME_SLOTS:
                    for raw in (entity.get("value"), span_of(text_value, entity)):
                        if name := known_name(raw):
                            names.add(name)
    return names


def entities_of(event: TrackerEvent) -> list[dict[str, Any]]:
    parse = event.data.get("parse_data")
    entities = parse.get("entities") if isinstance(parse, dict) else None
    return [e for e in entities if isinstance(e, dict)] if isinstance(entities, list) else []


def span_of(value: str, entity: dict[str, Any]) -> str | None:
    start, end = entity.get("start"), entity.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(value):
        return value[start:end]
    return None


def intent_of(event: TrackerEvent) -> tuple[str | None, float | None]:
    parse = event.data.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, dict) else None
    if not isinstance(intent, dict):
        return None, None
    name = intent.get("name") if isinstance(intent.get("name"), str) else None
    confidence = intent.get("confidence")
    return name, float(confidence) if isinstance(confidence, (int, float)) else None
