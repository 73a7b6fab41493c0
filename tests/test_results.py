"""Result files: golden files validate, the integrity digest catches edits, newer schemas are
refused, malformed files are one-line errors, the exported JSON Schema matches the models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from benchhash.errors import InputError, ResultFileError
from benchhash.fsutil import write_atomic
from benchhash.results import io
from benchhash.results.model import SCHEMA_VERSION, Result
from benchhash.results.paths import output_path, slug
from benchhash.review.export import FLEET_SCHEMA_FILE, SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = sorted((ROOT / "tests" / "data" / "golden").glob("*.json"))
GOLDEN_V1 = sorted((ROOT / "tests" / "data" / "golden" / "v1").glob("*.json"))
GOLDEN_V2 = sorted((ROOT / "tests" / "data" / "golden" / "v2").glob("*.json"))
GOLDEN_V3 = sorted((ROOT / "tests" / "data" / "golden" / "v3").glob("*.json"))
GOLDEN_V4 = sorted((ROOT / "tests" / "data" / "golden" / "v4").glob("*.json"))
GOLDEN_V5 = sorted((ROOT / "tests" / "data" / "golden" / "v5").glob("*.json"))


def test_there_are_golden_files() -> None:
    assert len(GOLDEN) >= 2 and all(len(old) >= 2 for old in (GOLDEN_V1, GOLDEN_V2, GOLDEN_V3, GOLDEN_V4, GOLDEN_V5))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_files_validate_and_their_digest_holds(path: Path) -> None:
    result, raw = io.load(path)
    assert io.integrity_problem(raw) is None
    # re-sealing the parsed model reproduces the stored file exactly
    assert io.seal(result) == raw
    assert result.schema_version == SCHEMA_VERSION == 6 and result.workloads


@pytest.mark.parametrize("path", GOLDEN_V1, ids=lambda p: p.name)
def test_v1_files_are_migrated_and_their_digest_still_holds(path: Path) -> None:
    result, raw = io.load(path)
    assert raw["schema_version"] == 1 and io.integrity_problem(raw) is None   # as stored
    assert result.schema_version == SCHEMA_VERSION and result.failures == []
    assert all(w.compile_s is None for w in result.workloads)
    assert "failures" not in raw                       # migrating did not touch the file's dict
    from benchhash.review.verify import verify_file
    assert verify_file(path) == ("OK", [])


@pytest.mark.parametrize("path", GOLDEN_V2, ids=lambda p: p.name)
def test_v2_files_are_migrated_and_their_digest_still_holds(path: Path) -> None:
    result, raw = io.load(path)
    assert raw["schema_version"] == 2 and io.integrity_problem(raw) is None   # as stored
    assert result.schema_version == SCHEMA_VERSION and result.config.power_limits_w == []
    assert all(w.power_limit_w is None for w in result.workloads)
    assert "power_limits_w" not in raw["config"]      # migrating did not touch the file's dict
    from benchhash.review.verify import verify_file
    assert verify_file(path) == ("OK", [])


@pytest.mark.parametrize("path", GOLDEN_V3, ids=lambda p: p.name)
def test_v3_files_are_migrated_and_their_digest_still_holds(path: Path) -> None:
    result, raw = io.load(path)
    assert raw["schema_version"] == 3 and io.integrity_problem(raw) is None   # as stored
    assert result.schema_version == SCHEMA_VERSION and all(w.load is None for w in result.workloads)
    assert all("load" not in w for w in raw["workloads"])   # migrating did not touch the file's dict
    from benchhash.review.verify import verify_file
    assert verify_file(path) == ("OK", [])


@pytest.mark.parametrize("path", GOLDEN_V4, ids=lambda p: p.name)
def test_v4_files_are_migrated_and_their_digest_still_holds(path: Path) -> None:
    result, raw = io.load(path)
    assert raw["schema_version"] == 4 and io.integrity_problem(raw) is None   # as stored
    assert result.schema_version == SCHEMA_VERSION and result.stored_version == 4
    assert all(w.binding is None for w in result.workloads) and all("binding" not in w for w in raw["workloads"])
    from benchhash.review.verify import verdict
    v = verdict(path)
    assert v.status == "OK" and v.unproven == []         # its SHA-256d proof was bound by the rule of its day
    assert any("bound to this file's run, host, device and time (schema 4's rule" in p for p in v.proven)


@pytest.mark.parametrize("path", GOLDEN_V5, ids=lambda p: p.name)
def test_v5_files_are_migrated_and_their_listed_shares_still_verify(path: Path) -> None:
    """A v5 file lists every share with its hash (v6 packs them): it is read through the
    migration and held to its own rules, its hashes checked as listed."""
    result, raw = io.load(path)
    assert raw["schema_version"] == 5 and io.integrity_problem(raw) is None
    assert result.schema_version == SCHEMA_VERSION and result.stored_version == 5
    assert all("shares" in t["proof"] and "packed_shares" not in t["proof"] for t in raw["workloads"][0]["trials"])
    from benchhash.review.verify import verdict
    v = verdict(path)
    assert v.status == "OK" and v.unproven == [] and any("shares re-hashed" in p for p in v.proven)
    edited = copy.deepcopy(raw)
    edited["workloads"][0]["trials"][0]["proof"]["shares"][0]["hash"] = "0" * 64
    edited["integrity"]["digest"] = io.digest_of(edited)
    from benchhash.review.verify import verify_data
    assert any("re-hashed to" in p for p in verify_data(edited, "x"))


def test_a_v5_file_with_packed_shares_is_a_newer_file_relabelled(tmp_path: Path) -> None:
    raw = io.read_json(GOLDEN[0])
    raw["schema_version"] = 5
    raw["integrity"]["digest"] = io.digest_of(raw)
    assert any("holds workloads[].trials[].proof.packed_shares, which schema 6 added" in p
               for p in io.anachronisms(raw))


def test_files_are_written_compact_and_pretty_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compact JSON on disk; BENCHHASH_PRETTY=1 indents; the digest covers neither whitespace."""
    result, raw = io.load(GOLDEN[0])
    monkeypatch.delenv(io.PRETTY_ENV, raising=False)
    compact = io.write(result, tmp_path / "c.json").read_text()
    monkeypatch.setenv(io.PRETTY_ENV, "1")
    pretty = io.write(result, tmp_path / "p.json").read_text()
    assert compact.count("\n") == 1 and pretty.count("\n") > 100 and len(compact) < len(pretty)
    assert json.loads(compact) == json.loads(pretty) == raw
    from benchhash.review.verify import verify_file
    assert verify_file(tmp_path / "c.json") == verify_file(tmp_path / "p.json") == ("OK", [])


