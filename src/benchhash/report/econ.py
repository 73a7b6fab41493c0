"""`benchhash econ` as a person reads it: the assumptions first (every input a verdict turns on,
with its value, unit and date; what --set, a file or the live API changed; the snapshot's age),
then the table per facility MW, the power caps, deals, the hourly site and the claim, each on
one basis: money a year at today's conditions, payback and NPV over each use's horizon, so that
each figure of a verdict is a figure of the table times the verdict's MW. Built as lines and
grids (report/table.py) that print at any width, as Markdown, or (from the data) as CSV."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from benchhash.econ.answer import Econ, MarketView, Sweep
from benchhash.econ.market import USER, Input, allowed
from benchhash.econ.uses import TokensBasis, Use
from benchhash.report import decision
from benchhash.report.table import Block, Grid, Items, Line, markdown, show
from benchhash.units import musd, num, si

if TYPE_CHECKING:
    from benchhash.econ.caps import CapPoint
    from benchhash.econ.claim import Breakevens, Claim, Reading
    from benchhash.econ.deals import Deal, Deals
    from benchhash.econ.prices import SeriesSummary
    from benchhash.econ.site import Hourly, Mullet

log = logging.getLogger(__name__)

#: The inputs the table and the claim turn on, shown above them (every input: `econ --inputs`).
SHOWN = ("btc_usd", "difficulty", "fee_share", "pool_fee", "uptime_mining", "pue_mining", "asic_efficiency_factor",
         "asic_usd_per_th", "power_usd_per_mwh", "gpu_usd_per_hour", "gpu_utilisation", "host_overhead", "pue_ai",
         "gpu_server_usd_per_gpu", "colocation_usd_per_it_mw_year", "colocation_power_passthrough",
         "opex_mining_usd_per_mw_year", "opex_ai_share_of_revenue", "opex_colocation_share_of_revenue",
         "capex_mining_usd_per_mw", "capex_ai_usd_per_it_mw", "discount_rate", "difficulty_growth_per_year",
         "gpu_price_decline_per_year", "colocation_escalator_per_year", "asic_life_years", "gpu_life_years",
         "colocation_lease_years", "horizon_years")
#: Shown too when a row or the hourly analysis uses them.
CONTRACT_SHOWN = ("gpu_usd_per_hour_1y", "gpu_utilisation_contract")
HOURLY_SHOWN = ("power_adder_usd_per_mwh", "ai_load_factor")
HOW = {"set": "--set", "file": "market file", "live": "--market live"}
#: The tokens rows: priced from served figures (or decode alone), and the decode-only row beside.
TOKEN_USES = ("ai_tokens", "ai_tokens_decode")
BASIS = "M$ a year at today's conditions"


def m3(v: float | None) -> str:
    """Money per facility MW, in M$ with three decimals (so MW x it reads to 0.1 % of the total)."""
    return "-" if v is None or not math.isfinite(v) else f"{v / 1e6:,.3f}"


def _parts(value: float | None, unit: str) -> tuple[str, str]:
    """('60,000', 'USD/BTC'), ('2', '%') for a fraction, ('80', '% of hours sold'): the unit up to
    its first parenthesis or comma (the whole of it: `econ --inputs`)."""
    unit = re.split(r" \(|, ", unit)[0]
    if value is None:
        return "none", unit
    if unit.startswith("fraction"):
        return f"{100 * value:.4g}", "%" + unit[len("fraction"):]
    return num(value), unit


def _finite(v: float | None) -> float | None:
    """An input's figure as its JSON has it: a missing one (not finite) is None."""
    return v if v is None or math.isfinite(v) else None


def value_unit(x: Input) -> str:
    return " ".join(_parts(_finite(x.value), x.unit)).strip()


