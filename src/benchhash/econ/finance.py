"""Money over time for `econ --decision`: a stream of monthly cash flows (one use of part of a
site), taxed, financed and discounted, and what a CFO reads from it: NPV, IRR, payback, peak
capital, the equity needed, yearly flows.

Conventions (said in the output, CONVENTIONS):
- a month's flows fall at its end; a stream is discounted at its own yearly rate, compounded
  monthly: a flow at the end of month t (t = 0, 1, ...) is worth cf / (1 + r)^((t + 1) / 12);
- each asset (a month's building spend, a GPU generation, a fleet of ASICs) is depreciated
  straight line over its class's life from the month after it is bought, until it is sold; a sale
  is taxed on its gain over the remaining book value; what is still held at the horizon is sold
  then at its residual value (nothing, unless said), its book value written off;
- tax = rate x (EBITDA - depreciation - interest + gains), a loss being a credit in the same
  month (it offsets the group's other income); the owned ASICs' resale is untaxed (their old
  tax basis is not modelled);
- debt: debt_share of each month's capital spending is borrowed that month, pays interest monthly
  and, from the month after it is drawn or after commissioning (whichever is later), is repaid in
  level monthly payments over the term; what is left at the horizon is repaid then;
- NPV is of the equity's cash flows at the stream's rate (with no debt: the project's own);
  IRR is the yearly rate at which they are worth zero, found by scipy.optimize.brentq (none
  where they do not change sign); payback is when the cumulative equity cash flow, once below
  zero, is back at zero; peak capital is the deepest the cumulative cash flow before financing
  goes, the equity needed the deepest the equity's goes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchhash.errors import InputError

CLASSES = ("asic", "gpu", "building")
CONVENTIONS = (
    "flows at the end of each month, discounted at each path's own yearly rate (per stream: a mullet's mining "
    "at the mining rate, its lease at the lease rate)",
    "straight-line depreciation per asset class from the month after purchase; a sale taxed on its gain over "
    "book value; at the horizon the converted hall and any GPUs are sold at their residual values",
    "tax = rate x (EBITDA - depreciation - interest + gains); a loss is a credit the same month (the group's "
    "other income absorbs it); the owned ASICs' resale is untaxed (their old tax basis is not modelled)",
    "debt_share of each month's capital spending borrowed, interest monthly, level repayment over the term "
    "from commissioning, the rest repaid at the horizon; NPV is the equity's, at the path's rate (a rate that "
    "does not rise with leverage: with debt, NPV flatters the riskier paths)",
    "IRR by scipy.optimize.brentq on the monthly equity cash flows, as a yearly rate; payback: when the "
    "cumulative equity cash flow, once negative, is back at zero",
)


@dataclass(frozen=True)
class Asset:
    """Capital bought at the end of ``month``, sold at the end of ``sold`` for ``proceeds``
    (default: written off at the horizon for nothing)."""

    kind: str
    month: int
    cost: float
    sold: int | None = None
    proceeds: float = 0.0


@dataclass(frozen=True)
class Finance:
    """How a stream is taxed and financed."""

    tax_rate: float = 0.0
    life_years: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CLASSES, 5.0))
    debt_share: float = 0.0
    debt_rate: float = 0.0
    debt_term_years: float = 5.0

    def __post_init__(self) -> None:
        for name, v in (("tax rate", self.tax_rate), ("debt share", self.debt_share)):
            if not 0 <= v <= 1:        # market inputs are checked against their Allowed ranges first
                raise InputError(f"{name} must be a fraction in [0, 1], got {v}")
        if not self.debt_term_years >= 1 / 12 or not self.debt_rate >= 0:
            raise InputError("a debt term must be at least a month and its rate not negative")


@dataclass
class Stream:
    """One use of part of a site, month by month (USD per month; arrays of the horizon's months)."""

    name: str
    discount_rate: float
    revenue: np.ndarray
    power: np.ndarray
    opex: np.ndarray
    assets: list[Asset] = field(default_factory=list)
    untaxed: np.ndarray | None = None      # cash that is neither revenue nor taxed (owned ASICs sold)
    prepaid: np.ndarray | None = None      # cash received ahead of revenue (+) and earned later (-)
    amortise_from: int = 0                 # debt drawn before this month is repaid from it (commissioning)
    notes: list[str] = field(default_factory=list)

    @property
    def months(self) -> int:
        return len(self.revenue)


@dataclass
class Ledger:
    """A stream's flows after tax and financing (USD per month)."""

    stream: Stream
    ebitda: np.ndarray
    capex: np.ndarray
    sales: np.ndarray
    depreciation: np.ndarray
    gains: np.ndarray
    draws: np.ndarray
    interest: np.ndarray
    principal: np.ndarray
    tax: np.ndarray
    project_cf: np.ndarray                 # before financing, after the tax it would pay unlevered
    equity_cf: np.ndarray

    @property
    def npv_usd(self) -> float:
        return npv(self.equity_cf, self.stream.discount_rate)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=float)


def _asset_flows(assets: list[Asset], n: int, life_years: dict[str, float]) -> dict[str, np.ndarray]:
    """Capex, sale proceeds, depreciation and gains per month from the assets."""
    out = {k: _zeros(n) for k in ("capex", "sales", "depreciation", "gains")}
    for a in assets:
        if not 0 <= a.month < n:
            raise InputError(f"an asset bought in month {a.month} lies outside the {n} months")
        sold = n - 1 if a.sold is None or a.sold >= n else a.sold
        life = round(life_years[a.kind] * 12)
        per_month = a.cost / life if life > 0 else 0.0
        last = min(a.month + life, sold)
        out["capex"][a.month] += a.cost
        if last > a.month:
            out["depreciation"][a.month + 1:last + 1] += per_month
        book = a.cost - per_month * max(0, last - a.month) if life > 0 else 0.0
        out["sales"][sold] += a.proceeds
        out["gains"][sold] += a.proceeds - max(book, 0.0)
    return out


