"""Market inputs: a dated snapshot shipped with the package (data/market/*.json), merged with a
user's file and `--set key=value` overrides. Every input keeps its unit, source, date and the
low..high range that the claim analysis sweeps."""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, cast

from benchhash.data import data_json
from benchhash.errors import InputError
from benchhash.fsutil import read_json

DEFAULT_SNAPSHOT = "2026-01-12"

#: Inputs that must be fractions in [0, 1] and those that must be at least 1.
FRACTIONS = {"fee_share", "pool_fee", "uptime_mining", "gpu_utilisation",
             "colocation_power_passthrough", "gpu_price_decline_per_year"}
AT_LEAST_ONE = {"pue_mining", "pue_ai", "host_overhead"}


@dataclass(frozen=True)
class Input:
    value: float
    unit: str
    source: str
    date: str
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def snapshots() -> list[str]:
    folder = resources.files("benchhash.data").joinpath("market")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def asics() -> dict[str, dict[str, Any]]:
    return data_json("asics.json")["asics"]


def systems() -> dict[str, Any]:
    return data_json("systems.json")


#: inputs that count things, with the most they can be: the last bitcoin is mined near height
#: 6.93 million (2140); a horizon beyond a century is not an investment horizon
WHOLE = {"block_height": 7_000_000, "horizon_years": 100}


def check(key: str, x: Input, where: str) -> None:
    for label, v in (("value", x.value), ("low", x.low), ("high", x.high)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise InputError(f"{where}: {key}.{label} must be a finite number")
        if v < 0:
            raise InputError(f"{where}: {key} must not be negative, got {v:g}")
        if key in FRACTIONS and v > 1:
            raise InputError(f"{where}: {key} is a fraction in [0, 1], got {v:g}")
        if key in AT_LEAST_ONE and v < 1:
            raise InputError(f"{where}: {key} must be at least 1, got {v:g}")
        if key in WHOLE and (v != int(v) or v > WHOLE[key]):
            raise InputError(f"{where}: {key} must be a whole number up to {WHOLE[key]:,}, got {v:g}")
    if not x.low <= x.value <= x.high:
        raise InputError(f"{where}: {key} value {x.value:g} lies outside its range [{x.low:g}, {x.high:g}]")


def _parse_inputs(raw: Any, where: str, known: set[str] | None) -> dict[str, Input]:
    if not isinstance(raw, dict) or not isinstance(raw.get("inputs"), dict):
        raise InputError(f"{where}: a market file is a JSON object with an 'inputs' object")
    out: dict[str, Input] = {}
    for key, spec in raw["inputs"].items():
        if known is not None and key not in known:
            raise InputError(f"{where}: unknown market input {key!r}{_hint(key, known)}")
        if not isinstance(spec, dict) or "value" not in spec:
            raise InputError(f"{where}: {key} must be an object with at least 'value'")
        extra = set(spec) - {"value", "unit", "source", "date", "low", "high", "note"}
        if extra:
            raise InputError(f"{where}: {key} has unknown field(s) {sorted(extra)}")
        value = spec["value"]
        x = Input(value=value, unit=str(spec.get("unit", "")), source=str(spec.get("source", "")),
                  date=str(spec.get("date", "")), low=cast(float, spec.get("low", value)),
                  high=cast(float, spec.get("high", value)))     # types checked by check() below
        if known is None and (not x.source or not x.date):
            raise InputError(f"{where}: {key} needs a source and a date")
        check(key, x, where)
        out[key] = x
    return out


def _hint(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(known))}"


@dataclass
class Market:
    name: str
    inputs: dict[str, Input]

    def __getitem__(self, key: str) -> float:
        return float(self.inputs[key].value)

    def values(self) -> dict[str, float]:
        return {k: float(v.value) for k, v in self.inputs.items()}

    def with_value(self, key: str, value: float) -> Market:
        return Market(self.name, {**self.inputs, key: replace(self.inputs[key], value=value)})


def load(spec: str | None = None) -> Market:
    """A shipped snapshot by name, or a user file merged over the default snapshot."""
    name = spec or DEFAULT_SNAPSHOT
    if name in snapshots():
        raw = data_json(f"market/{name}.json")
        return Market(name, _parse_inputs(raw, f"market {name}", None))
    path = Path(name)
    if not path.suffix == ".json" and not path.exists():
        raise InputError(f"unknown market {name!r}: give a snapshot ({', '.join(snapshots())}) or a .json file")
    raw = read_json(path, "market file")
    base = load(raw.get("base", DEFAULT_SNAPSHOT) if isinstance(raw, dict) else DEFAULT_SNAPSHOT)
    theirs = _parse_inputs(raw, str(path), set(base.inputs))
    merged = dict(base.inputs)
    for k, x in theirs.items():
        merged[k] = replace(x, source=x.source or f"user market file {path}",
                            date=x.date or date.today().isoformat(), unit=x.unit or base.inputs[k].unit)
    return Market(f"{base.name} + {path.name}", merged)


def apply_sets(market: Market, sets: list[str]) -> Market:
    """`--set key=value` overrides; the range widens to include the new value."""
    inputs = dict(market.inputs)
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set takes key=value, got {item!r}")
        if key not in inputs:
            raise InputError(f"--set: unknown market input {key!r}{_hint(key, set(inputs))}")
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            raise InputError(f"--set {key}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"--set {key}: {text!r} is not a finite number")
        old = inputs[key]
        new = Input(value, old.unit, "user override (--set)", date.today().isoformat(),
                    min(old.low, value), max(old.high, value))
        check(key, new, "--set")
        inputs[key] = new
    return Market(market.name + (" + --set" if sets else ""), inputs)
