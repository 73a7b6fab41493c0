"""One `benchhash run`: resolve the device, pick the meter, create the workloads, run them,
build the result and write it, also when the run is cut short."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchhash import workloads as registry
from benchhash.device import Device, resolve
from benchhash.meters import make_meter
from benchhash.provenance import environment, gpus
from benchhash.results import io
from benchhash.results.build import build, finish_gpus, utc_now
from benchhash.results.paths import output_path
from benchhash.results.schema import Result
from benchhash.errors import BenchhashError
from benchhash.runner import Failure, Listener, RunConfig, Runner
from benchhash.workloads.base import Workload

QUICK = RunConfig(duration_s=2.0, trials=3, warmup_s=1.0, idle_s=0.0)
FULL = RunConfig(duration_s=10.0, trials=3, warmup_s=10.0, idle_s=0.0)


@dataclass
class Request:
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
    threads: int | None = None
    command_line: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)   # workload options (gemm_*, llm_*)

    def config(self) -> RunConfig:
        base = QUICK if self.quick else FULL
        cfg = RunConfig(
            duration_s=base.duration_s if self.duration_s is None else self.duration_s,
            trials=base.trials if self.trials is None else self.trials,
            warmup_s=base.warmup_s if self.warmup_s is None else self.warmup_s,
            idle_s=base.idle_s if self.idle_s is None else self.idle_s,
        )
        cfg.check()
        return cfg


@dataclass
class Outcome:
    result: Result
    path: Path
    error: BaseException | None


def plan_seconds(cfg: RunConfig, phases: int) -> float:
    """Upper bound on the measured time, for the overall progress bar."""
    return cfg.idle_s + phases * (cfg.warmup_s + cfg.trials * cfg.duration_s)


def create_all(names: list[str], device: Device,
               options: dict[str, Any]) -> tuple[list[Workload], list[Failure]]:
    """The workloads, checked before anything runs: what the user asked for that cannot work
    here (a bad option, a dtype or backend the device lacks) is a BenchhashError, refused up
    front; an unexpected error in one workload's creation is recorded and the others run."""
    loads: list[Workload] = []
    failures: list[Failure] = []
    for name in names:
        try:
            loads.append(registry.create(name, device, options))
        except BenchhashError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one workload must not stop the run
            failures.append(Failure.of(name, None, "create", exc))
    return loads, failures


def run(req: Request, listener: Listener | None = None) -> Outcome:
    """Validate everything up front (flags, output folder), then measure and write."""
    cfg = req.config()
    device: Device = resolve(req.device)
    names = registry.parse_names(req.workloads) if req.workloads else registry.defaults(device)
    if req.threads is not None and req.threads < 1:
        from benchhash.errors import InputError
        raise InputError(f"--threads must be at least 1, got {req.threads}")
    created = utc_now()
    host = socket.gethostname()
    path = output_path(req.out, device.name, host, created)
    # None means "not given"; 0 and False are values and are passed on as such
    options: dict[str, Any] = {k: v for k, v in req.options.items() if v is not None}
    if req.threads:
        options["threads"] = req.threads
    loads, failures = create_all(names, device, options)
    if listener is not None:
        for f in failures:
            listener.failed(f)
        listener.plan(plan_seconds(cfg, sum(w.expected_phases() for w in loads)))
    env = environment(list(req.command_line), req.notes)
    meter = make_meter(req.meter, device)
    runner = Runner(meter, cfg, listener)
    try:
        record = runner.run(loads)
        record.failures[:0] = failures
        session = meter.session()
        env["meter"] = meter.describe()
    finally:
        meter.close()
    after, _ = gpus() if env["gpus"] else ([], None)
    env["gpus"] = finish_gpus(env["gpus"], after, device, session)
    config_json = {"device": req.device, "workloads": names, "duration_s": cfg.duration_s,
                   "trials": cfg.trials, "warmup_s": cfg.warmup_s, "idle_s": cfg.idle_s,
                   "quick": req.quick, "meter": req.meter, "options": options}
    result = build(record, device=device, config=cfg, config_json=config_json, env=env,
                   created_utc=created)
    written = io.write(result, path)
    return Outcome(result, written, record.error)
