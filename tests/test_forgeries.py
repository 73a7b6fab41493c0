"""The forgeries `verify` used to accept, each made the way a skeptical forger would (figures
recomputed to stay consistent, the digest re-sealed), each now rejected for its own reason."""

from __future__ import annotations

import copy
import statistics
from pathlib import Path
from typing import Any

import pytest

from benchhash.results import io
from benchhash.review.verify import verify_data
from benchhash.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"     # energy and polled power
NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"         # no energy reading at all


def load(path: Path) -> dict[str, Any]:
    return copy.deepcopy(io.read_json(path))


def reseal(d: dict[str, Any]) -> list[str]:
    d["integrity"]["digest"] = io.digest_of(d)
    return verify_data(d, "forged")


def restat(w: dict[str, Any]) -> None:
    """Recompute a phase's statistics, energy summary and efficiency from its trials, as a
    careful forger would."""
    trials = w["trials"]
    w["stats"]["rate"] = summarize([t["rate"] for t in trials]).to_json()
    wpj = [t["work_per_joule"] for t in trials]
    watts = [t["energy"]["average_w"] for t in trials]
    w["stats"]["work_per_joule"] = summarize(wpj).to_json() if None not in wpj else None
    w["stats"]["power_w"] = summarize(watts).to_json() if None not in watts else None
    e = w["energy"]
    if e["energy_j"] is not None:
        e["energy_j"] = sum(t["energy"]["energy_j"] for t in trials)
        e["average_w"] = e["energy_j"] / sum(t["energy"]["seconds"] for t in trials)
    if None not in wpj:
        w["efficiency"]["work_per_joule"] = statistics.median(wpj)
        w["efficiency"]["joules_per_unit"] = 1 / statistics.median(wpj)


def shrink_seconds(d: dict[str, Any], factor: float) -> None:
    """Every trial's seconds (and its meter window) divided by ``factor``; rates, watts and
    statistics recomputed so that everything adds up."""
    for w in d["workloads"]:
        for t in w["trials"]:
            t["seconds"] /= factor
            t["rate"] = t["work"] / t["seconds"]
            e = t["energy"]
            e["seconds"] /= factor
            if e["energy_j"] is not None:
                e["average_w"] = e["energy_j"] / e["seconds"]
        restat(w)


def any_in(problems: list[str], needle: str) -> bool:
    return any(needle in p for p in problems)


def test_the_genuine_files_verify() -> None:
    assert verify_data(load(REPLAY), "genuine") == []
    assert verify_data(load(NULL), "genuine") == []


@pytest.mark.parametrize("factor", [10, 1000])
def test_seconds_divided_with_everything_recomputed_on_a_metered_file(factor: int) -> None:
    d = load(REPLAY)
    shrink_seconds(d, factor)
    problems = reseal(d)
    assert any_in(problems, "but polled power averaged") and any_in(problems, "power samples cannot fit")


def test_seconds_divided_by_1000_is_beyond_any_cpu() -> None:
    for path in (REPLAY, NULL):
        d = load(path)
        shrink_seconds(d, 1000)
        assert any_in(reseal(d), "is more than this device can do"), path.name


def test_seconds_divided_by_3_with_their_stamps_on_an_unmetered_cpu_is_only_a_claim() -> None:
    """Not caught, and said so: 29 MH/s per thread times 3 is still a rate a CPU can do, and
    without a meter nothing else measured the time once the wall-clock stamps are edited too.
    A signature is what makes it someone's."""
    d = load(NULL)
    w = d["workloads"][0]
    before = min(t["seconds"] for t in w["trials"])
    shrink_seconds(d, 3)
    assert any_in(reseal(d), "opened and closed")          # the stamps still say how long it took
    for t in w["trials"]:
        t["ended_unix_s"] = t["started_unix_s"] + t["seconds"]
    assert any_in(reseal(d), "follows from its trials but is not among its warnings")    # the short trial
    after = min(t["seconds"] for t in w["trials"])
    w["validity"]["warnings"] = [x.replace(f"shortest {before:.2f} s", f"shortest {after:.2f} s")
                                 for x in w["validity"]["warnings"]]
    assert reseal(d) == []


def test_a_two_core_cpu_claiming_a_petahash() -> None:
    d = load(REPLAY)
    for t in d["workloads"][0]["trials"]:
        t["rate"] = 1e15
        t["seconds"] = t["work"] / 1e15
        t["energy"]["seconds"] = t["seconds"]
        t["energy"]["energy_j"] = 1e15 * t["seconds"] / 20e12      # 20 TH/J
        t["energy"]["average_w"] = t["energy"]["energy_j"] / t["seconds"]
        t["work_per_joule"] = t["work"] / t["energy"]["energy_j"]
    restat(d["workloads"][0])
    assert any_in(reseal(d), "1.00 PH/s is more than this device can do (200 MH/s")


