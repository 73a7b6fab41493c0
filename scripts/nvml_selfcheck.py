#!/usr/bin/env python3
"""NVML self-check on a real GPU: hash with the cuda backend for a while inside one meter window
(and idle for a few seconds in another), then report what the meter saw: the energy counter
against the integral of polled instant power (their gap), the instant-power field's value type,
SM clocks, temperatures, clock-event (throttle) reasons, the polling rate, and every NVML call
that failed. Prints JSON with a verdict per check; exit 1 when a check fails."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from benchhash.fsutil import print_json
from benchhash.hw.device import resolve
from benchhash.meters.base import POLL_GAP_WARN
from benchhash.results.model import Reading
from benchhash.sha256d.header import GENESIS


def _hash_for(seconds: float, index: int) -> dict[str, Any]:
    from benchhash.sha256d.cuda import CudaBackend
    backend = CudaBackend(index)
    backend.load()
    done = threading.Event()
    timer = threading.Timer(seconds, done.set)
    scanned, t0 = 0, time.perf_counter()
    timer.start()
    try:
        while not done.is_set():
            _, n = backend.candidates(GENESIS.to_bytes(), 0, 1 << 32, 0, None, done)
            scanned += n
    finally:
        timer.cancel()
    backend.synchronize()
    elapsed = time.perf_counter() - t0
    return {"hashes": scanned, "seconds": elapsed, "ghps": scanned / elapsed / 1e9}


def _reading(r: Reading) -> dict[str, Any]:
    return {**r.energy.model_dump(mode="json"),
            "telemetry": None if r.telemetry is None else r.telemetry.model_dump(mode="json")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=10.0, help="hashing window")
    ap.add_argument("--idle", type=float, default=3.0, help="idle window")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()

    from benchhash.meters.nvml import NvmlMeter
    device = resolve(args.device)
    meter = NvmlMeter(device.index, pci_bus_id=device.pci_bus_id, mig_profile=device.mig_profile)
    try:
        meter.start()
        meter.begin()
        time.sleep(args.idle)
        idle = meter.end()
        meter.begin()
        work = _hash_for(args.seconds, device.index)
        busy = meter.end()
        described = meter.describe()
    finally:
        meter.close()
    samples = busy.telemetry.samples if busy.telemetry else 0
    gap = busy.energy.gap_pct
    checks = {
        "energy_counter": described["energy_counter"],
        "instant_power_field": described["power_source"] == "NVML_FI_DEV_POWER_INSTANT",
        "counter_vs_polled_within_5pct": gap is not None and abs(gap) <= 100 * POLL_GAP_WARN,
        "polling_at_least_8_hz": samples >= 8 * busy.energy.seconds,
        "sm_clock_read": bool(busy.telemetry and busy.telemetry.sm_clock_mhz_median),
        "temperature_read": bool(busy.telemetry and busy.telemetry.temperature_c_max is not None),
        "no_poll_errors": not described["poll_errors"],
        "busy_draws_10pct_more_than_idle":
            (busy.energy.average_w or 0) > 1.1 * (idle.energy.average_w or float("inf")),
    }
    report = {"check": "nvml_selfcheck", "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": device.name, "pci_bus_id": device.pci_bus_id, "mig_profile": device.mig_profile,
              "meter": described, "idle": _reading(idle), "hashing": {**work, **_reading(busy)},
              "checks": checks, "ok": all(checks.values())}
    print_json(report, args.out)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
