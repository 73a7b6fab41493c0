#!/usr/bin/env python3
"""Decode tokens/s of the llm workload's attention against the previous one, interleaved in one
process on the same model and weights, at several batch sizes. Prints JSON (medians of repeats,
raw samples kept, ratios against the baseline).

- baseline: the attention benchhash had before, kept here: K and V repeated for every query head
  (repeat_interleave) over the whole static cache, with a mask;
- grouped_full: grouped-query attention that reads each KV head once, over the whole static
  cache (what a compiled decode step with CUDA graphs runs);
- grouped_valid: the same over the valid length only (what eager decode runs).

Every variant decodes the same steps from the same cache state (the same context lengths) and
must choose the same next tokens."""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import types
from typing import Any

import torch
import torch.nn.functional as F

from benchhash.fsutil import print_json
from benchhash.workloads.llm.config import preset
from benchhash.workloads.llm.model import Attention, build, decode_next

VARIANTS = ("baseline", "grouped_full", "grouped_valid")


def baseline_forward(self: Attention, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                     sin: torch.Tensor, mask: torch.Tensor, kv_len: int) -> torch.Tensor:
    """The previous attention: every KV head copied for each of its query heads, whole cache."""
    q = self.project(x, positions, cos, sin)
    b = x.shape[0]
    assert self.k_cache is not None and self.v_cache is not None
    rep = self.c.n_heads // self.c.n_kv_heads
    keys = self.k_cache[:b].repeat_interleave(rep, dim=1)
    values = self.v_cache[:b].repeat_interleave(rep, dim=1)
    return self.output(F.scaled_dot_product_attention(q, keys, values, attn_mask=mask))


def _set_attention(model: Any, variant: str) -> None:
    for layer in model.layers:
        if variant == "baseline":
            layer.attn.forward = types.MethodType(baseline_forward, layer.attn)
        else:
            layer.attn.__dict__.pop("forward", None)


def _decode(model: Any, first: torch.Tensor, start: int, steps: int, variant: str) -> tuple[float, torch.Tensor]:
    """Decode ``steps`` tokens from position ``start``; (seconds, the tokens chosen)."""
    _set_attention(model, variant)
    nxt = first.clone()
    pos = torch.tensor([start])
    out = []
    t0 = time.perf_counter()
    for i in range(steps):
        kv_len = start + i + 1 if variant == "grouped_valid" else None
        nxt = decode_next(model, nxt, pos, kv_len)
        pos.add_(1)
        out.append(nxt)
    seconds = time.perf_counter() - t0
    _set_attention(model, "grouped_full")
    return seconds, torch.cat(out, 1)


def bench_batch(model: Any, batch: int, prompt: int, steps: int, repeats: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(batch)
    tokens = torch.randint(0, model.c.vocab_size, (batch, prompt), generator=gen)
    with torch.no_grad():
        model.allocate_cache(batch)
        first = model(tokens, torch.arange(prompt), prompt, last_only=True).argmax(-1)
        _decode(model, first, prompt, 4, "baseline")           # warm-up, allocator
        samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
        chosen: dict[str, torch.Tensor] = {}
        for r in range(repeats):
            order = VARIANTS[r % 3:] + VARIANTS[:r % 3]         # rotate: no variant always first
            for variant in order:
                seconds, picked = _decode(model, first, prompt, steps, variant)
                samples[variant].append(batch * steps / seconds)
                chosen[variant] = picked
    medians = {v: statistics.median(s) for v, s in samples.items()}
    return {
        "batch": batch, "steps": steps, "contexts": [prompt + 1, prompt + steps],
        "tokens_per_s": {v: {"median": medians[v],
                             "mad": statistics.median(abs(x - medians[v]) for x in s),
                             "samples": s} for v, s in samples.items()},
        "ratio_grouped_valid_vs_baseline": medians["grouped_valid"] / medians["baseline"],
        "ratio_grouped_full_vs_baseline": medians["grouped_full"] / medians["baseline"],
        "same_tokens": all(torch.equal(chosen[v], chosen["baseline"]) for v in VARIANTS),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=64, help="decode steps per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()
    if not 0 < args.prompt < args.max_seq or args.prompt + args.steps > args.max_seq:
        ap.error("need 0 < prompt and prompt + steps <= max-seq")
    c = preset(args.preset)
    model = build(c, args.max_seq, torch.device("cpu"), torch.float32, seed=0)
    rows = [bench_batch(model, int(b), args.prompt, args.steps, args.repeats)
            for b in args.batches.split(",")]
    report = {"benchmark": "llm_decode_attention", "device": "cpu", "preset": c.to_json(),
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "python": platform.python_version(), "machine": platform.machine(),
              "processor": platform.processor(), "max_seq": args.max_seq, "prompt": args.prompt,
              "repeats": args.repeats, "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "results": rows}
    print_json(report, args.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
