#!/usr/bin/env python3
"""One command that checks benchhash on a GPU node, from a source checkout (no install needed:
it runs everything with PYTHONPATH=src), in stages that each fit a 9-minute limit:

  quick  pytest -m gpu; the kernel's registers, occupancy and GH/s (bench_sha256d); a 10 s NVML
         self-check while hashing; `benchhash run --quick --workloads sha256d`, verified
  ai     gemm bf16 and fp8 at 8192^3; the 8B decoder's prefill and decode at batch 1 and 64
  full   the default `benchhash run` on the GPU, its sealed result under results/, verified
  caps   the default workloads at 8 power limits (needs root), verified and priced
  kernel the SHA-256d kernel's GH/s against its SASS bound at the SM clock NVML reports, for
         each variant x threads per block x waves (bench_kernel_gpu.py), and the CPU kernels

Each step runs in its own process with a share of the stage's time; a step that fails or runs
out of time is recorded (a run that runs out of time is interrupted as Ctrl-C would, so it still
writes its partial result) and the stage goes on. Every stage writes DIR/gpu-check-<stage>.json
(steps, parsed figures, the targets and whether they are met) and DIR/<stage>.log."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("quick", "ai", "full", "caps", "kernel")
RESERVE_S = 20.0        # kept back from the budget for interrupting a step and writing files


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Stage:
    """Runs steps one after another inside a time budget, logging everything."""

    def __init__(self, name: str, out: Path, budget_s: float) -> None:
        self.name, self.out = name, out
        self.deadline = time.monotonic() + budget_s
        self.steps: list[dict[str, Any]] = []
        self.log = (out / f"{name}.log").open("a", encoding="utf-8")

    def left(self) -> float:
        return self.deadline - time.monotonic() - RESERVE_S

    def run(self, name: str, argv: list[str], cap_s: float | None = None) -> dict[str, Any]:
        timeout = self.left() if cap_s is None else min(cap_s, self.left())
        step: dict[str, Any] = {"name": name, "argv": argv, "timeout_s": round(timeout, 1)}
        self.log.write(f"\n===== {name}: {' '.join(argv)} (timeout {timeout:.0f} s)\n")
        self.log.flush()
        if self.left() <= 5:
            step.update(rc=None, ok=False, timed_out=False, seconds=0.0,
                        error="no time left in this stage's budget")
            self.steps.append(step)
            return step
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        timed_out = False
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGINT)          # as Ctrl-C: runs keep what they measured
            try:
                output, _ = proc.communicate(timeout=RESERVE_S / 2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
        step.update(rc=proc.returncode, timed_out=timed_out, seconds=round(time.monotonic() - t0, 1),
                    ok=proc.returncode == 0 and not timed_out, tail=output[-2000:])
        self.log.write(output)
        self.log.write(f"===== {name}: exit {proc.returncode}{' (timed out)' if timed_out else ''}, "
                       f"{step['seconds']} s\n")
        self.log.flush()
        self.steps.append(step)
        return step

    def close(self) -> None:
        self.log.close()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pytest_counts(text: str) -> dict[str, int]:
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed)", text)}


def _target(name: str, measured: float | None, op: str, bound: float, applies: bool,
            why: str) -> dict[str, Any]:
    met = None if measured is None or not applies else (
        measured >= bound if op == ">=" else measured <= bound)
    return {"name": name, "target": f"{op} {bound:g}", "measured": measured, "met": met,
            "applies": applies, "applies_to": why}


def _h100_sxm(device: str) -> bool:
    d = device.lower()
    return "h100" in d and ("hbm3" in d or "sxm" in d)


def stage_quick(st: Stage, py: str) -> list[dict[str, Any]]:
    out = st.out
    step = st.run("pytest-gpu", [py, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p", "no:cacheprovider",
                                 f"--junitxml={out / 'pytest-gpu.xml'}"], cap_s=240)
    counts = _pytest_counts(step.get("tail", ""))
    step["counts"] = counts
    if counts.get("skipped"):
        step["ok"] = False
        step["error"] = "GPU tests were skipped: a skipped GPU test is not a passed one"
    st.run("bench-sha256d", [py, "scripts/bench_sha256d.py", "--only", "gpu", "--repeats", "5",
                             "--out", str(out / "bench-sha256d.json")], cap_s=120)
    bench = _json(out / "bench-sha256d.json") or {}
    cuda = bench.get("cuda", {})
    st.steps[-1]["figures"] = {"ghps": cuda.get("median_ghps"), "launch": cuda.get("launch"),
                               "device": cuda.get("device")}
    st.run("nvml-selfcheck", [py, "scripts/nvml_selfcheck.py", "--seconds", "10",
                              "--out", str(out / "nvml-selfcheck.json")], cap_s=90)
    nvml = _json(out / "nvml-selfcheck.json") or {}
    st.steps[-1]["figures"] = {"checks": nvml.get("checks"),
                               "gap_pct": (nvml.get("hashing") or {}).get("gap_pct"),
                               "value_type": (nvml.get("meter") or {}).get("instant_power_value_type")}
    result = out / "quick-sha256d.json"
    st.run("run-quick-sha256d", [py, "-m", "benchhash", "run", "--quick", "--device", "cuda",
                                 "--workloads", "sha256d", "--out", str(result)], cap_s=120)
    st.run("verify-quick-sha256d", [py, "-m", "benchhash", "verify", str(result)], cap_s=60)
    fleet = out / "fleet-all-gpus"
    st.run("run-all-gpus-sha256d", [py, "-m", "benchhash", "run", "--all-gpus", "--quick", "--workloads", "sha256d",
                                    "--out", str(fleet)], cap_s=150)
    st.run("verify-all-gpus", [py, "-m", "benchhash", "verify", *map(str, sorted(fleet.glob("*.json")))], cap_s=60)
    summary = _json(fleet / "fleet.json") or {}
    st.steps[-1]["figures"] = [{k: p.get(k) for k in ("label", "ranks", "rate", "average_w", "work_per_joule")}
                               for p in summary.get("phases", [])]
    device = str(cuda.get("device") or "")
    return [_target("sha256d GH/s (bench_sha256d, median of 5)", cuda.get("median_ghps"), ">=",
                    7.5, _h100_sxm(device), "H100 SXM")]


def _row(summary: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    return next((r for r in summary if r.get("phase") == phase), {})


def ai_targets(summary: list[dict[str, Any]], device: str) -> list[dict[str, Any]]:
    sxm = _h100_sxm(device)
    return [
        _target("gemm bf16 8192^3 TFLOP/s", _row(summary, "gemm bf16").get("tflops"), ">=", 770, sxm, "H100 SXM"),
        _target("llm 8b decode batch 1 MBU", _row(summary, "llm decode.b1").get("mbu"), ">=", 0.70, sxm, "H100 SXM"),
        _target("llm 8b decode batch 64 J/token", _row(summary, "llm decode.b64").get("joules_per_unit"),
                "<=", 0.12, sxm, "H100 SXM (ML.ENERGY: 0.12 with vLLM 0.11.1)"),
    ]


def stage_ai(st: Stage, py: str) -> list[dict[str, Any]]:
    out = st.out
    common = ["--device", "cuda", "--duration", "5", "--trials", "3", "--warmup", "5"]
    st.run("bench-gemm", [py, "scripts/bench_ai.py", "--workloads", "gemm", "--gemm-dtypes", "bf16,fp8",
                          "--gemm-size", "8192", *common, "--out", str(out / "bench-gemm.json")], cap_s=150)
    # batches 1 and 64 (those the targets read): each shape is a torch.compile of ~60 s with a
    # cold cache on an H100, and 1, 16, 64 ran past the stage's 9 minutes there
    st.run("bench-llm", [py, "scripts/bench_ai.py", "--workloads", "llm", "--llm-preset", "8b",
                         "--llm-batches", "1,64", *common, "--out", str(out / "bench-llm.json")])
    summary: list[dict[str, Any]] = []
    device = ""
    for name in ("bench-gemm.json", "bench-llm.json"):
        data = _json(out / name) or {}
        summary += data.get("summary", [])
        device = device or data.get("device", "")
    for step in st.steps:
        step["figures"] = [r for r in summary if r["phase"].split()[0] in step["name"]]
    return ai_targets(summary, device)


def stage_full(st: Stage, py: str) -> list[dict[str, Any]]:
    before = set((ROOT / "results").glob("*/*.json"))
    step = st.run("run-default", [py, "-m", "benchhash", "run", "--device", "cuda"])
    made = sorted(set((ROOT / "results").glob("*/*.json")) - before)
    if not made:
        step["ok"] = False
        step["error"] = "no result file was written"
        return []
    result = made[-1]
    copy = st.out / f"{result.parent.name}--{result.name}"
    shutil.copy2(result, copy)
    step["result"] = str(result.relative_to(ROOT))
    st.run("verify-default", [py, "-m", "benchhash", "verify", str(result)], cap_s=60)
    data = _json(result) or {}
    summary = []
    for w in data.get("workloads", []):
        phase = w["workload"] if w["phase"] in ("", "run", "scan") else f"{w['workload']} {w['phase']}"
        summary.append({"phase": phase, **w.get("metrics", {}),
                        "joules_per_unit": w["efficiency"]["joules_per_unit"],
                        "rate_median": (w["stats"]["rate"] or {}).get("median")})
    step["figures"] = summary
    step["failures"] = data.get("failures")
    return ai_targets(summary, (data.get("device") or {}).get("name", ""))


def stage_caps(st: Stage, py: str) -> list[dict[str, Any]]:
    """The default workloads (gemm bf16 only, 8B prefill and decode at batch 64) at 8 power limits
    from the GPU's maximum to its minimum, then verify and the priced curve (`econ --json`).
    Decode at batch 1 is left out: in the 5.5 minutes it was given on an H100, the sweep with it
    got to batch 1's third level and never to batch 64 (each shape costs ~60 s of cold
    torch.compile, then 8 levels); batch 64 is the serving-like case that econ prices."""
    result = ROOT / "results" / "power-caps" / f"sweep-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    st.run("run-sweep", [py, "-m", "benchhash", "run", "--device", "cuda", "--power-limits", "sweep",
                         "--duration", "2", "--trials", "3", "--warmup", "2", "--gemm-dtypes", "bf16",
                         "--llm-preset", "8b", "--llm-batches", "64", "--out", str(result)])
    if not result.exists():
        return []
    shutil.copy2(result, st.out / result.name)
    st.run("verify-sweep", [py, "-m", "benchhash", "verify", str(result)], cap_s=60)
    step = st.run("econ-sweep", [py, "-m", "benchhash", "econ", str(result)], cap_s=60)
    try:                                    # the priced curves as JSON beside the table
        from benchhash.econ.report import EconRequest, econ_data
        caps = econ_data(EconRequest(results=(str(result),), draws=1))[0].get("power_caps", [])
    except Exception as exc:  # noqa: BLE001 - said in the step, the stage goes on
        step["ok"], step["error"] = False, f"{type(exc).__name__}: {exc}"
        return []
    (st.out / "econ-sweep.json").write_text(json.dumps({"benchmark": "econ_power_caps", "result": result.name,
                                                        "power_caps": caps}, indent=1) + "\n")
    step["figures"] = [{"phase": c["workload"], "best_cap_w": c["best_cap_w"]} for x in caps for c in x["curves"]]
    return []


def stage_kernel(st: Stage, py: str) -> list[dict[str, Any]]:
    """The GPU kernel's variants and launch shapes against the SASS bound; the node's CPU
    kernels side by side (bench_sha256d, which includes simd vs sha-ni)."""
    out = st.out / "bench-kernel-gpu.json"
    st.run("bench-kernel-gpu", [py, "scripts/bench_kernel_gpu.py", "--arch", "sm_90", "--out", str(out)],
           cap_s=360)
    data = _json(out) or {}
    st.steps[-1]["figures"] = {k: data.get(k) for k in ("fastest", "default", "fastest_over_default")}
    st.run("bench-sha256d-cpu", [py, "scripts/bench_sha256d.py", "--only", "cpu", "--repeats", "5",
                                 "--out", str(st.out / "bench-sha256d-cpu.json")], cap_s=150)
    best = data.get("fastest") or {}
    return [_target("sha256d kernel, % of its SASS bound at the measured SM clock (fastest shape)",
                    best.get("pct_of_bound"), ">=", 80.0, best.get("pct_of_bound") is not None,
                    "any GPU with a SASS count for its arch")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=STAGES, required=True)
    ap.add_argument("--out", required=True, help="folder for the summary, the log and the outputs")
    ap.add_argument("--budget-s", type=float, default=540.0, help="the stage's time (default 9 min)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    st = Stage(args.stage, out, args.budget_s)
    t0 = time.time()
    try:
        runner = {"quick": stage_quick, "ai": stage_ai, "full": stage_full, "caps": stage_caps,
                  "kernel": stage_kernel}[args.stage]
        targets = runner(st, sys.executable)
    finally:
        st.close()
    summary = {"check": "gpu_check", "stage": args.stage,
               "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
               "seconds": round(time.time() - t0, 1), "python": sys.version.split()[0],
               "steps": [{k: v for k, v in s.items() if k != "tail"} | {"tail": s.get("tail", "")[-600:]}
                         for s in st.steps],
               "targets": targets, "ok": all(s["ok"] for s in st.steps)}
    path = out / f"gpu-check-{args.stage}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"stage": args.stage, "ok": summary["ok"],
                      "steps": {s["name"]: s["ok"] for s in st.steps},
                      "targets": {t["name"]: [t["measured"], t["met"]] for t in targets}}, indent=1))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
