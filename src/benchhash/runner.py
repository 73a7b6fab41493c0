"""The runner: idle baseline, then per workload phase a compile step, a bounded warm-up and N timed
trials, each trial inside one energy-meter window. It knows workloads only through
workloads.base, and builds the result's own models as it goes: each trial is a validated
``Trial`` the moment its window closes, each phase a validated ``WorkloadResult`` the moment it
ends, so what was measured is never lost to a failure in a later step. Each phase also records
how busy the machine was (its load average before and after, and who used the CPUs during its
trials: hw/load.py), since a rate measured on a shared machine is not the device's alone.

A workload or phase that fails is recorded (``Failure``) and the run goes on; Ctrl-C, or a
failure of the run itself (the meter), stops it where it is, with ``complete = False``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchhash.errors import FleetBroken, FleetMovedOn, hold_signals
from benchhash.hw.load import Probe, phase_load
from benchhash.hw.power import Caps, PowerLimitError
from benchhash.meters.base import EnergyMeter
from benchhash.results.build import Opened, PhaseRun, idle_result, phase_result
from benchhash.results.model import (
    Config,
    Failure,
    Idle,
    Load,
    Reading,
    Warmup,
    WarmupWindow,
    WorkloadResult,
)
from benchhash.workloads.base import Phase, Window, Workload

#: Warm-up is settled when the last two windows' rates (and mean power, where polled) agree
#: this closely.
SETTLE_RATE = 0.02
SETTLE_POWER = 0.03


class Clock:
    """Time as the runner sees it; tests pass one that does not sleep."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> None:
        event.wait(seconds)