@pytest.mark.parametrize("edit", [
    lambda d: d["workloads"][0]["stats"]["rate"].__setitem__("median", 1e12),
    lambda d: d["environment"].__setitem__("host", "elsewhere"),
    lambda d: d["workloads"][0]["trials"][0]["proof"]["packed_shares"].__setitem__("data", ""),
    lambda d: d["integrity"].__setitem__("digest", "0" * 64),
])
def test_any_edit_breaks_the_digest(edit) -> None:  # type: ignore[no-untyped-def]
    raw = io.read_json(GOLDEN[0])
    edited = copy.deepcopy(raw)
    edit(edited)
    io.parse(edited)                        # still a well-formed file...
    assert io.integrity_problem(edited)     # ...but not the one that was sealed


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    raw = io.read_json(GOLDEN[0])
    raw["schema_version"] = SCHEMA_VERSION + 1
    f = tmp_path / "new.json"
    f.write_text(json.dumps(raw))
    with pytest.raises(ResultFileError, match=f"schema_version {SCHEMA_VERSION + 1} is newer than this"):
        io.load(f)


@pytest.mark.parametrize(("content", "needle"), [
    ("{", "not JSON"),
    ("[]", "JSON object"),
    ('{"hello": 1}', "no integer schema_version"),
    ('{"schema_version": 0}', "not one benchhash knows"),
    ('{"schema_version": 1}', "Field required"),
])
def test_malformed_files_are_one_line_errors(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(ResultFileError) as info:
        io.load(f)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_invalid_field_names_its_location(tmp_path: Path) -> None:
    raw = io.read_json(GOLDEN[0])
    raw["workloads"][0]["trials"][0]["seconds"] = -1
    with pytest.raises(ResultFileError, match=r"workloads\.0\.trials\.0\.seconds"):
        io.parse(raw, "x.json")
    raw = io.read_json(GOLDEN[0])
    raw["surprise"] = True
    with pytest.raises(ResultFileError, match="surprise: Extra inputs"):
        io.parse(raw, "x.json")


def test_exported_schema_matches_the_models() -> None:
    stored = (ROOT / "results" / "schema" / SCHEMA_FILE).read_text()
    assert stored == schema_text(), "run: benchhash schema --out results/schema/" + SCHEMA_FILE
    fleet = (ROOT / "results" / "schema" / FLEET_SCHEMA_FILE).read_text()
    assert fleet == schema_text(fleet=True), "run: benchhash schema --fleet --out results/schema/" + FLEET_SCHEMA_FILE


def test_schema_validates_a_golden_file_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(io.read_json(GOLDEN[0]), json.loads(schema_text()))


def test_missing_energy_is_null_never_zero() -> None:
    for path in GOLDEN:
        result: Result = io.load(path)[0]
        for w in result.workloads:
            for t in w.trials:
                assert t.energy.energy_j is None or t.energy.energy_j > 0
                if t.energy.energy_j is None:
                    assert t.energy.reason


def test_default_output_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = output_path(None, "NVIDIA H100 80GB HBM3", "node7", "2026-11-21T10:15:00Z")
    assert p == Path("results/nvidia-h100-80gb-hbm3/node7-20261121T101500Z.json")
    assert output_path(str(tmp_path / "a.json"), "x", "h", "2026-01-01T00:00:00Z") == tmp_path / "a.json"
    assert output_path(str(tmp_path / "dir"), "x", "h", "2026-01-01T00:00:00Z").parent == tmp_path / "dir"
    assert slug("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz") == "intel-xeon-platinum-8480"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        output_path(str(tmp_path / "file" / "x.json"), "x", "h", "2026-01-01T00:00:00Z")


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    write_atomic(target, "ok")
    assert target.read_text() == "ok" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_every_published_result_file_still_verifies() -> None:
    """The files under results/ came from real runs (a CPU VM, an H100, a fleet, a power-cap
    sweep) by older code: today's verify must still pass each one (it once failed a fleet file
    written before phases carried their params), and must skip only scripts' outputs."""
    from benchhash.review.verify import verdict
    files = sorted((ROOT / "results").rglob("*.json"))
    verdicts = [verdict(p) for p in files]
    assert len(files) >= 20
    assert [(v.path, v.problems) for v in verdicts if v.status == "FAIL"] == []
    assert sum(v.status == "OK" for v in verdicts) >= 9
    skipped = [Path(v.path) for v in verdicts if v.status == "SKIP"]
    assert all(p.parent.name in ("bench", "schema") or "gpu-check" in p.parts or "econ" in p.name for p in skipped)
