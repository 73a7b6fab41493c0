"""The runner with a scripted workload: warm-up, trials, statistics, interruption, and that a
workload it has never seen plugs in without changes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from benchhash.device import Device
from benchhash.errors import InputError
from benchhash.meters import NullMeter
from benchhash.meters.replay import ReplayMeter
from benchhash.results.build import build
from benchhash.runner import Listener, RunConfig, Runner
from benchhash.workloads.base import Phase, Window, Workload


class Scripted(Phase):
    """Does ``rates[k]`` units per second on its k-th call (the last one repeats)."""

    unit = "widget"

    def __init__(self, rates: list[float], interrupt_at_trial: int | None = None) -> None:
        self.rates, self.calls, self.interrupt = rates, 0, interrupt_at_trial
        self.prepared: tuple[float | None, float] | None = None

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if trial is not None and trial == self.interrupt:
            raise KeyboardInterrupt
        rate = self.rates[min(self.calls, len(self.rates) - 1)]
        self.calls += 1
        time.sleep(seconds)
        return Window(rate * seconds, seconds, None if trial is None else {"trial": trial})

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        self.prepared = (rate_estimate, trial_seconds)

    def params(self) -> dict[str, Any]:
        return {"size": 7}


class Toy(Workload):
    name = "toy"

    def setup(self) -> None:
        self.synced = 0

    def phases(self) -> list[Phase]:
        return self.options["phases"]

    def synchronize(self) -> None:
        self.synced += 1


class Recorder(Listener):
    def __init__(self) -> None:
        self.stages: list[str] = []

    def stage(self, label: str, seconds: float) -> None:
        self.stages.append(label)


def test_trials_stats_and_listener() -> None:
    phase = Scripted([50.0, 100.0, 100.0])
    toy = Toy(Device("cpu"), {"phases": [phase]})
    rec = Recorder()
    cfg = RunConfig(duration_s=0.1, trials=3, warmup_s=1.0)
    out = Runner(NullMeter("test"), cfg, rec).run([toy])
    assert out.complete and out.error is None
    (p,) = out.phases
    assert p.warmup is not None and p.warmup.settled and len(p.warmup.windows) == 3
    assert phase.prepared == (pytest.approx(100.0), 0.1)
    assert [t.window.rate for t in p.trials] == pytest.approx([100.0] * 3)
    assert toy.synced == 2 * (3 + 3)           # before and after every window
    assert rec.stages == ["toy run warm-up", "toy run trial 1/3", "toy run trial 2/3", "toy run trial 3/3"]
    result = build(out, device=Device("cpu"), config=cfg, config_json=config(cfg), env=ENV,
                   created_utc="2026-11-21T00:00:00Z")
    w = result.workloads[0]
    assert w.stats.rate is not None and w.stats.rate.median == pytest.approx(100.0)
    assert w.energy.energy_j is None and w.efficiency.work_per_joule is None
    assert any("no energy reading: test" in x for x in w.validity.warnings)
    assert w.params == {"size": 7} and w.rate_unit == "widget/s"


def test_warmup_is_bounded_when_the_rate_never_settles() -> None:
    phase = Scripted([float(2 ** k) for k in range(20)])
    out = Runner(NullMeter(), RunConfig(duration_s=0.05, trials=1, warmup_s=1.0)).run(
        [Toy(Device("cpu"), {"phases": [phase]})])
    w = out.phases[0].warmup
    assert w is not None and not w.settled and w.seconds < 1.5 and 3 <= len(w.windows) <= 4


def test_interrupt_keeps_finished_trials() -> None:
    phase = Scripted([10.0], interrupt_at_trial=2)
    cfg = RunConfig(duration_s=0.05, trials=5, warmup_s=0)
    out = Runner(NullMeter(), cfg).run([Toy(Device("cpu"), {"phases": [phase]})])
    assert not out.complete and isinstance(out.error, KeyboardInterrupt)
    assert out.stopped == "interrupted (Ctrl-C)"
    (p,) = out.phases
    assert not p.complete and len(p.trials) == 2
    result = build(out, device=Device("cpu"), config=cfg, config_json=config(cfg), env=ENV,
                   created_utc="2026-11-21T00:00:00Z")
    assert not result.complete and result.workloads[0].validity.valid is False
    assert "incomplete: 2 of 5 trial(s) finished" in result.workloads[0].validity.warnings


def test_energy_per_trial_with_a_replayed_trace() -> None:
    phase = Scripted([1000.0])
    cfg = RunConfig(duration_s=0.3, trials=3, warmup_s=0, idle_s=0.2)
    with ReplayMeter([{"power_w": 200.0}], interval_s=0.01) as meter:
        out = Runner(meter, cfg).run([Toy(Device("cpu"), {"phases": [phase]})])
    assert out.idle is not None and out.idle.average_w == pytest.approx(200.0)
    result = build(out, device=Device("cpu"), config=cfg, config_json=config(cfg), env=ENV,
                   created_utc="2026-11-21T00:00:00Z")
    w = result.workloads[0]
    assert w.energy.average_w == pytest.approx(200.0)
    assert w.efficiency.work_per_joule == pytest.approx(5.0, rel=0.05)   # 1000/s over 200 W
    assert result.idle is not None and result.idle.average_w == pytest.approx(200.0)


@pytest.mark.parametrize(("cfg", "needle"), [
    (RunConfig(duration_s=0), "--duration"),
    (RunConfig(trials=0), "--trials"),
    (RunConfig(warmup_s=-1), "--warmup"),
    (RunConfig(idle_s=-1), "--idle"),
])
def test_bad_config(cfg: RunConfig, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        Runner(NullMeter(), cfg)


def config(cfg: RunConfig) -> dict[str, Any]:
    return {"device": "cpu", "workloads": ["toy"], "duration_s": cfg.duration_s,
            "trials": cfg.trials, "warmup_s": cfg.warmup_s, "idle_s": cfg.idle_s,
            "quick": False, "meter": "test"}


ENV: dict[str, Any] = {
    "host": "test", "os": "test", "python": "3", "packages": {}, "notes": None,
    "git": {"commit": None, "dirty": None, "reason": "test"}, "command_line": [],
    "cpu": {"model": None, "arch": None, "logical_cores": 1, "usable_cores": 1, "flags": {}},
    "gpus": [], "gpu_reason": "test", "meter": {"name": "test"},
}
