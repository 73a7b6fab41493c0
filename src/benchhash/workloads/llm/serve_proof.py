"""A serve phase's per-request records as a result keeps them, the figures that follow from
them, and how `verify` recomputes those figures.

Each trial keeps one row per request that did work in its window (COLUMNS): its input and output
lengths, the output tokens it produced inside the window, whether its prefill ran inside the
window, whether it completed inside it, and its TTFT and TPOT in ms (TPOT once completed). A
request belongs to every window it worked in, and its latencies to the window it completed in.
From the rows alone: the output tokens (the trial's work: tokens are conserved), the input
tokens, the completed requests, and the TTFT and TPOT percentiles of the trial and, pooled over
the trials, of the phase, with the share of requests that meet each TPOT objective. The
per-joule figures need the windows' energy, which the result keeps beside the trials: J per
output token, prefill included, is the phase's joules_per_unit; J per request is the windows'
energy over the requests they completed (:func:`served`).

What no device could do is refused too: a TTFT below the prefill bound (the prompt's FLOPs at
the device's peak, or one read of the weights at its memory bandwidth) or a TPOT below one read
of the weights."""

from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple

from pydantic import Field, ValidationError

from benchhash.results.model import Model, Result, Trial, WorkloadResult
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm.config import LlmConfig, preset
from benchhash.workloads.llm.figures import number, serve_work, utilisation
from benchhash.workloads.peaks import bandwidth_bound, flop_bound
from benchhash.workloads.recompute import figure_problems

RECORDS = "its request records"
COLUMNS = ("input_tokens", "output_tokens", "tokens_in_window", "prefilled_in_window",
           "done_in_window", "ttft_ms", "tpot_ms")
PERCENTILES = (50, 90, 99)
#: A TPOT objective is met when this percentile of the phase's TPOT is within it (as MLPerf's
#: server scenario judges its latency constraints).
SLO_PERCENTILE = 99


class Record(NamedTuple):
    """One request as a trial saw it (a row of ServeTrialProof.requests)."""

    input_tokens: int
    output_tokens: int
    tokens_in_window: int
    prefilled_in_window: bool
    done_in_window: bool
    ttft_ms: float | None
    tpot_ms: float | None

    def row(self) -> list[float | None]:
        return [self.input_tokens, self.output_tokens, self.tokens_in_window, int(self.prefilled_in_window),
                int(self.done_in_window), self.ttft_ms, self.tpot_ms]

    @classmethod
    def of(cls, row: list[float | None]) -> Record:
        i, o, n, p, d, ttft, tpot = row
        return cls(int(i or 0), int(o or 0), int(n or 0), bool(p), bool(d), ttft, tpot)


Row = Annotated[list[Annotated[float, Field(ge=0, allow_inf_nan=False)] | None],
                Field(min_length=len(COLUMNS), max_length=len(COLUMNS))]


class ServeTrialProof(Model):
    requests: list[Row] = Field(description="one row per request that worked in the window, as columns says")


