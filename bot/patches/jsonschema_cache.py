"""Validate against a JSON schema without re-checking the schema each time,
and with the schema compiled to Python.

Rasa 3.6 checks every action server response with `jsonschema.validate`,
which first validates the *schema* against its metaschema, then the
response. A py-spy profile of the Rasa server during claim conversations
(bench/README.md) put about half of its CPU there. The schemas never change,
so `install()` replaces `jsonschema.validate` in this process with the same
function (jsonschema 4.17's semantics: check the schema, then raise the best
matching error) that checks each distinct schema once and keeps its
validator. Rasa imports `validate` from the module at each call, so the
replacement takes effect wherever it is called.

Even with the schema checked once, walking a response through jsonschema's
validator (each event tried against every event schema of a `oneOf`) cost
the Rasa server 8 % of its CPU. Each schema is also compiled with
fastjsonschema (to Python code, no defaults filled in): a valid instance
passes on that alone; one it rejects goes through jsonschema as before,
which raises the same error as ever (or accepts it, should the two ever
disagree).

Rasa's event schema is a `oneOf` of 23 event schemas, each fixing the
`event` name with a `const`: a validator that follows `oneOf` to the letter
tries every event against all 23 (in fastjsonschema, 22 raised exceptions an
event). When the list of events is such a `oneOf` with distinct constants,
each event is checked against the one schema its `event` names, which
accepts exactly what the `oneOf` accepts (every other alternative fails its
`const`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema import exceptions, validators

MAX_SCHEMAS = 64
_original = jsonschema.validate
_validators: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {}


def _compile(schema: Any) -> Callable[[Any], Any]:
    return fastjsonschema.compile(schema, use_default=False)  # type: ignore[no-any-return]


def _discriminated(one_of: Any) -> tuple[str, dict[Any, Any]] | None:
    """(key, {value: alternative}) when every alternative fixes the same
    property with a distinct `const`; else None."""
    if not isinstance(one_of, list) or not one_of:
        return None
    key: str | None = None
    table: dict[Any, Any] = {}
    for alternative in one_of:
        properties = alternative.get("properties") if isinstance(alternative, dict) else None
        consts = [(k, v["const"]) for k, v in (properties or {}).items() if isinstance(v, dict) and "const" in v]
        if len(consts) != 1 or key not in (None, consts[0][0]):
            return None
        key, value = consts[0]
        if not isinstance(value, str) or value in table:
            return None
        table[value] = alternative
    return (key, table) if key is not None else None


def _event_list_check(schema: Any) -> Callable[[Any], Any] | None:
    """For an object schema whose `events` is an array of a discriminated
    `oneOf` (Rasa's action response): a check that looks each event's
    schema up by its name."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    events = schema["properties"].get("events")
    if not isinstance(events, dict) or set(events) != {"type", "items"} or events["type"] != "array":
        return None
    items = events["items"]
    found = _discriminated(items.get("oneOf")) if isinstance(items, dict) else None
    if found is None:
        return None
    key, table = found
    base = {k: v for k, v in items.items() if k != "oneOf"}
    outer = _compile({**schema, "properties": {**schema["properties"], "events": {"type": "array"}}})
    per_name = {value: _compile({"allOf": [base, alternative]}) for value, alternative in table.items()}

    def check(instance: Any) -> None:
        outer(instance)
        for event in instance.get("events") or () if isinstance(instance, dict) else ():
            name = event.get(key) if isinstance(event, dict) else None
            validate_event = per_name.get(name) if isinstance(name, str) else None
            if validate_event is None:
                raise fastjsonschema.JsonSchemaException(f"no event schema for {name!r}")
            validate_event(event)

    return check


def _compiled(schema: Any) -> Callable[[Any], Any] | None:
    try:
        return _event_list_check(schema) or _compile(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError):
        return None  # a schema it cannot compile: jsonschema alone


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original(instance, schema, cls, *args, **kwargs)
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return _original(instance, schema)
    found = _validators.get(key)
    if found is None:
        validator_class = validators.validator_for(schema)
        validator_class.check_schema(schema)
        found = (validator_class(schema), _compiled(schema))
        if len(_validators) < MAX_SCHEMAS:
            _validators[key] = found
    validator, fast = found
    if fast is not None:
        try:
            fast(instance)
            return None
        except fastjsonschema.JsonSchemaException:
            pass  # jsonschema finds and raises the error
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error
    return None


def install() -> None:
    """Idempotent."""
    jsonschema.validate = validate
