"""Energy meters: a GPU's (nvml, amdsmi: meters.gpu), RAPL (CPU), null, replay. `make_meter`
takes the one the device layer says measures a device (hw.gpus.meter_for)."""

from __future__ import annotations

from pathlib import Path

from benchhash.errors import InputError, MeterError
from benchhash.hw.device import Device
from benchhash.hw.gpus import GPU_METERS, meter_for
from benchhash.meters.base import EnergyMeter, Reading, Sample, Telemetry
from benchhash.meters.null import NullMeter

METERS = "auto, nvml, amdsmi, rapl, null or replay:FILE"

__all__ = ["EnergyMeter", "METERS", "NullMeter", "Reading", "Sample", "Telemetry", "energy_here", "make_meter"]


def make_meter(spec: str, device: Device) -> EnergyMeter:
    """The meter named by ``spec`` for ``device``; 'auto' is the one the device layer says
    measures it, and falls back to the null meter with the reason; a meter asked for by name
    that cannot work is an error."""
    text = spec.strip()
    if text.startswith("replay:"):
        from benchhash.meters.replay import ReplayMeter
        return ReplayMeter.from_file(text.split(":", 1)[1])
    if text == "null":
        return NullMeter("energy metering was turned off (--meter null)")
    if text not in ("auto", "rapl", *GPU_METERS):
        raise InputError(f"--meter must be one of {METERS}, got {spec!r}")
    kind = text if text != "auto" else meter_for(device)
    try:
        if kind == "rapl":
            from benchhash.meters.rapl import RaplMeter
            return RaplMeter()
        from benchhash.meters.gpu import device_meter
        return device_meter(device, None if text == "auto" else kind)
    except MeterError as exc:
        if text != "auto":
            raise
        return NullMeter(str(exc))


def energy_here(gpu_indices: list[int], rapl_root: Path | None = None) -> list[tuple[str, str, bool]]:
    """What can measure energy on this machine, before anyone waits for a run: (device, how or
    why not, measurable) for the CPU (RAPL) and each GPU (its library's energy counter, else
    polled power)."""
    from benchhash.meters.rapl import POWERCAP, discover
    out: list[tuple[str, str, bool]] = []
    try:
        zones = discover(rapl_root or POWERCAP)
        out.append(("CPU", "RAPL (" + ", ".join(z.label for z in zones) + ")", True))
    except MeterError as exc:
        out.append(("CPU", str(exc), False))
    for i in gpu_indices:
        try:
            from benchhash.hw.gpus import open_gpu
            from benchhash.meters.gpu import GpuMeter
            meter = GpuMeter(open_gpu(i))
        except (MeterError, ImportError) as exc:
            out.append((f"GPU {i}", f"no NVML reading: {exc}", False))
            continue
        with meter:
            lib = meter.gpu.library
            how = (f"{lib} energy counter" if meter.counter_unsupported is None
                   else f"{lib} polled power ({meter.counter_reason()})")
        out.append((f"GPU {i}", how, True))
    return out
