"""The llm phases' figures, computed by one set of functions from a phase's trials, its shape and
the device's catalogue peaks: the phases call them when a run ends, and `verify` calls them
again on the file, so every latency, TFLOP/s, MFU and MBU a file states must follow from its
trials (a prefill trial's latency from its seconds and prompts, a decode trial's TPOT from its
seconds and steps, a serve trial's FLOPs and bytes from its request records and counts), and
none may exceed the device's peak."""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchhash.results.model import Device, Result, Trial, WorkloadResult
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm.config import LlmConfig, preset
from benchhash.workloads.peaks import device_memory_bandwidth, device_peak_flops, flop_bound
from benchhash.workloads.recompute import figure_problems


def utilisation(device: Device, dtype: str, flops_per_s: float, bytes_per_s: float | None) -> dict[str, Any]:
    """MFU and MBU against the device's catalogue peaks (a GPU's; a CPU has none)."""
    out: dict[str, Any] = {}
    gpu = device.kind == "cuda"
    peak = device_peak_flops(device, dtype) if gpu else None
    if peak:
        out.update(mfu=flops_per_s / peak[0], peak_tflops=peak[0] / 1e12, peak_source=peak[1])
    else:
        out["mfu_reason"] = "no peak known for this device"
    if bytes_per_s is not None:
        bw = device_memory_bandwidth(device) if gpu else None
        if bw:
            out.update(mbu=bytes_per_s / bw[0], memory_bandwidth_gb_s=bw[0] / 1e9)
        else:
            out["mbu_reason"] = "no memory bandwidth known for this device"
    return out


def prefill_figures(c: LlmConfig, prompt: int, device: Device, dtype: str, rates: list[float],
                    latencies: list[float]) -> dict[str, Any]:
    """A prefill phase's figures from its trials' rates (tokens/s) and latencies."""
    rate = statistics.median(rates)
    flops = acc.server_prefill_flops(c, prompt)
    out: dict[str, Any] = {"prefill_latency_ms": statistics.median(latencies), "flops_per_prompt": flops,
                           "tflops": rate / prompt * flops / 1e12}
    return {**out, **utilisation(device, dtype, rate / prompt * flops, None)}


def decode_figures(c: LlmConfig, batch: int, device: Device, dtype: str, bpv: int, rates: list[float],
                   tpots: list[float], contexts: list[float], spans: list[float]) -> dict[str, Any]:
    """A decode phase's figures: MBU counts the bytes a step reads (weights, the cache over its span)."""
    rate, ctx, span = statistics.median(rates), statistics.fmean(contexts), statistics.fmean(spans)
    bytes_step = acc.decode_step_bytes(c, batch, span, bpv)
    flops_rate = rate * acc.flops_per_token(c, ctx)
    out: dict[str, Any] = {"tpot_ms": statistics.median(tpots), "context_mean": ctx, "kv_span_mean": span,
                           "bytes_per_step": bytes_step, "tflops": flops_rate / 1e12}
    return {**out, **utilisation(device, dtype, flops_rate, bytes_step / (batch / rate))}


def serve_work(c: LlmConfig, concurrency: int, bpv: int, prefills: list[int], steps: int, decode_tokens: int,
               context_mean: float | None, span_mean: float | None) -> tuple[float, float]:
    """(FLOPs, bytes read) of a serve window: a server's FLOPs (each prompt prefilled with the LM
    head on its last position; each decoded token at its context) and the bytes it reads (the
    weights once per step and per prefill, the cache over every row's span)."""
    flops = sum(acc.server_prefill_flops(c, n) for n in prefills) + decode_tokens * acc.flops_per_token(c, 0) \
        + 4.0 * c.n_layers * c.n_heads * c.head_dim * (context_mean or 0.0) * decode_tokens
    read = (len(prefills) + steps) * acc.weight_bytes(c, bpv) \
        + acc.kv_bytes(c, concurrency, (span_mean or 0.0) * steps, bpv)
    return flops, read


