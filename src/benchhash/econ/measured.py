"""The figures economics needs, read from a result file: SHA-256d rate and watts, the watts of the
AI workloads, and the best LLM decode rate."""

from __future__ import annotations

from pathlib import Path

from benchhash.econ.uses import Measured
from benchhash.results import io
from benchhash.results.schema import WorkloadResult


def _median_rate(w: WorkloadResult) -> float | None:
    return w.stats.rate.median if w.stats.rate is not None else None


def from_result(path: str | Path) -> Measured:
    result, _ = io.load(path)
    meas = Measured(source=str(path), device=result.device.name)
    ai_watts: list[float] = []
    for w in result.workloads:
        metered = w.efficiency.work_per_joule is not None   # the watts belong to this work
        if w.workload == "sha256d" and metered and w.energy.average_w is not None:
            meas.sha256d_hps = _median_rate(w)
            meas.sha256d_watts = w.energy.average_w
        elif w.workload == "sha256d":
            meas.sha256d_hps = _median_rate(w)
        elif w.workload in ("gemm", "llm") and metered and w.energy.average_w is not None:
            ai_watts.append(w.energy.average_w)
        if w.workload == "llm" and w.unit == "token" and w.phase.startswith("decode"):
            rate = _median_rate(w)
            if rate and (meas.tokens_per_second or 0) < rate:
                meas.tokens_per_second = rate
    meas.ai_watts = max(ai_watts) if ai_watts else None
    return meas
