"""The device layer's choice of GPU implementation: every vendor's library (hw.nvml for NVIDIA,
hw.amd for AMD), the GPU a device is (``open_gpu``), the meter that measures a device
(``meter_for``), and every GPU on the machine as the result's Gpu model (``gpus``)."""

from __future__ import annotations

from collections.abc import Callable

from benchhash.errors import InputError, MeterError
from benchhash.hw import amd, nvml
from benchhash.hw.gpu import GPU, LibraryMissing
from benchhash.results.model import Device, Gpu

#: Vendor -> its GPU implementation, in the order a GPU of unknown vendor is looked for.
VENDORS: dict[str, type[GPU]] = {"nvidia": nvml.NvidiaGPU, "amd": amd.AmdGPU}
#: Each vendor's list of the machine's GPUs, for provenance.
RECORDS: dict[str, Callable[[], list[Gpu]]] = {"nvidia": nvml.records, "amd": amd.records}
#: The meters a GPU can be measured by (--meter names), and the vendor of each.
GPU_METERS = {cls.meter: vendor for vendor, cls in VENDORS.items()}


def vendor_of(device: Device) -> str | None:
    """The vendor a device records (None: a device from before vendors were recorded)."""
    return getattr(device, "vendor", None)


def meter_for(device: Device) -> str:
    """The meter that measures a device: RAPL for a CPU, its vendor's library for a GPU (NVML
    where the vendor is not recorded)."""
    if device.kind == "cpu":
        return "rapl"
    return VENDORS[vendor_of(device) or "nvidia"].meter


def open_gpu(index: int = 0, pci_bus_id: str | None = None, vendor: str | None = None) -> GPU:
    """The GPU at this bus id (else index) through its vendor's library. Without a vendor,
    NVIDIA's is tried first and AMD's only where NVML cannot be used and AMD SMI finds the GPU;
    then NVML's reason is the one raised."""
    if vendor is not None:
        return VENDORS[vendor](index, pci_bus_id)
    try:
        return VENDORS["nvidia"](index, pci_bus_id)
    except MeterError as first:
        try:
            return VENDORS["amd"](index, pci_bus_id)
        except MeterError:
            raise first from None


def open_device(device: Device, meter: str | None = None) -> GPU:
    """The GPU a device is; ``meter`` (a --meter name) asks for that vendor's library."""
    if device.kind != "cuda":
        raise InputError(f"--meter {meter or 'auto'} needs a GPU device (--device cuda or cuda:I)")
    vendor = GPU_METERS[meter] if meter else vendor_of(device)
    return open_gpu(device.index, device.pci_bus_id, vendor)


def gpus() -> tuple[list[Gpu], str | None]:
    """Every GPU on this machine, read now, from the first vendor's library that sees any;
    (gpus, the reason when there are none: NVML's, and each other library's that is installed)."""
    reasons: list[str] = []
    for vendor, read in RECORDS.items():
        try:
            found = read()
        except LibraryMissing as exc:      # said for the first vendor only: no AMD SMI is no news
            reasons += [] if reasons else [str(exc)]
            continue
        except MeterError as exc:
            reasons.append(str(exc))
            continue
        if found:
            return found, None
        reasons.append(f"{VENDORS[vendor].library} sees no GPU")
    return [], "; ".join(reasons)


def mig_mode(pci_bus_id: str | None) -> bool | None:
    """Whether MIG mode is on for the GPU at this bus id (None: cannot tell)."""
    if not pci_bus_id:
        return None
    try:
        with open_gpu(pci_bus_id=pci_bus_id) as gpu:
            return gpu.mig_mode()
    except MeterError:          # no library, or MIG not supported on this GPU: no MIG
        return None
