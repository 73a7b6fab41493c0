"""The NVIDIA GPU through NVML, the only place pynvml is imported: every NVML error mapped to a
benchhash exception with a message a person can act on, a session (init ... shutdown), the GPU
interface (NvidiaGPU: energy counter, instant power, clocks, throttle reasons, power limits, MIG)
and every GPU NVML sees as the result's Gpu model (records)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from benchhash.hw.gpu import (
    GPU,
    Fields,
    FunctionNotFound,
    LibraryError,
    LibraryMissing,
    Limits,
    NoPermission,
    NotSupported,
)
from benchhash.hw.gpu import error_class as gpu_error_class
from benchhash.results.model import Gpu

T = TypeVar("T")


class NvmlError(LibraryError):
    """An NVML call failed; ``code`` is NVML's return code."""

    library = "NVML"


class NvmlUninitialized(NvmlError):
    hint = "NVML was not initialised; this is a benchhash bug"


class NvmlInvalidArgument(NvmlError):
    hint = "bad device index or argument"


class NvmlNotSupported(NvmlError, NotSupported):
    hint = "this GPU or driver does not offer that reading"


class NvmlNoPermission(NvmlError, NoPermission):
    hint = "run with enough privileges, or ask the administrator"


class NvmlNotFound(NvmlError):
    hint = "no such GPU"


class NvmlDriverNotLoaded(NvmlError):
    hint = "the NVIDIA kernel driver is not loaded"


class NvmlTimeout(NvmlError):
    hint = "the driver did not answer in time"


class NvmlLibraryNotFound(NvmlError):
    hint = "libnvidia-ml.so was not found; install the NVIDIA driver"


class NvmlFunctionNotFound(NvmlError, FunctionNotFound):
    hint = "the installed driver is older than this NVML call"


class NvmlGpuLost(NvmlError):
    hint = "the GPU fell off the bus or stopped responding; check dmesg and reset it"


class NvmlDriverMismatch(NvmlError):
    hint = "the NVML library and the kernel driver versions differ; reboot or reinstall"


class NvmlUnknown(NvmlError):
    hint = "unexpected NVML error"


#: NVML's constant names -> the exception each maps to.
_BY_NAME: dict[str, type[NvmlError]] = {
    "NVML_ERROR_UNINITIALIZED": NvmlUninitialized,
    "NVML_ERROR_INVALID_ARGUMENT": NvmlInvalidArgument,
    "NVML_ERROR_NOT_SUPPORTED": NvmlNotSupported,
    "NVML_ERROR_NO_PERMISSION": NvmlNoPermission,
    "NVML_ERROR_NOT_FOUND": NvmlNotFound,
    "NVML_ERROR_GPU_NOT_FOUND": NvmlNotFound,
    "NVML_ERROR_DRIVER_NOT_LOADED": NvmlDriverNotLoaded,
    "NVML_ERROR_TIMEOUT": NvmlTimeout,
    "NVML_ERROR_LIBRARY_NOT_FOUND": NvmlLibraryNotFound,
    "NVML_ERROR_FUNCTION_NOT_FOUND": NvmlFunctionNotFound,
    "NVML_ERROR_GPU_IS_LOST": NvmlGpuLost,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": NvmlDriverMismatch,
}


def error_class(nvml: Any, code: int | None) -> type[NvmlError]:
    """The benchhash exception for an NVML return code."""
    return gpu_error_class(nvml, code, _BY_NAME, NvmlUnknown)


def call(nvml: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call an NVML function, turning its NVMLError into the matching benchhash exception."""
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        raise error_class(nvml, code)(what, code, str(exc)) from None


def import_pynvml() -> Any:
    """The ``pynvml`` module of nvidia-ml-py, or LibraryMissing saying it is missing."""
    try:
        import pynvml
    except ImportError as exc:
        raise LibraryMissing(f"NVML readings need nvidia-ml-py ({exc})") from None
    return pynvml


def text(value: Any) -> str:
    """An NVML string (bytes in older nvidia-ml-py releases) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """The pynvml module, initialised for the block and shut down after (NVML counts nested
    init/shutdown pairs). MeterError when NVML cannot be used at all."""
    nv = import_pynvml()
    call(nv, "init", nv.nvmlInit)
    try:
        yield nv
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down is best effort
            pass


#: NVML_VALUE_TYPE_* -> the c_nvmlValue_t member holding it (numbers, so that an older
#: nvidia-ml-py without the newer constants still decodes them).
VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal",
                 6: "usVal"}
