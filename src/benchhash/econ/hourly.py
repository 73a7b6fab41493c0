"""Hour-by-hour dispatch of one facility MW over a real price series.

Mining is interruptible: the price-responsive fleet runs in an hour when its revenue per
facility MWh is at least what that MWh costs (the hourly price plus adders on an index
contract; the hourly price it could be sold back at under a fixed-price PPA). The flat fleet runs
every hour. AI is firm: it runs every hour at its load factor. Under a PPA the site pays the
contract price for its whole interconnect every hour and sells what it does not draw back at
the hourly price (the "power credit"); under an index contract it pays what it draws at the
hourly price plus adders. Optional constraints on the responsive fleet (minimum on/off hours, a
ramp cost per start, forced 4CP curtailment) are solved exactly by dynamic programming.

Every figure is per facility MW over the whole series and, annualised, per year."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from benchhash.econ.jsonable import dump_fields
from benchhash.econ.prices import PriceSeries
from benchhash.errors import InputError

CONTRACTS = ("index", "ppa")
MAX_MIN_HOURS = 168


@dataclass(frozen=True)
class Contract:
    """How the site buys power: 'index' (hourly price + adder per MWh drawn) or 'ppa' (a fixed
    price for every MWh of the interconnect; undrawn MWh sold back at the hourly price)."""

    kind: str = "index"
    adder_usd_per_mwh: float = 0.0
    ppa_usd_per_mwh: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in CONTRACTS:
            raise InputError(f"--contract must be index or ppa, got {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        if self.kind == "ppa":
            return {"kind": "ppa", "ppa_usd_per_mwh": self.ppa_usd_per_mwh}
        return {"kind": "index", "adder_usd_per_mwh": self.adder_usd_per_mwh}


@dataclass(frozen=True)
class Flex:
    """Constraints on the price-responsive fleet (defaults: none, the plain hourly rule)."""

    min_on_hours: int = 1
    min_off_hours: int = 1
    ramp_cost_usd_per_mw: float = 0.0            # per start (off -> on)
    curtail: np.ndarray | None = None            # bool per hour: forced off (4CP intervals)
    fourcp_usd_per_mw_year: float | None = None  # transmission charge per MW of 4CP load

    def __post_init__(self) -> None:
        for name, hours in (("--min-on-hours", self.min_on_hours), ("--min-off-hours", self.min_off_hours)):
            if not 1 <= hours <= MAX_MIN_HOURS:
                raise InputError(f"{name} must be between 1 and {MAX_MIN_HOURS} (a week), got {hours}")
        for name, usd in (("--ramp-cost", self.ramp_cost_usd_per_mw), ("--4cp-charge", self.fourcp_usd_per_mw_year)):
            if usd is not None and not 0 <= usd < math.inf:
                raise InputError(f"{name} must be a finite amount of at least 0, got {usd}")

    @property
    def plain(self) -> bool:
        return self.min_on_hours == 1 and self.min_off_hours == 1 and self.ramp_cost_usd_per_mw == 0


@dataclass
class Outcome:
    """One use over the series, per facility MW (money in USD, energy in MWh)."""

    label: str
    hours: int
    on: np.ndarray                       # bool per hour
    draw_mw: np.ndarray                  # MW drawn per hour
    revenue: np.ndarray                  # USD per hour
    power_cost: np.ndarray               # USD per hour, credits apart
    credits: np.ndarray                  # USD per hour: undrawn contract MWh sold back
    opex: np.ndarray                     # USD per hour, power excluded
    transmission_4cp_usd: float = 0.0
    starts: int = 0
    ramp_usd: float = 0.0
    breakeven_usd_per_mwh: float | None = None     # mining: the price it runs at or below
    revenue_usd_per_mwh: float | None = None       # mining: what a facility MWh of it earns
    load_factor: float | None = None               # a firm use: the share of its MW it draws
    power_paid_share: float = 1.0        # a landlord whose tenant pays the power (and its 4CP) pays 1 - that

    @property
    def margin(self) -> np.ndarray:
        return self.revenue - self.power_cost + self.credits - self.opex

    @property
    def margin_usd(self) -> float:
        return float(self.margin.sum()) - self.transmission_4cp_usd - self.ramp_usd

    def dispatch(self, series: PriceSeries) -> Dispatch:
        """Its totals over the series and a year of them, and its months."""
        total = Totals(int(self.on.sum()), float(self.draw_mw.sum()), float(self.revenue.sum()),
                       float(self.power_cost.sum()), float(self.credits.sum()), float(self.opex.sum()),
                       self.transmission_4cp_usd, self.ramp_usd, self.margin_usd)
        return Dispatch(self.label, self.hours, total, total.scaled(8760 / self.hours), self.starts,
                        self.breakeven_usd_per_mwh, self.revenue_usd_per_mwh, self.load_factor,
                        monthly(self, series))


@dataclass(frozen=True)
class Totals:
    """A use's figures over some hours, per facility MW (USD, MWh; hours on)."""

    hours_on: float
    energy_mwh: float
    revenue_usd: float
    power_cost_usd: float
    credits_usd: float
    opex_usd: float
    transmission_4cp_usd: float
    ramp_usd: float
    margin_usd: float

    def scaled(self, factor: float) -> Totals:
        return Totals(*(getattr(self, f.name) * factor for f in fields(self)))


