"""scripts/profile_decode.py on the CPU: the report's shape and its arithmetic (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_profile_decode_reports_eager_steps_and_the_bytes_they_read(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_decode.py"), "--device", "cpu",
                           "--steps", "3", "--out", str(out)], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["preset"] == "tiny" and report["batch"] == 1 and list(report["parts"]) == ["eager"]
    part = report["parts"]["eager"]
    assert part["steps"] == 3 and not part["compiled"]
    assert part["device_ms_per_step"] is None                # no CUDA kernels on a CPU: None, never 0
    assert part["gb_s_over_wall"] * 1e9 * part["wall_ms_per_step"] / 1e3 == pytest.approx(part["bytes_per_step"])


def test_profile_decode_refuses_a_bad_device_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_decode.py"), "--device", "tpu:9"],
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("profile_decode: ")
