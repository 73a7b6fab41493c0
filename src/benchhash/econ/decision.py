"""`benchhash econ --decision`: what an existing Bitcoin mining site should do with its power, as
a CFO would price it. Each path (paths.py) is a set of monthly streams, taxed, financed and
discounted at its own rate (finance.py); for each: NPV, IRR, payback, peak capital and the equity
it needs, the first operating year's EBITDA and margin, and its yearly cash flows. Then the best
path in words, the break-evens at which the ranking flips (BTC price, GPU-hour price, lease price,
build months), the utilisation an on-demand GPU cloud needs, the NPV at each end of the GPU-hour
price's spread, and a tornado on NPV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchhash.econ import finance, hourly, paths, uses
from benchhash.econ.finance import Ledger
from benchhash.econ.market import Asic, Market
from benchhash.econ.prices import PriceSeries

#: Inputs whose break-even flips the ranking: key, what it is called, how it is shown.
FLIPS = (("btc_usd", "BTC price", "{:,.0f} $"), ("gpu_usd_per_hour", "on-demand GPU-hour price", "{:.2f} $/GPU-h"),
         ("gpu_usd_per_hour_1y", "1-year contract GPU-hour price", "{:.2f} $/GPU-h"),
         ("colocation_usd_per_it_mw_year", "lease (term average)", "{:.3g} M$/IT-MW-y"),
         ("conversion_build_months", "build", "{:.0f} months"))
#: Inputs the tornado on NPV moves, each to the ends of its range.
TORNADO = ("btc_usd", "difficulty", "difficulty_growth_per_year", "power_usd_per_mwh", "gpu_usd_per_hour",
           "gpu_usd_per_hour_1y", "gpu_utilisation", "gpu_utilisation_contract", "gpu_price_decline_per_year",
           "gpu_server_usd_per_gpu", "colocation_usd_per_it_mw_year", "colocation_escalator_per_year",
           "capex_ai_usd_per_it_mw", "conversion_build_months", "ai_ramp_months", "pue_ai",
           "opex_ai_share_of_revenue", "asic_usd_per_th", "asic_resale_usd_per_th", "asic_refresh_years",
           "discount_rate_mining", "discount_rate_gpu_on_demand", "discount_rate_gpu_contract",
           "discount_rate_lease", "debt_share", "debt_rate", "tax_rate", "residual_building_share",
           "residual_gpu_share")


@dataclass(frozen=True)
class Setting:
    """What a decision is priced with besides the market: the ASIC, the GPU, the price series."""

    spec: Asic
    meas: uses.Measured | None = None          # a measured GPU (None: the reference system)
    server_usd: float | None = None            # its server price per GPU (None: the market's)
    series: PriceSeries | None = None          # hourly prices: mining runs in the hours that pay
    contract: str = "index"
    curtail: np.ndarray | None = None


@dataclass
class PathResult:
    name: str
    ledgers: list[Ledger]
    commissioning: int                          # the month its new use starts (keep mining: 0)

    @property
    def npv_usd(self) -> float:
        return sum(g.npv_usd for g in self.ledgers)

    def flow(self, key: str) -> np.ndarray:
        return np.sum([getattr(g, key) for g in self.ledgers], axis=0)

    def first_year(self) -> tuple[float, float]:
        """EBITDA and revenue of the first operating year (12 months from commissioning)."""
        sl = slice(self.commissioning, self.commissioning + 12)
        return float(self.flow("ebitda")[sl].sum()), float(sum(g.stream.revenue[sl].sum() for g in self.ledgers))

    def to_json(self) -> dict[str, Any]:
        equity = self.flow("equity_cf")
        ebitda, revenue = self.first_year()
        return {"name": self.name, "label": paths.LABELS[self.name], "npv_usd": self.npv_usd,
                "irr": finance.irr(equity), "payback_years": finance.payback_years(equity),
                "peak_capital_usd": finance.deepest(self.flow("project_cf")),
                "equity_needed_usd": finance.deepest(equity),
                "first_year_ebitda_usd": ebitda, "first_year_revenue_usd": revenue,
                "first_year_ebitda_margin": ebitda / revenue if revenue > 0 else None,
                "commissioning_month": self.commissioning + 1,
                "streams": [{"name": g.stream.name, "discount_rate": g.stream.discount_rate, "npv_usd": g.npv_usd}
                            for g in self.ledgers],
                "notes": [n for g in self.ledgers for n in g.stream.notes],
                "cash_flows": finance.yearly(self.ledgers)}


# --- one evaluation ------------------------------------------------------------------------------
def _rows(m: Market, st: Setting) -> paths.Uses:
    """Today's rows per facility MW (the econ table's), at this market."""
    meas = st.meas
    server = st.server_usd if st.server_usd is not None else m["gpu_server_usd_per_gpu"]
    one_year = None if m.inputs["gpu_usd_per_hour_1y"].missing else m["gpu_usd_per_hour_1y"]
    p = uses.Price(meas.device if meas else uses.reference_gpu().device, m["gpu_usd_per_hour"], one_year, server,
                   m.inputs["gpu_usd_per_hour"].source)
    mining = uses.asic_mining(m, st.spec)
    firm = m.with_value("power_usd_per_mwh", firm_power_usd_per_mwh(m, st))
    contract = uses.ai_rental_contract(firm, meas, p) if one_year is not None else None
    return paths.Uses(mining, uses.ai_rental(firm, meas, p), contract, uses.colocation(firm), _hourly(m, st))


def firm_power_usd_per_mwh(m: Market, st: Setting) -> float:
    """What a firm load (the AI halls) pays per MWh: power_usd_per_mwh, or over an hourly series
    the series' mean plus the adder (index) or the PPA's price for the whole interconnect."""
    if st.series is None:
        return m["power_usd_per_mwh"]
    if st.contract == "ppa":
        return m["power_usd_per_mwh"]
    return float(st.series.usd_per_mwh.mean()) + m["power_adder_usd_per_mwh"]


def _hourly(m: Market, st: Setting) -> paths.HourlyMining | None:
    if st.series is None:
        return None
    from benchhash.econ.site import _mining
    mine, _ = _mining(m, st.spec)
    contract = hourly.Contract(st.contract, m["power_adder_usd_per_mwh"], m["power_usd_per_mwh"])
    return paths.HourlyMining.of(st.series, mine, contract, st.curtail)


def context(m: Market, st: Setting) -> paths.Context:
    ctx = paths.Context(m, _rows(m, st), st.spec)
    paths.check(ctx)
    return ctx


def evaluate(m: Market, st: Setting) -> dict[str, PathResult]:
    """Every path at this market."""
    ctx = context(m, st)
    f = ctx.finance()
    out = {}
    for name in paths.PATHS:
        if name == "gpu_cloud_contract" and ctx.rows.contract is None:
            continue
        start = 0 if name == "keep_mining" else ctx.build
        out[name] = PathResult(name, [finance.ledger(s, f) for s in paths.streams(ctx, name)], start)
    return out


def npvs(m: Market, st: Setting) -> dict[str, float]:
    return {k: r.npv_usd for k, r in evaluate(m, st).items()}


def best(values: dict[str, float]) -> str:
    return max(values, key=lambda k: values[k])


# --- where the ranking flips ---------------------------------------------------------------------
FACTORS = (1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
BUILD_MONTHS = (0, 3, 6, 9, 12, 15, 18, 24, 30, 36, 48, 60)


def _grid(key: str, value: float, up: bool) -> list[float]:
    if key == "conversion_build_months":
        return [float(b) for b in BUILD_MONTHS if (b > value if up else b < value)][:: 1 if up else -1]
    return [value * f if up else value / f for f in FACTORS]


def _solve(f: Callable[[float], float], lo: float, hi: float, whole: bool) -> float:
    """Where f changes sign between lo and hi: brentq, or bisection on whole months."""
    from scipy.optimize import brentq
    if not whole:
        return float(brentq(f, lo, hi, xtol=1e-9 * max(1.0, abs(lo)), rtol=1e-10))
    a, b = (lo, hi) if lo < hi else (hi, lo)
    fa = f(a)
    while b - a > 1:
        mid = float(round((a + b) / 2))
        if (f(mid) > 0) == (fa > 0):
            a = mid
        else:
            b = mid
    return b if lo < hi else a


def flip(m: Market, st: Setting, key: str, up: bool) -> dict[str, Any] | None:
    """The nearest value of ``key`` above (or below) its own at which another path leads."""
    base = npvs(m, st)
    lead, prev = best(base), m[key]
    for x in _grid(key, prev, up):
        if x < 0 or (key == "conversion_build_months" and x >= 12 * m["horizon_years"]):
            break
        at = npvs(m.with_value(key, x), st)
        if best(at) != lead:
            other = best(at)

            def gap(v: float, a: str = lead, b: str = other) -> float:
                n = npvs(m.with_value(key, v), st)
                return n[a] - n[b]
            return {"at": _solve(gap, prev, x, key == "conversion_build_months"), "leader": other}
        prev = x
    return None


def breakevens(m: Market, st: Setting) -> list[dict[str, Any]]:
    out = []
    for key, what, fmt in FLIPS:
        out.append({"input": key, "what": what, "value": m[key], "format": fmt,
                    "below": flip(m, st, key, up=False), "above": flip(m, st, key, up=True)})
    return out


# --- risk: utilisation, the price spread, the tornado ---------------------------------------------
def utilisation_risk(m: Market, st: Setting) -> dict[str, Any]:
    """The share of hours an on-demand GPU cloud must sell to be worth nothing more than nothing
    (NPV 0) and to match the best other path, and its NPV at the low end of the range."""
    from scipy.optimize import brentq
    key, path = "gpu_utilisation", "gpu_cloud_on_demand"

    def value(u: float, against: str | None = None) -> float:
        n = npvs(m.with_value(key, u), st)
        return n[path] - (n[against] if against else 0.0)
    others = {k: v for k, v in npvs(m, st).items() if k != path}
    rival = best(others)
    out: dict[str, Any] = {"path": path, "utilisation": m[key], "low": m.inputs[key].low,
                           "npv_at_low_usd": value(m.inputs[key].low), "rival": rival}
    for name, against in (("breakeven_utilisation", None), ("utilisation_to_match_rival", rival)):
        lo, hi = value(0.01, against), value(1.0, against)
        out[name] = float(brentq(lambda u, a=against: value(u, a), 0.01, 1.0)) if lo < 0 < hi else None
    return out


SPREAD_PATHS = {"on_demand": ("gpu_usd_per_hour", "gpu_cloud_on_demand"),
                "contract_1y": ("gpu_usd_per_hour_1y", "gpu_cloud_contract")}


def price_spread(m: Market, st: Setting) -> list[dict[str, Any]]:
    """The GPU cloud's NPV (on demand, or on contracts) at each end of each band of the GPU-hour
    price's spread."""
    out = []
    for band in uses.price_spread(m):
        key, path = SPREAD_PATHS[band["term"]]
        ends = sorted({float(band["low"]), float(band["high"])})
        at = [npvs(m.with_value(key, p), st).get(path) for p in ends]
        out.append({**band, "path": path, "prices": ends, "npv_usd": at})
    return out


