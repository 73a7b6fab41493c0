"""Vendor peak throughput per dtype and memory bandwidth for known GPUs (data/gpu_peaks.json),
matched by device name, so tensor workloads can report % of peak, MFU and MBU."""

from __future__ import annotations

from functools import cache
from typing import Any

from benchhash.data import data_json


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
