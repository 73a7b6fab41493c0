"""verify --sample K: K shares a trial re-hashed, drawn from the file's digest by a rule anyone
can redo; a forged share is caught exactly when the draw falls on it; the verdict states the odds
that forged shares went unseen; full verification stays the default."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from benchhash.results import io
from benchhash.results.shares import PackedShares, pack, unpack
from benchhash.review.verify import verdict, verify_result
from benchhash.workloads.sha256d_proof import draw_indexes, sampling
from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"     # v6: 2 trials, 7,224 shares


def _forge(d: dict[str, Any], position: int) -> tuple[int, int]:
    """Trial 0's share at ``position`` replaced by a nonce just after it that is no share (its
    hash misses the target), resealed; returns the forged (header, nonce)."""
    proof = d["workloads"][0]["trials"][0]["proof"]
    pairs = unpack(PackedShares.model_validate(proof["packed_shares"]))
    header, nonce = pairs[position]
    forged = (header, nonce + 1)
    assert forged not in pairs
    pairs[position] = forged
    proof["packed_shares"] = pack(pairs).model_dump(mode="json")
    d["integrity"]["digest"] = io.digest_of(d)
    return forged


def test_the_draw_is_a_rule_anyone_can_redo() -> None:
    a = draw_indexes("ab" * 32, "sha256d scan", 0, 3000, 64)
    assert a == draw_indexes("ab" * 32, "sha256d scan", 0, 3000, 64) and len(a) == 64
    assert all(0 <= i < 3000 for i in a)
    assert a != draw_indexes("ac" * 32, "sha256d scan", 0, 3000, 64)      # another digest, another draw
    assert a != draw_indexes("ab" * 32, "sha256d scan", 1, 3000, 64)      # another trial
    assert draw_indexes("ab" * 32, "x", 0, 10, 64) == list(range(10))      # K >= n: every share


def test_a_forged_share_is_caught_exactly_when_the_draw_falls_on_it() -> None:
    raw = io.read_json(GOLDEN)
    caught = missed = 0
    for position in range(0, 3000, 150):
        d = copy.deepcopy(raw)
        forged = _forge(d, position)
        keys = unpack(PackedShares.model_validate(d["workloads"][0]["trials"][0]["proof"]["packed_shares"]))
        drawn = {keys[i] for i in draw_indexes(d["integrity"]["digest"], "sha256d scan", 0, len(keys), 16)}
        with sampling(16):
            problems = verify_result(d, "forged").problems
        hit = any("does not meet the share target" in p for p in problems)
        assert hit == (forged in drawn), (position, problems)
        caught, missed = caught + hit, missed + (not hit)
        assert verify_result(d, "forged").problems                          # full verification always finds it
    assert missed > 0                                                       # 16 of ~3,600: most go unseen


def test_sampled_verdict_states_the_odds_and_full_stays_the_default() -> None:
    full = verdict(GOLDEN)
    assert full.status == "OK" and full.unproven == [] and any("7,224 shares re-hashed" in p for p in full.proven)
    v = verdict(GOLDEN, sample=64)
    assert v.status == "OK" and any("7,224 shares (128 re-hashed" in p for p in v.proven)
    [line] = v.unproven
    assert "(1 - f)^64: 52.6 % at f = 1 %, 3.75 % at f = 5 %, 0.118 % at f = 10 %" in line
    assert "needs about 1/p tries" in line
    assert verdict(GOLDEN, sample=10_000).unproven == []                    # K above every trial's count: all


def test_sampling_an_old_file_checks_its_listed_hashes_at_the_draw(tmp_path: Path) -> None:
    v5 = ROOT / "tests" / "data" / "golden" / "v5" / "cpu-replay.json"
    v = verdict(v5, sample=32)
    assert v.status == "OK" and any("(1 - f)^32" in u for u in v.unproven)


def test_cli(cli: Cli) -> None:
    proc = cli("verify", "--sample", "64", str(GOLDEN))
    assert proc.returncode == 0 and "passes unseen with probability (1 - f)^64" in proc.stdout
    proc = cli("verify", "--sample", "0", str(GOLDEN))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--sample" in proc.stderr
