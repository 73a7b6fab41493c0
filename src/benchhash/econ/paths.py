"""The paths an existing Bitcoin mining site can take, as monthly streams (finance.Stream): keep
mining, convert to a GPU cloud (GPU-hours on demand, or on 1-year contracts), lease the converted
halls to an AI tenant, or the mullet (part of the site leased, the rest mining).

Per facility MW a year at today's conditions, every use is its row of the econ table (uses.py),
so the decision and the table share one basis; over time:
- mining: a fixed fleet's revenue moves with difficulty growth and the halvings
  (cashflow.mining_multiplier); with an hourly price series (--prices), the fleet runs only in the
  hours that pay at that month's revenue per MWh; it stops for good in the first month its margin
  is negative; the owned fleet is replaced after asic_refresh_years, then every asic_life_years,
  by new machines at asic_usd_per_th, but only when the next life's margins (discounted at the
  mining rate) pay for them; halls the owned fleet does not fill get new machines now;
- converting: the halls stop mining and their ASICs are sold (asic_resale_usd_per_th; 0: sunk);
  the conversion (capex_ai_usd_per_it_mw per IT MW) is spent evenly over conversion_build_months,
  after which the halls fill linearly over ai_ramp_months;
- GPU cloud: the site owner buys the GPUs in the build's last month and every gpu_life_years
  after, sells each generation at its end for residual_gpu_share of its price; a generation's
  price per GPU-hour declines with its age (continuously on demand, at each renewal on contracts)
  and the next starts at today's price (a treadmill: the newer GPU rents for what the newest
  rents for now); a contract customer prepays gpu_contract_prepayment_share of a generation's
  contract value when it is bought;
- lease: the first year's rent from the deals' term average, rising by the escalator each year of
  the lease (held at its last rent if the horizon outlasts the term); power passed through as the
  lease says;
- at the horizon the converted hall is sold for residual_building_share of its cost."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchhash.econ import cashflow, hourly, uses
from benchhash.econ.finance import Asset, Finance, Stream
from benchhash.econ.market import Asic, Market
from benchhash.econ.prices import PriceSeries
from benchhash.errors import InputError

PATHS = ("keep_mining", "gpu_cloud_on_demand", "gpu_cloud_contract", "lease", "mullet")
LABELS = {"keep_mining": "keep mining", "gpu_cloud_on_demand": "GPU cloud, GPU-hours on demand",
          "gpu_cloud_contract": "GPU cloud, 1-year contracts", "lease": "lease the halls",
          "mullet": "mullet: part leased, part mining"}
SHORT = {"keep_mining": "keep mining", "gpu_cloud_on_demand": "GPU cloud on demand",
         "gpu_cloud_contract": "GPU cloud contracts", "lease": "lease", "mullet": "mullet"}
RATES = {"keep_mining": "discount_rate_mining", "gpu_cloud_on_demand": "discount_rate_gpu_on_demand",
         "gpu_cloud_contract": "discount_rate_gpu_contract", "lease": "discount_rate_lease"}


@dataclass(frozen=True)
class HourlyMining:
    """Price-responsive mining over an hourly series at any revenue multiplier k: the fleet runs
    in the hours whose marginal cost is at most k x its revenue per MWh (4CP hours excluded), so
    its revenue and net power bill per facility MW-year follow from the sorted hourly costs."""

    revenue_usd_per_mwh: float
    uptime: float
    sorted_cost: np.ndarray           # marginal cost per MWh of each hour it may run, ascending
    cum_cost: np.ndarray              # uptime x the running sum of sorted_cost (0 first)
    fixed_usd: float                  # a PPA's bill less the hourly value of all its MWh (index: 0)
    per_year: float                   # 8,760 / the series' hours

    @classmethod
    def of(cls, series: PriceSeries, mine: hourly.Mining, contract: hourly.Contract,
           curtail: np.ndarray | None) -> HourlyMining:
        p = series.usd_per_mwh
        cost = hourly.marginal_cost(p, contract)
        free = cost if curtail is None else cost[~curtail]
        ordered = np.sort(free)
        fixed = contract.ppa_usd_per_mwh * len(p) - float(p.sum()) if contract.kind == "ppa" else 0.0
        return cls(mine.revenue_usd_per_mwh, mine.uptime, ordered,
                   mine.uptime * np.concatenate(([0.0], np.cumsum(ordered))), fixed, 8760 / len(p))

    def __call__(self, k: float) -> tuple[float, float]:
        """(revenue, net power bill) per facility MW-year at multiplier k."""
        on = int(np.searchsorted(self.sorted_cost, k * self.revenue_usd_per_mwh, side="right"))
        revenue = self.uptime * k * self.revenue_usd_per_mwh * on
        return revenue * self.per_year, (self.fixed_usd + float(self.cum_cost[on])) * self.per_year


@dataclass(frozen=True)
class Uses:
    """Today's rows per facility MW that the paths are built from."""

    mining: uses.Use
    on_demand: uses.Use
    contract: uses.Use | None
    lease: uses.Use
    hourly_mining: HourlyMining | None = None

    def mining_at(self, k: float) -> tuple[float, float]:
        """Mining's (revenue, power bill) per facility MW-year at revenue multiplier k."""
        if self.hourly_mining is not None:
            return self.hourly_mining(k)
        return self.mining.revenue_now_usd_per_year * k, self.mining.power_now_usd_per_year


