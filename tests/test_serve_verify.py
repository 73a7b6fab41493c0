"""A served run through the CLI on the CPU (replay meter: energy in every window), and `verify`
recomputing its serve figures from the per-request records: a TPOT percentile or a token count
edited (and the file re-sealed, as a careful forger would) is caught, and so is a TTFT below what
the device could prefill in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from benchhash.results import io
from benchhash.review.verify import verify_data, verify_file
from conftest import run_cli
from test_forgeries import reseal, restat

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("serve") / "serve.json"
    proc = run_cli("run", "--device", "cpu", "--workloads", "llm", "--llm-phases", "serve",
                   "--serve-concurrency", "2", "--serve-lengths", "8:6", "--serve-slo-ms", "100,1000",
                   "--duration", "0.6", "--trials", "2", "--warmup", "0.3",
                   "--meter", f"replay:{ROOT / 'tests' / 'data' / 'replay_h100.json'}", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, io.read_json(out)


def serve_phase(d: dict[str, Any]) -> dict[str, Any]:
    return next(w for w in d["workloads"] if w["phase"] == "serve.c2")


def test_a_served_run_verifies_and_says_what_its_records_prove(served: tuple[Path, dict[str, Any]]) -> None:
    path, data = served
    status, problems = verify_file(path)
    assert (status, problems) == ("OK", [])
    w = serve_phase(data)
    assert w["params"]["concurrency"] == 2 and w["params"]["lengths"] == "8:6"
    assert w["metrics"]["requests"] > 0 and set(w["metrics"]["slo"]) == {"100", "1000"}
    assert w["efficiency"]["unit"] == "token/J" and w["efficiency"]["joules_per_unit"] > 0   # J per output token
    assert json.loads(path.read_text())["config"]["options"]["serve_concurrency"] == [2]
    from benchhash.review.verify import verdict
    assert any("request records account for every output token" in p and "J per request" in p
               for p in verdict(path).proven)


def test_verify_catches_an_edited_tpot_percentile(served: tuple[Path, dict[str, Any]]) -> None:
    d = copy.deepcopy(served[1])
    w = serve_phase(d)
    w["metrics"]["tpot_ms_p99"] = w["metrics"]["tpot_ms_p99"] * 0.5
    problems = reseal(d)
    assert any("serve.c2: tpot_ms_p99" in p and "does not follow from its request records" in p
               for p in problems), problems


def test_verify_catches_an_edited_token_count(served: tuple[Path, dict[str, Any]]) -> None:
    """More output tokens claimed, with the rate, the per-joule figures and the statistics made
    to agree: the requests' records still add up to the old count."""
    d = copy.deepcopy(served[1])
    w = serve_phase(d)
    t = w["trials"][0]
    t["work"] += 40
    t["rate"] = t["work"] / t["seconds"]
    t["work_per_joule"] = t["work"] / t["energy"]["energy_j"]
    t["metrics"]["output_tokens"] = t["work"]
    restat(w)
    problems = reseal(d)
    assert any("trial 0: its requests produced" in p and f"the trial claims {t['work']:.0f}" in p
               for p in problems), problems


def test_verify_catches_a_ttft_below_the_prefill_bound(served: tuple[Path, dict[str, Any]]) -> None:
    d = copy.deepcopy(served[1])
    w = serve_phase(d)
    row = w["trials"][1]["proof"]["requests"][0]
    row[5] = 1e-6                                         # a TTFT of a nanosecond
    problems = reseal(d)
    assert any("TTFT 1e-06 ms is below the prefill bound of 8 tokens" in p for p in problems), problems


def test_an_unedited_copy_still_verifies(served: tuple[Path, dict[str, Any]]) -> None:
    assert reseal(copy.deepcopy(served[1])) == []
    assert verify_data(copy.deepcopy(served[1]), "copy") == []
