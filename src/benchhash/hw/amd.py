"""The AMD GPU through AMD SMI (the ``amdsmi`` package of ROCm), the only place it is imported:
its errors mapped to benchhash exceptions, the GPU interface (AmdGPU: energy counter, power,
clocks, temperature, power cap and setting it) and every GPU AMD SMI sees as the result's Gpu
model (records).

AMD SMI's energy counter is an accumulator times its resolution, in microjoules; power caps are
in microwatts; power is ``current_socket_power`` (MI300 and later), else the average the library
gives (``average_socket_power``, labelled so). AMD GPUs have no MIG, and their throttle status
does not map onto NVML's reason bits, so no reasons are recorded (said, never zero).

Written against amdsmi's Python interface and tested with a fake of it (tests/fake_amdsmi.py):
no part of this module has run on AMD hardware."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from benchhash.hw.gpu import (
    GPU,
    Fields,
    LibraryError,
    LibraryMissing,
    Limits,
    NoPermission,
    NotSupported,
    error_class,
)
from benchhash.results.model import Gpu

T = TypeVar("T")
UW = 1e6          # microwatts (power caps) and microjoules (the energy counter) per unit


class AmdsmiError(LibraryError):
    """An AMD SMI call failed; ``code`` is its status code."""

    library = "AMD SMI"


class AmdsmiInvalidArgument(AmdsmiError):
    hint = "bad device or argument"


class AmdsmiNotSupported(AmdsmiError, NotSupported):
    hint = "this GPU or driver does not offer that reading"


class AmdsmiNoPermission(AmdsmiError, NoPermission):
    hint = "run with enough privileges, or ask the administrator"


class AmdsmiNotFound(AmdsmiError):
    hint = "no such GPU"


class AmdsmiDriverNotLoaded(AmdsmiError):
    hint = "the amdgpu kernel driver is not loaded"


class AmdsmiNotInitialized(AmdsmiError):
    hint = "AMD SMI could not start; check the ROCm install and the amdgpu driver"


class AmdsmiTimeout(AmdsmiError):
    hint = "the driver did not answer in time"


class AmdsmiBusy(AmdsmiError):
    hint = "the device is busy; try again"


class AmdsmiLibraryNotFound(AmdsmiError):
    hint = "libamd_smi.so could not be loaded; install ROCm's AMD SMI"


class AmdsmiUnknown(AmdsmiError):
    hint = "unexpected AMD SMI error"


#: AMD SMI's status names (amdsmi.amdsmi_wrapper.AMDSMI_STATUS_*) -> the exception each maps to.
_BY_NAME: dict[str, type[AmdsmiError]] = {
    "AMDSMI_STATUS_INVAL": AmdsmiInvalidArgument,
    "AMDSMI_STATUS_NOT_SUPPORTED": AmdsmiNotSupported,
    "AMDSMI_STATUS_NOT_YET_IMPLEMENTED": AmdsmiNotSupported,
    "AMDSMI_STATUS_NO_PERM": AmdsmiNoPermission,
    "AMDSMI_STATUS_NOT_FOUND": AmdsmiNotFound,
    "AMDSMI_STATUS_DRIVER_NOT_LOADED": AmdsmiDriverNotLoaded,
    "AMDSMI_STATUS_NOT_INIT": AmdsmiNotInitialized,
    "AMDSMI_STATUS_INIT_ERROR": AmdsmiNotInitialized,
    "AMDSMI_STATUS_TIMEOUT": AmdsmiTimeout,
    "AMDSMI_STATUS_BUSY": AmdsmiBusy,
    "AMDSMI_STATUS_FAIL_LOAD_MODULE": AmdsmiLibraryNotFound,
    "AMDSMI_STATUS_FAIL_LOAD_SYMBOL": AmdsmiLibraryNotFound,
}


def call(smi: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call an AMD SMI function, turning its exception into the matching benchhash exception."""
    try:
        return fn(*args)
    except smi.AmdSmiException as exc:
        code = getattr(exc, "err_code", None)
        cls = error_class(getattr(smi, "amdsmi_wrapper", None), code, _BY_NAME, AmdsmiUnknown)
        raise cls(what, code, " ".join(str(exc).split())) from None


def import_amdsmi() -> Any:
    """The ``amdsmi`` module, or LibraryMissing saying why not (it loads libamd_smi.so on import)."""
    try:
        import amdsmi
    except Exception as exc:  # noqa: BLE001 - ImportError, or the library failing to load
        raise LibraryMissing(f"AMD GPU readings need the amdsmi package of ROCm ({exc})") from None
    return amdsmi


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """The amdsmi module, initialised for AMD GPUs for the block and shut down after."""
    smi = import_amdsmi()
    call(smi, "init", smi.amdsmi_init, smi.AmdSmiInitFlags.INIT_AMD_GPUS)
    try:
        yield smi
    finally:
        with contextlib.suppress(Exception):
            smi.amdsmi_shut_down()


