"""The claim "A MW of AI earns what M MW of mining earns", taken apart in both of its readings
and on three measures:

- readings: **GPU cloud** (the site owner owns the GPUs and rents them by the hour, as IREN does
  for Microsoft) and **colocation lease** (the owner leases the powered hall; the tenant brings
  the GPUs, as in most miners' AI deals);
- measures: **revenue** and **margin** (after power and non-power opex), both at today's
  conditions, and **return on capital** (NPV over each use's own horizon, from its projection).

For each reading: the ratio and a verdict in words, the break-evens, a tornado table (each input
alone at the ends of its range) and a seeded Monte Carlo over all ranges, with the BTC price and
the difficulty drawn jointly (a Gaussian copula with the stated correlation) and the ASIC fleet's
efficiency among the uncertain inputs. A ratio whose mining side earns nothing (pool fee 100 %,
no uptime) or loses money is not a number: it is said in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchhash.econ import model
from benchhash.econ.jsonable import dump_fields, optional
from benchhash.econ.market import Market

MINING_INPUTS = ("btc_usd", "difficulty", "fee_share", "pool_fee", "uptime_mining", "pue_mining",
                 "asic_efficiency_factor")
#: The inputs each reading's revenue ratio depends on (capex and the like do not enter it).
RATIO_INPUTS = MINING_INPUTS + ("pue_ai", "gpu_usd_per_hour", "gpu_utilisation", "host_overhead")
LEASE_INPUTS = MINING_INPUTS + ("pue_ai", "colocation_usd_per_it_mw_year", "colocation_escalator_per_year",
                                "colocation_lease_years")
MARGIN_INPUTS = ("power_usd_per_mwh", "opex_mining_usd_per_mw_year", "opex_ai_share_of_revenue",
                 "opex_colocation_share_of_revenue", "colocation_power_passthrough")
#: The margin inputs each reading's margin depends on.
READING_MARGIN_INPUTS = {"gpu_cloud": MARGIN_INPUTS[:3],
                         "colocation_lease": MARGIN_INPUTS[:2] + MARGIN_INPUTS[3:]}
READING_LABELS = {"gpu_cloud": "GPU cloud", "colocation_lease": "colocation lease"}
MEASURES = ("revenue", "margin")


@dataclass(frozen=True)
class Setup:
    ai_mw: float            # facility MW of AI
    mining_mw: float        # facility MW of ASIC mining
    j_per_th: float         # the ASIC fleet's efficiency at stock (x asic_efficiency_factor)
    gpu_w: float            # the GPU's board power (+ the host's fixed share = all-in)
    subsidy_btc: float
    rated_w: float | None = None    # the rated GPU watts host_overhead is quoted at (None: gpu_w)

    def watts_all_in(self, v: dict[str, float]) -> float:
        """The GPU's watts plus the host's share, which does not move with the GPU's draw."""
        return self.gpu_w + model.host_watts(v["host_overhead"], self.rated_w or self.gpu_w)


@dataclass(frozen=True)
class Money:
    """A side's yearly figures at today's conditions."""

    revenue: float
    power: float
    opex: float

    @property
    def margin(self) -> float:
        return self.revenue - self.power - self.opex


def mining(v: dict[str, float], s: Setup) -> Money:
    hp = model.hashprice_usd_per_ph_day(v["difficulty"], s.subsidy_btc, v["fee_share"], v["btc_usd"])
    j = s.j_per_th * v.get("asic_efficiency_factor", 1.0)
    revenue = model.mining_revenue_usd_per_year(s.mining_mw, j, v["pue_mining"], hp, v["uptime_mining"],
                                                v["pool_fee"])
    power = model.power_cost_usd_per_year(s.mining_mw, v["power_usd_per_mwh"], v["uptime_mining"]) \
        if "power_usd_per_mwh" in v else 0.0
    return Money(revenue, power, s.mining_mw * v.get("opex_mining_usd_per_mw_year", 0.0))


def gpu_cloud(v: dict[str, float], s: Setup) -> Money:
    revenue = model.rental_revenue_usd_per_year(s.ai_mw, s.watts_all_in(v), v["pue_ai"],
                                                v["gpu_usd_per_hour"], v["gpu_utilisation"])
    power = model.power_cost_usd_per_year(s.ai_mw, v["power_usd_per_mwh"]) if "power_usd_per_mwh" in v else 0.0
    return Money(revenue, power, revenue * v.get("opex_ai_share_of_revenue", 0.0))


