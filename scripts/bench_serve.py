#!/usr/bin/env python3
"""Served inference against decode alone, through the runner and a meter as `benchhash run`
measures them: at each concurrency C the llm workload's serve.cC (requests of IN:OUT tokens,
continuous batching, prefill inside the windows) and decode.bC (C sequences decoding, no
prefill), interleaved in rounds on one model (the order rotated every round). Prints JSON: per
concurrency and variant the output tokens/s and J per output token of every round and their
medians, the ratios served / decode-only, and the serve phases' TTFT and TPOT percentiles over
every request the rounds completed.

Energy: the meter --meter names (auto: NVML on a GPU, RAPL on a CPU that has it). Where auto
finds none (a VM without RAPL), a replay meter plays a constant --watts, so J per token is those
watts over the measured rate: the ratio served / decode-only is then the inverse of the rate
ratio, and the JSON says so (meter.name "replay", meter.assumed_watts)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchhash.fsutil import print_json
from benchhash.hw.device import resolve
from benchhash.meters import EnergyMeter, make_meter
from benchhash.report.progress import RunProgress
from benchhash.results.model import Config, WorkloadResult
from benchhash.runner import Runner, RunRecord
from benchhash.workloads import create
from benchhash.workloads.llm import serve_proof as sp
from benchhash.workloads.llm.workload import LlmWorkload


def meter_for(spec: str, device: Any, watts: float) -> tuple[EnergyMeter, dict[str, Any]]:
    """The meter asked for; auto without one that measures becomes a constant-power replay."""
    meter = make_meter(spec, device)
    if meter.name != "null" or spec != "auto":
        return meter, {}
    trace = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "constant.json"
    trace.write_text(json.dumps({"interval_s": 0.05, "samples": [{"power_w": watts}]}))
    why = meter.describe().get("reason")
    return make_meter(f"replay:{trace}", device), {"assumed_watts": watts, "why": f"no meter measures here ({why})"}


def _round(runner: Runner, workload: Any, record: RunRecord, order: list[Any], index: int) -> None:
    for k, phase in enumerate(order):
        runner.run_phase(workload, phase, record, (index, k))


def _serve_summary(phases: list[WorkloadResult], slo: list[float]) -> dict[str, Any]:
    """TTFT and TPOT percentiles over every request the serve rounds completed."""
    trials = [[sp.Record.of(row) for row in (t.proof or {}).get("requests", [])] for w in phases for t in w.trials]
    seconds = sum(t.seconds for w in phases for t in w.trials)
    pooled = sp.phase_figures(trials, seconds, slo)
    keep = ("requests", "input_tokens_per_s", "requests_per_s", "output_tokens_per_request", "slo")
    return {k: v for k, v in pooled.items() if k in keep or k.startswith(("ttft_ms", "tpot_ms"))} | {
        "j_per_request_rounds": [sp.served(w)["j_per_request"] for w in phases]}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def compare(phases: list[WorkloadResult], concurrency: int, slo: list[float]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for variant, name in (("served", f"serve.c{concurrency}"), ("decode_only", f"decode.b{concurrency}")):
        mine = [w for w in phases if w.phase == name]
        rates = [w.stats.rate.median for w in mine if w.stats.rate]
        joules = [w.efficiency.joules_per_unit for w in mine if w.efficiency.joules_per_unit]
        rows[variant] = {"phase": name, "tokens_per_s": rates, "j_per_output_token": joules,
                         "tokens_per_s_median": statistics.median(rates) if rates else None,
                         "j_per_output_token_median": statistics.median(joules) if joules else None,
                         "context_mean": [w.metrics.get("context_mean") for w in mine],
                         "kv_span_mean": [w.metrics.get("kv_span_mean") for w in mine]}
    s, d = rows["served"], rows["decode_only"]
    return {"concurrency": concurrency, **rows,
            "served_over_decode_tokens_per_s": _ratio(s["tokens_per_s_median"], d["tokens_per_s_median"]),
            "served_over_decode_j_per_token": _ratio(s["j_per_output_token_median"], d["j_per_output_token_median"]),
            "serve": _serve_summary([w for w in phases if w.phase == s["phase"]], slo)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--lengths", default=None, help="IN:OUT or a histogram file (default: the workload's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per trial")
    ap.add_argument("--trials", type=int, default=1, help="trials per phase per round")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--meter", default="auto")
    ap.add_argument("--watts", type=float, default=100.0, help="constant power replayed where no meter measures")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads on a CPU (1 keeps a shared machine's other processes from stalling them)")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()
    device = resolve(args.device)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    cfg = Config.for_run(duration_s=args.duration, trials=args.trials, warmup_s=args.warmup)
    levels = [int(c) for c in args.concurrency.split(",")]
    meter, assumed = meter_for(args.meter, device, args.watts)
    record = RunRecord()
    rows = []
    w: LlmWorkload | None = None
    with meter:
        runner = Runner(meter, cfg, RunProgress(Console(stderr=True), 0.0, bars=False))
        for c in levels:
            opts = {"llm_phases": "decode,serve", "llm_batches": str(c), "serve_concurrency": str(c),
                    "llm_preset": args.preset, **({"serve_lengths": args.lengths} if args.lengths else {})}
            made = create("llm", device, opts)
            assert isinstance(made, LlmWorkload)
            w = made
            w.setup()
            mine = len(record.phases)
            for r in range(args.rounds):
                phases = w.phases()
                _round(runner, w, record, phases[r % 2:] + phases[:r % 2], r)
            rows.append(compare(record.phases[mine:], c, list(w.slo_ms)))
            w.teardown()
        described = meter.describe() | assumed
    report = {"benchmark": "llm_serve_vs_decode", "device": device.name, "preset": args.preset,
              "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "config": vars(args), "meter": described, "lengths": w.lengths.label if w else None,
              "prompt_of_decode": w.prompt if w else None, "max_seq": w.max_seq if w else None, "results": rows,
              "failures": [f.model_dump(mode="json") for f in record.failures]}
    print_json(report, args.out, indent=1)
    return 1 if record.failures else 0


if __name__ == "__main__":
    sys.exit(main())