@dataclass
class RunRecord:
    idle: Idle | None = None
    phases: list[WorkloadResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    complete: bool = False
    stopped: str | None = None          # why the run ended early
    error: BaseException | None = None  # re-raised by the caller after the file is written


#: (workload, phase[, power level]) in the plan: every rank meets at the same ones
Position = tuple[int, ...]


class Sync:
    """How a rank keeps in step with the others of a fleet (fleet/lockstep.py); alone, every
    meeting is with itself and nothing waits.

    A meeting is at a phase's start (kind "boundary") or before a window ("window"); each rank
    brings flags and gets every rank's. When one rank could not run a phase, the others leave it
    at their next meeting (FleetMovedOn), so every rank stays at the same point of the plan."""

    def meet(self, kind: str, label: str, position: Position,
             flags: tuple[bool, ...] = ()) -> list[tuple[bool, ...]]:
        return [flags]

    def open(self) -> None:
        """Wait for the instant every rank opens its next window (alone: now)."""

    def clock(self) -> float | None:
        """This instant on rank 0's clock (None alone)."""
        return None


class Listener:
    """Progress hooks; the CLI draws bars from them, tests record them."""

    def plan(self, seconds: float) -> None:
        """The run's expected length, once the workloads are known."""

    def stage(self, label: str, seconds: float) -> None:
        """A stage begins (idle, warm-up, trial, power limit) and how long it is planned to take."""

    def compiling(self, label: str, last_s: float | None) -> None:
        """A phase's compile begins: its length is not planned; ``last_s`` is how long the
        last compile of this phase took (None: not known)."""
        self.stage(label, 0.0)

    def finished(self, result: WorkloadResult) -> None:
        """A phase ended; its result is built."""

    def failed(self, failure: Failure) -> None:
        """A workload or phase failed; the run goes on with the next one."""


class CompileTimes:
    """How long each phase's compile took the last time, for the next one's progress; this one
    remembers nothing (a run keeps them in benchhash's cache: session.CachedCompileTimes)."""

    def last(self, key: str) -> float | None:
        return None

    def record(self, key: str, seconds: float) -> None:
        """A compile was just timed."""


def _rel_change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or max(abs(a), abs(b)) == 0:
        return None
    return abs(a - b) / max(abs(a), abs(b))


def _settled(a: WarmupWindow, b: WarmupWindow) -> bool:
    rate_ok = (_rel_change(a.rate, b.rate) or 0.0) < SETTLE_RATE
    dp = _rel_change(a.power_w, b.power_w)
    return rate_ok and (dp is None or dp < SETTLE_POWER)


class Runner:
    def __init__(self, meter: EnergyMeter, config: Config, listener: Listener | None = None,
                 clock: Clock | None = None, record: RunRecord | None = None,
                 sync: Sync | None = None, caps: Caps | None = None, probe: Probe | None = None,
                 compile_times: CompileTimes | None = None) -> None:
        self.meter = meter
        self.probe = probe or Probe()
        self.compile_times = compile_times or CompileTimes()
        self.caps = caps or Caps()
        self.config = config
        self.listener = listener or Listener()
        self.clock = clock or Clock()
        self.sync = sync or Sync()
        self.stop = threading.Event()
        #: filled as the run goes (a caller may pass its own, to read it meanwhile)
        self.record = record if record is not None else RunRecord()

    def _window(self, workload: Workload, fn: Callable[[], Window]) -> tuple[Window, Reading, Opened]:
        workload.synchronize()
        self.meter.begin()
        opened = Opened(time.time(), self.sync.clock())
        window = fn()
        workload.synchronize()
        reading = self.meter.end()
        opened.ended_unix_s = time.time()
        return window, reading, opened

    def idle(self) -> Idle:
        self.listener.stage("idle baseline", self.config.idle_s)
        self.meter.begin()
        self.clock.wait(self.stop, self.config.idle_s)
        return idle_result(self.meter.end())

    def warm_up(self, workload: Workload, phase: Phase, position: Position) -> Warmup:
        cfg = self.config
        w = Warmup(max_s=cfg.warmup_s, seconds=0.0, settled=False, windows=[])
        if cfg.warmup_s <= 0:
            return w
        length = min(2.0, max(0.25, cfg.warmup_s / 5))
        label = f"{workload.name} {phase.name} warm-up"
        self.listener.stage(label, cfg.warmup_s)
        t_start = self.clock.now()
        settled = False
        while True:
            time_left = self.clock.now() - t_start + length <= cfg.warmup_s + 1e-6 or not w.windows
            # in a fleet: go on while every rank has time and not every rank has settled
            flags = self.sync.meet("window", label, position, (time_left, settled))
            if not all(f[0] for f in flags) or all(f[1] for f in flags):
                break
            self.sync.open()
            window, reading, _ = self._window(workload, lambda: phase.run(length, self.stop, None))
            power = reading.telemetry.power_w_mean if reading.telemetry else None
            w.windows.append(WarmupWindow(seconds=window.seconds, rate=window.rate, power_w=power))
            settled = settled or (len(w.windows) >= 2 and _settled(w.windows[-2], w.windows[-1]))
        w.settled = settled
        w.seconds = self.clock.now() - t_start
        return w

    def compile(self, workload: Workload, phase: Phase, run: PhaseRun) -> None:
        """The phase's compile/capture step, timed on its own, before any energy window."""
        run.stage = "compile"
        key = f"{run.device}: {workload.name} {phase.name}"
        self.listener.compiling(f"{workload.name} {phase.name} compile", self.compile_times.last(key))
        t0 = self.clock.now()
        did = phase.compile()
        workload.synchronize()
        if did:
            run.compile_s = self.clock.now() - t0
            self.compile_times.record(key, run.compile_s)
        run.params = phase.params()

    def measure(self, workload: Workload, phase: Phase, run: PhaseRun, position: Position) -> None:
        cfg = self.config
        run.stage = "warmup"
        run.warmup = self.warm_up(workload, phase, position)
        last = run.warmup.windows[-1].rate if run.warmup.windows else None
        phase.prepare(last, cfg.duration_s)
        run.params = phase.params()
        run.stage = "trial"
        start = self.probe.cpu_times()
        try:
            for i in range(cfg.trials):
                label = f"{workload.name} {phase.name} trial {i + 1}/{cfg.trials}"
                self.listener.stage(label, cfg.duration_s)
                self.sync.meet("window", label, position)
                self.sync.open()
                window, reading, opened = self._window(
                    workload, lambda i=i: phase.run(cfg.duration_s, self.stop, i))  # type: ignore[misc]
                run.add_trial(i, window, reading, opened)
        finally:
            run.load = phase_load(self.probe, run.load, start)
        run.complete = True

    def _fail(self, out: RunRecord, failure: Failure) -> None:
        out.failures.append(failure)
        self.listener.failed(failure)

    def _guarded(self, out: RunRecord, run: PhaseRun, stage: str, fn: Callable[[], Any]) -> Any:
        """fn(), or None with the failure recorded: what is already measured stays."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - recorded with the phase, the run goes on
            self._fail(out, run.failure(stage, exc))
            return None

    def run_phase(self, workload: Workload, phase: Phase, out: RunRecord, position: Position = (0, 0)) -> None:
        """The phase at each power level of the run (one, untouched, unless --power-limits): it
        compiles once, then at every level is warmed up and measured as a phase of its own."""
        compiled = False
        try:
            for k, cap in enumerate(self.caps.levels):
                where = position if cap is None and len(self.caps.levels) == 1 else (*position, k)
                compiled = self._run_at(workload, phase, out, where, cap, compiled)
                if not compiled:
                    break               # it did not compile: no other level can run it either
        finally:
            with hold_signals() as held:
                try:
                    phase.close()
                except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                    self._fail(out, Failure.of(workload.name, phase.name, "teardown", exc))
            if held.error is not None:
                raise held.error

    def _run_at(self, workload: Workload, phase: Phase, out: RunRecord, position: Position,
                cap: float | None, compiled: bool) -> bool:
        """One level of the phase, its result built whatever happens; whether it compiled."""
        run = PhaseRun(workload.name, phase.name, phase.unit, workload.device_name(),
                       workload.backend(), notes=list(workload.notes()),
                       metered=workload.metered(), proof_models=workload.proof_models, power_limit_w=cap,
                       load=Load(load_avg_1m_before=self.probe.load_average()), workload_version=workload.version)
        stopping: BaseException | None = None
        try:
            if compiled:            # before its compile, asking may compile (sha256d's CPU kernel)
                run.params = phase.params()
            run.stage = "fleet"
            self.sync.meet("boundary", run.label, position)
            if not compiled:
                self.compile(workload, phase, run)
                compiled = True
            run.params = phase.params()
            self.set_cap(run, cap)
            if cap is not None:
                phase.rebind(run.label)
            run.binding = workload.context.binding(run.label) if workload.context else None
            self.measure(workload, phase, run, position)
        except (FleetBroken, KeyboardInterrupt) as exc:
            stopping = exc         # the run stops (the fleet broke, or a signal): what was measured stays
        except PowerLimitError as exc:
            self._fail(out, run.failure(run.stage, exc))
            stopping = exc         # measuring on at a limit not set would mislabel every phase
        except Exception as exc:  # noqa: BLE001 - the failure stays with this phase
            self._fail(out, run.failure(run.stage, exc))
            if isinstance(exc, FleetMovedOn):
                compiled = False    # the fleet left the phase: every rank leaves all its levels
        with hold_signals() as held:       # a signal now would lose the phase: it waits
            run.device = self._guarded(out, run, "summary", workload.device_name) or run.device
            run.backend = self._guarded(out, run, "summary", workload.backend)
            run.notes += self._guarded(out, run, "summary", phase.notes) or []
            run.proof = self._guarded(out, run, "proof", phase.proof_context)
            if run.trials:
                windows = run.windows
                run.metrics = self._guarded(out, run, "summary", lambda: phase.summary(windows)) or {}
            self._finish(run, out)
        stopping = stopping or held.error
        if stopping is not None:
            raise stopping
        return compiled

    def set_cap(self, run: PhaseRun, cap: float | None) -> None:
        """Set the phase's power level and give the clocks a moment before its warm-up."""
        if cap is None:
            return
        run.stage = "power limit"
        self.listener.stage(f"{run.label}: setting the power limit", self.caps.settle_s(cap))
        self.caps.apply(cap)
        self.clock.wait(self.stop, self.caps.settle_s(cap))
        enforced = self.caps.enforced_w(cap)        # read after settling: the driver applies it late
        if enforced is not None and abs(enforced - cap) > 1:
            run.notes.append(f"asked for a {cap:g} W power limit; NVML enforced {enforced:g} W")

    def _finish(self, run: PhaseRun, out: RunRecord) -> None:
        """The phase's result, built and validated now; a phase that failed before measuring
        anything is told by its failure alone."""
        if not run.trials and any(f.workload == run.workload and f.phase == run.phase
                                  and f.power_limit_w == run.power_limit_w for f in out.failures):
            return
        failures: list[Failure] = []
        result = phase_result(run, self.config, failures)
        for f in failures:
            self._fail(out, f)
        if result is not None:
            out.phases.append(result)
            self.listener.finished(result)

    def run_workload(self, workload: Workload, out: RunRecord, index: int = 0) -> None:
        try:
            workload.setup()
            phases = workload.phases()
        except Exception as exc:  # noqa: BLE001 - this workload cannot run; the others can
            self._fail(out, Failure.of(workload.name, None, "setup", exc))
            phases = []
        try:
            for i, phase in enumerate(phases):
                self.run_phase(workload, phase, out, (index, i))
        finally:
            try:
                workload.teardown()
            except Exception as exc:  # noqa: BLE001
                self._fail(out, Failure.of(workload.name, None, "teardown", exc))

    def run(self, workloads: list[Workload]) -> RunRecord:
        """Measure every phase of every workload. A failing workload or phase is recorded (with
        what it had measured) and the run goes on; Ctrl-C or a failure of the run itself (the
        meter) ends it early, recorded as ``stopped`` and ``error``. Never raises."""
        out = self.record
        try:
            self.meter.start()
            if self.config.idle_s > 0:
                self.sync.meet("boundary", "idle baseline", (-1, 0))
                out.idle = self.idle()
            for i, workload in enumerate(workloads):
                self.run_workload(workload, out, i)
            self.sync.meet("boundary", "end", (len(workloads), 0))
            out.complete = True
        except KeyboardInterrupt as exc:
            self.stop.set()
            out.stopped, out.error = f"interrupted ({getattr(exc, 'name', 'Ctrl-C')})", exc
        except BaseException as exc:  # noqa: BLE001 - recorded, re-raised by the caller
            self.stop.set()
            out.stopped, out.error = f"error: {exc}", exc
        return out
