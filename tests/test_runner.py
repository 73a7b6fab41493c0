"""The runner with scripted workloads on a fake clock (nothing sleeps): warm-up, trials,
statistics, interruption, failures that stay with their workload or phase, and that a workload it
has never seen plugs in without changes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from benchhash.errors import InputError
from benchhash.hw.load import CpuTimes, Probe, parse_stat, shares
from benchhash.meters import NullMeter
from benchhash.meters.replay import ReplayMeter
from benchhash.results.build import build
from benchhash.results.model import Config, Device, Environment, Result
from benchhash.runner import Clock, CompileTimes, Listener, Runner, RunRecord
from benchhash.workloads.base import Phase, Window, Workload

CPU = Device(kind="cpu")


class FakeClock(Clock):
    """Time that moves only when work 'takes' it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def wait(self, event: threading.Event, seconds: float) -> None:
        self.t += seconds

    def take(self, seconds: float) -> None:
        self.t += seconds


class Scripted(Phase):
    """Does ``rates[k]`` units per second on its k-th call (the last one repeats), taking the
    window's time from the fake clock."""

    unit = "widget"

    def __init__(self, rates: list[float], clock: FakeClock | None = None,
                 interrupt_at_trial: int | None = None, name: str = "run") -> None:
        self.rates, self.calls, self.interrupt, self.name = rates, 0, interrupt_at_trial, name
        self.clock = clock or FakeClock()
        self.prepared: tuple[float | None, float] | None = None

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if trial is not None and trial == self.interrupt:
            raise KeyboardInterrupt
        rate = self.rates[min(self.calls, len(self.rates) - 1)]
        self.calls += 1
        self.clock.take(seconds)
        return Window(rate * seconds, seconds, None if trial is None else {"trial": trial})

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        self.prepared = (rate_estimate, trial_seconds)

    def params(self) -> dict[str, Any]:
        return {"size": 7}


class Toy(Workload):
    name = "toy"

    def __init__(self, device: Device, phases: Sequence[Phase]) -> None:
        super().__init__(device)
        self._phases = list(phases)
        self.synced = 0

    def setup(self) -> None:
        self.synced = 0

    def phases(self) -> list[Phase]:
        return self._phases

    def synchronize(self) -> None:
        self.synced += 1


class Recorder(Listener):
    def __init__(self) -> None:
        self.stages: list[str] = []
        self.failures: list[str] = []

    def stage(self, label: str, seconds: float) -> None:
        self.stages.append(label)

    def failed(self, failure: Any) -> None:
        self.failures.append(f"{failure.workload}/{failure.phase}/{failure.stage}")


ENV = Environment.model_validate({
    "host": "test", "os": "test", "python": "3", "packages": {}, "notes": None,
    "git": {"commit": None, "dirty": None, "reason": "test"}, "command_line": [],
    "cpu": {"model": None, "arch": None, "logical_cores": 1, "usable_cores": 1, "flags": {}},
    "gpus": [], "gpu_reason": "test", "meter": {"name": "test"},
})


def result_of(out: RunRecord, cfg: Config) -> Result:
    return build(device=CPU, config=cfg, env=ENV, created_utc="2026-11-21T00:00:00Z",
                 phases=out.phases, failures=out.failures, idle=out.idle,
                 complete=out.complete, stopped=out.stopped)


def test_trials_stats_and_listener() -> None:
    clock = FakeClock()
    phase = Scripted([50.0, 100.0, 100.0], clock)
    toy = Toy(CPU, [phase])
    rec = Recorder()
    cfg = Config(duration_s=10, trials=3, warmup_s=10.0)
    out = Runner(NullMeter("test"), cfg, rec, clock).run([toy])
    assert out.complete and out.error is None
    (p,) = out.phases
    assert p.warmup is not None and p.warmup.settled and len(p.warmup.windows) == 3
    assert p.warmup.seconds == pytest.approx(6.0)               # three 2 s windows, on the clock
    assert phase.prepared == (pytest.approx(100.0), 10)
    assert [t.rate for t in p.trials] == pytest.approx([100.0] * 3)
    assert toy.synced == 1 + 2 * (3 + 3)       # after compiling, before and after every window
    assert rec.stages == ["toy run compile", "toy run warm-up", "toy run trial 1/3",
                          "toy run trial 2/3", "toy run trial 3/3"]
    w = result_of(out, cfg).workloads[0]
    assert w.stats.rate is not None and w.stats.rate.median == pytest.approx(100.0)
    assert w.energy.energy_j is None and w.efficiency.work_per_joule is None
    assert any("no energy reading: test" in x for x in w.validity.warnings)
    assert w.params == {"size": 7, "workload_version": 1}       # its own, and its workload's version
    assert w.rate_unit == "widget/s" and w.compile_s is None


