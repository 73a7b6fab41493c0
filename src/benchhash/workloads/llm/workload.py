"""LLM inference as a workload: prefill (tokens/s, time to first token) and decode at several
batch sizes (tokens/s, time per output token), each phase in its own measured windows. MFU and,
for decode, MBU (bytes that must be read per step / step time / memory bandwidth) are reported
against the device's peaks. bf16 on GPU, fp32 on CPU. On a GPU each phase is compiled in its own
step before warm-up (torch.compile; decode with CUDA graphs, the next-token choice inside the
graph) unless turned off; a phase whose compile fails runs eager and says why."""

from __future__ import annotations

import contextlib
import statistics
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from benchhash.errors import InputError
from benchhash.results.model import Device, Result, WorkloadResult
from benchhash.workloads.base import Options, Phase, PhaseFigures, Window
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm.config import PRESETS, LlmConfig, preset
from benchhash.workloads.peaks import bandwidth_bound, device_memory_bandwidth, device_peak_flops, flop_bound
from benchhash.workloads.torch_util import (
    TorchWorkload,
    free_memory_bytes,
    import_torch,
    synchronize,
    timed_loop,
    torch_device,
)


@dataclass(frozen=True)
class Defaults:
    preset: str
    batches: tuple[int, ...]
    prompt: int
    max_seq: int


GPU = Defaults(preset="8b", batches=(1, 16, 64), prompt=512, max_seq=1024)
CPU = Defaults(preset="tiny", batches=(1, 16), prompt=64, max_seq=256)


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--llm-batches takes a comma list of integers, got {text!r}") from None
    if not values or any(not 1 <= v <= 4096 for v in values):
        raise InputError(f"--llm-batches values must be between 1 and 4096, got {text!r}")
    return tuple(sorted(set(values)))


def _compile_config(torch: Any) -> contextlib.ExitStack:
    """What a compile step runs under, as gpt-fast compiles: coordinate-descent tuning of the
    generated kernels, and room for one graph per batch size (torch's default of 8 recompiles
    would silently run a ninth batch size eager). Restored after the step."""
    stack = contextlib.ExitStack()
    inductor = torch._inductor.config
    patch = {k: True for k in ("coordinate_descent_tuning", "triton.unique_kernel_names",
                               "fx_graph_cache") if _has_option(inductor, k)}
    stack.enter_context(inductor.patch(patch))
    dynamo = torch._dynamo.config
    limit = next((k for k in ("recompile_limit", "cache_size_limit") if hasattr(dynamo, k)), None)
    if limit is not None:
        stack.enter_context(dynamo.patch(**{limit: 1024}))
    return stack


def _has_option(config: Any, dotted: str) -> bool:
    obj = config
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


class LlmPhase(Phase):
    unit = "token"
    #: torch.compile mode for this phase's compiled function (None: inductor's default)
    mode: str | None = None

    def __init__(self, w: LlmWorkload) -> None:
        self.w = w
        self.per_call_s: float | None = None
        self.fn: Any = None
        self.compiled = False
        self.cuda_graphs = False
        self.compile_error: str | None = None

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate:
            self.per_call_s = self.tokens_per_call / rate_estimate

    @property
    def tokens_per_call(self) -> int:
        raise NotImplementedError

    def eager(self) -> Any:
        raise NotImplementedError

    def compiled_fn(self, torch: Any) -> Any:
        raise NotImplementedError

    def first_calls(self, fn: Any) -> None:
        """Call ``fn`` as the phase will (compiling and capturing it when it is compiled)."""
        raise NotImplementedError

    def compile(self) -> bool:
        """torch.compile (with CUDA graphs for decode) and the first calls that build and
        capture the graphs, outside every energy window; a compiler failure falls back to eager
        for this phase, with the reason kept. Eager, the first calls still warm the allocator."""
        torch = import_torch()
        if self.w.use_compile:
            from torch._dynamo.utils import counters
            skips = sum(counters["inductor"].get(k, 0) for k in ("cudagraph_skips",))
            try:
                with _compile_config(torch), torch.no_grad():
                    fn = self.compiled_fn(torch)
                    self.first_calls(fn)
                    synchronize(self.w.dev)
                self.fn, self.compiled = fn, True
                self.cuda_graphs = self.mode == "reduce-overhead" and \
                    sum(counters["inductor"].get(k, 0) for k in ("cudagraph_skips",)) == skips
                return True
            except Exception as exc:  # noqa: BLE001 - eager still measures; the reason is kept
                self.compile_error = (f"torch.compile failed, {self.name} runs eager: "
                                      + " ".join(str(exc).split())[:300])
        self.fn = self.eager()
        with torch.no_grad():
            self.first_calls(self.fn)
        synchronize(self.w.dev)
        return True

    def notes(self) -> list[str]:
        return [self.compile_error] if self.compile_error else []

    def close(self) -> None:
        self.fn = None

    def base_params(self) -> dict[str, Any]:
        return {"preset": self.w.config.name, "dtype": self.w.dtype_name, "prompt": self.w.prompt,
                "max_seq": self.w.max_seq, "compiled": self.compiled,
                "cuda_graphs": self.cuda_graphs, "attention": "grouped-query, KV read once",
                "fused_projections": True}


