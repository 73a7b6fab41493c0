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
from benchhash.econ.jsonable import dump_fields, optional
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

    def summary(self, lost_in_build_usd: float | None = None) -> PathSummary:
        """The path's figures; ``lost_in_build_usd``: the mining margin its build costs (the decision's)."""
        equity = self.flow("equity_cf")
        ebitda, revenue = self.first_year()
        return PathSummary(
            self.name, paths.LABELS[self.name], self.npv_usd, finance.irr(equity), finance.payback_years(equity),
            finance.deepest(self.flow("project_cf")), finance.deepest(equity), ebitda, revenue,
            ebitda / revenue if revenue > 0 else None, self.commissioning + 1,
            [StreamValue(g.stream.name, g.stream.discount_rate, g.npv_usd) for g in self.ledgers],
            [n for g in self.ledgers for n in g.stream.notes], finance.yearly(self.ledgers), lost_in_build_usd)

    def to_json(self) -> dict[str, Any]:
        return dump_fields(self.summary())


@dataclass(frozen=True)
class StreamValue:
    """One stream of a path's cash flows (mining, GPU cloud, lease, ...) at its own discount rate."""

    name: str
    discount_rate: float
    npv_usd: float


@dataclass(frozen=True)
class PathSummary:
    """One path for the whole site: its NPV (of the equity's flows, each stream at its rate), IRR,
    payback, peak capital and equity needed, its first operating year, its streams, notes and
    yearly cash flows (``cash_flows``: finance.yearly's rows), and the mining margin its halls
    lose while they are built (in the decision)."""

    name: str
    label: str
    npv_usd: float
    irr: float | None
    payback_years: float | None
    peak_capital_usd: float
    equity_needed_usd: float
    first_year_ebitda_usd: float
    first_year_revenue_usd: float
    first_year_ebitda_margin: float | None
    commissioning_month: int
    streams: list[StreamValue]
    notes: list[str]
    cash_flows: list[dict[str, Any]]
    mining_margin_lost_in_build_usd: float | None = optional()


@dataclass(frozen=True)
class Flip:
    """Where another path takes the lead: the input's value, and the path."""

    at: float
    leader: str


@dataclass(frozen=True)
class Breakeven:
    """An input (``what``, shown with ``format``) at which the ranking flips below or above its
    value (None: no flip in the range searched)."""

    input: str
    what: str
    value: float
    format: str
    below: Flip | None
    above: Flip | None

    def shown(self, x: float) -> str:
        return self.format.format(x / 1e6 if "M$" in self.format else x)


@dataclass(frozen=True)
class UtilisationRisk:
    """The share of hours the on-demand GPU cloud sells, the share it needs to break even (NPV 0)
    and to match its best rival (None: never within (0.01, 1]), and its NPV at the range's low end."""

    path: str
    utilisation: float
    low: float
    npv_at_low_usd: float
    rival: str
    breakeven_utilisation: float | None
    utilisation_to_match_rival: float | None


@dataclass(frozen=True)
class SpreadValue:
    """A band of the GPU-hour price's spread, and the GPU cloud's NPV at each of its ends."""

    band: uses.PriceBand
    path: str
    prices: list[float]
    npv_usd: list[float | None]

    def to_json(self) -> dict[str, Any]:
        return dump_fields(self.band) | {"path": self.path, "prices": self.prices, "npv_usd": self.npv_usd}


@dataclass(frozen=True)
class TornadoRow:
    """One input alone at the ends of its range: the leading path's NPV there, and which path leads."""

    input: str
    low: float
    high: float
    value: float
    npv_at_low_usd: float
    npv_at_high_usd: float
    swing_usd: float
    leader_at_low: str
    leader_at_high: str


@dataclass(frozen=True)
class DecisionSite:
    """The existing site: its MW, ASIC, owned machines (MW, TH/s), their resale price, the build,
    the horizon, the GPU, the hourly series mining follows (None: every hour), what the AI halls pay
    per MWh and each path's discount rate."""

    facility_mw: float
    asic: str
    owned_asic_mw: float
    th_s: float
    owned_th_s: float
    asic_resale_usd_per_th: float
    build_months: int
    horizon_years: int
    gpu: str
    mining_hourly: str | None
    ai_power_usd_per_mwh: float
    discount_rates: dict[str, float]


@dataclass(frozen=True)
class Decision:
    """`econ --decision`: every path for the existing site, the best and the ranking, where the
    ranking flips, the utilisation risk, the GPU-hour price's spread, the tornado on the best
    path's NPV, the conventions and the verdict in words."""

    site: DecisionSite
    conventions: list[str]
    best: str
    ranking: list[str]
    paths: list[PathSummary]
    breakevens: list[Breakeven]
    utilisation_risk: UtilisationRisk
    gpu_price_spread: list[SpreadValue]
    tornado: list[TornadoRow]
    irr_method: str
    verdict: str


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
    mine = _mining(m, st.spec)
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


def flip(m: Market, st: Setting, key: str, up: bool) -> Flip | None:
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
            return Flip(_solve(gap, prev, x, key == "conversion_build_months"), other)
        prev = x
    return None


def breakevens(m: Market, st: Setting) -> list[Breakeven]:
    return [Breakeven(key, what, m[key], fmt, flip(m, st, key, up=False), flip(m, st, key, up=True))
            for key, what, fmt in FLIPS]


