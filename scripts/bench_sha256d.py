#!/usr/bin/env python3
"""Benchmark the SHA-256d scan: hashlib-with-midstate loop (baseline), the cpu backend on 1 thread
and on every core, and the cuda backend when a GPU is present. Prints JSON (medians of repeats,
raw samples kept, ratios against the baseline measured in this same process)."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from benchhash.fsutil import print_json
from benchhash.header import GENESIS
from benchhash.sha256d import scan
from benchhash.sha256d.reference import ReferenceBackend


def _rates(backend, count: int, repeats: int) -> list[float]:
    scan(GENESIS, 0, min(count, 1 << 16), backend=backend)  # warm-up: compile, caches, clocks
    rates = []
    for r in range(repeats):
        res = scan(GENESIS, r * count % ((1 << 32) - count), count, backend=backend)
        rates.append(res.scanned / res.seconds)
    return rates


def _hashlib_loop(count: int, repeats: int) -> list[float]:
    """The baseline: midstate copied per nonce, then the second SHA-256; no comparison at all."""
    import hashlib
    import struct
    header = GENESIS.to_bytes()
    mid = hashlib.sha256(header[:64])
    tail = header[64:76]
    pack = struct.Struct("<I").pack
    sha256 = hashlib.sha256
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for nonce in range(count):
            inner = mid.copy()
            inner.update(tail + pack(nonce))
            sha256(inner.digest()).digest()
        rates.append(count / (time.perf_counter() - t0))
    return rates


def _summary(rates: list[float]) -> dict[str, object]:
    med = statistics.median(rates)
    return {"median_hps": med, "median_mhps": med / 1e6, "mad_hps": statistics.median(abs(x - med) for x in rates),
            "samples_hps": rates}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-count", type=int, default=1 << 26, help="nonces per CPU run")
    ap.add_argument("--baseline-count", type=int, default=1 << 19)
    ap.add_argument("--gpu-count", type=int, default=1 << 34 >> 2, help="nonces per GPU run")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()

    from benchhash.sha256d.cpu import CpuBackend
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    report: dict[str, object] = {"benchmark": "sha256d", "python": platform.python_version(),
                                 "machine": platform.machine(), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    base = _summary(_hashlib_loop(args.baseline_count, args.repeats))
    report["hashlib_midstate_1thread"] = base
    report["reference_backend_1thread"] = _summary(_rates(ReferenceBackend(), args.baseline_count, args.repeats))
    one = CpuBackend(threads=1)
    report["cpu_device"] = one.device
    report["cpu_1thread"] = _summary(_rates(one, args.cpu_count, args.repeats))
    report["cpu_all_threads"] = {"threads": cores, **_summary(_rates(CpuBackend(threads=cores), args.cpu_count, args.repeats))}
    b = base["median_hps"]
    report["ratio_cpu_1thread_vs_hashlib"] = report["cpu_1thread"]["median_hps"] / b
    report["ratio_cpu_all_vs_hashlib_1thread"] = report["cpu_all_threads"]["median_hps"] / b
    try:
        from benchhash.sha256d.cuda import CudaBackend
        gpu = CudaBackend(0)
    except Exception as exc:  # noqa: BLE001
        report["cuda"] = {"skipped": str(exc)}
    else:
        g = _summary(_rates(gpu, args.gpu_count, args.repeats))
        g["median_ghps"] = g["median_hps"] / 1e9
        report["cuda"] = {"device": gpu.device, **g}
    print_json(report, args.out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
