"""One projection per use of the power, month by month, from which every money figure of its row
follows: yearly revenue, power, non-power opex and margin; payback (the month the cumulative
margin first covers the capex, or "no payback within N years"); and NPV (monthly cash flows
discounted at the end of each month).

What changes with time is a use's revenue multiplier, evaluated mid-month, so that growth within
a year is felt within that year (difficulty growth is continuous, not a step at each anniversary):
- mining: difficulty growth shrinks a fixed fleet's share of blocks, and at each halving the
  subsidy halves while fees (in BTC) stay;
- GPU rental and tokens: the price declines continuously (on-demand) or at each renewal
  (contracts, yearly steps);
- a lease: its rent steps up by the escalator at each anniversary.
A use that can be switched off (mining) stops for good in the first month whose margin is
negative, and then earns and spends nothing (the site is assumed closed or sold at no value)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchhash.econ import model
from benchhash.errors import InputError

Multiplier = Callable[[float], float]     # revenue at time t (years from now) / revenue now


@dataclass(frozen=True)
class Projection:
    """What a use earns and spends at today's conditions, and how that moves."""

    years: int                      # the use's horizon: ASIC life, GPU economic life, lease term
    revenue_usd_per_year: float     # at today's conditions (t = 0)
    power_usd_per_year: float       # at full running
    capex_usd: float
    discount_rate: float
    revenue_multiplier: Multiplier = lambda t: 1.0
    opex_fixed_usd_per_year: float = 0.0       # non-power opex that does not scale with revenue
    opex_share_of_revenue: float = 0.0         # non-power opex that does (staff, networking, ...)
    can_switch_off: bool = False               # mining: off for good once its margin turns negative


@dataclass
class Year:
    year: int
    revenue_usd: float
    power_usd: float
    opex_usd: float
    margin_usd: float
    running_months: int

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Outcome:
    years: list[Year] = field(default_factory=list)
    npv_usd: float = 0.0
    payback_years: float | None = None
    switched_off_year: float | None = None     # when a switchable use stopped (years from now)

    @property
    def first_year(self) -> Year:
        return self.years[0]

    def payback_text(self, horizon: int) -> str:
        return f"{self.payback_years:.1f} y" if self.payback_years is not None else f"none within {horizon} y"


def _check(p: Projection) -> None:
    if not isinstance(p.years, int) or p.years < 1:
        raise InputError(f"a use's horizon must be a whole number of years of at least 1, got {p.years}")
    for name, v in (("revenue", p.revenue_usd_per_year), ("power cost", p.power_usd_per_year),
                    ("capex", p.capex_usd), ("discount rate", p.discount_rate),
                    ("fixed opex", p.opex_fixed_usd_per_year), ("opex share", p.opex_share_of_revenue)):
        if not (math.isfinite(v) and v >= 0):
            raise InputError(f"{name} must be finite and not negative, got {v}")


def project(p: Projection) -> Outcome:
    """The use's cash flows, month by month, summed per year; NPV and payback from them."""
    _check(p)
    out = Outcome()
    cumulative, running = 0.0, True
    for y in range(p.years):
        year = Year(y + 1, 0.0, 0.0, 0.0, 0.0, 0)
        for m in range(12):
            t_mid, t_end = y + (m + 0.5) / 12, y + (m + 1) / 12
            revenue = p.revenue_usd_per_year * p.revenue_multiplier(t_mid) / 12
            power = p.power_usd_per_year / 12
            opex = p.opex_fixed_usd_per_year / 12 + p.opex_share_of_revenue * revenue
            margin = revenue - power - opex
            if running and p.can_switch_off and margin < 0:
                running, out.switched_off_year = False, y + m / 12
            if not running:
                continue
            year.revenue_usd += revenue
            year.power_usd += power
            year.opex_usd += opex
            year.margin_usd += margin
            year.running_months += 1
            out.npv_usd += margin / (1 + p.discount_rate) ** t_end
            before, cumulative = cumulative, cumulative + margin
            if out.payback_years is None and cumulative >= p.capex_usd and margin > 0:
                out.payback_years = y + m / 12 + (p.capex_usd - before) / margin / 12
        out.years.append(year)
    out.npv_usd -= p.capex_usd
    if p.capex_usd == 0 and out.payback_years is None and out.years[0].margin_usd > 0:
        out.payback_years = 0.0
    return out


# --- revenue multipliers -----------------------------------------------------------------------
def mining_multiplier(difficulty_growth: float, years_to_halving: float | None, fee_share: float) -> Multiplier:
    """A fixed fleet's revenue at time t relative to now: its share of blocks falls as difficulty
    grows ((1 + g)^-t, continuously), and from each halving on the subsidy halves while the fees
    (fee_share of today's reward, in BTC) stay."""
    if not difficulty_growth > -1:
        raise InputError(f"difficulty growth must be above -100 % a year, got {difficulty_growth}")
    return lambda t: ((1 - fee_share) * model.subsidy_factor(t, years_to_halving) + fee_share) \
        / (1 + difficulty_growth) ** t


def declining(decline: float, yearly_steps: bool = False) -> Multiplier:
    """A price that falls by ``decline`` a year: continuously, or at each anniversary (contracts
    renewed yearly)."""
    if not 0 <= decline < 1:
        raise InputError(f"a yearly decline must be in [0, 1), got {decline}")
    return (lambda t: (1 - decline) ** math.floor(t)) if yearly_steps else (lambda t: (1 - decline) ** t)


def escalating(escalator: float) -> Multiplier:
    """A rent that steps up by ``escalator`` at each anniversary."""
    if not 0 <= escalator < 1:
        raise InputError(f"a yearly escalator must be in [0, 1), got {escalator}")
    return lambda t: (1 + escalator) ** math.floor(t)
