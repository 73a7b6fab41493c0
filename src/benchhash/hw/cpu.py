"""The CPU: model name, architecture, cores and the SIMD/SHA flags that matter to the CPU backend,
read once per process. On Linux from /proc/cpuinfo (instant); elsewhere through py-cpuinfo,
which starts a subprocess of about a second, hence the cache."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

from benchhash.results.model import Cpu

FLAGS_OF_INTEREST = ("sha_ni", "avx2", "avx512f", "avx512vl", "avx512bw", "bmi2")
PROC_CPUINFO = Path("/proc/cpuinfo")


def _from_proc(path: Path) -> tuple[str | None, set[str]] | None:
    """(model name, flags) of the first processor in a /proc/cpuinfo file, None when unreadable."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    model: str | None = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return (model, flags) if model or flags else None


def _from_cpuinfo() -> tuple[str | None, set[str]]:
    try:
        import cpuinfo
        info = cpuinfo.get_cpu_info()
    except Exception:  # noqa: BLE001 - the name and flags are provenance, not a requirement
        return platform.processor() or None, set()
    return info.get("brand_raw") or None, set(info.get("flags", []))


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), else every core."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@cache
def cpu() -> Cpu:
    """This machine's CPU, read once per process."""
    found = _from_proc(PROC_CPUINFO) if PROC_CPUINFO.is_file() else None
    model, flags = found if found is not None else _from_cpuinfo()
    return Cpu(model=model, arch=platform.machine() or None, logical_cores=os.cpu_count(),
               usable_cores=usable_cores(),
               flags={f: f in flags for f in FLAGS_OF_INTEREST})


def cpu_name() -> str:
    return cpu().model or "cpu"
