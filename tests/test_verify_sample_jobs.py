"""verify --sample with --jobs: the sampling reaches the worker processes that check a fleet's
rank files (a context variable set in the parent does not cross into a worker by itself)."""

from __future__ import annotations

from pathlib import Path

from benchhash.review.batch import verify_paths

FLEET = Path(__file__).resolve().parents[1] / "results" / "amd-epyc" / "fleet-vm-20261204T183959Z" / "fleet.json"


def test_a_fleet_verified_by_two_workers_samples_each_rank_file() -> None:
    (sampled,) = verify_paths([str(FLEET)], jobs=2, sample=8)
    assert sampled.status == "OK", sampled.problems
    said = [u for u in sampled.unproven if "sampled: 8 shares a trial re-hashed" in u]
    assert sorted(u.split(":")[0] for u in said) == ["rank 0", "rank 1"]


def test_without_sample_every_share_is_rehashed_in_the_workers() -> None:
    (full,) = verify_paths([str(FLEET)], jobs=2)
    assert full.status == "OK", full.problems
    assert not [u for u in full.unproven if "sampled" in u]
