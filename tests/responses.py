"""What Rasa makes of an action's messages, for the tests that run actions
without Rasa: a message naming a domain.yml response becomes that
response's text, chosen among its variations by the tracker's slots (the
slots before the action's events: Rasa renders the responses before it
applies them) and with its `{variables}` filled from the slots and the
values the action passed; the response's buttons come before the action's.

Rasa 3.6's own steps, followed here: `ResponseVariationFilter.
responses_for_utter_action` (a matching conditional variation wins over the
unconditional ones), `TemplatedNaturalLanguageGenerator._fill_response`
(slots, then the message's values) and `RemoteAction._utter_responses`
(buttons appended). Where Rasa would pick at random or show an unfilled
`{variable}`, this fails: the tests must read one text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker

DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"
_VARIABLE = re.compile(r"{([^\n{}]+?)}")


@lru_cache(maxsize=1)
def responses() -> dict[str, list[dict[str, Any]]]:
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]


def text_of(name: str) -> str:
    """The text of a response that has one variation."""
    [only] = responses()[name]
    return str(only["text"])


def _matches(variation: dict[str, Any], slots: dict[str, Any]) -> bool:
    for condition in variation["condition"]:
        value, filled = condition["value"], slots.get(condition["name"])
        if isinstance(value, str) and isinstance(filled, str):
            if value.casefold() != filled.casefold():
                return False
        elif value != filled:
            return False
    return True


def variation(name: str, slots: dict[str, Any]) -> dict[str, Any]:
    """The one variation of response `name` these slots select."""
    variations = responses()[name]
    conditional = [v for v in variations if v.get("condition") and _matches(v, slots)]
    candidates = conditional or [v for v in variations if not v.get("condition")]
    assert len(candidates) == 1, f"{name}: {len(candidates)} variations fit {slots}"
    return candidates[0]


def fill(text: str, values: dict[str, Any]) -> str:
    missing = [v for v in _VARIABLE.findall(text) if v not in values]
    assert not missing, f"no value for {missing} in {text!r}"
    return _VARIABLE.sub(lambda m: str(values[m.group(1)]), text)


def rendered(messages: list[dict[str, Any]], tracker: Tracker) -> list[dict[str, Any]]:
    """The messages as the user reads them (a message that names no response
    is sent as it is)."""
    out = []
    for message in messages:
        name = message.get("response")
        if not name:
            out.append(message)
            continue
        slots = dict(tracker.slots)
        chosen = variation(name, slots)
        values = {**slots, **{k: v for k, v in message.items() if k not in ("response", "template")}}
        out.append(
            {
                **message,
                "text": fill(chosen["text"], values),
                "buttons": [*(chosen.get("buttons") or []), *(message.get("buttons") or [])],
            }
        )
    return out
