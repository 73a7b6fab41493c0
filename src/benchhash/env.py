"""What this machine is: CPU (py-cpuinfo), GPUs (NVML), which scan backends can run and why not."""

from __future__ import annotations

import os
from typing import Any


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


def gpu_info() -> tuple[list[dict[str, Any]], str | None]:
    """Every GPU NVML sees, each field guarded (a field NVML refuses is None, with the reason
    under ``unavailable``); (gpus, reason when there are none)."""
    from benchhash.provenance import gpus
    return gpus()


def backend_status() -> dict[str, str | None]:
    """Each scan backend -> None when it can run here, else the reason it cannot."""
    from benchhash.sha256d.cuda import probe

    status: dict[str, str | None] = {"reference": None}
    try:
        import numba  # noqa: F401
        status["cpu"] = None
    except ImportError as exc:
        status["cpu"] = f"numba missing ({exc})"
    status["cuda"] = probe(0).reason
    return status


def cuda_probe_steps() -> dict[str, str | None]:
    """The cuda backend's probe, step by step (cupy, gpu, nvrtc, compile, launch): None where
    the step worked, the reason where it failed, 'not tried' after a failure."""
    from benchhash.sha256d.cuda import PROBE_STEPS, probe

    steps = probe(0).steps
    return {k: steps.get(k, "not tried") for k in PROBE_STEPS}