# --- assumptions ---------------------------------------------------------------------------------
def _shown(data: Econ) -> list[str]:
    keys = list(SHOWN)
    kinds = {u.use for u in data.uses}
    if "ai_rental_contract" in kinds:
        keys += CONTRACT_SHOWN
    tokens = [u.basis for u in data.uses if u.use in TOKEN_USES and isinstance(u.basis, TokensBasis)]
    keys += [b.price_input for b in tokens]
    keys += [b.served.tpot_objective_input for b in tokens if b.served is not None]
    if data.hourly is not None:
        keys += HOURLY_SHOWN
    if data.decision is not None:
        keys += decision.SHOWN
    return [k for k in dict.fromkeys(keys) if k in data.inputs]


def changes(inputs: dict[str, Input]) -> list[Line]:
    """What a market file, --set or the live API changed: 'key: old → new unit'."""
    out = []
    for key, x in inputs.items():
        if x.origin in USER and _finite(x.replaced) is not None:
            (old, _), (new, unit) = _parts(_finite(x.replaced), x.unit), _parts(_finite(x.value), x.unit)
            out.append(Line(f"{HOW[x.origin]} {key}: {old} → {new} {unit}".rstrip()))
    return out


def assumptions(data: Econ) -> list[Block]:
    """The snapshot and its age, the changes, the derived figures, then the deciding inputs by date."""
    s, d, a = data.snapshot, data.derived, data.asic
    snap = f"snapshot {s.name}, " if s.name != data.market else "snapshot "
    out: list[Block] = [Line(f"market {data.market} ({snap}{s.age_days} days old on {s.today})", "heading")]
    out += [Line(w, "warning") for w in data.warnings]
    out += changes(data.inputs)
    out.append(Line(f"derived: hashprice {d.hashprice_usd_per_ph_day:.2f} $/PH/day, subsidy "
                    f"{d.subsidy_btc:g} BTC, network {d.network_hashrate_eh_s:.0f} EH/s, next halving in "
                    f"{d.years_to_halving:.1f} y"))
    out.append(Line("inputs the figures below turn on, by date (* given by you; every input with its range "
                    "and source: benchhash econ --inputs)"))
    by_date: dict[str, list[str]] = {a.date: [f"ASIC {a.name} {a.j_per_th:g} J/TH"]}
    for key in _shown(data):
        x = data.inputs[key]
        by_date.setdefault(x.date, []).append(f"{key}{'*' if x.origin in USER else ''} {value_unit(x)}")
    out += [Items(day, by_date[day]) for day in sorted(by_date, reverse=True)]
    return out + spread(data)


def spread(data: MarketView) -> list[Block]:
    """What the GPU-hour prices used are among the market's (the reference GPU's price bands)."""
    bands = data.gpu_price_spread
    if not bands:
        return []
    x = data.inputs["gpu_usd_per_hour"]
    used = f"{num(_finite(x.value))} $/h" + (", given by you" if x.origin in USER else "")
    items = [f"{b.basis} {b.low:.2f}" + (f"-{b.high:.2f}" if b.high != b.low else "") + f" $/h ({b.date})"
             for b in bands]
    return [Items(f"GPU-hour prices of the reference GPU: on demand {used}, among", items)]


# --- the table per facility MW -------------------------------------------------------------------
USES_TITLE = (f"per facility MW ({BASIS}; payback and NPV over each use's horizon, with difficulty growth, "
              "halvings, price declines and switch-off); IT MW = facility MW / PUE reaches the machines")


def uses_grid(rows: list[Use]) -> Grid:
    headers = ["use", "IT MW", "revenue M$/y", "power M$/y", "opex M$/y", "margin M$/y", "capex M$", "payback",
               "NPV M$", "horizon"]
    body = [[r.label, f"{r.it_mw:.3f}", m3(r.revenue_now_usd_per_year), m3(r.power_now_usd_per_year),
             m3(r.opex_now_usd_per_year), m3(r.margin_now_usd_per_year), m3(r.capex_usd),
             "none" if r.payback_years is None else f"{r.payback_years:.1f} y", m3(r.npv_usd),
             f"{r.horizon_years} y"] for r in rows]
    return Grid(USES_TITLE, headers, body)


