#!/usr/bin/env python3
"""Benchmark the SHA-256d scan: hashlib-with-midstate loop (baseline), the cpu backend on 1 thread
and on every core, each CPU kernel this CPU runs (simd, sha-ni) against the others in the same
process, and the cuda backend when a GPU is present. Prints JSON (medians of repeats, raw samples
kept, ratios against the baselines measured in this same process)."""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

from benchhash.fsutil import print_json
from benchhash.sha256d import scan
from benchhash.sha256d.backend import ScanBackend
from benchhash.sha256d.header import GENESIS, NONCE_SPACE
from benchhash.sha256d.reference import ReferenceBackend


def start_for(repeat: int, count: int) -> int:
    """Where repeat r starts: successive ranges of ``count`` nonces, wrapped so that
    [start, start + count) stays inside the 2^32 nonce space (count = 2^32 starts at 0)."""
    if not 1 <= count <= NONCE_SPACE:
        raise ValueError(f"count must be between 1 and 2^32, got {count}")
    return repeat * count % (NONCE_SPACE - count + 1)


def _rates(backend: ScanBackend, count: int, repeats: int) -> list[float]:
    scan(GENESIS, 0, min(count, 1 << 16), backend=backend)  # warm-up: compile, caches, clocks
    rates = []
    for r in range(repeats):
        res = scan(GENESIS, start_for(r, count), count, backend=backend)
        rates.append(res.scanned / res.seconds)
    return rates


def _kernels_side_by_side(kernels: list[str], threads: int, count: int, repeats: int) -> dict[str, object]:
    """Each kernel's rate at ``threads``, the kernels taking turns on the same nonce ranges
    (a noisy neighbour then slows every kernel of a round alike), and each kernel's rate over
    the first one's, round by round (the median of those paired ratios)."""
    from benchhash.sha256d.cpu import CpuBackend
    backends = {k: CpuBackend(threads=threads, kernel=k) for k in kernels}
    for b in backends.values():
        scan(GENESIS, 0, min(count, 1 << 16), backend=b)      # compile or load, caches, clocks
    rates: dict[str, list[float]] = {k: [] for k in kernels}
    for r in range(repeats):
        for k, b in backends.items():
            res = scan(GENESIS, start_for(r, count), count, backend=b)
            rates[k].append(res.scanned / res.seconds)
    base = kernels[0]
    out: dict[str, object] = {"threads": threads, **{k: _summary(v) for k, v in rates.items()}}
    for k in kernels[1:]:
        out[f"ratio_{k}_vs_{base}"] = statistics.median(a / b for a, b in zip(rates[k], rates[base], strict=True))
    return out


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
    ap.add_argument("--gpu-count", type=int, default=NONCE_SPACE,
                    help="nonces per GPU run (at most 2^32, one header's nonce space)")
    ap.add_argument("--only", choices=("all", "cpu", "gpu"), default="all",
                    help="gpu: skip the CPU and hashlib parts (what the GPU check runs)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    for flag in ("cpu_count", "baseline_count", "gpu_count"):
        if not 1 <= getattr(args, flag) <= NONCE_SPACE:
            ap.error(f"--{flag.replace('_', '-')} must be between 1 and 2^32")

    report: dict[str, object] = {"benchmark": "sha256d", "python": platform.python_version(),
                                 "machine": platform.machine(),
                                 "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.only in ("all", "cpu"):
        report.update(_cpu_part(args))
    if args.only in ("all", "gpu"):
        report["cuda"] = _gpu_part(args)
    print_json(report, args.out, indent=2)
    return 0


def _cpu_part(args: argparse.Namespace) -> dict[str, object]:
    from benchhash.hw.cpu import usable_cores
    from benchhash.sha256d.cpu import CpuBackend
    from benchhash.sha256d.cpu_choice import sha_ni_problem
    cores = usable_cores()
    report: dict[str, object] = {}
    base = _summary(_hashlib_loop(args.baseline_count, args.repeats))
    report["hashlib_midstate_1thread"] = base
    report["reference_backend_1thread"] = _summary(_rates(ReferenceBackend(), args.baseline_count, args.repeats))
    one = CpuBackend(threads=1)
    report["cpu_device"] = one.device
    report["cpu_1thread"] = one_t = _summary(_rates(one, args.cpu_count, args.repeats))
    report["cpu_kernel"] = {**one.launch_info(), **one.kernel_metrics()}
    every = _summary(_rates(CpuBackend(threads=cores), args.cpu_count, args.repeats))
    report["cpu_all_threads"] = all_t = {"threads": cores, **every}
    b = float(base["median_hps"])  # type: ignore[arg-type]
    report["ratio_cpu_1thread_vs_hashlib"] = float(one_t["median_hps"]) / b  # type: ignore[arg-type]
    report["ratio_cpu_all_vs_hashlib_1thread"] = float(all_t["median_hps"]) / b  # type: ignore[arg-type]
    no_sha_ni = sha_ni_problem()
    kernels = ["simd"] + ([] if no_sha_ni else ["sha-ni"])
    report["cpu_kernels_1thread"] = _kernels_side_by_side(kernels, 1, args.cpu_count, args.repeats)
    report["cpu_kernels_all_threads"] = _kernels_side_by_side(kernels, cores, args.cpu_count, args.repeats)
    if no_sha_ni:
        report["sha_ni_skipped"] = no_sha_ni
    return report


def _gpu_part(args: argparse.Namespace) -> dict[str, object]:
    try:
        from benchhash.sha256d.cuda import CudaBackend
        gpu = CudaBackend(0)
        gpu.load()
    except Exception as exc:  # noqa: BLE001
        return {"skipped": str(exc)}
    g = _summary(_rates(gpu, args.gpu_count, args.repeats))
    g["median_ghps"] = float(g["median_hps"]) / 1e9  # type: ignore[arg-type]
    return {"device": gpu.device, "launch": gpu.launch_info(), "count": args.gpu_count, **g}


if __name__ == "__main__":
    sys.exit(main())
