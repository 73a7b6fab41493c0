#!/usr/bin/env python3
"""Harness overhead of `benchhash run` on SHA-256d: the rate the runner measures (workload,
meter windows, shares, header rolling) against a bare `scan` of the same length, interleaved in
this one process on the same backend. Prints JSON: raw samples, medians, and their ratio, which
should be >= 0.99."""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

from benchhash.fsutil import print_json
from benchhash.hw.device import resolve
from benchhash.meters import NullMeter
from benchhash.results.model import Config
from benchhash.runner import Runner
from benchhash.sha256d import scan
from benchhash.sha256d.header import GENESIS
from benchhash.workloads import create
from benchhash.workloads.sha256d import Sha256dWorkload


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:I")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()

    device = resolve(args.device)
    workload = create("sha256d", device)
    assert isinstance(workload, Sha256dWorkload)
    workload.setup()
    backend = workload._backend  # the very backend the runner drives
    # calibrate the bare scan's nonce count to the requested length
    probe = scan(GENESIS, 0, 1 << 22, backend=backend)
    count = int(min(probe.hashes_per_second * args.seconds, (1 << 32) - 1))
    bare, harness = [], []
    cfg = Config.for_run(duration_s=args.seconds, trials=1, warmup_s=0)
    for _ in range(args.repeats):
        res = scan(GENESIS, 0, count, backend=backend)
        bare.append(res.scanned / res.seconds)
        record = Runner(NullMeter("benchmark"), cfg).run([workload])
        if record.error is not None:
            raise record.error
        if record.failures:
            raise SystemExit(f"bench_run_overhead: {record.failures[0]}")
        harness.append(record.phases[0].trials[0].rate)
    med_bare, med_harness = statistics.median(bare), statistics.median(harness)
    pairs = [h / b for h, b in zip(harness, bare, strict=True)]
    report = {
        "benchmark": "run_overhead_sha256d",
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "device": workload.device_name(),
        "seconds_per_measurement": args.seconds,
        "repeats": args.repeats,
        "bare_scan_hps": bare,
        "run_hps": harness,
        "median_bare_scan_hps": med_bare,
        "median_run_hps": med_harness,
        "ratio_of_medians": med_harness / med_bare,
        "median_of_paired_ratios": statistics.median(pairs),
        "target_ratio": 0.99,
    }
    print_json(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
