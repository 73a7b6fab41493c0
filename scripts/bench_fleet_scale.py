#!/usr/bin/env python3
"""How a fleet run and its verification grow with the number of ranks, measured on one machine
and projected to 1,000 and 10,000 GPUs from fitted constants.

Fleet (N ranks forked after import, gloo on loopback, one rank per "node" so that every rank
probes its clock): bytes into rank 0 per rank (a real rank file's summary, against the whole
result the gather used to send), meeting time (from the last rank's arrival to the last rank's
release, on rank 0's clock: one fixed-size all_reduce, against the monitored barrier plus
all_gather_object that meetings used to be), gather time, window skew (latest minus earliest
opening of one window, on rank 0's clock: the meeting's own instant, against the broadcast
instant of before), clock-probe and group start time, rank 0's peak memory.

Verify (the workers of review/pool.py on the published rank files): seconds per file against
its shares (fitted: a + b x shares), files/s and shares/s with 1 and 2 workers, the memory the
gathering process keeps per file (flat: a few KB) and a worker's peak; the fleet file rebuilt
from 1,000 and 10,000 summaries. The projection: 10,000 GPUs of ~10,000 shares each (an
H100-like rank) on 16 cores.

Each figure is fitted against N as a + b N and as a + b log2 N (least squares, the better fit
named). This machine has 2 cores shared with other work: N ranks > 2 are oversubscribed, which
inflates the meeting time and the skew (said in the output)."""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing as mp
import os
import pickle
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.distributed as dist

from benchhash.fleet.lockstep import LEAD_S, Group, Lockstep, _sleep_until
from benchhash.fleet.ranks import RankEnv
from benchhash.fsutil import print_json
from benchhash.results import io
from benchhash.results.fleet import RankSummary
from benchhash.results.fleet_build import fleet_of, summarize
from benchhash.results.shares import packed_copy
from benchhash.review.pool import Checked, Pool, check_file

ROOT = Path(__file__).resolve().parents[1]
RANK_FILES = [ROOT / "results/amd-epyc/fleet-vm-20261204T183959Z/rank-0.json",
              ROOT / "results/amd-epyc/fleet-vm-20261204T183959Z/rank-1.json",
              ROOT / "results/nvidia-h100-80gb-hbm3/fleet-vm-20261123T1046Z/rank-0.json"]
PAYLOAD = RANK_FILES[1]
H100_SHARES, CORES = 10_000, 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shares(path: Path) -> int:
    raw = json.loads(path.read_text())
    return sum(len(p.get("shares", [])) or (p.get("packed_shares") or {}).get("count", 0)
               for w in raw["workloads"] for t in w["trials"] if isinstance(p := t.get("proof"), dict))


def as_v6(path: Path, folder: Path) -> Path:
    """The published (schema 5) rank file as a schema 6 writer writes it: its shares packed, compact
    JSON, resealed (the same measurement; what a fleet run writes now)."""
    raw = packed_copy(io.read_json(path))
    raw["integrity"]["digest"] = io.digest_of(raw)
    out = folder / f"{path.parent.name}-{path.name}"
    out.write_text(io.dumps(raw, pretty=False))
    return out


# --- the fleet -----------------------------------------------------------------------------------
class Shared:
    """What the parent loads before forking: the rank file's summary and its whole result as the
    gather used to send it (pickled once here; the ranks send the bytes)."""

    def __init__(self, old: bool) -> None:
        result, raw = io.load(PAYLOAD)
        self.summary = summarize(PAYLOAD.name, result, raw["integrity"]["digest"])
        self.old = pickle.dumps((PAYLOAD.name, result.model_dump(mode="json"), raw["integrity"]["digest"])) \
            if old else b""


