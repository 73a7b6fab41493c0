"""A workload that cannot start or fails mid-run is recorded with its reason; the others are
measured, the file is written and verifies, and `benchhash run` exits 1."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from benchhash import workloads
from benchhash.results import io
from benchhash.review.verify import verify_file
from benchhash.workloads.base import Phase, Window, Workload
from conftest import run_main


class SlowPhase(Phase):
    unit = "widget"

    def __init__(self, name: str, fail_at: int | None = None) -> None:
        self.name, self.fail_at = name, fail_at

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if trial is not None and trial == self.fail_at:
            raise RuntimeError("CUDA error: an illegal memory access was encountered (simulated)")
        stop.wait(seconds)
        return Window(100.0 * seconds, seconds)


class MidRun(Workload):
    """Two phases; the first raises in its second trial."""

    name = "midrun"

    def setup(self) -> None:
        self._phases: list[Phase] = [SlowPhase("first", fail_at=1), SlowPhase("second")]

    def phases(self) -> list[Phase]:
        return self._phases


class NoStart(Workload):
    name = "nostart"

    def setup(self) -> None:
        raise RuntimeError("no loadable NVRTC (simulated)")

    def phases(self) -> list[Phase]:
        return []


class Crashes(Workload):
    name = "crashes"

    def __init__(self, device: Any, options: dict[str, Any] | None = None) -> None:
        raise ZeroDivisionError("a bug in a constructor (simulated)")

    def setup(self) -> None: ...

    def phases(self) -> list[Phase]:
        return []


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, cls in (("midrun", "MidRun"), ("nostart", "NoStart"), ("crashes", "Crashes")):
        monkeypatch.setitem(workloads.REGISTRY, name, f"test_failures:{cls}")


def test_failures_are_recorded_and_the_others_measured(registered: None, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    code, stdout, stderr = run_main(
        capsys, "run", "--device", "cpu", "--workloads", "crashes,nostart,midrun",
        "--duration", "0.05", "--trials", "2", "--warmup", "0", "--meter", "null",
        "--out", str(out))
    assert code == 1, stderr
    assert "3 failure(s), the rest was measured: crashes, nostart, midrun first" in stderr
    assert "nostart failed (setup): no loadable NVRTC (simulated)" in stderr
    result, raw = io.load(out)
    assert io.integrity_problem(raw) is None and not result.complete and result.stopped is None
    assert [(w.workload, w.phase, len(w.trials)) for w in result.workloads] == [
        ("midrun", "first", 1), ("midrun", "second", 2)]
    assert [(f.workload, f.phase, f.stage) for f in result.failures] == [
        ("crashes", None, "create"), ("nostart", None, "setup"), ("midrun", "first", "trial")]
    assert "illegal memory access" in result.failures[2].message
    assert stdout.count("failed") == 3                                    # in the final table
    assert verify_file(out) == ("OK", [])
