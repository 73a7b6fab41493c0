"""The JSON Schemas of result files and fleet files, generated from the pydantic models."""

from __future__ import annotations

import json

from benchhash.results.fleet import FLEET_SCHEMA_VERSION, FleetResult
from benchhash.results.model import SCHEMA_VERSION, Result

SCHEMA_FILE = f"result-v{SCHEMA_VERSION}.schema.json"
FLEET_SCHEMA_FILE = f"fleet-v{FLEET_SCHEMA_VERSION}.schema.json"


def schema_text(fleet: bool = False) -> str:
    schema = (FleetResult if fleet else Result).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://benchhash.invalid/schema/{FLEET_SCHEMA_FILE if fleet else SCHEMA_FILE}"
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"
