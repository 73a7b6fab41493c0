"""A site over a real hourly price series: each use's dispatch, the value of flexibility, the
"mullet" site (firm AI in front, flexible mining behind on one interconnect) against pure sites
of the same MW, and the claim re-tested on margin. Every input used is echoed beside the
outputs, so each figure can be recomputed by hand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchhash.econ import claim as claims
from benchhash.econ import hourly, model, uses
from benchhash.econ.jsonable import optional
from benchhash.econ.market import Asic, Market
from benchhash.econ.prices import PriceSeries, SeriesSummary
from benchhash.errors import InputError
from benchhash.fsutil import read_text

AI_USES = ("ai_rental", "ai_rental_contract", "ai_tokens")


@dataclass(frozen=True)
class HourlyRequest:
    prices: str | None = None
    fill: str | None = None
    point: str | None = None
    contract: str = "index"
    min_on_hours: int = 1
    min_off_hours: int = 1
    ramp_cost_usd_per_mw: float = 0.0
    fourcp: str | None = None
    fourcp_usd_per_mw_year: float | None = None


def curtail_hours(spec: str, series: PriceSeries) -> np.ndarray:
    """4CP intervals as a bool per hour: a comma list (or a file with one per line) of hours or
    'start/end' intervals in ISO 8601; any hour an interval touches is curtailed."""
    text = read_text(spec, "--4cp file") if _names_a_file(spec) else spec
    items = [x.strip() for x in text.replace("\n", ",").split(",") if x.strip() and not x.strip().startswith("#")]
    if not items:
        raise InputError("--4cp: no intervals given")
    out = np.zeros(len(series.hours), dtype=bool)
    for item in items:
        start, _, end = item.partition("/")
        lo, hi = _seconds(start), _seconds(end) if end else _seconds(start) + 3600
        if hi <= lo:
            raise InputError(f"--4cp: interval {item!r} ends before it starts")
        sel = (series.hours * 3600 < hi) & ((series.hours + 1) * 3600 > lo)
        if not sel.any():
            raise InputError(f"--4cp: interval {item!r} is outside the price series")
        out |= sel
    return out


def _names_a_file(spec: str) -> bool:
    """Whether --4cp names a file (else it is the list itself: a long one is no file name)."""
    try:
        return Path(spec).is_file()
    except (OSError, ValueError):
        return False


def _seconds(text: str) -> int:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--4cp: {text!r} is not an ISO 8601 time") from None
    return int((t.replace(tzinfo=UTC) if t.tzinfo is None else t).timestamp())


@dataclass(frozen=True)
class FourCp:
    """The 4CP intervals asked for (--4cp), the hours they curtail and their charge (--4cp-charge)."""

    spec: str | None
    hours: int
    charge_usd_per_mw_year: float | None


@dataclass(frozen=True)
class HourlyInputs:
    """Every input the hourly analysis used, echoed so that each figure can be recomputed: the
    mining side (ASIC, efficiency, PUE, PH per facility MW, hashprice, pool fee, uptime, opex, its
    revenue per facility MWh), the contract, the AI side (load factor, opex shares, passthrough,
    each firm use's revenue per MW-year) and the dispatch's constraints and 4CP."""

    asic: str
    j_per_th: float
    asic_efficiency_factor: float
    pue_mining: float
    ph_per_facility_mw: float
    hashprice_usd_per_ph_day: float
    pool_fee: float
    uptime_mining: float
    opex_mining_usd_per_mw_year: float
    revenue_usd_per_mwh: float
    contract: hourly.Contract
    ai_load_factor: float
    opex_ai_share_of_revenue: float
    opex_colocation_share_of_revenue: float
    colocation_power_passthrough: float
    ai_revenue_usd_per_mw_year: dict[str, float]
    min_on_hours: int
    min_off_hours: int
    ramp_cost_usd_per_mw: float
    fourcp: FourCp


def _mining(m: Market, spec: Asic) -> hourly.Mining:
    hp = float(uses.derived(m).hashprice_usd_per_ph_day or 0.0)
    ph = model.mining_ph_per_facility_mw(float(spec.j_per_th) * m["asic_efficiency_factor"], m["pue_mining"])
    return hourly.Mining(hourly.mining_revenue_usd_per_mwh(hp, m["pool_fee"], ph), m["uptime_mining"],
                         m["opex_mining_usd_per_mw_year"])


def _inputs(m: Market, spec: Asic, mine: hourly.Mining, contract: hourly.Contract, flex: hourly.Flex,
            firms: list[tuple[str, hourly.Firm]], fourcp: FourCp) -> HourlyInputs:
    j_per_th = float(spec.j_per_th) * m["asic_efficiency_factor"]
    return HourlyInputs(
        spec.name, j_per_th, m["asic_efficiency_factor"], m["pue_mining"],
        model.mining_ph_per_facility_mw(j_per_th, m["pue_mining"]),
        float(uses.derived(m).hashprice_usd_per_ph_day or 0.0), m["pool_fee"], m["uptime_mining"],
        m["opex_mining_usd_per_mw_year"], mine.revenue_usd_per_mwh, contract, m["ai_load_factor"],
        m["opex_ai_share_of_revenue"], m["opex_colocation_share_of_revenue"], m["colocation_power_passthrough"],
        {k: f.revenue_usd_per_mw_year for k, f in firms}, flex.min_on_hours, flex.min_off_hours,
        flex.ramp_cost_usd_per_mw, fourcp)


def _firms(m: Market, rows: list[uses.Use]) -> list[tuple[str, hourly.Firm]]:
    """The firm uses, keyed by their use (a second device's rows get _2, _3, ...)."""
    out: list[tuple[str, hourly.Firm]] = []
    seen: dict[str, int] = {}
    for r in rows:
        if r.use in AI_USES and r.revenue_now_usd_per_year > 0:
            f = hourly.Firm(r.label, r.revenue_now_usd_per_year, m["ai_load_factor"], m["opex_ai_share_of_revenue"])
        elif r.use == "colocation":
            f = hourly.Firm(r.label, r.revenue_now_usd_per_year, m["ai_load_factor"],
                            m["opex_colocation_share_of_revenue"], 1 - m["colocation_power_passthrough"])
        else:
            continue
        key = "colocation_lease" if r.use == "colocation" else r.use
        seen[key] = seen.get(key, 0) + 1
        out.append((key if seen[key] == 1 else f"{key}_{seen[key]}", f))
    return out


@dataclass(frozen=True)
class SiteTotals:
    """A site of several uses over the series, a year: the sums of its uses' figures, each at its MW."""

    revenue_usd_per_year: float
    power_cost_usd_per_year: float
    credits_usd_per_year: float
    margin_usd_per_year: float
    energy_mwh_per_year: float
    facility_mw: float


@dataclass(frozen=True)
class Mullet:
    """A MW of firm AI in front and M MW of flexible mining behind, against pure sites of the same
    MW (``sites``); where there is no AI rental row to put in front, only a ``note`` saying so."""

    ai_mw: float | None = optional()
    mining_mw: float | None = optional()
    ai_use: str | None = optional()
    soaked_mw: float | None = optional()
    sites: dict[str, SiteTotals] | None = optional()
    note: str | None = optional()


@dataclass(frozen=True)
class HourlyVerdict:
    """The claim on margin over the series with mining price-responsive; against flat mining;
    and the static verdict on margin from the same rows (``static``, where there are both rows)."""

    verdict: claims.Judgement
    against_flat_mining: claims.Judgement | None = None
    static: claims.Judgement | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.verdict.to_json()
        for key, j in (("against_flat_mining", self.against_flat_mining), ("static", self.static)):
            if j is not None:
                out[key] = j.to_json()
        return out


@dataclass(frozen=True)
class StaticBasis:
    """What the static verdict assumes that the hourly one does not."""

    power_usd_per_mwh: float
    ai_draw_share: float
    mining_hours: str


@dataclass(frozen=True)
class Hourly:
    """`econ --hourly`: each use dispatched over an hourly price series, per facility MW; mining's
    break-even price, the hours it is curtailed and the value of its flexibility; the mullet site;
    the claim on margin; and every input used (``inputs``), with the series (``series``)."""

    series: SeriesSummary
    inputs: HourlyInputs
    uses: dict[str, hourly.Dispatch]
    breakeven_usd_per_mwh: float | None
    hours_curtailed: int
    flexibility_value_usd_per_mw_year: float
    mullet: Mullet
    claim: dict[str, HourlyVerdict]
    static_basis: StaticBasis


def analyse(series: PriceSeries, m: Market, spec: Asic, rows: list[uses.Use], req: HourlyRequest,
            ai_mw: float, mining_mw: float) -> Hourly:
    contract = hourly.Contract(req.contract, m["power_adder_usd_per_mwh"], m["power_usd_per_mwh"])
    curtail = curtail_hours(req.fourcp, series) if req.fourcp else None
    flex = hourly.Flex(req.min_on_hours, req.min_off_hours, req.ramp_cost_usd_per_mw, curtail,
                       req.fourcp_usd_per_mw_year)
    mine = _mining(m, spec)
    name = spec.name
    on = hourly.plan(series, mine, contract, flex)
    outcomes = {"mining_flexible": hourly.mining(series, mine, contract, flex, f"mining, {name}, price-responsive",
                                                 on=on),
                "mining_flat": hourly.mining(series, mine, contract, None, f"mining, {name}, every hour")}
    firms = _firms(m, rows)
    for key, f in firms:
        outcomes[key] = hourly.firm(series, f, contract)
    for o in outcomes.values():
        hourly.fourcp(o, flex)
    js = {k: o.dispatch(series) for k, o in outcomes.items()}
    fourcp = FourCp(req.fourcp, int(curtail.sum()) if curtail is not None else 0, flex.fourcp_usd_per_mw_year)
    flat, flexed = js["mining_flat"], js["mining_flexible"]
    ai_key = next((k for k, _ in firms if k.startswith("ai_rental")), None)
    soak = hourly.mining(series, mine, contract, flex, "mining on AI's idle share", pays_contract=False, on=on)
    hourly.fourcp(soak, flex)
    claim = hourly_claim(js, ai_key, ai_mw, mining_mw)
    _beside_static(claim, rows, dict(firms), ai_key, ai_mw, mining_mw)
    return Hourly(series.summary(), _inputs(m, spec, mine, contract, flex, firms, fourcp), js,
                  flexed.breakeven_usd_per_mwh, flexed.hours - int(flexed.total.hours_on),
                  flexed.per_year.margin_usd - flat.per_year.margin_usd,
                  mullet(js, ai_key, soak.dispatch(series), ai_mw, mining_mw, m["ai_load_factor"]), claim,
                  StaticBasis(m["power_usd_per_mwh"], 1.0, "every hour, at uptime_mining"))


def _readings(ai_key: str | None) -> tuple[tuple[str, str | None], ...]:
    """Each reading of the claim and the use (its key over the series) that stands for AI in it."""
    return ("gpu_cloud", ai_key), ("colocation_lease", "colocation_lease")


def _beside_static(claim: dict[str, HourlyVerdict], rows: list[uses.Use], firms: dict[str, hourly.Firm],
                   ai_key: str | None, ai_mw: float, mining_mw: float) -> None:
    """Each hourly verdict with the static one on margin (`econ --claim`: a flat power price, AI at
    its full MW, mining every hour) from the same rows, so that a disagreement can be explained."""
    asic = next((r for r in rows if r.use == "asic_mining"), None)
    for reading, key in _readings(ai_key):
        row = next((r for r in rows if key in firms and r.label == firms[key].label), None)
        if asic is not None and row is not None and reading in claim:
            claim[reading] = replace(claim[reading], static=claims.judge(ai_mw * row.margin_now_usd_per_year,
                                                                          mining_mw * asic.margin_now_usd_per_year))


def _site(parts: list[tuple[float, hourly.Dispatch]], facility_mw: float | None = None) -> SiteTotals:
    """The sums of the parts' yearly figures, each at its MW (the site's MW: theirs, unless given)."""
    return SiteTotals(sum(mw * u.per_year.revenue_usd for mw, u in parts),
                      sum(mw * u.per_year.power_cost_usd for mw, u in parts),
                      sum(mw * u.per_year.credits_usd for mw, u in parts),
                      sum(mw * u.per_year.margin_usd for mw, u in parts),
                      sum(mw * u.per_year.energy_mwh for mw, u in parts),
                      sum(mw for mw, _ in parts) if facility_mw is None else facility_mw)


def mullet(js: dict[str, hourly.Dispatch], ai_key: str | None, soak: hourly.Dispatch, ai_mw: float, mining_mw: float,
           load_factor: float) -> Mullet:
    """A MW of firm AI plus M MW of flexible mining, with and without mining soaking up the
    power AI leaves undrawn, against pure sites of the same A + M MW."""
    if ai_key is None:
        return Mullet(note="no AI rental row to put in front (no GPU price): give --set gpu_usd_per_hour=...")
    ai, flex, flat = js[ai_key], js["mining_flexible"], js["mining_flat"]
    total = ai_mw + mining_mw
    idle = (1 - load_factor) * ai_mw
    sites = {
        "mullet": _site([(ai_mw, ai), (mining_mw, flex)]),
        # the soak uses AI's interconnect
        "mullet_soaking_idle_ai_power": _site([(ai_mw, ai), (mining_mw, flex), (idle, soak)], total),
        "pure_ai": _site([(total, ai)]),
        "pure_mining_flexible": _site([(total, flex)]),
        "pure_mining_flat": _site([(total, flat)]),
    }
    return Mullet(ai_mw, mining_mw, ai_key, idle, sites)


def hourly_claim(js: dict[str, hourly.Dispatch], ai_key: str | None, ai_mw: float,
                 mining_mw: float) -> dict[str, HourlyVerdict]:
    """'A MW of AI earns what M MW of mining earns', on margin over the hourly series, with the
    mining fleet price-responsive (its best case) and, for comparison, flat."""
    out: dict[str, HourlyVerdict] = {}
    for reading, key in _readings(ai_key):
        if key is None or key not in js:
            out[reading] = HourlyVerdict(claims.no_row())
            continue
        ai = ai_mw * js[key].per_year.margin_usd
        out[reading] = HourlyVerdict(claims.judge(ai, mining_mw * js["mining_flexible"].per_year.margin_usd),
                                     claims.judge(ai, mining_mw * js["mining_flat"].per_year.margin_usd))
    return out
