"""What the torch workloads share: the torch device for a benchhash Device, synchronisation,
free memory, dtype names, and timing loops that synchronise only every batch of calls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from benchhash.device import Device
from benchhash.errors import BackendUnavailable, InputError
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


def timed_loop(fn: Callable[[], Any], dev: Any, seconds: float, stop: threading.Event,
               batch: int) -> tuple[int, float, list[float]]:
    """Call fn in batches until ``seconds`` pass; synchronise after each batch. Returns
    (calls, elapsed seconds, seconds per call of each batch)."""
    calls, per_call = 0, []
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        tb = time.perf_counter()
        for _ in range(batch):
            fn()
        synchronize(dev)
        now = time.perf_counter()
        calls += batch
        per_call.append((now - tb) / batch)
        if now >= deadline or stop.is_set():
            return calls, now - t0, per_call


def batch_for(seconds_per_call: float | None, target_s: float = 0.05) -> int:
    """Calls per synchronisation so that a batch lasts about target_s."""
    if not seconds_per_call or seconds_per_call <= 0:
        return 1
    return max(1, min(10_000, int(target_s / seconds_per_call)))


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
