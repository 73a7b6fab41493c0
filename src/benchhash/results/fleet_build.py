"""The fleet file from its ranks' summaries (results/fleet.py's RankSummary: a rank's file name
and digest, host, device and per-trial sums, a few hundred bytes): rank 0 builds it from the
summaries the ranks send it, `merge` and `verify` from the summaries of the rank files (or of
node files measured apart). One function summarizes a file and one builds the fleet, so verify
recomputes rank 0's fleet file exactly. (Which ranks hold the same work is asked of their
workloads: review/evidence.py.)"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchhash import __version__
from benchhash.errors import InputError
from benchhash.results import io
from benchhash.results.fleet import (
    FLEET_SCHEMA_VERSION,
    FleetPhase,
    FleetRankRow,
    FleetResult,
    FleetTrial,
    Key,
    PhaseSummary,
    RankSummary,
    RateMethod,
    TrialSummary,
)
from benchhash.results.model import Integrity, Result, WorkloadResult
from benchhash.units import utc_now


def _phase_summary(w: WorkloadResult) -> PhaseSummary:
    return PhaseSummary(
        workload=w.workload, phase=w.phase, power_limit_w=w.power_limit_w, label=w.label, unit=w.unit,
        rate_unit=w.rate_unit, params=dict(w.params),
        median_rate=w.stats.rate.median if w.stats.rate is not None else None, average_w=w.energy.average_w,
        trials=[TrialSummary(index=t.index, work=t.work, rate=t.rate, seconds=t.seconds,
                             energy_j=t.energy.energy_j, average_w=t.energy.average_w,
                             started_fleet_s=t.started_fleet_s) for t in w.trials])


def summarize(file: str, result: Result, digest: str) -> RankSummary:
    """What the fleet takes from one result file."""
    return RankSummary(
        file=file, digest=digest, run_id=result.run_id, host=result.environment.host, device=result.device,
        complete=result.complete, stopped=result.stopped, failures=len(result.failures), fleet=result.fleet,
        phases=[_phase_summary(w) for w in result.workloads])


@dataclass(frozen=True)
class Member:
    """A rank's (or a node's) result as the fleet takes it: the file's name relative to the
    fleet file's folder, the result, and the file's integrity digest."""

    file: str
    result: Result
    digest: str

    @property
    def rank(self) -> int | None:
        return self.result.fleet.rank if self.result.fleet else None

    def summary(self) -> RankSummary:
        return summarize(self.file, self.result, self.digest)


def _lockstep(members: list[RankSummary]) -> bool:
    ids = {m.fleet.run_id if m.fleet else None for m in members}
    return len(ids) == 1 and None not in ids


def _row(m: RankSummary, rank: int, lockstep: bool) -> FleetRankRow:
    f = m.fleet if lockstep else None
    return FleetRankRow(rank=rank, local_rank=f.local_rank if f else None,
                        node_rank=f.node_rank if f else None, host=m.host, device=m.device, file=m.file,
                        digest=m.digest, complete=m.complete, stopped=m.stopped, failures=m.failures)


@dataclass(frozen=True)
class Entry:
    """One rank's phase, with what the fleet needs to add its energy honestly."""

    rank: int
    host: str
    gpu: bool
    phase: PhaseSummary


def _energy_whole(trials: list[tuple[Entry, TrialSummary]]) -> bool:
    """Every GPU rank read its own energy, and every node's CPU energy was read (once)."""
    if any(e.gpu and t.energy_j is None for e, t in trials):
        return False
    cpu_hosts = {e.host for e, _ in trials if not e.gpu}
    read = {e.host for e, t in trials if not e.gpu and t.energy_j is not None}
    return cpu_hosts <= read


def _trial(index: int, trials: list[tuple[Entry, TrialSummary]]) -> FleetTrial:
    starts = [t.started_fleet_s for _, t in trials if t.started_fleet_s is not None]
    metered = [t for _, t in trials if t.energy_j is not None]
    whole = bool(metered) and _energy_whole(trials)
    return FleetTrial(
        index=index, ranks=len(trials),
        start_spread_s=max(starts) - min(starts) if len(starts) == len(trials) > 1 else None,
        work=sum(t.work for _, t in trials), rate=sum(t.rate for _, t in trials),
        energy_j=sum(t.energy_j or 0.0 for t in metered) if whole else None,
        average_w=sum(t.average_w or 0.0 for t in metered) if whole else None, energy_ranks=len(metered))


def summary(trials: list[FleetTrial], ranks: int) -> tuple[float | None, float | None]:
    """(rate, watts): medians over the trials every rank measured of the per-trial sums."""
    full = [t for t in trials if t.ranks == ranks]
    rate = statistics.median(t.rate for t in full) if full else None
    watts = statistics.median(t.average_w for t in full if t.average_w is not None) \
        if full and all(t.average_w is not None for t in full) else None
    return rate, watts


