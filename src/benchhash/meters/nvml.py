"""The NVML meter: a GpuMeter (meters.gpu) over an NVIDIA GPU (hw.nvml.NvidiaGPU), chosen by
NVML index or PCI bus id (the id survives CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

from benchhash.hw.nvml import NvidiaGPU
from benchhash.meters.gpu import GpuMeter


class NvmlMeter(GpuMeter):
    name = "nvml"
    method_counter = "nvml-energy-counter"

    def __init__(self, index: int = 0, *, pci_bus_id: str | None = None,
                 interval_s: float = 0.1, mig_profile: str | None = None) -> None:
        super().__init__(NvidiaGPU(index, pci_bus_id), interval_s=interval_s, mig_profile=mig_profile)
