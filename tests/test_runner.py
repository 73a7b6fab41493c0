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
    assert toy.synced == 1 + 2 * (3 + 3)       # after compiling, before and after every window
    assert rec.stages == ["toy run compile", "toy run warm-up", "toy run trial 1/3",
                          "toy run trial 2/3", "toy run trial 3/3"]
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


class Failing(Scripted):
    """A Scripted phase that raises at a chosen step: 'compile', 'warmup', 'trial:K',
    'summary', 'proof' or 'close'."""

    def __init__(self, where: str, name: str = "bad", compile_s: float = 0.0) -> None:
        super().__init__([10.0])
        self.where, self.name, self.compile_s = where, name, compile_s
        self.closed = False

    def compile(self) -> bool:
        if self.where == "compile":
            raise RuntimeError("CUDA graph capture failed (simulated)")
        time.sleep(self.compile_s)
        return self.compile_s > 0

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.where == "warmup" and trial is None:
            raise MemoryError("out of memory (simulated)")
        if self.where.startswith("trial:") and trial == int(self.where.split(":")[1]):
            raise RuntimeError("illegal memory access (simulated)")
        return super().run(seconds, stop, trial)

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        if self.where == "summary":
            raise KeyError("ttft_ms")
        return {"ok": len(windows)}

    def proof_context(self) -> dict[str, Any] | None:
        if self.where == "proof":
            raise ValueError("proof exploded")
        return None

    def close(self) -> None:
        self.closed = True
        if self.where == "close":
            raise RuntimeError("free failed")


class Broken(Toy):
    name = "broken"

    def setup(self) -> None:
        raise RuntimeError("no loadable NVRTC (simulated)")


class FailRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []

    def failed(self, failure: Any) -> None:
        self.failures.append(f"{failure.workload}/{failure.phase}/{failure.stage}")


def _build(out: Any, cfg: RunConfig) -> Any:
    return build(out, device=Device("cpu"), config=cfg, config_json=config(cfg), env=ENV,
                 created_utc="2026-11-21T00:00:00Z")


def test_a_failing_workload_and_phases_stay_with_themselves() -> None:
    cfg = RunConfig(duration_s=0.05, trials=3, warmup_s=0)
    phases = [Failing("compile", "a"), Failing("trial:1", "b"), Failing("summary", "c"),
              Failing("close", "d"), Failing("none", "e", compile_s=0.05)]
    rec = FailRecorder()
    out = Runner(NullMeter(), cfg, rec).run([Broken(Device("cpu"), {}),
                                            Toy(Device("cpu"), {"phases": phases})])
    assert out.complete and out.error is None          # the run itself went to the end
    assert rec.failures == ["broken/None/setup", "toy/a/compile", "toy/b/trial", "toy/c/summary",
                            "toy/d/teardown"]
    assert all(p.closed for p in phases)
    by_name = {p.phase: p for p in out.phases}
    assert len(by_name["b"].trials) == 1 and not by_name["b"].complete   # trial 0 is kept
    assert len(by_name["c"].trials) == 3 and by_name["c"].metrics == {}
    assert by_name["e"].complete and by_name["e"].compile_s == pytest.approx(0.05, abs=0.04)
    assert by_name["d"].compile_s is None                                 # nothing compiled
    result = _build(out, cfg)
    assert not result.complete and result.stopped is None
    assert [(w.phase, len(w.trials)) for w in result.workloads] == [
        ("b", 1), ("c", 3), ("d", 3), ("e", 3)]                          # 'a' measured nothing
    assert [(f.workload, f.phase, f.stage, f.error) for f in result.failures] == [
        ("broken", None, "setup", "RuntimeError"), ("toy", "a", "compile", "RuntimeError"),
        ("toy", "b", "trial", "RuntimeError"), ("toy", "c", "summary", "KeyError"),
        ("toy", "d", "teardown", "RuntimeError")]
    assert "NVRTC" in result.failures[0].message
    e = next(w for w in result.workloads if w.phase == "e")
    assert e.validity.valid and e.compile_s is not None


def test_a_failure_in_warm_up_is_recorded_as_such() -> None:
    cfg = RunConfig(duration_s=0.05, trials=2, warmup_s=0.5)
    out = Runner(NullMeter(), cfg).run([Toy(Device("cpu"), {"phases": [Failing("warmup")]})])
    assert [(f.stage, f.error) for f in out.failures] == [("warmup", "MemoryError")]


def test_a_proof_check_that_raises_keeps_the_measurements() -> None:
    from benchhash.results.schema import PROOF_MODELS, Sha256dProof, Sha256dTrialProof
    cfg = RunConfig(duration_s=0.05, trials=2, warmup_s=0)
    phase = Scripted([10.0])                # its trial proofs are {"trial": i}: not sha256d's
    out = Runner(NullMeter(), cfg).run([Toy(Device("cpu"), {"phases": [phase]})])
    out.phases[0].workload = "sha256d"      # so the sha256d proof models are applied
    assert PROOF_MODELS["sha256d"] == (Sha256dProof, Sha256dTrialProof)
    result = _build(out, cfg)
    (w,) = result.workloads
    assert len(w.trials) == 2 and all(t.proof is None for t in w.trials)
    assert any("proof of work was malformed" in x for x in w.validity.warnings)
    assert [(f.phase, f.stage) for f in result.failures] == [("run", "proof")]


def test_a_phase_that_cannot_be_built_does_not_take_the_others_with_it() -> None:
    cfg = RunConfig(duration_s=0.05, trials=1, warmup_s=0)
    good, bad = Scripted([10.0]), Failing("none", "nan")
    out = Runner(NullMeter(), cfg).run([Toy(Device("cpu"), {"phases": [good, bad]})])
    out.phases[1].trials[0].window.work = float("nan")        # a broken workload's figure
    result = _build(out, cfg)
    assert [w.phase for w in result.workloads] == ["run"]
    assert [(f.phase, f.stage) for f in result.failures] == [("nan", "build")]
