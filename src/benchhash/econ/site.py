"""A site over a real hourly price series: each use's dispatch, the value of flexibility, the
"mullet" site (firm AI in front, flexible mining behind on one interconnect) against pure sites
of the same MW, and the claim re-tested on margin. Every input used is echoed beside the
outputs, so each figure can be recomputed by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchhash.econ import claim as claims
from benchhash.econ import hourly, model, uses
from benchhash.econ.market import Asic, Market
from benchhash.econ.prices import PriceSeries
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


def _mining(m: Market, spec: Asic) -> tuple[hourly.Mining, dict[str, Any]]:
    d = uses.derived(m)
    j_per_th = float(spec.j_per_th) * m["asic_efficiency_factor"]
    ph = model.mining_ph_per_facility_mw(j_per_th, m["pue_mining"])
    hp = float(d.hashprice_usd_per_ph_day or 0.0)
    mine = hourly.Mining(hourly.mining_revenue_usd_per_mwh(hp, m["pool_fee"], ph), m["uptime_mining"],
                         m["opex_mining_usd_per_mw_year"])
    echo = {"asic": spec.name, "j_per_th": j_per_th, "asic_efficiency_factor": m["asic_efficiency_factor"],
            "pue_mining": m["pue_mining"], "ph_per_facility_mw": ph, "hashprice_usd_per_ph_day": hp,
            "pool_fee": m["pool_fee"], "uptime_mining": m["uptime_mining"],
            "opex_mining_usd_per_mw_year": m["opex_mining_usd_per_mw_year"],
            "revenue_usd_per_mwh": mine.revenue_usd_per_mwh}
    return mine, echo


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


def analyse(series: PriceSeries, m: Market, spec: Asic, rows: list[uses.Use], req: HourlyRequest,
            ai_mw: float, mining_mw: float) -> dict[str, Any]:
    contract = hourly.Contract(req.contract, m["power_adder_usd_per_mwh"], m["power_usd_per_mwh"])
    curtail = curtail_hours(req.fourcp, series) if req.fourcp else None
    flex = hourly.Flex(req.min_on_hours, req.min_off_hours, req.ramp_cost_usd_per_mw, curtail,
                       req.fourcp_usd_per_mw_year)
    mine, echo = _mining(m, spec)
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
    js = {k: o.to_json(series) for k, o in outcomes.items()}
    echo.update(contract=contract.to_json(), ai_load_factor=m["ai_load_factor"],
                opex_ai_share_of_revenue=m["opex_ai_share_of_revenue"],
                opex_colocation_share_of_revenue=m["opex_colocation_share_of_revenue"],
                colocation_power_passthrough=m["colocation_power_passthrough"],
                ai_revenue_usd_per_mw_year={k: f.revenue_usd_per_mw_year for k, f in firms},
                min_on_hours=flex.min_on_hours, min_off_hours=flex.min_off_hours,
                ramp_cost_usd_per_mw=flex.ramp_cost_usd_per_mw,
                fourcp={"spec": req.fourcp, "hours": int(curtail.sum()) if curtail is not None else 0,
                        "charge_usd_per_mw_year": flex.fourcp_usd_per_mw_year})
    flat, flexed = js["mining_flat"], js["mining_flexible"]
    out: dict[str, Any] = {
        "series": series.summary(), "inputs": echo, "uses": js,
        "breakeven_usd_per_mwh": flexed["breakeven_usd_per_mwh"],
        "hours_curtailed": flexed["hours"] - flexed["hours_on"],
        "flexibility_value_usd_per_mw_year": flexed["margin_usd_per_year"] - flat["margin_usd_per_year"],
    }
    ai_key = next((k for k, _ in firms if k.startswith("ai_rental")), None)
    soak = hourly.mining(series, mine, contract, flex, "mining on AI's idle share", pays_contract=False, on=on)
    hourly.fourcp(soak, flex)
    out["mullet"] = mullet(js, ai_key, soak.to_json(series), ai_mw, mining_mw, m["ai_load_factor"])
    out["claim"] = hourly_claim(js, ai_key, ai_mw, mining_mw)
    _beside_static(out["claim"], rows, dict(firms), ai_key, ai_mw, mining_mw)
    out["static_basis"] = {"power_usd_per_mwh": m["power_usd_per_mwh"], "ai_draw_share": 1.0,
                           "mining_hours": "every hour, at uptime_mining"}
    return out


def _readings(ai_key: str | None) -> tuple[tuple[str, str | None], ...]:
    """Each reading of the claim and the use (its key over the series) that stands for AI in it."""
    return ("gpu_cloud", ai_key), ("colocation_lease", "colocation_lease")


def _beside_static(claim: dict[str, Any], rows: list[uses.Use], firms: dict[str, hourly.Firm], ai_key: str | None,
                   ai_mw: float, mining_mw: float) -> None:
    """Each hourly verdict with the static one on margin (`econ --claim`: a flat power price, AI at
    its full MW, mining every hour) from the same rows, so that a disagreement can be explained."""
    asic = next((r for r in rows if r.use == "asic_mining"), None)
    for reading, key in _readings(ai_key):
        row = next((r for r in rows if key in firms and r.label == firms[key].label), None)
        if asic is not None and row is not None and reading in claim:
            claim[reading]["static"] = claims.judge(ai_mw * row.margin_now_usd_per_year,
                                                    mining_mw * asic.margin_now_usd_per_year).to_json()


def _site(parts: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    keys = ("revenue_usd_per_year", "power_cost_usd_per_year", "credits_usd_per_year", "margin_usd_per_year",
            "energy_mwh_per_year")
    return {k: sum(mw * u[k] for mw, u in parts) for k in keys} | {"facility_mw": sum(mw for mw, _ in parts)}


def mullet(js: dict[str, Any], ai_key: str | None, soak: dict[str, Any], ai_mw: float, mining_mw: float,
           load_factor: float) -> dict[str, Any]:
    """A MW of firm AI plus M MW of flexible mining, with and without mining soaking up the
    power AI leaves undrawn, against pure sites of the same A + M MW."""
    if ai_key is None:
        return {"note": "no AI rental row to put in front (no GPU price): give --set gpu_usd_per_hour=..."}
    ai, flex, flat = js[ai_key], js["mining_flexible"], js["mining_flat"]
    total = ai_mw + mining_mw
    idle = (1 - load_factor) * ai_mw
    sites = {
        "mullet": _site([(ai_mw, ai), (mining_mw, flex)]),
        "mullet_soaking_idle_ai_power": _site([(ai_mw, ai), (mining_mw, flex), (idle, soak)]),
        "pure_ai": _site([(total, ai)]),
        "pure_mining_flexible": _site([(total, flex)]),
        "pure_mining_flat": _site([(total, flat)]),
    }
    sites["mullet_soaking_idle_ai_power"]["facility_mw"] = total   # the soak uses AI's interconnect
    return {"ai_mw": ai_mw, "mining_mw": mining_mw, "ai_use": ai_key, "soaked_mw": idle, "sites": sites}


def hourly_claim(js: dict[str, Any], ai_key: str | None, ai_mw: float, mining_mw: float) -> dict[str, Any]:
    """'A MW of AI earns what M MW of mining earns', on margin over the hourly series, with the
    mining fleet price-responsive (its best case) and, for comparison, flat."""
    out: dict[str, Any] = {}
    for reading, key in _readings(ai_key):
        if key is None or key not in js:
            out[reading] = claims.no_row().to_json()
            continue
        ai = ai_mw * js[key]["margin_usd_per_year"]
        flat = claims.judge(ai, mining_mw * js["mining_flat"]["margin_usd_per_year"])
        out[reading] = claims.judge(ai, mining_mw * js["mining_flexible"]["margin_usd_per_year"]).to_json() | {
            "against_flat_mining": flat.to_json()}
    return out
