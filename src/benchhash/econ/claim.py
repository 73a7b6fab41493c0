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
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchhash.econ import model
from benchhash.econ.market import Market

MINING_INPUTS = ("btc_usd", "difficulty", "fee_share", "pool_fee", "uptime_mining", "pue_mining",
                 "asic_efficiency_factor")
#: The inputs each reading's revenue ratio depends on (capex and the like do not enter it).
RATIO_INPUTS = MINING_INPUTS + ("pue_ai", "gpu_usd_per_hour", "gpu_utilisation", "host_overhead")
LEASE_INPUTS = MINING_INPUTS + ("pue_ai", "colocation_usd_per_it_mw_year")
MARGIN_INPUTS = ("power_usd_per_mwh", "opex_mining_usd_per_mw_year", "opex_ai_share_of_revenue",
                 "opex_colocation_share_of_revenue", "colocation_power_passthrough")
READING_LABELS = {"gpu_cloud": "GPU cloud", "colocation_lease": "colocation lease"}
MEASURES = ("revenue", "margin")


@dataclass(frozen=True)
class Setup:
    ai_mw: float            # facility MW of AI
    mining_mw: float        # facility MW of ASIC mining
    j_per_th: float         # the ASIC fleet's efficiency at stock (x asic_efficiency_factor)
    gpu_w: float            # the GPU's board power (x host_overhead = all-in)
    subsidy_btc: float


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
    revenue = model.rental_revenue_usd_per_year(s.ai_mw, s.gpu_w * v["host_overhead"], v["pue_ai"],
                                                v["gpu_usd_per_hour"], v["gpu_utilisation"])
    power = model.power_cost_usd_per_year(s.ai_mw, v["power_usd_per_mwh"]) if "power_usd_per_mwh" in v else 0.0
    return Money(revenue, power, revenue * v.get("opex_ai_share_of_revenue", 0.0))


def colocation_lease(v: dict[str, float], s: Setup) -> Money:
    revenue = v["colocation_usd_per_it_mw_year"] * s.ai_mw / v["pue_ai"]
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


NO_ROW = {"verdict": "no row to judge", "in_words": "no row to judge", "holds": None, "ratio": None}


def no_row() -> dict[str, Any]:
    """The judgement of a reading that has no AI row to judge (e.g. no GPU price)."""
    return dict(NO_ROW)


def judge(ai: float, mine: float) -> dict[str, Any]:
    """The ratio and a verdict in words for one reading on one measure."""
    holds = ai >= mine
    if mine > 0:
        r: float | None = ai / mine
        words = f"{'holds' if holds else 'does not hold'}, ratio {r:.2f}"
    else:
        r = None
        words = ("holds: mining earns nothing" if mine == 0 else "holds: mining loses money") if ai >= mine \
            else "does not hold: both lose money, AI more"
    return {"ai_usd": ai, "mining_usd": mine, "ratio": r, "holds": holds,
            "verdict": "holds" if holds else "does not hold", "in_words": words}


def tornado(m: Market, s: Setup, reading: str = "gpu_cloud", measure: str = "revenue") -> list[dict[str, Any]]:
    """Each input alone at its low and high end; sorted by the swing of the ratio (rows whose
    ratio is not a number at one end come last)."""
    base = m.values()
    keys = (RATIO_INPUTS if reading == "gpu_cloud" else LEASE_INPUTS) + (MARGIN_INPUTS if measure == "margin" else ())
    rows = []
    for key in keys:
        x = m.inputs[key]
        lo, hi = ratio({**base, key: x.low}, s, reading, measure), ratio({**base, key: x.high}, s, reading, measure)
        rows.append({"input": key, "low": x.low, "high": x.high, "value": x.value, "ratio_at_low": lo,
                     "ratio_at_high": hi, "swing": abs(hi - lo) if lo is not None and hi is not None else None})
    return sorted(rows, key=lambda r: (r["swing"] is None, -(r["swing"] or 0.0)))


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


def _summary(ais: np.ndarray, mines: np.ndarray) -> dict[str, Any]:
    ok = mines > 0
    ratios = ais[ok] / mines[ok]
    p5, p50, p95 = np.percentile(ratios, [5, 50, 95]) if ratios.size else (np.nan,) * 3
    return {"p5": None if ratios.size == 0 else float(p5), "p50": None if ratios.size == 0 else float(p50),
            "p95": None if ratios.size == 0 else float(p95), "share_claim_holds": float(np.mean(ais >= mines)),
            "draws_where_mining_does_not_earn": int((~ok).sum())}


def monte_carlo(m: Market, s: Setup, draws: int = 10_000, seed: int = 0,
                reading: str = "gpu_cloud") -> dict[str, Any]:
    """Every input of the reading drawn (see draws_of); the ratio's percentiles and how often the
    claim holds, on revenue and on margin. The top-level figures are the revenue ones."""
    keys = tuple(dict.fromkeys((RATIO_INPUTS if reading == "gpu_cloud" else LEASE_INPUTS) + MARGIN_INPUTS))
    samples = draws_of(m, keys, draws, seed)
    base = m.values()
    rho = base.get("btc_difficulty_correlation", 0.0)
    out: dict[str, Any] = {"draws": draws, "seed": seed,
                           "distribution": "triangular(low, value, high); BTC price and difficulty jointly "
                                           f"(Gaussian copula, correlation {rho:g}), the others independently"}
    pairs = {measure: (np.empty(draws), np.empty(draws)) for measure in MEASURES}
    for i in range(draws):
        v = {**base, **{k: float(a[i]) for k, a in samples.items()}}
        ai, mine = READINGS[reading](v, s), mining(v, s)
        pairs["revenue"][0][i], pairs["revenue"][1][i] = ai.revenue, mine.revenue
        pairs["margin"][0][i], pairs["margin"][1][i] = ai.margin, mine.margin
    for measure, (ais, mines) in pairs.items():
        out[measure] = _summary(ais, mines)
    out.update({k: out["revenue"][k] for k in ("p5", "p50", "p95", "share_claim_holds")})
    return out


def breakevens(m: Market, s: Setup) -> dict[str, float | None]:
    """The GPU-hour price, lease price and BTC price at which AI's revenue equals mining's, and
    the power price at which mining's revenue only pays for its energy."""
    v = m.values()
    ai, mine = revenues(v, s)
    up = v["uptime_mining"]
    lease = colocation_lease(v, s).revenue
    return {
        "gpu_usd_per_hour": model.breakeven_usd_per_gpu_hour(
            mine, s.ai_mw, s.gpu_w * v["host_overhead"], v["pue_ai"], v["gpu_utilisation"])
        if v["gpu_utilisation"] > 0 else None,
        "colocation_usd_per_it_mw_year": mine * v["pue_ai"] / s.ai_mw,
        # mining revenue is proportional to the BTC price
        "btc_usd": v["btc_usd"] * ai / mine if mine > 0 else None,
        "btc_usd_colocation": v["btc_usd"] * lease / mine if mine > 0 else None,
        # the power price at which mining's revenue only pays for its energy
        "mining_zero_margin_power_usd_per_mwh": mine / (s.mining_mw * model.HOURS_PER_YEAR * up) if up > 0 else None,
    }
