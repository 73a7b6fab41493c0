"""LLM inference as a workload: prefill (tokens/s, prefill latency), decode at several batch
sizes (tokens/s, time per output token) and served inference at several concurrencies (serve.py:
output tokens/s, TTFT and TPOT percentiles, J per output token with prefill), each phase in its
own measured windows. MFU (the FLOPs a server computes: the LM head on a prompt's last position
only) and MBU (bytes read per second / memory bandwidth) are reported against the device's peaks.
bf16 on GPU, fp32 on CPU. On a GPU each phase is compiled in its own step before warm-up
(torch.compile; decode with CUDA graphs, the next-token choice inside the graph) unless turned
off; a phase whose compile fails runs eager and says why."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from benchhash.errors import InputError
from benchhash.results.model import Device, Result, WorkloadResult
from benchhash.workloads.base import Options, Phase, PhaseFigures, Window
from benchhash.workloads.econ_figures import EconFigures
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm import figures, serve_proof
from benchhash.workloads.llm.config import PRESETS, LlmConfig, preset
from benchhash.workloads.llm.phase import LlmPhase, Spans
from benchhash.workloads.llm.serve import Lengths, ServePhase, parse_lengths
from benchhash.workloads.peaks import bandwidth_bound, flop_bound
from benchhash.workloads.torch_util import (
    TorchWorkload,
    free_memory_bytes,
    import_torch,
    timed_loop,
    torch_device,
)

PHASES = ("prefill", "decode", "serve")


@dataclass(frozen=True)
class Defaults:
    preset: str
    batches: tuple[int, ...]
    prompt: int
    max_seq: int
    phases: tuple[str, ...]
    concurrency: tuple[int, ...]
    lengths: str


GPU = Defaults(preset="8b", batches=(1, 16, 64), prompt=512, max_seq=1024, phases=PHASES,
               concurrency=(1, 16, 64), lengths="512:512")
#: On a CPU serve is measured only when asked (--llm-phases): CI runs the llm workload on the
#: CPU, where three serve phases would add three warm-ups and trial sets to every such run, and a
#: CPU's served figure says little about a GPU server's.
CPU = Defaults(preset="tiny", batches=(1, 16), prompt=64, max_seq=256, phases=("prefill", "decode"),
               concurrency=(1, 16), lengths="64:64")
SLO_MS = (50.0, 100.0, 250.0)


def parse_batches(text: str, flag: str = "--llm-batches") -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"{flag} takes a comma list of integers, got {text!r}") from None
    if not values or any(not 1 <= v <= 4096 for v in values):
        raise InputError(f"{flag} values must be between 1 and 4096, got {text!r}")
    return tuple(sorted(set(values)))


def parse_phases(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    if not names or set(names) - set(PHASES):
        raise InputError(f"--llm-phases takes a comma list of {', '.join(PHASES)}, got {text!r}")
    return names


def parse_slo(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        values = ()
    if not values or any(not 0 < v <= 1e6 for v in values):
        raise InputError(f"--serve-slo-ms takes a comma list of milliseconds above 0, got {text!r}")
    return tuple(sorted(set(values)))


class PrefillPhase(LlmPhase):
    """A prompt prefilled back to back, as a server prefills one (model.prefill_slot: the LM
    head on the last position only): the time is prefill latency, a lower bound on a served
    request's time to first token (the serve phases measure that)."""

    name = "prefill"

    def __init__(self, w: LlmWorkload) -> None:
        super().__init__(w)
        torch = import_torch()
        self.tokens = torch.randint(0, w.config.vocab_size, (1, w.prompt), device=w.dev,
                                    generator=w.gen)
        self.row = torch.zeros(1, dtype=torch.long, device=w.dev)
        self.last = torch.tensor([w.prompt - 1], device=w.dev)

    @property
    def tokens_per_call(self) -> int:
        return self.w.prompt

    def eager(self) -> Any:
        from benchhash.workloads.llm.model import prefill_slot
        return prefill_slot

    def compiled_fn(self, torch: Any) -> Any:
        from benchhash.workloads.llm.model import prefill_slot
        return torch.compile(prefill_slot, fullgraph=True, dynamic=False)

    def first_calls(self, fn: Any) -> None:
        for _ in range(2):
            fn(self.w.model, self.tokens, self.row, self.last)

    def _call(self) -> Any:
        return self.fn(self.w.model, self.tokens, self.row, self.last)

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        with import_torch().no_grad():
            calls, secs, per_call = timed_loop(self._call, self.w.dev, seconds, stop, self.per_call_s)
        return Window(calls * self.w.prompt, secs, metrics={"prefill_latency_ms": 1e3 * secs / calls})

    def params(self) -> dict[str, Any]:
        return {**self.base_params(), "batch": 1, "lm_head": "last position only"}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        w = self.w
        return figures.prefill_figures(w.config, w.prompt, w.device, w.dtype_name, [x.rate for x in windows],
                                       [x.metrics["prefill_latency_ms"] for x in windows])


