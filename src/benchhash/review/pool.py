"""Many files checked at once: each result file is verified in a worker process (``--jobs N``,
all cores unless told), which sends back only what the fleet needs of it (a Checked: the
verdict's lines, the file's digest, its summary, the headers its shares were found under), so
the memory of the process that gathers them stays flat in the number of files, and no file's
proof ever leaves its worker. A fleet file is rebuilt from those summaries (review/fleet.py)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from benchhash.errors import BenchhashError, InputError
from benchhash.results import io, sign
from benchhash.results.fleet import RankSummary
from benchhash.results.fleet_build import summarize
from benchhash.results.model import Result
from benchhash.review.result import verify_result
from benchhash.review.verdict import Verdict
from benchhash.workloads import known
from benchhash.workloads.sha256d_proof import sampling

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # not on Linux
        return max(1, os.cpu_count() or 1)


def jobs_option(jobs: int | None) -> int:
    """--jobs as given (None: every core); anything below 1 is bad input."""
    if jobs is None:
        return default_jobs()
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    return jobs


class Pool:
    """Worker processes, started on the first map of more than one item (one job, one item, or
    a process that is itself a worker: the work runs here, in order)."""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs_option(jobs)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn over the items, results in the items' order as they come."""
        items = list(items)
        if self.jobs <= 1 or len(items) <= 1 or multiprocessing.current_process().daemon:
            return map(fn, items)
        if self._executor is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)
        return self._executor.map(fn, items, chunksize=1)


@dataclass(frozen=True)
class Checked:
    """One result file as a worker found it: a few kilobytes, whatever the file's size."""

    path: str
    verdict: Verdict
    digest: str | None = None
    summary: RankSummary | None = None             # None: the file could not be read
    headers: frozenset[str] = frozenset()          # the block headers its shares were found under
    stored_version: int = 0
    same: tuple[str, str] = ("", "")               # what makes two files one measurement, and how to say it
    v1_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def read(self) -> bool:
        return self.summary is not None


def v1_rows(result: Result) -> list[dict[str, Any]]:
    """A node's row per phase, as a version 1 fleet file records it."""
    return [{"workload": w.label, "unit": w.unit, "rate": w.stats.rate.median if w.stats.rate else None,
             "average_w": w.energy.average_w, "work_per_joule": w.efficiency.work_per_joule,
             "valid": w.validity.valid} for w in result.workloads]


def _same(result: Result) -> tuple[str, str]:
    if result.fleet is not None:
        return (f"rank {result.fleet.rank} of fleet run {result.fleet.run_id}", "the same rank as")
    return (f"{result.environment.host}@{result.created_utc}", "the same host and start time as")


def headers_of(result: Result) -> frozenset[str]:
    """The headers of every piece of evidence in the file (SHA-256d: the block headers its
    shares are of): two files whose headers differ cannot hold the same share."""
    out: set[str] = set()
    for w in result.workloads:
        cls = known(w.workload)
        out |= {h for h, _ in cls.evidence(w)} if cls is not None else set()
    return frozenset(out)


def check_file(item: tuple[str, str], trusted: list[sign.Signer] | None = None,
               sample: int | None = None) -> Checked:
    """A worker's check of one result file: (its path, its name in the fleet) -> Checked;
    ``sample``: as verify --sample (the caller's sampling does not reach a worker by itself)."""
    path, name = item
    try:
        result, raw = io.load(path)
    except BenchhashError as exc:
        return Checked(path, Verdict(path, "FAIL", [str(exc)]))
    digest = raw.get("integrity", {}).get("digest") if isinstance(raw.get("integrity"), dict) else None
    try:
        summary: RankSummary | None = summarize(name, result, str(digest))
    except ValueError as exc:                      # a digest that is no digest (the verdict says why)
        summary, bad = None, str(exc)
    kept = (headers_of(result), result.stored_version, _same(result), v1_rows(result))
    del result                                     # one parsed copy at a time: verify parses its own
    with sampling(sample):
        v = verify_result(raw, path, trusted)
    if summary is None:
        return Checked(path, v if v.problems else Verdict(path, "FAIL", [bad]))
    return Checked(path, v, str(digest), summary, *kept)
