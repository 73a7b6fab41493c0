"""Every GPU NVML sees, as the result's Gpu model: name, UUID, PCI bus id, VBIOS, driver and CUDA
versions, memory, power limits, persistence, MIG and ECC modes, clocks and temperature. Each
field is read on its own: one NVML refuses is None, with the reason under ``unavailable``, and a
GPU whose handle fails is still listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchhash.errors import MeterError
from benchhash.hw.nvml import NvmlError, call, session, text
from benchhash.results.model import Gpu


def _gpu(nv: Any, i: int) -> Gpu:
    gaps: dict[str, str] = {}
    try:
        h = call(nv, "handle by index", nv.nvmlDeviceGetHandleByIndex, i)
    except NvmlError as exc:        # this GPU is listed with every field unavailable
        h, gaps["handle"] = None, str(exc)

    def get(key: str, fn: Callable[..., Any], *args: Any,
            conv: Callable[[Any], Any] = lambda v: v) -> Any:
        if h is None:
            return None
        try:
            return conv(call(nv, key, fn, h, *args))
        except NvmlError as exc:
            gaps[key] = str(exc)
            return None

    def watts(mw: Any) -> float:
        return float(mw) / 1000.0

    def clocks(key: str, fn: Callable[..., Any]) -> dict[str, Any]:
        return {f"{name}_mhz": get(f"{key}.{name}", fn, clock)
                for name, clock in (("sm", nv.NVML_CLOCK_SM), ("memory", nv.NVML_CLOCK_MEM),
                                    ("graphics", nv.NVML_CLOCK_GRAPHICS))}

    mig = get("mig_mode", nv.nvmlDeviceGetMigMode)
    ecc = get("ecc_mode", nv.nvmlDeviceGetEccMode)
    constraints = get("power_limit_constraints", nv.nvmlDeviceGetPowerManagementLimitConstraints)
    mem = get("memory", nv.nvmlDeviceGetMemoryInfo)
    pci = get("pci_info", nv.nvmlDeviceGetPciInfo)
    return Gpu.model_validate({
        "index": i,
        "name": get("name", nv.nvmlDeviceGetName, conv=text),
        "uuid": get("uuid", nv.nvmlDeviceGetUUID, conv=text),
        "pci_bus_id": None if pci is None else text(pci.busId),
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
        "mig_mode": {} if mig is None else {"current": bool(mig[0]), "pending": bool(mig[1])},
        "ecc_mode": {} if ecc is None else {"current": bool(ecc[0]), "pending": bool(ecc[1])},
        "clocks_current": clocks("clock", nv.nvmlDeviceGetClockInfo),
        "clocks_max": clocks("max_clock", nv.nvmlDeviceGetMaxClockInfo),
        "clocks_application": clocks("application_clock", nv.nvmlDeviceGetApplicationsClock),
        "temperature_c": {"before": get("temperature", nv.nvmlDeviceGetTemperature,
                                        nv.NVML_TEMPERATURE_GPU)},
        "unavailable": gaps,
    })


def gpus() -> tuple[list[Gpu], str | None]:
    """Every GPU NVML sees, read now; (gpus, the reason when there are none)."""
    try:
        with session() as nv:
            driver = cuda = None
            try:
                driver = text(call(nv, "driver version", nv.nvmlSystemGetDriverVersion))
                v = call(nv, "CUDA driver version", nv.nvmlSystemGetCudaDriverVersion)
                cuda = f"{v // 1000}.{v % 1000 // 10}"
            except NvmlError:
                pass
            found = [_gpu(nv, i).model_copy(update={"driver": driver, "cuda_driver_version": cuda})
                     for i in range(call(nv, "device count", nv.nvmlDeviceGetCount))]
    except MeterError as exc:
        return [], str(exc)
    return found, None if found else "NVML sees no GPU"


def mig_mode(pci_bus_id: str | None) -> bool | None:
    """Whether NVML reports MIG mode on for the GPU at this bus id (None: cannot tell)."""
    if not pci_bus_id:
        return None
    try:
        with session() as nv:
            h = call(nv, "handle by PCI bus id", nv.nvmlDeviceGetHandleByPciBusId, pci_bus_id)
            current, _pending = call(nv, "MIG mode", nv.nvmlDeviceGetMigMode, h)
            return bool(current)
    except MeterError:          # no NVML, or MIG not supported on this GPU: no MIG
        return None
