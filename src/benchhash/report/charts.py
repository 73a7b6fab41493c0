"""Which charts the HTML report draws, from its result files and the economics priced for them:
throughput and work per joule per unit, revenue and margin per facility MW by use, each power-limit
sweep, and the hourly analysis. econ/plots.py draws them; this module chooses and labels them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchhash.econ import plots
from benchhash.econ.answer import Econ
from benchhash.econ.plots import unique
from benchhash.results.fleet import FleetResult, devices_text
from benchhash.results.model import Result
from benchhash.results.model import label as phase_label
from benchhash.units import per_joule, short_unit, si, usd

Item = tuple[str, Result | FleetResult]     # (file as shown, what it holds)
Chart = tuple[str, Any]                     # (title, matplotlib figure)
#: how a sweep's work is sold, in words
PRICED_AS = {"device_mining": "mined", "ai_tokens": "tokens sold", "ai_rental": "GPU-hours rented, priced by work done"}


def file_of(shown: str) -> str:
    """The file a report row names, without the '(FAILS VERIFY: ...)' it may carry."""
    return shown.split(" (FAILS VERIFY")[0]


def points(results: list[Item]) -> list[tuple[str, float | None, str, float | None, str]]:
    """(label, rate, rate unit, work per joule, its unit) per phase of every file."""
    out = []
    for path, r in results:
        name = Path(file_of(path)).name
        if isinstance(r, FleetResult):
            out += [(f"{name}: {p.label} @ {devices_text(r, p.ranks)[:32]}", p.rate, p.rate_unit,
                     p.work_per_joule, f"{p.unit}/J") for p in r.phases]
            continue
        out += [(f"{name}: {w.label} @ {w.device[:32]}", w.stats.rate.median if w.stats.rate else None,
                 w.rate_unit, w.efficiency.work_per_joule, w.efficiency.unit) for w in r.workloads]
    return out


def per_unit(pairs: list[tuple[str, float | None, str]]) -> dict[str, list[tuple[str, float]]]:
    """(label, value) per unit: hashes, FLOPs and tokens never share an axis."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for label, v, unit in pairs:
        if v:
            groups.setdefault(short_unit(unit), []).append((label, v))
    return groups


def _per_unit_bars(results: list[Item], log: bool) -> list[Chart]:
    """Throughput and work per joule, one chart per unit (hashes per joule also in J/TH)."""
    pts = points(results)
    out = []
    for kind, groups in (("Throughput", per_unit([(a, rate, unit) for a, rate, unit, _, _ in pts])),
                         ("Work per joule", per_unit([(a, wpj, unit) for a, _, _, wpj, unit in pts]))):
        for unit, pairs in groups.items():
            values = [v for _, v in pairs]
            texts = [per_joule(v, unit) if kind == "Work per joule" else si(v, unit) for v in values]
            title = (f"{kind} in {unit}" + (" and J/TH" if unit == "H/J" else "") + " (median of trials"
                     + ("; log scale, as asked)" if log else ")"))
            out.append((title, plots.bar_panels(title, unique([a for a, _ in pairs]), [("", values, unit, texts)],
                                                log=log)))
    return out


def _by_use(econ: Econ) -> list[Chart]:
    """Revenue and margin per facility MW-year by use at today's conditions (what the claim uses):
    every use, a loss drawn as a loss."""
    uses = econ.uses
    revenue = [u.revenue_now_usd_per_year for u in uses]
    margin = [u.margin_now_usd_per_year for u in uses]
    title = (f"Revenue and margin per facility MW-year by use, at today's conditions (market {econ.market}; "
             "grey: reference figures, red: a loss)")
    colors = [plots.REFERENCE if "(reference)" in u.label else plots.MEASURED for u in uses]
    return [(title, plots.bar_panels(title, unique([u.label for u in uses]),
                                     [("revenue per year", revenue, "$", [usd(v) for v in revenue]),
                                      ("margin per year", margin, "$", [usd(v) for v in margin])], colors))]


def _sweep_panels(results: list[Item]) -> tuple[list[plots.Panel], list[plots.Panel]]:
    """(rate vs watts, work per joule vs cap) panels, one per phase of a power-limit sweep."""
    from benchhash.econ.caps import phases_of, sweeps
    rate_w, per_j = [], []
    for name, result in results:
        for (workload, phase), highest_first in sweeps(phases_of(result)).items():
            members = highest_first[::-1]
            title = f"{phase_label(workload, phase)} ({Path(file_of(name)).name})"
            unit = short_unit(members[0].unit)
            metered = [(ph.figures.average_w, ph.figures.rate, ph.cap_w or 0.0) for ph in members
                       if ph.figures.average_w and ph.figures.rate is not None]
            if metered:
                rate_w.append((title, [w for w, _, _ in metered], [r for _, r, _ in metered], "W", f"{unit}/s"))
                per_j.append((title, [c for _, _, c in metered], [r / w for w, r, _ in metered], "W", f"{unit}/J"))
    return rate_w, per_j


def _sweep_lines(results: list[Item]) -> list[Chart]:
    """For files that hold a power-limit sweep: rate vs watts and work per joule vs cap, per phase."""
    rate_w, per_j = _sweep_panels(results)
    if not rate_w:
        return []
    return [(t, plots.small_multiples(t, panels, y)) for t, panels, y in (
        ("Rate vs watts across power limits (median of trials, measured watts)", rate_w, "rate"),
        ("Work per joule vs power limit", per_j, "work per joule"))]


def _sweep_money(econ: Econ) -> list[Chart]:
    """Revenue per facility MW vs cap, per phase of a sweep that economics priced."""
    money = []
    for sweep in econ.power_caps:
        for c in sweep.curves:
            priced = [(p.cap_w, p.revenue_usd_per_year) for p in sorted(c.points, key=lambda p: p.cap_w)
                      if p.revenue_usd_per_year is not None]
            if priced:
                money.append((f"{c.workload}, {PRICED_AS.get(c.priced_as or '', 'priced')}",
                              [a for a, _ in priced], [b for _, b in priced], "W", "$"))
    if not money:
        return []
    t = f"Revenue per facility MW vs power limit (per year; market {econ.market}, today's conditions)"
    return [(t, plots.small_multiples(t, money, "revenue per year"))]


def measured(results: list[Item], log: bool = False) -> list[Chart]:
    """The charts of what was measured: rates and work per joule per unit (log=True: on log axes),
    and each power-limit sweep."""
    return _per_unit_bars(results, log) + _sweep_lines(results)


def priced(econ: Econ, prices: list[float] | None) -> list[Chart]:
    """The charts of the economics: each use per facility MW, each priced sweep, the hourly analysis
    (its market inputs are listed above it on the page)."""
    charts = _by_use(econ) + _sweep_money(econ)
    if econ.hourly is not None and prices is not None:
        label = econ.hourly.series.label
        charts += [(f"{t} ({label}; market inputs as listed above)", fig)
                   for t, fig in plots.figures(econ.hourly, prices)]
    return charts


def figures(results: list[Item], econ: Econ | None, prices: list[float] | None = None,
            log: bool = False) -> list[Chart]:
    """Every chart of the page, in its order."""
    return measured(results, log) + (priced(econ, prices) if econ else [])
