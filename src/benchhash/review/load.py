"""The one loader: every command that reads a file asks here whether it holds a result, a fleet,
or neither (a JSON Schema, a script's output: verify skips those, the others refuse them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchhash.results import io
from benchhash.results.fleet import FleetResult
from benchhash.results.fleet import parse as parse_fleet
from benchhash.results.model import Result

Kind = Literal["result", "fleet", "schema", "script"]


def kind_of(raw: dict[str, Any]) -> tuple[Kind, str | None]:
    """What a decoded file holds, and for one that is no result, what it is instead."""
    if "$schema" in raw:
        return "schema", "a JSON Schema, not a result"
    for key in ("benchmark", "check"):
        if isinstance(raw.get(key), str) and "schema_version" not in raw and "fleet_schema_version" not in raw:
            return "script", f"output of the {raw[key]!r} {key} script, not a result"
    return ("fleet" if "fleet_schema_version" in raw else "result"), None


@dataclass(frozen=True)
class Loaded:
    """A file read once: its path as given, its JSON, and what it holds."""

    path: str
    raw: dict[str, Any]
    kind: Kind
    what: str | None = None       # what a file that holds no result is

    def parsed(self) -> Result | FleetResult:
        """The result or fleet it holds; a ResultFileError (one line) for anything else."""
        return parse_fleet(self.raw, self.path) if self.kind == "fleet" else io.parse(self.raw, self.path)


def read(path: str | Path) -> Loaded:
    """The file at ``path``, read and classified (a ResultFileError when it cannot be read)."""
    raw = io.read_json(path)
    kind, what = kind_of(raw)
    return Loaded(str(path), raw, kind, what)


def load(path: str | Path) -> Result | FleetResult:
    """The result or fleet a file holds (for the commands that take either)."""
    return read(path).parsed()
