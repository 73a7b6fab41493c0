"""Dense matrix multiply: one phase per dtype (bf16, fp16, tf32, fp32, and fp8 e4m3 through
torch._scaled_mm with fast accumulation, as production fp8 GEMMs run, where the GPU has it).
FLOPs = 2·M·N·K per call; % of the device's dense peak for the dtype from the GPU catalogue.
Inputs are allocated in the phase's compile step and freed after it; out of memory gives a
smaller size, recorded."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from pydantic import Field, field_validator

from benchhash.errors import InputError
from benchhash.results.model import Device, Result, WorkloadResult
from benchhash.workloads.base import Options, Phase, PhaseFigures, Window
from benchhash.workloads.econ_figures import EconFigures
from benchhash.workloads.peaks import device_peak_flops, flop_bound
from benchhash.workloads.recompute import figure_problems
from benchhash.workloads.torch_util import (
    TorchWorkload,
    import_torch,
    parse_dtypes,
    synchronize,
    tf32_matmul,
    timed_loop,
    torch_device,
    torch_dtype,
)

GPU_SIZE, CPU_SIZE = 8192, 2048
DTYPES_GPU = ("bf16", "fp16", "tf32", "fp32", "fp8")
MIN_SIZE = 256
#: torch._scaled_mm (cuBLASLt fp8) wants every dimension a multiple of 16.
FP8_MULTIPLE = 16
FP8_FAST_ACCUM = True
SWEEP_GPU = [(s, s, s) for s in (4096, 6144, 8192, 10240, 12288, 16384)] + \
    [(8192, 8192, 16384), (16384, 16384, 8192), (4096, 16384, 8192)]
SWEEP_CPU = [(s, s, s) for s in (256, 512, 1024, 2048)]
#: The burst figure beside the sustained one (GPU only): the mean rate of this many back-to-back
#: products after BURST_WARMUP, timed in the compile step on a chip not yet held at its power
#: limit, as mamf-finder times its shapes.
BURST_CALLS, BURST_WARMUP = 100, 10


def halved(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The next smaller shape after an out-of-memory: half, kept a multiple of 16 (fp8)."""
    m, n, k = (max(MIN_SIZE, s // 2 // FP8_MULTIPLE * FP8_MULTIPLE) for s in shape)
    return m, n, k


class MatMul:
    """One M×K @ K×N product in a dtype, inputs allocated once; calling it runs the product."""

    def __init__(self, torch: Any, dtype: str, m: int, n: int, k: int, dev: Any,
                 gen: Any = None) -> None:
        self.torch, self.dtype = torch, dtype
        if dtype == "fp8":
            if any(d % FP8_MULTIPLE for d in (m, n, k)):
                raise InputError(f"gemm fp8 needs M, N and K that are multiples of {FP8_MULTIPLE}, "
                                 f"got {m}x{n}x{k}")
            self.a = torch.randn(m, k, device=dev, generator=gen).to(torch.float8_e4m3fn)
            # _scaled_mm wants the second operand column-major
            self.b = torch.randn(n, k, device=dev, generator=gen).to(torch.float8_e4m3fn).t()
            self.scale = torch.ones((), device=dev)
            self.out = None
        else:
            t = torch_dtype(dtype)
            self.a = torch.randn(m, k, device=dev, dtype=t, generator=gen)
            self.b = torch.randn(k, n, device=dev, dtype=t, generator=gen)
            self.out = torch.empty(m, n, device=dev, dtype=t)

    def __call__(self) -> Any:
        if self.dtype == "fp8":
            return self.torch._scaled_mm(self.a, self.b, scale_a=self.scale, scale_b=self.scale,
                                         out_dtype=self.torch.bfloat16,
                                         use_fast_accum=FP8_FAST_ACCUM)
        return self.torch.matmul(self.a, self.b, out=self.out)


class GemmPhase(Phase):
    unit = "FLOP"

    def __init__(self, workload: GemmWorkload, dtype: str) -> None:
        self.w, self.dtype, self.name = workload, dtype, dtype
        self.torch = import_torch()
        self.oom_from: int | None = None
        self.sweep: list[dict[str, Any]] = []
        self.shape = (workload.size, workload.size, workload.size)
        self.fn: MatMul | None = None
        self.per_call_s: float | None = None
        self.burst_tflops: float | None = None

    def _allocate(self) -> None:
        """Inputs for the shape; on out-of-memory halve it, down to MIN_SIZE."""
        torch = self.torch
        while True:
            try:
                self.fn = MatMul(torch, self.dtype, *self.shape, self.w.dev, self.w.gen)
                with tf32_matmul(self.dtype == "tf32"):
                    self.fn()
                synchronize(self.w.dev)
                return
            except torch.OutOfMemoryError:
                self.fn = None
                if self.w.dev.type == "cuda":
                    torch.cuda.empty_cache()
                if max(self.shape) // 2 < MIN_SIZE:
                    raise
                self.oom_from = self.oom_from or max(self.shape)
                self.shape = halved(self.shape)

    def _sweep(self) -> tuple[int, int, int]:
        """Try each candidate shape briefly; keep the fastest (as mamf-finder does)."""
        best: tuple[float, tuple[int, int, int]] | None = None
        for shape in (SWEEP_GPU if self.w.dev.type == "cuda" else SWEEP_CPU):
            try:
                fn = MatMul(self.torch, self.dtype, *shape, self.w.dev, self.w.gen)
                with tf32_matmul(self.dtype == "tf32"):
                    fn()
                    calls, secs, _ = timed_loop(fn, self.w.dev, 0.2, threading.Event())
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

    def compile(self) -> bool:
        """Sweep shapes (--gemm-sweep) and allocate the inputs; the first call loads cuBLAS."""
        if self.w.sweep and not self.sweep:
            self.shape = self._sweep()
        self._allocate()
        if self.w.dev.type == "cuda":
            self._burst()
        return True

    def _burst(self) -> None:
        """TFLOP/s over BURST_CALLS products in one timed loop (the burst, not the sustained rate)."""
        assert self.fn is not None
        with tf32_matmul(self.dtype == "tf32"):
            for _ in range(BURST_WARMUP):
                self.fn()
            synchronize(self.w.dev)
            t0 = time.perf_counter()
            for _ in range(BURST_CALLS):
                self.fn()
            synchronize(self.w.dev)
        self.burst_tflops = BURST_CALLS * self.flops_per_call / (time.perf_counter() - t0) / 1e12

    def close(self) -> None:
        self.fn = None
        if self.w.dev.type == "cuda":
            self.torch.cuda.empty_cache()

    @property
    def flops_per_call(self) -> float:
        m, n, k = self.shape
        return 2.0 * m * n * k

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate:
            self.per_call_s = self.flops_per_call / rate_estimate

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        assert self.fn is not None
        with tf32_matmul(self.dtype == "tf32"):
            calls, secs, per_call = timed_loop(self.fn, self.w.dev, seconds, stop, self.per_call_s)
        return Window(calls * self.flops_per_call, secs,
                      metrics={"calls": calls, "ms_per_call_median": 1e3 * statistics.median(per_call)})

    def params(self) -> dict[str, Any]:
        m, n, k = self.shape
        out: dict[str, Any] = {"dtype": self.dtype, "m": m, "n": n, "k": k, "sweep": self.w.sweep,
                               "oom_fallback_from": self.oom_from}
        if self.dtype == "fp8":
            out["fp8_fast_accum"] = FP8_FAST_ACCUM
        return out

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        out = peak_figures(self.w.device, self.dtype, [w.rate for w in windows])
        if self.sweep:
            out["sweep"] = self.sweep
        if self.burst_tflops is not None:
            out.update(burst_tflops=self.burst_tflops, burst_calls=BURST_CALLS)
        return out


def peak_figures(device: Device, dtype: str, rates: list[float]) -> dict[str, Any]:
    """A phase's TFLOP/s (the median trial's) against the device's dense peak for the dtype: the
    phase's summary, and what verify recomputes."""
    rate = statistics.median(rates)
    out: dict[str, Any] = {"tflops": rate / 1e12}
    peak = device_peak_flops(device, dtype) if device.kind == "cuda" else None
    if peak:
        out.update(peak_tflops=peak[0] / 1e12, pct_of_peak=100 * rate / peak[0], peak_source=peak[1])
    else:
        out["pct_of_peak_reason"] = "no dense peak known for this device and dtype"
    return out


def _trial_problems(w: WorkloadResult) -> list[str]:
    """Each trial's work is its calls of one product: 2·M·N·K FLOPs each."""
    given = [w.params.get(k) for k in ("m", "n", "k")]
    dims = [d for d in given if isinstance(d, int) and not isinstance(d, bool) and MIN_SIZE <= d <= 1 << 20]
    if len(dims) != 3:
        return [f"{w.label}: params m, n and k must be the product's sizes, got {given}"]
    per_call = 2.0 * dims[0] * dims[1] * dims[2]
    out = []
    for t in w.trials:
        calls = t.metrics.get("calls")
        if not isinstance(calls, int) or isinstance(calls, bool) or calls < 1 or t.work != calls * per_call:
            out.append(f"{w.label} trial {t.index}: {t.work:.6g} FLOPs are not its {calls!r} call(s) of "
                       f"{dims[0]}x{dims[1]}x{dims[2]} ({per_call:.6g} FLOPs each)")
    return out


def check(w: WorkloadResult, result: Result) -> list[str]:
    """A gemm phase against itself: its dtype is its phase's, its work its calls, its TFLOP/s
    and % of peak follow from its trials and the catalogue (from v5), its burst within the peak."""
    if w.params.get("dtype") != w.phase:
        return [f"{w.label}: params say dtype {w.params.get('dtype')!r}, the phase is {w.phase}"]
    out = _trial_problems(w)
    if out or not w.trials:
        return out
    if result.stored_version >= 5:
        again = peak_figures(result.device, w.phase, [t.rate for t in w.trials])
        out += figure_problems(w.label, w.metrics, again, "its trials and the catalogue")
    bound, burst = flop_bound(result, w.phase), w.metrics.get("burst_tflops")
    if bound is not None and isinstance(burst, int | float) and burst * 1e12 > bound[0]:
        out.append(f"{w.label}: a burst of {burst:.4g} TFLOP/s is more than this device can do ({bound[1]})")
    return out


class GemmOptions(Options):
    gemm_dtypes: tuple[str, ...] | None = Field(
        default=None, description="--gemm-dtypes (default: every dtype the device has; CPU fp32)")
    gemm_size: int | None = Field(default=None, description="--gemm-size: M = N = K")
    gemm_sweep: bool = Field(default=False, description="--gemm-sweep: try shapes, keep the fastest")

    @field_validator("gemm_dtypes", mode="before")
    @classmethod
    def _dtypes(cls, value: Any) -> Any:
        return tuple(parse_dtypes(value)) if isinstance(value, str) else value

    @field_validator("gemm_size")
    @classmethod
    def _size(cls, value: int | None) -> int | None:
        if value is not None and not MIN_SIZE <= value <= 65_536:
            raise ValueError(f"--gemm-size must be between {MIN_SIZE} and 65536, got {value}")
        return value


class GemmWorkload(TorchWorkload):
    name = "gemm"
    unit = GemmPhase.unit
    description = "dense matrix multiply (torch), FLOPs = 2·M·N·K"
    default_on = ("cuda",)
    options_model = GemmOptions
    #: 1: one M = N = K matmul a call, FLOPs = 2·M·N·K (Workload.version)
    version = 1
    options: GemmOptions

    def __init__(self, device: Device, options: Options | None = None) -> None:
        super().__init__(device, options)
        self.dev = torch_device(device)     # no torch, or no CUDA in it: said before anything runs
        gpu = device.kind == "cuda"
        self.explicit = self.options.gemm_dtypes is not None
        self.dtypes = list(self.options.gemm_dtypes or (DTYPES_GPU if gpu else ("fp32",)))
        size = self.options.gemm_size
        self.size = size if size is not None else (GPU_SIZE if gpu else CPU_SIZE)
        self.sweep = self.options.gemm_sweep
        self.skipped: dict[str, str] = {}
        for d in list(self.dtypes):
            reason = self.unsupported(d)
            if reason is not None and self.explicit:
                raise InputError(f"--gemm-dtypes {d}: {reason} ({device.label})")
            if reason is not None:
                self.skipped[d] = reason
                self.dtypes.remove(d)
        if "fp8" in self.dtypes and self.size % FP8_MULTIPLE and not self.sweep:
            raise InputError(f"--gemm-size {self.size}: fp8 needs a multiple of {FP8_MULTIPLE}")
        if not self.dtypes:
            raise InputError(f"gemm: none of the dtypes can run on {device.label} ("
                             + "; ".join(f"{d}: {r}" for d, r in self.skipped.items()) + ")")

    def expected_phases(self) -> int:
        return len(self.dtypes)

    def setup(self) -> None:
        # random inputs from a generator of its own: the process's random state is left alone
        self.gen = import_torch().Generator(device=self.dev).manual_seed(0)
        self._phases = [GemmPhase(self, d) for d in self.dtypes]

    def notes(self) -> list[str]:
        skipped = [f"gemm {d} not run: {r}" for d, r in self.skipped.items()]
        return super().notes() + skipped

    @classmethod
    def phase_names(cls) -> str | None:
        return "|".join(DTYPES_GPU)

    @classmethod
    def max_rate(cls, w: WorkloadResult, result: Result) -> tuple[float, str] | None:
        return flop_bound(result, w.phase)

    @classmethod
    def check_result(cls, w: WorkloadResult, result: Result) -> list[str]:
        return check(w, result)

    @classmethod
    def econ_figures(cls, f: PhaseFigures) -> EconFigures:
        return EconFigures(ai_watts=f.average_w or None)

    def unsupported(self, dtype: str) -> str | None:
        torch = import_torch()
        if self.dev.type == "cpu":
            return None if dtype in ("fp32", "bf16") else "on the CPU only fp32 and bf16 are run"
        if dtype == "fp8" and torch.cuda.get_device_capability(self.dev) < (8, 9):
            return "fp8 needs compute capability 8.9 or newer"
        if dtype == "bf16" and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16"
        return None