def _lockstep_trials(entries: list[Entry]) -> list[FleetTrial]:
    by_index: dict[int, list[tuple[Entry, TrialSummary]]] = {}
    for e in entries:
        for t in e.phase.trials:
            by_index.setdefault(t.index, []).append((e, t))
    return [_trial(i, by_index[i]) for i in sorted(by_index)]


def _phase(key: Key, entries: list[Entry], lockstep: bool) -> FleetPhase:
    def first(field: str) -> Any:
        """The field as the first rank that sent it holds it (the others send it only for the
        phases rank 0 lacks)."""
        return next((v for e in entries if (v := getattr(e.phase, field)) is not None), None)

    common: dict[str, Any] = dict(workload=key[0], phase=key[1], label=first("label"), unit=first("unit"),
                                  rate_unit=first("rate_unit"), ranks=[e.rank for e in entries],
                                  params=dict(first("params") or {}))
    method: RateMethod
    if lockstep:
        trials = _lockstep_trials(entries)
        rate, watts = summary(trials, len(entries))
        method = "median of per-trial sums"
    else:
        trials, method = [], "sum of per-rank medians"
        medians = [e.phase.median_rate for e in entries if e.phase.median_rate is not None]
        wattages = [e.phase.average_w for e in entries]
        rate = sum(medians) if len(medians) == len(entries) else None
        watts = sum(x for x in wattages if x is not None) if all(x is not None for x in wattages) else None
    return FleetPhase(**common, trials=trials, rate=rate, average_w=watts,
                      work_per_joule=rate / watts if rate is not None and watts else None, rate_method=method)


def _notes(lockstep: bool, members: list[RankSummary], missing: list[int], phases: list[FleetPhase]) -> list[str]:
    notes = []
    if not lockstep and len(members) > 1:
        notes.append("the files were not measured together (no shared run id): rates and watts are sums "
                     "of each file's medians, not per-trial sums over common windows")
    if missing:
        notes.append(f"rank(s) {', '.join(map(str, missing))} left no file: the fleet is incomplete")
    for p in phases:
        short = [t.index for t in p.trials if t.ranks < len(p.ranks)]
        if short:
            notes.append(f"{p.label}: trial(s) {', '.join(str(i + 1) for i in short)} lack a rank "
                         "and are left out of the fleet's medians")
    return notes


def fleet_of(members: list[RankSummary], created_utc: str | None = None) -> FleetResult:
    """The fleet of these ranks' (or nodes') summaries."""
    lockstep = _lockstep(members)
    if lockstep:
        members = sorted(members, key=lambda m: m.rank or 0)
    ranks = [(m.rank or 0) if lockstep else i for i, m in enumerate(members)]
    twice = sorted(r for r, n in Counter(ranks).items() if n > 1)
    if twice:
        raise InputError(f"two files are rank {twice[0]} of one fleet run: a rank counts once")
    rows = [_row(m, r, lockstep) for m, r in zip(members, ranks, strict=True)]
    first = members[0].fleet
    world = first.world_size if lockstep and first else len(members)
    grouped: dict[Key, list[Entry]] = {}
    for rank, m in zip(ranks, members, strict=True):
        for w in m.phases:
            grouped.setdefault(w.key, []).append(Entry(rank, m.host, m.device.kind == "cuda", w))
    missing = sorted(set(range(world)) - set(ranks)) if lockstep else []
    phases = [_phase(k, v, lockstep) for k, v in grouped.items()]
    return FleetResult(
        fleet_schema_version=FLEET_SCHEMA_VERSION, benchhash_version=__version__,
        run_id=first.run_id if lockstep and first else None,
        created_utc=created_utc or utc_now(), world_size=world, lockstep=lockstep,
        complete=lockstep and not missing and all(row.complete for row in rows),
        missing=missing, ranks=rows, phases=phases, notes=_notes(lockstep, members, missing, phases))


def fleet_from(members: list[Member], created_utc: str | None = None) -> FleetResult:
    """The fleet of these ranks' (or nodes') results: of their summaries."""
    return fleet_of([m.summary() for m in members], created_utc)


def seal(fleet: FleetResult) -> dict[str, Any]:
    data = fleet.model_dump(mode="json", exclude={"integrity"})
    data["integrity"] = Integrity(digest=io.digest_of(data)).model_dump(mode="json")
    return data


def member(path: Any, file: str | None = None) -> Member:
    """A member from its file (the caller has verified it, or will)."""
    result, raw = io.load(path)
    return Member(file or str(path), result, raw["integrity"]["digest"])