class PrefillPhase(LlmPhase):
    name = "prefill"

    def __init__(self, w: LlmWorkload) -> None:
        super().__init__(w)
        torch = import_torch()
        self.tokens = torch.randint(0, w.config.vocab_size, (1, w.prompt), device=w.dev,
                                    generator=w.gen)
        self.positions = torch.arange(w.prompt, device=w.dev)

    @property
    def tokens_per_call(self) -> int:
        return self.w.prompt

    def eager(self) -> Any:
        from benchhash.workloads.llm.model import prefill_next
        return prefill_next

    def compiled_fn(self, torch: Any) -> Any:
        from benchhash.workloads.llm.model import prefill_next
        return torch.compile(prefill_next, fullgraph=True, dynamic=False)

    def first_calls(self, fn: Any) -> None:
        for _ in range(2):
            fn(self.w.model, self.tokens, self.positions)

    def _call(self) -> Any:
        return self.fn(self.w.model, self.tokens, self.positions)

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        with import_torch().no_grad():
            calls, secs, per_call = timed_loop(self._call, self.w.dev, seconds, stop, self.per_call_s)
        return Window(calls * self.w.prompt, secs, metrics={"ttft_ms": 1e3 * secs / calls})

    def params(self) -> dict[str, Any]:
        return {**self.base_params(), "batch": 1}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        c, rate = self.w.config, statistics.median(x.rate for x in windows)
        flops_rate = rate / self.w.prompt * acc.prefill_flops(c, 1, self.w.prompt)
        out: dict[str, Any] = {"ttft_ms": statistics.median(x.metrics["ttft_ms"] for x in windows),
                               "flops_per_prompt": acc.prefill_flops(c, 1, self.w.prompt),
                               "tflops": flops_rate / 1e12}
        return {**out, **self.w.utilisation(flops_rate, None)}