POWER_AVERAGE = "nvmlDeviceGetPowerUsage (1 s average on Hopper and later)"


def field_value(nvml: Any, value: Any) -> float | None:
    """A c_nvmlFieldValue_t as a number, or None when NVML refused it or its type is one this
    nvidia-ml-py cannot decode."""
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        return None
    member = VALUE_MEMBERS.get(int(value.valueType))
    raw = None if member is None else getattr(value.value, member, None)
    return None if raw is None else float(raw)


class NvidiaGPU(GPU):
    """One GPU through NVML, chosen by PCI bus id (which survives CUDA_VISIBLE_DEVICES) or index.

    Power is the field ``NVML_FI_DEV_POWER_INSTANT`` where supported; ``nvmlDeviceGetPowerUsage``
    is a 1-second average on Hopper, used only as a fallback and labelled so. The energy counter
    is ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load, Volta and later)."""

    vendor, meter, library = "nvidia", "nvml", "NVML"

    def __init__(self, index: int = 0, pci_bus_id: str | None = None) -> None:
        self.nvml = nv = import_pynvml()
        call(nv, "init", nv.nvmlInit)
        self._open = True
        try:
            self.handle = (call(nv, "handle by PCI bus id", nv.nvmlDeviceGetHandleByPciBusId, pci_bus_id)
                           if pci_bus_id else call(nv, "handle by index", nv.nvmlDeviceGetHandleByIndex, index))
            self.index, self.pci_bus_id = index, pci_bus_id
            self.instant_value_type: int | None = None
            self.instant_power = self._instant_power_w() is not None
            self.power_fallback: str | None = None
            self._reasons_fn = self._pick_reasons_fn()
        except BaseException:
            self.close()
            raise

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        return call(self.nvml, what, fn, self.handle, *args)

    # --- identity ---------------------------------------------------------------------------
    def name(self) -> str:
        return text(self._call("device name", self.nvml.nvmlDeviceGetName))

    def bus_id(self) -> str | None:
        return text(self._call("PCI info", self.nvml.nvmlDeviceGetPciInfo).busId)

    def memory_bytes(self) -> int | None:
        return int(self._call("memory", self.nvml.nvmlDeviceGetMemoryInfo).total)

    def uuid(self) -> str | None:
        try:
            return text(self._call("UUID", self.nvml.nvmlDeviceGetUUID))
        except NvmlError:
            return None

    def mig_mode(self) -> bool | None:
        current, _pending = self._call("MIG mode", self.nvml.nvmlDeviceGetMigMode)
        return bool(current)

    # --- readings ---------------------------------------------------------------------------
    def energy_j(self) -> float:
        return self._call("total energy consumption", self.nvml.nvmlDeviceGetTotalEnergyConsumption) / 1000.0

    def _instant_power_w(self) -> float | None:
        nv = self.nvml
        fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
        if fid is None:
            return None
        try:
            values = self._call("field values", nv.nvmlDeviceGetFieldValues, [fid])
        except NvmlError:
            return None
        self.instant_value_type = int(values[0].valueType)
        mw = field_value(nv, values[0])
        return None if mw is None else mw / 1000.0

    def power_w(self) -> float:
        if self.instant_power:
            watts = self._instant_power_w()
            if watts is not None:
                return watts
            # the field answered at start and stopped: poll the 1 s average from now on, said so
            self.instant_power = False
            self.power_fallback = ("the instant-power field stopped answering mid-run; polled "
                                   "power is nvmlDeviceGetPowerUsage (a 1 s average) from then on")
        return self._call("power usage", self.nvml.nvmlDeviceGetPowerUsage) / 1000.0

    def polled_method(self) -> str:
        return "nvml-power-polling" if self.instant_power else "nvml-power-polling-1s-average"

    def sm_clock_mhz(self) -> float:
        return self._call("SM clock", self.nvml.nvmlDeviceGetClockInfo, self.nvml.NVML_CLOCK_SM)

    def temperature_c(self) -> float:
        return self._call("temperature", self.nvml.nvmlDeviceGetTemperature, self.nvml.NVML_TEMPERATURE_GPU)

    def _pick_reasons_fn(self) -> Callable[..., Any]:
        """nvmlDeviceGetCurrentClocksEventReasons, or on drivers older than it (no such symbol)
        the call it replaced, nvmlDeviceGetCurrentClocksThrottleReasons."""
        nv = self.nvml
        newer = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if newer is not None:
            try:
                self._call("clock event reasons", newer)
                return newer
            except NvmlFunctionNotFound:
                pass
            except NvmlError:
                return newer        # a symbol that exists but refuses: the meter records why
        return nv.nvmlDeviceGetCurrentClocksThrottleReasons

    def throttle_reasons(self) -> int:
        return int(self._call("clock event reasons", self._reasons_fn))

    # --- power limits ------------------------------------------------------------------------
    def power_limits(self) -> Limits:
        nv = self.nvml
        lo, hi = self._call("power limit constraints", nv.nvmlDeviceGetPowerManagementLimitConstraints)
        return Limits(min_w=lo / 1000, max_w=hi / 1000,
                      default_w=self._call("default power limit", nv.nvmlDeviceGetPowerManagementDefaultLimit) / 1000,
                      current_w=self._call("power limit", nv.nvmlDeviceGetPowerManagementLimit) / 1000)

    def set_power_limit(self, watts: float) -> None:
        """On an H100 the enforced limit read straight after still showed the previous one:
        read it with `enforced_power_limit_w` after the settling time."""
        self._call("set power limit", self.nvml.nvmlDeviceSetPowerManagementLimit, int(round(watts * 1000)))

    def enforced_power_limit_w(self) -> float:
        return float(self._call("enforced power limit", self.nvml.nvmlDeviceGetEnforcedPowerLimit)) / 1000

    # --- the meter's description ---------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"power_source": "NVML_FI_DEV_POWER_INSTANT" if self.instant_power else POWER_AVERAGE,
                "instant_power_value_type": self.instant_value_type,
                "power_fallback": self.power_fallback,
                "clock_reasons_call": getattr(self._reasons_fn, "__name__", str(self._reasons_fn))}

    def notes(self) -> list[str]:
        return [self.power_fallback] if self.power_fallback else []

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self.nvml.nvmlShutdown()
            except self.nvml.NVMLError:
                pass