def _number(value: Any, what: str) -> float:
    """An AMD SMI figure, which the library gives as 'N/A' where the GPU has none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AmdsmiNotSupported(what, None, f"the GPU gives {value!r}")
    return float(value)


class AmdGPU(GPU):
    """One AMD GPU through AMD SMI, chosen by PCI bus id or by index among its GPUs."""

    vendor, meter, library = "amd", "amdsmi", "AMD SMI"

    def __init__(self, index: int = 0, pci_bus_id: str | None = None) -> None:
        self.smi = smi = import_amdsmi()
        call(smi, "init", smi.amdsmi_init, smi.AmdSmiInitFlags.INIT_AMD_GPUS)
        self._open = True
        try:
            self.handle = (call(smi, "handle by PCI bus id", smi.amdsmi_get_processor_handle_from_bdf, pci_bus_id)
                           if pci_bus_id else self._by_index(index))
            self.index, self.pci_bus_id = index, pci_bus_id
            self.power_key = "current_socket_power"
            self.resolution_uj: float | None = None
        except BaseException:
            self.close()
            raise

    def _by_index(self, index: int) -> Any:
        handles = call(self.smi, "processor handles", self.smi.amdsmi_get_processor_handles)
        if not 0 <= index < len(handles):
            raise AmdsmiNotFound("handle by index", None, f"GPU {index} does not exist ({len(handles)} found)")
        return handles[index]

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return call(self.smi, what, fn, self.handle, *args)

    # --- identity ---------------------------------------------------------------------------
    def name(self) -> str:
        return str(self._call("ASIC info", self.smi.amdsmi_get_gpu_asic_info)["market_name"])

    def bus_id(self) -> str | None:
        return str(self._call("PCI bus id", self.smi.amdsmi_get_gpu_device_bdf))

    def memory_bytes(self) -> int | None:
        return int(self._call("memory", self.smi.amdsmi_get_gpu_memory_total, self.smi.AmdSmiMemoryType.VRAM))

    def uuid(self) -> str | None:
        try:
            return str(self._call("UUID", self.smi.amdsmi_get_gpu_device_uuid))
        except AmdsmiError:
            return None

    def mig_mode(self) -> bool | None:
        return False

    # --- readings ---------------------------------------------------------------------------
    def energy_j(self) -> float:
        e = self._call("energy count", self.smi.amdsmi_get_energy_count)
        self.resolution_uj = _number(e["counter_resolution"], "energy counter resolution")
        return _number(e["energy_accumulator"], "energy count") * self.resolution_uj / UW

    def power_w(self) -> float:
        info = self._call("power info", self.smi.amdsmi_get_power_info)
        if self.power_key == "current_socket_power" and not isinstance(info.get(self.power_key), int | float):
            self.power_key = "average_socket_power"      # a GPU before MI300: the library's average
        return _number(info.get(self.power_key), f"power ({self.power_key})")

    def polled_method(self) -> str:
        return "amdsmi-power-polling" + ("" if self.power_key == "current_socket_power" else "-average")

    def sm_clock_mhz(self, which: str = "clk") -> float:
        """The GFX clock now ('clk'), or its maximum ('max_clk')."""
        info = self._call("GFX clock", self.smi.amdsmi_get_clock_info, self.smi.AmdSmiClkType.GFX)
        return _number(info.get(which), f"GFX clock ({which})")

    def driver(self) -> str | None:
        return str(self._call("driver info", self.smi.amdsmi_get_gpu_driver_info)["driver_version"])

    def temperature_c(self) -> float:
        smi = self.smi
        return _number(self._call("temperature", smi.amdsmi_get_temp_metric, smi.AmdSmiTemperatureType.HOTSPOT,
                                  smi.AmdSmiTemperatureMetric.CURRENT), "temperature")

    def throttle_reasons(self) -> int:
        raise AmdsmiNotSupported("clock event reasons", None,
                                 "AMD SMI's throttle status does not map onto NVML's reason bits")

    # --- power cap ---------------------------------------------------------------------------
    def _cap(self) -> dict[str, Any]:
        return self._call("power cap info", self.smi.amdsmi_get_power_cap_info)

    def power_limits(self) -> Limits:
        c = self._cap()
        return Limits(min_w=c["min_power_cap"] / UW, max_w=c["max_power_cap"] / UW,
                      default_w=c["default_power_cap"] / UW, current_w=c["power_cap"] / UW)

    def set_power_limit(self, watts: float) -> None:
        self._call("set power cap", self.smi.amdsmi_set_power_cap, 0, int(round(watts * UW)))

    def enforced_power_limit_w(self) -> float:
        """The cap in force (AMD SMI has no separate 'enforced' reading)."""
        return float(self._cap()["power_cap"]) / UW

    def describe(self) -> dict[str, Any]:
        return {"power_source": self.power_key, "energy_counter_resolution_uj": self.resolution_uj}

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(Exception):
                self.smi.amdsmi_shut_down()


# --- every GPU AMD SMI sees, for provenance -------------------------------------------------------
def _record(gpu: AmdGPU, i: int) -> Gpu:
    f = Fields()
    limits = f.get("power_limits", gpu.power_limits)
    driver = f.get("driver", gpu.driver)
    return Gpu.model_validate({
        "index": i, "name": f.get("name", gpu.name), "uuid": gpu.uuid(), "pci_bus_id": f.get("pci_bus_id", gpu.bus_id),
        "driver": driver,
        "memory_total_bytes": f.get("memory", gpu.memory_bytes),
        "power_limits": {} if limits is None else {
            "current_w": limits.current_w, "default_w": limits.default_w, "enforced_w": limits.current_w,
            "min_w": limits.min_w, "max_w": limits.max_w},
        "mig_mode": {"current": False, "pending": False},
        "clocks_current": {"sm_mhz": f.get("clock.sm", gpu.sm_clock_mhz)},
        "clocks_max": {"sm_mhz": f.get("max_clock.sm", lambda: gpu.sm_clock_mhz("max_clk"))},
        "temperature_c": {"before": f.get("temperature", gpu.temperature_c)},
        "unavailable": f.gaps,
    })


def records() -> list[Gpu]:
    """Every GPU AMD SMI sees, read now; MeterError when AMD SMI cannot be used at all."""
    with session() as smi:
        count = len(call(smi, "processor handles", smi.amdsmi_get_processor_handles))
    out = []
    for i in range(count):
        with AmdGPU(i) as gpu:
            out.append(_record(gpu, i))
    return out
