"""Vendor peak throughput per dtype and memory bandwidth of a device, from the GPU catalogue
(hw.catalogue: one entry per part, matched by exact name), so tensor workloads can report % of
peak, MFU and MBU; a MIG instance's peaks scaled to its share; plausibility bounds for files."""

from __future__ import annotations

import re

from benchhash.hw.catalogue import Entry, lookup

# the catalogue's lookup, as scripts and tests have always called it here
from benchhash.hw.catalogue import candidates as candidates
from benchhash.hw.catalogue import names as names
from benchhash.hw.catalogue import normalise as normalise
from benchhash.hw.catalogue import table as table
from benchhash.results.model import Device, Result


def entry_for_name(name: str) -> Entry | None:
    """(key, entry) for a device name alone, for scripts; None when unknown or ambiguous."""
    return lookup(name)


def catalogue_entry(device: Device) -> Entry | None:
    """The part a measured device is. A MIG instance's memory is its slice's, not the card's, so
    only a whole card's memory settles a name that several parts share."""
    return lookup(device.name, memory_bytes=None if device.is_mig else device.memory_bytes)


def _peak(hit: Entry | None, dtype: str) -> tuple[float, str] | None:
    if hit is None or dtype not in hit[1]["tflops"]:
        return None
    return hit[1]["tflops"][dtype] * 1e12, f"{hit[0]}: {hit[1]['source']}"


def _bandwidth(hit: Entry | None) -> tuple[float, str] | None:
    if hit is None:
        return None
    return hit[1]["memory_bandwidth_gb_s"] * 1e9, f"{hit[0]}: {hit[1]['source']}"


def peak_flops(device_name: str, dtype: str) -> tuple[float, str] | None:
    """(peak FLOP/s, source) for a dtype on a known GPU; None otherwise."""
    return _peak(lookup(device_name), dtype)


def memory_bandwidth(device_name: str) -> tuple[float, str] | None:
    """(bytes/s, source) for a known GPU."""
    return _bandwidth(lookup(device_name))


def mig_share(device: Device) -> tuple[float, float, str] | None:
    """(compute share, memory share, how) of a MIG instance of a known GPU: SMs as CUDA reports
    them over the card's, memory from the profile name ('3g.40gb' -> 40 GB) over the card's."""
    if not device.is_mig:
        return None
    hit = catalogue_entry(device)
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
    peak = _peak(catalogue_entry(device), dtype)
    share = mig_share(device)
    if peak is None or not device.is_mig:
        return peak
    if share is None:
        return None          # a MIG slice of a card we cannot scale: no peak rather than a wrong one
    return peak[0] * share[0], f"{peak[1]}; {share[2]}"


def device_memory_bandwidth(device: Device) -> tuple[float, str] | None:
    """memory_bandwidth for a device, scaled to its memory share when it is a MIG instance."""
    bw = _bandwidth(catalogue_entry(device))
    share = mig_share(device)
    if bw is None or not device.is_mig:
        return bw
    if share is None:
        return None
    return bw[0] * share[1], f"{bw[1]}; {share[2]}"


#: Plausibility bounds for files (verify): a known GPU's dense peak with 10 % of slack; per CPU
#: thread 0.4 TFLOP/s in fp32 (two AVX-512 FMA units at 5 GHz do 0.32) and 2 TFLOP/s in 16-bit
#: types (AMX tiles). A GPU the table does not know has no bound: its rates are unproven.
PEAK_SLACK = 1.10
#: The most CPU threads a bound counts, whatever a file records: the largest x86 servers have
#: 8 sockets of 128 threads.
MAX_CPU_THREADS = 1024
CPU_FLOPS_PER_THREAD = {"fp32": 0.4e12, "tf32": 0.4e12, "bf16": 2e12, "fp16": 2e12, "fp8": 4e12}


def cpu_threads(result: Result) -> int:
    """The CPU threads a bound counts: the logical CPUs the environment recorded (never a
    phase's own params), at most MAX_CPU_THREADS."""
    return max(1, min(result.environment.cpu.logical_cores or 1, MAX_CPU_THREADS))


def device_sms(device: Device) -> int | None:
    """A GPU's streaming multiprocessors as its catalogue entry gives them (a MIG instance: its
    own count, at most the card's); None for a part the catalogue does not know."""
    hit = catalogue_entry(device)
    if hit is None:
        return None
    sms = int(hit[1]["sms"])
    return min(sms, device.sm_count or sms) if device.is_mig else sms


def flop_bound(result: Result, dtype: str) -> tuple[float, str] | None:
    """The most FLOP/s the file's device could do in ``dtype``, and why; None for a GPU the
    catalogue does not know (its rates are unproven)."""
    d = result.device
    if d.kind == "cpu":
        threads = cpu_threads(result)
        each = CPU_FLOPS_PER_THREAD.get(dtype, max(CPU_FLOPS_PER_THREAD.values()))
        return threads * each, f"{threads} CPU thread(s) at most {each / 1e12:g} TFLOP/s each in {dtype}"
    peak = device_peak_flops(d, dtype)
    if peak is None:
        return None
    return peak[0] * PEAK_SLACK, f"{dtype} dense peak {peak[0] / 1e12:.0f} TFLOP/s (+10 %)"


def bandwidth_bound(result: Result) -> tuple[float, str] | None:
    """The most bytes/s the file's GPU memory could move (known GPUs only)."""
    if result.device.kind != "cuda":
        return None
    bw = device_memory_bandwidth(result.device)
    if bw is None:
        return None
    return bw[0] * PEAK_SLACK, f"memory bandwidth {bw[0] / 1e9:.0f} GB/s (+10 %)"