@dataclass(frozen=True)
class Month:
    """A use's calendar month of the series (in the series' zone), per facility MW."""

    month: str
    hours: int
    hours_on: int
    margin_usd: float
    revenue_usd: float
    power_cost_usd: float
    credits_usd: float


@dataclass(frozen=True)
class Dispatch:
    """One use dispatched over the series, per facility MW: its totals over the series
    (``total``) and a year of them (``per_year``: the totals x 8760 / hours), its starts, a
    mining use's break-even price and revenue per MWh, a firm use's load factor, and its months.
    Its JSON is flat: each total under its name, and again with _per_year."""

    label: str
    hours: int
    total: Totals
    per_year: Totals
    starts: int
    breakeven_usd_per_mwh: float | None
    revenue_usd_per_mwh: float | None
    load_factor: float | None
    monthly: list[Month]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "hours": self.hours, **dump_fields(self.total)}
        out.update({f"{k}_per_year": v for k, v in dump_fields(self.per_year).items()})
        out["starts"] = self.starts
        for key in ("breakeven_usd_per_mwh", "revenue_usd_per_mwh", "load_factor"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["monthly"] = [dump_fields(m) for m in self.monthly]
        return out


def monthly(o: Outcome, series: PriceSeries) -> list[Month]:
    months = series.months
    margin = o.margin
    out = []
    for mm in dict.fromkeys(months.tolist()):
        sel = months == mm
        out.append(Month(mm, int(sel.sum()), int(o.on[sel].sum()), float(margin[sel].sum()),
                         float(o.revenue[sel].sum()), float(o.power_cost[sel].sum()), float(o.credits[sel].sum())))
    return out


def marginal_cost(p: np.ndarray, c: Contract) -> np.ndarray:
    """What drawing one more MWh costs in each hour: the price plus adders (index), or the price
    the MWh would otherwise be sold back at (PPA)."""
    return p + c.adder_usd_per_mwh if c.kind == "index" else p


def _bill(p: np.ndarray, draw: np.ndarray, c: Contract, pays_contract: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(power cost, credits) per hour for a load drawing `draw` MW of a 1 MW interconnect share."""
    if c.kind == "index":
        return draw * (p + c.adder_usd_per_mwh), np.zeros_like(p)
    if not pays_contract:
        return draw * p, np.zeros_like(p)          # the contract is paid by the load it soaks up behind
    return np.full_like(p, c.ppa_usd_per_mwh), (1 - draw) * p


def mining_revenue_usd_per_mwh(hashprice_usd_per_ph_day: float, pool_fee: float, ph_per_facility_mw: float) -> float:
    """What one facility MWh of mining earns: hashprice x (1 - pool fee) x PH/s per MW / 24."""
    return hashprice_usd_per_ph_day * (1 - pool_fee) * ph_per_facility_mw / 24


@dataclass(frozen=True)
class Mining:
    revenue_usd_per_mwh: float          # per facility MWh drawn while running
    uptime: float                       # share of an on-hour the fleet actually hashes
    opex_usd_per_mw_year: float

    def breakeven_usd_per_mwh(self, c: Contract) -> float:
        """The hourly price at and below which the responsive fleet runs."""
        return self.revenue_usd_per_mwh - (c.adder_usd_per_mwh if c.kind == "index" else 0.0)


def plan(series: PriceSeries, m: Mining, c: Contract, flex: Flex | None) -> np.ndarray:
    """The fleet's hours on: every hour when flex is None (flat); else the price-responsive plan."""
    p = series.usd_per_mwh
    value = m.uptime * (m.revenue_usd_per_mwh - marginal_cost(p, c))   # per hour on, against off
    if flex is None:
        return np.ones(len(p), dtype=bool)
    if not flex.plain:
        return dispatch(value, flex)
    on = value >= 0
    return on & ~flex.curtail if flex.curtail is not None else on


def mining(series: PriceSeries, m: Mining, c: Contract, flex: Flex | None, label: str,
           pays_contract: bool = True, on: np.ndarray | None = None) -> Outcome:
    """The fleet over the series, on the hours `on` (default: its own plan, see plan())."""
    p = series.usd_per_mwh
    on = plan(series, m, c, flex) if on is None else on
    draw = on * m.uptime
    cost, credits = _bill(p, draw, c, pays_contract)
    starts = _starts(on)
    out = Outcome(label, len(p), on, draw, draw * m.revenue_usd_per_mwh, cost, credits,
                  np.full(len(p), m.opex_usd_per_mw_year / 8760), starts=starts,
                  ramp_usd=starts * (flex.ramp_cost_usd_per_mw if flex else 0.0))
    out.breakeven_usd_per_mwh = m.breakeven_usd_per_mwh(c)
    out.revenue_usd_per_mwh = m.revenue_usd_per_mwh
    return out


def _starts(on: np.ndarray) -> int:
    """Off -> on switches (the series is taken to begin on)."""
    return int(np.count_nonzero(on[1:] & ~on[:-1]))


def dispatch(value: np.ndarray, flex: Flex) -> np.ndarray:
    """The on/off plan that maximises the sum of `value` over on-hours less the ramp cost per
    start, with minimum on and off times and forced-off hours: dynamic programming over (state,
    hours in it, capped at the minimum), exact. Before the series the fleet may be in either
    state, as long as it likes."""
    n, k = len(value), {1: flex.min_on_hours, 0: flex.min_off_hours}
    forced = flex.curtail if flex.curtail is not None else np.zeros(n, dtype=bool)
    best = {s: [-np.inf] * (k[s] - 1) + [0.0] for s in (0, 1)}
    back = np.zeros((n, 2, max(k.values())), dtype=np.int64)     # previous (state, index) encoded s*K+i
    big = max(k.values())
    for h in range(n):
        gain = {1: -np.inf if forced[h] else float(value[h]), 0: 0.0}
        new: dict[int, list[float]] = {}
        for s in (0, 1):
            cap, other = k[s] - 1, 1 - s
            switch = best[other][-1] - (flex.ramp_cost_usd_per_mw if s == 1 else 0.0)
            row = []
            for i in range(k[s]):
                cands = []
                if i == 0:
                    cands.append((switch, other * big + k[other] - 1))
                if i > 0:
                    cands.append((best[s][i - 1], s * big + i - 1))
                if i == cap:
                    cands.append((best[s][cap], s * big + cap))
                score, prev = max(cands, key=lambda c: c[0])
                row.append(score + gain[s])
                back[h, s, i] = prev
            new[s] = row
        best = new
    state = 1 if max(best[1]) >= max(best[0]) else 0
    idx = int(np.argmax(best[state]))
    on = np.zeros(n, dtype=bool)
    for h in range(n - 1, -1, -1):
        on[h] = state == 1
        code = int(back[h, state, idx])
        state, idx = divmod(code, big)
    return on


@dataclass(frozen=True)
class Firm:
    """An AI load (rental, tokens or a leased hall) that runs every hour."""

    label: str
    revenue_usd_per_mw_year: float
    load_factor: float                   # MW drawn per facility MW, on average
    opex_share_of_revenue: float
    power_paid_share: float = 1.0        # 1 - the share a tenant passes through (leases)


def firm(series: PriceSeries, f: Firm, c: Contract) -> Outcome:
    p = series.usd_per_mwh
    n = len(p)
    draw = np.full(n, f.load_factor)
    cost, credits = _bill(p, draw, c)
    revenue = np.full(n, f.revenue_usd_per_mw_year / 8760)
    out = Outcome(f.label, n, np.ones(n, dtype=bool), draw, revenue, cost * f.power_paid_share,
                  credits * f.power_paid_share, revenue * f.opex_share_of_revenue,
                  power_paid_share=f.power_paid_share)
    out.load_factor = f.load_factor
    return out


def fourcp(o: Outcome, flex: Flex) -> None:
    """Charge a use for its average draw in the 4CP intervals, at the given $/MW-year, in the share
    of the power bill it pays (a landlord whose lease passes power through pays none of it)."""
    if flex.curtail is None or not flex.curtail.any() or flex.fourcp_usd_per_mw_year is None:
        return
    o.transmission_4cp_usd = float(o.draw_mw[flex.curtail].mean()) * flex.fourcp_usd_per_mw_year * o.hours / 8760 \
        * o.power_paid_share
