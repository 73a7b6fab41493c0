"""The JSON edge of economics' typed output: a dataclass as the dict `econ --json` writes, its
fields in their order, nested values in turn. A field marked ``OMIT`` is left out where it is None
(a key that only some answers carry); a value with its own ``to_json`` writes itself."""

from __future__ import annotations

from dataclasses import field, fields, is_dataclass
from typing import Any

#: field metadata: leave the key out where its value is None
OMIT = {"omit_none": True}


def optional(default: Any = None) -> Any:
    """A field whose key is left out of the JSON where it is None."""
    return field(default=default, metadata=OMIT)


def dump(x: Any) -> Any:
    """``x`` as JSON-ready values (dicts, lists, str, numbers, bool, None)."""
    if hasattr(x, "to_json") and not isinstance(x, type):
        return x.to_json()
    if is_dataclass(x) and not isinstance(x, type):
        return dump_fields(x)
    if isinstance(x, list | tuple):
        return [dump(v) for v in x]
    if isinstance(x, dict):
        return {k: dump(v) for k, v in x.items()}
    return x


def dump_fields(x: Any) -> dict[str, Any]:
    """A dataclass's fields as a JSON object (an OMIT field left out where None)."""
    out: dict[str, Any] = {}
    for f in fields(x):
        v = getattr(x, f.name)
        if v is None and f.metadata.get("omit_none"):
            continue
        out[f.name] = dump(v)
    return out