def lease_first_year(v: dict[str, float]) -> float:
    """First-year rent per IT MW from the term average colocation_usd_per_it_mw_year (deals quote
    a value over their term; the escalator is already in it)."""
    return model.first_year_rent(v["colocation_usd_per_it_mw_year"], v.get("colocation_escalator_per_year", 0.0),
                                 int(v.get("colocation_lease_years", 1)))


def colocation_lease(v: dict[str, float], s: Setup) -> Money:
    revenue = lease_first_year(v) * s.ai_mw / v["pue_ai"]
    power = model.power_cost_usd_per_year(s.ai_mw, v["power_usd_per_mwh"]) \
        * (1 - v["colocation_power_passthrough"]) if "power_usd_per_mwh" in v else 0.0
    return Money(revenue, power, revenue * v.get("opex_colocation_share_of_revenue", 0.0))


READINGS: dict[str, Callable[[dict[str, float], Setup], Money]] = {
    "gpu_cloud": gpu_cloud, "colocation_lease": colocation_lease}


def revenues(v: dict[str, float], s: Setup) -> tuple[float, float]:
    """(AI rental revenue, mining revenue) per year for values ``v``."""
    return gpu_cloud(v, s).revenue, mining(v, s).revenue


def sides(v: dict[str, float], s: Setup, reading: str, measure: str) -> tuple[float, float]:
    ai, mine = READINGS[reading](v, s), mining(v, s)
    return (ai.revenue, mine.revenue) if measure == "revenue" else (ai.margin, mine.margin)


def ratio(v: dict[str, float], s: Setup, reading: str = "gpu_cloud", measure: str = "revenue") -> float | None:
    """AI over mining; None when the mining side does not earn (it is then said in words)."""
    ai, mine = sides(v, s, reading, measure)
    return ai / mine if mine > 0 else None


@dataclass(frozen=True)
class Judgement:
    """One reading of the claim on one measure: AI's side and mining's (USD), their ratio (None
    where mining does not earn, or there is no row to judge), whether the claim holds (None: no
    row) and the verdict in words. On return on capital, the AI row's lifetime revenue per capex
    and horizon too (``horizon_years`` None elsewhere)."""

    ai_usd: float | None
    mining_usd: float | None
    ratio: float | None
    holds: bool | None
    verdict: str
    in_words: str
    ai_revenue_per_capex: float | None = None
    horizon_years: int | None = None

    @property
    def no_row(self) -> bool:
        return self.ai_usd is None

    def on_capital(self, revenue_per_capex: float | None, horizon_years: int) -> Judgement:
        """This judgement of NPVs, with the AI row's lifetime revenue per capex and horizon."""
        return replace(self, ai_revenue_per_capex=revenue_per_capex, horizon_years=horizon_years)

    def to_json(self) -> dict[str, Any]:
        if self.no_row:
            return {"verdict": self.verdict, "in_words": self.in_words, "holds": self.holds, "ratio": self.ratio}
        out: dict[str, Any] = {"ai_usd": self.ai_usd, "mining_usd": self.mining_usd, "ratio": self.ratio,
                               "holds": self.holds, "verdict": self.verdict, "in_words": self.in_words}
        if self.horizon_years is not None:
            out.update(ai_revenue_per_capex=self.ai_revenue_per_capex, horizon_years=self.horizon_years)
        return out


def no_row() -> Judgement:
    """The judgement of a reading that has no AI row to judge (e.g. no GPU price)."""
    return Judgement(None, None, None, None, "no row to judge", "no row to judge")


def judge(ai: float, mine: float) -> Judgement:
    """The ratio and a verdict in words for one reading on one measure."""
    holds = ai >= mine
    r: float | None = ai / mine if mine > 0 else None
    return Judgement(ai, mine, r, holds, "holds" if holds else "does not hold", _in_words(ai, mine, r))


def _in_words(ai: float, mine: float, r: float | None) -> str:
    """The verdict as a person says it: a ratio where mining earns, else who loses what."""
    if r is not None:
        return f"{'holds' if ai >= mine else 'does not hold'}, ratio {r:.2f}"
    if mine == 0:
        return "holds: mining earns nothing" if ai >= 0 else "does not hold: AI loses money, mining earns nothing"
    if ai >= 0:
        return "holds: mining loses money, AI earns"
    return ("holds only in that AI loses less: both lose money, mining more" if ai >= mine
            else "does not hold: both lose money, AI more")


