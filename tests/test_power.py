"""`run --power-limits` on the fake NVML: levels parsed and clamped, set in order around every
phase, the original limit put back after success, Ctrl-C, SIGTERM, an exception and a kill -9
followed by a new start; a CPU, a MIG slice and a process without permission refused before
anything runs; the caps part of each phase's identity."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchhash.errors import InputError, Interrupted, signals_interrupt
from benchhash.hw import power
from benchhash.hw.power import Levels as Asked
from benchhash.hw.power import Limits, PowerLimitError
from benchhash.meters import NullMeter
from benchhash.results.model import SCHEMA_VERSION, Config, Device
from benchhash.review.compare import compare
from benchhash.runner import Runner
from fake_nvml import FakeGpu
from test_runner import CPU, FakeClock, Recorder, Scripted, Toy, result_of

ROOT = Path(__file__).resolve().parents[1]
BUS = "00000000:1B:00.0"
GPU = Device(kind="cuda", name="NVIDIA H100 80GB HBM3", pci_bus_id=BUS)
H100 = Limits(min_w=200, max_w=700, default_w=700, current_w=700)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(power, "SETTLE_S", 0.0)
    monkeypatch.setattr(power, "ENFORCE_POLL_S", 0.001)
    monkeypatch.setattr(power, "ENFORCE_WAIT_S", 0.2)
    return tmp_path / "cache"


@pytest.fixture
def gpu() -> Iterator[FakeGpu]:
    with FakeGpu().installed() as g:
        yield g


def left() -> list[Path]:
    return [p for p, _ in power.records()]


def dead_pid() -> int:
    """The pid of a process that has ended."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip())


def plant(pid: int, original_w: float = 700, host: str | None = None) -> power.Record:
    """A record as a run capping the GPU at 300 W left it (host: this one)."""
    rec = power.Record(host=host or socket.gethostname(), pci_bus_id=BUS, original_w=original_w, set_w=300,
                       pid=pid, pid_started=None, boot_id=None)
    path = power.record_path(rec.host, BUS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(rec)))
    return rec


# --- levels ----------------------------------------------------------------------------------------
def test_levels_parsed_in_order() -> None:
    assert Asked.parse("300,400W, 500 ,max") == Asked((300.0, 400.0, 500.0, None))
    assert Asked.parse(" Sweep ") == Asked(sweep=True)
    assert str(Asked.parse("300,400W, 500 ,max")) == "300,400,500,max" and str(Asked.parse("sweep")) == "sweep"
    for bad, says in (("", "give watts"), ("300,,400", "give watts"), ("3x", "not a number"),
                      ("-5", "positive"), ("nan", "positive"), ("inf", "positive"),
                      (",".join(["300"] * 33), "at most 32")):
        with pytest.raises(InputError, match=says):
            Asked.parse(bad)


def test_levels_clamped_to_the_device_and_said() -> None:
    levels, notes = Asked((100.0, 300.0, 900.0, None)).resolve(H100)
    assert levels == [200.0, 300.0, 700.0]                 # 900 -> 700 and max -> 700: measured once
    assert any("100 W is outside this GPU's 200-700 W: measured at 200 W" in n for n in notes)
    assert any("900 W" in n and "at 700 W" in n for n in notes) and any("twice" in n for n in notes)


def test_a_sweep_goes_from_the_maximum_down_to_the_minimum() -> None:
    levels, notes = Asked(sweep=True).resolve(H100)
    assert levels == [700, 629, 557, 486, 414, 343, 271, 200] and not notes
    odd, _ = Asked(sweep=True).resolve(Limits(min_w=100, max_w=450, default_w=350, current_w=350))
    assert odd[0] == 450 and odd[-1] == 100 and len(odd) == 8


# --- the runner: every phase at every level, in order ----------------------------------------------
class Levels(power.Caps):
    def __init__(self, levels: list[float | None]) -> None:
        self.levels = levels
        self.applied: list[float | None] = []

    def apply(self, watts: float | None) -> None:
        self.applied.append(watts)


