#!/usr/bin/env python3
"""Coordination overhead of a fleet run: the per-rank SHA-256d rate of an N-rank lockstep CPU
fleet (torchrun, gloo, a meeting before every window) against the same N ranks run as
independent `benchhash run` processes at the same time, rounds interleaved in this one
invocation so that both see the same machine. Each rank scans with one thread. Prints JSON: the
raw per-rank trial medians of every round, the medians, and their ratio (goal >= 0.97)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchhash.fsutil import print_json

GOAL = 0.97


def _args(a: argparse.Namespace, out: Path) -> list[str]:
    return ["run", "--device", "cpu", "--workloads", "sha256d", "--threads", "1", "--duration", str(a.seconds),
            "--trials", str(a.trials), "--warmup", str(a.warmup), "--out", str(out)]


def _median_rate(path: Path) -> float:
    data = json.loads(path.read_text())
    return float(data["workloads"][0]["stats"]["rate"]["median"])


def _fleet(a: argparse.Namespace, folder: Path) -> list[float]:
    launcher = Path(sys.executable).parent / "torchrun"
    cmd = [str(launcher)] if launcher.exists() else [sys.executable, "-m", "torch.distributed.run"]
    subprocess.run(cmd + ["--standalone", "--nproc-per-node", str(a.ranks), "-m", "benchhash",
                          *_args(a, folder)], check=True, capture_output=True, text=True)
    return [_median_rate(folder / f"rank-{r}.json") for r in range(a.ranks)]


def _independent(a: argparse.Namespace, folder: Path) -> list[float]:
    procs = [subprocess.Popen([sys.executable, "-m", "benchhash", *_args(a, folder / f"proc-{r}.json")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for r in range(a.ranks)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"bench_fleet: an independent run failed: {err.strip().splitlines()[-1:]}")
    return [_median_rate(folder / f"proc-{r}.json") for r in range(a.ranks)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each trial")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3, help="fleet and independent runs, interleaved")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    a = ap.parse_args()
    if a.ranks < 2 or a.rounds < 1:
        raise SystemExit("bench_fleet: --ranks must be at least 2 and --rounds at least 1")
    fleet: list[list[float]] = []
    alone: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):         # the arms alternate which goes first, so drift cancels
            arms = [(fleet, _fleet, "fleet"), (alone, _independent, "alone")]
            for into, arm, name in arms if i % 2 == 0 else arms[::-1]:
                into.append(arm(a, Path(tmp) / f"{name}-{i}"))
    per_round = [statistics.mean(f) / statistics.mean(s) for f, s in zip(fleet, alone, strict=True)]
    med_fleet = statistics.median(x for r in fleet for x in r)
    med_alone = statistics.median(x for r in alone for x in r)
    from scipy.stats import mannwhitneyu
    p = float(mannwhitneyu([x for r in fleet for x in r], [x for r in alone for x in r]).pvalue)
    ratio = statistics.median(per_round)
    print_json({
        "benchmark": "fleet_coordination_sha256d",
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(), "cpus": os.cpu_count(), "ranks": a.ranks, "threads_per_rank": 1,
        "trial_seconds": a.seconds, "trials": a.trials, "warmup_s": a.warmup, "rounds": a.rounds,
        "fleet_rank_median_hps": fleet, "independent_rank_median_hps": alone,
        "median_fleet_rank_hps": med_fleet, "median_independent_rank_hps": med_alone,
        "ratio_per_round": per_round, "ratio_median": statistics.median(per_round),
        "ratio_mad": statistics.median(abs(r - statistics.median(per_round)) for r in per_round),
        "ratio_of_medians": med_fleet / med_alone, "goal": GOAL, "meets_goal": ratio >= GOAL,
        "mann_whitney_p": p,
        "verdict": (f"per-rank rate in the fleet {ratio:.3f} x independent (median of {a.rounds} rounds); "
                    + (f"the difference is not significant (Mann-Whitney p = {p:.2f})" if p >= 0.05
                       else f"the difference is significant (Mann-Whitney p = {p:.3f})")),
    }, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
