"""One `benchhash run`: resolve the device, pick the meter, create the workloads with their typed
options, run them, build the result and write it, also when the run is cut short."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchhash import workloads as registry
from benchhash.errors import BenchhashError
from benchhash.hw.device import resolve
from benchhash.hw.provenance import finish, snapshot
from benchhash.meters import make_meter
from benchhash.results import io
from benchhash.results.build import build, utc_now
from benchhash.results.model import Config, Device, Failure, Result
from benchhash.results.paths import output_path
from benchhash.runner import Listener, Runner
from benchhash.workloads.base import Workload

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
    #: every workload flag of the command (threads, gemm_*, llm_*, no_compile): each workload
    #: takes the ones its Options declare
    flags: dict[str, Any] = field(default_factory=dict)

    def config(self, workloads: list[str] | None = None,
               options: dict[str, Any] | None = None) -> Config:
        duration, trials, warmup = QUICK if self.quick else FULL
        return Config.for_run(
            device=self.device, workloads=workloads or [], quick=self.quick, meter=self.meter,
            duration_s=duration if self.duration_s is None else self.duration_s,
            trials=trials if self.trials is None else self.trials,
            warmup_s=warmup if self.warmup_s is None else self.warmup_s,
            idle_s=0.0 if self.idle_s is None else self.idle_s, options=options or {})


@dataclass
class Outcome:
    result: Result
    path: Path
    error: BaseException | None


def plan_seconds(cfg: Config, phases: int) -> float:
    """Upper bound on the measured time, for the overall progress bar."""
    return cfg.idle_s + phases * (cfg.warmup_s + cfg.trials * cfg.duration_s)


def create_all(names: list[str], device: Device,
               flags: dict[str, Any]) -> tuple[list[Workload], list[Failure], dict[str, Any]]:
    """The workloads with their options, checked before anything runs: what the user asked for
    that cannot work here (a bad option, a dtype or backend the device lacks) is a
    BenchhashError, refused up front; an unexpected error in one workload's creation is
    recorded and the others run. Also returns the options as the result records them."""
    loads: list[Workload] = []
    failures: list[Failure] = []
    recorded: dict[str, Any] = {}
    used: set[str] = set()
    for name in names:
        cls = registry.load(name)
        options = cls.options_model.from_flags(flags)
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


def run(req: Request, listener: Listener | None = None) -> Outcome:
    """Validate everything up front (flags, output folder), then measure and write."""
    req.config()                                    # the timing flags, before anything else
    device = resolve(req.device)
    names = registry.parse_names(req.workloads) if req.workloads else registry.defaults(device)
    created = utc_now()
    path = output_path(req.out, device.name, socket.gethostname(), created)
    loads, failures, options = create_all(names, device, req.flags)
    cfg = req.config(names, options)
    if listener is not None:
        for f in failures:
            listener.failed(f)
        listener.plan(plan_seconds(cfg, sum(w.expected_phases() for w in loads)))
    env = snapshot(list(req.command_line), req.notes)
    meter = make_meter(req.meter, device)
    try:
        record = Runner(meter, cfg, listener).run(loads)
        env = finish(env, device, meter.session(), meter.describe())
    finally:
        meter.close()
    result = build(device=device, config=cfg, env=env, created_utc=created, phases=record.phases,
                   failures=failures + record.failures, idle=record.idle,
                   complete=record.complete, stopped=record.stopped)
    written = io.write(result, path)
    return Outcome(result, written, record.error)
