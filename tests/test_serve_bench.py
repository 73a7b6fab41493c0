"""scripts/bench_serve.py and scripts/bench_decode.py on the CPU, cut short: the reports' shape and
what they compare (their figures come from running them, never from tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_scripts import _run_script


def test_bench_serve_pairs_served_with_decode_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "serve.json"
    assert _run_script("bench_serve", ["--concurrency", "2", "--lengths", "8:4", "--rounds", "2", "--duration", "0.3",
                                       "--warmup", "0", "--threads", "1", "--out", str(out)], monkeypatch) == 0
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["served"]["phase"] == "serve.c2" and row["decode_only"]["phase"] == "decode.b2"
    assert len(row["served"]["tokens_per_s"]) == len(row["decode_only"]["j_per_output_token"]) == 2   # a value a round
    if report["meter"]["name"] == "replay":              # no meter measures here: a constant power, said
        assert report["meter"]["assumed_watts"] == 100.0 and "no meter measures here" in report["meter"]["why"]
        s, d = row["served"], row["decode_only"]
        assert row["served_over_decode_j_per_token"] == pytest.approx(
            d["tokens_per_s_median"] / s["tokens_per_s_median"], rel=0.05)
    assert set(row["serve"]["slo"]) == {"50", "100", "250"} and "tpot_ms_p99" in row["serve"]


def test_bench_decode_compares_the_span_with_the_whole_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "decode.json"
    assert _run_script("bench_decode", ["--batches", "2", "--attention", "math", "--prompt", "20",
                                        "--steps-per-round", "4", "--rounds", "2", "--out", str(out)], monkeypatch) == 0
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert report["max_seq"] == 4 * 24 and row["spans"] == {"full": [96], "bucket": [32]}    # 16 at a time
    assert row["same_tokens"] and len(row["ratio_full_over_bucket_rounds"]) == 2
    assert report["median_ratio_full_over_bucket"] == row["ratio_full_over_bucket"]