@dataclass(frozen=True)
class Context:
    """What every path reads: the market, today's rows, the horizon and the site."""

    m: Market
    rows: Uses
    spec: Asic

    @property
    def months(self) -> int:
        return 12 * int(self.m["horizon_years"])

    @property
    def site_mw(self) -> float:
        return self.m["site_facility_mw"]

    @property
    def owned_mw(self) -> float:
        """Facility MW the owned fleet fills: a count, when given, else asics_owned_mw; at most the site."""
        count = self.m["asics_owned_count"]
        mw = count * float(self.spec.watts) * self.m["pue_mining"] / 1e6 if count > 0 else self.m["asics_owned_mw"]
        return min(mw, self.site_mw)

    @property
    def th_per_mw(self) -> float:
        return float(self.rows.mining.basis_of(uses.AsicBasis).th_s_per_facility_mw)

    @property
    def build(self) -> int:
        return round(self.m["conversion_build_months"])

    def finance(self) -> Finance:
        m = self.m
        return Finance(m["tax_rate"], {"asic": m["depreciation_years_asic"], "gpu": m["depreciation_years_gpu"],
                                       "building": m["depreciation_years_building"]},
                       m["debt_share"], m["debt_rate"], m["debt_term_years"])


def _zeros(ctx: Context) -> np.ndarray:
    return np.zeros(ctx.months, dtype=float)