def tornado(m: Market, st: Setting, lead: str) -> list[dict[str, Any]]:
    """Each input alone at the ends of its range: the leading path's NPV there and which path
    leads there; sorted by the swing of the leader's NPV."""
    rows = []
    for key in TORNADO:
        x = m.inputs.get(key)
        if x is None or x.missing or x.low == x.high:
            continue
        lo, hi = (npvs(m.with_value(key, v), st) for v in (x.low, x.high))
        rows.append({"input": key, "low": x.low, "high": x.high, "value": x.value, "npv_at_low_usd": lo[lead],
                     "npv_at_high_usd": hi[lead], "swing_usd": abs(hi[lead] - lo[lead]),
                     "leader_at_low": best(lo), "leader_at_high": best(hi)})
    return sorted(rows, key=lambda r: -r["swing_usd"])


# --- the whole answer ----------------------------------------------------------------------------
def decide(m: Market, st: Setting) -> dict[str, Any]:
    """Every path, the best in words, where the ranking flips, the risks; JSON-ready."""
    results = evaluate(m, st)
    values = {k: r.npv_usd for k, r in results.items()}
    ranking = sorted(values, key=lambda k: -values[k])
    ctx = context(m, st)
    out: dict[str, Any] = {
        "site": _site(ctx, st), "conventions": list(finance.CONVENTIONS), "best": ranking[0], "ranking": ranking,
        "paths": [results[k].to_json() | {"mining_margin_lost_in_build_usd": paths.lost_in_build(ctx, mw)}
                  for k, mw in _converted(ctx).items() if k in results],
        "breakevens": breakevens(m, st), "utilisation_risk": utilisation_risk(m, st),
        "gpu_price_spread": price_spread(m, st), "tornado": tornado(m, st, ranking[0]),
        "irr_method": "scipy.optimize.brentq on the monthly equity cash flows (a yearly rate)",
    }
    out["verdict"] = verdict(out)
    return out


