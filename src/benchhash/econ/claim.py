"""The claim "A MW of AI earns what M MW of mining earns", taken apart: the revenue ratio, a
verdict, the break-evens, a tornado table (each input at the ends of its range) and a seeded
Monte Carlo over all ranges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchhash.econ import model
from benchhash.econ.market import Market

#: The inputs the ratio depends on (others, such as capex, do not enter revenue).
RATIO_INPUTS = ("btc_usd", "difficulty", "fee_share", "pool_fee", "uptime_mining", "pue_mining",
                "pue_ai", "gpu_usd_per_hour", "gpu_utilisation", "host_overhead")


@dataclass(frozen=True)
class Setup:
    ai_mw: float            # facility MW of AI
    mining_mw: float        # facility MW of ASIC mining
    j_per_th: float         # the ASIC fleet's efficiency
    gpu_w: float            # the GPU's board power (x host_overhead = all-in)
    subsidy_btc: float


def revenues(v: dict[str, float], s: Setup) -> tuple[float, float]:
    """(AI rental revenue, mining revenue) per year for values ``v``."""
    hp = model.hashprice_usd_per_ph_day(v["difficulty"], s.subsidy_btc, v["fee_share"], v["btc_usd"])
    mining = model.mining_revenue_usd_per_year(s.mining_mw, s.j_per_th, v["pue_mining"], hp,
                                               v["uptime_mining"], v["pool_fee"])
    ai = model.rental_revenue_usd_per_year(s.ai_mw, s.gpu_w * v["host_overhead"], v["pue_ai"],
                                           v["gpu_usd_per_hour"], v["gpu_utilisation"])
    return ai, mining


def ratio(v: dict[str, float], s: Setup) -> float:
    ai, mining = revenues(v, s)
    return ai / mining


def tornado(m: Market, s: Setup) -> list[dict[str, Any]]:
    """Each input alone at its low and high end; sorted by the swing of the ratio."""
    base = m.values()
    rows = []
    for key in RATIO_INPUTS:
        x = m.inputs[key]
        lo, hi = ratio({**base, key: x.low}, s), ratio({**base, key: x.high}, s)
        rows.append({"input": key, "low": x.low, "high": x.high, "value": x.value,
                     "ratio_at_low": lo, "ratio_at_high": hi, "swing": abs(hi - lo)})
    return sorted(rows, key=lambda r: -r["swing"])


def monte_carlo(m: Market, s: Setup, draws: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Every ratio input drawn from a triangular distribution (low, value, high), independently."""
    rng = np.random.default_rng(seed)
    base = m.values()
    samples: dict[str, np.ndarray] = {}
    for key in RATIO_INPUTS:
        x = m.inputs[key]
        samples[key] = (np.full(draws, x.value) if x.low == x.high
                        else rng.triangular(x.low, x.value, x.high, draws))
    ratios = np.array([ratio({**base, **{k: float(a[i]) for k, a in samples.items()}}, s)
                       for i in range(draws)])
    p5, p50, p95 = np.percentile(ratios, [5, 50, 95])
    return {"draws": draws, "seed": seed, "distribution": "triangular(low, value, high), independent",
            "p5": float(p5), "p50": float(p50), "p95": float(p95),
            "share_claim_holds": float(np.mean(ratios >= 1.0))}


def breakevens(m: Market, s: Setup) -> dict[str, float | None]:
    v = m.values()
    ai, mining = revenues(v, s)
    up = v["uptime_mining"]
    return {
        "gpu_usd_per_hour": model.breakeven_usd_per_gpu_hour(
            mining, s.ai_mw, s.gpu_w * v["host_overhead"], v["pue_ai"], v["gpu_utilisation"]),
        # mining revenue is proportional to the BTC price
        "btc_usd": v["btc_usd"] * ai / mining,
        # the power price at which mining's revenue only pays for its energy
        "mining_zero_margin_power_usd_per_mwh": mining / (s.mining_mw * model.HOURS_PER_YEAR * up),
    }