def _tranche(amount: float, rate_m: float, months: int) -> np.ndarray:
    """The principal repaid each month of a level-payment loan of ``amount`` over ``months``."""
    if rate_m == 0:
        return np.full(months, amount / months)
    k = np.arange(months + 1)
    growth = (1 + rate_m) ** months
    remaining = amount * (growth - (1 + rate_m) ** k) / (growth - 1)
    return -np.diff(remaining)


def _debt(draws: np.ndarray, f: Finance, amortise_from: int) -> tuple[np.ndarray, np.ndarray]:
    """(interest, principal) per month: interest on the balance at the start of each month, each
    month's draw repaid level over the term from the later of the next month and commissioning,
    and what is left repaid at the horizon."""
    n = len(draws)
    rate_m, term = f.debt_rate / 12, max(1, round(f.debt_term_years * 12))
    principal = _zeros(n)
    for t in np.nonzero(draws)[0]:
        start = max(int(t), amortise_from - 1) + 1
        if start < n:
            pay = _tranche(float(draws[t]), rate_m, term)[: n - start]
            principal[start:start + len(pay)] += pay
    balance_after = np.cumsum(draws - principal)
    balance_before = np.concatenate(([0.0], balance_after[:-1]))
    principal[-1] += balance_after[-1]              # the rest, repaid at the horizon
    return balance_before * rate_m, principal


def ledger(s: Stream, f: Finance) -> Ledger:
    """The stream taxed and financed."""
    n = s.months
    a = _asset_flows(s.assets, n, f.life_years)
    ebitda = s.revenue - s.power - s.opex
    untaxed = s.untaxed if s.untaxed is not None else _zeros(n)
    prepaid = s.prepaid if s.prepaid is not None else _zeros(n)
    draws = f.debt_share * a["capex"]
    interest, principal = _debt(draws, f, s.amortise_from)
    base = ebitda - a["depreciation"] + a["gains"]
    cash = ebitda + prepaid - a["capex"] + a["sales"] + untaxed
    tax = f.tax_rate * (base - interest)
    return Ledger(s, ebitda, a["capex"], a["sales"], a["depreciation"], a["gains"], draws, interest, principal, tax,
                  project_cf=cash - f.tax_rate * base, equity_cf=cash + draws - interest - principal - tax)


# --- what a CFO reads ----------------------------------------------------------------------------
def discount_factors(n: int, rate: float) -> np.ndarray:
    if not rate > -1:
        raise InputError(f"a discount rate must be above -100 %, got {rate}")
    return (1 + rate) ** (-(np.arange(n) + 1) / 12)


def npv(cf: np.ndarray, rate: float) -> float:
    return float(np.dot(cf, discount_factors(len(cf), rate)))


def irr(cf: np.ndarray) -> float | None:
    """The yearly rate at which the monthly flows are worth zero (scipy's brentq on a bracket where
    their value changes sign, from -99 % up to 10,000 % a year); None where the flows never change
    sign or no such bracket exists."""
    from scipy.optimize import brentq
    if not (cf < 0).any() or not (cf > 0).any():
        return None
    grid = [-0.99, -0.9, -0.5, -0.2, 0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 5.0, 20.0, 100.0]
    values = [npv(cf, r) for r in grid]
    for i in range(len(grid) - 1):
        if values[i] == 0:
            return grid[i]
        if values[i] * values[i + 1] < 0:
            return float(brentq(lambda r: npv(cf, r), grid[i], grid[i + 1], xtol=1e-12))
    return None


def payback_years(cf: np.ndarray) -> float | None:
    """When the cumulative flow, once below zero, is back at zero (interpolated within the month);
    0 when it never goes below zero; None when it does not come back within the horizon."""
    cum = np.cumsum(cf)
    below = np.nonzero(cum < 0)[0]
    if below.size == 0:
        return 0.0
    after = np.nonzero(cum[below[0]:] >= 0)[0]
    if after.size == 0:
        return None
    t = int(below[0] + after[0])
    before = cum[t - 1]
    return (t + (-before / cf[t] if cf[t] else 1.0)) / 12


def deepest(cf: np.ndarray) -> float:
    """The most the cumulative flow is ever below zero (0 when never)."""
    return float(max(0.0, -np.min(np.cumsum(cf))))


YEARLY = ("revenue", "power", "opex", "ebitda", "capex", "sales", "depreciation", "interest", "tax", "draws",
          "principal", "project_cf", "equity_cf")


def yearly(ledgers: list[Ledger]) -> list[dict[str, Any]]:
    """The streams' flows summed per year, with the equity cash flow's present value (each stream
    at its own rate)."""
    n = ledgers[0].stream.months
    years = math.ceil(n / 12)
    out = []
    for y in range(years):
        sl = slice(12 * y, min(n, 12 * y + 12))
        row: dict[str, Any] = {"year": y + 1}
        for key in YEARLY:
            row[f"{key}_usd"] = float(sum(_field(g, key)[sl].sum() for g in ledgers))
        row["equity_pv_usd"] = float(sum((g.equity_cf * discount_factors(n, g.stream.discount_rate))[sl].sum()
                                         for g in ledgers))
        out.append(row)
    return out


def _field(g: Ledger, key: str) -> np.ndarray:
    return getattr(g.stream, key) if key in ("revenue", "power", "opex") else getattr(g, key)
