"""The runner: idle baseline, then per workload phase a bounded warm-up and N timed trials,
each trial inside one energy-meter window. It knows workloads only through workloads.base.

Interrupts (Ctrl-C) and errors stop the run where it is; the finished trials are returned with
``complete = False`` so that nothing measured is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from benchhash.errors import InputError
from benchhash.meters.base import EnergyMeter, Reading
from benchhash.workloads.base import Phase, Window, Workload

#: Warm-up is settled when the last two windows' rates (and mean power, where polled) agree
#: this closely.
SETTLE_RATE = 0.02
SETTLE_POWER = 0.03
#: A failure's message is cut to this many characters (compiler logs can be megabytes).
MAX_MESSAGE = 600


@dataclass
class RunConfig:
    duration_s: float = 10.0
    trials: int = 3
    warmup_s: float = 10.0     # upper bound; warm-up ends earlier once settled
    idle_s: float = 0.0

    def check(self) -> None:
        if not 0 < self.duration_s <= 86_400:
            raise InputError(f"--duration must be more than 0 and at most 86400 s, got {self.duration_s:g}")
        if not 1 <= self.trials <= 1000:
            raise InputError(f"--trials must be between 1 and 1000, got {self.trials}")
        if not 0 <= self.warmup_s <= 3600:
            raise InputError(f"--warmup must be between 0 and 3600 s, got {self.warmup_s:g}")
        if not 0 <= self.idle_s <= 3600:
            raise InputError(f"--idle must be between 0 and 3600 s, got {self.idle_s:g}")


@dataclass
class Trial:
    index: int
    window: Window
    energy: Reading


@dataclass
class Warmup:
    max_s: float
    seconds: float = 0.0
    settled: bool = False
    windows: list[dict[str, float | None]] = field(default_factory=list)


@dataclass
class Failure:
    """What went wrong, where: the run records it and goes on with the next phase or workload."""

    workload: str
    phase: str | None
    stage: str
    error: str
    message: str

    @classmethod
    def of(cls, workload: str, phase: str | None, stage: str, exc: BaseException) -> Failure:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return cls(workload, phase, stage, type(exc).__name__, text[:MAX_MESSAGE])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PhaseRecord:
    workload: str
    phase: str
    unit: str
    device: str
    backend: str | None
    params: dict[str, Any]
    warmup: Warmup | None = None
    trials: list[Trial] = field(default_factory=list)
    proof: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    compile_s: float | None = None
    notes: list[str] = field(default_factory=list)   # said in the result's warnings
    metered: bool = True                              # the meter reads the device doing the work
    stage: str = "compile"                            # where the phase is (for a failure)


@dataclass
class RunRecord:
    idle: Reading | None = None
    phases: list[PhaseRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    complete: bool = False
    stopped: str | None = None          # why the run ended early
    error: BaseException | None = None  # re-raised by the caller after the file is written


class Listener:
    """Progress hooks; the CLI draws bars from them, tests record them."""

    def plan(self, seconds: float) -> None:
        """The run's expected length, once the workloads are known."""

    def stage(self, label: str, seconds: float) -> None:
        """A timed stage begins (idle, warm-up, trial)."""

    def finished(self, record: PhaseRecord) -> None:
        """A phase finished its trials."""

    def failed(self, failure: Failure) -> None:
        """A workload or phase failed; the run goes on with the next one."""


def _rel_change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or max(abs(a), abs(b)) == 0:
        return None
    return abs(a - b) / max(abs(a), abs(b))