def losses(rows: list[Use]) -> list[Line]:
    """Each use that loses money today, or is switched off in its projection: when, and what it loses."""
    out = []
    for r in rows:
        off, margin = r.switched_off_year, r.margin_now_usd_per_year
        if off is not None and off == 0:
            out.append(Line(f"{r.label} would lose {m3(-margin)} M$ a year per MW today: it is switched off "
                            f"from the start, so its NPV is its capex lost ({m3(r.npv_usd)} M$)", "note"))
        elif off is not None:
            out.append(Line(f"{r.label} earns {m3(margin)} M$ a year per MW today; its margin turns negative in "
                            f"month {round(off * 12) + 1} (year {int(off) + 1}), when it is switched off: the NPV "
                            "counts the months before", "note"))
        elif margin < 0:
            out.append(Line(f"{r.label} loses {m3(-margin)} M$ a year per MW today (it is not switched off: "
                            "its NPV counts the losses)", "note"))
    return out


# --- power caps ----------------------------------------------------------------------------------
METRICS = {"revenue_usd_per_year": "revenue", "margin_usd_per_year": "margin", "npv_usd": "NPV"}
HOW_PRICED = {"device_mining": "mining", "ai_tokens": "tokens", "ai_rental": "GPU rental, priced by work done"}


def _metric(p: CapPoint, key: str) -> float | None:
    return {"revenue_usd_per_year": p.revenue_usd_per_year, "margin_usd_per_year": p.margin_usd_per_year,
            "npv_usd": p.npv_usd}[key]


def best_caps(points: list[CapPoint]) -> str:
    """The best cap per metric, as shown: a tie at the figures shown is said, not marked."""
    parts = []
    for key, name in METRICS.items():
        shown = [(m3(v), v, p) for p in points if (v := _metric(p, key)) is not None]
        if not shown:
            continue
        top = max(shown, key=lambda s: s[1])[0]
        at = [f"{p.cap_w:g} W" for text, _, p in shown if text == top]
        parts.append(f"{name} {at[0]} ({top})" if len(at) == 1 else
                     f"{name}: a tie at {top} ({'every cap' if len(at) == len(shown) else ', '.join(at)})")
    return "best cap per facility MW: " + "; ".join(parts) if parts else ""


def caps_blocks(sweep: Sweep) -> list[Block]:
    out: list[Block] = []
    for c in sweep.curves:
        how = f", {HOW_PRICED.get(c.priced_as, c.priced_as)}" if c.priced_as else ""
        u = c.unit
        body = [[f"{p.cap_w:g} W", si(p.rate, f"{u}/s"), si(p.watts, "W"), si(p.work_per_joule, f"{u}/J"),
                 "-" if p.devices_per_facility_mw is None else f"{p.devices_per_facility_mw:,.0f}",
                 m3(p.revenue_usd_per_year), m3(p.margin_usd_per_year), m3(p.npv_usd)] for p in c.points]
        out.append(Grid(f"power caps: {c.workload} on {sweep.device}, per facility MW{how} ({BASIS}, "
                        "the same basis as the table above; NPV over the horizon)",
                        ["cap", "rate", "watts", f"{u}/J", "GPUs/MW", "revenue M$/y", "margin M$/y", "NPV M$"], body))
        best = best_caps(c.points)
        out += [Line(best, indent=1)] if best else []
        if c.why_not_priced:
            out.append(Line(f"not priced: {c.why_not_priced}", "note", 1))
    return out


def _build(x: Deal) -> str:
    c = x.build_capex_usd_per_it_mw
    if not c:
        return "-"
    return m3(c["low"]) if c["low"] == c["high"] else f"{m3(c['low'])}-{m3(c['high'])}"