# --- every GPU NVML sees, for provenance ----------------------------------------------------------
def _record(nv: Any, i: int) -> Gpu:
    """GPU ``i`` as the result's Gpu model; each field read on its own: one NVML refuses is
    None, with the reason under ``unavailable``, and a GPU whose handle fails is still listed."""
    f = Fields()
    h = f.get("handle", lambda: call(nv, "handle by index", nv.nvmlDeviceGetHandleByIndex, i))

    def get(key: str, fn: Callable[..., Any], *args: Any, conv: Callable[[Any], Any] = lambda v: v) -> Any:
        return None if h is None else f.get(key, lambda: call(nv, key, fn, h, *args), conv)

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
        "unavailable": f.gaps,
    })


def records() -> list[Gpu]:
    """Every GPU NVML sees, read now; MeterError when NVML cannot be used at all."""
    with session() as nv:
        driver = cuda = None
        try:
            driver = text(call(nv, "driver version", nv.nvmlSystemGetDriverVersion))
            v = call(nv, "CUDA driver version", nv.nvmlSystemGetCudaDriverVersion)
            cuda = f"{v // 1000}.{v % 1000 // 10}"
        except NvmlError:
            pass
        return [_record(nv, i).model_copy(update={"driver": driver, "cuda_driver_version": cuda})
                for i in range(call(nv, "device count", nv.nvmlDeviceGetCount))]