class DecodePhase(LlmPhase):
    mode = "reduce-overhead"      # CUDA graphs: one replay per step

    def __init__(self, w: LlmWorkload, batch: int) -> None:
        super().__init__(w)
        self.batch, self.name = batch, f"decode.b{batch}"
        torch = import_torch()
        self.next = torch.zeros((batch, 1), dtype=torch.long, device=w.dev)
        self.pos = torch.zeros(1, dtype=torch.long, device=w.dev)
        self.position = w.prompt
        self.context_sum = 0
        self.steps = 0

    @property
    def tokens_per_call(self) -> int:
        return self.batch

    def _fill(self) -> None:
        """Prefill this phase's batch of prompts (in the compile step, never timed)."""
        torch = import_torch()
        w = self.w
        prompt = torch.randint(0, w.config.vocab_size, (self.batch, w.prompt), device=w.dev,
                               generator=w.gen)
        with torch.no_grad():
            logits = w.model(prompt, torch.arange(w.prompt, device=w.dev), w.prompt, last_only=True)
            self.next.copy_(logits.argmax(-1))
        self.position = w.prompt
        self.pos.fill_(self.position)

    def eager(self) -> Any:
        from benchhash.workloads.llm.model import decode_next
        # eager knows the step's position on the host: attend over the valid length only
        return lambda model, tokens, pos: decode_next(model, tokens, pos, self.position + 1)

    def compiled_fn(self, torch: Any) -> Any:
        from benchhash.workloads.llm.model import decode_next
        return torch.compile(decode_next, mode=self.mode, fullgraph=True, dynamic=False)

    def first_calls(self, fn: Any) -> None:
        self._fill()
        self.fn = fn
        for _ in range(3):          # cudagraph trees: warm-up, record, replay
            self._call()

    def _call(self) -> None:
        """One step, with no host synchronisation: positions are known on the host."""
        if self.position >= self.w.max_seq:   # cache full: start again after the prompt
            self.position = self.w.prompt
            self.pos.fill_(self.position)
        self.next.copy_(self.fn(self.w.model, self.next, self.pos))
        self.pos.add_(1)
        self.position += 1
        self.context_sum += self.position
        self.steps += 1

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        self.context_sum = self.steps = 0
        with import_torch().no_grad():
            calls, secs, _ = timed_loop(self._call, self.w.dev, seconds, stop, self.per_call_s)
        return Window(calls * self.batch, secs, metrics={
            "tpot_ms": 1e3 * secs / calls, "context_mean": self.context_sum / self.steps})

    def params(self) -> dict[str, Any]:
        return {**self.base_params(), "batch": self.batch}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        c, rate = self.w.config, statistics.median(x.rate for x in windows)
        ctx = statistics.fmean(x.metrics["context_mean"] for x in windows)
        step_s = self.batch / rate
        bytes_step = acc.decode_step_bytes(c, self.batch, ctx, self.w.bytes_per_value)
        flops_rate = rate * acc.flops_per_token(c, ctx)
        out: dict[str, Any] = {"tpot_ms": statistics.median(x.metrics["tpot_ms"] for x in windows),
                               "context_mean": ctx, "bytes_per_step": bytes_step,
                               "tflops": flops_rate / 1e12}
        return {**out, **self.w.utilisation(flops_rate, bytes_step / step_s)}


class LlmOptions(Options):
    llm_preset: str | None = Field(default=None, description="--llm-preset: tiny | 1b | 3b | 8b")
    llm_batches: tuple[int, ...] | None = Field(default=None, description="--llm-batches: decode batch sizes")
    no_compile: bool = Field(default=False, description="--no-compile: run eager")
    llm_attention: str | None = Field(default=None, description="attention: sdpa (default) | math")
    llm_decode_first: bool | None = Field(default=None, description="decode phases before prefill (when "
                                          "time is short, decode is the figure that matters)")

    @field_validator("llm_preset")
    @classmethod
    def _preset(cls, value: str | None) -> str | None:
        return None if value is None else preset(value).name

    @field_validator("llm_attention")
    @classmethod
    def _attention(cls, value: str | None) -> str | None:
        from benchhash.workloads.llm.model import ATTENTION
        if value is not None and value not in ATTENTION:
            raise InputError(f"llm attention must be one of {', '.join(ATTENTION)}, got {value!r}")
        return value

    @field_validator("llm_batches", mode="before")
    @classmethod
    def _batches(cls, value: Any) -> Any:
        return parse_batches(value) if isinstance(value, str) else value


