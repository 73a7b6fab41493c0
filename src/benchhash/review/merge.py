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

from benchhash.errors import InputError, ResultFileError
from benchhash.results.fleet import RankSummary
from benchhash.results.fleet_build import fleet_of, seal
from benchhash.review.fleet import overlaps
from benchhash.review.pool import Checked, Pool, check_file
from benchhash.review.verdict import require

log = logging.getLogger(__name__)


def _members(paths: list[str], folder: Path, allow_unverified: bool, pool: Pool) -> list[Checked]:
    """Each file verified in a worker (and refused as verify would have it), each counted once."""
    members: list[Checked] = []
    seen: dict[str, str] = {}
    items = [(path, os.path.relpath(Path(path).resolve(), folder)) for path in paths]
    for path, c in zip(paths, pool.map(check_file, items), strict=True):
        if c.summary is None:
            raise ResultFileError(c.verdict.problems[0])
        require(c.verdict, ": merge refuses it", allow_unverified)
        for key, what in ((c.summary.digest, "the same file as"), c.same):
            if key in seen:
                raise InputError(f"{path} is {what} {seen[key]}: a file counts once")
            seen[key] = path
        members.append(c)
    return members


def _units(members: list[RankSummary]) -> None:
    units: dict[str | None, str | None] = {}
    for m in members:
        for w in m.phases:
            if units.setdefault(w.label, w.unit) != w.unit:
                raise InputError(f"{m.file}: {w.label} is in {w.unit}, another file reports {units[w.label]}")


def merge(paths: list[str], out: str | Path = ".", allow_unverified: bool = False,
          jobs: int | None = None) -> dict[str, Any]:
    """The sealed fleet file of these result files; member files are named relative to ``out``'s
    folder, so verify finds them from there. Each file is checked in one of ``jobs`` worker
    processes (None: every core)."""
    if len(paths) < 1:
        raise InputError("merge needs at least one result file")
    folder = Path(out).expanduser().resolve().parent
    with Pool(jobs) as pool:
        members = _members(paths, folder, allow_unverified, pool)
    summaries = [m.summary for m in members if m.summary is not None]
    _units(summaries)
    _no_work_twice(members, allow_unverified)
    return seal(fleet_of(summaries))


def _no_work_twice(members: list[Checked], allow_unverified: bool) -> None:
    twice = overlaps(members)
    if twice and not allow_unverified:
        a, b, n = twice[0]
        raise InputError(f"{a} and {b} hold {n:,} of the same shares: work counted twice (give --allow-unverified "
                         "to merge ranks of a fleet from before v5, whose ranks of one host scanned the same nonces)")
    for a, b, n in twice:
        log.warning("%s and %s hold %s of the same shares: merged on --allow-unverified; the fleet's sum is not "
                    "the work done", a, b, f"{n:,}")