# --- risk: utilisation, the price spread, the tornado ---------------------------------------------
def utilisation_risk(m: Market, st: Setting) -> UtilisationRisk:
    """The share of hours an on-demand GPU cloud must sell to be worth nothing more than nothing
    (NPV 0) and to match the best other path, and its NPV at the low end of the range."""
    from scipy.optimize import brentq
    key, path = "gpu_utilisation", "gpu_cloud_on_demand"

    def value(u: float, against: str | None = None) -> float:
        n = npvs(m.with_value(key, u), st)
        return n[path] - (n[against] if against else 0.0)
    others = {k: v for k, v in npvs(m, st).items() if k != path}
    rival = best(others)
    shares: list[float | None] = []
    for against in (None, rival):
        lo, hi = value(0.01, against), value(1.0, against)
        shares.append(float(brentq(lambda u, a=against: value(u, a), 0.01, 1.0)) if lo < 0 < hi else None)
    return UtilisationRisk(path, m[key], m.inputs[key].low, value(m.inputs[key].low), rival, *shares)


SPREAD_PATHS = {"on_demand": ("gpu_usd_per_hour", "gpu_cloud_on_demand"),
                "contract_1y": ("gpu_usd_per_hour_1y", "gpu_cloud_contract")}


def price_spread(m: Market, st: Setting) -> list[SpreadValue]:
    """The GPU cloud's NPV (on demand, or on contracts) at each end of each band of the GPU-hour
    price's spread."""
    out = []
    for band in uses.price_spread(m):
        key, path = SPREAD_PATHS[band.term]
        ends = sorted({float(band.low), float(band.high)})
        out.append(SpreadValue(band, path, ends, [npvs(m.with_value(key, p), st).get(path) for p in ends]))
    return out


def tornado(m: Market, st: Setting, lead: str) -> list[TornadoRow]:
    """Each input alone at the ends of its range: the leading path's NPV there and which path
    leads there; sorted by the swing of the leader's NPV."""
    rows = []
    for key in TORNADO:
        x = m.inputs.get(key)
        if x is None or x.missing or x.low == x.high:
            continue
        lo, hi = (npvs(m.with_value(key, v), st) for v in (x.low, x.high))
        rows.append(TornadoRow(key, x.low, x.high, x.value, lo[lead], hi[lead], abs(hi[lead] - lo[lead]),
                               best(lo), best(hi)))
    return sorted(rows, key=lambda r: -r.swing_usd)


# --- the whole answer ----------------------------------------------------------------------------
def decide(m: Market, st: Setting) -> Decision:
    """Every path, the best in words, where the ranking flips, the risks."""
    results = evaluate(m, st)
    values = {k: r.npv_usd for k, r in results.items()}
    ranking = sorted(values, key=lambda k: -values[k])
    ctx = context(m, st)
    summaries = [results[k].summary(paths.lost_in_build(ctx, mw)) for k, mw in _converted(ctx).items() if k in results]
    flips, risk = breakevens(m, st), utilisation_risk(m, st)
    return Decision(_site(ctx, st), list(finance.CONVENTIONS), ranking[0], ranking, summaries, flips, risk,
                    price_spread(m, st), tornado(m, st, ranking[0]),
                    "scipy.optimize.brentq on the monthly equity cash flows (a yearly rate)",
                    verdict(summaries, ranking, flips, risk))


def _converted(ctx: paths.Context) -> dict[str, float]:
    """The facility MW each path converts (they stop mining during the build)."""
    site = ctx.site_mw
    return {"keep_mining": 0.0, "gpu_cloud_on_demand": site, "gpu_cloud_contract": site, "lease": site,
            "mullet": ctx.m["mullet_ai_share"] * site}


def _site(ctx: paths.Context, st: Setting) -> DecisionSite:
    m = ctx.m
    return DecisionSite(ctx.site_mw, st.spec.name, ctx.owned_mw, ctx.site_mw * ctx.th_per_mw,
                        ctx.owned_mw * ctx.th_per_mw, m["asic_resale_usd_per_th"], ctx.build,
                        int(m["horizon_years"]), st.meas.device if st.meas else uses.reference_gpu().device,
                        st.series.label if st.series is not None else None, firm_power_usd_per_mwh(m, st),
                        {k: m[v] for k, v in paths.RATES.items()})


def _money(v: float) -> str:
    return f"{v / 1e6:,.1f} M$"


def verdict(summaries: list[PathSummary], ranking: list[str], flips: list[Breakeven], u: UtilisationRisk) -> str:
    """The best path in words, what would change the ranking, and the utilisation risk."""
    by = {p.name: p for p in summaries}
    first, second = (by[k] for k in ranking[:2])
    words = [f"best: {first.label}, NPV {_money(first.npv_usd)}, {_money(first.npv_usd - second.npv_usd)} "
             f"ahead of {second.label} ({_money(second.npv_usd)})"]
    said = [f"{b.what} {word} {b.shown(f.at)} ({paths.LABELS[f.leader]} leads)"
            for b in flips for f, word in ((b.below, "below"), (b.above, "above")) if f is not None]
    words.append("the ranking flips at " + "; ".join(said) if said else
                 "no break-even within the searched ranges flips the ranking")
    need = "never" if u.breakeven_utilisation is None else f"{100 * u.breakeven_utilisation:.0f} %"
    words.append(f"utilisation: on-demand GPU cloud sells {100 * u.utilisation:.0f} % of its hours; it needs "
                 f"{need} to break even (NPV 0), and at {100 * u.low:.0f} % its NPV is "
                 f"{_money(u.npv_at_low_usd)}")
    return "; ".join(words)
