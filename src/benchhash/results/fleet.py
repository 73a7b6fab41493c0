"""The fleet file (fleet_schema_version 2): one row per rank (its host, device and file digest),
and per phase the fleet's figures. A lockstep fleet sums the ranks trial by trial over windows
that opened together, and takes the median over trials of those sums (not the sum of medians);
node files measured apart (merged without a shared run) can only add their medians, and say so.
Energy read once per node (the CPU's, by local rank 0) is counted once."""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchhash.errors import ResultFileError
from benchhash.results.model import Device, Finite, FleetRank, Hex64, Integrity, Model, NonNeg, UtcTime

FLEET_SCHEMA_VERSION: Literal[2] = 2
RateMethod = Literal["median of per-trial sums", "sum of per-rank medians"]


class FleetRankRow(Model):
    rank: int = Field(ge=0)
    local_rank: int | None = None
    node_rank: int | None = None
    host: str
    device: Device
    file: str = Field(description="the rank's result file, relative to the fleet file's folder")
    digest: Hex64 = Field(description="that file's integrity digest")
    complete: bool
    stopped: str | None = None
    failures: int = Field(default=0, ge=0)


class FleetTrial(Model):
    index: int = Field(ge=0)
    ranks: int = Field(ge=1, description="ranks that measured this trial")
    start_spread_s: NonNeg | None = Field(
        description="latest minus earliest window opening, on rank 0's clock (lockstep only)")
    work: NonNeg
    rate: NonNeg = Field(description="sum over the ranks of their rates")
    energy_j: NonNeg | None = Field(description="sum over the ranks that read energy; null if none did")
    average_w: NonNeg | None = Field(description="sum over the ranks that read energy")
    energy_ranks: int = Field(ge=0, description="how many ranks' energy is in the sums")


class FleetPhase(Model):
    workload: str
    phase: str
    label: str
    unit: str
    rate_unit: str
    ranks: list[int] = Field(description="ranks with this phase")
    trials: list[FleetTrial]
    rate: NonNeg | None = Field(description="median over trials of the per-trial sums (lockstep), or sum of medians")
    average_w: NonNeg | None
    work_per_joule: NonNeg | None
    rate_method: RateMethod
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the phase's parameters (rank 0's, or the first file's)")


class FleetResult(Model):
    fleet_schema_version: Literal[2]
    benchhash_version: str
    run_id: str | None = Field(description="the fleet's run id (lockstep); null for files merged from apart")
    created_utc: UtcTime
    world_size: int = Field(ge=1)
    lockstep: bool = Field(description="the ranks ran together in lockstep (one run id)")
    complete: bool = Field(description="every rank is here and complete")
    missing: list[int] = Field(description="ranks of the world that left no file")
    ranks: list[FleetRankRow]
    phases: list[FleetPhase]
    notes: list[str] = []
    integrity: Integrity | None = None


class TrialSummary(Model):
    """One trial of one rank, as the fleet adds it up."""

    index: int = Field(ge=0)
    work: NonNeg
    rate: NonNeg
    seconds: NonNeg
    energy_j: NonNeg | None = None
    average_w: NonNeg | None = None
    started_fleet_s: Finite | None = None


Key = tuple[str, str, float | None]


class PhaseSummary(Model):
    """One phase of one rank: its key, label, units and parameters (none of these four sent by a
    rank for a phase rank 0 has: the fleet records the first rank's), its medians (for files
    measured apart) and its trials."""

    workload: str
    phase: str
    power_limit_w: NonNeg | None = None
    label: str | None = None
    unit: str | None = None
    rate_unit: str | None = None
    params: dict[str, Any] | None = None
    median_rate: NonNeg | None = None
    average_w: NonNeg | None = None
    trials: list[TrialSummary]

    @property
    def key(self) -> Key:
        return (self.workload, self.phase, self.power_limit_w)


#: on the wire: per phase its median rate and watts, per trial its index and six figures (NaN: null)
_PHASE, _TRIAL = struct.Struct("<dd"), struct.Struct("<q6d")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _null(x: float) -> float | None:
    return None if math.isnan(x) else x