# --- mining --------------------------------------------------------------------------------------
def mining_margins(ctx: Context, mw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(revenue, power, opex) per month of ``mw`` of mining running every month of the horizon."""
    m, n = ctx.m, ctx.months
    d = uses.derived(m)
    mult = cashflow.mining_multiplier(m["difficulty_growth_per_year"], d.years_to_halving, m["fee_share"])
    at = [ctx.rows.mining_at(mult((t + 0.5) / 12)) for t in range(n)]
    revenue = np.array([r for r, _ in at]) * mw / 12
    power = np.array([p for _, p in at]) * mw / 12
    return revenue, power, np.full(n, m["opex_mining_usd_per_mw_year"] * mw / 12)


def _pv_from(margin: np.ndarray, start: int, months: int, rate: float) -> float:
    """The value at ``start`` of the margins of the next ``months`` (stopping at the first loss)."""
    ahead = margin[start:start + months]
    losing = np.nonzero(ahead < 0)[0]
    ahead = ahead[: losing[0]] if losing.size else ahead
    return float(np.dot(ahead, (1 + rate) ** (-(np.arange(len(ahead)) + 1) / 12)))


def mining_stream(ctx: Context, mw: float, owned_mw: float, name: str = "mining") -> Stream:
    """``mw`` of mining, ``owned_mw`` of it with the owned fleet and the rest with new machines
    bought now; refreshed when the next life pays, stopped for good at the first loss."""
    m = ctx.m
    rate = m["discount_rate_mining"]
    revenue, power, opex = mining_margins(ctx, mw)
    margin = revenue - power - opex
    th = mw * ctx.th_per_mw
    price = m["asic_usd_per_th"]
    s = Stream(name, rate, _zeros(ctx), _zeros(ctx), _zeros(ctx))
    if mw > owned_mw:
        s.assets.append(Asset("asic", 0, (mw - owned_mw) * ctx.th_per_mw * price))
    life = max(1, round(m["asic_life_years"] * 12))
    refresh = set(range(round(m["asic_refresh_years"] * 12), ctx.months, life))
    for t in range(ctx.months):
        if t in refresh:
            value = _pv_from(margin, t, life, rate)
            if value < th * price:
                s.notes.append(f"{name}: the fleet is not replaced in month {t + 1} (its next {life} months' margins "
                               f"are worth {value / 1e6:,.2f} M$, the machines cost {th * price / 1e6:,.2f} M$): "
                               "mining stops")
                break
            s.assets.append(Asset("asic", t, th * price))
            s.notes.append(f"{name}: the fleet is replaced in month {t + 1} for {th * price / 1e6:,.2f} M$")
        if margin[t] < 0:
            s.notes.append(f"{name}: switched off in month {t + 1}, when its margin turns negative")
            break
        s.revenue[t], s.power[t], s.opex[t] = revenue[t], power[t], opex[t]
    return s


# --- converting: the hall, the ramp, the ASICs sold ----------------------------------------------
def _hall(ctx: Context, mw: float, s: Stream) -> None:
    """The conversion spent evenly over the build, the hall sold at the horizon for its residual
    share, the debt repaid from commissioning."""
    cost = ctx.m["capex_ai_usd_per_it_mw"] * mw / ctx.m["pue_ai"]
    months = max(1, ctx.build)
    res = ctx.m["residual_building_share"]
    s.assets += [Asset("building", t, cost / months, ctx.months - 1, res * cost / months) for t in range(months)]
    s.amortise_from = ctx.build


def ramp(ctx: Context) -> np.ndarray:
    """The share of the converted halls in use each month: none during the build, then rising
    linearly (mid-month) to full over ai_ramp_months."""
    t = np.arange(ctx.months)
    r = ctx.m["ai_ramp_months"]
    share = np.ones(ctx.months) if r <= 0 else np.clip((t - ctx.build + 0.5) / r, 0.0, 1.0)
    return np.where(t >= ctx.build, share, 0.0)


def _sell_asics(ctx: Context, owned_mw: float, s: Stream) -> None:
    """The owned machines of the converted halls sold now (untaxed: their basis is not modelled)."""
    if owned_mw > 0:
        s.untaxed = _zeros(ctx)
        s.untaxed[0] = owned_mw * ctx.th_per_mw * ctx.m["asic_resale_usd_per_th"]


# --- GPU cloud -----------------------------------------------------------------------------------
def _generations(ctx: Context) -> list[tuple[int, int]]:
    """(first month, months) of each GPU generation from commissioning to the horizon."""
    life = max(1, round(ctx.m["gpu_life_years"] * 12))
    return [(s, min(life, ctx.months - s)) for s in range(ctx.build, ctx.months, life)]


def _age_factor(decline: float, contract: bool, ages: np.ndarray) -> np.ndarray:
    """Price relative to a new generation's at ``ages`` months: continuous, or yearly steps."""
    years = np.floor(ages / 12) if contract else (ages + 0.5) / 12
    return (1 - decline) ** years


def gpu_stream(ctx: Context, mw: float, owned_mw: float, contract: bool) -> Stream:
    """``mw`` converted to a GPU cloud selling GPU-hours on demand or on 1-year contracts."""
    m = ctx.m
    row = ctx.rows.contract if contract else ctx.rows.on_demand
    if row is None:
        raise InputError("no 1-year contract price for the GPU: give --set gpu_usd_per_hour_1y=...")
    name = "gpu_cloud_contract" if contract else "gpu_cloud_on_demand"
    s = Stream(name, m[RATES[name]], _zeros(ctx), _zeros(ctx), _zeros(ctx))
    _hall(ctx, mw, s)
    _sell_asics(ctx, owned_mw, s)
    share = ramp(ctx)
    basis = row.basis_of(uses.RentalBasis)
    server = mw * float(basis.gpus_per_facility_mw) * float(basis.server_usd_per_gpu)
    life = max(1, round(m["gpu_life_years"] * 12))
    prepay = m["gpu_contract_prepayment_share"] if contract else 0.0
    s.prepaid = _zeros(ctx)
    for start, months in _generations(ctx):
        sl = slice(start, start + months)
        ages = np.arange(months, dtype=float)
        s.revenue[sl] = row.revenue_now_usd_per_year * mw / 12 * share[sl] * \
            _age_factor(m["gpu_price_decline_per_year"], contract, ages)
        kept = months < life                         # cut by the horizon: worth its straight-line value
        left = m["residual_gpu_share"] + (1 - m["residual_gpu_share"]) * (1 - months / life) if kept \
            else m["residual_gpu_share"]
        s.assets.append(Asset("gpu", max(start - 1, 0), server, start + months - 1, left * server))
        _prepay(s, sl, max(start - 1, 0), prepay)
    s.power[:] = row.power_now_usd_per_year * mw / 12 * share
    s.opex[:] = s.revenue * m["opex_ai_share_of_revenue"]
    s.notes.append(f"{name}: the site owner buys {mw * float(basis.gpus_per_facility_mw):,.0f} GPUs "
                   f"({server / 1e6:,.1f} M$ a generation, every {life} months)"
                   + (f"; the contract customer prepays {100 * prepay:.0f} % of each generation's contract value"
                      if prepay else ""))
    return s


def _prepay(s: Stream, sl: slice, when: int, share: float) -> None:
    """A customer's prepayment of ``share`` of a generation's revenue, received when it is bought
    and earned back pro rata (cash ahead of revenue: + then -)."""
    assert s.prepaid is not None
    total = float(s.revenue[sl].sum())
    if share <= 0 or total <= 0:
        return
    s.prepaid[when] += share * total
    s.prepaid[sl] -= share * s.revenue[sl]


# --- the lease -----------------------------------------------------------------------------------
def lease_stream(ctx: Context, mw: float, owned_mw: float, name: str = "lease") -> Stream:
    """``mw`` converted and leased to a tenant who brings the GPUs (and, as leases say, pays the power)."""
    m = ctx.m
    row = ctx.rows.lease
    s = Stream(name, m["discount_rate_lease"], _zeros(ctx), _zeros(ctx), _zeros(ctx))
    _hall(ctx, mw, s)
    _sell_asics(ctx, owned_mw, s)
    share = ramp(ctx)
    term = int(m["colocation_lease_years"])
    years = np.minimum(np.floor(np.maximum(np.arange(ctx.months) - ctx.build, 0) / 12), term - 1)
    s.revenue[:] = row.revenue_now_usd_per_year * mw / 12 * share * (1 + m["colocation_escalator_per_year"]) ** years
    s.power[:] = row.power_now_usd_per_year * mw / 12 * share
    s.opex[:] = s.revenue * m["opex_colocation_share_of_revenue"]
    if ctx.build + 12 * term < ctx.months:
        s.notes.append(f"{name}: the horizon outlasts the {term}-year lease: renewed at its last rent")
    return s


# --- the paths -----------------------------------------------------------------------------------
def streams(ctx: Context, path: str) -> list[Stream]:
    """A path's streams over the whole site."""
    site, owned = ctx.site_mw, ctx.owned_mw
    if path == "keep_mining":
        return [mining_stream(ctx, site, owned)]
    if path in ("gpu_cloud_on_demand", "gpu_cloud_contract"):
        return [gpu_stream(ctx, site, owned, contract=path == "gpu_cloud_contract")]
    if path == "lease":
        return [lease_stream(ctx, site, owned)]
    if path == "mullet":
        ai = ctx.m["mullet_ai_share"] * site
        mining_owned = min(owned, site - ai)
        return [mining_stream(ctx, site - ai, mining_owned, "mullet mining"),
                lease_stream(ctx, ai, owned - mining_owned, "mullet lease")]
    raise InputError(f"unknown path {path!r}; known: {', '.join(PATHS)}")


def lost_in_build(ctx: Context, mw: float) -> float:
    """The mining margin the converted ``mw`` would have earned during the build (it stops then)."""
    if mw <= 0 or ctx.build <= 0:
        return 0.0
    revenue, power, opex = mining_margins(ctx, mw)
    margin = (revenue - power - opex)[: ctx.build]
    stop = np.nonzero(margin < 0)[0]
    return float(margin[: stop[0]].sum() if stop.size else margin.sum())


def check(ctx: Context) -> None:
    if not math.isfinite(ctx.site_mw) or ctx.site_mw <= 0:
        raise InputError("site_facility_mw must be positive")
    if ctx.build >= ctx.months:
        raise InputError(f"a {ctx.build}-month build leaves nothing of the {ctx.months}-month horizon")