# --- verify ----------------------------------------------------------------------------------
def number(t: Trial, key: str) -> float | None:
    """A trial's figure, when it is a finite number."""
    value = t.metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _shape(w: WorkloadResult, result: Result) -> tuple[LlmConfig, int, int, int, str] | str:
    """(config, prompt, max_seq, rows, dtype) from the phase's params, or why they cannot be."""
    p = w.params
    dtype = "bf16" if result.device.kind == "cuda" else "fp32"
    rows = p.get("concurrency" if w.phase.startswith("serve") else "batch")
    ints = [p.get("prompt"), p.get("max_seq"), rows]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 20 for v in ints):
        return f"{w.label}: params prompt, max_seq and its rows must be whole numbers, got {ints}"
    if p.get("dtype") != dtype:
        return f"{w.label}: dtype {p.get('dtype')!r}, but the llm workload runs {dtype} on a {result.device.kind}"
    return preset(str(p.get("preset"))), int(p["prompt"]), int(p["max_seq"]), int(rows or 1), dtype


def _trial_problems(w: WorkloadResult, prompt: int, rows: int, max_seq: int) -> list[str]:
    """Each trial's own figures: prefill latency and TPOT from its seconds and work."""
    out = []
    for t in w.trials:
        where = f"{w.label} trial {t.index}"
        if w.phase == "prefill":
            want = {"prefill_latency_ms": 1e3 * t.seconds * prompt / t.work if t.work else None}
        elif w.phase.startswith("decode"):
            want = {"tpot_ms": 1e3 * t.seconds * rows / t.work if t.work else None}
            spans = [number(t, "context_mean"), number(t, "kv_span_mean")]
            if any(v is None or not 1 <= v <= max_seq for v in spans):
                out.append(f"{where}: context_mean and kv_span_mean {spans} are not positions of a {max_seq} cache")
        else:
            continue
        out += figure_problems(where, t.metrics, want, "its seconds and work")
    return out


def _phase_figures(w: WorkloadResult, result: Result, c: LlmConfig, shape: tuple[int, int, str]) -> dict[str, Any]:
    prompt, rows, dtype = shape
    rates = [t.rate for t in w.trials]

    def each(key: str) -> list[float]:
        return [number(t, key) or 0.0 for t in w.trials]

    if w.phase == "prefill":
        return prefill_figures(c, prompt, result.device, dtype, rates, each("prefill_latency_ms"))
    return decode_figures(c, rows, result.device, dtype, 2 if dtype == "bf16" else 4, rates, each("tpot_ms"),
                          each("context_mean"), each("kv_span_mean"))


def check(w: WorkloadResult, result: Result) -> list[str]:
    """A prefill or decode phase's figures recomputed from its trials and the catalogue (from v5:
    older files named and counted them otherwise), and its FLOP rate within the device's peak; a
    serve phase's are serve_proof's, from its records."""
    shape = _shape(w, result)
    if isinstance(shape, str):
        return [shape]
    c, prompt, max_seq, rows, dtype = shape
    if not w.trials or result.stored_version < 5:      # older files named and counted their figures otherwise
        return _peak_problems(w, result, dtype)
    out = _trial_problems(w, prompt, rows, max_seq)
    if out:
        return out
    if w.phase.startswith("serve"):
        return _peak_problems(w, result, dtype)
    again = _phase_figures(w, result, c, (prompt, rows, dtype))
    return figure_problems(w.label, w.metrics, again, "its trials and the catalogue") + _peak_problems(w, result, dtype)


def _peak_problems(w: WorkloadResult, result: Result, dtype: str) -> list[str]:
    tflops, bound = w.metrics.get("tflops"), flop_bound(result, dtype)
    if isinstance(tflops, int | float) and bound is not None and tflops * 1e12 > bound[0]:
        return [f"{w.label}: {tflops:.4g} TFLOP/s is more than this device can do ({bound[1]})"]
    return []
