"""Market inputs: dated snapshots shipped with the package (data/market/*.json; the newest is the
default), merged with a user's file, `--set key=value` overrides and `--market live`. Every
input keeps its unit, source, date and the low..high range that the claim analysis sweeps.

An override moves the value and keeps the input's relative range (a BTC price twice the
snapshot's gets a range twice as wide, in dollars), unless a market file gives its own range:
the same value therefore gets the same uncertainty whichever way it was given.

Prices that belong to a device rather than to the market (the reference GPU's hourly rental,
the chosen ASIC's price per TH) come from their tables (the GPU catalogue gpus.json, asics.json) when a
snapshot does not carry them, marked with origin 'table'; a file or `--set` replaces them."""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, cast

from benchhash.data import data_json
from benchhash.errors import InputError
from benchhash.fsutil import read_json
from benchhash.hw import catalogue


@dataclass(frozen=True)
class Allowed:
    """Where an input may lie: low..high (low itself excluded where ``open_low``), whole numbers
    only where ``whole``. A value outside is refused; a range moved with its value is clamped in."""

    low: float = 0.0
    high: float = math.inf
    whole: bool = False
    open_low: bool = False

    def bounds(self) -> str:
        """'[0, 1]', '(-1, inf)', '[1, 100]'."""
        high = f"{self.high:,.10g}]" if self.high < math.inf else "inf)"
        return f"{'(' if self.open_low else '['}{self.low:,.10g}, {high}"

    def text(self) -> str:
        return ("whole number in " if self.whole else "") + self.bounds()

    def problem(self, v: float) -> str | None:
        """Why ``v`` is not allowed, or None."""
        if self.open_low and v <= self.low:
            return f"must be above {self.low:g}"
        if v < self.low:
            return "must not be negative" if self.low == 0 else f"must be at least {self.low:g}"
        if v > self.high:
            return "is a fraction in [0, 1]" if (self.low, self.high) == (0, 1) else f"must be at most {self.high:,g}"
        if self.whole and v != int(v):
            return f"must be a whole number in {self.bounds()}"
        return None

    def clamp(self, v: float) -> float:
        """The nearest allowed value (an open low end: 0.01 above it)."""
        low = self.low + 0.01 if self.open_low else self.low
        v = min(max(v, low), self.high)
        return float(round(v)) if self.whole else v


