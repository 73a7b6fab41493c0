"""A power-limit sweep (`run --power-limits`) priced: for each workload phase measured at several
caps, its rate, watts and work per joule at each cap, and what one facility MW earns with its
GPUs at that cap: a lower cap fits more GPUs in the MW (each bought: capex per GPU counts), each
doing less work. The cap that maximises revenue, margin and NPV per facility MW is named.

Each phase is priced as the use its work sells as: SHA-256d as mining on the device, LLM decode as
tokens at its model class's price, other AI work (matmul, prefill) as GPU rental, where a capped
GPU-hour is priced at the uncapped price times the work it does relative to the phase at its
highest cap (a renter pays for work, not for a label)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from benchhash.econ import uses
from benchhash.econ.market import Market
from benchhash.results.fleet import FleetResult
from benchhash.results.model import cap_of, label
from benchhash.workloads import known
from benchhash.workloads.base import PhaseFigures
from benchhash.workloads.econ_figures import EconFigures, figures_of

METRICS = ("revenue_usd_per_year", "margin_usd_per_year", "npv_usd")


@dataclass
class CapPoint:
    """One phase at one cap, and the facility MW of GPUs at that cap: revenue and margin a year
    at today's conditions (margin may be negative: a use that loses money is shown doing so),
    NPV over the use's horizon (where a switchable use stops once it loses money)."""

    cap_w: float
    rate: float | None
    watts: float | None
    work_per_joule: float | None
    devices_per_facility_mw: float | None = None
    revenue_usd_per_year: float | None = None
    margin_usd_per_year: float | None = None
    npv_usd: float | None = None
    capex_usd: float | None = None


@dataclass
class Curve:
    """A phase across the caps of a sweep."""

    workload: str
    unit: str
    priced_as: str | None
    points: list[CapPoint]
    best_cap_w: dict[str, float | None] = field(default_factory=dict)
    why_not_priced: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Phase:
    """A measured phase of a sweep, from a result or per device of a fleet."""

    workload: str
    phase: str
    unit: str
    cap_w: float | None
    figures: PhaseFigures


Pricer = Callable[[CapPoint, Phase, float], uses.Use | None]


def _figures(ph: Phase) -> EconFigures:
    cls = known(ph.workload)
    return figures_of(cls.econ_figures(ph.figures), ph.workload) if cls is not None else EconFigures()


def _mining(m: Market, meas: uses.Measured) -> Pricer:
    def price(p: CapPoint, ph: Phase, top_rate: float) -> uses.Use | None:
        if not p.rate or not p.watts:
            return None
        return uses.device_mining(m, uses.Measured(meas.source, meas.device, sha256d_hps=p.rate,
                                                   sha256d_watts=p.watts, kind=meas.kind))
    return price


def _decode(ph: Phase, rate: float, watts: float | None) -> uses.Decode:
    return uses.Decode.of(ph.phase, _figures(ph), ph.figures.params, rate, watts)


def _tokens(m: Market, meas: uses.Measured, key: str, server_usd: float) -> Pricer:
    def price(p: CapPoint, ph: Phase, top_rate: float) -> uses.Use | None:
        if not p.rate or not p.watts:
            return None
        return uses.ai_tokens(m, meas, _decode(ph, p.rate, p.watts), key, server_usd, cap_w=p.cap_w)
    return price


def _rental(m: Market, meas: uses.Measured, at_price: uses.Price) -> Pricer:
    def price(p: CapPoint, ph: Phase, top_rate: float) -> uses.Use | None:
        if not p.rate or not p.watts or not top_rate:
            return None
        at = uses.Measured(meas.source, meas.device, ai_watts=p.watts, kind=meas.kind)
        return uses.ai_rental(m, at, at_price, work_share=p.rate / top_rate)
    return price


def _pricer(m: Market, meas: uses.Measured, ph: Phase) -> tuple[str | None, Pricer | None, str | None]:
    """How a phase's work sells: (use, pricer, why not priced)."""
    fig = _figures(ph)
    if fig.hashes_per_second is not None:
        return "device_mining", _mining(m, meas), None
    p = uses.price(m, meas)
    if fig.tokens_per_second is not None:
        key = uses.token_price_key(_decode(ph, fig.tokens_per_second, fig.ai_watts))
        if key is None:
            return None, None, "the model is too small to sell tokens of (no price class)"
        server = m["cpu_server_usd"] if meas.kind == "cpu" else (
            p.server_usd if isinstance(p, uses.Price) else m["gpu_server_usd_per_gpu"])
        return "ai_tokens", _tokens(m, meas, key, server), None
    if fig.ai_watts is not None:
        if isinstance(p, str):
            return None, None, p
        return "ai_rental", _rental(m, meas, p), None
    return None, None, "not priced: no energy reading, or work no use sells"


def phases_of(result: Any) -> list[Phase]:
    """Every phase of a result file, or per device of a fleet file, with its cap."""
    if isinstance(result, FleetResult):
        out = []
        for p in result.phases:
            n = len(p.ranks)
            f = PhaseFigures(p.phase, p.rate / n if p.rate is not None else None,
                             p.average_w / n if p.average_w is not None else None, dict(p.params))
            out.append(Phase(p.workload, p.phase, p.unit, cap_of(p.params), f))
        return out
    return [Phase(w.workload, w.phase, w.unit, w.power_limit_w, PhaseFigures.of(w)) for w in result.workloads]


def is_sweep(phases: list[Phase]) -> bool:
    return any(p.cap_w is not None for p in phases)


def _best(points: list[CapPoint], metric: str) -> float | None:
    priced = [p for p in points if getattr(p, metric) is not None]
    return max(priced, key=lambda p: getattr(p, metric)).cap_w if priced else None


def sweeps(phases: list[Phase]) -> dict[tuple[str, str], list[Phase]]:
    """(workload, phase) -> that phase at each cap it was measured at, the highest cap first."""
    groups: dict[tuple[str, str], list[Phase]] = {}
    for ph in phases:
        if ph.cap_w is not None:
            groups.setdefault((ph.workload, ph.phase), []).append(ph)
    return {k: sorted(v, key=lambda ph: -(ph.cap_w or 0.0)) for k, v in groups.items()}


def curves(m: Market, meas: uses.Measured, phases: list[Phase]) -> list[Curve]:
    """Per phase measured at a cap: its points from the highest cap down, priced, and the best cap."""
    out = []
    for (workload, phase), members in sweeps(phases).items():
        use, pricer, why = _pricer(m, meas, members[0])
        top_rate = members[0].figures.rate or 0.0
        points = []
        for ph in members:
            f = ph.figures
            p = CapPoint(ph.cap_w or 0.0, f.rate, f.average_w,
                         f.rate / f.average_w if f.rate is not None and f.average_w else None)
            priced = pricer(p, ph, top_rate) if pricer is not None else None
            if priced is not None:
                p.devices_per_facility_mw = _devices(priced)
                p.revenue_usd_per_year = priced.revenue_now_usd_per_year
                p.margin_usd_per_year = priced.margin_now_usd_per_year
                p.npv_usd, p.capex_usd = priced.npv_usd, priced.capex_usd
            points.append(p)
        out.append(Curve(label(workload, phase), members[0].unit, use, points,
                         {k: _best(points, k) for k in METRICS}, why))
    return out


def _devices(u: uses.Use) -> float:
    """The devices one facility MW holds, as the use's row counted them."""
    devices = u.gpus_per_facility_mw
    if devices is None:
        raise TypeError(f"the {u.use} row counts no devices")
    return float(devices)