class Runner:
    def __init__(self, meter: EnergyMeter, config: RunConfig,
                 listener: Listener | None = None) -> None:
        config.check()
        self.meter = meter
        self.config = config
        self.listener = listener or Listener()
        self.stop = threading.Event()

    def _window(self, workload: Workload, fn: Callable[[], Window]) -> tuple[Window, Reading]:
        workload.synchronize()
        self.meter.begin()
        window = fn()
        workload.synchronize()
        return window, self.meter.end()

    def idle(self) -> Reading:
        self.listener.stage("idle baseline", self.config.idle_s)
        self.meter.begin()
        self.stop.wait(self.config.idle_s)
        return self.meter.end()

    def warm_up(self, workload: Workload, phase: Phase) -> Warmup:
        cfg = self.config
        w = Warmup(max_s=cfg.warmup_s)
        if cfg.warmup_s <= 0:
            return w
        length = min(2.0, max(0.25, cfg.warmup_s / 5))
        self.listener.stage(f"{workload.name} {phase.name} warm-up", cfg.warmup_s)
        t_start = time.monotonic()
        while time.monotonic() - t_start + length <= cfg.warmup_s + 1e-6 or not w.windows:
            window, reading = self._window(workload, lambda: phase.run(length, self.stop, None))
            power = reading.telemetry.power_w_mean if reading.telemetry else None
            w.windows.append({"seconds": window.seconds, "rate": window.rate, "power_w": power})
            if len(w.windows) >= 2:
                a, b = w.windows[-2], w.windows[-1]
                rate_ok = (_rel_change(a["rate"], b["rate"]) or 0.0) < SETTLE_RATE
                dp = _rel_change(a["power_w"], b["power_w"])
                if rate_ok and (dp is None or dp < SETTLE_POWER):
                    w.settled = True
                    break
        w.seconds = time.monotonic() - t_start
        return w

    def compile(self, workload: Workload, phase: Phase, record: PhaseRecord) -> None:
        """The phase's compile/capture step, timed on its own, before any energy window."""
        record.stage = "compile"
        self.listener.stage(f"{workload.name} {phase.name} compile", 0.0)
        t0 = time.monotonic()
        did = phase.compile()
        workload.synchronize()
        if did:
            record.compile_s = time.monotonic() - t0
        record.params = phase.params()

    def measure(self, workload: Workload, phase: Phase, record: PhaseRecord) -> None:
        cfg = self.config
        record.stage = "warmup"
        record.warmup = self.warm_up(workload, phase)
        last = record.warmup.windows[-1]["rate"] if record.warmup.windows else None
        phase.prepare(last, cfg.duration_s)
        record.params = phase.params()
        record.stage = "trial"
        for i in range(cfg.trials):
            self.listener.stage(f"{workload.name} {phase.name} trial {i + 1}/{cfg.trials}",
                                cfg.duration_s)
            window, reading = self._window(workload, lambda: phase.run(cfg.duration_s, self.stop, i))
            record.trials.append(Trial(i, window, reading))
        record.complete = True

    def _fail(self, out: RunRecord, failure: Failure) -> None:
        out.failures.append(failure)
        self.listener.failed(failure)

    def _guarded(self, out: RunRecord, record: PhaseRecord, stage: str,
                 fn: Callable[[], Any]) -> Any:
        """fn(), or None with the failure recorded: what is already measured stays."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - recorded with the phase, the run goes on
            self._fail(out, Failure.of(record.workload, record.phase, stage, exc))
            return None

    def run_phase(self, workload: Workload, phase: Phase, out: RunRecord) -> None:
        record = PhaseRecord(workload.name, phase.name, phase.unit, workload.device_name(),
                             workload.backend(), {}, notes=list(workload.notes()),
                             metered=workload.metered())
        out.phases.append(record)
        try:
            record.params = phase.params()
            self.compile(workload, phase, record)
            self.measure(workload, phase, record)
        except Exception as exc:  # noqa: BLE001 - the failure stays with this phase
            self._fail(out, Failure.of(workload.name, phase.name, record.stage, exc))
        finally:
            record.device = self._guarded(out, record, "summary", workload.device_name) \
                or record.device
            record.backend = self._guarded(out, record, "summary", workload.backend)
            record.notes += self._guarded(out, record, "summary", phase.notes) or []
            record.proof = self._guarded(out, record, "proof", phase.proof_context)
            if record.trials:
                windows = [t.window for t in record.trials]
                record.metrics = self._guarded(out, record, "summary",
                                               lambda: phase.summary(windows)) or {}
            self._guarded(out, record, "teardown", phase.close)
        self.listener.finished(record)

    def run_workload(self, workload: Workload, out: RunRecord) -> None:
        try:
            workload.setup()
            phases = workload.phases()
        except Exception as exc:  # noqa: BLE001 - this workload cannot run; the others can
            self._fail(out, Failure.of(workload.name, None, "setup", exc))
            phases = []
        try:
            for phase in phases:
                self.run_phase(workload, phase, out)
        finally:
            try:
                workload.teardown()
            except Exception as exc:  # noqa: BLE001
                self._fail(out, Failure.of(workload.name, None, "teardown", exc))

    def run(self, workloads: list[Workload]) -> RunRecord:
        """Measure every phase of every workload. A failing workload or phase is recorded (with
        what it had measured) and the run goes on; Ctrl-C or a failure of the run itself (the
        meter) ends it early, recorded as ``stopped`` and ``error``. Never raises."""
        out = RunRecord()
        try:
            self.meter.start()
            if self.config.idle_s > 0:
                out.idle = self.idle()
            for workload in workloads:
                self.run_workload(workload, out)
            out.complete = True
        except KeyboardInterrupt as exc:
            self.stop.set()
            out.stopped, out.error = "interrupted (Ctrl-C)", exc
        except BaseException as exc:  # noqa: BLE001 - recorded, re-raised by the caller
            self.stop.set()
            out.stopped, out.error = f"error: {exc}", exc
        return out
