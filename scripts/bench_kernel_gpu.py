#!/usr/bin/env python3
"""The SHA-256d kernel on a GPU against its arithmetic limit: for each configuration (a kernel
variant of sha256d.cuda.VARIANTS, threads per block, grid waves per launch), GH/s over whole
2^32-nonce scans, the SM clock NVML reports during them, and the SASS bound at that clock (from
the committed kernel_sass matrix: SMs x clock / SM clocks per nonce of that build). Prints JSON
with every sample and the fastest configuration. When the fastest differs from the launch a run
uses by more than the noise, it becomes that GPU's entry in sha256d.cuda.TUNED (by hand, with its
file). `default` is the untuned 256 x 1, `run_launch` the shape a run uses on this GPU, and every
whole scan must find the genesis block's nonce or the configuration counts as failed.

    python scripts/kernel_sass.py --arch sm_90 --matrix > results/bench/kernel_sass-sm_90-variants.json
    python scripts/bench_kernel_gpu.py --out results/bench/kernel-gpu-h100.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchhash.fsutil import print_json
from benchhash.sha256d import scan
from benchhash.sha256d.header import GENESIS, NONCE_SPACE

ROOT = Path(__file__).resolve().parents[1]
#: variant:THREADSxWAVES, cut to what decides the default: the untuned and the tuned launch, and
#: each variant at the shapes where it can win (512 x 4 holds 2 blocks of 64-register threads).
DEFAULT_CONFIGS = ("imad-adds:256x1,imad-adds:512x4,plain-adds:512x4,sched-plain:256x4,sched-plain:512x4,"
                   "min-blocks-2:512x4,min-blocks-2+sched-plain:512x4,two-nonces:256x4,two-nonces:512x4,"
                   "two-nonces+sched-plain:512x4")


def parse_configs(text: str) -> list[tuple[str, int, int]]:
    """'variant:TxW,...' -> [(variant, threads, waves)]; ValueError names the bad item."""
    from benchhash.sha256d.cuda import variant_defines
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        variant, _, shape = item.partition(":")
        threads, _, waves = shape.partition("x")
        if not (threads.isdigit() and waves.isdigit()):
            raise ValueError(f"a configuration is variant:THREADSxWAVES, got {item!r}")
        variant_defines(variant)                       # raises on an unknown variant
        out.append((variant, int(threads), int(waves)))
    return out


def sass_clocks(arch: str, variant: str, threads: int = 256) -> float | None:
    """SM clocks one nonce costs on the limiting resource, from the committed SASS matrix."""
    path = ROOT / "results" / "bench" / f"kernel_sass-{arch}-variants.json"
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, KeyError, ValueError):
        return None
    row = next((r for r in rows if r["variant"] == variant and r["threads"] == threads), None)
    return None if row is None else float(row["sm_clocks_per_nonce"])


class ClockSampler:
    """The SM clock (MHz) through NVML every 50 ms while a block of work runs; [] without NVML."""

    def __init__(self, index: int) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        try:
            from benchhash.meters.nvml import NvmlMeter
            self.meter: Any = NvmlMeter(index)
        except Exception as exc:  # noqa: BLE001 - said in the output, the rates still count
            self.meter, self.error = None, str(exc)

    def __enter__(self) -> ClockSampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while self.meter is not None and not self._stop.wait(0.05):
            mhz = self.meter.poll().sm_clock_mhz
            if mhz is not None:
                self.samples.append(float(mhz))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(index: int, launch: Any, repeats: int, sampler: ClockSampler) -> dict[str, Any]:
    from benchhash.sha256d.cuda import CudaBackend
    backend = CudaBackend(index, launch)
    scan(GENESIS, 0, 1 << 24, backend=backend)                 # compile, load, clocks up
    rates: list[float] = []
    first = len(sampler.samples)
    with sampler:
        for _ in range(repeats):
            res = scan(GENESIS, 0, NONCE_SPACE, backend=backend)
            if GENESIS.nonce not in {h.nonce for h in res.hits}:     # a fast wrong kernel is no result
                raise RuntimeError(f"a whole scan of the genesis header missed its nonce {GENESIS.nonce}")
            rates.append(res.scanned / res.seconds)
    clocks = sampler.samples[first:]
    med = statistics.median(rates)
    info = backend.launch_info()
    return {"launch": info, "samples_hps": rates, "median_ghps": med / 1e9,
            "mad_ghps": statistics.median(abs(r - med) for r in rates) / 1e9,
            "sm_clock_mhz_median": statistics.median(clocks) if clocks else None,
            "device": backend.device, "sms": info["sms"]}


def run_launch(index: int) -> tuple[int, int]:
    """(threads, waves) that `benchhash run` uses on this GPU (tuned per compute capability)."""
    from benchhash.sha256d.cuda import CudaBackend
    shape = CudaBackend(index).shape
    return shape.threads, shape.waves


def with_bound(row: dict[str, Any], clocks_per_nonce: float | None) -> dict[str, Any]:
    mhz = row["sm_clock_mhz_median"]
    if clocks_per_nonce is None or mhz is None:
        return {**row, "bound_ghps_at_clock": None, "pct_of_bound": None}
    bound = row["sms"] * mhz * 1e6 / clocks_per_nonce / 1e9
    return {**row, "bound_ghps_at_clock": bound, "pct_of_bound": 100 * row["median_ghps"] / bound}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", type=int, default=0, help="CUDA device index (NVML index too)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS,
                    help="variant:THREADSxWAVES, comma-separated (variants join with '+')")
    ap.add_argument("--repeats", type=int, default=3, help="2^32-nonce scans per configuration")
    ap.add_argument("--arch", default="sm_90", help="which kernel_sass matrix gives the bound")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    from benchhash.errors import BenchhashError
    from benchhash.sha256d.cuda import Launch, variant_defines
    try:
        configs = parse_configs(args.configs)
    except (ValueError, BenchhashError) as exc:
        ap.error(str(exc))
    sampler = ClockSampler(args.device)
    rows: list[dict[str, Any]] = []
    for variant, t, w in configs:
        try:
            row = measure(args.device, Launch(t, w, variant_defines(variant)), args.repeats, sampler)
        except (BenchhashError, RuntimeError) as exc:
            rows.append({"variant": variant, "threads": t, "waves": w, "error": str(exc)})
            print(f"{variant} {t}x{w}: failed: {exc}", file=sys.stderr)
            continue
        rows.append({"variant": variant, "threads": t, "waves": w,
                     **with_bound(row, sass_clocks(args.arch, variant, t))})
        print(f"{variant} {t}x{w}: {row['median_ghps']:.3f} GH/s", file=sys.stderr)
    done = [r for r in rows if "error" not in r]
    best = max(done, key=lambda r: r["median_ghps"], default=None)
    default = next((r for r in done if r["variant"] == "imad-adds" and r["threads"] == 256 and r["waves"] == 1), None)
    run_shape = run_launch(args.device)
    used = next((r for r in done if r["variant"] == "imad-adds" and (r["threads"], r["waves"]) == run_shape), None)
    print_json({"benchmark": "kernel_gpu", "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "arch_for_bound": args.arch, "nvml_clock_error": getattr(sampler, "error", None),
                "rows": rows, "fastest": best, "default": default, "run_launch": used,
                "fastest_over_default": (best["median_ghps"] / default["median_ghps"]) if best and default else None,
                "fastest_over_run_launch": (best["median_ghps"] / used["median_ghps"]) if best and used else None},
               args.out, indent=2)
    return 0 if done else 1


if __name__ == "__main__":
    from benchhash.errors import BenchhashError
    try:
        sys.exit(main())
    except BenchhashError as exc:          # no GPU, no CuPy, bad option: one line, not a traceback
        print(f"bench_kernel_gpu: {exc}", file=sys.stderr)
        sys.exit(1)