def deals_blocks(deals: Deals) -> list[Block]:
    ordered = sorted(deals.deals, key=lambda x: -(x.usd_per_it_mw_year or 0.0))
    body = [[x.miner, x.partner, x.structure + (f" ({x.label})" if x.label else ""), musd(x.usd),
             "-" if x.years is None else f"{x.years:g}", f"{x.it_mw:g}", m3(x.usd_per_it_mw_year),
             _build(x), x.date] for x in ordered]
    body += [["model", r.label, r.use, "-", "-", "-", m3(r.revenue_usd_per_it_mw_year)
              + (f" (term average {m3(r.term_average_usd_per_it_mw_year)})"
                 if r.term_average_usd_per_it_mw_year else ""), "-", "-"]
             for r in deals.model if r.revenue_usd_per_it_mw_year is not None]
    med = deals.median_usd_per_it_mw_year
    later = (f"; {deals.later_deals_left_out} deal(s) dated after the snapshot ({deals.as_of}) left out"
             if deals.later_deals_left_out else "")
    return [Grid("miners' public AI deals (M$ per IT-MW-year = value / years / IT MW; base terms; build: what the "
                 "miner said the conversion costs per IT MW; the model's rows: today's revenue per IT MW)",
                 ["miner", "partner", "structure", "value", "years", "IT MW", "per IT-MW-y", "build M$/IT-MW", "date"],
                 body),
            Items("how each rate is derived", [f"{x.miner}-{x.partner}: {x.derivation}" for x in ordered]),
            Line("median deal (plain ones: services included and aggregates left out): "
                 + ", ".join(f"{k} {m3(v)} M$/IT-MW-y" for k, v in sorted(med.items())) + later, indent=1)]


# --- the hourly site -----------------------------------------------------------------------------
def _why_hourly_differs(h: Hourly) -> str:
    """Which inputs the hourly verdict and the static one do not share."""
    i, sr, flex, static = h.inputs, h.series, h.uses["mining_flexible"], h.static_basis
    c = i.contract
    price = (f"the series' hourly price (mean {sr.mean_usd_per_mwh:.2f} $/MWh) + {c.adder_usd_per_mwh:.2f} "
             "$/MWh adder (power_adder_usd_per_mwh)" if c.kind == "index"
             else f"a PPA at {c.ppa_usd_per_mwh:.2f} $/MWh with unused MWh sold back at the hourly price")
    paid = flex.total.power_cost_usd / flex.total.energy_mwh if flex.total.energy_mwh else math.nan
    return (f"the static verdict prices power at a flat {static.power_usd_per_mwh:.2f} $/MWh "
            f"(power_usd_per_mwh), runs mining every hour and has AI draw its full MW; the hourly one at {price}, "
            f"runs mining {flex.total.hours_on:,} of {flex.hours:,} h (paying {paid:.2f} $/MWh on average) and has "
            f"AI draw {100 * i.ai_load_factor:.0f} % of its MW (ai_load_factor)")


def hourly_blocks(h: Hourly) -> list[Block]:
    sr, i = h.series, h.inputs
    c = i.contract
    terms = (f"index: hourly price + {c.adder_usd_per_mwh:.2f} $/MWh" if c.kind == "index"
             else f"PPA at {c.ppa_usd_per_mwh:.2f} $/MWh, unused MWh sold back at the hourly price")
    out: list[Block] = [
        Line(f"hourly: {sr.label}: {sr.hours:,} h from {sr.first_hour_utc}, mean {sr.mean_usd_per_mwh:.2f} "
             f"$/MWh, max {sr.max_usd_per_mwh:,.0f}; contract {terms}", "heading"),
        Line(f"mining earns {i.revenue_usd_per_mwh:.2f} $ per facility MWh (hashprice "
             f"{i.hashprice_usd_per_ph_day:.2f} $/PH/day, {i.j_per_th:.1f} J/TH, PUE {i.pue_mining:g}); "
             f"it runs at or below {h.breakeven_usd_per_mwh:.2f} $/MWh: {h.hours_curtailed:,} h curtailed; "
             f"flexibility is worth {m3(h.flexibility_value_usd_per_mw_year)} M$ per MW-year", indent=1)]
    out += _series_notes(sr)
    body = [[u.label, f"{u.total.hours_on:,}", f"{u.per_year.energy_mwh:,.0f}", m3(u.per_year.revenue_usd),
             m3(u.per_year.power_cost_usd), m3(u.per_year.credits_usd), m3(u.per_year.opex_usd),
             m3(u.per_year.margin_usd)] for u in h.uses.values()]
    out.append(Grid("per facility MW over the series, a year (credits: unused contract MWh sold back)",
                    ["use", "hours on", "MWh", "revenue M$", "power M$", "credits M$", "opex M$", "margin M$"], body))
    out += _mullet_blocks(h.mullet)
    differs = False
    for name, r in h.claim.items():
        flat = r.against_flat_mining.in_words if r.against_flat_mining is not None else "-"
        static = r.static
        out.append(Line(f"claim on margin, hourly, {name.replace('_', ' ')}: {r.verdict.in_words} (against flat "
                        f"mining: {flat}; static: {static.in_words if static is not None else '-'})", indent=1))
        differs |= (static is not None and static.holds is not None and r.verdict.holds is not None
                    and static.holds != r.verdict.holds)
    if differs:
        out.append(Line("why the hourly and static verdicts differ: " + _why_hourly_differs(h), indent=1))
    return out


