"""`benchhash info` says whether energy can be measured here, before anyone waits for a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchhash.meters import energy_here
from test_meters import zone


def test_rapl_zones_and_an_nvml_counter_are_named(tmp_path: Path) -> None:
    from fake_nvml import FakeGpu
    zone(tmp_path, "intel-rapl:0", "package-0", 1000)
    with FakeGpu(counter=True).installed():
        found = energy_here([0], rapl_root=tmp_path)
    assert found == [("CPU", "RAPL (package-0)", True), ("GPU 0", "NVML energy counter", True)]


def test_no_rapl_and_no_counter_say_why(tmp_path: Path) -> None:
    from fake_nvml import FakeGpu
    with FakeGpu(counter=False).installed():
        (cpu, gpu) = energy_here([0], rapl_root=tmp_path / "absent")
    assert cpu[0] == "CPU" and not cpu[2] and "does not exist" in cpu[1]
    assert gpu[2] and gpu[1].startswith("NVML polled power (energy counter unsupported")


def test_info_prints_the_energy_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from benchhash import cli
    monkeypatch.setattr("benchhash.meters.energy_here", lambda gpus, rapl_root=None: [("CPU", "no RAPL: x", False)])
    try:
        cli.main(["info", "--json"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    said = json.loads(capsys.readouterr().out)["energy"]
    assert said == [{"device": "CPU", "how": "no RAPL: x", "measurable": False}]


def test_a_run_ends_with_the_next_command_to_type() -> None:
    from benchhash.cli import next_step
    from benchhash.results import io
    root = Path(__file__).resolve().parents[1]
    measured, _ = io.load(root / "results" / "nvidia-h200" / "vm-20261204T165336Z.json")
    assert next_step("r.json", measured) == "next: benchhash verify r.json && benchhash econ r.json"
    unmetered, _ = io.load(root / "results" / "amd-epyc" / "vm-20261123T051527Z.json")
    said = next_step("c.json", unmetered)
    assert said.startswith("next: benchhash verify c.json;") and "benchhash econ --claim" in said
