"""What the torch workloads share: the torch device for a benchhash Device, synchronisation,
free memory, dtype names, and timing loops that synchronise only every batch of calls."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchhash.errors import BackendUnavailable, InputError
from benchhash.results.model import Device
from benchhash.workloads.base import Phase, Workload

DTYPES = ("fp8", "bf16", "fp16", "tf32", "fp32")


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(f"the gemm and llm workloads need torch ({exc}); "
                                 "pip install torch==2.13.0") from None
    return torch


def torch_device(device: Device) -> Any:
    torch = import_torch()
    if device.kind == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailable("torch sees no CUDA GPU (a CPU-only torch build?)")
        return torch.device("cuda", device.index)
    return torch.device("cpu")


@contextlib.contextmanager
def tf32_matmul(enabled: bool) -> Iterator[None]:
    """TF32 for float32 matmuls on or off inside the block, the process's setting restored
    after (torch >= 2.9 has fp32_precision, and refuses reads that mix it with allow_tf32)."""
    matmul = import_torch().backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        saved = matmul.fp32_precision
        matmul.fp32_precision = "tf32" if enabled else "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision = saved
    else:
        saved = matmul.allow_tf32
        matmul.allow_tf32 = enabled
        try:
            yield
        finally:
            matmul.allow_tf32 = saved


def synchronize(dev: Any) -> None:
    torch = import_torch()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def free_memory_bytes(dev: Any) -> int:
    torch = import_torch()
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def torch_dtype(name: str) -> Any:
    torch = import_torch()
    return {"fp8": torch.float8_e4m3fn, "bf16": torch.bfloat16, "fp16": torch.float16,
            "tf32": torch.float32, "fp32": torch.float32}[name]


def parse_dtypes(text: str) -> list[str]:
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in DTYPES]
    if not names or bad:
        raise InputError(f"--gemm-dtypes takes a comma list of {', '.join(DTYPES)}, got {text!r}")
    return list(dict.fromkeys(names))


#: A window ends once less than this share of it is left (no tiny last batch, no sync for it).
WINDOW_SLACK = 0.02
MAX_BATCH = 1_000_000


def timed_loop(fn: Callable[[], Any], dev: Any, seconds: float, stop: threading.Event,
               per_call_s: float | None = None) -> tuple[int, float, list[float]]:
    """Call fn until ``seconds`` pass, synchronising the device only between batches, each
    batch sized to fill what is left of the window from the estimated seconds per call. With a
    good estimate (from warm-up) that is one synchronisation per window; without one, a single
    call first measures it. Returns (calls, elapsed seconds, seconds per call of each batch)."""
    calls, per_call = 0, []
    t0 = time.perf_counter()
    deadline = t0 + seconds
    estimate = per_call_s if per_call_s and per_call_s > 0 else None
    while True:
        tb = time.perf_counter()
        left = deadline - tb
        n = 1 if estimate is None else max(1, min(MAX_BATCH, int(left / estimate)))
        for _ in range(n):
            fn()
        synchronize(dev)
        now = time.perf_counter()
        calls += n
        estimate = (now - tb) / n
        per_call.append(estimate)
        left = deadline - now
        if left <= max(WINDOW_SLACK * seconds, 0.5 * estimate) or stop.is_set():
            return calls, now - t0, per_call


class TorchWorkload(Workload):
    """What gemm and llm share: phases made by setup(), synchronising and freeing the torch
    device. Subclasses set ``self.dev`` and ``self._phases``."""

    dev: Any
    _phases: list[Phase]

    def phases(self) -> list[Phase]:
        return list(self._phases)

    def synchronize(self) -> None:
        synchronize(self.dev)

    def backend(self) -> str | None:
        return f"torch {import_torch().__version__}"

    def teardown(self) -> None:
        self._phases = []
        if self.dev.type == "cuda":
            import_torch().cuda.empty_cache()
