"""scripts/gpu_check.py --stage all: the plan for a short lease, steps skipped or interrupted
by the budget, the files it leaves, the targets per GPU kind, and the power-limit guard."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("script_gpu_check", ROOT / "scripts" / "gpu_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_plan_for_a_lease_fits_540_s_in_priority_order(tmp_path: Path) -> None:
    gc = load()
    steps = gc.all_steps(sys.executable, tmp_path, tmp_path, None)
    names = [s.name for s in steps]
    assert names.index("run") < names.index("llm") < names.index("kernel") < names.index("pytest-gpu")
    plan = gc.plan_of(steps, 540)
    assert sum(p["plan_s"] for p in plan if p["within_budget"]) <= 540
    assert all(p["min_s"] <= p["plan_s"] <= p["max_s"] for p in plan)
    llm = next(s for s in steps if s.name == "llm")
    assert "--llm-decode-first" in llm.argv and "1,64" in llm.argv
    assert names[names.index("llm") + 1:names.index("llm") + 3] == ["serve", "verify-serve"]
    serve = steps[names.index("serve")]
    assert [serve.argv[serve.argv.index(k) + 1] for k in ("--llm-preset", "--llm-phases", "--serve-concurrency")] \
        == ["8b", "serve", "64"] and "--serve-lengths" not in serve.argv      # the default lengths
    assert next(p for p in plan if p["name"] == "serve")["within_budget"]


def test_no_step_of_stage_all_touches_the_gpus_settings(tmp_path: Path) -> None:
    gc = load()
    for step in gc.all_steps(sys.executable, tmp_path, tmp_path, None):
        words = " ".join(step.argv)
        assert "--power-limits" not in words and "-pl" not in step.argv and "-lgc" not in step.argv
        assert not any(a in step.argv for a in ("-pm", "-ac", "-r", "-mig", "-c"))


def test_caps_without_allow_power_limits_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--stage", "caps",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--allow-power-limits" in proc.stderr
    assert not (tmp_path / "o").exists()          # refused before anything was made


def _fake_steps(gc: ModuleType, work: Path) -> list[Any]:
    py = sys.executable
    # Ctrl-C's handler set in the child: under nohup (pytest started in the background) it
    # would inherit SIGINT ignored, as no interactive run of gpu_check does
    sleeper = ("import signal, time\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
               "try:\n time.sleep(60)\nexcept KeyboardInterrupt:\n"
               " print('interrupted, kept what it had')\n raise SystemExit(130)")
    return [
        gc.Step("fails", [py, "-c", "import sys; print('first'); sys.exit('cuda backend: no GPU here')"], 30, 1, 1),
        gc.Step("copy-bandwidth",
                [py, "-c", f"open({str(work / 'copy.json')!r}, 'w').write('{{\"median_gb_s\": 4100}}')"],
                30, 1, 1),
        gc.Step("overruns", [py, "-c", sleeper], 2, 1, 2),
        gc.Step("verify", [py, "-c", "print('never runs')"], 30, 1, 1, needs=work / "run.json"),
        gc.Step("too-long", [py, "-c", "print('never runs')"], 30, 10_000, 30),
    ]


def test_stage_all_skips_interrupts_and_leaves_few_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    gc = load()
    monkeypatch.setattr(gc, "all_steps", lambda py, work, out, cache: _fake_steps(gc, work))
    out = tmp_path / "out"
    out.mkdir()
    assert gc.stage_all(out, 60, sys.executable, None) == 1
    files = sorted(p.name for p in out.rglob("*"))
    assert files == ["README.md", "gpu-check-all.json", "gpu-check-all.tar.gz"] and len(files) <= 8
    summary = json.loads((out / "gpu-check-all.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert steps["fails"]["error"] == "exit 1: cuda backend: no GPU here"
    assert steps["copy-bandwidth"]["ok"] and summary["figures"]["copy_gb_s"] == 4100
    assert steps["overruns"]["timed_out"] and steps["overruns"]["rc"] == 130
    assert steps["verify"]["skipped"] and "no run.json" in steps["verify"]["error"]
    assert steps["too-long"]["skipped"] and "needs 10000 s to start" in steps["too-long"]["error"]
    stdout = capsys.readouterr().out
    assert "copy 4100 GB/s" in stdout                         # the headline, as the step ended
    failed = [line for line in stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 4 and all(line.count(":") >= 2 for line in failed)   # each one line, with its reason
    import tarfile
    with tarfile.open(out / "gpu-check-all.tar.gz") as tar:
        members = tar.getnames()
    assert "all.log" in members and "copy.json" in members
    assert "interrupted, kept what it had" in steps["overruns"]["tail"]      # SIGINT, as Ctrl-C: it kept its figures
    assert "| overruns | 2 |" in (out / "README.md").read_text()


def _write_run(work: Path, name: str, memory: int, sha: float, tflops: float, mhz: float) -> None:
    def phase(workload: str, ph: str, rate: float, metrics: dict[str, Any], clock: float) -> dict[str, Any]:
        return {"workload": workload, "phase": ph, "rate_unit": "x/s", "stats": {"rate": {"median": rate}},
                "energy": {"average_w": 600.0}, "efficiency": {"work_per_joule": rate / 600, "joules_per_unit": None},
                "metrics": metrics, "complete": True,
                "trials": [{"telemetry": {"sm_clock_mhz_median": clock, "throttle_share": {"sw_power_cap": 1.0}}}]}
    run = {"device": {"kind": "cuda", "name": name, "memory_bytes": memory}, "idle": {"average_w": 80.0},
           "workloads": [phase("sha256d", "scan", sha, {}, 1980),
                         phase("gemm", "bf16", tflops * 1e12, {"tflops": tflops, "burst_tflops": 800.0}, mhz)]}
    (work / "run.json").write_text(json.dumps(run))
    (work / "llm.json").write_text(json.dumps({"summary": [{"phase": "llm decode.b1", "mbu": 0.7}]}))
    (work / "copy.json").write_text(json.dumps({"median_gb_s": 4200.0}))


def test_targets_for_an_h200_sxm(tmp_path: Path) -> None:
    gc = load()
    _write_run(tmp_path, "NVIDIA H200", 143_771 << 20, 8.1e9, 700.0, 1500.0)
    fig = gc.figures(tmp_path)
    assert fig["kind"] == "H200 SXM" and fig["idle_w"] == 80.0
    t = {x["name"]: x for x in gc.all_targets(fig)}
    sha = t["sha256d GH/s (sealed run, tuned launch)"]
    assert sha["measured"] == pytest.approx(8.1) and sha["met"] is True
    at_clock = t["gemm bf16 sustained / dense peak at the SM clock it ran at"]
    assert at_clock["dense_peak_at_clock_tflops"] == pytest.approx(989.4 * 1500 / 1830)
    assert at_clock["measured"] == pytest.approx(700 / (989.4 * 1500 / 1830)) and at_clock["met"] is False
    assert at_clock["burst_tflops"] == 800.0                        # reported beside the sustained figure
    msmf = t["gemm bf16 sustained / mamf-finder MSMF"]
    assert msmf["measured"] == pytest.approx(700 / 708.5) and msmf["met"] is True
    mbu = t["llm 8b decode batch 1 MBU (datasheet bandwidth)"]
    assert mbu["met"] is False and mbu["of_copy_bandwidth"] == pytest.approx(0.7 * 4800 / 4200)


def test_targets_do_not_apply_to_other_parts(tmp_path: Path) -> None:
    gc = load()
    _write_run(tmp_path, "NVIDIA H200 NVL", 143_771 << 20, 8.1e9, 700.0, 1500.0)
    fig = gc.figures(tmp_path)
    assert fig["kind"] == "H200 NVL"                     # not the SXM part's figures
    assert all(t["met"] is None for t in gc.all_targets(fig))
    _write_run(tmp_path, "NVIDIA H100 80GB HBM3", 85_017_493_504, 7.6e9, 671.0, 1340.0)
    t = {x["name"]: x for x in gc.all_targets(gc.figures(tmp_path))}
    assert t["gemm bf16 sustained / dense peak at the SM clock it ran at"]["measured"] == pytest.approx(
        671 / (989.4 * 1340 / 1830))                   # the H100 figure the issue recomputed: 0.926
    assert t["gemm bf16 sustained / mamf-finder MSMF"]["met"] is None      # no MSMF for the H100


def test_a_skipped_gpu_test_fails_the_pytest_step() -> None:
    gc = load()
    step: dict[str, Any] = {"ok": True, "tail": "17 passed, 1 skipped, 510 deselected in 49.14s"}
    gc.judge_pytest(step)
    assert not step["ok"] and "skipped" in step["error"]
    step = {"ok": True, "tail": "18 passed, 510 deselected in 49.14s"}
    gc.judge_pytest(step)
    assert step["ok"]


def test_the_ai_and_full_stages_use_the_same_targets() -> None:
    """gemm at its SM clock and against MSMF, decode b1 MBU: the rows of bench_ai or a run."""
    gc = load()
    rows = [{"phase": "gemm bf16", "tflops": 700.0, "sm_clock_mhz_median": 1400.0},
            {"phase": "llm decode.b1", "mbu": 0.8}, {"phase": "llm decode.b64", "joules_per_unit": 0.09}]
    met = {t["name"]: t["met"] for t in gc.ai_targets(rows, "NVIDIA H200")}
    assert met == {"gemm bf16 sustained / dense peak at the SM clock it ran at": True,     # 700 / 756.9
                   "gemm bf16 sustained / mamf-finder MSMF": True,                        # 700 / 708.5
                   "llm 8b decode batch 1 MBU (datasheet bandwidth)": True,
                   "llm 8b served at concurrency 64, J per output token with prefill": None}   # no serve row
    assert all(t["met"] is None for t in gc.ai_targets(rows, "NVIDIA A100-SXM4-80GB"))     # no targets there
    assert all(t["met"] is None for t in gc.ai_targets([], "NVIDIA H200"))                 # nothing measured
    assert gc._pytest_counts("3 passed, 2 skipped in 4.1s") == {"passed": 3, "skipped": 2}


def _write_serve(work: Path, j_per_token: float) -> None:
    row = {"workload": "llm", "phase": "serve.c64", "rate_unit": "token/s", "stats": {"rate": {"median": 6000.0}},
           "energy": {"average_w": 600.0}, "efficiency": {"work_per_joule": 1 / j_per_token,
                                                          "joules_per_unit": j_per_token},
           "metrics": {"tpot_ms_p50": 9.5, "tpot_ms_p99": 12.0, "ttft_ms_p50": 40.0, "ttft_ms_p99": 900.0,
                       "requests_per_s": 11.0, "slo": {"50": {"met": True, "attainment": 1.0}}},
           "complete": True, "trials": [{"telemetry": {}}]}
    result = {"device": {"kind": "cuda", "name": "NVIDIA H200"}, "workloads": [row]}
    (work / "serve.json").write_text(json.dumps(result))


@pytest.mark.parametrize(("gpu", "memory", "j_per_token", "met"), [
    ("NVIDIA H200", 143_771 << 20, 0.095, True), ("NVIDIA H200", 143_771 << 20, 0.11, False),
    ("NVIDIA H100 80GB HBM3", 85_017_493_504, 0.11, True)])
def test_the_served_j_per_token_against_ml_energy(tmp_path: Path, gpu: str, memory: int, j_per_token: float,
                                                  met: bool) -> None:
    gc = load()
    _write_run(tmp_path, gpu, memory, 8.1e9, 700.0, 1500.0)
    _write_serve(tmp_path, j_per_token)
    fig = gc.figures(tmp_path)
    t = {x["name"]: x for x in gc.all_targets(fig)}["llm 8b served at concurrency 64, J per output token with prefill"]
    assert t["measured"] == j_per_token and t["met"] is met and t["reference"]["j_per_token"] == 0.12
    assert t["tpot_ms_p99"] == 12.0 and fig["serve"][0]["slo"] == {"50": {"met": True, "attainment": 1.0}}
    assert "J/tok with prefill (ML.ENERGY 0.12)" in gc.headline("serve", fig)
