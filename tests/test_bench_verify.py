"""scripts/bench_verify.py's logic: the old loop it keeps as a baseline and today's find the same
problems on the same shares (its figures come from running it, never from tests)."""

from __future__ import annotations

import copy

from benchhash.results import io
from test_scripts import load


def test_old_and_new_loops_agree() -> None:
    bench = load("bench_verify")
    old_raw = io.read_json(bench.V5)
    old = io.parse(old_raw).workloads[0]
    new = io.load(bench.V6)[0].workloads[0]
    assert bench.old_loop(old) == bench.new_loop(new) == bench.new_loop(old, listed=True) == 0
    assert bench.rehash_only(new) == sum(len(t["proof"]["shares"]) for t in old_raw["workloads"][0]["trials"])
    forged = copy.deepcopy(old_raw)
    forged["workloads"][0]["trials"][0]["proof"]["shares"][3]["hash"] = "0" * 64
    forged["workloads"][0]["trials"][1]["proof"]["shares"][5]["nonce"] ^= 1
    w = io.parse(forged).workloads[0]
    assert bench.old_loop(w) == bench.new_loop(w, listed=True) == 2


def test_sizes_of_a_real_h100_file() -> None:
    bench = load("bench_verify")
    [h100] = [v for k, v in bench.sizes((bench.H100,)).items() if "h100" in k]
    assert h100["shares"] == 10_157
    assert h100["bytes_packed_compact"] < h100["bytes_packed_indented"] < h100["bytes_listed_compact"] \
        < h100["bytes_as_published_listed_indented"]