class DecodePhase(LlmPhase):
    mode = "reduce-overhead"      # CUDA graphs: one replay per step

    def __init__(self, w: LlmWorkload, batch: int) -> None:
        super().__init__(w)
        self.batch, self.name = batch, f"decode.b{batch}"
        torch = import_torch()
        self.next = torch.zeros((batch, 1), dtype=torch.long, device=w.dev)
        self.pos = torch.zeros(1, dtype=torch.long, device=w.dev)
        self.spans = Spans(w)
        self.position = w.prompt
        self.context_sum = self.span_sum = self.steps = 0

    @property
    def tokens_per_call(self) -> int:
        return self.batch

    def _fill(self) -> None:
        """Prefill this phase's batch of prompts (in the compile step, never timed)."""
        torch = import_torch()
        w = self.w
        prompt = torch.randint(0, w.config.vocab_size, (self.batch, w.prompt), device=w.dev,
                               generator=w.gen)
        at = torch.arange(w.prompt, device=w.dev)
        with torch.no_grad():
            self.next.copy_(w.model(prompt, at, at, last_only=True).argmax(-1))
        self.position = w.prompt
        self.pos.fill_(self.position)

    def eager(self) -> Any:
        from benchhash.workloads.llm.model import decode_next
        return decode_next

    def compiled_fn(self, torch: Any) -> Any:
        from benchhash.workloads.llm.model import decode_next
        return torch.compile(decode_next, mode=self.mode, fullgraph=True, dynamic=False)

    def first_calls(self, fn: Any) -> None:
        """The prompts prefilled, then every span the phase's positions reach, called where the
        phase stands (cudagraph trees: warm-up, record, replay for each)."""
        self._fill()
        self.fn = fn
        for keys in self.spans.covering(self.w.prompt + 1, self.w.max_seq):
            for _ in range(3):
                self.next.copy_(fn(self.w.model, self.next, self.pos, keys))

    def _call(self) -> None:
        """One step, with no host synchronisation: positions are known on the host."""
        if self.position >= self.w.max_seq:   # cache full: start again after the prompt
            self.position = self.w.prompt
            self.pos.fill_(self.position)
        keys = self.spans.keys(self.position + 1)
        self.next.copy_(self.fn(self.w.model, self.next, self.pos, keys))
        self.pos.add_(1)
        self.position += 1
        self.context_sum += self.position
        self.span_sum += keys.shape[0]
        self.steps += 1

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        self.context_sum = self.span_sum = self.steps = 0
        with import_torch().no_grad():
            calls, secs, _ = timed_loop(self._call, self.w.dev, seconds, stop, self.per_call_s)
        return Window(calls * self.batch, secs, metrics={
            "tpot_ms": 1e3 * secs / calls, "context_mean": self.context_sum / self.steps,
            "kv_span_mean": self.span_sum / self.steps})

    def params(self) -> dict[str, Any]:
        return {**self.base_params(), "batch": self.batch}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        """MBU counts the bytes a step reads: the weights and the cache over its span."""
        w = self.w
        def each(key: str) -> list[float]:
            return [x.metrics[key] for x in windows]

        return figures.decode_figures(w.config, self.batch, w.device, w.dtype_name, w.bytes_per_value,
                                      [x.rate for x in windows], each("tpot_ms"), each("context_mean"),
                                      each("kv_span_mean"))


