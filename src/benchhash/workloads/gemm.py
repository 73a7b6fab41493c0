"""Dense matrix multiply: one phase per dtype (bf16, fp16, tf32, fp32, and fp8 e4m3 through
torch._scaled_mm where the GPU has it). FLOPs = 2·M·N·K per call; % of the device's dense peak
for the dtype from data/gpu_peaks.json. Out of memory gives a smaller size, recorded."""

from __future__ import annotations

import statistics
import threading
from typing import Any

from benchhash.errors import BackendUnavailable, InputError
from benchhash.workloads.base import Phase, Window
from benchhash.workloads.peaks import peak_flops
from benchhash.workloads.torch_util import (
    TorchWorkload, batch_for, import_torch, parse_dtypes, synchronize, timed_loop, torch_device,
    torch_dtype,
)

GPU_SIZE, CPU_SIZE = 8192, 2048
MIN_SIZE = 256
SWEEP_GPU = [(s, s, s) for s in (4096, 6144, 8192, 10240, 12288, 16384)] + \
    [(8192, 8192, 16384), (16384, 16384, 8192), (4096, 16384, 8192)]
SWEEP_CPU = [(s, s, s) for s in (256, 512, 1024, 2048)]


class MatMul:
    """One M×K @ K×N product in a dtype, inputs allocated once; calling it runs the product."""

    def __init__(self, torch: Any, dtype: str, m: int, n: int, k: int, dev: Any) -> None:
        self.torch, self.dtype = torch, dtype
        if dtype == "fp8":
            self.a = torch.randn(m, k, device=dev).to(torch.float8_e4m3fn)
            # _scaled_mm wants the second operand column-major
            self.b = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t()
            self.scale = torch.ones((), device=dev)
            self.out = None
        else:
            t = torch_dtype(dtype)
            self.a = torch.randn(m, k, device=dev, dtype=t)
            self.b = torch.randn(k, n, device=dev, dtype=t)
            self.out = torch.empty(m, n, device=dev, dtype=t)

    def __call__(self) -> Any:
        if self.dtype == "fp8":
            return self.torch._scaled_mm(self.a, self.b, scale_a=self.scale, scale_b=self.scale,
                                         out_dtype=self.torch.bfloat16)
        return self.torch.matmul(self.a, self.b, out=self.out)


