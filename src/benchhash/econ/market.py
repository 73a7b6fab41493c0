"""Market inputs: dated snapshots shipped with the package (data/market/*.json; the newest is the
default), merged with a user's file, `--set key=value` overrides and `--market live`. Every
input keeps its unit, source, date and the low..high range that the claim analysis sweeps.

An override moves the value and keeps the input's relative range (a BTC price twice the
snapshot's gets a range twice as wide, in dollars), unless a market file gives its own range:
the same value therefore gets the same uncertainty whichever way it was given.

Prices that belong to a device rather than to the market (the reference GPU's hourly rental,
the chosen ASIC's price per TH) come from their tables (gpu_prices.json, asics.json) when a
snapshot does not carry them, marked with origin 'table'; a file or `--set` replaces them."""

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

#: Inputs that must be fractions in [0, 1], those that must be at least 1, those that may be
#: negative (but above -1), and whole numbers with the most they can be (the last bitcoin is
#: mined near height 6.93 million; no horizon beyond a century).
FRACTIONS = {"fee_share", "pool_fee", "uptime_mining", "gpu_utilisation", "gpu_utilisation_contract",
             "colocation_power_passthrough", "gpu_price_decline_per_year", "token_price_decline_per_year",
             "opex_ai_share_of_revenue", "opex_colocation_share_of_revenue", "btc_difficulty_correlation",
             "colocation_escalator_per_year", "ai_load_factor"}
AT_LEAST_ONE = {"pue_mining", "pue_ai", "host_overhead"}
SIGNED = {"difficulty_growth_per_year"}
WHOLE = {"block_height": 7_000_000, "horizon_years": 100, "asic_life_years": 100, "gpu_life_years": 100,
         "colocation_lease_years": 100}
#: Inputs priced per device, filled from the device tables when a snapshot lacks them.
DEVICE_PRICES = ("gpu_usd_per_hour", "gpu_usd_per_hour_1y", "gpu_server_usd_per_gpu", "asic_usd_per_th")
USER = ("file", "set", "live")


@dataclass(frozen=True)
class Input:
    value: float
    unit: str
    source: str
    date: str
    low: float
    high: float
    origin: str = "snapshot"          # snapshot | table | file | set | live

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def given(self) -> bool:
        """Given by the user (a market file, --set, the live API), not shipped."""
        return self.origin in USER


def snapshots() -> list[str]:
    folder = resources.files("benchhash.data").joinpath("market")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def default_snapshot() -> str:
    """The newest snapshot."""
    return snapshots()[-1]


def asics() -> dict[str, dict[str, Any]]:
    return data_json("asics.json")["asics"]


def systems() -> dict[str, Any]:
    return data_json("systems.json")


def gpu_prices() -> dict[str, Any]:
    return data_json("gpu_prices.json")


def check(key: str, x: Input, where: str) -> None:
    for label, v in (("value", x.value), ("low", x.low), ("high", x.high)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise InputError(f"{where}: {key}.{label} must be a finite number")
        if key in SIGNED and v <= -1:
            raise InputError(f"{where}: {key} must be above -1, got {v:g}")
        if key not in SIGNED and v < 0:
            raise InputError(f"{where}: {key} must not be negative, got {v:g}")
        if key in FRACTIONS and v > 1:
            raise InputError(f"{where}: {key} is a fraction in [0, 1], got {v:g}")
        if key in AT_LEAST_ONE and v < 1:
            raise InputError(f"{where}: {key} must be at least 1, got {v:g}")
        if key in WHOLE and (v != int(v) or v > WHOLE[key]):
            raise InputError(f"{where}: {key} must be a whole number up to {WHOLE[key]:,}, got {v:g}")
    if key in WHOLE and key != "block_height" and x.value < 1:
        raise InputError(f"{where}: {key} must be at least 1, got {x.value:g}")
    if not x.low <= x.value <= x.high:
        raise InputError(f"{where}: {key} value {x.value:g} lies outside its range [{x.low:g}, {x.high:g}]")


def _clamp(key: str, v: float) -> float:
    if key in FRACTIONS:
        v = min(max(v, 0.0), 1.0)
    if key in AT_LEAST_ONE:
        v = max(v, 1.0)
    if key in SIGNED:
        v = max(v, -0.99)
    elif v < 0:
        v = 0.0
    if key in WHOLE:
        v = float(min(round(v), WHOLE[key]))
    return v


def moved(key: str, old: Input, value: float) -> tuple[float, float]:
    """The range around a new value: the old range scaled by value / old value (its relative
    width kept), clamped to what the input can be, and always holding the value."""
    if old.value != 0 and value != 0:
        lo, hi = sorted((value * old.low / old.value, value * old.high / old.value))
    else:
        lo, hi = value + (old.low - old.value), value + (old.high - old.value)
    lo, hi = _clamp(key, lo), _clamp(key, hi)
    return min(lo, value), max(hi, value)


def _parse_inputs(raw: Any, where: str, base: dict[str, Input] | None) -> dict[str, Input]:
    if not isinstance(raw, dict) or not isinstance(raw.get("inputs"), dict):
        raise InputError(f"{where}: a market file is a JSON object with an 'inputs' object")
    known = None if base is None else set(base) | set(DEVICE_PRICES)
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
                  high=cast(float, spec.get("high", value)), origin="snapshot" if base is None else "file")
        check(key, x, where)      # types first, then the range (which may be moved below)
        old = None if base is None else base.get(key)
        if old is not None and "low" not in spec and "high" not in spec:
            lo, hi = moved(key, old, float(value))
            x = replace(x, low=lo, high=hi)
        if base is None and (not x.source or not x.date):
            raise InputError(f"{where}: {key} needs a source and a date")
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


