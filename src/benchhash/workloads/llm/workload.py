"""LLM inference as a workload: prefill (tokens/s, time to first token) and decode at several
batch sizes (tokens/s, time per output token), each phase in its own measured windows. MFU and,
for decode, MBU (bytes that must be read per step / step time / memory bandwidth) are reported
against the device's peaks. bf16 on GPU, fp32 on CPU; decode is compiled (torch.compile with CUDA
graphs) on GPU unless turned off."""

from __future__ import annotations

import statistics
import threading
from typing import Any

from benchhash.errors import InputError
from benchhash.workloads.base import Phase, Window
from benchhash.workloads.llm import accounting as acc
from benchhash.workloads.llm.config import LlmConfig, preset
from benchhash.workloads.peaks import memory_bandwidth, peak_flops
from benchhash.workloads.torch_util import (
    TorchWorkload, batch_for, free_memory_bytes, import_torch, synchronize, timed_loop,
    torch_device,
)

GPU = {"preset": "8b", "batches": (1, 16, 64), "prompt": 512, "max_seq": 1024}
CPU = {"preset": "tiny", "batches": (1, 16), "prompt": 64, "max_seq": 256}


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--llm-batches takes a comma list of integers, got {text!r}") from None
    if not values or any(not 1 <= v <= 4096 for v in values):
        raise InputError(f"--llm-batches values must be between 1 and 4096, got {text!r}")
    return tuple(sorted(set(values)))


class LlmPhase(Phase):
    unit = "token"

    def __init__(self, w: LlmWorkload) -> None:
        self.w = w
        self.batch_calls = 1

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate:
            self.batch_calls = batch_for(self.tokens_per_call / rate_estimate)

    @property
    def tokens_per_call(self) -> int:
        raise NotImplementedError

    def base_params(self) -> dict[str, Any]:
        return {"preset": self.w.config.name, "dtype": self.w.dtype_name, "prompt": self.w.prompt,
                "max_seq": self.w.max_seq, "compiled": self.w.compiled}


class PrefillPhase(LlmPhase):
    name = "prefill"

    def __init__(self, w: LlmWorkload) -> None:
        super().__init__(w)
        torch = import_torch()
        self.tokens = torch.randint(0, w.config.vocab_size, (1, w.prompt), device=w.dev)
        self.positions = torch.arange(w.prompt, device=w.dev)

    @property
    def tokens_per_call(self) -> int:
        return self.w.prompt

    def _call(self) -> Any:
        return self.w.model(self.tokens, self.positions)[:, -1].argmax(-1)

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        with import_torch().inference_mode():
            calls, secs, per_call = timed_loop(self._call, self.w.dev, seconds, stop, self.batch_calls)
        return Window(calls * self.w.prompt, secs, metrics={"ttft_ms": 1e3 * statistics.median(per_call)})

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
    def __init__(self, w: LlmWorkload, batch: int) -> None:
        super().__init__(w)
        self.batch, self.name = batch, f"decode.b{batch}"
        torch = import_torch()
        self.next = torch.zeros((batch, 1), dtype=torch.long, device=w.dev)
        self.pos = torch.zeros(1, dtype=torch.long, device=w.dev)
        self.position = w.prompt
        self.contexts: list[int] = []
        self.ready = False

    @property
    def tokens_per_call(self) -> int:
        return self.batch

    def _fill(self) -> None:
        """Prefill this phase's batch of prompts (not timed)."""
        torch = import_torch()
        w = self.w
        prompt = torch.randint(0, w.config.vocab_size, (self.batch, w.prompt), device=w.dev)
        with torch.inference_mode():
            logits = w.model(prompt, torch.arange(w.prompt, device=w.dev))
            self.next.copy_(logits[:, -1:].argmax(-1))
        self.position = w.prompt
        self.ready = True

    def _call(self) -> None:
        if self.position >= self.w.max_seq:   # cache full: start again after the prompt
            self.position = self.w.prompt
        self.pos.fill_(self.position)
        logits = self.w.decode_step(self.next, self.pos)
        self.next.copy_(logits[:, -1:].argmax(-1))
        self.contexts.append(self.position + 1)
        self.position += 1

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if not self.ready:
            self._fill()
        self.contexts = []
        with import_torch().inference_mode():
            calls, secs, per_call = timed_loop(self._call, self.w.dev, seconds, stop, self.batch_calls)
        return Window(calls * self.batch, secs, metrics={
            "tpot_ms": 1e3 * secs / calls, "context_mean": statistics.fmean(self.contexts)})

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


class LlmWorkload(TorchWorkload):
    name = "llm"
    description = "Llama-architecture decoder with random weights: prefill and decode"
    default_on = ("cuda",)

    def __init__(self, device: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(device, options)
        base = GPU if device.kind == "cuda" else CPU
        self.config: LlmConfig = preset(self.options.get("llm_preset") or base["preset"])
        self.batches = parse_batches(self.options["llm_batches"]) if self.options.get("llm_batches") \
            else base["batches"]
        self.prompt, self.max_seq = int(base["prompt"]), int(base["max_seq"])
        self.use_compile = not self.options.get("no_compile") and device.kind == "cuda"
        self.compiled = False
        self.compile_error: str | None = None
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
        self.model = build(self.config, self.max_seq, self.dev, self.dtype)
        self.model.allocate_cache(max(self.batches))
        self._step = self.model
        self._step_checked = False
        if self.use_compile:
            try:
                self._step = torch.compile(self.model, mode="reduce-overhead", dynamic=False)
                self.compiled = True
            except Exception as exc:  # noqa: BLE001 - eager still measures; the reason is kept
                self.compile_error = f"torch.compile failed, decode runs eager: {exc}"
        self._phases: list[Phase] = [PrefillPhase(self)] + [DecodePhase(self, b) for b in self.batches]

    def decode_step(self, tokens: Any, positions: Any) -> Any:
        """One decode step; the first compiled call is checked, and a compiler failure falls
        back to eager with the reason kept (compilation happens lazily, on that first call)."""
        if self._step_checked:
            return self._step(tokens, positions)
        try:
            out = self._step(tokens, positions)
            synchronize(self.dev)
        except Exception as exc:  # noqa: BLE001 - see docstring
            if self._step is self.model:
                raise
            self.compile_error = f"torch.compile failed, decode runs eager: {str(exc)[:300]}"
            self.compiled = False
            self._step = self.model
            out = self._step(tokens, positions)
        self._step_checked = True
        return out

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
        name = self.device.name if self.dev.type == "cuda" else ""
        peak = peak_flops(name, self.dtype_name) if name else None
        if peak:
            out.update(mfu=flops_per_s / peak[0], peak_tflops=peak[0] / 1e12, peak_source=peak[1])
        else:
            out["mfu_reason"] = "no peak known for this device"
        if bytes_per_s is not None:
            bw = memory_bandwidth(name) if name else None
            if bw:
                out.update(mbu=bytes_per_s / bw[0], memory_bandwidth_gb_s=bw[0] / 1e9)
            else:
                out["mbu_reason"] = "no memory bandwidth known for this device"
        if self.compile_error:
            out["compile_error"] = self.compile_error
        return out

    def backend(self) -> str | None:
        return super().backend() + (" compiled" if self.compiled else "")  # type: ignore[operator]

    def teardown(self) -> None:
        self.model = self._step = None  # type: ignore[assignment]
        super().teardown()