def _converted(ctx: paths.Context) -> dict[str, float]:
    """The facility MW each path converts (they stop mining during the build)."""
    site = ctx.site_mw
    return {"keep_mining": 0.0, "gpu_cloud_on_demand": site, "gpu_cloud_contract": site, "lease": site,
            "mullet": ctx.m["mullet_ai_share"] * site}


def _site(ctx: paths.Context, st: Setting) -> dict[str, Any]:
    m = ctx.m
    return {"facility_mw": ctx.site_mw, "asic": st.spec.name, "owned_asic_mw": ctx.owned_mw,
            "th_s": ctx.site_mw * ctx.th_per_mw, "owned_th_s": ctx.owned_mw * ctx.th_per_mw,
            "asic_resale_usd_per_th": m["asic_resale_usd_per_th"], "build_months": ctx.build,
            "horizon_years": int(m["horizon_years"]), "gpu": st.meas.device if st.meas else uses.reference_gpu().device,
            "mining_hourly": st.series.label if st.series is not None else None,
            "ai_power_usd_per_mwh": firm_power_usd_per_mwh(m, st),
            "discount_rates": {k: m[v] for k, v in paths.RATES.items()}}


def _money(v: float) -> str:
    return f"{v / 1e6:,.1f} M$"


def _value(b: dict[str, Any], x: float) -> str:
    return str(b["format"]).format(x / 1e6 if "M$" in b["format"] else x)