class LlmWorkload(TorchWorkload):
    name = "llm"
    description = "Llama-architecture decoder with random weights: prefill and decode"
    default_on = ("cuda",)
    options_model = LlmOptions
    options: LlmOptions

    def __init__(self, device: Device, options: Options | None = None) -> None:
        super().__init__(device, options)
        base = GPU if device.kind == "cuda" else CPU
        self.config: LlmConfig = preset(self.options.llm_preset or base.preset)
        self.batches: tuple[int, ...] = self.options.llm_batches or base.batches
        self.prompt, self.max_seq = base.prompt, base.max_seq
        self.use_compile = not self.options.no_compile and device.kind == "cuda"
        gpu = device.kind == "cuda"
        self.dtype_name = "bf16" if gpu else "fp32"
        self.bytes_per_value = 2 if gpu else 4
        self.dev = torch_device(device)
        self.check_memory()     # refuse a preset that cannot fit before anything is measured

    def expected_phases(self) -> int:
        return 1 + len(self.batches)

    def setup(self) -> None:
        torch = import_torch()
        from benchhash.workloads.llm.model import build
        self.dtype = torch.bfloat16 if self.dev.type == "cuda" else torch.float32
        self.check_memory()
        self.gen = torch.Generator(device=self.dev).manual_seed(1)
        self.model = build(self.config, self.max_seq, self.dev, self.dtype,
                           attention=self.options.llm_attention or "sdpa")
        self.model.allocate_cache(max(self.batches))
        decode: list[Phase] = [DecodePhase(self, b) for b in self.batches]
        prefill: list[Phase] = [PrefillPhase(self)]
        self._phases = decode + prefill if self.options.llm_decode_first else prefill + decode

    def need_bytes(self) -> float:
        c, b = self.config, self.bytes_per_value
        weights = acc.total_params(c) * b
        kv = acc.kv_bytes(c, max(self.batches), self.max_seq, b)
        logits = max(max(self.batches), self.prompt) * c.vocab_size * 4 * 2
        return 1.1 * (weights + kv + logits)

    def check_memory(self) -> None:
        need, free = self.need_bytes(), free_memory_bytes(self.dev)
        if need > free:
            raise InputError(
                f"llm preset {self.config.name} needs about {need / 1e9:.1f} GB with batch "
                f"{max(self.batches)}; {self.device.label} has {free / 1e9:.1f} GB free; choose a "
                f"smaller --llm-preset or --llm-batches")

    def utilisation(self, flops_per_s: float, bytes_per_s: float | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        gpu = self.dev.type == "cuda"
        peak = device_peak_flops(self.device, self.dtype_name) if gpu else None
        if peak:
            out.update(mfu=flops_per_s / peak[0], peak_tflops=peak[0] / 1e12, peak_source=peak[1])
        else:
            out["mfu_reason"] = "no peak known for this device"
        if bytes_per_s is not None:
            bw = device_memory_bandwidth(self.device) if gpu else None
            if bw:
                out.update(mbu=bytes_per_s / bw[0], memory_bandwidth_gb_s=bw[0] / 1e9)
            else:
                out["mbu_reason"] = "no memory bandwidth known for this device"
        return out

    @classmethod
    def phase_names(cls) -> str | None:
        return r"prefill|decode\.b[1-9][0-9]*"

    @classmethod
    def max_rate(cls, w: WorkloadResult, result: Result) -> tuple[float, str] | None:
        """Tokens/s no device could beat: the FLOP bound over the FLOPs a token costs, and for
        decode on a known GPU the bandwidth bound (every step reads the weights)."""
        try:
            c = preset(str(w.params.get("preset")))
        except InputError:
            return None
        flops, why = flop_bound(result, str(w.params.get("dtype", "bf16")))
        bound, reason = flops / (2.0 * acc.matmul_params(c)), f"{why}, {2 * acc.matmul_params(c):.3g} FLOP/token"
        bw = bandwidth_bound(result)
        batch = w.params.get("batch")
        if w.phase.startswith("decode") and bw and isinstance(batch, int):
            by_bytes = batch * bw[0] / acc.weight_bytes(c, 2 if w.params.get("dtype") == "bf16" else 4)
            if by_bytes < bound:
                bound, reason = by_bytes, f"{bw[1]}: batch {batch} x bandwidth / weight bytes"
        return bound, reason

    @classmethod
    def econ_figures(cls, f: PhaseFigures) -> dict[str, float]:
        """The phase's watts; for a decode phase also its tokens per second, its batch and the
        model's size (which decides the price class of its tokens)."""
        out: dict[str, float] = {}
        if f.average_w:
            out["ai_watts"] = f.average_w
        if f.phase.startswith("decode") and f.rate is not None:
            out["tokens_per_second"] = f.rate
            if isinstance(f.params.get("batch"), int):
                out["batch"] = float(f.params["batch"])
            name = f.params.get("preset")
            if isinstance(name, str) and name.strip().lower() in PRESETS:
                c = PRESETS[name.strip().lower()]
                out["model_params"] = float(c.published_params or acc.total_params(c))
        return out

    def teardown(self) -> None:
        self.model = None  # type: ignore[assignment]
        super().teardown()