class ServeProof(Model):
    columns: list[str]
    concurrency: int = Field(ge=1)
    lengths: str = Field(description="the request lengths drawn: IN:OUT, or a histogram's name and digest")
    arrivals: str = Field(description="closed loop (a slot's next request arrives as its last completes) "
                                      "or Poisson at a rate")
    seed: int = Field(ge=0, description="of the request stream")
    slo_ms: list[Annotated[float, Field(gt=0)]]
    slo_percentile: int = Field(ge=1, le=100)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, linear between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _latencies(done: list[Record]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in ("ttft_ms", "tpot_ms"):
        values = [v for v in (getattr(r, name) for r in done) if v is not None]
        for q in PERCENTILES:
            out[f"{name}_p{q}"] = percentile(values, q) if values else None
    return out


def _counts(records: list[Record], seconds: float) -> dict[str, Any]:
    done = [r for r in records if r.done_in_window]
    inputs = sum(r.input_tokens for r in records if r.prefilled_in_window)
    return {"output_tokens": sum(r.tokens_in_window for r in records), "input_tokens": inputs,
            "requests": len(done), "prefills": sum(r.prefilled_in_window for r in records),
            "input_tokens_per_s": inputs / seconds, "requests_per_s": len(done) / seconds,
            **_latencies(done)}


def trial_figures(records: list[Record], seconds: float) -> dict[str, Any]:
    """A window's figures that follow from its records alone."""
    return _counts(records, seconds)


def slo_figures(records: list[Record], tpot_p: float | None, slo_ms: list[float]) -> dict[str, Any]:
    """Per TPOT objective: whether the phase meets it (its SLO_PERCENTILE TPOT within it) and the
    share of completed requests whose TPOT is within it."""
    tpots = [r.tpot_ms for r in records if r.done_in_window and r.tpot_ms is not None]
    return {f"{ms:g}": {"met": tpot_p is not None and tpot_p <= ms,
                        "attainment": sum(t <= ms for t in tpots) / len(tpots) if tpots else None}
            for ms in slo_ms}


def phase_figures(trials: list[list[Record]], seconds: float, slo_ms: list[float]) -> dict[str, Any]:
    """The phase's figures, pooled over its trials' records and seconds."""
    every = [r for records in trials for r in records]
    out = _counts(every, seconds)
    out["output_tokens_per_request"] = out["output_tokens"] / out["requests"] if out["requests"] else None
    out["slo"] = slo_figures(every, out[f"tpot_ms_p{SLO_PERCENTILE}"], slo_ms)
    return out


# --- verify ----------------------------------------------------------------------------------
def _bounds(result: Result, c: LlmConfig) -> tuple[Any, float | None]:
    """(prefill bound in ms for a prompt length, least ms per output token) on the file's device
    (figures.check has made sure the phase's dtype is the device's)."""
    gpu = result.device.kind == "cuda"
    flops = flop_bound(result, "bf16" if gpu else "fp32")
    bw = bandwidth_bound(result)
    read_ms = 1e3 * acc.weight_bytes(c, 2 if gpu else 4) / bw[0] if bw else 0.0
    return (lambda n: max(1e3 * acc.server_prefill_flops(c, n) / flops[0] if flops else 0.0, read_ms)), read_ms or None


def _record_problems(where: str, r: Record, max_seq: int, prefill_ms: Any, step_ms: float | None) -> list[str]:
    out = []
    if not (r.input_tokens >= 1 and r.output_tokens >= 1 and r.input_tokens + r.output_tokens <= max_seq
            and 0 <= r.tokens_in_window <= r.output_tokens):
        out.append(f"{where}: lengths {r.input_tokens}:{r.output_tokens} with {r.tokens_in_window} tokens "
                   f"in the window cannot be (cache of {max_seq})")
    if r.done_in_window and (r.ttft_ms is None or (r.output_tokens > 1) != (r.tpot_ms is not None)):
        out.append(f"{where}: completed without its TTFT or TPOT")
    if r.ttft_ms is not None and r.ttft_ms < prefill_ms(r.input_tokens):
        out.append(f"{where}: TTFT {r.ttft_ms:.4g} ms is below the prefill bound of {r.input_tokens} tokens "
                   f"on this device ({prefill_ms(r.input_tokens):.4g} ms)")
    if step_ms and r.tpot_ms is not None and r.tpot_ms < step_ms:
        out.append(f"{where}: TPOT {r.tpot_ms:.4g} ms is below one read of the weights ({step_ms:.4g} ms)")
    return out


def _parse(w: WorkloadResult) -> tuple[ServeProof, list[list[Record]]] | str:
    try:
        proof = ServeProof.model_validate(w.proof)
        trials = [[Record.of(row) for row in ServeTrialProof.model_validate(t.proof).requests] for t in w.trials]
    except ValidationError as exc:
        return f"{w.label}: the request records are missing or malformed ({exc.errors()[0]['msg']})"
    if proof.columns != list(COLUMNS):
        return f"{w.label}: the request records' columns are not {', '.join(COLUMNS)}"
    return proof, trials


def check(w: WorkloadResult, result: Result) -> list[str]:
    """Everything wrong with a serve phase's figures against its request records; []: none."""
    parsed = _parse(w)
    if isinstance(parsed, str):
        return [parsed]
    proof, trials = parsed
    c = preset(str(w.params.get("preset")))
    prefill_ms, step_ms = _bounds(result, c)
    max_seq = int(w.params.get("max_seq") or 0)
    out: list[str] = []
    for t, records in zip(w.trials, trials, strict=True):
        where = f"{w.label} trial {t.index}"
        if sum(r.tokens_in_window for r in records) != t.work:
            out.append(f"{where}: its requests produced {sum(r.tokens_in_window for r in records)} output "
                       f"tokens, the trial claims {t.work:.0f}")
        out += figure_problems(where, t.metrics, trial_figures(records, t.seconds), RECORDS)
        out += _work_problems(where, t, records, proof.concurrency, result, c, max_seq)
        for i, r in enumerate(records):
            out += _record_problems(f"{where} request {i}", r, max_seq, prefill_ms, step_ms)
    seconds = sum(t.seconds for t in w.trials)
    if w.trials and not out:
        again = {**phase_figures(trials, seconds, proof.slo_ms), **_rates(w, result, seconds)}
        out += figure_problems(w.label, w.metrics, again, f"{RECORDS}, its trials and the catalogue")
    return out


def _work_problems(where: str, t: Trial, records: list[Record], concurrency: int, result: Result, c: LlmConfig,
                   max_seq: int) -> list[str]:
    """A window's FLOPs and bytes read from its records and step counts (figures.serve_work),
    the counts within what its records allow."""
    steps, tokens = number(t, "decode_steps"), number(t, "decode_tokens")
    context, span = number(t, "context_mean"), number(t, "kv_span_mean")
    if steps is None or tokens is None or not 0 <= tokens <= min(t.work, steps * concurrency) \
            or any(v is not None and not 0 <= v <= max_seq for v in (context, span)):
        return [f"{where}: decode steps {steps}, tokens {tokens}, context {context} and span {span} cannot be "
                f"(its requests produced {t.work:.0f} tokens over {concurrency} rows of a {max_seq} cache)"]
    prefilled = [r.input_tokens for r in records if r.prefilled_in_window]
    flops, read = serve_work(c, concurrency, 2 if result.device.kind == "cuda" else 4, prefilled, int(steps),
                             int(tokens), context, span)
    return figure_problems(where, t.metrics, {"flops": flops, "bytes_read": read}, "its records and step counts")


def _rates(w: WorkloadResult, result: Result, seconds: float) -> dict[str, Any]:
    """The phase's FLOP and byte rates over its windows, with MFU and MBU."""
    flops = sum(number(t, "flops") or 0.0 for t in w.trials)
    read = sum(number(t, "bytes_read") or 0.0 for t in w.trials)
    out = {"tflops": flops / seconds / 1e12, "bytes_read_per_s": read / seconds}
    return {**out, **utilisation(result.device, "bf16" if result.device.kind == "cuda" else "fp32",
                                 flops / seconds, read / seconds)}


def served(w: WorkloadResult) -> dict[str, float | None]:
    """The per-joule figures of a serve phase: J per output token with prefill (its
    joules_per_unit) and J per request (the windows' energy over the requests they completed)."""
    joules = w.energy.energy_j
    requests = sum(int(t.metrics.get("requests") or 0) for t in w.trials)
    return {"j_per_output_token": w.efficiency.joules_per_unit,
            "j_per_request": joules / requests if joules is not None and requests else None}


def proven(w: WorkloadResult, result: Result) -> list[str]:
    """What the records establish, once check found nothing wrong."""
    parsed = _parse(w)
    if isinstance(parsed, str) or not w.trials:
        return []
    records = [r for rs in parsed[1] for r in rs]
    done = sum(r.done_in_window for r in records)
    figures = served(w)
    joules = "" if figures["j_per_request"] is None else (
        f"; {figures['j_per_output_token']:.4g} J per output token with prefill, "
        f"{figures['j_per_request']:.4g} J per request")
    return [f"{w.label}: {len(records)} request records account for every output token; {done} completed "
            f"requests give the TTFT and TPOT percentiles and the objectives met{joules}"]


def goodput(phases: list[WorkloadResult], slo_ms: float) -> dict[str, Any] | None:
    """The highest output tokens/s among serve phases that meet a TPOT objective (their
    SLO_PERCENTILE TPOT within ``slo_ms``), with that phase's J per output token; None when none
    meets it."""
    meeting = [w for w in phases if w.phase.startswith("serve") and w.stats.rate is not None
               and (w.metrics.get("slo", {}).get(f"{slo_ms:g}") or {}).get("met")]
    if not meeting:
        return None
    rates = {w.phase: w.stats.rate.median for w in meeting if w.stats.rate is not None}
    best = max(meeting, key=lambda w: rates[w.phase])
    return {"slo_ms": slo_ms, "phase": best.phase, "output_tokens_per_s": rates[best.phase],
            "j_per_output_token": best.efficiency.joules_per_unit}
