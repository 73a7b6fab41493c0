"""Miners' public AI deals (data/deals.json) beside the model's rows: each deal's USD per
IT-MW-year (its value over its base term and IT MW, computed here, not quoted, with the derivation
said), and where the model's GPU-cloud and colocation rows fall among them. A market sees the
deals dated on or before its snapshot; a deal whose value includes services, or a company's
aggregate across terms, is shown and labelled but left out of the medians."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from benchhash.data import data_json
from benchhash.econ.uses import LeaseBasis, Use


def _rate(d: dict[str, Any]) -> tuple[float | None, float, str]:
    """(USD per IT-MW-year or None, the value, how it was derived)."""
    mw = float(d["it_mw"])
    if "usd_per_year" in d:
        value = float(d["usd_per_year"]) * float(d["years"])
        rate = value / d["years"] / mw
        return rate, value, (f"{d['usd_per_year'] / 1e6:,.0f} M$ a year x {d['years']:g} y = {value / 1e6:,.0f} M$; "
                             f"/ {d['years']:g} y / {mw:g} MW = {rate / 1e6:.3f} M$")
    value = float(d["usd"])
    if d.get("years") is None:
        lo, hi = d["years_range"]
        return None, value, (f"{value / 1e6:,.0f} M$ / {mw:g} MW over terms of {lo}-{hi} y: "
                             f"{value / hi / mw / 1e6:.3f}-{value / lo / mw / 1e6:.3f} M$ a year, no single rate")
    rate = value / d["years"] / mw
    return rate, value, f"{value / 1e6:,.0f} M$ / {d['years']:g} y / {mw:g} MW = {rate / 1e6:.3f} M$"


def label(d: dict[str, Any]) -> str:
    """'services included', 'aggregate' or '' (a plain deal)."""
    return "services included" if d.get("services_included") else "aggregate" if d.get("aggregate") else ""


@dataclass(frozen=True)
class Deal:
    """A deal of data/deals.json (``row``, echoed in the JSON as it is there) with its value in
    USD, its USD per IT-MW-year (None: no single rate), how that was derived, and its label."""

    row: dict[str, Any] = field(repr=False)
    usd: float
    usd_per_it_mw_year: float | None
    derivation: str
    label: str

    @property
    def miner(self) -> str:
        return str(self.row["miner"])

    @property
    def partner(self) -> str:
        return str(self.row["partner"])

    @property
    def structure(self) -> str:
        return str(self.row["structure"])

    @property
    def years(self) -> float | None:
        return self.row.get("years")

    @property
    def it_mw(self) -> float:
        return float(self.row["it_mw"])

    @property
    def date(self) -> str:
        return str(self.row["date"])

    @property
    def build_capex_usd_per_it_mw(self) -> dict[str, float] | None:
        """The conversion's cost per IT MW the miner gave ({'low', 'high'}), if any."""
        return self.row.get("build_capex_usd_per_it_mw")

    def to_json(self) -> dict[str, Any]:
        return {**self.row, "usd": self.usd, "usd_per_it_mw_year": self.usd_per_it_mw_year,
                "derivation": self.derivation, "label": self.label}


@dataclass(frozen=True)
class ModelRow:
    """A row of the model in the deals' unit: today's revenue per IT-MW-year (a lease's first
    year; its term average beside it)."""

    use: str
    label: str
    revenue_usd_per_it_mw_year: float | None
    term_average_usd_per_it_mw_year: float | None


@dataclass(frozen=True)
class Deals:
    """`econ --deals`: the deals dated on or before the snapshot, the median plain deal of each
    structure, the model's rows beside them, the day and how many later deals were left out."""

    deals: list[Deal]
    median_usd_per_it_mw_year: dict[str, float]
    model: list[ModelRow]
    as_of: str | None
    later_deals_left_out: int
    note: str


def deals() -> list[Deal]:
    """Every deal with its USD per IT-MW-year, its value and the derivation."""
    out = []
    for d in data_json("deals.json")["deals"]:
        rate, value, how = _rate(d)
        out.append(Deal(d, value, rate, how, label(d)))
    return out


def beside_model(rows: list[Use], day: str | None = None) -> Deals:
    """The deals dated on or before ``day`` (default: all), and the model's rows in the same unit
    (revenue per IT-MW-year; a lease as its term average, as deals quote it), with the median
    plain deal of each structure."""
    every = deals()
    ds = [d for d in every if day is None or d.date <= day]
    by: dict[str, list[float]] = {}
    for d in ds:
        if d.usd_per_it_mw_year is not None and not d.label:
            by.setdefault(d.structure, []).append(d.usd_per_it_mw_year)
    model = [ModelRow(r.use, r.label, r.revenue_now_usd_per_year / r.it_mw if r.it_mw else None,
                      r.basis.lease_usd_per_it_mw_year if isinstance(r.basis, LeaseBasis) else None)
             for r in rows if r.use in ("ai_rental", "ai_rental_contract", "colocation", "ai_tokens")]
    return Deals(ds, {k: statistics.median(v) for k, v in by.items()}, model, day, len(every) - len(ds),
                 "deal values are base terms (renewal options not counted) over their years and IT MW; the medians "
                 "leave out deals with services included and aggregates; the model's rows are revenue per IT MW a "
                 "year at today's conditions (a lease's first year; its term average beside it)")
