#!/usr/bin/env python3
"""Benchmark verify's SHA-256d work (issue 30 items 2 and 3): the share loop as it was (pydantic
Share models, a re-hash of 80 bytes per share, a linear range scan, hex compare) against the lean
one (packed shares decoded, header midstates copied, a bisect over merged ranges), in the same
process on the same shares; the fixed cost of `python -m benchhash verify FILE` (its wall time
less the in-process verify of the same file) beside the import of scipy.stats the old Poisson
bound paid; and the bytes of a real H100 file in each form (as published, schema 5's listed
shares written compact, schema 6's packed shares). Prints JSON: medians of --repeats runs, raw
samples kept, ratios of runs measured side by side."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from benchhash.fsutil import print_json
from benchhash.results import io
from benchhash.results.model import Hex64, Model, WorkloadResult
from benchhash.results.shares import packed_copy
from benchhash.sha256d.header import hash_to_int, sha256d
from benchhash.workloads import sha256d_proof

ROOT = Path(__file__).resolve().parents[1]
V5 = ROOT / "tests" / "data" / "golden" / "v5" / "cpu-replay.json"
V6 = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"
H100 = ROOT / "results" / "nvidia-h100-80gb-hbm3" / "vm-20261123T104614Z.json"
SWEEP = ROOT / "results" / "power-caps" / "sweep-20261123T111331Z.json"


# --- the loop as it was before issue 30 (kept here as the baseline) -----------------------------
class OldShare(Model):
    header: int = Field(ge=0)
    nonce: int = Field(ge=0, lt=1 << 32)
    hash: Hex64


class OldTrialProof(Model):
    ranges: list[Annotated[list[int], Field(min_length=3, max_length=3)]]
    shares: list[OldShare]


def old_loop(w: WorkloadResult) -> int:
    """Validation and share checks exactly as sha256d_proof did them; returns the problems."""
    headers = [bytes.fromhex(h) for h in w.proof["headers"]] if w.proof else []
    target = int(w.proof["share_target"], 16) if w.proof else 0
    seen: set[tuple[int, int]] = set()
    problems = 0
    for t in w.trials:
        tp = OldTrialProof.model_validate(t.proof)
        for s in tp.shares:
            if s.header >= len(headers):
                problems += 1
                continue
            if (s.header, s.nonce) in seen:
                problems += 1
            seen.add((s.header, s.nonce))
            if not any(r[0] == s.header and r[1] <= s.nonce < r[1] + r[2] for r in tp.ranges):
                problems += 1
            digest = sha256d(headers[s.header][:76] + s.nonce.to_bytes(4, "little"))
            if digest[::-1].hex() != s.hash or hash_to_int(digest) > target:
                problems += 1
    return problems


def new_loop(w: WorkloadResult, listed: bool = False) -> int:
    """Today's: decode (packed) or validate (listed), then sha256d_proof._check_shares."""
    headers = [bytes.fromhex(h) for h in w.proof["headers"]] if w.proof else []
    target = int(w.proof["share_target"], 16) if w.proof else 0
    seen: set[int] = set()
    problems = 0
    if listed:
        trials = [sha256d_proof.TrialShares(p.ranges, [(s.header << 32) | s.nonce for s in p.shares],
                                            [s.hash for s in p.shares])
                  for p in (sha256d_proof.Sha256dTrialProofListed.model_validate(t.proof) for t in w.trials)]
    else:
        trials = sha256d_proof.trial_shares(w)
    for t, ts in zip(w.trials, trials, strict=True):
        problems += len(sha256d_proof._check_shares(t, ts, headers, target, seen, w.label))
    return problems


def rehash_only(w: WorkloadResult) -> int:
    headers = [bytes.fromhex(h) for h in w.proof["headers"]] if w.proof else []
    n = 0
    for ts in sha256d_proof.trial_shares(w):
        for _ in sha256d_proof.rehash(ts.keys, headers, range(len(ts.keys))):
            n += 1
    return n