def _meeting(g: Group, old: bool, ls: Lockstep) -> tuple[tuple[float, float], float]:
    """One meeting's (arrival, release) and the instant its window opened, on rank 0's clock:
    the new way (ls) or the old (a monitored barrier, an all_gather, rank 0's instant broadcast)."""
    arrived = g.now()
    if old:
        dist.monitored_barrier(wait_all_ranks=True)
        seen: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(seen, ((0, 0), "window", "bench trial", ()))
    else:
        ls.meet("window", "bench trial", (0, 0))
    released = g.now()
    if old:
        box = [g.now() + LEAD_S if g.rank == 0 else None]
        dist.broadcast_object_list(box, 0)
        assert box[0] is not None
        _sleep_until(g.now, float(box[0]))
    else:
        ls.open()
    return (arrived, released), g.now()


def _gather(g: Group, shared: Shared, n: int) -> dict[str, Any]:
    """The summaries gathered as fleet/run.py gathers them (and the whole results, as before)."""
    s = shared.summary
    assert s.fleet is not None
    mine = s.model_copy(update={"file": f"rank-{g.rank}.json",
                                "fleet": s.fleet.model_copy(update={"rank": g.rank, "world_size": n})})
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    known = g.broadcast([p.key for p in mine.phases] if g.rank == 0 else None, "gather")
    wire = mine.wire(known if g.rank else ())
    got = g.gather_to_0(wire, "gather")
    out["gather_s"] = time.perf_counter() - t0
    out["summary_bytes"] = len(pickle.dumps(wire))
    if got is not None:
        t0 = time.perf_counter()
        fleet = fleet_of([RankSummary.from_wire(b, known) for b in got])
        out["fleet_file_s"] = time.perf_counter() - t0
        out["fleet_file_bytes"] = len(io.dumps(fleet.model_dump(mode="json")))
        out["rss_after_gather_mb"] = _rss_mb()
    if shared.old:
        t0 = time.perf_counter()
        old = g.gather_to_0(shared.old, "old gather")
        out["old_gather_s"] = time.perf_counter() - t0
        out["old_bytes"] = len(pickle.dumps(shared.old))
        if old is not None:
            out["rss_after_old_gather_mb"] = _rss_mb()
    return out


def _interleaved(g: Group, count: int) -> tuple[Any, Any]:
    """Meetings of the two arms in turn (new, old, old, new, ...), so that neither gets the
    machine's calmer or busier stretch: ((times, opened) of the new arm, of the old)."""
    ls = Lockstep(g)
    arms: dict[bool, tuple[list[tuple[float, float]], list[float]]] = {False: ([], []), True: ([], [])}
    for i in range(count):
        for old in (False, True) if i % 2 == 0 else (True, False):
            times, opened = _meeting(g, old, ls)
            arms[old][0].append(times)
            arms[old][1].append(opened)
    return arms[False], arms[True]


def _rank(r: int, n: int, port: int, meetings: int, shared: Shared, queue: Any) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        t0 = time.perf_counter()
        g = Group(RankEnv(r, n, 0, 1, r, "bench"), timeout_s=300)
        out: dict[str, Any] = {"rank": r, "start_s": time.perf_counter() - t0, "rtt_s": g.rtt_s}
        out["new"], out["old"] = _interleaved(g, meetings)
        out.update(_gather(g, shared, n))
        g.close()
        queue.put(out)
    except BaseException as exc:  # noqa: BLE001 - said to the parent
        queue.put({"rank": r, "error": repr(exc)})


def _latency(rows: list[dict[str, Any]], arm: str) -> tuple[list[float], list[float]]:
    """Per meeting: latest release minus latest arrival; latest minus earliest opening."""
    count = len(rows[0][arm][0])
    lat = [max(r[arm][0][i][1] for r in rows) - max(r[arm][0][i][0] for r in rows) for i in range(count)]
    skew = [max(r[arm][1][i] for r in rows) - min(r[arm][1][i] for r in rows) for i in range(count)]
    return lat, skew


