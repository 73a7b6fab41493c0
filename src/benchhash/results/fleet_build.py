"""The fleet file from its ranks' results: rank 0 builds it after the gather, `merge` from rank
files (or from node files measured apart), `verify` again from the files beside it. The same
function builds it every time, so verify can recompute it exactly. (Which ranks hold the same
work is asked of their workloads: review/evidence.py.)"""

from __future__ import annotations

import statistics
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
    RateMethod,
)
from benchhash.results.model import Integrity, Result, Trial, WorkloadResult
from benchhash.units import utc_now


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


def _lockstep(members: list[Member]) -> bool:
    ids = {m.result.fleet.run_id if m.result.fleet else None for m in members}
    return len(ids) == 1 and None not in ids


def _row(m: Member, rank: int, lockstep: bool) -> FleetRankRow:
    f = m.result.fleet if lockstep else None
    return FleetRankRow(rank=rank, local_rank=f.local_rank if f else None,
                        node_rank=f.node_rank if f else None, host=m.result.environment.host,
                        device=m.result.device, file=m.file, digest=m.digest, complete=m.result.complete,
                        stopped=m.result.stopped, failures=len(m.result.failures))


@dataclass(frozen=True)
class Entry:
    """One rank's phase, with what the fleet needs to add its energy honestly."""

    rank: int
    host: str
    gpu: bool
    phase: WorkloadResult


def _energy_whole(trials: list[tuple[Entry, Trial]]) -> bool:
    """Every GPU rank read its own energy, and every node's CPU energy was read (once)."""
    metered = [(e, t.energy.energy_j is not None) for e, t in trials]
    if any(e.gpu and not ok for e, ok in metered):
        return False
    cpu_hosts = {e.host for e, _ in metered if not e.gpu}
    return all(any(ok for e, ok in metered if e.host == h and not e.gpu) for h in cpu_hosts)


def _trial(index: int, entries: list[Entry]) -> FleetTrial | None:
    trials = [(e, t) for e in entries for t in e.phase.trials if t.index == index]
    if not trials:
        return None
    starts = [t.started_fleet_s for _, t in trials if t.started_fleet_s is not None]
    metered = [t.energy for _, t in trials if t.energy.energy_j is not None]
    whole = bool(metered) and _energy_whole(trials)
    return FleetTrial(
        index=index, ranks=len(trials),
        start_spread_s=max(starts) - min(starts) if len(starts) == len(trials) > 1 else None,
        work=sum(t.work for _, t in trials), rate=sum(t.rate for _, t in trials),
        energy_j=sum(e.energy_j or 0.0 for e in metered) if whole else None,
        average_w=sum(e.average_w or 0.0 for e in metered) if whole else None, energy_ranks=len(metered))


def summary(trials: list[FleetTrial], ranks: int) -> tuple[float | None, float | None]:
    """(rate, watts): medians over the trials every rank measured of the per-trial sums."""
    full = [t for t in trials if t.ranks == ranks]
    rate = statistics.median(t.rate for t in full) if full else None
    watts = statistics.median(t.average_w for t in full if t.average_w is not None) \
        if full and all(t.average_w is not None for t in full) else None
    return rate, watts


def _phase(key: tuple[str, str, float | None], entries: list[Entry], lockstep: bool) -> FleetPhase:
    first = entries[0].phase
    common: dict[str, Any] = dict(workload=key[0], phase=key[1], label=first.label, unit=first.unit,
                                  rate_unit=first.rate_unit, ranks=[e.rank for e in entries],
                                  params=dict(first.params))
    method: RateMethod
    if lockstep:
        indexes = sorted({t.index for e in entries for t in e.phase.trials})
        trials = [t for t in (_trial(i, entries) for i in indexes) if t is not None]
        rate, watts = summary(trials, len(entries))
        method = "median of per-trial sums"
    else:
        trials, method = [], "sum of per-rank medians"
        medians = [e.phase.stats.rate.median for e in entries if e.phase.stats.rate is not None]
        wattages = [e.phase.energy.average_w for e in entries]
        rate = sum(medians) if len(medians) == len(entries) else None
        watts = sum(x for x in wattages if x is not None) if all(x is not None for x in wattages) else None
    return FleetPhase(**common, trials=trials, rate=rate, average_w=watts,
                      work_per_joule=rate / watts if rate is not None and watts else None, rate_method=method)


def _notes(lockstep: bool, members: list[Member], missing: list[int], phases: list[FleetPhase]) -> list[str]:
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


def fleet_from(members: list[Member], created_utc: str | None = None) -> FleetResult:
    """The fleet of these ranks' (or nodes') results."""
    lockstep = _lockstep(members)
    if lockstep:
        members = sorted(members, key=lambda m: m.rank or 0)
    ranks = [(m.rank or 0) if lockstep else i for i, m in enumerate(members)]
    twice = sorted({r for r in ranks if ranks.count(r) > 1})
    if twice:
        raise InputError(f"two files are rank {twice[0]} of one fleet run: a rank counts once")
    rows = [_row(m, r, lockstep) for m, r in zip(members, ranks, strict=True)]
    first = members[0].result.fleet
    world = first.world_size if lockstep and first else len(members)
    grouped: dict[tuple[str, str, float | None], list[Entry]] = {}
    for rank, m in zip(ranks, members, strict=True):
        for w in m.result.workloads:
            grouped.setdefault(w.key, []).append(
                Entry(rank, m.result.environment.host, m.result.device.kind == "cuda", w))
    missing = sorted(set(range(world)) - set(ranks)) if lockstep else []
    phases = [_phase(k, v, lockstep) for k, v in grouped.items()]
    return FleetResult(
        fleet_schema_version=FLEET_SCHEMA_VERSION, benchhash_version=__version__,
        run_id=first.run_id if lockstep and first else None,
        created_utc=created_utc or utc_now(), world_size=world, lockstep=lockstep,
        complete=lockstep and not missing and all(row.complete for row in rows),
        missing=missing, ranks=rows, phases=phases, notes=_notes(lockstep, members, missing, phases))


def seal(fleet: FleetResult) -> dict[str, Any]:
    data = fleet.model_dump(mode="json", exclude={"integrity"})
    data["integrity"] = Integrity(digest=io.digest_of(data)).model_dump(mode="json")
    return data


def member(path: Any, file: str | None = None) -> Member:
    """A member from its file (the caller has verified it, or will)."""
    result, raw = io.load(path)
    return Member(file or str(path), result, raw["integrity"]["digest"])