def test_warmup_is_bounded_when_the_rate_never_settles() -> None:
    clock = FakeClock()
    phase = Scripted([float(2 ** k) for k in range(20)], clock)
    out = Runner(NullMeter(), Config(duration_s=1, trials=1, warmup_s=10.0), clock=clock).run(
        [Toy(CPU, [phase])])
    w = out.phases[0].warmup
    assert w is not None and not w.settled and w.seconds == pytest.approx(10.0)
    assert len(w.windows) == 5                  # 2 s windows until the 10 s bound


def test_interrupt_keeps_finished_trials() -> None:
    clock = FakeClock()
    phase = Scripted([10.0], clock, interrupt_at_trial=2)
    cfg = Config(duration_s=5, trials=5, warmup_s=0)
    out = Runner(NullMeter(), cfg, clock=clock).run([Toy(CPU, [phase])])
    assert not out.complete and isinstance(out.error, KeyboardInterrupt)
    assert out.stopped == "interrupted (Ctrl-C)"
    (p,) = out.phases
    assert not p.complete and len(p.trials) == 2
    result = result_of(out, cfg)
    assert not result.complete and result.workloads[0].validity.valid is False
    assert "incomplete: 2 of 5 trial(s) finished" in result.workloads[0].validity.warnings


def test_energy_per_trial_with_a_replayed_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner, the phase and the replay meter on one fake clock: the meter's windows are the
    runner's to the nanosecond however busy the machine, so 1000/s over 200 W is 5 per joule."""
    import benchhash.meters.replay as replay
    from fake_time import FakeTime
    clock = FakeTime().install_meters(monkeypatch, replay)
    cfg = Config(duration_s=0.3, trials=3, warmup_s=0, idle_s=0.2)
    phase = Scripted([1000.0], clock)                   # type: ignore[arg-type]  # takes the window's time
    with ReplayMeter([{"power_w": 200.0}], interval_s=0.01) as meter:
        out = Runner(meter, cfg, clock=clock).run([Toy(CPU, [phase])])
    assert out.idle is not None and out.idle.average_w == pytest.approx(200.0)
    assert out.idle.energy_j == pytest.approx(200.0 * 0.2)
    result = result_of(out, cfg)
    w = result.workloads[0]
    assert w.energy.average_w == pytest.approx(200.0)
    assert [t.energy.energy_j for t in w.trials] == pytest.approx([200.0 * 0.3] * 3)
    assert w.efficiency.work_per_joule == pytest.approx(5.0)            # 1000/s over 200 W
    assert result.idle is not None and result.idle.average_w == pytest.approx(200.0)