def fleet_at(n: int, meetings: int, shared: Shared) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank, args=(r, n, port, meetings, shared, queue)) for r in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    rows = sorted((queue.get(timeout=900) for _ in procs), key=lambda x: x["rank"])
    for p in procs:
        p.join(60)
    errors = [x["error"] for x in rows if "error" in x]
    if errors:
        raise SystemExit(f"bench_fleet_scale: {n} ranks: {errors[0]}")
    new_lat, new_skew = _latency(rows, "new")
    old_lat, old_skew = _latency(rows, "old")
    warm = slice(min(2, meetings - 1), None)          # the first meetings connect (lazily)
    r0 = rows[0]
    return {
        "ranks": n, "wall_s": time.perf_counter() - t0,
        "bytes_into_rank0_per_rank": max(x["summary_bytes"] for x in rows),
        "old_bytes_into_rank0_per_rank": max(x.get("old_bytes", 0) for x in rows) or None,
        "meeting_s": statistics.median(new_lat[warm]), "old_meeting_s": statistics.median(old_lat[warm]),
        "window_skew_s": statistics.median(new_skew[warm]), "window_skew_max_s": max(new_skew[warm]),
        "old_window_skew_s": statistics.median(old_skew[warm]), "old_window_skew_max_s": max(old_skew[warm]),
        "gather_s": max(x["gather_s"] for x in rows), "old_gather_s": max(x.get("old_gather_s", 0) for x in rows),
        "fleet_file_s": r0["fleet_file_s"], "fleet_file_bytes": r0["fleet_file_bytes"],
        "group_start_s": max(x["start_s"] for x in rows), "clock_rtt_max_s": max(x["rtt_s"] for x in rows),
        "rank0_peak_rss_mb": r0["rss_after_gather_mb"], "rank0_peak_rss_after_old_gather_mb":
            r0.get("rss_after_old_gather_mb"),
    }


