#!/usr/bin/env python3
"""AI-side benchmarks through the same runner and meters as `benchhash run`: gemm TFLOP/s and % of
peak per dtype, LLM prefill and decode (tokens/s, MFU, MBU) with energy per phase, so J/token
comes from the meter. Each phase's compile step is timed on its own (compile_s). Prints JSON; a
phase that fails is recorded with its reason and the others still run; on Ctrl-C (or SIGINT
from gpu_check's time limit) the phases measured so far are still written, with exit 130. On a
GPU the defaults are gemm bf16 8192^3 and the 8B shape at batches 1, 16, 64; on a CPU, fp32
2048^3 and the tiny shape."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchhash.cli import setup_logging
from benchhash.fsutil import print_json, write_atomic
from benchhash.hw.device import resolve
from benchhash.meters import make_meter
from benchhash.report.progress import RunProgress
from benchhash.results.model import Config
from benchhash.runner import Runner
from benchhash.workloads import create

SUMMARY_METRICS = ("tflops", "burst_tflops", "pct_of_peak", "mfu", "mbu", "ttft_ms", "tpot_ms", "context_mean",
                   "prefill_latency_ms", "kv_span_mean")


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def load_compile_cache(path: Path | None) -> dict[str, Any]:
    """torch.compile's artefacts from an earlier process (torch.compiler.load_cache_artifacts),
    so that this one's compiles hit the cache; what happened, for the report."""
    if path is None:
        return {}
    if not path.is_file():
        return {"loaded_bytes": 0, "note": f"{path} does not exist yet: compiled cold, saved after"}
    try:
        import torch
        data = path.read_bytes()
        torch.compiler.load_cache_artifacts(data)
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be used means compiling cold
        return {"loaded_bytes": 0, "error": f"{type(exc).__name__}: {exc}"}
    return {"loaded_bytes": len(data)}


def save_compile_cache(path: Path | None, info: dict[str, Any]) -> None:
    """This process's compile artefacts (torch.compiler.save_cache_artifacts) to path."""
    if path is None:
        return
    try:
        import torch
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            info["saved_bytes"] = 0
            return
        write_atomic(path, saved[0])
        info["saved_bytes"] = len(saved[0])
    except Exception as exc:  # noqa: BLE001 - said in the report; the figures still count
        info["save_error"] = f"{type(exc).__name__}: {exc}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workloads", default="gemm,llm", help="gemm, llm or both")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--gemm-dtypes", default=None)
    ap.add_argument("--gemm-size", type=int, default=None)
    ap.add_argument("--llm-preset", default=None)
    ap.add_argument("--llm-batches", default=None)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--llm-decode-first", action="store_true", help="decode phases before prefill")
    ap.add_argument("--llm-phases", default=None, help="prefill,decode,serve (default: the workload's)")
    ap.add_argument("--compile-cache", type=Path, metavar="FILE",
                    help="load torch.compile artefacts from FILE first (if it exists), save them there after")
    ap.add_argument("--compile-cache-readonly", action="store_true",
                    help="load --compile-cache but do not save over it (to measure what loading saves)")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()
    setup_logging()                       # the runner's stage lines (compile, warm-up, trials) on stderr

    device = resolve(args.device)
    options: dict[str, Any] = {"gemm_dtypes": args.gemm_dtypes or ("bf16" if device.kind == "cuda" else "fp32"),
                               "gemm_size": args.gemm_size, "llm_preset": args.llm_preset,
                               "llm_batches": args.llm_batches, "no_compile": args.no_compile,
                               "llm_decode_first": args.llm_decode_first or None, "llm_phases": args.llm_phases}
    options = {k: v for k, v in options.items() if v is not None}
    cfg = Config.for_run(duration_s=args.duration, trials=args.trials, warmup_s=args.warmup)
    loads = [create(name.strip(), device, options) for name in args.workloads.split(",")]
    cache = load_compile_cache(args.compile_cache)
    with make_meter("auto", device) as meter:
        stages = RunProgress(Console(stderr=True), 0.0, bars=False)     # one line per stage on stderr
        record = Runner(meter, cfg, stages).run(loads)
        described = meter.describe()
    if not args.compile_cache_readonly:
        save_compile_cache(args.compile_cache, cache)
    failures = record.failures
    phases = [p.model_dump(mode="json") for p in record.phases]
    summary = []
    for p in phases:
        row = {"phase": f"{p['workload']} {p['phase']}", "unit": p["unit"],
               "rate_median": p["stats"]["rate"]["median"] if p["stats"]["rate"] else None,
               "average_w": p["energy"]["average_w"], "energy_method": p["energy"]["method"],
               "work_per_joule": p["efficiency"]["work_per_joule"],
               "joules_per_unit": p["efficiency"]["joules_per_unit"], "compile_s": p["compile_s"],
               "compiled": p["params"].get("compiled"), "cuda_graphs": p["params"].get("cuda_graphs"),
               "sm_clock_mhz_median": _median([(t.get("telemetry") or {}).get("sm_clock_mhz_median")
                                               for t in p["trials"]])}
        row.update({k: v for k, v in p["metrics"].items() if k in SUMMARY_METRICS})
        summary.append(row)
    report = {"benchmark": "ai_workloads", "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": device.name, "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "summary": summary,
              "failures": [f.model_dump(mode="json") for f in failures], "meter": described,
              "stopped": record.stopped, "compile_cache": cache or None, "phases": phases}
    print_json(report, args.out)          # what was measured is kept, however the run ended
    if record.error is not None:
        print(f"bench_ai: {record.stopped}", file=sys.stderr)
        return 130 if isinstance(record.error, KeyboardInterrupt) else 1
    return 1 if failures else 0


if __name__ == "__main__":
    from benchhash.errors import BenchhashError
    try:
        sys.exit(main())
    except BenchhashError as exc:          # no GPU, no CuPy, bad option: one line, not a traceback
        print(f"bench_ai: {exc}", file=sys.stderr)
        sys.exit(1)