def test_trials_deleted_and_statistics_set_by_hand() -> None:
    d = load(REPLAY)
    w = d["workloads"][0]
    w["trials"] = w["trials"][:1]
    assert any_in(reseal(d), "marked complete with 1 of 2 trials")
    restat(w)
    assert any_in(reseal(d), "marked complete with 1 of 2 trials")
    w["stats"]["rate"]["median"] *= 1.5
    assert any_in(reseal(d), "does not follow from the trials")


def test_fewer_trials_than_configured_without_saying_incomplete() -> None:
    d = load(REPLAY)
    d["config"]["trials"] = 5
    assert any_in(reseal(d), "marked complete with 2 of 5 trials")


@pytest.mark.parametrize("what", ["no workloads", "no trials"])
def test_nothing_measured_presented_as_complete(what: str) -> None:
    d = load(NULL)
    if what == "no workloads":
        d["workloads"] = []
    else:
        d["workloads"][0]["trials"] = []
    assert any_in(reseal(d), "marked complete")


def test_energy_that_is_not_average_watts_times_seconds() -> None:
    d = load(REPLAY)
    d["workloads"][0]["trials"][0]["energy"]["average_w"] *= 0.5
    assert any_in(reseal(d), "average_w is not energy_j / seconds")


def test_work_per_joule_that_is_not_work_over_energy() -> None:
    d = load(REPLAY)
    t = d["workloads"][0]["trials"][0]
    t["work_per_joule"] *= 3
    assert any_in(reseal(d), "work_per_joule is not work/energy_j")


def test_headline_work_per_joule_edited_alone() -> None:
    d = load(REPLAY)
    d["workloads"][0]["efficiency"]["work_per_joule"] *= 10
    assert any_in(reseal(d), "efficiency.work_per_joule is not the median over the trials")


def test_counter_polled_and_gap_that_contradict_each_other() -> None:
    d = load(REPLAY)
    e = d["workloads"][0]["trials"][0]["energy"]
    e["counter_energy_j"] = e["polled_energy_j"] * 0.8
    e["gap_pct"] = 0.0
    assert any_in(reseal(d), "gap_pct does not follow from the counter and polled energies")
    d = load(REPLAY)
    d["workloads"][0]["energy"]["energy_j"] *= 0.5
    assert any_in(reseal(d), "energy.energy_j is not the sum over the trials")


def test_a_workload_name_with_a_zero_width_space_and_an_unknown_phase() -> None:
    d = load(REPLAY)
    d["workloads"][0]["workload"] = "sha256d\u200b"
    assert any_in(reseal(d), "is not a workload benchhash knows")
    d = load(REPLAY)
    d["workloads"][0]["phase"] = "scan-turbo"
    assert any_in(reseal(d), "'scan-turbo' is not a phase of sha256d")


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("finished_utc", "2020-02-01T00:00:00Z", "is before created_utc"),
    ("created_utc", "1999-01-01T00:00:00Z", "before benchhash existed"),
    ("finished_utc", "2099-01-01T00:00:00Z", "is in the future"),
])
def test_impossible_timestamps(field: str, value: str, needle: str) -> None:
    d = load(REPLAY)
    d[field] = value
    assert any_in(reseal(d), needle)


def test_more_measured_seconds_than_the_run_lasted() -> None:
    d = load(REPLAY)
    d["finished_utc"] = d["created_utc"]
    d["workloads"][0]["warmup"]["seconds"] = 30.0
    assert any_in(reseal(d), "but the run lasted 0 s")


def test_a_proof_transplanted_from_another_file() -> None:
    donor, d = load(NULL), load(REPLAY)
    d["workloads"][0]["proof"] = donor["workloads"][0]["proof"]
    assert any_in(reseal(d), "the shares come from another run")
    d = load(REPLAY)
    d["run_id"] = "0" * 32                          # the proof follows the run id too
    assert any_in(reseal(d), "the shares come from another run")
    d = load(REPLAY)
    d["workloads"][0]["proof"]["seed_rule"] = None  # and cannot opt out of being bound
    assert any_in(reseal(d), "is not bound to this file")


def test_extra_work_without_new_shares_is_caught_at_a_few_percent() -> None:
    d = load(REPLAY)
    w = d["workloads"][0]
    for t in w["trials"]:
        extra = round(0.08 * t["work"])               # 8 % more hashes, no new shares
        t["work"] += extra
        t["proof"]["ranges"][-1][2] += extra
        t["rate"] = t["work"] / t["seconds"]
        t["work_per_joule"] = t["work"] / t["energy"]["energy_j"]
    restat(w)
    problems = reseal(d)
    assert any_in(problems, "hashes claimed should give about"), problems
