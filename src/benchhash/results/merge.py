"""`benchhash merge FILE... -o FLEET.json`: result files into one fleet file (fleet schema 2).
The rank files of one fleet run (one run id) give per-trial sums over their common windows, and
the ranks that left no file are named (the fleet is then marked incomplete); files measured
apart can only add their medians, and the fleet file says so. A file that fails verify, the
same file twice, a rank twice, or two files of the same host and start time are refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.fleet.build import Member, fleet_from, seal
from benchhash.results.model import Result
from benchhash.results.verify import load_verified


def node_rows(result: Result) -> list[dict[str, Any]]:
    """A node's row per phase, as a version 1 fleet file records it (verify reads those)."""
    return [{"workload": w.label, "unit": w.unit,
             "rate": w.stats.rate.median if w.stats.rate else None,
             "average_w": w.energy.average_w, "work_per_joule": w.efficiency.work_per_joule,
             "valid": w.validity.valid} for w in result.workloads]


def _key(result: Result) -> tuple[str, str]:
    """What makes two files the same measurement: a fleet rank, or a host's run."""
    if result.fleet is not None:
        return (f"rank {result.fleet.rank} of fleet run {result.fleet.run_id}", "the same rank as")
    return (f"{result.environment.host}@{result.created_utc}", "the same host and start time as")


def merge(paths: list[str], out: str | Path = ".") -> dict[str, Any]:
    """The sealed fleet file of these result files; member files are named relative to ``out``'s
    folder, so verify finds them from there."""
    if len(paths) < 1:
        raise InputError("merge needs at least one result file")
    folder = Path(out).expanduser().resolve().parent
    members: list[Member] = []
    seen: dict[str, str] = {}
    for path in paths:
        result, raw = load_verified(path)
        digest = raw["integrity"]["digest"]
        for key, what in ((digest, "the same file as"), _key(result)):
            if key in seen:
                raise InputError(f"{path} is {what} {seen[key]}: a file counts once")
            seen[key] = path
        members.append(Member(os.path.relpath(Path(path).resolve(), folder), result, digest))
    units: dict[str, str] = {}
    for m in members:
        for w in m.result.workloads:
            if units.setdefault(w.label, w.unit) != w.unit:
                raise InputError(f"{m.file}: {w.label} is in {w.unit}, another file reports {units[w.label]}")
    return seal(fleet_from(members))
