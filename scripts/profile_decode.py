#!/usr/bin/env python3
"""Where a decode step's time goes: the LLM workload's decode step at one batch size, eager and
then compiled as a run compiles it (CUDA graphs, on a GPU), under torch.profiler. For each: wall
seconds per step, device (kernel) seconds per step, host seconds per step, the kernels that take
the most device time, and the bytes a step must read over the device time (the bandwidth the
kernels reach). A step whose wall time is well above its device time is waiting on the host; one
whose kernels reach a small share of the copy bandwidth is slow in its kernels. Prints JSON,
written after each part, so an interrupted run keeps the eager half."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from benchhash.fsutil import print_json
from benchhash.hw.device import resolve
from benchhash.workloads import create
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm.workload import DecodePhase, LlmWorkload


def profile_steps(torch: Any, step: Any, steps: int, sync: Any) -> dict[str, Any]:
    """``steps`` calls of step() under the profiler: wall, device and host time per step, top kernels."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    sync()
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall = time.perf_counter() - t0
    kernels = []
    for e in prof.key_averages():
        dev_us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if dev_us and str(getattr(e, "device_type", "")).endswith("CUDA"):
            kernels.append({"kernel": e.key[:120], "calls_per_step": e.count / steps,
                            "device_ms_per_step": dev_us / 1e3 / steps})
    kernels.sort(key=lambda k: -k["device_ms_per_step"])
    device_ms = sum(k["device_ms_per_step"] for k in kernels)
    return {"steps": steps, "wall_ms_per_step": 1e3 * wall / steps, "device_ms_per_step": device_ms or None,
            "kernels_per_step": sum(k["calls_per_step"] for k in kernels), "top_kernels": kernels[:20]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--preset", default=None, help="llm preset (default: 8b on a GPU, tiny on a CPU)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--eager-only", action="store_true")
    ap.add_argument("--attention", default=None, help="sdpa (default) | math: how the model attends")
    ap.add_argument("--kv-span", default=None,
                    help="bucket (default: the valid length rounded up to an eighth of the cache) | full "
                         "(the whole static cache, as a compiled step read before): how far attention reads")
    ap.add_argument("--out", help="also write the JSON here (after each part)")
    args = ap.parse_args()
    import torch
    dev = resolve(args.device)
    options = {"llm_batches": str(args.batch), **({"llm_preset": args.preset} if args.preset else {}),
               **({"llm_attention": args.attention} if args.attention else {}),
               **({"llm_kv_span": args.kv_span} if args.kv_span else {}), "llm_phases": "decode"}
    w = create("llm", dev, options)
    assert isinstance(w, LlmWorkload)
    w.setup()
    decode = next(p for p in w.phases() if p.name == f"decode.b{args.batch}")
    assert isinstance(decode, DecodePhase)
    c = w.config
    report: dict[str, Any] = {"benchmark": "profile_decode", "device": dev.name, "torch": torch.__version__,
                              "preset": c.name, "batch": args.batch, "max_seq": w.max_seq,
                              "attention": args.attention or "sdpa", "kv_span": w.kv_span, "parts": {}}

    def sync() -> None:
        w.synchronize()

    def one_part(name: str, compiled: bool) -> None:
        w.use_compile = compiled
        decode.fn = None
        t0 = time.perf_counter()
        decode.compile()
        decode.context_sum = decode.span_sum = decode.steps = 0
        with torch.no_grad():
            for _ in range(5):
                decode._call()
            part = profile_steps(torch, decode._call, args.steps, sync)
        ctx, span = (x / max(1, decode.steps) for x in (decode.context_sum, decode.span_sum))
        need = acc.decode_step_bytes(c, args.batch, span, w.bytes_per_value)     # what a step reads
        dev_s = (part["device_ms_per_step"] or 0) / 1e3
        part.update(compile_s=time.perf_counter() - t0, compiled=decode.compiled, cuda_graphs=decode.cuda_graphs,
                    bytes_per_step=need, context_mean=ctx, kv_span_mean=span,
                    gb_s_over_wall=need / (part["wall_ms_per_step"] / 1e3) / 1e9,
                    gb_s_over_device=need / dev_s / 1e9 if dev_s else None)
        report["parts"][name] = part
        print_json(report, args.out)
        print(f"profile_decode {name}: {part['wall_ms_per_step']:.2f} ms/step wall, "
              f"{part['device_ms_per_step'] or 0:.2f} ms device, {part['kernels_per_step']:.0f} kernels",
              file=sys.stderr)

    one_part("eager", False)
    if not args.eager_only and dev.kind == "cuda":
        one_part("compiled", True)
    return 0


if __name__ == "__main__":
    from benchhash.errors import BenchhashError
    try:
        sys.exit(main())
    except BenchhashError as exc:
        print(f"profile_decode: {exc}", file=sys.stderr)
        sys.exit(1)
