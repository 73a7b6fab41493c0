"""Every check `verify` makes fails for its own reason on a file edited (and re-sealed, as a forger
who knows the digest rule would) in just that way; the genuine file passes them all."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchhash.results import io
from benchhash.results.verify import verify_data, verify_file

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"

Edit = Callable[[dict[str, Any]], None]


def _w(d: dict[str, Any]) -> dict[str, Any]:
    return d["workloads"][0]


def _t(d: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return _w(d)["trials"][i]


def _share(d: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return _t(d)["proof"]["shares"][i]


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    obj[key] = value


def _dup_share(d: dict[str, Any]) -> None:
    _t(d)["proof"]["shares"].append(dict(_share(d)))


def _move_nonce_outside(d: dict[str, Any]) -> None:
    header, first, count = _t(d)["proof"]["ranges"][0]
    _share(d)["nonce"] = (first + count + 12345) % (1 << 32)


def _weak_share(d: dict[str, Any]) -> None:
    """A share re-hashed correctly but above the share target: tighten the target instead."""
    proof = _w(d)["proof"]
    proof["share_bits"] = 250
    proof["share_target"] = f"{(1 << 6) - 1:064x}"


def _triple_the_claim(d: dict[str, Any]) -> None:
    """Three times the hashes, ranges and rates made consistent, but no new shares."""
    for t in _w(d)["trials"]:
        extra = 2 * t["work"]
        t["work"] += extra
        t["rate"] = t["work"] / t["seconds"]
        t["proof"]["ranges"][0][2] += extra
    _w(d)["stats"]["rate"] = None


def _claim_no_work(d: dict[str, Any]) -> None:
    for t in _w(d)["trials"]:
        t["proof"]["ranges"] = []
        t["work"] = 0.0
        t["rate"] = 0.0


CASES: list[tuple[str, Edit, str]] = [
    ("schema", lambda d: _set(_t(d), "seconds", -1), "workloads.0.trials.0.seconds"),
    ("rate", lambda d: _set(_t(d), "rate", _t(d)["rate"] * 1.1), "is not work/seconds"),
    ("work per joule", lambda d: _set(_t(d), "work_per_joule", _t(d)["work_per_joule"] * 2),
     "work_per_joule is not work/energy_j"),
    ("statistics", lambda d: _w(d)["stats"]["rate"].__setitem__("median", 1.0),
     "stats.rate.median"),
    ("unknown workload", lambda d: _set(_w(d), "workload", "sha256d\u200b"),
     "is not a workload benchhash knows"),
    ("malformed proof", lambda d: _set(_w(d)["proof"], "headers", ["zz"]), "proof is malformed"),
    ("share target", lambda d: _set(_w(d)["proof"], "share_bits", 3), "does not match share_bits"),
    ("header rule", lambda d: _set(_w(d)["proof"], "seed", "00" * 16), "does not follow the header rule"),
    ("ranges cover", lambda d: _t(d)["proof"]["ranges"][0].__setitem__(2, _t(d)["proof"]["ranges"][0][2] + 7),
     "nonce ranges cover"),
    ("impossible range", lambda d: _t(d)["proof"]["ranges"].append([0, (1 << 32) - 1, 5]),
     "is impossible"),
    ("share header", lambda d: _set(_share(d), "header", 99), "no header 99"),
    ("duplicate share", _dup_share, "duplicate share"),
    ("outside ranges", _move_nonce_outside, "nonce outside the ranges"),
    ("re-hash", lambda d: _set(_share(d), "hash", "0" * 64), "re-hashed to"),
    ("share target met", _weak_share, "hash does not meet the share target"),
    ("hash count", _triple_the_claim, "hashes claimed should give about"),
    ("no work but shares", _claim_no_work, "no hashes claimed but"),
]


def test_the_genuine_file_passes() -> None:
    assert verify_data(io.read_json(GOLDEN), "golden") == []


@pytest.mark.parametrize(("what", "edit", "needle"), CASES, ids=[c[0] for c in CASES])
def test_each_forgery_fails_for_its_own_reason(what: str, edit: Edit, needle: str) -> None:
    d = copy.deepcopy(io.read_json(GOLDEN))
    edit(d)
    d["integrity"]["digest"] = io.digest_of(d)
    problems = verify_data(d, "x")
    assert any(needle in p for p in problems), problems


def test_an_edit_without_resealing_fails_the_digest() -> None:
    d = io.read_json(GOLDEN)
    d["environment"]["host"] = "elsewhere"
    assert any("integrity digest mismatch" in p for p in verify_data(d, "x"))


def test_verify_file_skips_what_is_not_a_result_and_fails_what_is_unreadable(tmp_path: Path) -> None:
    schema = ROOT / "results" / "schema" / "result-v2.schema.json"
    assert verify_file(schema)[0] == "SKIP"
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmark": "sha256d"}))
    assert verify_file(bench) == ("SKIP", ["output of the 'sha256d' benchmark script, not a result"])
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    status, problems = verify_file(tmp_path / "bad.json")
    assert status == "FAIL" and "cannot read result file" in problems[0]


def test_a_fleet_file_with_a_wrong_digest_fails(tmp_path: Path, cli: Any) -> None:
    out = tmp_path / "fleet.json"
    assert cli("merge", str(GOLDEN), "-o", str(out)).returncode == 0
    assert verify_file(out) == ("OK", [])
    fleet = json.loads(out.read_text())
    fleet["totals"][0]["rate"] *= 10
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "fleet integrity digest mismatch" in problems[0]


def test_a_fleet_total_that_does_not_follow_from_its_nodes(tmp_path: Path, cli: Any) -> None:
    null = ROOT / "tests" / "data" / "golden" / "cpu-null.json"
    out = tmp_path / "fleet.json"
    assert cli("merge", str(GOLDEN), str(null), "-o", str(out)).returncode == 0
    fleet = json.loads(out.read_text())
    fleet["totals"][0]["rate"] *= 2
    fleet["integrity"]["digest"] = io.digest_of(fleet)          # re-sealed
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "does not follow from its nodes" in problems[0]


def test_a_fleet_row_that_its_member_file_contradicts(tmp_path: Path, cli: Any) -> None:
    null = ROOT / "tests" / "data" / "golden" / "cpu-null.json"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(GOLDEN.read_bytes())
    b.write_bytes(null.read_bytes())
    out = tmp_path / "fleet.json"
    assert cli("merge", str(a), str(b), "-o", str(out)).returncode == 0
    fleet = json.loads(out.read_text())
    row = fleet["nodes"][0]["workloads"][0]
    row["rate"] *= 3
    fleet["totals"][0]["rate"] += row["rate"] * 2 / 3          # totals kept consistent with rows
    fleet["integrity"]["digest"] = io.digest_of(fleet)
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and any("do not match the file" in p for p in problems)