def test_each_phase_is_measured_at_each_level_and_keyed_by_it() -> None:
    clock = FakeClock()
    a, b = Scripted([100.0], clock, name="a"), Scripted([50.0], clock, name="b")
    caps = Levels([500.0, 300.0])
    rec = Recorder()
    cfg = Config(duration_s=1, trials=2, warmup_s=0, power_limits_w=[500, 300])
    out = Runner(NullMeter("test"), cfg, rec, clock, caps=caps).run([Toy(CPU, [a, b])])
    assert out.complete and caps.applied == [500.0, 300.0, 500.0, 300.0]
    assert [(p.phase, p.params) for p in out.phases] == [
        ("a", {"size": 7, "workload_version": 1, "power_limit_w": 500.0}),
        ("a", {"size": 7, "workload_version": 1, "power_limit_w": 300.0}),
        ("b", {"size": 7, "workload_version": 1, "power_limit_w": 500.0}),
        ("b", {"size": 7, "workload_version": 1, "power_limit_w": 300.0})]
    assert [p.label for p in out.phases] == ["toy a @500W", "toy a @300W", "toy b @500W", "toy b @300W"]
    assert sum("setting the power limit" in s for s in rec.stages) == 4
    result = result_of(out, cfg)
    rows = compare(result, result)              # four phases, each paired with itself
    assert [r.workload for r in rows] == ["toy a @500W", "toy a @300W", "toy b @500W", "toy b @300W"]
    assert all(r.mark != "incomparable" and r.mark != "missing" for r in rows)


def test_a_failure_at_one_level_stays_with_that_level() -> None:
    class Flaky(Scripted):
        def run(self, seconds, stop, trial):  # type: ignore[no-untyped-def]
            if caps.applied[-1] == 300.0 and trial is not None:
                raise RuntimeError("out of memory at the low cap")
            return super().run(seconds, stop, trial)

    clock = FakeClock()
    caps = Levels([500.0, 300.0, 250.0])
    out = Runner(NullMeter("test"), Config(duration_s=1, trials=1, warmup_s=0), None, clock,
                 caps=caps).run([Toy(CPU, [Flaky([10.0], clock)])])
    assert [p.power_limit_w for p in out.phases] == [500.0, 250.0]
    (f,) = out.failures
    assert f.power_limit_w == 300.0 and f.label == "toy @300W" and f.stage == "trial"


def test_a_limit_that_cannot_be_set_stops_the_run() -> None:
    class Broken(Levels):
        def apply(self, watts: float | None) -> None:
            if watts == 300.0:
                raise PowerLimitError("cannot set GPU x's power limit to 300 W: GPU is lost")
            super().apply(watts)

    clock = FakeClock()
    out = Runner(NullMeter("test"), Config(duration_s=1, trials=1, warmup_s=0), None, clock,
                 caps=Broken([500.0, 300.0])).run([Toy(CPU, [Scripted([10.0], clock)])])
    assert not out.complete and isinstance(out.error, PowerLimitError)
    assert [p.power_limit_w for p in out.phases] == [500.0]      # not a phase labelled 300 W
    assert [(f.stage, f.power_limit_w) for f in out.failures] == [("power limit", 300.0)]


# --- NVML: set in order, put back however the block ends -------------------------------------------
def test_limits_set_in_order_and_put_back_after_success(gpu: FakeGpu) -> None:
    with power.capped(GPU, Asked.parse("300,400,500,max")) as caps:
        assert caps.levels == [300.0, 400.0, 500.0, 700.0] and len(left()) == 1
        for w in caps.levels:
            caps.apply(w)
        assert gpu.limit_mw == 700_000
    # the probe (700 W, no change), each level, then the original back
    assert gpu.limits_set == [700_000, 300_000, 400_000, 500_000, 700_000, 700_000]
    assert left() == []


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "exception"])
def test_the_original_limit_comes_back_however_the_run_ends(gpu: FakeGpu, how: str) -> None:
    gpu.limit_mw = 650_000                       # someone's own setting: that is what comes back
    with pytest.raises((KeyboardInterrupt, RuntimeError)) as info, signals_interrupt():
        with power.capped(GPU, Asked.parse("300,400")) as caps:
            caps.apply(300.0)
            assert gpu.limit_mw == 300_000
            if how == "ctrl-c":
                raise KeyboardInterrupt
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            raise RuntimeError("a bug")
    if how == "sigterm":
        assert isinstance(info.value, Interrupted) and info.value.name == "SIGTERM"
    assert gpu.limit_mw == 650_000 and gpu.limits_set[-1] == 650_000 and left() == []


