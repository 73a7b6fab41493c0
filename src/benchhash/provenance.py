"""Provenance of a run: host, OS, Python, package versions, benchhash's git commit, the command
line, CPU, and per GPU everything NVML will tell (a field it refuses is null, with the reason
under ``unavailable``)."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("benchhash", "numpy", "numba", "llvmlite", "cupy-cuda12x", "cupy-cuda13x", "torch",
            "nvidia-ml-py", "py-cpuinfo", "pydantic", "rich", "typer", "scipy")


def packages() -> dict[str, str | None]:
    """Installed version of each package that can affect a result (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_info(source: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the benchhash source tree, when it is a git checkout."""
    root = source or Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None, "reason": "benchhash is not running from a git checkout"}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "reason": f"git failed: {exc}"}
    return {"commit": commit, "dirty": bool(status.strip()), "reason": None}


def _gpu(nv: Any, i: int) -> dict[str, Any]:
    from benchhash.meters.nvml import text
    from benchhash.meters.nvml_errors import NvmlError, call

    gaps: dict[str, str] = {}
    try:
        h = call(nv, "handle by index", nv.nvmlDeviceGetHandleByIndex, i)
    except NvmlError as exc:        # this GPU is listed with every field unavailable, the rest go on
        h, gaps["handle"] = None, str(exc)

    def get(key: str, fn: Callable[..., Any], *args: Any, conv: Callable[[Any], Any] = lambda v: v) -> Any:
        if h is None:
            return None
        try:
            return conv(call(nv, key, fn, h, *args))
        except NvmlError as exc:
            gaps[key] = str(exc)
            return None

    watts = lambda mw: mw / 1000.0  # noqa: E731
    mig = get("mig_mode", nv.nvmlDeviceGetMigMode)
    ecc = get("ecc_mode", nv.nvmlDeviceGetEccMode)
    constraints = get("power_limit_constraints", nv.nvmlDeviceGetPowerManagementLimitConstraints)

    def clocks(key: str, fn: Callable[..., Any]) -> dict[str, float | None]:
        return {f"{name}_mhz": get(f"{key}.{name}", fn, clock)
                for name, clock in (("sm", nv.NVML_CLOCK_SM), ("memory", nv.NVML_CLOCK_MEM),
                                    ("graphics", nv.NVML_CLOCK_GRAPHICS))}

    mem = get("memory", nv.nvmlDeviceGetMemoryInfo)
    info = {
        "index": i,
        "name": get("name", nv.nvmlDeviceGetName, conv=text),
        "uuid": get("uuid", nv.nvmlDeviceGetUUID, conv=text),
        "pci_bus_id": (lambda p: None if p is None else text(p.busId))(get("pci_info", nv.nvmlDeviceGetPciInfo)),
        "vbios": get("vbios", nv.nvmlDeviceGetVbiosVersion, conv=text),
        "memory_total_bytes": None if mem is None else int(mem.total),
        "power_limits": {
            "current_w": get("power_limit", nv.nvmlDeviceGetPowerManagementLimit, conv=watts),
            "default_w": get("power_limit_default", nv.nvmlDeviceGetPowerManagementDefaultLimit, conv=watts),
            "enforced_w": get("power_limit_enforced", nv.nvmlDeviceGetEnforcedPowerLimit, conv=watts),
            "min_w": None if constraints is None else constraints[0] / 1000.0,
            "max_w": None if constraints is None else constraints[1] / 1000.0,
        },
        "persistence_mode": get("persistence_mode", nv.nvmlDeviceGetPersistenceMode, conv=bool),
        "mig_mode": {"current": None, "pending": None} if mig is None else
                    {"current": bool(mig[0]), "pending": bool(mig[1])},
        "ecc_mode": {"current": None, "pending": None} if ecc is None else
                    {"current": bool(ecc[0]), "pending": bool(ecc[1])},
        "clocks_current": clocks("clock", nv.nvmlDeviceGetClockInfo),
        "clocks_max": clocks("max_clock", nv.nvmlDeviceGetMaxClockInfo),
        "clocks_application": clocks("application_clock", nv.nvmlDeviceGetApplicationsClock),
        "temperature_c": {"before": get("temperature", nv.nvmlDeviceGetTemperature,
                                        nv.NVML_TEMPERATURE_GPU), "after": None, "max": None},
    }
    info["unavailable"] = gaps
    return info


def gpus() -> tuple[list[dict[str, Any]], str | None]:
    """Every GPU NVML sees, in detail; (gpus, reason when there are none)."""
    from benchhash.errors import MeterError
    from benchhash.meters.nvml import text
    from benchhash.meters.nvml_errors import NvmlError, call, import_pynvml

    try:
        nv = import_pynvml()
        call(nv, "init", nv.nvmlInit)
    except MeterError as exc:
        return [], str(exc)
    try:
        driver = cuda = None
        try:
            driver = text(call(nv, "driver version", nv.nvmlSystemGetDriverVersion))
            v = call(nv, "CUDA driver version", nv.nvmlSystemGetCudaDriverVersion)
            cuda = f"{v // 1000}.{v % 1000 // 10}"
        except NvmlError:
            pass
        found = []
        for i in range(call(nv, "device count", nv.nvmlDeviceGetCount)):
            g = _gpu(nv, i)
            g["driver"], g["cuda_driver_version"] = driver, cuda
            found.append(g)
        return found, None if found else "NVML sees no GPU"
    except NvmlError as exc:
        return [], str(exc)
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down is best effort
            pass


def environment(command_line: list[str], notes: str | None) -> dict[str, Any]:
    """Everything but the GPU after-run fields, which the caller fills from the meter."""
    from benchhash.env import cpu_info

    found, reason = gpus()
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": packages(),
        "git": git_info(),
        "command_line": command_line,
        "notes": notes,
        "cpu": cpu_info(),
        "gpus": found,
        "gpu_reason": reason,
    }
