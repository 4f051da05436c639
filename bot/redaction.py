"""What the tracker store keeps of an event: no full ID number.

Every string of an event (a message's text, its entities, a bot message, a
slot value, metadata) is masked by the one masker of free text
(identity/freetext.py) before the event is stored; sealed references
(trust/sealing.py) are kept, as the dialogue needs them back. The message
being handled still reaches the NLU and the action server whole: it is
masked when its turn is saved.

The events a save masks are masked in place as well (a message's text,
parse data and entities, a bot message's text and data), so the tracker
the store keeps in memory for the conversation's next message is the one
stock Rasa would load from the rows.
"""

from __future__ import annotations

from typing import Any

from rasa.shared.core.events import BotUttered, Event, UserUttered

from identity.freetext import mask_ids_in_text
from trust.sealing import is_sealed


def redacted(value: Any) -> Any:
    """`value` (JSON-like) with every ID-like run in its strings masked."""
    if isinstance(value, str):
        return value if len(value) < 15 or is_sealed(value) else mask_ids_in_text(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def stored_form(event: Event) -> dict[str, Any]:
    """The event as it is to be stored; a message or bot message that held
    an ID number is masked in place too."""
    data = event.as_dict()
    masked = redacted(data)
    if masked == data:
        return data
    if isinstance(event, UserUttered):
        event.text = masked.get("text")
        event.parse_data = masked.get("parse_data") or {}
        event.entities = list(event.parse_data.get("entities") or [])
        event.metadata = masked.get("metadata") or {}
    elif isinstance(event, BotUttered):
        event.text = masked.get("text")
        event.data = masked.get("data") or {}
        event.metadata = masked.get("metadata") or {}
    return masked
