"""Vendor peak throughput per dtype and memory bandwidth for known GPUs (data/gpu_peaks.json),
matched by device name, so tensor workloads can report % of peak, MFU and MBU."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from benchhash.data import data_json
from benchhash.results.model import Device


@cache
def table() -> dict[str, Any]:
    return data_json("gpu_peaks.json")["gpus"]


def lookup(device_name: str) -> tuple[str, dict[str, Any]] | None:
    """The table entry whose match string occurs in the device name (longest match wins)."""
    name = device_name.lower()
    best: tuple[int, str, dict[str, Any]] | None = None
    for key, entry in table().items():
        for m in entry["match"]:
            if m.lower() in name and (best is None or len(m) > best[0]):
                best = (len(m), key, entry)
    return None if best is None else (best[1], best[2])


def peak_flops(device_name: str, dtype: str) -> tuple[float, str] | None:
    """(peak FLOP/s, source) for a dtype on a known GPU; None otherwise."""
    hit = lookup(device_name)
    if hit is None or dtype not in hit[1]["tflops"]:
        return None
    return hit[1]["tflops"][dtype] * 1e12, f"{hit[0]}: {hit[1]['source']}"


def memory_bandwidth(device_name: str) -> tuple[float, str] | None:
    """(bytes/s, source) for a known GPU."""
    hit = lookup(device_name)
    if hit is None:
        return None
    return hit[1]["memory_bandwidth_gb_s"] * 1e9, f"{hit[0]}: {hit[1]['source']}"


def mig_share(device: Device) -> tuple[float, float, str] | None:
    """(compute share, memory share, how) of a MIG instance of a known GPU: SMs as CUDA reports
    them over the card's, memory from the profile name ('3g.40gb' -> 40 GB) over the card's."""
    if not device.is_mig:
        return None
    hit = lookup(device.name)
    if hit is None or not device.sm_count:
        return None
    entry = hit[1]
    compute = min(1.0, device.sm_count / entry["sms"])
    m = re.search(r"\.(\d+)gb$", device.mig_profile or "")
    if m:
        memory = min(1.0, int(m.group(1)) / entry["memory_gb"])
    elif device.memory_bytes:
        memory = min(1.0, device.memory_bytes / (entry["memory_gb"] * 2**30))
    else:
        memory = compute
    how = (f"scaled to MIG {device.mig_profile}: {device.sm_count}/{entry['sms']} SMs, "
           f"{100 * memory:.0f} % of memory")
    return compute, memory, how


def device_peak_flops(device: Device, dtype: str) -> tuple[float, str] | None:
    """peak_flops for a device, scaled to its share when it is a MIG instance."""
    peak = peak_flops(device.name, dtype)
    share = mig_share(device)
    if peak is None or not device.is_mig:
        return peak
    if share is None:
        return None          # a MIG slice of a card we cannot scale: no peak rather than a wrong one
    return peak[0] * share[0], f"{peak[1]}; {share[2]}"


def device_memory_bandwidth(device: Device) -> tuple[float, str] | None:
    """memory_bandwidth for a device, scaled to its memory share when it is a MIG instance."""
    bw = memory_bandwidth(device.name)
    share = mig_share(device)
    if bw is None or not device.is_mig:
        return bw
    if share is None:
        return None
    return bw[0] * share[1], f"{bw[1]}; {share[2]}"
