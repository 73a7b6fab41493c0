"""The benchmark scripts' own logic (their figures come from running them, never from tests)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchhash.sha256d.header import NONCE_SPACE

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("count", [1, 1 << 20, NONCE_SPACE - 1, NONCE_SPACE])
def test_bench_sha256d_ranges_stay_in_the_nonce_space(count: int) -> None:
    bench = load("bench_sha256d")
    for r in range(7):
        start = bench.start_for(r, count)
        assert 0 <= start and start + count <= NONCE_SPACE
    assert bench.start_for(0, NONCE_SPACE) == 0      # the default GPU count: no division by 0
    with pytest.raises(ValueError):
        bench.start_for(0, NONCE_SPACE + 1)


def _run_script(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    module = load(name)
    monkeypatch.setattr(sys, "argv", [name, *args])
    return int(module.main())


def test_nvml_selfcheck_against_fakes(fake_cupy, tmp_path: Path,  # type: ignore[no-untyped-def]
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The self-check's verdicts from what the meter saw, on a fake clock: the meter's windows,
    its poller (every 0.1 s of that clock) and the fake GPU's live energy counter all read it,
    and the script's idle sleep and hashing window move it by their lengths. The hashing itself
    runs for real on the fake CuPy; how fast, or how busy the machine is, changes no verdict."""
    import json
    import types

    import benchhash.meters.gpu as gpu_meter
    import fake_nvml
    from fake_nvml import FakeGpu
    from fake_time import FakeTime
    fake_cupy()
    clock = FakeTime().install_meters(monkeypatch, gpu_meter)
    monkeypatch.setattr(fake_nvml, "time", clock)
    script = load("nvml_selfcheck")
    real_hash = script._hash_for

    def hash_for(seconds: float, index: int) -> dict[str, Any]:
        done = real_hash(seconds, index)
        clock.advance(seconds)                # the meter's window lasts as long as the hashing did
        return done

    monkeypatch.setattr(script, "_hash_for", hash_for)
    monkeypatch.setattr(script, "time", types.SimpleNamespace(
        sleep=clock.sleep, perf_counter=time.perf_counter, strftime=time.strftime, gmtime=time.gmtime))
    out = tmp_path / "nvml.json"
    monkeypatch.setattr(sys, "argv", ["nvml_selfcheck", "--seconds", "0.5", "--idle", "0.3", "--out", str(out)])
    with FakeGpu(live_counter=True, power_mw=420_000, _t0=clock.monotonic()).installed():
        code = int(script.main())
    report = json.loads(out.read_text())
    checks = report["checks"]
    assert checks["energy_counter"] and checks["instant_power_field"] and checks["sm_clock_read"]
    assert checks["counter_vs_polled_within_5pct"] and checks["polling_at_least_8_hz"]
    assert report["meter"]["instant_power_value_type"] == 1
    assert report["hashing"]["average_w"] == pytest.approx(420, rel=0.05)
    assert report["hashing"]["telemetry"]["samples"] >= 4
    # the fake draws the same power idle and busy: the self-check says so and exits 1
    assert not checks["busy_draws_10pct_more_than_idle"] and code == 1 and not report["ok"]


def test_gpu_check_interrupts_a_step_that_overruns_and_goes_on(tmp_path: Path) -> None:
    gpu_check = load("gpu_check")
    st = gpu_check.Stage("quick", tmp_path, budget_s=60)
    # the child takes SIGINT as Ctrl-C even when this test runs with it ignored (nohup, a job)
    slow = st.run("sleeper", [sys.executable, "-c",
                              "import signal, time\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
                              "try:\n time.sleep(30)\nexcept KeyboardInterrupt:\n"
                              " print('interrupted, partial result kept')\n raise SystemExit(130)"],
                  cap_s=2)
    fast = st.run("ok", [sys.executable, "-c", "print('fine')"], cap_s=10)
    st.close()
    assert slow["timed_out"] and not slow["ok"] and slow["rc"] == 130
    # cut at its 2 s cap by SIGINT (it says so from its KeyboardInterrupt), not left to sleep out
    assert "partial result kept" in slow["tail"] and slow["timeout_s"] == 2
    assert fast["ok"] and fast["rc"] == 0
    log = (tmp_path / "quick.log").read_text()
    assert "===== sleeper" in log and "(timed out)" in log and "fine" in log


