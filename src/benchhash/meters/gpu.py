"""A GPU's meter, whatever its vendor: energy from the GPU's energy counter, instant power polled
beside it (~10 Hz), with the compute clock, temperature and clock-event (throttle) reasons. The
polled integral is reported beside the counter, and is the method where there is no counter.
The GPU (hw.gpu) says how it is read; its meter's name is its library's (nvml, amdsmi)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchhash.hw.gpu import GPU, GpuError
from benchhash.hw.gpus import open_device
from benchhash.meters.base import PollingMeter, Sample
from benchhash.results.model import Device


class GpuMeter(PollingMeter):
    """One GPU, open until close(); a MIG instance's readings are the whole card's (said)."""

    def __init__(self, gpu: GPU, *, interval_s: float = 0.1, mig_profile: str | None = None) -> None:
        self.name = gpu.meter
        super().__init__(interval_s)
        self.gpu, self.mig_profile = gpu, mig_profile
        try:
            self.method_counter = f"{gpu.meter}-energy-counter"
            self.gpu_name = gpu.name()
            self.poll_errors: dict[str, str] = {}
            self.counter_unsupported: str | None = None
            try:
                gpu.energy_j()
            except GpuError as exc:
                self.counter_unsupported = str(exc)
        except BaseException:
            gpu.close()
            raise

    @property
    def method_polled(self) -> str:  # type: ignore[override]  # the GPU's, which may change mid-run
        return self.gpu.polled_method()

    def _try(self, what: str, fn: Callable[[], float | None]) -> float | None:
        try:
            return fn()
        except GpuError as exc:
            self.poll_errors.setdefault(what, str(exc))
            return None

    def poll(self) -> Sample:
        g = self.gpu
        reasons = self._try("throttle_reasons", g.throttle_reasons)
        return Sample(t_s=time.monotonic(), power_w=self._try("power_w", g.power_w),
                      sm_clock_mhz=self._try("sm_clock_mhz", g.sm_clock_mhz),
                      temperature_c=self._try("temperature_c", g.temperature_c),
                      throttle_reasons=None if reasons is None else int(reasons))

    def read_counter_j(self) -> float | None:
        return None if self.counter_unsupported is not None else self.gpu.energy_j()

    def counter_reason(self) -> str:
        return f"energy counter unsupported: {self.counter_unsupported}"

    def notes(self) -> list[str]:
        return self.gpu.notes()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "gpu": self.gpu_name, "index": self.gpu.index, "pci_bus_id": self.gpu.pci_bus_id,
                "energy_counter": self.counter_unsupported is None,
                "energy_counter_reason": self.counter_unsupported, **self.gpu.describe(),
                "scope": "whole card (every MIG instance on it)" if self.mig_profile else "whole card",
                "mig_profile": self.mig_profile, "interval_s": self.interval_s,
                "poll_errors": dict(self.poll_errors)}

    def close(self) -> None:
        super().close()
        self.gpu.close()


def device_meter(device: Device, meter: str | None = None) -> GpuMeter:
    """The meter of a GPU device: its vendor's (``meter`` names one: nvml, amdsmi)."""
    return GpuMeter(open_device(device, meter), mig_profile=device.mig_profile)