@dataclass(frozen=True)
class TornadoRow:
    """One input alone at the ends of its range: the revenue ratio AI / mining there (None where
    mining does not earn) and its swing."""

    input: str
    low: float
    high: float
    value: float
    ratio_at_low: float | None
    ratio_at_high: float | None
    swing: float | None


@dataclass(frozen=True)
class MarginTornadoRow:
    """One input alone at the ends of its range: AI's margin less mining's there (USD a year),
    its swing, and whether the verdict flips within the range."""

    input: str
    low: float
    high: float
    value: float
    difference_at_low_usd: float
    difference_at_high_usd: float
    swing_usd: float
    verdict_flips: bool


def _ends(m: Market, keys: tuple[str, ...], f: Callable[[dict[str, float]], Any]) -> list[tuple[str, Any, Any]]:
    """Each input alone at its low and its high end: (input, f there at low, at high)."""
    base = m.values()
    return [(key, f({**base, key: m.inputs[key].low}), f({**base, key: m.inputs[key].high})) for key in keys]


def _keys(reading: str, measure: str) -> tuple[str, ...]:
    return (RATIO_INPUTS if reading == "gpu_cloud" else LEASE_INPUTS) + \
        (READING_MARGIN_INPUTS[reading] if measure == "margin" else ())


def tornado(m: Market, s: Setup, reading: str = "gpu_cloud", measure: str = "revenue") -> list[TornadoRow]:
    """Each input alone at its low and high end; sorted by the swing of the ratio (rows whose
    ratio is not a number at one end come last)."""
    rows = []
    for key, lo, hi in _ends(m, _keys(reading, measure), lambda v: ratio(v, s, reading, measure)):
        x = m.inputs[key]
        rows.append(TornadoRow(key, x.low, x.high, x.value, lo, hi,
                               abs(hi - lo) if lo is not None and hi is not None else None))
    return sorted(rows, key=lambda r: (r.swing is None, -(r.swing or 0.0)))


def margin_gap(v: dict[str, float], s: Setup, reading: str) -> float:
    """AI's margin less mining's, USD a year: the claim holds on margin where it is not negative."""
    ai, mine = sides(v, s, reading, "margin")
    return ai - mine


def tornado_margin(m: Market, s: Setup, reading: str = "gpu_cloud") -> list[MarginTornadoRow]:
    """The tornado on margin, as the difference AI margin - mining margin (USD a year), not a
    ratio: where mining's margin nears zero a ratio swings without bound. A row says whether the
    verdict flips within the input's range."""
    rows = []
    for key, lo, hi in _ends(m, _keys(reading, "margin"), lambda v: margin_gap(v, s, reading)):
        x = m.inputs[key]
        rows.append(MarginTornadoRow(key, x.low, x.high, x.value, lo, hi, abs(hi - lo), (lo >= 0) != (hi >= 0)))
    return sorted(rows, key=lambda r: -r.swing_usd)


def _triangular(u: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    """Inverse CDF of the triangular distribution (low, mode, high) at probabilities u."""
    if high == low:
        return np.full_like(u, low)
    c = (mode - low) / (high - low)
    left = low + np.sqrt(u * (high - low) * (mode - low))
    right = high - np.sqrt((1 - u) * (high - low) * (high - mode))
    return np.where(u < c, left, right)


def draws_of(m: Market, keys: tuple[str, ...], draws: int, seed: int) -> dict[str, np.ndarray]:
    """Each input from its triangular(low, value, high); BTC price and difficulty jointly, their
    normal scores correlated by btc_difficulty_correlation (a Gaussian copula)."""
    from scipy.special import ndtr
    rng = np.random.default_rng(seed)
    rho = m["btc_difficulty_correlation"] if "btc_difficulty_correlation" in m.inputs else 0.0
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=draws)
    joint = {"btc_usd": ndtr(z[:, 0]), "difficulty": ndtr(z[:, 1])}
    out = {}
    for key in keys:
        x = m.inputs[key]
        u = joint[key] if key in joint else rng.random(draws)
        out[key] = _triangular(u, x.low, x.value, x.high)
    return out


