#!/usr/bin/env python3
"""Decode step time of the llm workload's attention over the valid cache length (rounded up to
an eighth of the cache, model.kv_span: what a decode step now reads) against today's compiled
step, which attended over the whole static cache with a mask, interleaved in one process on the
same model, weights and cache state, at several batch sizes. The cache is 4x the longest valid
length by default (--cache-factor), as the issue asks. Prints JSON: per batch and attention
implementation the median step time of each variant over the rounds (raw samples kept, order
rotated every round), the ratio full / bucket (above 1: the span is faster), and whether both
chose the same tokens.

Time is the thread's CPU time (time.thread_time) with one torch thread by default: on a shared
machine wall time measures the other processes as much as the step (the wall times are kept
beside it); the ratio is the median over the rounds of each round's full / bucket, the two
measured back to back.

- full: the whole static cache (max_seq positions), masked: a compiled decode step before;
- bucket: the span kv_span(valid length), masked within it: a decode step now.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from typing import Any

import torch

from benchhash.fsutil import print_json
from benchhash.workloads.llm.config import preset
from benchhash.workloads.llm.model import build, decode_next, kv_span

VARIANTS = ("full", "bucket")


def _decode(model: Any, first: torch.Tensor, start: int, steps: int,
            variant: str) -> tuple[float, float, torch.Tensor]:
    """Decode ``steps`` tokens from position ``start``; (CPU seconds, wall seconds, the tokens)."""
    nxt = first.clone()
    pos = torch.tensor([start])
    spans = {n: torch.arange(n) for n in range(1, model.max_seq + 1)}
    out = []
    c0, t0 = time.thread_time(), time.perf_counter()
    for i in range(steps):
        nxt = decode_next(model, nxt, pos, spans[kv_span(start + i + 1, model.max_seq, variant)])
        pos.add_(1)
        out.append(nxt)
    return time.thread_time() - c0, time.perf_counter() - t0, torch.cat(out, 1)


def _stats(samples: list[float]) -> dict[str, Any]:
    m = statistics.median(samples)
    return {"median": m, "mad": statistics.median(abs(x - m) for x in samples), "samples": samples}


def bench_batch(model: Any, batch: int, prompt: int, steps: int, rounds: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(batch)
    tokens = torch.randint(0, model.c.vocab_size, (batch, prompt), generator=gen)
    with torch.no_grad():
        model.allocate_cache(batch)
        first = model(tokens, torch.arange(prompt), torch.arange(prompt), last_only=True).argmax(-1)
        for variant in VARIANTS:
            _decode(model, first, prompt, 4, variant)               # warm-up, allocator
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
        chosen: dict[str, torch.Tensor] = {}
        for r in range(rounds):
            for variant in VARIANTS[r % 2:] + VARIANTS[:r % 2]:     # rotate: no variant always first
                cpu_s, wall_s, picked = _decode(model, first, prompt, steps, variant)
                cpu[variant].append(1e3 * cpu_s / steps)
                wall[variant].append(1e3 * wall_s / steps)
                chosen[variant] = picked
    paired = [f / b for f, b in zip(cpu["full"], cpu["bucket"], strict=True)]
    return {
        "batch": batch, "steps": steps, "valid": [prompt + 1, prompt + steps],
        "spans": {v: sorted({kv_span(n, model.max_seq, v) for n in range(prompt + 1, prompt + steps + 1)})
                  for v in VARIANTS},
        "step_cpu_ms": {v: _stats(s) for v, s in cpu.items()},
        "step_wall_ms": {v: _stats(s) for v, s in wall.items()},
        "ratio_full_over_bucket": statistics.median(paired),
        "ratio_full_over_bucket_rounds": paired,
        "same_tokens": torch.equal(chosen["full"], chosen["bucket"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--attention", default="sdpa,math", help="implementations to run: sdpa, math or both")
    ap.add_argument("--prompt", type=int, default=112, help="valid length before the first step")
    ap.add_argument("--cache-factor", type=int, default=4, help="static cache = this x the longest valid length")
    ap.add_argument("--steps-per-round", dest="steps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time is the step's own)")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()
    if args.prompt < 1 or args.steps < 1 or args.cache_factor < 1:
        ap.error("need prompt, steps and cache-factor of at least 1")
    torch.set_num_threads(args.threads)
    c = preset(args.preset)
    max_seq = args.cache_factor * (args.prompt + args.steps)
    rows = []
    for impl in args.attention.split(","):
        model = build(c, max_seq, torch.device("cpu"), torch.float32, seed=0, attention=impl.strip())
        rows += [{"attention": impl.strip(), **bench_batch(model, int(b), args.prompt, args.steps, args.rounds)}
                 for b in args.batches.split(",")]
    report = {"benchmark": "llm_decode_kv_span", "device": "cpu", "preset": c.to_json(),
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "python": platform.python_version(), "machine": platform.machine(),
              "max_seq": max_seq, "prompt": args.prompt, "cache_over_valid": args.cache_factor,
              "rounds": args.rounds, "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "median_ratio_full_over_bucket": statistics.median(r["ratio_full_over_bucket"] for r in rows),
              "results": rows}
    print_json(report, args.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
