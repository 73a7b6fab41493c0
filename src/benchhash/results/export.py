"""The JSON Schema of result files, generated from the pydantic models."""

from __future__ import annotations

import json

from benchhash.results.model import SCHEMA_VERSION, Result

SCHEMA_FILE = f"result-v{SCHEMA_VERSION}.schema.json"


def schema_text() -> str:
    schema = Result.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://benchhash.invalid/schema/{SCHEMA_FILE}"
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"