FRACTION = Allowed(0.0, 1.0)
AT_LEAST_ONE = Allowed(1.0)
YEARS = Allowed(1.0, 100.0, whole=True)        # no horizon beyond a century
MONTHS = Allowed(0.0, 120.0)                   # a build or ramp of up to ten years
#: Every market input and what it may be: the one table `--set`, market files and `econ --inputs`
#: read (units, sources, dates and sweep ranges come with the values, from the snapshots).
ALLOWED: dict[str, Allowed] = {
    "btc_usd": Allowed(), "difficulty": Allowed(), "fee_share": FRACTION,
    "block_height": Allowed(0.0, 7_000_000.0, whole=True),   # the last bitcoin is mined near 6.93 M
    "pool_fee": FRACTION, "uptime_mining": FRACTION, "pue_mining": AT_LEAST_ONE, "pue_ai": AT_LEAST_ONE,
    "power_usd_per_mwh": Allowed(), "power_adder_usd_per_mwh": Allowed(), "gpu_utilisation": FRACTION,
    "gpu_utilisation_contract": FRACTION, "host_overhead": AT_LEAST_ONE, "colocation_power_passthrough": FRACTION,
    "capex_mining_usd_per_mw": Allowed(), "capex_ai_usd_per_it_mw": Allowed(), "discount_rate": Allowed(),
    "gpu_price_decline_per_year": FRACTION, "token_price_decline_per_year": FRACTION,
    "usd_per_m_tokens_8b": Allowed(), "usd_per_m_tokens_70b": Allowed(), "colocation_usd_per_it_mw_year": Allowed(),
    "token_tpot_objective_ms": Allowed(0.0, open_low=True),    # the served tokens row's p99 TPOT objective
    "horizon_years": YEARS, "asic_life_years": YEARS, "gpu_life_years": YEARS, "colocation_lease_years": YEARS,
    "difficulty_growth_per_year": Allowed(-1.0, open_low=True), "cpu_server_usd": Allowed(),
    "colocation_escalator_per_year": FRACTION, "opex_mining_usd_per_mw_year": Allowed(),
    "opex_ai_share_of_revenue": FRACTION, "opex_colocation_share_of_revenue": FRACTION,
    "btc_difficulty_correlation": FRACTION, "asic_efficiency_factor": Allowed(), "ai_load_factor": FRACTION,
    "gpu_usd_per_hour": Allowed(), "gpu_usd_per_hour_1y": Allowed(), "gpu_server_usd_per_gpu": Allowed(),
    "asic_usd_per_th": Allowed(),
    # the decision for an existing mining site (econ --decision; defaults in data/decision.json)
    "site_facility_mw": Allowed(0.0, open_low=True), "asics_owned_mw": Allowed(),
    "asics_owned_count": Allowed(whole=True), "asic_resale_usd_per_th": Allowed(),
    "asic_refresh_years": Allowed(0.0, 100.0), "conversion_build_months": MONTHS, "ai_ramp_months": MONTHS,
    "gpu_contract_prepayment_share": FRACTION, "debt_share": Allowed(0.0, 0.95), "debt_rate": Allowed(),
    "debt_term_years": YEARS, "tax_rate": FRACTION, "depreciation_years_asic": YEARS,
    "depreciation_years_gpu": YEARS, "depreciation_years_building": YEARS, "discount_rate_mining": Allowed(),
    "discount_rate_gpu_on_demand": Allowed(), "discount_rate_gpu_contract": Allowed(),
    "discount_rate_lease": Allowed(), "residual_building_share": FRACTION, "residual_gpu_share": FRACTION,
    "mullet_ai_share": FRACTION,
}
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
    replaced: float | None = None     # the value a file, --set or the live API replaced
    as_of: str | None = None          # a table's figure: the snapshot date it was taken as of

    def to_json(self) -> dict[str, Any]:
        """As JSON; a missing figure (no table figure as old as the snapshot) is null."""
        out = asdict(self)
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}

    @property
    def missing(self) -> bool:
        return not math.isfinite(self.value)

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


@dataclass(frozen=True)
class Asic:
    """The reference ASIC of the mining rows: its name and its entry in data/asics.json (``row``,
    echoed in the JSON as it is there)."""

    name: str
    j_per_th: float
    watts: float
    source: str
    date: str
    row: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, name: str, row: dict[str, Any]) -> Asic:
        return cls(name, row["j_per_th"], row["watts"], row["source"], row["date"], row)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.row}


def asics() -> dict[str, dict[str, Any]]:
    return data_json("asics.json")["asics"]


def systems() -> dict[str, Any]:
    """The reference systems and the reference GPU, from the GPU catalogue."""
    return catalogue.system_table()


def gpu_prices() -> dict[str, Any]:
    """The GPU price rows by model, from the GPU catalogue."""
    return catalogue.price_table()


def allowed(key: str) -> Allowed:
    """What ``key`` may be (an input the table does not know: not negative)."""
    return ALLOWED.get(key, Allowed())


