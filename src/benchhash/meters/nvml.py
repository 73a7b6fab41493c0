"""NVML GPU meter: energy from the total-energy counter, instant power polled beside it.

The counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since driver load) is the method when
the GPU offers it (Volta and later). A thread polls at ~10 Hz: instant power through the field
``NVML_FI_DEV_POWER_INSTANT`` where supported (``nvmlDeviceGetPowerUsage`` is a 1-second
average on Hopper, used only as a fallback and labelled so), SM clock, temperature and
clock-event (throttle) reasons. The polled integral is reported beside the counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchhash.hw.nvml import NvmlError, NvmlFunctionNotFound, call, import_pynvml, text
from benchhash.meters.base import PollingMeter, Sample

#: NVML_VALUE_TYPE_* -> the c_nvmlValue_t member holding it (numbers, so that an older
#: nvidia-ml-py without the newer constants still decodes them).
VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal",
                 6: "usVal"}


def field_value(nvml: Any, value: Any) -> float | None:
    """A c_nvmlFieldValue_t as a number, or None when NVML refused it or its type is one this
    nvidia-ml-py cannot decode."""
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        return None
    member = VALUE_MEMBERS.get(int(value.valueType))
    raw = None if member is None else getattr(value.value, member, None)
    return None if raw is None else float(raw)


class NvmlMeter(PollingMeter):
    """One GPU, chosen by NVML index or PCI bus id (the id survives CUDA_VISIBLE_DEVICES)."""

    name = "nvml"
    method_counter = "nvml-energy-counter"

    def __init__(self, index: int = 0, *, pci_bus_id: str | None = None,
                 interval_s: float = 0.1, mig_profile: str | None = None) -> None:
        super().__init__(interval_s)
        self.mig_profile = mig_profile
        self.nvml = nv = import_pynvml()
        call(nv, "init", nv.nvmlInit)
        self._open = True
        try:
            if pci_bus_id:
                self.handle = call(nv, "handle by PCI bus id", nv.nvmlDeviceGetHandleByPciBusId,
                                   pci_bus_id)
            else:
                self.handle = call(nv, "handle by index", nv.nvmlDeviceGetHandleByIndex, index)
            self.gpu_name = text(call(nv, "device name", nv.nvmlDeviceGetName, self.handle))
            self.index, self.pci_bus_id = index, pci_bus_id
            self.poll_errors: dict[str, str] = {}
            self.counter_unsupported: str | None = None
            try:
                call(nv, "total energy consumption", nv.nvmlDeviceGetTotalEnergyConsumption,
                     self.handle)
            except NvmlError as exc:
                self.counter_unsupported = str(exc)
            self.instant_value_type: int | None = None
            self.instant_power = self._instant_power_w() is not None
            self.method_polled = ("nvml-power-polling" if self.instant_power
                                  else "nvml-power-polling-1s-average")
            self.power_fallback: str | None = None
            self._reasons_fn = self._pick_reasons_fn()
        except BaseException:
            self._shutdown()
            raise

    # --- readings ---------------------------------------------------------------------------
    def _instant_power_w(self) -> float | None:
        nv = self.nvml
        fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
        if fid is None:
            return None
        try:
            values = call(nv, "field values", nv.nvmlDeviceGetFieldValues, self.handle, [fid])
        except NvmlError:
            return None
        self.instant_value_type = int(values[0].valueType)
        mw = field_value(nv, values[0])
        return None if mw is None else mw / 1000.0

    def _try(self, what: str, fn: Callable[[], float | None]) -> float | None:
        try:
            return fn()
        except NvmlError as exc:
            self.poll_errors.setdefault(what, str(exc))
            return None

    def _power_w(self) -> float | None:
        if self.instant_power:
            watts = self._instant_power_w()
            if watts is not None:
                return watts
            # the field answered at start and stopped: poll the 1 s average from now on, said so
            self.instant_power = False
            self.method_polled = "nvml-power-polling-1s-average"
            self.power_fallback = ("the instant-power field stopped answering mid-run; polled "
                                   "power is nvmlDeviceGetPowerUsage (a 1 s average) from then on")
        nv = self.nvml
        return call(nv, "power usage", nv.nvmlDeviceGetPowerUsage, self.handle) / 1000.0

    def _pick_reasons_fn(self) -> Callable[..., Any]:
        """nvmlDeviceGetCurrentClocksEventReasons, or on drivers older than it (no such symbol)
        the call it replaced, nvmlDeviceGetCurrentClocksThrottleReasons."""
        nv = self.nvml
        newer = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if newer is not None:
            try:
                call(nv, "clock event reasons", newer, self.handle)
                return newer
            except NvmlFunctionNotFound:
                pass
            except NvmlError:
                return newer        # a symbol that exists but refuses: poll() records why
        return nv.nvmlDeviceGetCurrentClocksThrottleReasons

    def _reasons(self) -> float | None:
        return call(self.nvml, "clock event reasons", self._reasons_fn, self.handle)

    def notes(self) -> list[str]:
        return [self.power_fallback] if self.power_fallback else []

    def poll(self) -> Sample:
        nv, h = self.nvml, self.handle
        t = time.monotonic()
        reasons = self._try("throttle_reasons", self._reasons)
        return Sample(
            t_s=t,
            power_w=self._try("power_w", self._power_w),
            sm_clock_mhz=self._try("sm_clock_mhz", lambda: call(
                nv, "SM clock", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)),
            temperature_c=self._try("temperature_c", lambda: call(
                nv, "temperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)),
            throttle_reasons=None if reasons is None else int(reasons),
        )

    def read_counter_j(self) -> float | None:
        if self.counter_unsupported is not None:
            return None
        nv = self.nvml
        mj = call(nv, "total energy consumption", nv.nvmlDeviceGetTotalEnergyConsumption,
                  self.handle)
        return mj / 1000.0

    def counter_reason(self) -> str:
        return f"energy counter unsupported: {self.counter_unsupported}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gpu": self.gpu_name,
            "index": self.index,
            "pci_bus_id": self.pci_bus_id,
            "energy_counter": self.counter_unsupported is None,
            "energy_counter_reason": self.counter_unsupported,
            "power_source": ("NVML_FI_DEV_POWER_INSTANT" if self.instant_power
                             else "nvmlDeviceGetPowerUsage (1 s average on Hopper and later)"),
            "instant_power_value_type": self.instant_value_type,
            "power_fallback": self.power_fallback,
            "clock_reasons_call": getattr(self._reasons_fn, "__name__", str(self._reasons_fn)),
            "scope": "whole card (every MIG instance on it)" if self.mig_profile else "whole card",
            "mig_profile": self.mig_profile,
            "interval_s": self.interval_s,
            "poll_errors": dict(self.poll_errors),
        }

    def _shutdown(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self.nvml.nvmlShutdown()
            except self.nvml.NVMLError:
                pass

    def close(self) -> None:
        super().close()
        self._shutdown()
