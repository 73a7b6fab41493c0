"""Verify in worker processes (review/pool.py, review/batch.py): the verdicts are the same with
one worker or several, in the files' order, a fleet file's rank files go to the same workers,
each worker sends back a few kilobytes whatever the file's size, and only files that share a
header are compared share by share."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchhash.review.batch import verify_paths
from benchhash.review.fleet import overlaps
from benchhash.review.pool import Pool, check_file

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
FILES = [GOLDEN / "cpu-replay.json", ROOT / "tests" / "data" / "fleet-v1" / "fleet.json", GOLDEN / "cpu-null.json",
         ROOT / "results" / "schema" / "fleet-v2.schema.json"]


def _said(v: Any) -> tuple[str, str, list[str], list[str], list[str]]:
    return (v.path, v.status, v.problems, v.unproven, v.proven)


def test_the_verdicts_are_the_same_with_two_workers_as_with_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    paths = [str(p) for p in [*FILES, bad]]
    one, two = verify_paths(paths, jobs=1), verify_paths(paths, jobs=2)
    assert [_said(v) for v in one] == [_said(v) for v in two]
    assert [v.status for v in two] == ["OK", "OK", "OK", "SKIP", "FAIL"]
    assert "fleet digest" in two[1].proven


def test_a_worker_sends_back_kilobytes_not_the_file() -> None:
    with Pool(2) as pool:
        checked = list(pool.map(check_file, [(str(p), p.name) for p in FILES[::2]]))
    for c, path in zip(checked, FILES[::2], strict=True):
        assert c.summary is not None and c.verdict.status == "OK" and c.headers
        assert len(pickle.dumps(c)) < 8192 < path.stat().st_size


def test_only_files_that_share_a_header_are_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "copy.json"
    shutil.copy(FILES[0], copy)
    checked = [check_file((str(p), p.name)) for p in (FILES[0], copy, FILES[2])]
    assert not checked[0].headers & checked[2].headers
    read: list[str] = []
    from benchhash.results import io
    load = io.load

    def counted(path: Any) -> Any:
        read.append(Path(path).name)
        return load(path)
    monkeypatch.setattr(io, "load", counted)
    ((a, b, n),) = overlaps(checked)
    assert (a, b) == ("cpu-replay.json", "copy.json") and n > 100
    assert sorted(read) == ["copy.json", "cpu-replay.json"]          # the third file is not read again


def test_jobs_below_one_is_bad_input(cli: Any) -> None:
    r = cli("verify", str(FILES[0]), "--jobs", "0")
    assert r.returncode == 2 and r.stderr.strip() == "benchhash: error: --jobs must be at least 1, got 0"
    r = cli("verify", str(FILES[0]), str(FILES[2]), "--jobs", "2")
    assert r.returncode == 0 and r.stdout.count("OK ") == 2


def test_the_scale_bench_runs_a_small_fleet(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_fleet_scale on 2 and 3 ranks (forked, gloo on loopback): every figure is there, the
    fits name the better one, and what a rank sends rank 0 is its summary, not its file."""
    import importlib.util
    import json
    import sys
    spec = importlib.util.spec_from_file_location("script_bench_fleet_scale", ROOT / "scripts" / "bench_fleet_scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["bench_fleet_scale", "--ranks", "2,3", "--meetings", "4", "--skip-verify"])
    assert module.main() == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["ranks"] for p in report["points"]] == [2, 3]
    for p in report["points"]:
        assert p["bytes_into_rank0_per_rank"] < 1024 < p["old_bytes_into_rank0_per_rank"]
        assert p["meeting_s"] > 0 and p["window_skew_s"] >= 0 and p["gather_s"] > 0
    assert report["fits"]["meeting_s"]["better"] in ("linear", "log2")
