"""Data shipped with benchhash: market snapshots, ASICs, the GPU catalogue (each figure sourced, dated)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def data_json(name: str) -> Any:
    """A JSON file shipped in this package, e.g. 'gpus.json' or 'market/2026-01-12.json'."""
    return json.loads(resources.files("benchhash.data").joinpath(name).read_text())