def _series_notes(sr: SeriesSummary) -> list[Block]:
    """Every gap --fill filled, with its length, and the zone the months are counted in."""
    out: list[Block] = []
    gaps = sr.gaps_filled
    if gaps:
        listed = "; ".join(f"{g.hours:,} h from {g.from_utc}{' (empty cells)' if g.empty else ''}" for g in gaps)
        out.append(Line(f"filled {len(gaps)} gap(s), {sr.filled_hours:,} h in all, by --fill {sr.fill}: "
                        f"{listed}", "warning", 1))
    if sr.months_in:
        out.append(Line(f"months in {sr.months_in} ({sr.months_in_why})", indent=1))
    return out


def _mullet_blocks(mu: Mullet) -> list[Block]:
    if mu.sites is None:
        return [Line(f"mullet site: {mu.note}", indent=1)]
    body = [[name.replace("_", " "), musd(s.revenue_usd_per_year), musd(s.power_cost_usd_per_year),
             musd(s.credits_usd_per_year), musd(s.margin_usd_per_year), f"{s.energy_mwh_per_year:,.0f}"]
            for name, s in mu.sites.items()]
    ai, mining = mu.ai_mw or 0.0, mu.mining_mw or 0.0
    return [Grid(f"sites of {ai + mining:g} facility MW: {ai:g} MW AI in front, "
                 f"{mining:g} MW mining behind, against pure sites (a year)",
                 ["site", "revenue", "power", "credits", "margin", "MWh/y"], body)]


# --- the claim -----------------------------------------------------------------------------------
READINGS = ("gpu_cloud", "colocation_lease")
MEASURES = (("revenue", "revenue", "M$/y"), ("margin", "margin", "M$/y"), ("return_on_capital", "NPV", "M$"))


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def _side(mw: float, total: float, unit: str) -> str:
    return f"{mw:g} × {m3(total / mw)} = {total / 1e6:,.2f} {unit}"


