#!/usr/bin/env python3
"""Device memory copy bandwidth through torch: one large device-to-device copy of random data,
timed with CUDA events, counting bytes read plus bytes written (as STREAM and the device notes
count it). The measured ceiling that decode's MBU is also quoted against, beside the datasheet
figure. Prints JSON: every timed copy's GB/s, their median and MAD, and the catalogue's
datasheet bandwidth for this GPU."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from benchhash.fsutil import print_json


def copy_rates(torch: Any, gib: float, repeats: int, warmup: int) -> list[float]:
    """GB/s (read + written) of each timed copy of a ``gib`` GiB buffer."""
    n = int(gib * 2**30) // 2
    src = torch.randn(n, device="cuda", dtype=torch.bfloat16)     # never time zeros
    dst = torch.empty_like(src)
    for _ in range(warmup):
        dst.copy_(src)
    rates = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        rates.append(2 * src.numel() * src.element_size() / (start.elapsed_time(end) / 1e3) / 1e9)
    if not torch.equal(dst, src):
        raise RuntimeError("the copy's destination differs from its source")
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gib", type=float, default=4.0, help="buffer size in GiB (several times the L2)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    if not 0.01 <= args.gib <= 64 or args.repeats < 1 or args.warmup < 0:
        ap.error("--gib must be 0.01..64, --repeats at least 1, --warmup at least 0")
    try:
        import torch
    except ImportError:
        print("bench_copy: torch is not installed", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print("bench_copy: no CUDA GPU visible to torch", file=sys.stderr)
        return 1
    from benchhash.workloads.peaks import memory_bandwidth
    name = torch.cuda.get_device_name(0)
    rates = copy_rates(torch, args.gib, args.repeats, args.warmup)
    med = statistics.median(rates)
    sheet = memory_bandwidth(name)
    print_json({"benchmark": "copy_bandwidth", "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "device": name, "torch": torch.__version__, "bytes_per_copy": 2 * (int(args.gib * 2**30) // 2 * 2),
                "samples_gb_s": rates, "median_gb_s": med,
                "mad_gb_s": statistics.median(abs(r - med) for r in rates),
                "datasheet_gb_s": sheet[0] / 1e9 if sheet else None,
                "of_datasheet": med / (sheet[0] / 1e9) if sheet else None}, args.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
