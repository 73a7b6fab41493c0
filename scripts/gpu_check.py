#!/usr/bin/env python3
"""One command that checks benchhash on a GPU node, from a source checkout (no install needed:
it runs everything with PYTHONPATH=src).

  all    for a short lease (--budget-s, default 540): in priority order (a) one sealed run
         (sha256d at the tuned launch and gemm bf16 + fp8, with energy and idle power), verified,
         and the copy bandwidth; (b) the 8B decoder, decode at batch 1 and 64; (c) the 8B served
         at concurrency 64 (a sealed run, verified: J per output token with prefill against
         ML.ENERGY's 0.12); (d) the kernel variants' sweep; then, if time is left, pytest -m gpu
         and whether loading torch.compile's saved artefacts saves compile time. A step with too
         little time left is skipped (said); one that overruns is interrupted as Ctrl-C would
         and keeps what it measured. The summary (figures against this GPU kind's targets) is
         rewritten after every step and the headline figures are printed as they come; DIR gets
         at most 4 files: the summary JSON, a README, one .tar.gz of every log and output, and
         the compile artefacts (if under 16 MiB). Never changes the GPU's settings.
  quick  pytest -m gpu; the kernel's registers, occupancy and GH/s (bench_sha256d); a 10 s NVML
         self-check while hashing; `benchhash run --quick --workloads sha256d`, verified
  ai     gemm bf16 and fp8 at 8192^3; the 8B decoder's prefill and decode at batch 1 and 64
  full   the default `benchhash run` on the GPU, its sealed result under results/, verified
  caps   the default workloads at 8 power limits (needs root and --allow-power-limits: it
         changes the GPU's power limit, so never on a machine that is not yours), verified, priced
  kernel the SHA-256d kernel's GH/s against its SASS bound at the SM clock NVML reports, for
         each configuration of bench_kernel_gpu.py, and the CPU kernels

Each step runs in its own process with a share of the stage's time; a step that fails or runs
out of time is recorded and the stage goes on. Stages other than `all` write
DIR/gpu-check-<stage>.json and DIR/<stage>.log."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
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

    def __init__(self, name: str, out: Path, budget_s: float, log_dir: Path | None = None) -> None:
        self.name, self.out = name, out
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.steps: list[dict[str, Any]] = []
        self.log = ((log_dir or out) / f"{name}.log").open("a", encoding="utf-8")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.deadline - time.monotonic() - RESERVE_S

    def run(self, name: str, argv: list[str], cap_s: float | None = None,
            env: dict[str, str] | None = None) -> dict[str, Any]:
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
        try:
            proc = subprocess.Popen(argv, cwd=ROOT, env={**_env(), **(env or {})}, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                    preexec_fn=_ctrl_c_works)
        except OSError as exc:
            step.update(rc=None, ok=False, timed_out=False, seconds=0.0, error=f"{argv[0]}: {exc.strerror}")
            self.log.write(f"===== {name}: {step['error']}\n")
            self.steps.append(step)
            return step
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
        if not step["ok"]:
            step["error"] = "interrupted at its time limit" if timed_out else last_line(output, proc.returncode)
        self.log.write(output)
        self.log.write(f"===== {name}: exit {proc.returncode}{' (timed out)' if timed_out else ''}, "
                       f"{step['seconds']} s\n")
        self.log.flush()
        self.steps.append(step)
        return step

    def close(self) -> None:
        self.log.close()


def _ctrl_c_works() -> None:
    """In a step's child: SIGINT back to its default, so that the interrupt at its time limit
    stops it as Ctrl-C would (and it keeps what it measured) even when gpu_check itself was
    started with SIGINT ignored (nohup, a background job), which children would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def last_line(output: str, rc: int) -> str:
    """A failed step in one line: the last line it printed that says something."""
    lines = [x.strip() for x in output.splitlines() if x.strip() and not x.strip().startswith(("=", "-"))]
    return f"exit {rc}: {lines[-1][:300]}" if lines else f"exit {rc}, nothing printed"


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


