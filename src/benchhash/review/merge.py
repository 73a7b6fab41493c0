"""`benchhash merge FILE... -o FLEET.json`: result files into one fleet file (fleet schema 2).
The rank files of one fleet run (one run id) give per-trial sums over their common windows, and
the ranks that left no file are named (the fleet is then marked incomplete); files measured
apart can only add their medians, and the fleet file says so. A file that fails verify or
proves less than it claims (unless --allow-unverified: then said on stderr), the same file
twice, a rank twice, two files of the same host and start time, or two files that hold the same
work (the same SHA-256d shares, unless --allow-unverified) are refused."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.results.fleet_build import Member, fleet_from, seal
from benchhash.results.model import Result
from benchhash.review.evidence import shared_work
from benchhash.review.verify import load_verified

log = logging.getLogger(__name__)


def _key(result: Result) -> tuple[str, str]:
    """What makes two files the same measurement: a fleet rank, or a host's run."""
    if result.fleet is not None:
        return (f"rank {result.fleet.rank} of fleet run {result.fleet.run_id}", "the same rank as")
    return (f"{result.environment.host}@{result.created_utc}", "the same host and start time as")


def merge(paths: list[str], out: str | Path = ".", allow_unverified: bool = False) -> dict[str, Any]:
    """The sealed fleet file of these result files; member files are named relative to ``out``'s
    folder, so verify finds them from there."""
    if len(paths) < 1:
        raise InputError("merge needs at least one result file")
    folder = Path(out).expanduser().resolve().parent
    members: list[Member] = []
    seen: dict[str, str] = {}
    for path in paths:
        result, raw = load_verified(path, ": merge refuses it", allow_unverified)
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
    _no_work_twice(members, allow_unverified)
    return seal(fleet_from(members))


def _no_work_twice(members: list[Member], allow_unverified: bool) -> None:
    twice = shared_work([(m.file, m.result) for m in members])
    if twice and not allow_unverified:
        a, b, n = twice[0]
        raise InputError(f"{a} and {b} hold {n:,} of the same shares: work counted twice (give --allow-unverified "
                         "to merge ranks of a fleet from before v5, whose ranks of one host scanned the same nonces)")
    for a, b, n in twice:
        log.warning("%s and %s hold %s of the same shares: merged on --allow-unverified; the fleet's sum is not "
                    "the work done", a, b, f"{n:,}")