def claim_blocks(c: Claim) -> list[Block]:
    out: list[Block] = [
        Line(f"claim: {c.statement}", "heading"),
        Line("each side is its MW times its row of the table above (revenue and margin: today; NPV: over the "
             "row's horizon)", indent=1)]
    for name in READINGS:
        r = c.reading(name)
        out.append(Line(f"{r.label}: the row {getattr(c.rows, name)}, against {c.rows.mining}:", indent=1))
        for measure, what, unit in MEASURES:
            j = r.on(measure)
            if j.ai_usd is None or j.mining_usd is None:
                out.append(Line(f"{what}: {j.in_words}", indent=2))
                continue
            out.append(Line(f"{what}: {_side(c.ai_mw, j.ai_usd, unit)} against "
                            f"{_side(c.mining_mw, j.mining_usd, unit)}: {j.in_words}", indent=2))
        mc, rev, mar = r.monte_carlo, r.monte_carlo.revenue, r.monte_carlo.margin
        out.append(Line(f"decided most by {r.decided_by}; Monte Carlo ({mc.draws:,} draws, seed {mc.seed}): "
                        f"revenue ratio p5 {_ratio(rev.p5)}, p50 {_ratio(rev.p50)}, p95 {_ratio(rev.p95)}; "
                        f"margin, AI less mining, p5 {_musd(mar.difference_p5_usd)}, p50 "
                        f"{_musd(mar.difference_p50_usd)}, p95 {_musd(mar.difference_p95_usd)} M$/y (a "
                        "difference: mining's margin near zero makes a ratio unstable); the claim holds in "
                        f"{100 * rev.share_claim_holds:.0f} % of draws on revenue, "
                        f"{100 * mar.share_claim_holds:.0f} % on margin", indent=2))
        out.append(Line(f"BTC price and difficulty drawn with normal-score correlation "
                        f"{mc.btc_difficulty_normal_score_correlation:g} (Gaussian copula): Spearman rank "
                        f"correlation {mc.btc_difficulty_spearman_theoretical:.2f}", indent=2))
    out.append(Line("break-evens: " + _breakevens(c.breakevens), indent=1))
    for name in READINGS:
        out += [_tornado(c.reading(name)), _tornado_margin(c.reading(name))]
    return out


def _musd(v: float | None) -> str:
    return "-" if v is None else f"{v / 1e6:,.2f}"


def _breakevens(b: Breakevens) -> str:
    return ", ".join(text for text in (
        None if b.gpu_usd_per_hour is None else f"{b.gpu_usd_per_hour:.2f} $/GPU-hour",
        f"lease {musd(b.colocation_usd_per_it_mw_year)}/IT-MW-y (term average)",
        None if b.btc_usd is None else f"BTC {b.btc_usd:,.0f} $ (GPU cloud)",
        None if b.btc_usd_colocation is None else f"BTC {b.btc_usd_colocation:,.0f} $ (lease)",
        None if b.mining_zero_margin_power_usd_per_mwh is None
        else f"mining's zero-margin power price {b.mining_zero_margin_power_usd_per_mwh:.2f} $/MWh (non-power "
             "opex included)") if text)


def _tornado(reading: Reading) -> Grid:
    body = [[r.input, num(r.low), num(r.high), _ratio(r.ratio_at_low), _ratio(r.ratio_at_high), _ratio(r.swing)]
            for r in reading.tornado]
    return Grid(f"tornado ({reading.label}, revenue): each input alone at the ends of its range",
                ["input", "low", "high", "ratio at low", "ratio at high", "swing"], body)


def _tornado_margin(reading: Reading) -> Grid:
    body = [[r.input, num(r.low), num(r.high), _musd(r.difference_at_low_usd), _musd(r.difference_at_high_usd),
             _musd(r.swing_usd), "yes" if r.verdict_flips else "no"] for r in reading.tornado_margin]
    return Grid(f"tornado ({reading.label}, margin): AI margin less mining margin, M$ a year, each input alone at "
                "the ends of its range (a difference, not a ratio: mining's margin is near zero)",
                ["input", "low", "high", "at low", "at high", "swing", "verdict flips"], body)


# --- the whole answer ----------------------------------------------------------------------------
def econ_blocks(data: Econ) -> list[Block]:
    out = assumptions(data)
    out += [Line(n, "note") for n in data.notes]
    out.append(uses_grid(data.uses))
    out += losses(data.uses)
    for sweep in data.power_caps:
        out += caps_blocks(sweep)
    if data.deals is not None:
        out += deals_blocks(data.deals)
    if data.hourly is not None:
        out += hourly_blocks(data.hourly)
    if data.claim is not None:
        out += claim_blocks(data.claim)
    if data.decision is not None:
        out += decision.decision_blocks(data.decision, data.inputs)
    return out