def verdict(d: dict[str, Any]) -> str:
    """The best path in words, what would change the ranking, and the utilisation risk."""
    by = {p["name"]: p for p in d["paths"]}
    first, second = (by[k] for k in d["ranking"][:2])
    words = [f"best: {first['label']}, NPV {_money(first['npv_usd'])}, {_money(first['npv_usd'] - second['npv_usd'])} "
             f"ahead of {second['label']} ({_money(second['npv_usd'])})"]
    flips = []
    for b in d["breakevens"]:
        for side, word in (("below", "below"), ("above", "above")):
            f = b[side]
            if f is not None:
                flips.append(f"{b['what']} {word} {_value(b, f['at'])} ({paths.LABELS[f['leader']]} leads)")
    words.append("the ranking flips at " + "; ".join(flips) if flips else
                 "no break-even within the searched ranges flips the ranking")
    u = d["utilisation_risk"]
    need = "never" if u["breakeven_utilisation"] is None else f"{100 * u['breakeven_utilisation']:.0f} %"
    words.append(f"utilisation: on-demand GPU cloud sells {100 * u['utilisation']:.0f} % of its hours; it needs "
                 f"{need} to break even (NPV 0), and at {100 * u['low']:.0f} % its NPV is "
                 f"{_money(u['npv_at_low_usd'])}")
    return "; ".join(words)

