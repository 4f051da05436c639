"""Validate against a JSON schema without re-checking the schema each time.

Rasa 3.6 checks every action server response with `jsonschema.validate`,
which first validates the *schema* against its metaschema, then the
response. A py-spy profile of the Rasa server during claim conversations
(bench/README.md) put about half of its CPU there. The schemas never change,
so `install()` replaces `jsonschema.validate` in this process with the same
function (jsonschema 4.17's semantics: check the schema, then raise the best
matching error) that checks each distinct schema once and keeps its
validator. Rasa imports `validate` from the module at each call, so the
replacement takes effect wherever it is called.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import jsonschema
from jsonschema import exceptions, validators

MAX_SCHEMAS = 64
_original = jsonschema.validate
_validators: Dict[str, Any] = {}


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original(instance, schema, cls, *args, **kwargs)
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return _original(instance, schema)
    validator = _validators.get(key)
    if validator is None:
        validator_class = validators.validator_for(schema)
        validator_class.check_schema(schema)
        validator = validator_class(schema)
        if len(_validators) < MAX_SCHEMAS:
            _validators[key] = validator
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def install() -> None:
    """Idempotent."""
    jsonschema.validate = validate
