"""Building a result as the run goes: a phase in progress (PhaseRun) collects validated trials,
and becomes a validated WorkloadResult (statistics, energy, efficiency, warnings) when it ends;
the run's phases, failures and provenance become the Result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from benchhash import __version__
from benchhash.results.model import (
    METHODOLOGY_VERSION,
    POWER_LIMIT,
    SCHEMA_VERSION,
    Binding,
    Config,
    Device,
    Efficiency,
    EnergySummary,
    Environment,
    Failure,
    FleetRank,
    Idle,
    Load,
    PhaseStats,
    Reading,
    Result,
    Trial,
    Validity,
    Warmup,
    WorkloadResult,
    label,
)
from benchhash.stats import MIN_TRIAL_S, stability_warnings, summarize
from benchhash.units import utc_now

#: Clock-event reasons that mean the clocks were held back by power or heat.
LIMITING = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
            "hw_power_brake_slowdown")


@dataclass
class Window:
    """What one run of a phase did: ``work`` units in ``seconds`` of wall time (device
    synchronised), and evidence of that work for the result (e.g. SHA-256d shares)."""

    work: float
    seconds: float
    proof: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)   # e.g. time per output token

    @property
    def rate(self) -> float:
        return self.work / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Opened:
    """When a window opened (wall clock; rank 0's clock in a fleet) and when it closed."""

    started_unix_s: float
    started_fleet_s: float | None
    ended_unix_s: float | None = None


#: the key of a phase's params that holds its workload's version (Workload.version): part of
#: what the phase measured, so that compare refuses a pair of two versions
WORKLOAD_VERSION = "workload_version"


@dataclass
class PhaseRun:
    """A phase while it runs: what the runner knows of it so far."""

    workload: str
    phase: str
    unit: str
    device: str
    backend: str | None
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)      # said among the phase's warnings
    metered: bool = True          # the meter reads the device doing the work (else no per-joule)
    proof_models: tuple[type[BaseModel], type[BaseModel]] | None = None   # (phase, trial)
    stage: str = "compile"        # where the phase is, for a failure
    warmup: Warmup | None = None
    trials: list[Trial] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    proof: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    compile_s: float | None = None
    power_limit_w: float | None = None     # the GPU power limit it runs at (None: untouched)
    load: Load | None = None               # how busy the machine was
    binding: Binding | None = None         # what ties it to the run (its seed)
    workload_version: int | str | None = None   # its workload's (None: not recorded)

    @property
    def all_params(self) -> dict[str, Any]:
        """The phase's params as recorded: its own, its workload's version and the power limit
        it ran at."""
        version = {} if self.workload_version is None else {WORKLOAD_VERSION: self.workload_version}
        cap = {} if self.power_limit_w is None else {POWER_LIMIT: self.power_limit_w}
        return {**self.params, **version, **cap}

    @property
    def label(self) -> str:
        return label(self.workload, self.phase, self.power_limit_w)

    def failure(self, stage: str, exc: BaseException) -> Failure:
        """A failure of this phase (at its power level)."""
        return Failure.of(self.workload, self.phase, stage, exc, self.power_limit_w)

    def add_trial(self, index: int, window: Window, reading: Reading, opened: Opened | None = None) -> Trial:
        """The trial as the result stores it, validated now."""
        e = reading.energy
        wpj = window.work / e.energy_j if e.energy_j and self.metered else None
        trial = Trial(index=index, work=window.work, seconds=window.seconds, rate=window.rate,
                      work_per_joule=wpj, energy=e, telemetry=reading.telemetry,
                      metrics=dict(window.metrics), proof=window.proof,
                      started_unix_s=opened.started_unix_s if opened else None,
                      ended_unix_s=opened.ended_unix_s if opened else None,
                      started_fleet_s=opened.started_fleet_s if opened else None)
        self.trials.append(trial)
        self.windows.append(window)
        return trial


def idle_result(r: Reading) -> Idle:
    e = r.energy
    return Idle(seconds=e.seconds, energy_j=e.energy_j, average_w=e.average_w, method=e.method,
                reason=e.reason, telemetry=r.telemetry)


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(sum(v or 0.0 for v in values))


def _stats(values: list[float | None]) -> Any:
    if not values or any(v is None for v in values):
        return None
    return summarize([v for v in values if v is not None]).to_json()


def _check_proofs(run: PhaseRun) -> None:
    """The workload's proofs must match the models it declares (a bug otherwise)."""
    if run.proof_models is None:
        return
    if run.proof is not None:
        run.proof_models[0].model_validate(run.proof)
    for t in run.trials:
        if t.proof is not None:
            run.proof_models[1].model_validate(t.proof)


def _warnings(run: PhaseRun, cfg: Config) -> list[str]:
    warnings: list[str] = list(dict.fromkeys(run.notes))
    return warnings + [w for w in derived_warnings(run.trials, cfg, run.complete, run.metered, run.warmup, run.load)
                       if w not in warnings]


