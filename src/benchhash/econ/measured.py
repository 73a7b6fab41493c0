"""The figures economics needs, read from a result or fleet file: SHA-256d rate and watts, the
watts of the AI workloads, the LLM decode rates and the served ones (serve phases, with their
p99 TPOT). A fleet's figures are per device: its summed rate and watts (per-trial sums, measured
together) divided by the devices that ran the phase, so a site's revenue per MW follows from the
fleet's totals; a latency is its slowest device's, read from the rank files beside it.

Only what verify proves is priced: a file that fails verify is refused, and so is one that
proves less than it claims (an older file, a fleet whose ranks scanned the same nonces) unless
--allow-unverified is given, which the answer then says; a fleet file without its rank files is
never priced on its word. Watts a replayed trace gave are labelled replayed, not measured."""

from __future__ import annotations

import math
from pathlib import Path

from benchhash.econ.caps import Phase, phases_of
from benchhash.econ.uses import Decode, Measured, Served
from benchhash.errors import BenchhashError
from benchhash.results import io
from benchhash.results.fleet import FleetResult, devices_text
from benchhash.results.model import Result, cap_of
from benchhash.review.load import read
from benchhash.review.verdict import Verdict, require
from benchhash.review.verify import check
from benchhash.workloads import known
from benchhash.workloads.base import PhaseFigures
from benchhash.workloads.econ_figures import EconFigures, figures_of, slowest_tpot_ms_p99

WHY = ": economics prices only verified results"


Key = tuple[str, str, float | None]


def _ranks(path: str | Path, f: FleetResult) -> dict[int, Result | None]:
    """Each rank's result, from its file beside the fleet file (verify has checked those)."""
    results: dict[int, Result | None] = {}
    for row in f.ranks:
        member = Path(path).parent / row.file
        try:
            results[row.rank] = io.load(member)[0] if member.is_file() else None
        except BenchhashError:
            results[row.rank] = None
    return results


def _figures(workload: str, f: PhaseFigures) -> EconFigures:
    cls = known(workload)
    return figures_of(cls.econ_figures(f), workload) if cls is not None else EconFigures()


def _slowest(f: FleetResult, results: dict[int, Result | None]) -> dict[Key, float | None]:
    """Per phase of a fleet, the p99 TPOT of its slowest rank, asked of its workload on each
    rank's file; None for a phase with a rank whose file is not there or that has none (the
    fleet file keeps no latencies)."""
    out: dict[Key, float | None] = {}
    for ph in f.phases:
        key = (ph.workload, ph.phase, cap_of(ph.params))
        figures: list[EconFigures] = []
        for rank in ph.ranks:
            res = results.get(rank)
            w = next((w for w in res.workloads if w.key == key), None) if res is not None else None
            figures.append(_figures(ph.workload, PhaseFigures.of(w)) if w is not None else EconFigures())
        out[key] = slowest_tpot_ms_p99(figures)
    return out


def _take(meas: Measured, workload: str, f: PhaseFigures, ai_watts: list[float],
          fleet: bool = False, slowest_tpot: float | None = None) -> None:
    """What one phase adds to ``meas``; a fleet's phase (``fleet``) takes its latencies from its
    slowest device (``slowest_tpot``)."""
    fig = _figures(workload, f)
    if fleet:
        fig = fig.with_slowest(slowest_tpot)
    if fig.hashes_per_second is not None:
        meas.sha256d_hps = fig.hashes_per_second
        meas.sha256d_watts = fig.hashing_watts
    if fig.ai_watts is not None:
        ai_watts.append(fig.ai_watts)
    tps = fig.tokens_per_second
    if tps:
        meas.decode.append(Decode.of(f"{workload} {f.phase}", fig, f.params, tps, fig.ai_watts))
        if (meas.tokens_per_second or 0) < tps:
            meas.tokens_per_second = tps
    served = fig.served_tokens_per_second
    if served:
        meas.served.append(Served.of(f"{workload} {f.phase}", fig, f.params, served, fig.ai_watts))


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


def _replayed(results: list[Result | None]) -> bool:
    """Whether any of these results' watts came from a replayed trace (no hardware measured)."""
    return any(r is not None and (r.environment.meter.get("name") == "replay"
                                  or any(t.energy.method == "replay" for w in r.workloads for t in w.trials))
               for r in results)


def _verified(v: Verdict, allow_unverified: bool) -> str | None:
    """What the file does not prove, when allowed to be priced on its word; refused otherwise."""
    require(v, WHY, allow_unverified)
    return v.unproven[0] if v.unproven else None


def load(path: str | Path, allow_unverified: bool = False) -> tuple[Measured, list[Phase]]:
    """What each workload of a verified result or fleet file says economics can use (asked of
    the workload; a sweep's phases at their highest cap), and every phase with its cap. A fleet
    file is priced only with its rank files beside it (verify fails it otherwise, whatever
    ``allow_unverified`` says)."""
    loaded = read(path)
    f = loaded.parsed()
    unverified = _verified(check(loaded), allow_unverified)
    if isinstance(f, FleetResult):
        every = sorted({r for p in f.phases for r in p.ranks})
        kinds = {r.device.kind for r in f.ranks}
        names = {r.device.name for r in f.ranks}
        ranks = _ranks(path, f)
        meas = Measured(source=str(path), device=names.pop() if len(names) == 1 else devices_text(f, every),
                        kind="cpu" if kinds == {"cpu"} else "cuda", fleet=f"fleet of {len(every)}, per device",
                        energy="replayed" if _replayed(list(ranks.values())) else "measured", unverified=unverified)
        phases = phases_of(f)
        slowest: dict[Key, float | None] | None = _slowest(f, ranks)
    else:
        meas = Measured(source=str(path), device=f.device.name, kind=f.device.kind,
                        energy="replayed" if _replayed([f]) else "measured", unverified=unverified)
        phases, slowest = phases_of(f), None
    ai_watts: list[float] = []
    for ph in _top(phases):
        _take(meas, ph.workload, ph.figures, ai_watts, slowest is not None,
              None if slowest is None else slowest.get((ph.workload, ph.phase, ph.cap_w)))
    meas.ai_watts = max(ai_watts) if ai_watts else None
    return meas, phases


def from_result(path: str | Path) -> Measured:
    return load(path)[0]
