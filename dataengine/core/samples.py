"""The sample format's JSON Schema (core/schemas/sample.schema.json): the contract of accepted.jsonl,
and its `reply` part, what a teacher writes."""

import json
from functools import cache
from pathlib import Path

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "sample.schema.json"


@cache
def _validators() -> tuple[jsonschema.Validator, jsonschema.Validator]:
    """Validators for the whole sample and for the teacher's part of it (`$defs.reply`)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    reply_schema = {"$defs": schema["$defs"], **schema["$defs"]["reply"]}
    return validator_cls(schema), validator_cls(reply_schema)


def sample_validator() -> jsonschema.Validator:
    """Checks an accepted.jsonl record against the sample schema."""
    return _validators()[0]


def reply_validator() -> jsonschema.Validator:
    """Checks a teacher's reply (the sample's teacher-written fields) against the schema's `reply`."""
    return _validators()[1]