def _timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def loops(repeats: int) -> dict[str, Any]:
    """Shares a second of each loop, taking turns run by run (a noisy neighbour slows a round alike)."""
    old = io.load(V5)[0].workloads[0]
    new = io.load(V6)[0].workloads[0]
    shares = sum(len(t.proof["shares"]) for t in old.trials if t.proof)
    assert old_loop(old) == 0 and new_loop(new) == 0 and new_loop(old, listed=True) == 0
    runs: dict[str, list[float]] = {"old": [], "new_packed": [], "new_listed_v5": [], "rehash_only": []}
    for _ in range(repeats):
        runs["old"] += _timed(lambda: old_loop(old), 1)
        runs["new_packed"] += _timed(lambda: new_loop(new), 1)
        runs["new_listed_v5"] += _timed(lambda: new_loop(old, listed=True), 1)
        runs["rehash_only"] += _timed(lambda: rehash_only(new), 1)
    out: dict[str, Any] = {"shares": shares, "file_v5": str(V5.relative_to(ROOT)), "file_v6": str(V6.relative_to(ROOT))}
    for name, secs in runs.items():
        out[name] = {"shares_per_s_median": shares / statistics.median(secs),
                     "us_per_share_median": 1e6 * statistics.median(secs) / shares, "seconds": secs}
    out["ratio_new_packed_vs_old"] = statistics.median(
        a / b for a, b in zip(runs["old"], runs["new_packed"], strict=True))
    return out


def _wall(args: list[str], repeats: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                                       if p)}
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True, env=env)
        out.append(time.perf_counter() - t0)
    return out


def start_cost(repeats: int) -> dict[str, Any]:
    """`python -m benchhash verify FILE` on the v6 golden, less its verify in this process."""
    from benchhash.review.verify import verdict
    verdict(V6)
    inproc = _timed(lambda: verdict(V6), repeats)
    inproc_v5 = _timed(lambda: verdict(V5), repeats)
    wall = _wall(["-m", "benchhash", "verify", str(V6)], repeats)
    bare = _wall(["-c", "pass"], repeats)
    scipy = _wall(["-c", "import scipy.stats"], repeats)
    return {"file": str(V6.relative_to(ROOT)),
            "verify_wall_s": {"median": statistics.median(wall), "samples": wall},
            "verify_in_process_s": {"median": statistics.median(inproc), "samples": inproc},
            "verify_in_process_same_run_v5_listed_s": {"median": statistics.median(inproc_v5), "samples": inproc_v5},
            "fixed_cost_s_median": statistics.median(wall) - statistics.median(inproc),
            "python_start_s_median": statistics.median(bare),
            "old_extra_scipy_stats_import_s_median": statistics.median(scipy) - statistics.median(bare)}


def sizes(paths: tuple[Path, ...] = (H100, SWEEP)) -> dict[str, Any]:
    out = {}
    for path in paths:
        if not path.exists():
            continue
        raw = io.read_json(path)
        shares = sum(len(t["proof"]["shares"]) for w in raw["workloads"] for t in w["trials"]
                     if isinstance(t.get("proof"), dict) and "shares" in t["proof"])
        packed = packed_copy(raw)
        out[str(path.relative_to(ROOT))] = {
            "shares": shares,
            "bytes_as_published_listed_indented": path.stat().st_size,
            "bytes_listed_compact": len(io.dumps(raw, pretty=False).encode()),
            "bytes_packed_indented": len(io.dumps(packed, pretty=True).encode()),
            "bytes_packed_compact": len(io.dumps(packed, pretty=False).encode()),
            "bytes_packed_share_data": sum(len(t["proof"]["packed_shares"]["data"]) for w in packed["workloads"]
                                           for t in w["trials"] if "packed_shares" in (t.get("proof") or {})),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-start", action="store_true", help="do not time the verify command's start")
    args = ap.parse_args()
    print_json({"benchmark": "verify", "python": platform.python_version(), "machine": platform.machine(),
                "cpus": os.cpu_count(), "repeats": args.repeats, "loops": loops(args.repeats),
                **({} if args.skip_start else {"start": start_cost(args.repeats)}), "sizes": sizes()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