def _percentiles(x: np.ndarray) -> list[float | None]:
    return [float(p) for p in np.percentile(x, [5, 50, 95])] if x.size else [None, None, None]


@dataclass(frozen=True)
class Summary:
    """Monte Carlo on one measure: the ratio AI / mining's percentiles where mining earns, how
    often the claim holds, the draws where mining does not earn, and the difference AI - mining's
    percentiles (USD a year); on margin, which statistic to read (``statistic``)."""

    p5: float | None
    p50: float | None
    p95: float | None
    share_claim_holds: float
    draws_where_mining_does_not_earn: int
    difference_p5_usd: float | None
    difference_p50_usd: float | None
    difference_p95_usd: float | None
    statistic: str | None = optional()


def _summary(ais: np.ndarray, mines: np.ndarray, statistic: str | None = None) -> Summary:
    """The ratio's percentiles where mining earns, the difference's everywhere, and how often the
    claim holds."""
    ok = mines > 0
    p5, p50, p95 = _percentiles(ais[ok] / mines[ok])
    d5, d50, d95 = _percentiles(ais - mines)
    return Summary(p5, p50, p95, float(np.mean(ais >= mines)), int((~ok).sum()), d5, d50, d95, statistic)


MARGIN_STATISTIC = ("on margin, the difference AI - mining (USD a year) and the share of draws where AI is ahead: "
                    "mining's margin sits near zero in many draws, where a ratio swings without bound (its "
                    "percentiles are kept in p5/p50/p95 but move with the seed)")


@dataclass(frozen=True)
class MonteCarlo:
    """Every input of a reading drawn (see draws_of): how, with the BTC price and difficulty's
    correlation (the copula's normal-score one, the Spearman rank correlation it gives, and the
    draws' own where there are enough), and the summaries on revenue and margin. Its top-level
    figures (p5, p50, p95, share_claim_holds) are the revenue ones."""

    draws: int
    seed: int
    distribution: str
    btc_difficulty_normal_score_correlation: float
    btc_difficulty_spearman_theoretical: float
    btc_difficulty_spearman_of_draws: float | None
    revenue: Summary
    margin: Summary

    def to_json(self) -> dict[str, Any]:
        out = dump_fields(self)
        if self.btc_difficulty_spearman_of_draws is None:
            del out["btc_difficulty_spearman_of_draws"]
        r = self.revenue
        return out | {"p5": r.p5, "p50": r.p50, "p95": r.p95, "share_claim_holds": r.share_claim_holds}


def _spearman_of_draws(samples: dict[str, np.ndarray]) -> float | None:
    """The Spearman rank correlation of the BTC price and difficulty drawn (None: too few draws)."""
    from scipy.stats import spearmanr
    if "btc_usd" in samples and "difficulty" in samples and samples["btc_usd"].size > 2:
        return float(spearmanr(samples["btc_usd"], samples["difficulty"]).statistic)
    return None


def monte_carlo(m: Market, s: Setup, draws: int = 10_000, seed: int = 0,
                reading: str = "gpu_cloud") -> MonteCarlo:
    """Every input of the reading drawn (see draws_of); the ratio's percentiles and how often the
    claim holds, on revenue and on margin."""
    keys = tuple(dict.fromkeys((RATIO_INPUTS if reading == "gpu_cloud" else LEASE_INPUTS) + MARGIN_INPUTS))
    samples = draws_of(m, keys, draws, seed)
    base = m.values()
    rho = base.get("btc_difficulty_correlation", 0.0)
    spearman = 6 / np.pi * float(np.arcsin(rho / 2))
    pairs = {measure: (np.empty(draws), np.empty(draws)) for measure in MEASURES}
    for i in range(draws):
        v = {**base, **{k: float(a[i]) for k, a in samples.items()}}
        ai, mine = READINGS[reading](v, s), mining(v, s)
        pairs["revenue"][0][i], pairs["revenue"][1][i] = ai.revenue, mine.revenue
        pairs["margin"][0][i], pairs["margin"][1][i] = ai.margin, mine.margin
    how = ("triangular(low, value, high); BTC price and difficulty jointly (Gaussian copula, normal-score "
           f"correlation {rho:g}: a Spearman rank correlation of {spearman:.2f}), the others independently")
    return MonteCarlo(draws, seed, how, rho, spearman, _spearman_of_draws(samples), _summary(*pairs["revenue"]),
                      _summary(*pairs["margin"], MARGIN_STATISTIC))


