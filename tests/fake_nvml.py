"""A fake GPU behind the real ``pynvml`` module: every NVML function the meters and provenance
call is patched with ``autospec=True`` (so a wrong signature fails the test) and answered from
this object's state."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pynvml


def nvml_error(name: str) -> pynvml.NVMLError:
    return pynvml.NVMLError(getattr(pynvml, name))


@dataclass
class FakeGpu:
    energy_mj: int = 1_000_000
    power_mw: int = 350_000           # what both power readings report
    counter: bool = True              # nvmlDeviceGetTotalEnergyConsumption supported
    instant_field: bool = True        # NVML_FI_DEV_POWER_INSTANT supported
    sm_clock_mhz: int = 1980
    temperature_c: int = 60
    throttle: int = 0
    #: NVML_VALUE_TYPE_* of the instant-power field (1: unsigned int; 5: signed int, 6: ushort)
    value_type: int = 1
    mig_mode: tuple[int, int] = (0, 0)
    name: str = "NVIDIA H100 80GB HBM3"
    #: the power limit as NVML holds it (milliwatts), its default and constraints; every
    #: nvmlDeviceSetPowerManagementLimit is appended to limits_set
    limit_mw: int = 700_000
    default_limit_mw: int = 700_000
    constraints_mw: tuple[int, int] = (200_000, 700_000)
    limits_set: list[int] = field(default_factory=list)
    #: as on a real H100: the enforced limit still reads the previous one for this many reads
    #: after a set; and a lower limit in force elsewhere (the board, the host) caps what it reads
    enforced_lag_reads: int = 0
    enforced_ceiling_mw: int | None = None
    _enforced_before_mw: int = 0
    _lag_left: int = 0
    init_error: str | None = None
    #: the energy counter integrates power_mw over wall time, as a real one does
    live_counter: bool = False
    _t0: float = field(default_factory=time.monotonic)
    #: function name -> NVML error constant name raised by it (from now on)
    fail: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def enforced_now(self) -> int:
        ceiling = self.enforced_ceiling_mw
        return self.limit_mw if ceiling is None else min(self.limit_mw, ceiling)

    def _check(self, fn: str) -> None:
        self.calls.append(fn)
        if fn in self.fail:
            raise nvml_error(self.fail[fn])

    def field_values(self, handle: Any, ids: list[int]) -> list[Any]:
        self._check("nvmlDeviceGetFieldValues")
        out = []
        for fid in ids:
            v = pynvml.c_nvmlFieldValue_t()
            v.fieldId = fid
            if self.instant_field and fid == pynvml.NVML_FI_DEV_POWER_INSTANT:
                v.nvmlReturn = pynvml.NVML_SUCCESS
                v.valueType = self.value_type
                member = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal",
                          5: "siVal", 6: "usVal"}[self.value_type]
                # a ushort holds at most 65535: report in those units as a driver would not;
                # the test that uses type 6 sets a power that fits
                setattr(v.value, member, self.power_mw)
            else:
                v.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
            out.append(v)
        return out

    def answers(self) -> dict[str, Any]:
        def simple(name: str, value: Any) -> Any:
            def fn(*args: Any) -> Any:
                self._check(name)
                return value() if callable(value) else value
            return fn

        def init() -> None:
            self._check("nvmlInit")
            if self.init_error:
                raise nvml_error(self.init_error)

        def energy(handle: Any) -> int:
            self._check("nvmlDeviceGetTotalEnergyConsumption")
            if not self.counter:
                raise nvml_error("NVML_ERROR_NOT_SUPPORTED")
            if self.live_counter:
                return int(self.energy_mj + self.power_mw * (time.monotonic() - self._t0))
            return self.energy_mj

        def set_limit(handle: Any, mw: int) -> None:
            self._check("nvmlDeviceSetPowerManagementLimit")
            if not self.constraints_mw[0] <= mw <= self.constraints_mw[1]:
                raise nvml_error("NVML_ERROR_INVALID_ARGUMENT")
            self.limits_set.append(mw)
            self._enforced_before_mw, self._lag_left = self.enforced_now(), self.enforced_lag_reads
            self.limit_mw = mw

        def enforced(handle: Any) -> int:
            self._check("nvmlDeviceGetEnforcedPowerLimit")
            if self._lag_left > 0:
                self._lag_left -= 1
                return self._enforced_before_mw
            return self.enforced_now()

        pci = pynvml.nvmlPciInfo_t()
        pci.busId = b"00000000:1B:00.0"
        mem = SimpleNamespace(total=80 * 2**30, free=0, used=0)
        return {
            "nvmlInit": init,
            "nvmlShutdown": simple("nvmlShutdown", None),
            "nvmlDeviceGetHandleByIndex": simple("nvmlDeviceGetHandleByIndex", "handle0"),
            "nvmlDeviceGetHandleByPciBusId": simple("nvmlDeviceGetHandleByPciBusId", "handle0"),
            "nvmlDeviceGetCount": simple("nvmlDeviceGetCount", 1),
            "nvmlDeviceGetName": simple("nvmlDeviceGetName", lambda: self.name),
            "nvmlDeviceGetUUID": simple("nvmlDeviceGetUUID", "GPU-0000"),
            "nvmlDeviceGetPciInfo": simple("nvmlDeviceGetPciInfo", pci),
            "nvmlDeviceGetVbiosVersion": simple("nvmlDeviceGetVbiosVersion", "96.00.99.00.01"),
            "nvmlDeviceGetMemoryInfo": simple("nvmlDeviceGetMemoryInfo", mem),
            "nvmlDeviceGetPowerManagementLimit": simple("nvmlDeviceGetPowerManagementLimit", lambda: self.limit_mw),
            "nvmlDeviceGetPowerManagementDefaultLimit": simple(
                "nvmlDeviceGetPowerManagementDefaultLimit", lambda: self.default_limit_mw),
            "nvmlDeviceGetEnforcedPowerLimit": enforced,
            "nvmlDeviceGetPowerManagementLimitConstraints": simple(
                "nvmlDeviceGetPowerManagementLimitConstraints", lambda: list(self.constraints_mw)),
            "nvmlDeviceSetPowerManagementLimit": set_limit,
            "nvmlDeviceGetPersistenceMode": simple("nvmlDeviceGetPersistenceMode", 1),
            "nvmlDeviceGetMigMode": simple("nvmlDeviceGetMigMode", lambda: list(self.mig_mode)),
            "nvmlDeviceGetEccMode": simple("nvmlDeviceGetEccMode", [1, 1]),
            "nvmlDeviceGetClockInfo": simple("nvmlDeviceGetClockInfo", lambda: self.sm_clock_mhz),
            "nvmlDeviceGetMaxClockInfo": simple("nvmlDeviceGetMaxClockInfo", 1980),
            "nvmlDeviceGetApplicationsClock": simple("nvmlDeviceGetApplicationsClock", 1755),
            "nvmlDeviceGetTemperature": simple("nvmlDeviceGetTemperature", lambda: self.temperature_c),
            "nvmlDeviceGetCurrentClocksEventReasons": simple(
                "nvmlDeviceGetCurrentClocksEventReasons", lambda: self.throttle),
            "nvmlDeviceGetCurrentClocksThrottleReasons": simple(
                "nvmlDeviceGetCurrentClocksThrottleReasons", lambda: self.throttle),
            "nvmlDeviceGetPowerUsage": simple("nvmlDeviceGetPowerUsage", lambda: self.power_mw),
            "nvmlDeviceGetTotalEnergyConsumption": energy,
            "nvmlDeviceGetFieldValues": self.field_values,
            "nvmlSystemGetDriverVersion": simple("nvmlSystemGetDriverVersion", "580.65.06"),
            "nvmlSystemGetCudaDriverVersion": simple("nvmlSystemGetCudaDriverVersion", 13000),
        }

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeGpu]:
        with contextlib.ExitStack() as stack:
            for name, fn in self.answers().items():
                stack.enter_context(mock.patch.object(pynvml, name, autospec=True, side_effect=fn))
            yield self
