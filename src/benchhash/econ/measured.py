"""The figures economics needs, read from a result or fleet file: SHA-256d rate and watts, the
watts of the AI workloads, and the best LLM decode rate. A fleet's figures are per device: its
summed rate and watts (per-trial sums, measured together) divided by the devices that ran the
phase, so a site's revenue per MW follows from the fleet's totals."""

from __future__ import annotations

import math
from pathlib import Path

from benchhash.econ.caps import Phase, phases_of
from benchhash.econ.uses import Decode, Measured
from benchhash.errors import InputError
from benchhash.fleet.report import devices_text
from benchhash.results import io
from benchhash.results.verify import load_verified, verdict
from benchhash.workloads import known
from benchhash.workloads.base import PhaseFigures

WHY = ": economics prices only verified results"


def _take(meas: Measured, workload: str, f: PhaseFigures, ai_watts: list[float]) -> None:
    cls = known(workload)
    figures = cls.econ_figures(f) if cls is not None else {}
    if "hashes_per_second" in figures:
        meas.sha256d_hps = figures["hashes_per_second"]
        meas.sha256d_watts = figures.get("hashing_watts")
    if "ai_watts" in figures:
        ai_watts.append(figures["ai_watts"])
    tps = figures.get("tokens_per_second")
    if tps:
        meas.decode.append(Decode.of(f"{workload} {f.phase}", figures, f.params, tps, figures.get("ai_watts")))
        if (meas.tokens_per_second or 0) < tps:
            meas.tokens_per_second = tps


def _top(phases: list[Phase]) -> list[Phase]:
    """Each phase once: of a power-limit sweep, at its highest cap (the GPU as it is sold)."""
    def cap(ph: Phase) -> float:
        return math.inf if ph.cap_w is None else ph.cap_w

    best: dict[tuple[str, str], Phase] = {}
    for ph in phases:
        key = (ph.workload, ph.phase)
        if key not in best or cap(ph) > cap(best[key]):
            best[key] = ph
    return list(best.values())


def load(path: str | Path) -> tuple[Measured, list[Phase]]:
    """What each workload of a verified result or fleet file says economics can use (asked of
    the workload; a sweep's phases at their highest cap), and every phase with its cap."""
    raw = io.read_json(path)
    if "fleet_schema_version" in raw:
        from benchhash.fleet.model import parse
        f = parse(raw, str(path))
        v = verdict(path)
        if v.problems:
            raise InputError(f"{path} fails verify ({v.problems[0]}){WHY}; `benchhash verify` says more")
        every = sorted({r for p in f.phases for r in p.ranks})
        kinds = {r.device.kind for r in f.ranks}
        names = {r.device.name for r in f.ranks}
        meas = Measured(source=str(path), device=names.pop() if len(names) == 1 else devices_text(f, every),
                        kind="cpu" if kinds == {"cpu"} else "cuda", fleet=f"fleet of {len(every)}, per device")
        phases = phases_of(f)
    else:
        result, _ = load_verified(path, WHY)
        meas = Measured(source=str(path), device=result.device.name, kind=result.device.kind)
        phases = phases_of(result)
    ai_watts: list[float] = []
    for ph in _top(phases):
        _take(meas, ph.workload, ph.figures, ai_watts)
    meas.ai_watts = max(ai_watts) if ai_watts else None
    return meas, phases


def from_result(path: str | Path) -> Measured:
    return load(path)[0]