def _median_point(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds (the meeting times of every round kept too)."""
    out: dict[str, Any] = {}
    for k, v in runs[0].items():
        values = [r[k] for r in runs if r.get(k) is not None]
        out[k] = statistics.median(values) if values and isinstance(v, int | float) and k != "ranks" else v
    out["rounds"] = len(runs)
    out["meeting_s_per_round"] = [r["meeting_s"] for r in runs]
    out["old_meeting_s_per_round"] = [r["old_meeting_s"] for r in runs]
    return out


# --- verify ----------------------------------------------------------------------------------------
def _fit(xs: list[float], ys: list[float], f: Callable[[float], float]) -> tuple[float, float, float]:
    """(a, b, rms residual) of y = a + b f(x)."""
    fx = [f(x) for x in xs]
    mx, my = statistics.fmean(fx), statistics.fmean(ys)
    var = sum((u - mx) ** 2 for u in fx)
    b = sum((u - mx) * (y - my) for u, y in zip(fx, ys, strict=True)) / var if var else 0.0
    a = my - b * mx
    rms = math.sqrt(statistics.fmean([(a + b * u - y) ** 2 for u, y in zip(fx, ys, strict=True)]))
    return a, b, rms


def fits(points: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    xs = [float(p["ranks"]) for p in points if p.get(key) is not None]
    ys = [float(p[key]) for p in points if p.get(key) is not None]
    if len(xs) < 2:
        return None
    out: dict[str, Any] = {}
    for name, f in (("linear", lambda x: x), ("log2", math.log2)):
        a, b, rms = _fit(xs, ys, f)
        out[name] = {"a": a, "b": b, "rms": rms, "at_1000": a + b * f(1000), "at_10000": a + b * f(10000)}
    out["better"] = min(("linear", "log2"), key=lambda k: out[k]["rms"])
    by = {p["ranks"]: p[key] for p in points if p.get(key) is not None}
    if 4 in by and 64 in by and by[4]:
        out["ratio_64_vs_4"] = by[64] / by[4]
    return out


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _private_mb() -> float:
    """This process's own memory (not shared with the process it was forked from), now."""
    with open("/proc/self/smaps_rollup") as f:
        kb = sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean", "Private_Dirty")))
    return kb / 1024


def _check_and_peak(item: tuple[str, str]) -> tuple[Checked, float]:
    """A worker's check of one file, and the worker's own memory after it."""
    return check_file(item), _private_mb()


def _check_peak_mb(path: Path) -> float:
    """The most Python memory one file's check holds at once (tracemalloc)."""
    tracemalloc.start()
    check_file((str(path), path.name))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _verify_process_mb() -> float:
    """A fresh process that has imported what `benchhash verify` imports: its resident memory."""
    code = ("import resource, benchhash.review.batch, benchhash.workloads.sha256d; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _kept_bytes(kept: list[Checked]) -> float:
    """The memory one Checked takes in the gathering process (unpickled again under tracemalloc)."""
    data = [pickle.dumps(c) for c in kept]
    tracemalloc.start()
    held = [pickle.loads(d) for d in data]
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size / len(held)


def _rebuild(summaries: list[RankSummary], n: int) -> tuple[float, float]:
    """(seconds, peak MB) of the fleet built from n summaries of ranks."""
    base = summaries[1]
    assert base.fleet is not None
    many = [base.model_copy(update={"file": f"rank-{r}.json", "fleet": base.fleet.model_copy(
        update={"rank": r, "world_size": n})}) for r in range(n)]
    tracemalloc.start()
    t0 = time.perf_counter()
    fleet_of(many)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def verify_figures(quick: bool) -> dict[str, Any]:
    """Verify's figures on the rank files as a schema 6 fleet writes them (shares packed), with
    the published schema 5 files (shares listed, each hash stored) measured beside them."""
    with tempfile.TemporaryDirectory() as tmp:
        v6 = [as_v6(p, Path(tmp)) for p in RANK_FILES[:2]]      # the H100 file's seed follows v4's rule
        out = verify_of(v6, quick)
        out["published_v5"] = {k: out_v5 for k, out_v5 in verify_of(RANK_FILES, quick).items()
                               if k in ("pool", "shares_per_s_per_core", "check_peak_mb",
                                        "projection_10000_gpus_16_cores")}
    out["files"] = [{"file": str(p.relative_to(ROOT)), "shares": _shares(p),
                     "as": "repacked as schema 6" if p in RANK_FILES[:2] else "published (v5 only)"}
                    for p in RANK_FILES]
    return out


def verify_of(files: list[Path], quick: bool) -> dict[str, Any]:
    check_file((str(files[0]), files[0].name))      # imports and first-call costs, once
    copies = 3 if quick else 8
    items = [(str(p), p.name) for p in files] * copies
    shares = sum(_shares(p) for p in files) * copies
    pooled: dict[str, Any] = {}
    kept: list[Checked] = []
    worker_mb = 0.0
    for jobs in (1, 2):
        gc.collect()
        t0 = time.perf_counter()
        with Pool(jobs) as pool:
            got = list(pool.map(_check_and_peak, items))
        s = time.perf_counter() - t0
        kept = [c for c, _ in got]
        worker_mb = max([worker_mb] + [m for _, m in got]) if jobs > 1 else worker_mb
        assert all(c.verdict.status == "OK" for c in kept), [c.verdict.problems for c in kept][:1]
        pooled[f"jobs_{jobs}"] = {"files": len(items), "shares": shares, "seconds": s,
                                  "files_per_s": len(items) / s, "shares_per_s": shares / s}
    per_core = pooled["jobs_1"]["shares_per_s"]
    efficiency = pooled["jobs_1"]["seconds"] / pooled["jobs_2"]["seconds"] / 2
    per_file = _kept_bytes(kept)
    summaries = [c.summary for c in kept if c.summary is not None]
    rebuild = {str(n): _rebuild(summaries, n) for n in (1000, 10000)}
    check_mb = max(_check_peak_mb(p) for p in files)
    base_mb = _verify_process_mb()
    ideal = 10_000 * H100_SHARES / (per_core * CORES) + rebuild["10000"][0]
    worker = worker_mb + check_mb
    memory_10k = base_mb + 10_000 * per_file / 2**20 + rebuild["10000"][1] + CORES * worker
    return {
        "pool": pooled, "shares_per_s_per_core": per_core, "parallel_efficiency_2_workers": efficiency,
        "verify_process_mb": base_mb, "kept_per_file_bytes": per_file,
        "worker_private_mb": worker_mb, "check_peak_mb": check_mb,
        "fleet_rebuilt_from_summaries": {n: {"seconds": s, "peak_mb": m} for n, (s, m) in rebuild.items()},
        "projection_10000_gpus_16_cores": {
            "shares_per_gpu": H100_SHARES, "seconds": ideal, "minutes": ideal / 60,
            "minutes_at_measured_efficiency": ideal / 60 / min(1.0, efficiency), "memory_mb": memory_10k,
            "how": "10,000 GPUs x 10,000 shares / (the shares per second of one worker here, each file's "
                   "fixed cost included, x 16 independent workers) + the fleet rebuilt from 10,000 summaries; "
                   "memory: a fresh verify process + 10,000 kept results (tracemalloc) + the rebuild's peak + "
                   "16 workers, each its own memory after its checks (smaps Private) + one check's peak "
                   "(tracemalloc)"},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", default="2,4,8,16,32,64", help="comma-separated rank counts")
    ap.add_argument("--meetings", type=int, default=30, help="meetings (and windows) per rank count")
    ap.add_argument("--quick", action="store_true", help="2,4,8 ranks, 8 meetings, one repeat")
    ap.add_argument("--repeats", type=int, default=1, help="rounds over the rank counts; medians are kept")
    ap.add_argument("--no-old", action="store_true", help="leave out the old gather of whole results")
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--verify-only", action="store_true", help="only verify's figures (no fleet is forked)")
    a = ap.parse_args()
    if a.verify_only:
        print_json({"benchmark": "bench_fleet_scale", "host": platform.node(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0],
                    "verify": verify_figures(a.quick)})
        return 0
    ranks = [2, 4, 8] if a.quick and a.ranks == ap.get_default("ranks") else [int(x) for x in a.ranks.split(",")]
    meetings = 8 if a.quick else a.meetings
    shared = Shared(old=not a.no_old)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in ranks}
    for _ in range(a.repeats):                      # rounds interleaved: each sees the same machine
        for n in ranks:
            runs[n].append(fleet_at(n, meetings, shared))
            print(f"bench_fleet_scale: {n} ranks: meeting {runs[n][-1]['meeting_s'] * 1e3:.2f} ms "
                  f"(before {runs[n][-1]['old_meeting_s'] * 1e3:.2f} ms)", file=sys.stderr)
    points = [_median_point(runs[n]) for n in ranks]
    keys = ["bytes_into_rank0_per_rank", "old_bytes_into_rank0_per_rank", "meeting_s", "old_meeting_s",
            "window_skew_s", "old_window_skew_s", "gather_s", "old_gather_s", "group_start_s", "fleet_file_s",
            "rank0_peak_rss_mb"]
    out = {
        "benchmark": "bench_fleet_scale", "host": platform.node(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0],
        "payload": str(PAYLOAD.relative_to(ROOT)), "meetings": meetings, "repeats": a.repeats,
        "note": "one machine, 2 cores shared with other work: ranks beyond 2 are oversubscribed, so the "
                "meeting time and the skew at many ranks are mostly the scheduler's; not a quiet machine",
        "points": points, "fits": {k: fits(points, k) for k in keys},
    }
    if not a.skip_verify:
        out["verify"] = verify_figures(a.quick)
    print_json(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
