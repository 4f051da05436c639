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
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional, Tuple

import fastjsonschema
import jsonschema
from jsonschema import exceptions, validators

MAX_SCHEMAS = 64
_original = jsonschema.validate
_validators: Dict[str, Tuple[Any, Optional[Callable[[Any], Any]]]] = {}


def _compiled(schema: Any) -> Optional[Callable[[Any], Any]]:
    try:
        return fastjsonschema.compile(schema, use_default=False)  # type: ignore[no-any-return]
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