def check(key: str, x: Input, where: str) -> None:
    rule = allowed(key)
    for label, v in (("value", x.value), ("low", x.low), ("high", x.high)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise InputError(f"{where}: {key}.{label} must be a finite number")
        why = rule.problem(v)
        if why is not None:
            raise InputError(f"{where}: {key} {why}, got {v:g}")
    if not x.low <= x.value <= x.high:
        raise InputError(f"{where}: {key} value {x.value:g} lies outside its range [{x.low:g}, {x.high:g}]")


def moved(key: str, old: Input, value: float) -> tuple[float, float]:
    """The range around a new value: the old range scaled by value / old value (its relative
    width kept), clamped to what the input can be, and always holding the value (a missing old
    figure has no range to keep: the value alone)."""
    if old.missing:
        return value, value
    if old.value != 0 and value != 0:
        lo, hi = sorted((value * old.low / old.value, value * old.high / old.value))
    else:
        lo, hi = value + (old.low - old.value), value + (old.high - old.value)
    lo, hi = allowed(key).clamp(lo), allowed(key).clamp(hi)
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
    snapshot: str = ""                # the shipped snapshot under it (its name is its date)

    def __getitem__(self, key: str) -> float:
        x = self.inputs[key]
        if x.missing:
            raise InputError(f"{key} has no value: {x.source}")
        return float(x.value)

    def values(self) -> dict[str, float]:
        return {k: float(v.value) for k, v in self.inputs.items()}

    def with_value(self, key: str, value: float) -> Market:
        return replace(self, inputs={**self.inputs, key: replace(self.inputs[key], value=value)})


def dated(spec: dict[str, Any], day: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A table figure as of ``day``: the newest of it and its 'earlier' figures dated on or before
    that day (None: none is that old), and the newest dated after it (None: none is)."""
    figures = [{k: v for k, v in spec.items() if k != "earlier"}, *spec.get("earlier", [])]
    before = [f for f in figures if str(f["date"]) <= day]
    after = [f for f in figures if str(f["date"]) > day]
    return (max(before, key=lambda f: str(f["date"])) if before else None,
            max(after, key=lambda f: str(f["date"])) if after else None)


def _table_input(spec: dict[str, Any], unit: str, what: str, day: str, key: str) -> Input:
    """A table's figure as of the snapshot's date, saying when a newer one is left out; with no
    figure that old, a missing input (NaN) that says how to give one."""
    chosen, later = dated(spec, day)
    if chosen is None:
        oldest = min(str(f["date"]) for f in [spec, *spec.get("earlier", [])])
        return Input(math.nan, unit, f"{what}: no figure dated on or before {day} (the oldest is dated {oldest}); "
                     f"give one with --set {key}=...", "", math.nan, math.nan, origin="table", as_of=day)
    note = f" [taken as of {day}: the figure dated {later['date']} is later]" if later is not None else ""
    return Input(float(chosen["value"]), unit, f"{what}: {chosen['source']}{note}", str(chosen["date"]),
                 float(chosen["low"]), float(chosen["high"]), origin="table", as_of=day)


def decision_defaults() -> dict[str, Any]:
    """The decision's inputs (data/decision.json): key -> a dated table figure with its unit."""
    return dict(data_json("decision.json")["inputs"])


def with_device_prices(m: Market, asic: str | None = None) -> Market:
    """The reference GPU's rental prices, the ASIC's price per TH and the decision's inputs, from
    their tables as of the snapshot's date, where the market does not give them (a shipped or
    table figure for another ASIC is replaced)."""
    inputs = dict(m.inputs)
    day = m.snapshot or default_snapshot()
    table = gpu_prices()
    ref = table["models"][table["reference"]]
    for key, term, unit in (("gpu_usd_per_hour", "on_demand", "USD/GPU-hour"),
                            ("gpu_usd_per_hour_1y", "contract_1y", "USD/GPU-hour"),
                            ("gpu_server_usd_per_gpu", "server_usd_per_gpu", "USD per GPU, server share included")):
        if key not in inputs:
            inputs[key] = _table_input(ref[term], unit, f"{catalogue.FILE}, {table['reference']} {term}", day, key)
    name = asic or "S21"
    spec = asics().get(name, {}).get("usd_per_th")
    old = inputs.get("asic_usd_per_th")
    if spec is not None and (old is None or old.origin == "table"):
        inputs["asic_usd_per_th"] = _table_input(spec, "USD per TH/s", f"asics.json, {name}", day, "asic_usd_per_th")
    for key, spec in decision_defaults().items():
        if key not in inputs:
            inputs[key] = _table_input(spec, str(spec["unit"]), "decision.json", day, key)
    return replace(m, inputs=inputs)


def load(spec: str | None = None) -> Market:
    """A shipped snapshot by name (the newest by default), or a user file merged over the
    snapshot it names as 'base' (else the newest); device prices filled from their tables."""
    name = spec or default_snapshot()
    if name in snapshots():
        raw = data_json(f"market/{name}.json")
        return with_device_prices(Market(name, _parse_inputs(raw, f"market {name}", None), name))
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
                            date=x.date or date.today().isoformat(), unit=unit,
                            replaced=base.inputs[k].value if k in base.inputs and not base.inputs[k].missing
                            else None)
    return Market(f"{base.name} + {path.name}", merged, base.snapshot)


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
        new = Input(value, old.unit, "user override (--set)", date.today().isoformat(), lo, hi, origin="set",
                    replaced=old.replaced if old.origin == "set" else None if old.missing else old.value)
        check(key, new, "--set")
        inputs[key] = new
    return replace(market, name=market.name + (" + --set" if sets else ""), inputs=inputs)
