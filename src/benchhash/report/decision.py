"""`econ --decision` as a person reads it: the site, one row per path (NPV, IRR, payback, capital,
the first operating year), the verdict in words with the break-evens that flip the ranking, the
GPU-hour price's basis and spread, the utilisation risk, a tornado on NPV and the conventions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchhash.econ.market import USER, Input
from benchhash.econ.paths import LABELS, SHORT
from benchhash.report.table import Block, Grid, Items, Line
from benchhash.units import num

if TYPE_CHECKING:
    from benchhash.econ.decision import Decision, TornadoRow

#: The decision's inputs, shown above the figures (every input: econ --inputs).
SHOWN = ("site_facility_mw", "asics_owned_mw", "asic_resale_usd_per_th", "asic_refresh_years",
         "conversion_build_months", "ai_ramp_months", "gpu_contract_prepayment_share", "debt_share", "debt_rate",
         "debt_term_years", "tax_rate", "depreciation_years_asic", "depreciation_years_gpu",
         "depreciation_years_building", "discount_rate_mining", "discount_rate_gpu_on_demand",
         "discount_rate_gpu_contract", "discount_rate_lease", "residual_building_share", "residual_gpu_share",
         "mullet_ai_share", "gpu_usd_per_hour_1y", "gpu_utilisation_contract")


def _m(v: float | None) -> str:
    return "-" if v is None else f"{v / 1e6:,.1f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def _years(v: float | None, horizon: int, outlay: float) -> str:
    if outlay == 0:
        return "no outlay"
    return f"none in {horizon} y" if v is None else f"{v:.1f} y"


def paths_grid(d: Decision) -> Grid:
    horizon = d.site.horizon_years
    body = [[p.label + (" (best)" if p.name == d.best else ""), _m(p.npv_usd),
             " + ".join(f"{100 * s.discount_rate:g} %" for s in p.streams), _pct(p.irr),
             _years(p.payback_years, horizon, p.equity_needed_usd), _m(p.peak_capital_usd),
             _m(p.equity_needed_usd), _m(p.first_year_ebitda_usd), _pct(p.first_year_ebitda_margin)]
            for p in d.paths]
    return Grid(f"paths for the whole site over {horizon} years (M$; NPV of the equity's cash flows at each path's "
                "rate; first year: the 12 months from commissioning)",
                ["path", "NPV M$", "rate", "IRR", "payback", "peak capital M$", "equity needed M$",
                 "first-year EBITDA M$", "EBITDA margin"], body)


def site_line(d: Decision) -> Line:
    s = d.site
    mining = (f"price-responsive over {s.mining_hourly}, the AI halls paying {s.ai_power_usd_per_mwh:.2f} $/MWh "
              "every hour" if s.mining_hourly else "every hour at uptime_mining")
    resale = s.asic_resale_usd_per_th
    return Line(f"decision for an existing mining site: {s.facility_mw:g} facility MW, {s.asic} machines "
                f"owned on {s.owned_asic_mw:g} MW ({s.owned_th_s / 1e6:,.2f} EH/s; "
                f"{'sunk' if resale == 0 else f'resale {resale:g} $/TH'}), a {s.build_months}-month conversion, "
                f"GPU {s.gpu}; mining {mining}", "heading")


def _flips(d: Decision) -> list[str]:
    out = []
    for b in d.breakevens:
        sides = [f"{side} {b.shown(f.at)}: {LABELS[f.leader]} leads"
                 for side, f in (("below", b.below), ("above", b.above)) if f is not None]
        out.append(f"{b.what} (now {b.shown(b.value)}): " + ("; ".join(sides) if sides else
                                                             "no flip in the range searched"))
    return out


def spread_lines(d: Decision, inputs: dict[str, Input]) -> list[Block]:
    """The GPU-hour price's basis and its spread, with the GPU cloud's NPV at each band's ends."""
    said = [f"{what} {num(inputs[key].value)} $/h ({_origin(inputs[key])})"
            for key, what in (("gpu_usd_per_hour", "on demand"), ("gpu_usd_per_hour_1y", "1-year contracts"))]
    items = []
    for b in d.gpu_price_spread:
        ends = " to ".join(f"{p:.2f} $/h: NPV {_m(v)} M$" for p, v in zip(b.prices, b.npv_usd, strict=True))
        items.append(f"{b.band.basis} ({b.band.date}): {ends}")
    lead = "GPU-hour prices used: " + ", ".join(said) + "; the spread, with the GPU cloud's NPV at each band's ends"
    return [Items(lead, items, indent=1)] if items else [Line(lead, indent=1)]


def _origin(x: Input) -> str:
    return f"given, {x.source}" if x.origin in USER else f"dated {x.date}"


def _leads(d: Decision, r: TornadoRow) -> str:
    """Where another path leads at an end of the input's range."""
    ends = [f"at {end}: {SHORT[leader]}" for end, leader in (("low", r.leader_at_low), ("high", r.leader_at_high))
            if leader != d.best]
    return "; ".join(ends) or "-"


def tornado_blocks(d: Decision) -> list[Block]:
    moving = [r for r in d.tornado if r.swing_usd > 0 or _leads(d, r) != "-"]
    body = [[r.input, num(r.low), num(r.high), _m(r.npv_at_low_usd), _m(r.npv_at_high_usd),
             _m(r.swing_usd), _leads(d, r)] for r in moving]
    still = [r.input for r in d.tornado if r not in moving]
    title = f"tornado on NPV of {LABELS[d.best]} (M$): each input alone at the ends of its range"
    headers = ["input", "low", "high", "NPV at low", "NPV at high", "swing", "another path leads"]
    out: list[Block] = [Grid(title, headers, body)]
    return out + ([Items("no effect on it, nor on which path leads", still, indent=1)] if still else [])


def decision_blocks(d: Decision, inputs: dict[str, Input]) -> list[Block]:
    out: list[Block] = [site_line(d), paths_grid(d), Line("verdict: " + d.verdict, "heading", 1)]
    out.append(Items("break-evens at which the ranking flips", _flips(d), indent=1))
    lost = [f"{SHORT[p.name]} {_m(p.mining_margin_lost_in_build_usd)} M$" for p in d.paths
            if p.mining_margin_lost_in_build_usd]
    if lost:
        out.append(Line(f"the converted halls stop mining during the {d.site.build_months}-month build; the "
                        f"mining margin they lose (in each path's flows): {', '.join(lost)}", indent=1))
    u = d.utilisation_risk
    if u.utilisation_to_match_rival is not None:
        match = _pct(u.utilisation_to_match_rival)
        out.append(Line(f"on-demand GPU cloud would match {LABELS[u.rival]} at {match} of hours sold", indent=1))
    out += spread_lines(d, inputs)
    notes = [n for p in d.paths for n in p.notes]
    out += [Items("per path", notes, indent=1)] if notes else []
    out += tornado_blocks(d)
    out.append(Items("conventions", d.conventions, indent=1))
    return out


def decision_sections(d: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """CSV sections from the decision's JSON (its names are the CSV's): the paths, each path's
    yearly cash flows, the tornado."""
    keep = ("name", "label", "npv_usd", "irr", "payback_years", "peak_capital_usd", "equity_needed_usd",
            "first_year_ebitda_usd", "first_year_ebitda_margin")
    out = [("decision paths", [{k: p[k] for k in keep} for p in d["paths"]])]
    out += [(f"decision cash flows: {p['name']}", p["cash_flows"]) for p in d["paths"]]
    out.append(("decision tornado on NPV", d["tornado"]))
    return out