def kind_of(device_name: str, memory_bytes: int | None = None) -> str | None:
    """The catalogue key of a GPU by its NVML name (exact, memory where names collide)."""
    from benchhash.workloads.peaks import lookup
    hit = lookup(device_name, memory_bytes) if device_name else None
    return hit[0] if hit else None


def stage_quick(st: Stage, py: str) -> list[dict[str, Any]]:
    out = st.out
    step = st.run("pytest-gpu", [py, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p", "no:cacheprovider",
                                 f"--junitxml={out / 'pytest-gpu.xml'}"], cap_s=240)
    judge_pytest(step)
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
    kind = kind_of(str(cuda.get("device") or ""))
    t = TARGETS.get(kind or "")
    return [_target("sha256d GH/s (bench_sha256d, median of 5)", cuda.get("median_ghps"), ">=",
                    (t or TARGETS["H200 SXM"])["sha256d_ghps"], t is not None, kind or "a GPU kind without targets")]


def _row(summary: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    return next((r for r in summary if r.get("phase") == phase), {})


def ai_targets(summary: list[dict[str, Any]], device: str) -> list[dict[str, Any]]:
    """The targets of --stage all for rows of bench_ai or of a run (gemm, llm; no sha256d)."""
    fig = {"kind": kind_of(device), "run": summary, "llm": summary, "serve": summary, "copy_gb_s": None}
    return [t for t in all_targets(fig) if not t["name"].startswith("sha256d")]


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
    summary = phase_rows(data)
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


# ----------------------------------------------------------------------------------------------
# --stage all: one command for a short GPU lease
# ----------------------------------------------------------------------------------------------
#: What each GPU kind must reach (keys as in the catalogue, data/gpus.json). The GEMM target
#: at the clock a trial held is 0.92 x peak x clock / the clock the peak is quoted at (the
#: catalogue's peak_clock_mhz: 1830 MHz on both parts).
#: Served J per output token, prefill included (issue 27): ML.ENERGY's figure for Llama-3.1-8B on
#: an H100 (vLLM 0.11.1, batch 64) is the reference line; an H100 should be level with it, an
#: H200 (4.8 TB/s against 3.35) below it.
SERVE_REFERENCE = {"j_per_token": 0.12, "source": "ML.ENERGY Leaderboard v3: Llama-3.1-8B on an H100, "
                                                  "vLLM 0.11.1, batch 64, energy per output token of a server"}
TARGETS: dict[str, dict[str, float]] = {
    kind: {"sha256d_ghps": 8.0, "gemm_bf16_of_peak_at_clock": 0.92, "gemm_bf16_of_sustained": 0.95,
           "decode_b1_mbu": 0.75, "serve_j_per_token": serve}
    for kind, serve in (("H100 SXM", 0.12), ("H200 SXM", 0.10))
}
ARCHIVE = "gpu-check-all.tar.gz"
SUMMARY = "gpu-check-all.json"
MAX_FILE_BYTES = 16 << 20


@dataclass(frozen=True)
class Step:
    """One step of --stage all: its command, the most seconds it may take, the fewest it needs
    to start (with less left it is skipped, and said), and the seconds it is planned to take."""

    name: str
    argv: list[str]
    max_s: float
    min_s: float
    plan_s: float
    env: dict[str, str] = field(default_factory=dict)
    needs: Path | None = None           # a file an earlier step writes; skipped (said) without it


def all_steps(py: str, work: Path, out: Path, cache: Path | None) -> list[Step]:
    """The steps in priority order: (a) one sealed run with energy, (b) the 8B decoder at batch
    1 and 64, (c) the 8B served at concurrency 64 (a sealed run, verified), (d) the kernel sweep;
    then, if time is left, pytest -m gpu and whether carrying torch.compile's artefacts saves
    compile time. None changes the GPU's settings."""
    common = ["--duration", "5", "--trials", "3", "--warmup", "5"]
    run, serve = work / "run.json", work / "serve.json"
    compile_cache = ["--compile-cache", str(cache or out / "compile-cache.bin")]
    fresh_inductor = {"TORCHINDUCTOR_CACHE_DIR": str(work / "inductor-empty")}
    # planned seconds from the first H200 lease (2026-12-04): the run 73 s, the kernel sweep 41 s,
    # pytest -m gpu 56 s; each 8B shape compiles in 70-92 s cold. The llm step measures decode
    # only (its prefill never got past compiling in that lease; serve measures prefill as a server
    # runs it), and serve (a decode graph and a prefill compile, ~150 s) comes before the kernel
    # sweep, already done on the H200: pytest -m gpu now runs when earlier steps finish early
    return [
        Step("nvidia-smi", ["nvidia-smi", "-q"], 15, 2, 2),
        Step("run", [py, "-m", "benchhash", "run", "--device", "cuda", "--workloads", "sha256d,gemm",
                     "--gemm-dtypes", "bf16,fp8", *common, "--idle", "5", "--out", str(run)], 150, 60, 80),
        Step("verify", [py, "-m", "benchhash", "verify", str(run)], 40, 5, 5, needs=run),
        Step("copy-bandwidth", [py, "scripts/bench_copy.py", "--out", str(work / "copy.json")], 40, 5, 8),
        Step("llm", [py, "scripts/bench_ai.py", "--device", "cuda", "--workloads", "llm", "--llm-preset", "8b",
                     "--llm-batches", "1,64", "--llm-decode-first", "--llm-phases", "decode", "--duration", "4",
                     "--trials", "3", "--warmup", "3", *compile_cache, "--out", str(work / "llm.json")], 260, 100, 210),
        Step("serve", [py, "-m", "benchhash", "run", "--device", "cuda", "--workloads", "llm", "--llm-preset", "8b",
                       "--llm-phases", "serve", "--serve-concurrency", "64", "--duration", "4", "--trials", "3",
                       "--warmup", "3", "--out", str(serve)], 240, 120, 165),
        Step("verify-serve", [py, "-m", "benchhash", "verify", str(serve)], 40, 5, 5, needs=serve),
        Step("kernel", [py, "scripts/bench_kernel_gpu.py", "--repeats", "3", "--out", str(work / "kernel.json")],
             90, 25, 45),
        Step("pytest-gpu", [py, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p", "no:cacheprovider",
                            f"--junitxml={work / 'pytest-gpu.xml'}"], 120, 30, 60),
        Step("compile-cache", [py, "scripts/bench_ai.py", "--device", "cuda", "--workloads", "llm",
                               "--llm-preset", "8b", "--llm-batches", "1", "--llm-decode-first", "--duration", "1",
                               "--trials", "1", "--warmup", "0.5", *compile_cache,
                               "--compile-cache-readonly", "--out", str(work / "llm-cached.json")], 120, 60, 90,
             env=fresh_inductor),
    ]


def phase_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A sealed run's phases as flat rows: rate, power, efficiency, clocks, throttling."""
    rows = []
    for w in result.get("workloads", []):
        tele = [t.get("telemetry") or {} for t in w.get("trials", [])]
        clocks = [t["sm_clock_mhz_median"] for t in tele if t.get("sm_clock_mhz_median")]
        throttle: dict[str, float] = {}
        for t in tele:
            for k, v in (t.get("throttle_share") or {}).items():
                throttle[k] = max(throttle.get(k, 0.0), v)
        phase = w["workload"] if w["phase"] in ("", "run", "scan") else f"{w['workload']} {w['phase']}"
        rows.append({"phase": phase, "rate_median": (w["stats"].get("rate") or {}).get("median"),
                     "rate_unit": w.get("rate_unit"), "average_w": w["energy"].get("average_w"),
                     "work_per_joule": w["efficiency"].get("work_per_joule"),
                     "joules_per_unit": w["efficiency"].get("joules_per_unit"),
                     "sm_clock_mhz_median": sorted(clocks)[len(clocks) // 2] if clocks else None,
                     "throttle_max_share": throttle, "complete": w.get("complete"),
                     **{k: v for k, v in w.get("metrics", {}).items() if k in ("tflops", "burst_tflops", "pct_of_peak",
                                                                           "mfu", "mbu", "tpot_ms", "ttft_ms")
                        or k.startswith(SERVE_KEYS)}})
    return rows


#: what a serve phase's row keeps of its metrics (prefixes)
SERVE_KEYS = ("ttft_ms_p", "tpot_ms_p", "requests_per_s", "input_tokens_per_s", "output_tokens_per_request",
              "prefill_latency_ms", "slo")


def _by_phase(rows: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    return next((r for r in rows if r.get("phase") == phase), {})


def gpu_kind(result: dict[str, Any]) -> str | None:
    """The catalogue key of the run's GPU (exact name, memory where names collide)."""
    dev = result.get("device") or {}
    return kind_of(dev.get("name") or "", dev.get("memory_bytes")) if dev.get("kind") == "cuda" else None


def figures(work: Path) -> dict[str, Any]:
    """Everything the steps wrote so far, read back into one dict (missing pieces are None)."""
    run = _json(work / "run.json") or {}
    llm = _json(work / "llm.json") or {}
    cached = _json(work / "llm-cached.json") or {}
    kernel = _json(work / "kernel.json") or {}
    copy = _json(work / "copy.json") or {}
    return {"device": (run.get("device") or {}).get("name") or llm.get("device"), "kind": gpu_kind(run),
            "idle_w": (run.get("idle") or {}).get("average_w") if isinstance(run.get("idle"), dict) else None,
            "run": phase_rows(run), "llm": llm.get("summary", []), "llm_stopped": llm.get("stopped"),
            "serve": phase_rows(_json(work / "serve.json") or {}),
            "compile_cache": {"cold": {r["phase"]: r.get("compile_s") for r in llm.get("summary", [])},
                              "loaded": {r["phase"]: r.get("compile_s") for r in cached.get("summary", [])},
                              "cache": cached.get("compile_cache") or llm.get("compile_cache")},
            "copy_gb_s": copy.get("median_gb_s"), "copy_of_datasheet": copy.get("of_datasheet"),
            "kernel": {k: kernel.get(k) for k in ("fastest", "default", "run_launch", "fastest_over_run_launch")}
            | {"rows": [{k: r.get(k) for k in ("variant", "threads", "waves", "median_ghps", "mad_ghps",
                                                "pct_of_bound", "sm_clock_mhz_median", "error")}
                        for r in kernel.get("rows", [])]}}


def all_targets(fig: dict[str, Any]) -> list[dict[str, Any]]:
    """Figures against the targets of this GPU kind (met: None where it does not apply)."""
    from benchhash.workloads.peaks import entry_for_name
    kind = fig["kind"]
    t = TARGETS.get(kind or "")
    applies, why = t is not None, kind or "a GPU kind without targets"
    t = t or TARGETS["H200 SXM"]
    entry = (entry_for_name(kind) or (None, {}))[1] if kind else {}
    sha = _by_phase(fig["run"], "sha256d").get("rate_median")
    gemm = _by_phase(fig["run"], "gemm bf16")
    tflops, mhz = gemm.get("tflops"), gemm.get("sm_clock_mhz_median")
    peak, quoted_at = (entry.get("tflops") or {}).get("bf16"), entry.get("peak_clock_mhz")
    at_clock = peak * min(mhz, quoted_at) / quoted_at if peak and mhz and quoted_at else None
    sustained = (entry.get("sustained_tflops") or {}).get("bf16")
    b1 = _by_phase(fig["llm"], "llm decode.b1")
    out = [
        _target("sha256d GH/s (sealed run, tuned launch)", None if sha is None else sha / 1e9, ">=",
                t["sha256d_ghps"], applies, why),
        _target("gemm bf16 sustained / dense peak at the SM clock it ran at",
                tflops / at_clock if tflops and at_clock else None, ">=", t["gemm_bf16_of_peak_at_clock"],
                applies, why),
        _target("gemm bf16 sustained / mamf-finder MSMF", tflops / sustained if tflops and sustained else None,
                ">=", t["gemm_bf16_of_sustained"], applies and sustained is not None,
                f"{why} (MSMF {sustained} TFLOP/s)" if sustained else f"{why}: no MSMF published"),
        _target("llm 8b decode batch 1 MBU (datasheet bandwidth)", b1.get("mbu"), ">=", t["decode_b1_mbu"],
                applies, why),
    ]
    bw = entry.get("memory_bandwidth_gb_s")
    out[-1]["of_copy_bandwidth"] = (b1["mbu"] * bw / fig["copy_gb_s"]
                                    if b1.get("mbu") and bw and fig.get("copy_gb_s") else None)
    out[1]["burst_tflops"], out[1]["sustained_tflops"] = gemm.get("burst_tflops"), tflops
    out[1]["dense_peak_at_clock_tflops"], out[1]["sm_clock_mhz"] = at_clock, mhz
    return out + [serve_target(fig, t, applies, why)]


def serve_target(fig: dict[str, Any], t: dict[str, float], applies: bool, why: str) -> dict[str, Any]:
    """Served J per output token, prefill included (8B, concurrency 64), against ML.ENERGY's."""
    row = _by_phase(fig.get("serve") or [], "llm serve.c64")
    out = _target("llm 8b served at concurrency 64, J per output token with prefill", row.get("joules_per_unit"),
                  "<=", t["serve_j_per_token"], applies, why)
    decode = _by_phase(fig.get("llm") or [], "llm decode.b64").get("joules_per_unit")
    return out | {"reference": SERVE_REFERENCE, "decode_only_b64_j_per_token": decode,
                  "tokens_per_s": row.get("rate_median"),
                  **{k: row.get(k) for k in ("tpot_ms_p50", "tpot_ms_p99", "ttft_ms_p50", "ttft_ms_p99", "mbu")}}


def headline(name: str, fig: dict[str, Any]) -> str | None:
    """The line printed when a step ends: what a person watching wants to know."""
    def f(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)
    if name == "run" and fig["run"]:
        parts = [f"idle {f(fig['idle_w'], '.0f')} W"]
        for r in fig["run"]:
            if r["phase"] == "sha256d" and r["rate_median"]:
                jth = 1e12 / r["work_per_joule"] if r.get("work_per_joule") else None
                parts.append(f"sha256d {r['rate_median'] / 1e9:.2f} GH/s at {f(r['average_w'], '.0f')} W "
                             f"({f(jth, '.1f')} J/TH)")
            elif r.get("tflops"):
                parts.append(f"{r['phase']} {r['tflops']:.0f} TFLOP/s sustained "
                             f"(burst {f(r.get('burst_tflops'), '.0f')}) at {f(r['sm_clock_mhz_median'], '.0f')} MHz, "
                             f"{f(r['average_w'], '.0f')} W")
        return "; ".join(parts)
    if name == "copy-bandwidth":
        return f"copy {f(fig['copy_gb_s'], '.0f')} GB/s ({f(fig['copy_of_datasheet'], '.2f')} of the datasheet)"
    if name == "llm" and fig["llm"]:
        return "; ".join(f"{r['phase']} {f(r.get('rate_median'), '.0f')} tok/s, "
                         f"{f(r.get('joules_per_unit'), '.3f')} J/tok"
                         + (f", MBU {r['mbu']:.2f}" if r.get("mbu") else "")
                         + (f", MFU {r['mfu']:.2f}" if r.get("mfu") and "prefill" in r["phase"] else "")
                         + (" (decode-only)" if "decode" in r["phase"] else "") for r in fig["llm"])
    if name == "serve" and fig["serve"]:
        ref = SERVE_REFERENCE["j_per_token"]
        return "; ".join(f"{r['phase']} {f(r.get('rate_median'), '.0f')} tok/s out, "
                         f"{f(r.get('joules_per_unit'), '.3f')} J/tok with prefill (ML.ENERGY {ref}), TTFT p50/p99 "
                         f"{f(r.get('ttft_ms_p50'), '.0f')}/{f(r.get('ttft_ms_p99'), '.0f')} ms, TPOT p50/p99 "
                         f"{f(r.get('tpot_ms_p50'), '.1f')}/{f(r.get('tpot_ms_p99'), '.1f')} ms" for r in fig["serve"])
    if name == "kernel" and fig["kernel"].get("fastest"):
        b, used = fig["kernel"]["fastest"], fig["kernel"].get("run_launch") or {}
        return (f"fastest {b['variant']} {b['threads']}x{b['waves']} {b['median_ghps']:.2f} GH/s "
                f"({f(b.get('pct_of_bound'), '.0f')} % of its bound); run's launch {f(used.get('median_ghps'), '.2f')}")
    if name == "compile-cache":
        cc = fig["compile_cache"]
        return (f"decode.b1 compile {f(cc['cold'].get('llm decode.b1'), '.0f')} s cold, "
                f"{f(cc['loaded'].get('llm decode.b1'), '.0f')} s with the artefacts loaded")
    return None


def write_all_files(out: Path, work: Path, st: Stage, plan: list[dict[str, Any]], t0: float,
                    budget_s: float) -> dict[str, Any]:
    """The summary JSON, the README and the archive of everything in the work folder."""
    fig = figures(work)
    summary = {"check": "gpu_check", "stage": "all", "budget_s": budget_s,
               "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
               "seconds": round(time.time() - t0, 1), "python": sys.version.split()[0], "plan": plan,
               "steps": [{k: v for k, v in s.items() if k != "tail"} | {"tail": s.get("tail", "")[-600:]}
                         for s in st.steps],
               "figures": fig, "targets": all_targets(fig),
               "ok": bool(st.steps) and all(s["ok"] for s in st.steps)}
    (out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(readme(summary))
    st.log.flush()
    tmp = out / (ARCHIVE + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(work.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name)
    tmp.replace(out / ARCHIVE)
    return summary


def readme(summary: dict[str, Any]) -> str:
    fig = summary["figures"]
    lines = [f"# gpu_check --stage all on {fig['device'] or 'no GPU'} ({fig['kind'] or 'unknown kind'})", "",
             f"Started {summary['started_utc']}, {summary['seconds']} s of a {summary['budget_s']:.0f} s budget. "
             f"Logs and every output: `{ARCHIVE}`; figures: `{SUMMARY}`.", "",
             "| step | planned s | took s | result |", "|---|---|---|---|"]
    done = {s["name"]: s for s in summary["steps"]}
    for p in summary["plan"]:
        s = done.get(p["name"])
        result = "not reached" if s is None else ("ok" if s["ok"] else s.get("error", "failed"))
        lines.append(f"| {p['name']} | {p['plan_s']:.0f} | {'-' if s is None else s['seconds']} | {result} |")
    lines += ["", "| target | measured | target | met |", "|---|---|---|---|"]
    for t in summary["targets"]:
        m = t["measured"]
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "NO")
        lines.append(f"| {t['name']} | {'-' if m is None else f'{m:.3g}'} | {t['target']} | {met} |")
    return "\n".join(lines) + "\n"


def skip_reason(step: Step, left_s: float) -> str | None:
    if step.needs is not None and not step.needs.exists():
        return f"skipped: no {step.needs.name} (an earlier step did not write it)"
    if left_s < step.min_s:
        return f"skipped: needs {step.min_s:.0f} s to start, {max(0.0, left_s):.0f} s left"
    return None


def judge_pytest(step: dict[str, Any]) -> None:
    """pytest -m gpu passes only if GPU tests ran and none was skipped."""
    counts = _pytest_counts(step.get("tail", ""))
    step["counts"] = counts
    if step["ok"] and (counts.get("skipped") or not counts.get("passed")):
        step["ok"] = False
        step["error"] = (f"GPU tests were skipped ({counts.get('skipped', 0)} skipped, {counts.get('passed', 0)} "
                         "passed): a skipped GPU test is not a passed one")


def plan_of(steps: list[Step], budget_s: float) -> list[dict[str, Any]]:
    """The steps in priority order with their planned seconds; those past the budget are run
    only if the earlier ones finish early."""
    plan, total = [], 0.0
    for s in steps:
        total += s.plan_s
        plan.append({"name": s.name, "plan_s": s.plan_s, "max_s": s.max_s, "min_s": s.min_s,
                     "within_budget": total <= budget_s - RESERVE_S})
    return plan


def stage_all(out: Path, budget_s: float, py: str, cache: Path | None) -> int:
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    st = Stage("all", out, budget_s, log_dir=work)
    steps = all_steps(py, work, out, cache)
    plan = plan_of(steps, budget_s)
    print(f"gpu_check all: {len(steps)} steps, {budget_s:.0f} s budget, outputs in {out}", flush=True)
    for p in plan:
        print(f"  {p['name']:<15} plan {p['plan_s']:>4.0f} s, at most {p['max_s']:>4.0f} s"
              f"{'' if p['within_budget'] else '  (only if time is left)'}", flush=True)
    try:
        for s in steps:
            why = skip_reason(s, st.left())
            if why:
                st.steps.append({"name": s.name, "argv": s.argv, "ok": False, "rc": None, "timed_out": False,
                                 "seconds": 0.0, "skipped": True, "error": why})
            else:
                st.run(s.name, s.argv, cap_s=s.max_s, env=s.env)
            step = st.steps[-1]
            if s.name == "pytest-gpu":
                judge_pytest(step)
            summary = write_all_files(out, work, st, plan, t0, budget_s)
            said = headline(s.name, summary["figures"]) if step["ok"] else step.get("error")
            print(f"[{st.elapsed():5.0f} s] {s.name}: {'ok' if step['ok'] else 'FAILED'}"
                  f"{': ' + said if said else ''}", flush=True)
    finally:
        summary = write_all_files(out, work, st, plan, t0, budget_s)
        st.close()
        cache_file = out / "compile-cache.bin"
        if cache_file.exists() and cache_file.stat().st_size > MAX_FILE_BYTES:
            cache_file.rename(work / cache_file.name)        # too big to come back: stays on the node
        shutil.rmtree(work / "inductor-empty", ignore_errors=True)
    for t in summary["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        print(f"target {t['name']}: {t['measured']} {t['target']} -> {met}", flush=True)
    return 0 if summary["ok"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=("all", *STAGES), required=True)
    ap.add_argument("--out", required=True, help="folder for the summary, the log and the outputs")
    ap.add_argument("--budget-s", type=float, default=540.0, help="the stage's time (default 9 min)")
    ap.add_argument("--allow-power-limits", action="store_true",
                    help="let the caps stage change the GPU's power limit (never on a machine that is not yours)")
    ap.add_argument("--compile-cache", type=Path, metavar="FILE",
                    help="all: torch.compile artefacts from an earlier lease to load (default DIR/compile-cache.bin)")
    args = ap.parse_args()
    if args.stage == "caps" and not args.allow_power_limits:
        print("gpu_check: the caps stage changes the GPU's power limit; pass --allow-power-limits "
              "on a machine whose settings you may change", file=sys.stderr)
        return 2
    if not 30 <= args.budget_s <= 86_400:
        print(f"gpu_check: --budget-s must be between 30 and 86400, got {args.budget_s:g}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.stage == "all":
        return stage_all(out, args.budget_s, sys.executable, args.compile_cache)
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