LISTS: dict[str, Callable[[str], tuple[Any, ...]]] = {
    "llm_batches": parse_batches, "serve_concurrency": lambda text: parse_batches(text, "--serve-concurrency"),
    "llm_phases": parse_phases, "serve_slo_ms": parse_slo}


class LlmOptions(Options):
    llm_preset: str | None = Field(default=None, description="--llm-preset: tiny | 1b | 3b | 8b")
    llm_batches: tuple[int, ...] | None = Field(default=None, description="--llm-batches: decode batch sizes")
    llm_phases: tuple[str, ...] | None = Field(
        default=None, description="--llm-phases: which of prefill, decode, serve (default all three on a GPU; "
                                  "prefill,decode on a CPU, where serve runs only when asked)")
    no_compile: bool = Field(default=False, description="--no-compile: run eager")
    llm_attention: str | None = Field(default=None, description="attention: sdpa (default) | math")
    llm_kv_span: str | None = Field(default=None, description="how far attention reads the cache: bucket "
                                    "(default: the valid length rounded up to an eighth of it) | full")
    llm_decode_first: bool | None = Field(default=None, description="decode phases before prefill (when "
                                          "time is short, decode is the figure that matters)")
    serve_lengths: str | None = Field(
        default=None, description="--serve-lengths: tokens in and out per request, IN:OUT (default 512:512 on a "
                                  "GPU, 64:64 on a CPU), or a JSON file {\"pairs\": [[IN, OUT, weight], ...]}")
    serve_concurrency: tuple[int, ...] | None = Field(
        default=None, description="--serve-concurrency: requests served at once, one serve phase each "
                                  "(default 1,16,64 on a GPU, 1,16 on a CPU)")
    serve_rate: float | None = Field(
        default=None, gt=0, le=1e6, description="--serve-rate: Poisson arrivals at this many requests/s "
                                                "(default: a closed loop, the next request as one completes)")
    serve_slo_ms: tuple[float, ...] | None = Field(
        default=None, description="--serve-slo-ms: TPOT objectives in ms (default 50,100,250)")

    @field_validator("llm_preset")
    @classmethod
    def _preset(cls, value: str | None) -> str | None:
        return None if value is None else preset(value).name

    @field_validator("llm_attention", "llm_kv_span")
    @classmethod
    def _choice(cls, value: str | None, info: ValidationInfo) -> str | None:
        from benchhash.workloads.llm.model import ATTENTION, SPANS
        known = {"llm_attention": ATTENTION, "llm_kv_span": SPANS}[str(info.field_name)]
        if value is not None and value not in known:
            raise InputError(f"{str(info.field_name).replace('_', ' ')} must be one of {', '.join(known)}, "
                             f"got {value!r}")
        return value

    @field_validator("llm_batches", "serve_concurrency", "llm_phases", "serve_slo_ms", mode="before")
    @classmethod
    def _lists(cls, value: Any, info: ValidationInfo) -> Any:
        """A comma list as the command line gives it, parsed (a bad one refused in the flag's words)."""
        return LISTS[str(info.field_name)](value) if isinstance(value, str) else value

    @field_validator("serve_lengths")
    @classmethod
    def _lengths(cls, value: str | None) -> str | None:
        if value is not None:
            parse_lengths(value)
        return value