class RankSummary(Model):
    """What the fleet file takes from one rank's (or node's) result file: a few hundred bytes
    where the file is a megabyte with its proof. Rank 0 builds the fleet file from the summaries
    the ranks send it; verify and merge build it again from the same summaries of the files, so
    the rebuild is exact. The rank files stay the record."""

    file: str = Field(description="the result file, relative to the fleet file's folder")
    digest: Hex64
    run_id: str | None = Field(default=None, description="the result's own run id")
    host: str
    device: Device
    complete: bool
    stopped: str | None = None
    failures: int = Field(default=0, ge=0)
    fleet: FleetRank | None = None
    phases: list[PhaseSummary]

    @property
    def rank(self) -> int | None:
        return self.fleet.rank if self.fleet else None

    def wire(self, known: Sequence[Key] = ()) -> bytes:
        """The summary for the trip to rank 0, compressed: the figures packed as doubles (exact),
        the rest as compact JSON; a phase of ``known`` (rank 0's phases) by its index there,
        without its label, units or parameters."""
        index = {k: i for i, k in enumerate(known)}
        phases, packed = [], bytearray()
        for p in self.phases:
            meta: dict[str, Any] = ({"ref": index[p.key]} if p.key in index else
                                    p.model_dump(mode="json", include={"workload", "phase", "power_limit_w", "label",
                                                                       "unit", "rate_unit", "params"},
                                                 exclude_none=True))
            phases.append({**meta, "n": len(p.trials)})
            packed += _PHASE.pack(_nan(p.median_rate), _nan(p.average_w))
            for t in p.trials:
                packed += _TRIAL.pack(t.index, t.work, t.rate, t.seconds, _nan(t.energy_j), _nan(t.average_w),
                                      _nan(t.started_fleet_s))
        head = self.model_dump(mode="json", exclude={"phases"}, exclude_none=True, exclude_defaults=True)
        text = json.dumps({**head, "phases": phases}, separators=(",", ":")).encode()
        return zlib.compress(struct.pack("<I", len(text)) + text + bytes(packed), 9)

    @classmethod
    def from_wire(cls, data: bytes, known: Sequence[Key] = ()) -> RankSummary:
        raw = zlib.decompress(data)
        (n,) = struct.unpack_from("<I", raw)
        head, at = json.loads(raw[4:4 + n]), 4 + n
        phases = []
        for meta in head.pop("phases"):
            median, watts = _PHASE.unpack_from(raw, at)
            at += _PHASE.size
            trials = []
            for _ in range(meta.pop("n")):
                i, work, rate, seconds, joules, w, start = _TRIAL.unpack_from(raw, at)
                at += _TRIAL.size
                trials.append(TrialSummary(index=i, work=work, rate=rate, seconds=seconds, energy_j=_null(joules),
                                           average_w=_null(w), started_fleet_s=_null(start)))
            if "ref" in meta:
                workload, phase, cap = known[meta.pop("ref")]
                meta.update(workload=workload, phase=phase, power_limit_w=cap)
            phases.append(PhaseSummary(**meta, median_rate=_null(median), average_w=_null(watts), trials=trials))
        return cls.model_validate({**head, "phases": phases})


class V1Row(BaseModel):
    """A node's row per phase in a fleet file of version 1 (merge's before fleet runs)."""

    model_config = ConfigDict(extra="ignore")
    workload: str
    unit: str
    rate: NonNeg | None
    average_w: NonNeg | None
    work_per_joule: NonNeg | None = None
    valid: bool = True


class V1Node(BaseModel):
    model_config = ConfigDict(extra="ignore")
    file: str
    integrity: Hex64
    host: str
    device: Device
    complete: bool = False
    workloads: list[V1Row]


class V1Total(BaseModel):
    model_config = ConfigDict(extra="ignore")
    workload: str
    unit: str | None = None
    nodes: int = Field(ge=0)
    rate: NonNeg | None
    average_w: NonNeg | None


class FleetV1(BaseModel):
    """A version 1 fleet file as verify reads it: typed, so a string where a rate goes is one
    line, not a crash."""

    model_config = ConfigDict(extra="ignore")
    fleet_schema_version: Literal[1]
    created_utc: UtcTime
    nodes: list[V1Node]
    totals: list[V1Total]


def _v1_phase(total: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    workload, _, phase = str(total.get("workload", "")).partition(" ")
    rate, watts = total.get("rate"), total.get("average_w")
    return {"workload": workload, "phase": phase or "run", "label": total.get("workload"),
            "unit": total.get("unit"), "rate_unit": f"{total.get('unit')}/s",
            "ranks": [i for i, n in enumerate(nodes)
                      if any(r.get("workload") == total.get("workload") for r in n.get("workloads", []))],
            "trials": [], "rate": rate, "average_w": watts,
            "work_per_joule": rate / watts if rate is not None and watts else None,
            "rate_method": "sum of per-rank medians"}


def migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """A fleet file of `merge` before fleet runs (nodes and totals, sums of medians) in the
    version 2 layout; its digest is not kept (verify checks version 1 files as they are)."""
    nodes = list(raw.get("nodes", []))
    return {
        "fleet_schema_version": 2, "benchhash_version": "0.1.0 (fleet schema 1)", "run_id": None,
        "created_utc": raw.get("created_utc"), "world_size": max(1, len(nodes)), "lockstep": False,
        "complete": False, "missing": [],
        "ranks": [{"rank": i, "host": n.get("host"), "device": n.get("device"), "file": n.get("file"),
                   "digest": n.get("integrity"), "complete": n.get("complete", False)}
                  for i, n in enumerate(nodes)],
        "phases": [_v1_phase(t, nodes) for t in raw.get("totals", [])],
        "notes": ["migrated from fleet schema 1 (node medians added up; no per-trial sums)"],
    }


def parse(raw: dict[str, Any], where: str) -> FleetResult:
    """A fleet file's content as a FleetResult: newer versions refused, version 1 migrated,
    anything malformed a one-line error."""
    version = raw.get("fleet_schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultFileError(f"{where}: fleet_schema_version is {version!r}, not a version")
    if version > FLEET_SCHEMA_VERSION:
        raise ResultFileError(f"{where}: fleet_schema_version {version} is newer than this benchhash reads "
                              f"(up to {FLEET_SCHEMA_VERSION}); upgrade benchhash")
    try:
        if version == 1:
            FleetV1.model_validate(raw)
        return FleetResult.model_validate(migrate_v1(raw) if version == 1 else raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ResultFileError(f"{where}: {'.'.join(map(str, err['loc'])) or 'fleet'}: {err['msg']}") from None


def parse_v1(raw: dict[str, Any], where: str) -> FleetV1:
    """A version 1 fleet file as it was written (after parse accepted it)."""
    parse(raw, where)
    return FleetV1.model_validate(raw)


def devices_text(f: FleetResult, ranks: list[int]) -> str:
    """'2 x NVIDIA H100 80GB HBM3' (or 'a x A, b x B') for these ranks of the fleet."""
    names = Counter(r.device.name or r.device.kind for r in f.ranks if r.rank in ranks)
    return ", ".join(f"{n} x {name}" for name, n in names.most_common())