def _table_input(spec: dict[str, Any], unit: str, what: str) -> Input:
    return Input(float(spec["value"]), unit, f"{what}: {spec['source']}", str(spec["date"]),
                 float(spec["low"]), float(spec["high"]), origin="table")


def with_device_prices(m: Market, asic: str | None = None) -> Market:
    """The reference GPU's rental prices and the ASIC's price per TH, from their tables, where
    the market does not give them (a shipped or table figure for another ASIC is replaced)."""
    inputs = dict(m.inputs)
    table = gpu_prices()
    ref = table["models"][table["reference"]]
    for key, term, unit in (("gpu_usd_per_hour", "on_demand", "USD/GPU-hour"),
                            ("gpu_usd_per_hour_1y", "contract_1y", "USD/GPU-hour"),
                            ("gpu_server_usd_per_gpu", "server_usd_per_gpu", "USD per GPU, server share included")):
        if key not in inputs:
            inputs[key] = _table_input(ref[term], unit, f"gpu_prices.json, {table['reference']} {term}")
    name = asic or "S21"
    spec = asics().get(name, {}).get("usd_per_th")
    old = inputs.get("asic_usd_per_th")
    if spec is not None and (old is None or old.origin == "table"):
        inputs["asic_usd_per_th"] = _table_input(spec, "USD per TH/s", f"asics.json, {name}")
    return Market(m.name, inputs)


def load(spec: str | None = None) -> Market:
    """A shipped snapshot by name (the newest by default), or a user file merged over the
    snapshot it names as 'base' (else the newest); device prices filled from their tables."""
    name = spec or default_snapshot()
    if name in snapshots():
        raw = data_json(f"market/{name}.json")
        return with_device_prices(Market(name, _parse_inputs(raw, f"market {name}", None)))
    path = Path(name)
    if not path.suffix == ".json" and not path.exists():
        raise InputError(f"unknown market {name!r}: give a snapshot ({', '.join(snapshots())}) or a .json file")
    raw = read_json(path, "market file")
    base_name = raw.get("base", default_snapshot()) if isinstance(raw, dict) else default_snapshot()
    if base_name not in snapshots():
        raise InputError(f"{path}: base {base_name!r} is not a shipped snapshot ({', '.join(snapshots())})")
    base = load(base_name)
    theirs = _parse_inputs(raw, str(path), base.inputs)
    merged = dict(base.inputs)
    for k, x in theirs.items():
        unit = x.unit or (base.inputs[k].unit if k in base.inputs else "")
        merged[k] = replace(x, source=x.source or f"user market file {path}",
                            date=x.date or date.today().isoformat(), unit=unit)
    return Market(f"{base.name} + {path.name}", merged)


def apply_sets(market: Market, sets: list[str]) -> Market:
    """`--set key=value` overrides: the value moves, its relative range stays."""
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
        check(key, replace(old, value=value, low=value, high=value), "--set")
        lo, hi = moved(key, old, value)
        new = Input(value, old.unit, "user override (--set)", date.today().isoformat(), lo, hi, origin="set")
        check(key, new, "--set")
        inputs[key] = new
    return Market(market.name + (" + --set" if sets else ""), inputs)
