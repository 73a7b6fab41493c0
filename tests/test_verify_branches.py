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
from benchhash.results.fleet import FleetResult
from benchhash.results.shares import PackedShares, pack, unpack
from benchhash.review.verify import verdict, verify_data, verify_file

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"

Edit = Callable[[dict[str, Any]], None]


def _w(d: dict[str, Any]) -> dict[str, Any]:
    return d["workloads"][0]


def _t(d: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return _w(d)["trials"][i]


def _pairs(d: dict[str, Any], i: int = 0) -> list[tuple[int, int]]:
    return unpack(PackedShares.model_validate(_t(d, i)["proof"]["packed_shares"]))


def _repack(d: dict[str, Any], pairs: list[tuple[int, int]], i: int = 0) -> None:
    _t(d, i)["proof"]["packed_shares"] = pack(pairs).model_dump(mode="json")


def _replace_share(d: dict[str, Any], header: int, nonce: int) -> None:
    _repack(d, [(header, nonce), *_pairs(d)[1:]])


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    obj[key] = value


def _dup_share(d: dict[str, Any]) -> None:
    """A share of trial 1 also in trial 0 (within a trial, packing cannot hold one twice)."""
    _repack(d, _pairs(d) + _pairs(d, 1)[:1])


def _move_nonce_outside(d: dict[str, Any]) -> None:
    header, first, count = _t(d)["proof"]["ranges"][0]
    _replace_share(d, header, (first + count + 12345) % (1 << 32))


def _miss_the_target(d: dict[str, Any]) -> None:
    """A nonce in the scanned range that is no share: its hash does not meet the target."""
    header, first, _ = _t(d)["proof"]["ranges"][0]
    taken = {n for _, n in _pairs(d)}
    _replace_share(d, header, next(n for n in range(first, first + 100) if n not in taken))


def _miscount(d: dict[str, Any]) -> None:
    _t(d)["proof"]["packed_shares"]["count"] += 1


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
    ("share header", lambda d: _replace_share(d, 99, 5), "no header 99"),
    ("duplicate share", _dup_share, "duplicate share"),
    ("outside ranges", _move_nonce_outside, "nonce outside the ranges"),
    ("re-hash", _miss_the_target, "hash does not meet the share target"),
    ("packed count", _miscount, "count says"),
    ("packed data", lambda d: _set(_t(d)["proof"]["packed_shares"], "data", "AA=="), "proof is malformed"),
    ("listed shares in a v6 file", lambda d: _set(_t(d)["proof"], "shares", []), "proof is malformed"),
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
    schema = ROOT / "results" / "schema" / "result-v5.schema.json"
    assert verify_file(schema)[0] == "SKIP"
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmark": "sha256d"}))
    assert verify_file(bench) == ("SKIP", ["output of the 'sha256d' benchmark script, not a result"])
    check = tmp_path / "check.json"
    check.write_text(json.dumps({"check": "nvml_selfcheck"}))
    assert verify_file(check) == ("SKIP", ["output of the 'nvml_selfcheck' check script, not a result"])
    check.write_text(json.dumps({"check": "nvml_selfcheck", "schema_version": 3}))   # a result in disguise
    assert verify_file(check)[0] == "FAIL"
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    status, problems = verify_file(tmp_path / "bad.json")
    assert status == "FAIL" and "cannot read result file" in problems[0]


V1 = ROOT / "tests" / "data" / "fleet-v1"


def test_a_version_1_fleet_file_still_verifies_and_reads(tmp_path: Path, cli: Any) -> None:
    """merge's files from before fleet runs: verified as they are, read through a migration."""
    assert verify_file(V1 / "fleet.json") == ("OK", [])
    from benchhash.review.load import load
    f = load(V1 / "fleet.json")
    assert isinstance(f, FleetResult)
    assert not f.lockstep and [p.label for p in f.phases] == ["sha256d scan"] and len(f.ranks) == 2
    r = cli("report", str(V1 / "fleet.json"), "--format", "csv")
    assert r.returncode == 0 and "fleet: sum of per-rank medians" in r.stdout


def _v1_copy(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    for name in ("node-a.json", "node-b.json"):
        (tmp_path / name).write_bytes((V1 / name).read_bytes())
    out = tmp_path / "fleet.json"
    return out, json.loads((V1 / "fleet.json").read_text())


def test_a_version_1_fleet_file_with_a_wrong_digest_fails(tmp_path: Path) -> None:
    out, fleet = _v1_copy(tmp_path)
    fleet["totals"][0]["rate"] *= 10
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "fleet integrity digest mismatch" in problems[0]


def test_a_version_1_fleet_total_that_does_not_follow_from_its_nodes(tmp_path: Path) -> None:
    out, fleet = _v1_copy(tmp_path)
    fleet["totals"][0]["rate"] *= 2
    fleet["integrity"]["digest"] = io.digest_of(fleet)          # re-sealed
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "does not follow from its nodes" in problems[0]


def test_a_version_1_fleet_row_that_its_member_file_contradicts(tmp_path: Path) -> None:
    out, fleet = _v1_copy(tmp_path)
    row = fleet["nodes"][0]["workloads"][0]
    row["rate"] *= 3
    fleet["totals"][0]["rate"] += row["rate"] * 2 / 3          # totals kept consistent with rows
    fleet["integrity"]["digest"] = io.digest_of(fleet)
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and any("do not match the file" in p for p in problems)


def _merged(tmp_path: Path, cli: Any) -> tuple[Path, dict[str, Any]]:
    null = ROOT / "tests" / "data" / "golden" / "cpu-null.json"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(GOLDEN.read_bytes())
    b.write_bytes(null.read_bytes())
    out = tmp_path / "fleet.json"
    assert cli("merge", str(a), str(b), "-o", str(out)).returncode == 0
    assert verify_file(out) == ("OK", [])
    return out, json.loads(out.read_text())


def test_a_fleet_file_with_a_wrong_digest_fails(tmp_path: Path, cli: Any) -> None:
    out, fleet = _merged(tmp_path, cli)
    fleet["phases"][0]["rate"] *= 10
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "fleet integrity digest mismatch" in problems[0]


def test_a_fleet_figure_its_member_files_contradict(tmp_path: Path, cli: Any) -> None:
    out, fleet = _merged(tmp_path, cli)
    fleet["phases"][0]["rate"] *= 2
    fleet["integrity"]["digest"] = io.digest_of(fleet)          # re-sealed
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and "sha256d scan: rate does not follow from the rank files beside it" in problems[0]


def test_a_fleet_member_replaced_or_gone(tmp_path: Path, cli: Any) -> None:
    out, _ = _merged(tmp_path, cli)
    (tmp_path / "b.json").write_bytes(GOLDEN.read_bytes())          # another file, itself valid
    status, problems = verify_file(out)
    assert status == "FAIL" and "b.json is not the file the fleet recorded" in problems[0]
    (tmp_path / "b.json").unlink()                     # gone: the fleet's word only, refused unless accepted
    v = verdict(out)
    assert v.status == "FAIL" and "rank(s) 1: no file beside it" in v.problems[0]
    assert "--allow-unverified" in v.problems[0]
    v = verdict(out, accept_claims=True)
    assert v.status == "OK" and any("rank(s) 1: no file beside it" in c for c in v.unproven)


@pytest.mark.parametrize(("edit", "says"), [
    (lambda f: f.__setitem__("fleet_schema_version", 3), "newer than this benchhash reads"),
    (lambda f: f.__setitem__("fleet_schema_version", "2"), "not a version"),
    (lambda f: f.__setitem__("complete", True), "marked complete, but its ranks say otherwise"),
    (lambda f: f.__setitem__("missing", [0]), "do not fit the world size"),
    (lambda f: f["ranks"][1].__setitem__("rank", 0), "a rank appears twice"),
    (lambda f: f["phases"][0].__setitem__("ranks", [0, 7]), "names a rank the fleet does not have"),
    (lambda f: f["phases"][0].__setitem__("rate", -1.0), "greater than or equal to 0"),
])
def test_a_fleet_file_edited_and_resealed(tmp_path: Path, cli: Any, edit: Any, says: str) -> None:
    out, fleet = _merged(tmp_path, cli)
    edit(fleet)
    fleet["integrity"]["digest"] = io.digest_of(fleet)
    out.write_text(json.dumps(fleet))
    status, problems = verify_file(out)
    assert status == "FAIL" and says in problems[0], problems


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda p: p["shares"].append(dict(p["shares"][0])), "duplicate share"),
    (lambda p: p["shares"][1].__setitem__("header", 99), "no header 99"),
    (lambda p: p["shares"][2].__setitem__("nonce", (p["ranges"][0][1] + p["ranges"][0][2] + 7) % (1 << 32)),
     "nonce outside the ranges"),
    (lambda p: p["shares"][3].__setitem__("hash", "0" * 64), "re-hashed to"),
])
def test_a_v5_file_listing_its_shares_fails_each_check_for_its_own_reason(edit: Any, needle: str) -> None:
    """Before v6 shares are listed in any order, with hashes: the same checks, share by share."""
    d = copy.deepcopy(io.read_json(ROOT / "tests" / "data" / "golden" / "v5" / "cpu-replay.json"))
    edit(_t(d)["proof"])
    d["integrity"]["digest"] = io.digest_of(d)
    assert any(needle in p for p in verify_data(d, "x")), verify_data(d, "x")
