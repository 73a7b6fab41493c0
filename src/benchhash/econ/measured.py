"""The figures economics needs, read from a result file: SHA-256d rate and watts, the watts of the
AI workloads, and the best LLM decode rate."""

from __future__ import annotations

from pathlib import Path

from benchhash.econ.uses import Measured
from benchhash.results.verify import load_verified
from benchhash.workloads import known


def from_result(path: str | Path) -> Measured:
    """What each workload of the file says economics can use (asked of the workload)."""
    result, _ = load_verified(path, ": economics prices only verified results")
    meas = Measured(source=str(path), device=result.device.name)
    ai_watts: list[float] = []
    for w in result.workloads:
        workload = known(w.workload)
        figures = workload.econ_figures(w) if workload is not None else {}
        if "hashes_per_second" in figures:
            meas.sha256d_hps = figures["hashes_per_second"]
            meas.sha256d_watts = figures.get("hashing_watts")
        if "ai_watts" in figures:
            ai_watts.append(figures["ai_watts"])
        tps = figures.get("tokens_per_second")
        if tps and (meas.tokens_per_second or 0) < tps:
            meas.tokens_per_second = tps
    meas.ai_watts = max(ai_watts) if ai_watts else None
    return meas