class LlmWorkload(TorchWorkload):
    name = "llm"
    unit = LlmPhase.unit
    description = "Llama-architecture decoder with random weights: prefill, decode and served inference"
    default_on = ("cuda",)
    options_model = LlmOptions
    #: 1: prefill, decode with attention over a span of the cache, served requests (Workload.version)
    version = 1
    options: LlmOptions
    proof_models = (serve_proof.ServeProof, serve_proof.ServeTrialProof)   # serve phases' records

    def __init__(self, device: Device, options: Options | None = None) -> None:
        super().__init__(device, options)
        o = self.options
        base = GPU if device.kind == "cuda" else CPU
        self.config: LlmConfig = preset(o.llm_preset or base.preset)
        self.phase_set: tuple[str, ...] = o.llm_phases or base.phases
        self.batches: tuple[int, ...] = o.llm_batches or base.batches
        self.concurrency: tuple[int, ...] = o.serve_concurrency or base.concurrency
        self.prompt, self.max_seq = base.prompt, base.max_seq
        self.lengths: Lengths = parse_lengths(o.serve_lengths or base.lengths)
        self.serve_rate, self.slo_ms = o.serve_rate, o.serve_slo_ms or SLO_MS
        self.attention, self.kv_span = o.llm_attention or "sdpa", o.llm_kv_span or "bucket"
        self.use_compile = not o.no_compile and device.kind == "cuda"
        gpu = device.kind == "cuda"
        self.dtype_name = "bf16" if gpu else "fp32"
        self.bytes_per_value = 2 if gpu else 4
        self.dev = torch_device(device)
        if "serve" in self.phase_set and self.lengths.longest > self.max_seq:
            raise InputError(f"--serve-lengths {self.lengths.label}: a request of {self.lengths.longest} tokens "
                             f"does not fit the cache of {self.max_seq} positions")
        self.check_memory()     # refuse a preset that cannot fit before anything is measured

    @property
    def rows(self) -> int:
        """Cache rows: the largest decode batch or serve concurrency measured."""
        return max([1, *(self.batches if "decode" in self.phase_set else ()),
                    *(self.concurrency if "serve" in self.phase_set else ())])

    def expected_phases(self) -> int:
        return (("prefill" in self.phase_set) + len(self.batches) * ("decode" in self.phase_set)
                + len(self.concurrency) * ("serve" in self.phase_set))

    def setup(self) -> None:
        torch = import_torch()
        from benchhash.workloads.llm.model import build
        self.dtype = torch.bfloat16 if self.dev.type == "cuda" else torch.float32
        self.check_memory()
        self.gen = torch.Generator(device=self.dev).manual_seed(1)
        self.model = build(self.config, self.max_seq, self.dev, self.dtype, attention=self.attention)
        self.model.allocate_cache(self.rows)
        want = self.phase_set
        decode: list[Phase] = [DecodePhase(self, b) for b in self.batches] if "decode" in want else []
        prefill: list[Phase] = [PrefillPhase(self)] if "prefill" in want else []
        serve: list[Phase] = [ServePhase(self, n) for n in self.concurrency] if "serve" in want else []
        self._phases = (decode + prefill if self.options.llm_decode_first else prefill + decode) + serve

    def need_bytes(self) -> float:
        c, b = self.config, self.bytes_per_value
        weights = acc.total_params(c) * b
        kv = acc.kv_bytes(c, self.rows, self.max_seq, b)
        logits = max(self.rows, self.prompt) * c.vocab_size * 4 * 2
        return 1.1 * (weights + kv + logits)

    def check_memory(self) -> None:
        need, free = self.need_bytes(), free_memory_bytes(self.dev)
        if need > free:
            raise InputError(
                f"llm preset {self.config.name} needs about {need / 1e9:.1f} GB with {self.rows} cache "
                f"rows; {self.device.label} has {free / 1e9:.1f} GB free; choose a smaller --llm-preset, "
                f"--llm-batches or --serve-concurrency")

    def utilisation(self, flops_per_s: float, bytes_per_s: float | None) -> dict[str, Any]:
        return figures.utilisation(self.device, self.dtype_name, flops_per_s, bytes_per_s)

    @classmethod
    def phase_names(cls) -> str | None:
        return r"prefill|decode\.b[1-9][0-9]*|serve\.c[1-9][0-9]*"

    @classmethod
    def check_result(cls, w: WorkloadResult, result: Result) -> list[str]:
        """Every phase's figures recomputed from its trials (figures.check), a serve phase's also
        against its per-request records (serve_proof.check). A preset benchhash does not know is
        refused: its FLOPs and bytes, and so every bound, would be unknown."""
        try:
            preset(str(w.params.get("preset")))
        except InputError as exc:
            return [f"{w.label}: {exc}"]
        out = figures.check(w, result)
        return out + serve_proof.check(w, result) if not out and w.phase.startswith("serve") else out

    @classmethod
    def proven(cls, w: WorkloadResult, result: Result) -> list[str]:
        return serve_proof.proven(w, result) if w.phase.startswith("serve") else []

    @classmethod
    def max_rate(cls, w: WorkloadResult, result: Result) -> tuple[float, str] | None:
        """Tokens/s no device could beat: the FLOP bound over the FLOPs every token costs (its
        layers' matmuls: a prompt's tokens skip the LM head), and where each step yields at most
        a token per row (decode: its batch; serve: its concurrency, a prefill one token) on a
        known GPU, the bandwidth bound (every step reads the weights)."""
        try:
            c = preset(str(w.params.get("preset")))
        except InputError:
            return None
        gpu = result.device.kind == "cuda"
        flops = flop_bound(result, "bf16" if gpu else "fp32")
        if flops is None:
            return None
        per_token = 2.0 * (acc.matmul_params(c) - c.vocab_size * c.dim)
        bound, reason = flops[0] / per_token, f"{flops[1]}, {per_token:.3g} FLOP/token"
        bw = bandwidth_bound(result)
        rows = w.params.get("batch") if w.phase.startswith("decode") else w.params.get("concurrency")
        if not w.phase.startswith("prefill") and bw and isinstance(rows, int):
            by_bytes = rows * bw[0] / acc.weight_bytes(c, 2 if gpu else 4)
            if by_bytes < bound:
                bound, reason = by_bytes, f"{bw[1]}: {rows} rows x bandwidth / weight bytes"
        return bound, reason

    @classmethod
    def econ_figures(cls, f: PhaseFigures) -> EconFigures:
        """The phase's watts; for a decode phase also its tokens per second, its batch and the
        model's size (which decides the price class of its tokens). A serve phase gives its
        output tokens per second (prefill inside its windows, so its watts over it are J per
        output token with prefill), its concurrency and its p99 TPOT (the percentile its own TPOT
        objectives are judged at, as MLPerf's server scenario does) as its served_* figures:
        economics prices the served tokens row from the fastest serve phase within its TPOT
        objective."""
        watts = f.average_w or None
        serve = f.phase.startswith("serve")
        if not (f.phase.startswith("decode") or serve) or f.rate is None:
            return EconFigures(ai_watts=watts)
        rows = f.params.get("concurrency" if serve else "batch")
        count = int(rows) if isinstance(rows, int) else None
        name = f.params.get("preset")
        c = PRESETS.get(name.strip().lower()) if isinstance(name, str) else None
        size = float(c.published_params or acc.total_params(c)) if c is not None else None
        if not serve:
            return EconFigures(ai_watts=watts, tokens_per_second=f.rate, batch=count, model_params=size)
        tpot = f.metrics.get("tpot_ms_p99")
        if not isinstance(tpot, int | float) or isinstance(tpot, bool) or not math.isfinite(tpot):
            tpot = None
        return EconFigures(ai_watts=watts, model_params=size, served_tokens_per_second=f.rate,
                           served_concurrency=count, served_tpot_ms_p99=None if tpot is None else float(tpot))

    def teardown(self) -> None:
        self.model = None  # type: ignore[assignment]
        super().teardown()