def test_bench_fleet_runs_both_arms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One short round: a 2-rank fleet and 2 independent processes, each rank's median kept."""
    import json
    out = tmp_path / "fleet.json"
    assert _run_script("bench_fleet", ["--rounds", "1", "--seconds", "0.3", "--trials", "1", "--warmup", "0",
                                       "--out", str(out)], monkeypatch) == 0
    report = json.loads(out.read_text())
    assert [len(r) for r in report["fleet_rank_median_hps"]] == [2]
    assert [len(r) for r in report["independent_rank_median_hps"]] == [2]
    assert report["ratio_median"] == report["ratio_per_round"][0] > 0
    assert report["meets_goal"] == (report["ratio_median"] >= 0.97)


@pytest.mark.parametrize("arch", ["sm_90", "sm_80"])
def test_bench_kernel_gpu_bound_comes_from_the_committed_sass_counts(arch: str) -> None:
    bench = load("bench_kernel_gpu")
    imad, plain = bench.sass_clocks(arch, "imad-adds", 512), bench.sass_clocks(arch, "plain-adds", 512)
    assert imad is not None and plain is not None and imad < plain   # the IMAD routing costs fewer clocks
    # every build the default sweep launches has its count, so every row gets a bound
    assert all(bench.sass_clocks(arch, v, t) for v, t, _ in bench.parse_configs(bench.DEFAULT_CONFIGS))
    assert bench.sass_clocks(arch, "imad-adds", 1024) is None          # a build nobody counted: no bound
    # 132 SMs at 1980 MHz over 28.4375 SM clocks per nonce (1,820 ALU ops / 64 per clock): 9.19 GH/s
    row = {"sms": 132, "sm_clock_mhz_median": 1980.0, "median_ghps": 8.0}
    got = bench.with_bound(row, 1820 / 64)
    assert got["bound_ghps_at_clock"] == pytest.approx(9.1907, rel=1e-4)
    assert got["pct_of_bound"] == pytest.approx(100 * 8.0 / 9.1907, rel=1e-4)
    no_clock = bench.with_bound({**row, "sm_clock_mhz_median": None}, 1820 / 64)
    assert no_clock["bound_ghps_at_clock"] is None and no_clock["pct_of_bound"] is None


def test_bench_kernel_gpu_counts_no_rate_for_a_kernel_that_misses_the_genesis_nonce(fake_cupy: Any) -> None:
    bench = load("bench_kernel_gpu")
    fake_cupy(host_lib=None)            # a "kernel" that finds nothing, instantly: fast and wrong
    from benchhash.sha256d.cuda import Launch
    sampler = bench.ClockSampler(0)
    with pytest.raises(RuntimeError, match="missed its nonce 2083236893"):
        bench.measure(0, Launch(), 1, sampler)
    assert bench.run_launch(0) == (512, 4)          # the fake is an H100 (sm_90): the tuned shape


def test_bench_ai_interrupted_still_writes_what_it_measured(tmp_path: Path) -> None:
    """gpu_check stops a step that runs out of time with SIGINT; bench_ai used to re-raise and
    write nothing (an H100's 8B step lost 7 minutes of measuring that way)."""
    import json
    import os
    import signal
    import subprocess

    from conftest import _default_sigint
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ai.json"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.Popen([sys.executable, str(root / "scripts" / "bench_ai.py"), "--device", "cpu",
                             "--workloads", "gemm", "--gemm-size", "256", "--duration", "0.3", "--trials", "200",
                             "--warmup", "0", "--out", str(out)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            preexec_fn=_default_sigint)   # SIGINT as Ctrl-C, even under nohup or in a job
    assert proc.stderr is not None
    for line in proc.stderr:                       # the runner's stage lines: stop after two trials
        if "trial 3/200" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    report = json.loads(out.read_text())
    assert report["stopped"].startswith("interrupted")
    (phase,) = report["phases"]
    assert 2 <= len(phase["trials"]) < 200 and report["summary"][0]["rate_median"] > 0