@pytest.mark.parametrize(("values", "needle"), [
    ({"duration_s": 0}, "--duration"),
    ({"trials": 0}, "--trials"),
    ({"warmup_s": -1}, "--warmup"),
    ({"idle_s": -1}, "--idle"),
])
def test_bad_config(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        Config.for_run(**values)


class Failing(Scripted):
    """A Scripted phase that raises at a chosen step: 'compile', 'warmup', 'trial:K',
    'summary', 'proof' or 'close'."""

    def __init__(self, where: str, name: str = "bad", compile_s: float = 0.0,
                 clock: FakeClock | None = None) -> None:
        super().__init__([10.0], clock, name=name)
        self.where, self.compile_s = where, compile_s
        self.closed = False

    def compile(self) -> bool:
        if self.where == "compile":
            raise RuntimeError("CUDA graph capture failed (simulated)")
        self.clock.take(self.compile_s)
        return self.compile_s > 0

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.where == "warmup" and trial is None:
            raise MemoryError("out of memory (simulated)")
        if self.where.startswith("trial:") and trial == int(self.where.split(":")[1]):
            raise RuntimeError("illegal memory access (simulated)")
        if self.where == "nan" and trial is not None:
            return Window(float("nan"), seconds)
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


def test_a_failing_workload_and_phases_stay_with_themselves() -> None:
    clock = FakeClock()
    cfg = Config(duration_s=1, trials=3, warmup_s=0)
    phases = [Failing("compile", "a", clock=clock), Failing("trial:1", "b", clock=clock),
              Failing("summary", "c", clock=clock), Failing("close", "d", clock=clock),
              Failing("none", "e", compile_s=7.5, clock=clock)]
    rec = Recorder()
    out = Runner(NullMeter(), cfg, rec, clock).run([Broken(CPU, []), Toy(CPU, phases)])
    assert out.complete and out.error is None          # the run itself went to the end
    assert rec.failures == ["broken/None/setup", "toy/a/compile", "toy/b/trial", "toy/c/summary",
                            "toy/d/teardown"]
    assert all(p.closed for p in phases)
    by_name = {p.phase: p for p in out.phases}
    assert set(by_name) == {"b", "c", "d", "e"}                       # 'a' measured nothing
    assert len(by_name["b"].trials) == 1 and not by_name["b"].complete   # trial 0 is kept
    assert len(by_name["c"].trials) == 3 and by_name["c"].metrics == {}
    assert by_name["e"].complete and by_name["e"].compile_s == pytest.approx(7.5)
    assert by_name["d"].compile_s is None                                 # nothing compiled
    result = result_of(out, cfg)
    assert not result.complete and result.stopped is None
    assert [(f.workload, f.phase, f.stage, f.error) for f in result.failures] == [
        ("broken", None, "setup", "RuntimeError"), ("toy", "a", "compile", "RuntimeError"),
        ("toy", "b", "trial", "RuntimeError"), ("toy", "c", "summary", "KeyError"),
        ("toy", "d", "teardown", "RuntimeError")]
    assert "NVRTC" in result.failures[0].message
    assert by_name["e"].validity.valid


def test_a_failure_in_warm_up_is_recorded_as_such() -> None:
    cfg = Config(duration_s=1, trials=2, warmup_s=5)
    out = Runner(NullMeter(), cfg, clock=FakeClock()).run([Toy(CPU, [Failing("warmup")])])
    assert [(f.stage, f.error) for f in out.failures] == [("warmup", "MemoryError")]


def test_a_proof_that_does_not_validate_is_dropped_and_the_measurements_kept() -> None:
    from benchhash.workloads.sha256d_proof import Sha256dProof, Sha256dTrialProof

    class Proving(Toy):
        proof_models = (Sha256dProof, Sha256dTrialProof)

    clock = FakeClock()
    cfg = Config(duration_s=1, trials=2, warmup_s=0)
    phase = Scripted([10.0], clock)         # its trial proofs are {"trial": i}: not sha256d's
    out = Runner(NullMeter(), cfg, clock=clock).run([Proving(CPU, [phase])])
    (w,) = out.phases
    assert len(w.trials) == 2 and all(t.proof is None for t in w.trials)
    assert any("proof of work was malformed" in x for x in w.validity.warnings)
    assert [(f.phase, f.stage) for f in out.failures] == [("run", "proof")]


def test_a_nan_figure_fails_its_phase_not_the_others() -> None:
    clock = FakeClock()
    cfg = Config(duration_s=1, trials=1, warmup_s=0)
    good, bad = Scripted([10.0], clock), Failing("nan", "nan", clock=clock)
    out = Runner(NullMeter(), cfg, clock=clock).run([Toy(CPU, [bad, good])])
    assert [w.phase for w in out.phases] == ["run"]
    assert [(f.phase, f.stage) for f in out.failures] == [("nan", "trial")]
    assert "work" in out.failures[0].message


class ScriptedProbe(Probe):
    """Load readings in order: load averages, and CPU times (None: the system gives none)."""

    def __init__(self, averages: list[float | None], times: list[CpuTimes | None]) -> None:
        self.averages, self.times = list(averages), list(times)

    def load_average(self) -> float | None:
        return self.averages.pop(0)

    def cpu_times(self) -> CpuTimes | None:
        return self.times.pop(0)


@pytest.mark.parametrize(("others_s", "shared"), [(45.0, True), (4.0, False)])
def test_each_phase_records_the_load_and_a_shared_machine_is_warned(others_s: float, shared: bool) -> None:
    clock = FakeClock()
    cfg = Config(duration_s=1, trials=2, warmup_s=0)
    # over the trials: 100 CPU-seconds on 2 CPUs, 50 of them this process's, others_s someone else's
    probe = ScriptedProbe([1.5, 2.5], [CpuTimes(1000.0, 300.0, 10.0, 2),
                                       CpuTimes(1100.0, 350.0 + others_s, 60.0, 2)])
    out = Runner(NullMeter(), cfg, clock=clock, probe=probe).run([Toy(CPU, [Scripted([10.0], clock)])])
    (w,) = result_of(out, cfg).workloads
    assert w.load is not None and w.load.cpus == 2 and w.load.reason is None
    assert (w.load.load_avg_1m_before, w.load.load_avg_1m_after) == (1.5, 2.5)
    assert w.load.own_cpu_share == pytest.approx(0.5) and w.load.others_cpu_share == pytest.approx(others_s / 100)
    warned = [x for x in w.validity.warnings if x.startswith("the machine was shared")]
    assert bool(warned) == shared
    if shared:
        assert "other processes used 45 % of its 2 CPUs' time" in warned[0] and "1.5 before, 2.5 after" in warned[0]


def test_a_load_the_system_does_not_give_is_none_with_the_reason() -> None:
    clock = FakeClock()
    cfg = Config(duration_s=1, trials=1, warmup_s=0)
    probe = ScriptedProbe([None, None], [None, None])
    out = Runner(NullMeter(), cfg, clock=clock, probe=probe).run([Toy(CPU, [Scripted([10.0], clock)])])
    (w,) = result_of(out, cfg).workloads
    assert w.load is not None and w.load.others_cpu_share is None and w.load.load_avg_1m_after is None
    assert w.load.reason == "not readable here: /proc/stat, load average"
    assert not any("shared" in x for x in w.validity.warnings)


def test_proc_stat_is_read_as_the_kernel_writes_it() -> None:
    text = ("cpu  300 10 90 500 50 5 5 40 7 0\ncpu0 150 5 45 250 25 2 3 20 7 0\n"
            "cpu1 150 5 45 250 25 3 2 20 0 0\nintr 12345\n")
    t = parse_stat(text, own_s=2.0, ticks_per_s=100.0)
    assert t is not None and t.cpus == 2
    assert t.total_s == pytest.approx(10.0) and t.busy_s == pytest.approx(4.5)   # idle + iowait = 5.5 s
    assert parse_stat("intr 1\n", 0.0, 100.0) is None and parse_stat("cpu x y\n", 0.0, 100.0) is None
    later = type(t)(t.total_s + 4.0, t.busy_s + 3.0, t.own_s + 1.0, 2)
    s = shares(t, later)
    assert s is not None and (s.own, s.others) == pytest.approx((0.25, 0.5))
    assert shares(t, t) is None and shares(None, t) is None


class RememberedCompiles(CompileTimes):
    def __init__(self, known: dict[str, float]) -> None:
        self.known = dict(known)

    def last(self, key: str) -> float | None:
        return self.known.get(key)

    def record(self, key: str, seconds: float) -> None:
        self.known[key] = seconds


def test_a_compile_is_announced_with_the_last_ones_length_and_its_own_is_kept() -> None:
    class Compiles(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.compiles: list[tuple[str, float | None]] = []

        def compiling(self, label: str, last_s: float | None) -> None:
            self.compiles.append((label, last_s))

    clock = FakeClock()
    times = RememberedCompiles({"cpu: toy e": 9.0})
    rec = Compiles()
    phases = [Failing("none", "e", compile_s=7.5, clock=clock), Failing("none", "f", compile_s=2.0, clock=clock),
              Failing("none", "g", clock=clock)]
    Runner(NullMeter(), Config(duration_s=1, trials=1, warmup_s=0), rec, clock,
           compile_times=times).run([Toy(CPU, phases)])
    assert rec.compiles == [("toy e compile", 9.0), ("toy f compile", None), ("toy g compile", None)]
    assert not any("compile" in s for s in rec.stages)                   # said once, as a compile
    assert times.known == {"cpu: toy e": 7.5, "cpu: toy f": 2.0}         # 'g' had nothing to compile


def test_compile_times_are_kept_in_the_cache_and_a_bad_file_costs_only_the_estimate(tmp_path: Path) -> None:
    from benchhash.session import CachedCompileTimes
    times = CachedCompileTimes(tmp_path / "compile-seconds.json")
    assert times.last("cpu: toy e") is None
    times.record("cpu: toy e", 7.51234)
    times.record("cpu: toy f", 2.0)
    assert CachedCompileTimes(tmp_path / "compile-seconds.json").last("cpu: toy e") == 7.512
    (tmp_path / "compile-seconds.json").write_text("{not json")
    assert times.last("cpu: toy e") is None
    times.record("cpu: toy e", 1.0)                                    # starts over
    assert times.last("cpu: toy e") == 1.0
    blocked = CachedCompileTimes(tmp_path / "compile-seconds.json" / "x")   # a file where a folder goes
    blocked.record("k", 1.0)
    assert blocked.last("k") is None