def inputs_grid(data: MarketView) -> Grid:
    """Every input --set takes: value, unit, what it may be, the range the claim sweeps, date, source."""
    body = [[key, num(x.value), x.unit, allowed(key).text(), f"{num(x.low)} to {num(x.high)}",
             x.date, x.origin + (f" (was {num(x.replaced)})" if _finite(x.replaced) is not None else ""),
             x.source] for key, x in data.inputs.items()]
    return Grid(f"market inputs ({data.market}): the keys --set key=value takes",
                ["key", "value", "unit", "allowed", "swept", "date", "origin", "source"], body)


# --- CSV -----------------------------------------------------------------------------------------
def _scalars(rows: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    return [{**extra, **{k: v for k, v in r.items() if v is None or isinstance(v, str | int | float | bool)}}
            for r in rows]


def _sections(data: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The CSV's sections from the answer's JSON (its names are the CSV's)."""
    out = [("inputs", [{"key": k, **x, "allowed": allowed(k).text()} for k, x in data["inputs"].items()])]
    if "uses" in data:
        out.append(("uses per facility MW", _scalars(data["uses"])))
    for s in data.get("power_caps", []):
        out += [(f"power caps: {c['workload']} on {s['device']}", _scalars(c["points"])) for c in s["curves"]]
    if "hourly" in data:
        out.append(("hourly per facility MW", _scalars(list(data["hourly"]["uses"].values()))))
    c = data.get("claim")
    if c:
        out.append(("claim", [{"reading": name, "measure": measure, **_scalars([c[name][measure]])[0]}
                              for name in READINGS for measure, _, _ in MEASURES]))
        out += [(f"tornado {name}", _scalars(c[name]["tornado"])) for name in READINGS]
        out += [(f"tornado on margin {name}", _scalars(c[name]["tornado_margin"])) for name in READINGS]
    if "decision" in data:
        out += decision.decision_sections(data["decision"])
    return out


def csv_text(data: MarketView, inputs: bool = False) -> str:
    """Numbers unformatted, in their JSON names: one section per table (a row with its name, a
    header, the rows, a blank row); with ``inputs``, the inputs alone."""
    j = data.to_json()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for name, rows in _sections({"inputs": j["inputs"]} if inputs else j):
        header = list(dict.fromkeys(k for r in rows for k in r))
        w.writerow([f"# {name}"])
        w.writerow(header)
        w.writerows([["" if r.get(k) is None else r[k] for k in header] for r in rows])
        w.writerow([])
    return buf.getvalue()


# --- the formats ---------------------------------------------------------------------------------
FORMATS = ("table", "md", "csv", "json")


def blocks(data: MarketView, inputs: bool = False) -> list[Block]:
    """The answer as lines and grids; with ``inputs`` (or given the market alone), the inputs
    alone (`econ --inputs`)."""
    if not inputs and isinstance(data, Econ):
        return econ_blocks(data)
    out: list[Block] = [Line(w, "warning") for w in data.warnings]
    return out + changes(data.inputs) + [inputs_grid(data)]


def render(data: MarketView, fmt: str, inputs: bool = False) -> str:
    """The answer (or with ``inputs``, the inputs alone) as Markdown, CSV or JSON."""
    if fmt == "json":
        return json.dumps(inputs_json(data) if inputs else data.to_json(), indent=1) + "\n"
    if fmt == "csv":
        return csv_text(data, inputs)
    return markdown(blocks(data, inputs))


def emit(data: MarketView, fmt: str, console: Console, inputs: bool = False) -> None:
    """The answer (an Econ, or with ``inputs`` the market alone) on stdout in a format (a table at
    the console's width); a stale snapshot is also said on stderr where only a program may read
    stdout (CSV, JSON)."""
    if fmt == "table":
        show(blocks(data, inputs), console)
        return
    if fmt in ("csv", "json"):
        for w in data.warnings:
            log.warning("warning: %s", w)
    sys.stdout.write(render(data, fmt, inputs))


def inputs_json(data: MarketView) -> dict[str, Any]:
    """`econ --inputs --json`: the market's JSON, each input with the range it may take."""
    out = data.to_json()
    out["inputs"] = {k: {**x, "allowed": allowed(k).text()} for k, x in out["inputs"].items()}
    return out