def test_a_run_interrupted_between_levels_on_the_runner(gpu: FakeGpu) -> None:
    clock = FakeClock()
    phase = Scripted([10.0], clock, interrupt_at_trial=1)
    with power.capped(GPU, Asked.parse("300,500")) as caps:
        out = Runner(NullMeter("test"), Config(duration_s=1, trials=2, warmup_s=0), None, clock,
                     caps=caps).run([Toy(CPU, [phase])])
    assert out.stopped == "interrupted (Ctrl-C)" and [p.power_limit_w for p in out.phases] == [300.0]
    assert gpu.limits_set == [700_000, 300_000, 700_000] and left() == []


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from fake_nvml import FakeGpu
    from benchhash.hw import power
    from benchhash.results.model import Device
    state = Path({state!r})
    gpu = FakeGpu()
    with gpu.installed():
        with power.capped(Device(kind="cuda", name="H100", pci_bus_id={bus!r}), power.Levels.parse("300,500")) as caps:
            caps.apply(300.0)
            state.write_text(str(gpu.limit_mw))     # what the GPU now holds, for the next start
            print("capped", flush=True)
            time.sleep(120)
""")


def test_a_kill_9_mid_sweep_is_undone_at_the_next_start(tmp_path: Path, cache: Path) -> None:
    state = tmp_path / "gpu-limit"
    code = CHILD.format(tests=str(ROOT / "tests"), state=str(state), bus=BUS)
    env = {**os.environ, "BENCHHASH_CACHE_DIR": str(cache)}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "capped"
        child.kill()                              # kill -9: no finally runs
    finally:
        child.wait(timeout=30)
    (record,) = power.records()
    assert record[1] is not None and record[1].set_w == 300.0 and not record[1].alive()
    with FakeGpu(limit_mw=int(state.read_text())).installed() as gpu:
        assert gpu.limit_mw == 300_000
        done = power.recover()                    # what `benchhash run` does first
        assert gpu.limits_set == [700_000] and gpu.limit_mw == 700_000
    assert left() == [] and "put back to 700 W (left at 300 W by benchhash pid" in done[0]


def test_info_shows_a_limit_left_changed(cli, cache: Path) -> None:  # type: ignore[no-untyped-def]
    plant(dead_pid())
    r = cli("info", "--json")
    (shown,) = json.loads(r.stdout)["power_limit_records"]
    assert shown["set_w"] == 300 and shown["running"] is False and "next `benchhash run` puts it back" in shown["text"]
    r = cli("info")
    assert "power limit left changed" in r.stdout and "at 300 W, original 700 W" in r.stdout


def test_a_crashed_runs_original_is_kept_when_it_could_not_be_put_back(gpu: FakeGpu) -> None:
    plant(os.getpid(), original_w=650)
    gpu.limit_mw = 300_000
    with power.capped(GPU, Asked.parse("400")) as caps:
        caps.apply(400.0)
    assert gpu.limit_mw == 650_000 and left() == []    # the real original, not the 300 W it found


def test_another_live_run_on_the_same_gpu_is_refused(gpu: FakeGpu) -> None:
    plant(os.getppid())
    assert power.recover() == []                        # a live run's record is not touched
    with pytest.raises(PowerLimitError, match=f"another benchhash run \\(pid {os.getppid()}\\)"):
        with power.capped(GPU, Asked.parse("300")):
            pass
    assert gpu.limits_set == [700_000]                  # only the probe


def test_records_of_other_hosts_are_left_alone(gpu: FakeGpu) -> None:
    plant(dead_pid(), host="other-node")
    assert power.recover() == [] and gpu.limits_set == [] and len(power.records()) == 1


# --- refused before anything runs ------------------------------------------------------------------
@pytest.mark.parametrize(("fail", "says"), [
    ("NVML_ERROR_NO_PERMISSION", "no permission.*needs root"),
    ("NVML_ERROR_NOT_SUPPORTED", "does not let NVML change its power limit"),
])
def test_no_permission_or_support_is_refused_up_front(gpu: FakeGpu, fail: str, says: str) -> None:
    gpu.fail["nvmlDeviceSetPowerManagementLimit"] = fail
    with pytest.raises(PowerLimitError, match=says):
        with power.capped(GPU, Asked.parse("300")):
            raise AssertionError("the block must not run")
    assert gpu.limit_mw == 700_000 and left() == []


def test_a_cpu_and_a_mig_slice_are_refused(gpu: FakeGpu) -> None:
    with pytest.raises(PowerLimitError, match="needs a GPU with power management; this run measures a CPU"):
        with power.capped(Device(kind="cpu", name="AMD EPYC"), Asked.parse("300")):
            pass
    mig = Device(kind="cuda", name="NVIDIA H100 80GB HBM3 MIG 3g.40gb", pci_bus_id=BUS, mig_profile="3g.40gb")
    with pytest.raises(PowerLimitError, match="MIG slice"):
        with power.capped(mig, Asked.parse("300")):
            pass
    assert gpu.limits_set == [] and left() == []


def test_no_record_no_change(gpu: FakeGpu, cache: Path) -> None:
    cache.mkdir(parents=True)
    (cache / "power-limits").write_text("a file where the folder should be")
    with pytest.raises(PowerLimitError, match="cannot record the GPU's original power limit"):
        with power.capped(GPU, Asked.parse("300")):
            pass
    assert gpu.limit_mw == 700_000 and gpu.limits_set == [700_000]


def test_the_cli_refuses_in_one_line_with_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("run", "--device", "cpu", "--power-limits", "300,max", "--quick")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "needs a GPU" in r.stderr
    r = cli("run", "--device", "cpu", "--power-limits", "lots")
    assert r.returncode == 2 and "'lots' is not a number of watts" in r.stderr


# --- a whole run -------------------------------------------------------------------------------------
def test_a_whole_run_sweeps_and_writes_each_cap(gpu: FakeGpu, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    from benchhash import session
    from benchhash.meters import make_meter
    from benchhash.results import io
    from benchhash.review.verify import verdict
    from benchhash.workloads.base import RunContext

    monkeypatch.syspath_prepend(str(ROOT / "tests" / "plugins"))
    monkeypatch.setenv("BENCHHASH_WORKLOADS", "faulty=faulty_workload:FaultyWorkload")
    req = session.Request(workloads="faulty", duration_s=0.05, trials=2, warmup_s=0, meter="null",
                          out=str(tmp_path / "sweep.json"), power_limits=Asked.parse("450,250"))
    ctx = RunContext(secrets.token_hex(16), "2026-11-23T00:00:00Z", "host", GPU.name)
    plan = session.Plan(GPU, ctx, tmp_path / "sweep.json", True, lambda: make_meter("null", GPU))
    outcome = session.run(req, None, None, plan)
    assert outcome.error is None and outcome.result.complete
    assert outcome.result.config.power_limits_w == [450.0, 250.0]
    assert [w.label for w in outcome.result.workloads] == [
        "faulty first @450W", "faulty first @250W", "faulty second @450W", "faulty second @250W"]
    assert gpu.limits_set == [700_000, 450_000, 250_000, 450_000, 250_000, 700_000] and left() == []
    assert verdict(outcome.path).problems == []
    assert io.load(outcome.path)[0].schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(("ceiling_w", "noted"), [(None, {}), (400, {450: 400})])
def test_the_enforced_limit_is_read_after_settling(gpu: FakeGpu, ceiling_w: int | None,
                                                   noted: dict[int, int]) -> None:
    """On an H100 the enforced limit read straight after a set still showed the previous one, so
    every level was noted as 'asked for X, enforced <the previous X>'. Read after the settling
    time it is the limit in force: a note only where a lower limit (here a board ceiling) wins."""
    gpu.enforced_lag_reads = 2
    gpu.enforced_ceiling_mw = None if ceiling_w is None else ceiling_w * 1000
    clock = FakeClock()
    with power.capped(GPU, Asked.parse("450,250")) as caps:
        out = Runner(NullMeter("test"), Config(duration_s=1, trials=1, warmup_s=0), None, clock,
                     caps=caps).run([Toy(CPU, [Scripted([10.0, 10.0], clock)])])
    assert out.complete and [p.power_limit_w for p in out.phases] == [450.0, 250.0]
    for phase in out.phases:
        said = [w for w in phase.validity.warnings if "NVML enforced" in w]
        cap = int(phase.power_limit_w or 0)
        assert said == ([f"asked for a {cap} W power limit; NVML enforced {noted[cap]} W"] if cap in noted else [])
    assert gpu.calls.count("nvmlDeviceGetEnforcedPowerLimit") >= 2 * 3     # each level re-read until in force


def test_a_record_that_cannot_be_put_back_stays_for_the_next_start(caplog: pytest.LogCaptureFixture) -> None:
    plant(dead_pid())
    with FakeGpu(init_error="NVML_ERROR_DRIVER_NOT_LOADED").installed():
        assert power.recover() == []
    assert len(left()) == 1 and "cannot put GPU" in caplog.text and "the record" in caplog.text