class GemmPhase(Phase):
    unit = "FLOP"

    def __init__(self, workload: GemmWorkload, dtype: str) -> None:
        self.w, self.dtype, self.name = workload, dtype, dtype
        self.torch = import_torch()
        self.oom_from: int | None = None
        self.sweep: list[dict[str, Any]] = []
        self.shape = (workload.size, workload.size, workload.size)
        if workload.sweep:
            self.shape = self._sweep()
        self._allocate()
        self.batch = 1

    def _tf32(self) -> None:
        self.torch.backends.cuda.matmul.allow_tf32 = self.dtype == "tf32"
        self.torch.backends.cudnn.allow_tf32 = self.dtype == "tf32"

    def _allocate(self) -> None:
        """Inputs for the shape; on out-of-memory halve it, down to MIN_SIZE."""
        torch = self.torch
        while True:
            try:
                self.fn = MatMul(torch, self.dtype, *self.shape, self.w.dev)
                self._tf32()
                self.fn()
                synchronize(self.w.dev)
                return
            except torch.OutOfMemoryError:
                self.fn = None  # type: ignore[assignment]
                if self.w.dev.type == "cuda":
                    torch.cuda.empty_cache()
                if max(self.shape) // 2 < MIN_SIZE:
                    raise
                self.oom_from = self.oom_from or max(self.shape)
                self.shape = tuple(max(MIN_SIZE, s // 2) for s in self.shape)  # type: ignore[assignment]

    def _sweep(self) -> tuple[int, int, int]:
        """Try each candidate shape briefly; keep the fastest (as mamf-finder does)."""
        best: tuple[float, tuple[int, int, int]] | None = None
        for shape in (SWEEP_GPU if self.w.dev.type == "cuda" else SWEEP_CPU):
            try:
                fn = MatMul(self.torch, self.dtype, *shape, self.w.dev)
                self._tf32()
                fn()
                calls, secs, _ = timed_loop(fn, self.w.dev, 0.2, threading.Event(), 1)
            except self.torch.OutOfMemoryError:
                self.sweep.append({"shape": list(shape), "tflops": None, "note": "out of memory"})
                continue
            tflops = 2 * shape[0] * shape[1] * shape[2] * calls / secs / 1e12
            self.sweep.append({"shape": list(shape), "tflops": tflops})
            if best is None or tflops > best[0]:
                best = (tflops, shape)
            del fn
        if best is None:
            raise InputError("gemm sweep: every shape ran out of memory")
        return best[1]

    @property
    def flops_per_call(self) -> float:
        m, n, k = self.shape
        return 2.0 * m * n * k

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate:
            self.batch = batch_for(self.flops_per_call / rate_estimate)

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        self._tf32()
        calls, secs, per_call = timed_loop(self.fn, self.w.dev, seconds, stop, self.batch)
        return Window(calls * self.flops_per_call, secs,
                      metrics={"calls": calls, "ms_per_call_median": 1e3 * statistics.median(per_call)})

    def params(self) -> dict[str, Any]:
        m, n, k = self.shape
        return {"dtype": self.dtype, "m": m, "n": n, "k": k, "sweep": self.w.sweep,
                "oom_fallback_from": self.oom_from}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        rate = statistics.median(w.rate for w in windows)
        out: dict[str, Any] = {"tflops": rate / 1e12}
        peak = peak_flops(self.w.device.name, self.dtype) if self.w.dev.type == "cuda" else None
        if peak:
            out.update(peak_tflops=peak[0] / 1e12, pct_of_peak=100 * rate / peak[0], peak_source=peak[1])
        else:
            out["pct_of_peak_reason"] = "no dense peak known for this device and dtype"
        if self.sweep:
            out["sweep"] = self.sweep
        return out


class GemmWorkload(TorchWorkload):
    name = "gemm"
    description = "dense matrix multiply (torch), FLOPs = 2·M·N·K"
    default_on = ("cuda",)

    def __init__(self, device: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(device, options)
        torch_device(device)        # no torch, or no CUDA in it: say so before anything runs
        gpu = device.kind == "cuda"
        default = "bf16,fp16,tf32,fp32,fp8" if gpu else "fp32"
        self.dtypes = parse_dtypes(self.options.get("gemm_dtypes") or default)
        self.size = int(self.options.get("gemm_size") or (GPU_SIZE if gpu else CPU_SIZE))
        if not MIN_SIZE <= self.size <= 65_536:
            raise InputError(f"--gemm-size must be between {MIN_SIZE} and 65536, got {self.size}")
        self.sweep = bool(self.options.get("gemm_sweep"))
        self.explicit = bool(self.options.get("gemm_dtypes"))

    def expected_phases(self) -> int:
        return len(self.dtypes)

    def setup(self) -> None:
        self.dev = torch_device(self.device)
        usable = []
        for d in self.dtypes:
            reason = self.unsupported(d)
            if reason is None:
                usable.append(d)
            elif self.explicit:
                raise BackendUnavailable(f"gemm {d}: {reason}")
        self._phases = [GemmPhase(self, d) for d in usable]

    def unsupported(self, dtype: str) -> str | None:
        torch = import_torch()
        if self.dev.type == "cpu":
            return None if dtype in ("fp32", "bf16") else "on the CPU only fp32 and bf16 are run"
        if dtype == "fp8" and torch.cuda.get_device_capability(self.dev) < (8, 9):
            return "fp8 needs compute capability 8.9 or newer"
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16"
        return None