@dataclass(frozen=True)
class Breakevens:
    """The GPU-hour price, lease price (a term average) and BTC prices at which AI's revenue
    equals mining's, and the power price at which mining's margin is zero; None where there is none."""

    gpu_usd_per_hour: float | None
    colocation_usd_per_it_mw_year: float
    btc_usd: float | None
    btc_usd_colocation: float | None
    mining_zero_margin_power_usd_per_mwh: float | None


def breakevens(m: Market, s: Setup) -> Breakevens:
    """The GPU-hour price, lease price (a term average, as deals quote it) and BTC price at which
    AI's revenue equals mining's, and the power price at which mining's margin is zero (its
    revenue pays for its power and its non-power opex)."""
    v = m.values()
    ai, mine = revenues(v, s)
    up = v["uptime_mining"]
    lease = colocation_lease(v, s).revenue
    mining_side = mining(v, s)
    first_year_share = lease_first_year(v) / v["colocation_usd_per_it_mw_year"] \
        if v["colocation_usd_per_it_mw_year"] > 0 else 1.0
    return Breakevens(
        gpu_usd_per_hour=model.breakeven_usd_per_gpu_hour(
            mine, s.ai_mw, s.watts_all_in(v), v["pue_ai"], v["gpu_utilisation"])
        if v["gpu_utilisation"] > 0 else None,
        colocation_usd_per_it_mw_year=mine * v["pue_ai"] / s.ai_mw / first_year_share,
        # mining revenue is proportional to the BTC price
        btc_usd=v["btc_usd"] * ai / mine if mine > 0 else None,
        btc_usd_colocation=v["btc_usd"] * lease / mine if mine > 0 else None,
        # the power price at which mining's revenue only pays for its energy and its other opex
        mining_zero_margin_power_usd_per_mwh=(mine - mining_side.opex) / (s.mining_mw * model.HOURS_PER_YEAR * up)
        if up > 0 else None)


@dataclass(frozen=True)
class Reading:
    """One reading of the claim (GPU cloud, colocation lease) on its three measures, what
    decides it (the tornado's top input), both tornados and its Monte Carlo."""

    label: str
    revenue: Judgement
    margin: Judgement
    return_on_capital: Judgement
    decided_by: str
    tornado: list[TornadoRow]
    tornado_margin: list[MarginTornadoRow]
    monte_carlo: MonteCarlo

    def on(self, measure: str) -> Judgement:
        """The judgement on a measure by its JSON name (revenue, margin, return_on_capital)."""
        return {"revenue": self.revenue, "margin": self.margin, "return_on_capital": self.return_on_capital}[measure]


@dataclass(frozen=True)
class ClaimRows:
    """The labels of the table's rows each side of the claim is taken from (None: no such row)."""

    mining: str
    gpu_cloud: str | None
    colocation_lease: str | None


@dataclass(frozen=True)
class Claim:
    """`econ --claim`: the statement, its verdicts in words, both readings, the MW on each side,
    the rows they come from and the break-evens. Its JSON also carries the GPU-cloud reading on
    revenue under the names version 1 of it used (ai_revenue_usd_per_year, ratio, verdict, ...)."""

    statement: str
    basis: str
    verdicts: list[str]
    gpu_cloud: Reading
    colocation_lease: Reading
    ai_mw: float
    mining_mw: float
    rows: ClaimRows
    breakevens: Breakevens

    def reading(self, name: str) -> Reading:
        return self.gpu_cloud if name == "gpu_cloud" else self.colocation_lease

    def to_json(self) -> dict[str, Any]:
        gc = self.gpu_cloud
        out = dump_fields(self)
        del out["breakevens"]
        return out | {
            # the GPU-cloud reading on revenue under the names version 1 of this JSON used
            "ai_revenue_usd_per_year": gc.revenue.ai_usd, "mining_revenue_usd_per_year": gc.revenue.mining_usd,
            "ratio": gc.revenue.ratio, "verdict": gc.revenue.verdict, "decided_by": gc.decided_by,
            "breakevens": dump_fields(self.breakevens), "tornado": [dump_fields(r) for r in gc.tornado],
            "monte_carlo": gc.monte_carlo.to_json()}
