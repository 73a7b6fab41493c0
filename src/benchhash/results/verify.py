"""`benchhash verify`: is a published result what it says it is?

Checks, each reported with its reason: the schema; the integrity digest; that every trial's rate
is its work over its seconds and the statistics follow from the trials; that each workload is
one benchhash knows, and whatever that workload checks of its own results (for SHA-256d: every
share re-hashed, the hash count against the share count; see workloads/sha256d_proof.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchhash.errors import ResultFileError
from benchhash.results import io
from benchhash.results.model import Result, WorkloadResult
from benchhash.stats import summarize
from benchhash.workloads import known

REL_TOL = 1e-9


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def check_stats(w: WorkloadResult, name: str) -> list[str]:
    problems = []
    for t in w.trials:
        if not _close(t.rate, t.work / t.seconds):
            problems.append(f"{name} trial {t.index}: rate {t.rate:.6g} is not work/seconds "
                            f"({t.work / t.seconds:.6g})")
        if t.work_per_joule is not None and t.energy.energy_j:
            if not _close(t.work_per_joule, t.work / t.energy.energy_j):
                problems.append(f"{name} trial {t.index}: work_per_joule is not work/energy_j")
    if w.trials and w.stats.rate is not None:
        again = summarize([t.rate for t in w.trials])
        for field in ("median", "mad", "mean", "min", "max"):
            if not _close(getattr(w.stats.rate, field), getattr(again, field)):
                problems.append(f"{name}: stats.rate.{field} {getattr(w.stats.rate, field):.6g} "
                                f"does not follow from the trials ({getattr(again, field):.6g})")
                break
    return problems


def verify_data(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem found in a decoded result file; empty when it verifies."""
    try:
        result: Result = io.parse(raw, where)
    except ResultFileError as exc:
        return [str(exc)]
    problems = []
    bad = io.integrity_problem(raw)
    if bad:
        problems.append(bad)
    for w in result.workloads:
        problems += check_stats(w, w.label)
        workload = known(w.workload)
        if workload is None:
            problems.append(f"{w.label}: {w.workload!r} is not a workload benchhash knows")
        else:
            problems += workload.check_result(w)
    return problems


def verify_fleet(raw: dict[str, Any], where: str) -> list[str]:
    stored = raw.get("integrity", {})
    if not isinstance(stored, dict) or stored.get("digest") != io.digest_of(raw):
        return [f"{where}: fleet integrity digest mismatch (verify each node file on its own)"]
    return []


def verify_file(path: str | Path) -> tuple[str, list[str]]:
    """('OK' | 'FAIL' | 'SKIP', problems or the reason for skipping)."""
    try:
        raw = io.read_json(path)
    except ResultFileError as exc:
        return "FAIL", [str(exc)]
    if "$schema" in raw:
        return "SKIP", ["a JSON Schema, not a result"]
    if "benchmark" in raw and "schema_version" not in raw:
        return "SKIP", [f"output of the {raw['benchmark']!r} benchmark script, not a result"]
    problems = (verify_fleet(raw, str(path)) if "fleet_schema_version" in raw
                else verify_data(raw, str(path)))
    return ("FAIL" if problems else "OK"), problems
