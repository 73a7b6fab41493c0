"""What this machine is: CPU (py-cpuinfo), GPUs (NVML), which scan backends can run and why not."""

from __future__ import annotations

import os
from typing import Any

from benchhash.errors import BenchhashError

CPU_FLAGS_OF_INTEREST = ("sha_ni", "avx2", "avx512f", "avx512vl", "avx512bw", "bmi2")


def cpu_info() -> dict[str, Any]:
    """Model, core count and the SIMD/SHA flags that matter to the CPU backend."""
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", []))
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return {
        "model": info.get("brand_raw") or None,
        "arch": info.get("arch") or None,
        "logical_cores": logical,
        "usable_cores": usable,
        "flags": {f: f in flags for f in CPU_FLAGS_OF_INTEREST},
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_info() -> tuple[list[dict[str, Any]], str | None]:
    """Per GPU: name, UUID, driver, memory, power limit. Returns (gpus, reason when none)."""
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [], f"NVML unavailable: {exc}"
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                limit_w: float | None = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
            except pynvml.NVMLError:
                limit_w = None
            gpus.append({
                "index": i,
                "name": _text(pynvml.nvmlDeviceGetName(h)),
                "uuid": _text(pynvml.nvmlDeviceGetUUID(h)),
                "driver": driver,
                "memory_total_bytes": int(mem.total),
                "power_limit_w": limit_w,
            })
        return gpus, None if gpus else "NVML sees no GPU"
    finally:
        pynvml.nvmlShutdown()


def backend_status() -> dict[str, str | None]:
    """Each scan backend -> None when it can run here, else the reason it cannot."""
    status: dict[str, str | None] = {"reference": None}
    try:
        import numba  # noqa: F401
        status["cpu"] = None
    except ImportError as exc:
        status["cpu"] = f"numba missing ({exc})"
    try:
        from benchhash.sha256d.cuda import import_cupy
        import_cupy()
        status["cuda"] = None
    except BenchhashError as exc:
        status["cuda"] = str(exc)
    return status
