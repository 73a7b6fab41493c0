"""A fake ``amdsmi`` module (ROCm's AMD SMI Python interface) with one AMD GPU behind it, put in
sys.modules by ``installed``. Its functions take the real interface's arguments and check them
as it does (a handle of its handle type, the enums for clock, temperature and memory types), and
raise AmdSmiLibraryException with the real status codes; answers come from this object's state.
The real package cannot be imported here: it loads libamd_smi.so, which needs ROCm."""

from __future__ import annotations

import contextlib
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

#: amdsmi_wrapper's status codes (py-interface/amdsmi_wrapper.py).
STATUS = {"AMDSMI_STATUS_SUCCESS": 0, "AMDSMI_STATUS_INVAL": 1, "AMDSMI_STATUS_NOT_SUPPORTED": 2,
          "AMDSMI_STATUS_NOT_YET_IMPLEMENTED": 3, "AMDSMI_STATUS_FAIL_LOAD_MODULE": 4,
          "AMDSMI_STATUS_FAIL_LOAD_SYMBOL": 5, "AMDSMI_STATUS_TIMEOUT": 8, "AMDSMI_STATUS_NO_PERM": 10,
          "AMDSMI_STATUS_INIT_ERROR": 18, "AMDSMI_STATUS_BUSY": 30, "AMDSMI_STATUS_NOT_FOUND": 31,
          "AMDSMI_STATUS_NOT_INIT": 32, "AMDSMI_STATUS_DRIVER_NOT_LOADED": 34,
          "AMDSMI_STATUS_UNKNOWN_ERROR": 4294967295}


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code: int) -> None:
        super().__init__(err_code)
        self.err_code = abs(err_code)
        name = next((k for k, v in STATUS.items() if v == self.err_code), "AMDSMI_STATUS_UNKNOWN_ERROR")
        self.err_info = f"{name} - fake"

    def __str__(self) -> str:
        return f"Error code:\n\t{self.err_code} | {self.err_info}"


class AmdSmiParameterException(AmdSmiException):
    pass


class AmdSmiInitFlags(IntEnum):
    INIT_ALL_PROCESSORS = 0xFFFFFFFF
    INIT_AMD_GPUS = 2


class AmdSmiClkType(IntEnum):
    SYS = 0
    GFX = 0
    MEM = 4


class AmdSmiTemperatureType(IntEnum):
    EDGE = 0
    HOTSPOT = 1
    VRAM = 2


class AmdSmiTemperatureMetric(IntEnum):
    CURRENT = 0


class AmdSmiMemoryType(IntEnum):
    VRAM = 0


class Handle:
    """amdsmi_wrapper.amdsmi_processor_handle."""