def derived_warnings(trials: list[Trial], cfg: Config, complete: bool, metered: bool,
                     warmup: Warmup | None, load: Load | None) -> list[str]:
    """The warnings that follow from a phase's trials and record (verify recomputes them; a
    phase's notes, what its workload said of it, come before these)."""
    warnings: list[str] = []
    if not metered:
        warnings.append("the meter read another device than the one doing this work: "
                        "no per-joule figures")
    if not complete:
        warnings.append(f"incomplete: {len(trials)} of {cfg.trials} trial(s) finished")
    if trials:       # a --quick run is short on purpose: it is said once, not per phase
        warnings += stability_warnings(summarize([t.rate for t in trials]), [t.seconds for t in trials],
                                       min_trial_s=0.0 if cfg.quick else MIN_TRIAL_S)
    if warmup is not None and warmup.windows and not warmup.settled and not cfg.quick:
        warnings.append(f"warm-up did not settle within {warmup.max_s:g} s")
    if load is not None and load.shared:
        warnings.append(load.shared)
    energies = [t.energy for t in trials]
    if energies and any(e.energy_j is None for e in energies):
        reason = next((e.reason for e in energies if e.energy_j is None), None)
        warnings.append(f"no energy reading: {reason}")
    for e in energies:
        warnings += [w for w in e.warnings if w not in warnings]
    limited: dict[str, float] = {}
    for t in trials:
        for name, share in (t.telemetry.throttle_share if t.telemetry else {}).items():
            if name in LIMITING:
                limited[name] = max(limited.get(name, 0.0), share)
    if limited:
        warnings.append("clocks limited: " + ", ".join(
            f"{k} in up to {100 * v:.0f} % of samples" for k, v in sorted(limited.items())))
    return warnings


def _energy(run: PhaseRun) -> EnergySummary:
    energies = [t.energy for t in run.trials]
    joules = _sum([e.energy_j for e in energies])
    meter_s = sum(e.seconds for e in energies)
    counter = _sum([e.counter_energy_j for e in energies])
    polled = _sum([e.polled_energy_j for e in energies])
    methods = sorted({e.method for e in energies})
    method = methods[0] if len(methods) == 1 else ("mixed: " + ", ".join(methods) if methods else "none")
    return EnergySummary(
        energy_j=joules, average_w=joules / meter_s if joules is not None and meter_s > 0 else None,
        method=method, reason=next((e.reason for e in energies if e.reason), None),
        counter_energy_j=counter, polled_energy_j=polled,
        gap_pct=100 * (polled - counter) / counter if counter and polled is not None else None)


def _result(run: PhaseRun, cfg: Config) -> WorkloadResult:
    rates = [t.rate for t in run.trials]
    stats = PhaseStats(rate=_stats(list(rates)), work_per_joule=_stats([t.work_per_joule for t in run.trials]),
                       power_w=_stats([t.energy.average_w for t in run.trials]))
    wpj = stats.work_per_joule.median if stats.work_per_joule else None
    return WorkloadResult(
        workload=run.workload, phase=run.phase, unit=run.unit, rate_unit=f"{run.unit}/s",
        device=run.device, backend=run.backend, params=run.all_params, complete=run.complete,
        warmup=run.warmup, trials=run.trials, stats=stats, energy=_energy(run),
        efficiency=Efficiency(work_per_joule=wpj, joules_per_unit=1 / wpj if wpj else None,
                              unit=f"{run.unit}/J"),
        validity=Validity(valid=run.complete and bool(run.trials), warnings=_warnings(run, cfg)),
        metrics=dict(run.metrics), proof=run.proof, compile_s=run.compile_s, load=run.load, binding=run.binding)


def phase_result(run: PhaseRun, cfg: Config, failures: list[Failure]) -> WorkloadResult | None:
    """The phase as a validated model. A proof that does not validate is dropped (and recorded
    as a failure); a phase that still cannot be built becomes a failure: what the other phases
    measured is never lost to it."""
    try:
        _check_proofs(run)
    except ValidationError as exc:
        failures.append(run.failure("proof", exc))
        run.notes.append("its proof of work was malformed and was dropped (a benchhash bug)")
        run.proof = None
        run.trials = [t.model_copy(update={"proof": None}) for t in run.trials]
    try:
        return _result(run, cfg)
    except Exception as exc:  # noqa: BLE001 - e.g. a NaN rate from a broken workload
        failures.append(run.failure("build", exc))
        return None


def build(*, device: Device, config: Config, env: Environment, created_utc: str,
          phases: list[WorkloadResult], failures: list[Failure], idle: Idle | None,
          complete: bool, stopped: str | None, run_id: str | None = None,
          fleet: FleetRank | None = None) -> Result:
    return Result(
        schema_version=SCHEMA_VERSION, methodology_version=METHODOLOGY_VERSION,
        benchhash_version=__version__, run_id=run_id, created_utc=created_utc, finished_utc=utc_now(),
        complete=complete and all(p.complete for p in phases) and not failures,
        stopped=stopped, device=device, environment=env, config=config, idle=idle,
        workloads=list(phases), failures=list(failures), fleet=fleet)
