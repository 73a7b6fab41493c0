"""One `benchhash run`: resolve the device, pick the meter, create the workloads with their typed
options, run them, build the result and write it, also when the run is cut short."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchhash import workloads as registry
from benchhash.errors import BenchhashError, InputError, hold_signals
from benchhash.fsutil import cache_dir, os_reason, read_json, write_atomic
from benchhash.hw import power
from benchhash.hw.device import resolve
from benchhash.hw.provenance import finish, snapshot
from benchhash.meters import EnergyMeter, make_meter
from benchhash.results import io, sign
from benchhash.results.build import build
from benchhash.results.model import Config, Device, Environment, Failure, FleetRank, Result, WorkloadResult
from benchhash.results.paths import claim, named_by_user, output_path
from benchhash.runner import CompileTimes, Listener, Runner, RunRecord, Sync
from benchhash.units import utc_now
from benchhash.workloads.base import RunContext, Workload
from benchhash.workloads.options import Setting, options_for

log = logging.getLogger(__name__)

#: (duration_s, trials, warmup_s) of a --quick run and of a full one.
QUICK = (2.0, 3, 1.0)
FULL = (10.0, 3, 10.0)


@dataclass
class Request:
    """A `benchhash run` as the user asked for it (None: not given, the default applies)."""

    device: str = "auto"
    workloads: str | None = None
    duration_s: float | None = None
    trials: int | None = None
    warmup_s: float | None = None
    idle_s: float | None = None
    quick: bool = False
    out: str | None = None
    notes: str | None = None
    meter: str = "auto"
    command_line: tuple[str, ...] = ()
    force: bool = False                         # overwrite an --out FILE that exists
    fleet_timeout_s: float = 300.0              # how long a fleet waits for a late rank
    power_limits: power.Levels | None = None    # --power-limits, parsed (None: the limit is not changed)
    #: every workload flag of the command (threads, gemm_*, llm_*, no_compile): each workload
    #: takes the ones its Options declare (aliases of those options)
    flags: dict[str, Any] = field(default_factory=dict)
    #: --opt WORKLOAD.NAME=VALUE, each checked against its workload's Options when it is loaded
    settings: tuple[Setting, ...] = ()

    def config(self, workloads: list[str] | None = None,
               options: dict[str, Any] | None = None, power_limits_w: list[float] | None = None) -> Config:
        duration, trials, warmup = QUICK if self.quick else FULL
        return Config.for_run(
            device=self.device, workloads=workloads or [], quick=self.quick, meter=self.meter,
            duration_s=duration if self.duration_s is None else self.duration_s,
            trials=trials if self.trials is None else self.trials,
            warmup_s=warmup if self.warmup_s is None else self.warmup_s,
            idle_s=0.0 if self.idle_s is None else self.idle_s, options=options or {},
            power_limits_w=power_limits_w or [])


#: where a result went when no file could take it
STDOUT = Path("-")


@dataclass
class Outcome:
    result: Result
    path: Path
    error: BaseException | None
    #: set when the result could not go where it was asked to, and went here instead
    fallback: str | None = None
    #: a fleet's rank 0: the fleet file it wrote
    fleet_file: Path | None = None

    @property
    def on_stdout(self) -> bool:
        """The result could be written nowhere and was printed on stdout instead."""
        return self.path == STDOUT


def plan_seconds(cfg: Config, phases: int) -> float:
    """Upper bound on the measured time, for the overall progress bar."""
    return cfg.idle_s + phases * (cfg.warmup_s + cfg.trials * cfg.duration_s)


def _settings_of(names: list[str], settings: tuple[Setting, ...]) -> dict[str, list[Setting]]:
    """The --opt settings by workload; one for a workload benchhash does not know is refused, one
    for a workload this run does not measure has no effect (said)."""
    known = registry.registry()
    by_name: dict[str, list[Setting]] = {n: [] for n in names}
    for s in settings:
        if s.workload not in known:
            raise InputError(f"{s.text}: unknown workload {s.workload!r}; known: {', '.join(known)}")
        if s.workload not in by_name:
            log.warning("%s has no effect: this run does not measure %s", s.text, s.workload)
            continue
        by_name[s.workload].append(s)
    return by_name


def create_all(names: list[str], device: Device, flags: dict[str, Any], settings: tuple[Setting, ...] = ()
               ) -> tuple[list[Workload], list[Failure], dict[str, Any]]:
    """The workloads with their options (the command's flags, aliases of the options of the same
    name, and each workload's --opt settings), checked before anything runs: what the user asked
    for that cannot work here (a bad option, a dtype or backend the device lacks) is a
    BenchhashError, refused up front; an unexpected error in one workload's creation is
    recorded and the others run. Also returns the options as the result records them."""
    loads: list[Workload] = []
    failures: list[Failure] = []
    recorded: dict[str, Any] = {}
    used: set[str] = set()
    by_name = _settings_of(names, settings)
    for name in names:
        cls = registry.load(name)
        options = options_for(name, cls.options_model, flags, by_name[name])
        used |= set(cls.options_model.model_fields)
        recorded.update(options.recorded())
        try:
            loads.append(cls(device, options))
        except BenchhashError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one workload must not stop the run
            failures.append(Failure.of(name, None, "create", exc))
    for flag, value in flags.items():
        if flag not in used and value not in (None, False):
            log.warning("--%s has no effect: no workload of this run takes it", flag.replace("_", "-"))
    return loads, failures, recorded


class Checkpoint(Listener):
    """Passes the run's events on, and after every phase rewrites the result file (atomically)
    with what is measured so far: a kill or a power cut loses at most the phase in progress."""

    STOPPED = "checkpoint: the run did not finish (killed, or the machine stopped)"

    def __init__(self, inner: Listener | None, path: Path, partial: Callable[[], Result]) -> None:
        self.inner, self.path, self.partial = inner or Listener(), path, partial
        self.broken: str | None = None

    def plan(self, seconds: float) -> None:
        self.inner.plan(seconds)

    def stage(self, label: str, seconds: float) -> None:
        self.inner.stage(label, seconds)

    def compiling(self, label: str, last_s: float | None) -> None:
        self.inner.compiling(label, last_s)

    def failed(self, failure: Failure) -> None:
        self.inner.failed(failure)

    def finished(self, result: WorkloadResult) -> None:
        self.inner.finished(result)
        if self.broken is not None:
            return
        try:
            io.write(self.partial(), self.path)
        except OSError as exc:
            self.broken = os_reason(exc)
            log.warning("cannot checkpoint to %s (%s); the result is written at the end", self.path, self.broken)


class CachedCompileTimes(CompileTimes):
    """The last compile's seconds per device and phase, in benchhash's cache: what the progress
    shows while the next one compiles. A file that cannot be read or written costs only that."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "compile-seconds.json"

    def _all(self) -> dict[str, Any]:
        try:
            data = read_json(self.path, "compile times")
        except BenchhashError as exc:
            log.debug("%s", exc)
            return {}
        return data if isinstance(data, dict) else {}

    def last(self, key: str) -> float | None:
        value = self._all().get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e6:
            return float(value)
        return None

    def record(self, key: str, seconds: float) -> None:
        data = {**self._all(), key: round(seconds, 3)}
        try:
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            log.debug("cannot keep the compile time in %s: %s", self.path, os_reason(exc))


def fallback_path(path: Path) -> Path:
    """Where a result goes when its own folder cannot take it: the user's cache."""
    return cache_dir() / "results" / path.name


def write_final(result: Result, path: Path) -> tuple[Path, str | None]:
    """Write the sealed result to ``path``; if that fails (a full disk, a read-only or vanished
    folder), to the user's cache instead, and failing that, as JSON on stdout. Returns where it
    went and, when that is not ``path``, why."""
    try:
        return io.write(result, path), None
    except OSError as exc:
        why = f"cannot write {path} ({os_reason(exc)})"
    spare = fallback_path(path)
    try:
        written = io.write(result, spare)
        return written, f"{why}; the result was written to {written} instead"
    except OSError as exc:
        sys.stdout.write(io.dumps(io.seal(result)))
        return STDOUT, f"{why}, nor to {spare} ({os_reason(exc)}); the result is on stdout"


@dataclass
class Plan:
    """Where and how this process measures: alone, or as one rank of a fleet (fleet/run.py)."""

    device: Device
    ctx: RunContext
    path: Path
    named: bool                       # the user named the file (never overwritten without --force)
    meter: Callable[[], EnergyMeter]
    sync: Sync | None = None
    fleet: FleetRank | None = None


def solo_plan(req: Request) -> Plan:
    device = resolve(req.device)
    created = utc_now()
    ctx = RunContext(secrets.token_hex(16), created, socket.gethostname(), device.name, device.pci_bus_id)
    path = output_path(req.out, device.name, ctx.host, created)
    return Plan(device, ctx, path, named_by_user(req.out), lambda: make_meter(req.meter, device))


def run(req: Request, listener: Listener | None = None, sign_key: Any = None,
        plan: Plan | None = None) -> Outcome:
    """Validate everything up front (flags, output folder, power limits), then measure and
    write: a first checkpoint takes the file's name before anything runs, one follows every
    phase, and the sealed (and, with ``sign_key``, signed) result replaces the last. A GPU
    power limit changed for the run is put back however it ends."""
    req.config()                                    # the timing flags, before anything else
    plan = plan or solo_plan(req)
    power.recover()             # a limit a killed run left changed is put back before anything
    with power.capped(plan.device, req.power_limits) as caps:
        return _measure(req, plan, caps, listener, sign_key)


def _metered(req: Request, plan: Plan) -> tuple[EnergyMeter, RunContext, Environment]:
    """The run's meter, and the context and environment that name it from the first checkpoint
    on: every phase is bound to the meter, host and device exactly as the file records them."""
    meter = plan.meter()
    try:
        env = snapshot(list(req.command_line), req.notes).model_copy(update={"meter": meter.describe()})
    except BaseException:
        meter.close()
        raise
    return meter, replace(plan.ctx, meter=meter.name, host=env.host, device=plan.device.name,
                          pci_bus_id=plan.device.pci_bus_id), env


def _measure(req: Request, plan: Plan, caps: power.Caps, listener: Listener | None,
             sign_key: Any) -> Outcome:
    device = plan.device
    names = registry.parse_names(req.workloads) if req.workloads else registry.defaults(device)
    loads, failures, options = create_all(names, device, req.flags, req.settings)
    levels = [w for w in caps.levels if w is not None]
    cfg = req.config(names, options, levels)
    meter, ctx, env = _metered(req, plan)
    for w in loads:
        w.context = ctx
    so_far = RunRecord()

    def partial() -> Result:
        return build(device=device, config=cfg, env=env, created_utc=ctx.created_utc, phases=so_far.phases,
                     failures=failures + so_far.failures, idle=so_far.idle, complete=False,
                     stopped=Checkpoint.STOPPED, run_id=ctx.run_id, fleet=plan.fleet)

    try:
        path = claim(plan.path, io.dumps(io.seal(partial())), named=plan.named, force=req.force)
        if listener is not None:
            for f in failures:
                listener.failed(f)
            phases = sum(w.expected_phases() for w in loads) * len(caps.levels)
            listener.plan(plan_seconds(cfg, phases) + phases * caps.settle_s(levels[0] if levels else None))
        record = Runner(meter, cfg, Checkpoint(listener, path, partial), record=so_far, sync=plan.sync,
                        caps=caps, compile_times=CachedCompileTimes()).run(loads)
    except BaseException:
        meter.close()
        raise
    with hold_signals() as held:        # measuring is over: a signal now waits for the file
        try:
            env = finish(env, device, meter.session(), meter.describe())
        finally:
            meter.close()
        result = build(device=device, config=cfg, env=env, created_utc=ctx.created_utc, phases=record.phases,
                       failures=failures + record.failures, idle=record.idle, complete=record.complete,
                       stopped=record.stopped, run_id=ctx.run_id, fleet=plan.fleet)
        if sign_key is not None:
            result = result.model_copy(update={"signature": sign.sign_digest(sign_key, io.digest_of(io.seal(result)))})
        written, note = write_final(result, path)
    return Outcome(result, written, record.error or held.error, note)