def _typed(value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise AmdSmiParameterException(f"expected {kind.__name__}, got {type(value).__name__}")


@dataclass
class FakeAmdGpu:
    name: str = "AMD Instinct MI300X"
    bdf: str = "0000:0c:00.0"
    #: the energy counter: accumulator x resolution microjoules (the MI300X's 15.259 uJ a tick)
    accumulator: int = 65_536
    resolution_uj: float = 15.259
    #: the counter integrates power_w over wall time, as a real one does
    live_counter: bool = False
    _t0: float = field(default_factory=time.monotonic)
    power_w: int = 550                  # current_socket_power (MI300 and later)
    average_w: int = 540                # average_socket_power
    current_power: bool = True          # False: a GPU before MI300 ('N/A' for the current power)
    gfx_clock_mhz: int = 2100
    temperature_c: int = 55
    memory_bytes: int = 192 * 2**30
    #: power caps in microwatts; every amdsmi_set_power_cap is appended to caps_set
    cap_uw: int = 750_000_000
    default_cap_uw: int = 750_000_000
    cap_range_uw: tuple[int, int] = (400_000_000, 750_000_000)
    caps_set: list[int] = field(default_factory=list)
    init_error: str | None = None
    #: function name -> AMDSMI status name raised by it (from now on)
    fail: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    handle: Handle = field(default_factory=Handle)

    def _check(self, fn: str, handle: Any = None) -> None:
        self.calls.append(fn)
        if handle is not None:
            _typed(handle, Handle)
        if fn in self.fail:
            raise AmdSmiLibraryException(STATUS[self.fail[fn]])

    def energy_uj(self) -> float:
        base = self.accumulator * self.resolution_uj
        return base + (self.power_w * 1e6 * (time.monotonic() - self._t0) if self.live_counter else 0.0)

    def module(self) -> types.ModuleType:
        m = types.ModuleType("amdsmi")
        g = self

        def amdsmi_init(flag: AmdSmiInitFlags = AmdSmiInitFlags.INIT_AMD_GPUS) -> None:
            _typed(flag, AmdSmiInitFlags)
            g._check("amdsmi_init")
            if g.init_error:
                raise AmdSmiLibraryException(STATUS[g.init_error])

        def amdsmi_shut_down() -> None:
            g._check("amdsmi_shut_down")

        def amdsmi_get_processor_handles() -> list[Handle]:
            g._check("amdsmi_get_processor_handles")
            return [g.handle]

        def amdsmi_get_processor_handle_from_bdf(bdf: str) -> Handle:
            g._check("amdsmi_get_processor_handle_from_bdf")
            if bdf.lower().removeprefix("0000") != g.bdf.lower().removeprefix("0000"):
                raise AmdSmiLibraryException(STATUS["AMDSMI_STATUS_NOT_FOUND"])
            return g.handle

        def amdsmi_get_gpu_asic_info(h: Handle) -> dict[str, Any]:
            g._check("amdsmi_get_gpu_asic_info", h)
            return {"market_name": g.name, "vendor_id": "0x1002", "vendor_name": "Advanced Micro Devices Inc.",
                    "num_compute_units": 304, "target_graphics_version": "gfx942"}

        def amdsmi_get_gpu_device_bdf(h: Handle) -> str:
            g._check("amdsmi_get_gpu_device_bdf", h)
            return g.bdf

        def amdsmi_get_gpu_device_uuid(h: Handle) -> str:
            g._check("amdsmi_get_gpu_device_uuid", h)
            return "4aff74a1-0000-1000-80c8-0000000000aa"

        def amdsmi_get_gpu_memory_total(h: Handle, mem_type: AmdSmiMemoryType) -> int:
            g._check("amdsmi_get_gpu_memory_total", h)
            _typed(mem_type, AmdSmiMemoryType)
            return g.memory_bytes

        def amdsmi_get_gpu_driver_info(h: Handle) -> dict[str, str]:
            g._check("amdsmi_get_gpu_driver_info", h)
            return {"driver_name": "amdgpu", "driver_version": "6.10.5", "driver_date": "2015/01/01 00:00"}

        def amdsmi_get_energy_count(h: Handle) -> dict[str, Any]:
            g._check("amdsmi_get_energy_count", h)
            ticks = int(g.energy_uj() / g.resolution_uj)
            return {"power": ticks, "energy_accumulator": ticks, "counter_resolution": g.resolution_uj,
                    "timestamp": int(time.monotonic() * 1e9)}

        def amdsmi_get_power_info(h: Handle) -> dict[str, Any]:
            g._check("amdsmi_get_power_info", h)
            return {"current_socket_power": g.power_w if g.current_power else "N/A",
                    "average_socket_power": g.average_w, "gfx_voltage": "N/A", "soc_voltage": "N/A",
                    "mem_voltage": "N/A", "power_limit": g.cap_uw // 1_000_000}

        def amdsmi_get_clock_info(h: Handle, clock_type: AmdSmiClkType) -> dict[str, Any]:
            g._check("amdsmi_get_clock_info", h)
            _typed(clock_type, AmdSmiClkType)
            return {"clk": g.gfx_clock_mhz, "min_clk": 500, "max_clk": 2100, "clk_locked": False,
                    "clk_deep_sleep": False}

        def amdsmi_get_temp_metric(h: Handle, sensor_type: AmdSmiTemperatureType,
                                   metric: AmdSmiTemperatureMetric) -> int:
            g._check("amdsmi_get_temp_metric", h)
            _typed(sensor_type, AmdSmiTemperatureType)
            _typed(metric, AmdSmiTemperatureMetric)
            return g.temperature_c

        def amdsmi_get_power_cap_info(h: Handle) -> dict[str, Any]:
            g._check("amdsmi_get_power_cap_info", h)
            return {"power_cap": g.cap_uw, "default_power_cap": g.default_cap_uw, "dpm_cap": 0,
                    "min_power_cap": g.cap_range_uw[0], "max_power_cap": g.cap_range_uw[1]}

        def amdsmi_set_power_cap(h: Handle, sensor_ind: int, cap: int) -> None:
            g._check("amdsmi_set_power_cap", h)
            _typed(sensor_ind, int)
            _typed(cap, int)
            if not g.cap_range_uw[0] <= cap <= g.cap_range_uw[1]:
                raise AmdSmiLibraryException(STATUS["AMDSMI_STATUS_INVAL"])
            g.caps_set.append(cap)
            g.cap_uw = cap

        for fn in (amdsmi_init, amdsmi_shut_down, amdsmi_get_processor_handles,
                   amdsmi_get_processor_handle_from_bdf, amdsmi_get_gpu_asic_info, amdsmi_get_gpu_device_bdf,
                   amdsmi_get_gpu_device_uuid, amdsmi_get_gpu_memory_total, amdsmi_get_gpu_driver_info,
                   amdsmi_get_energy_count, amdsmi_get_power_info, amdsmi_get_clock_info, amdsmi_get_temp_metric,
                   amdsmi_get_power_cap_info, amdsmi_set_power_cap):
            setattr(m, fn.__name__, fn)
        for cls in (AmdSmiException, AmdSmiLibraryException, AmdSmiParameterException, AmdSmiInitFlags,
                    AmdSmiClkType, AmdSmiTemperatureType, AmdSmiTemperatureMetric, AmdSmiMemoryType):
            setattr(m, cls.__name__, cls)
        m.amdsmi_wrapper = types.SimpleNamespace(**STATUS)  # type: ignore[attr-defined]
        return m

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeAmdGpu]:
        saved = sys.modules.get("amdsmi")
        sys.modules["amdsmi"] = self.module()
        try:
            yield self
        finally:
            if saved is None:
                sys.modules.pop("amdsmi", None)
            else:
                sys.modules["amdsmi"] = saved
