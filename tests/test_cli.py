"""Bad input: one line on stderr naming the problem, exit 2, no traceback."""

from __future__ import annotations

import pytest

from benchhash.sha256d.header import GENESIS
from conftest import Cli

G = GENESIS.hex()


@pytest.mark.parametrize(("args", "needle"), [
    (["--header", "zz"], "not valid hex"),
    (["--header", G[:-2]], "80 bytes"),
    (["--header", G + "00"], "80 bytes"),
    (["--header", G, "--count", "0"], "--count must be positive"),
    (["--header", G, "--count", "-5"], "--count must be positive"),
    (["--header", G, "--start", "4294967295", "--count", "2"], "past 2^32"),
    (["--header", G, "--start", "-1", "--count", "2"], "--start"),
    (["--header", G, "--count", "ten"], "--count must be an integer"),
    (["--header", G, "--device", "tpu"], "unknown device"),
    (["--header", G, "--device", "cuda:x"], "unknown device"),
    (["--header", G, "--bits", "zz"], "--bits"),
    (["--header", G, "--target", "1", "--bits", "1d00ffff"], "not both"),
    (["--header", G, "--share-bits", "300", "--count", "5", "--device", "reference"], "share bits"),
    (["--header", G, "--threads", "0", "--count", "5", "--device", "cpu"], "--threads"),
    (["--header", G, "--nope"], "No such option"),
])
def test_bad_input_one_line_exit_2(args: list[str], needle: str, cli: Cli) -> None:
    proc = cli("scan", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("benchhash: error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_cuda_without_gpu_or_cupy_is_a_clear_error(cli: Cli) -> None:
    from conftest import has_gpu
    if has_gpu()[0]:
        pytest.skip("this machine has a GPU: the no-GPU error cannot be shown here")
    proc = cli("scan", "--header", G, "--count", "5", "--device", "cuda")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cuda" in proc.stderr and "Traceback" not in proc.stderr


def test_info_reports_backends(cli: Cli) -> None:
    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    import json
    data = json.loads(proc.stdout)
    assert data["backends"]["reference"] is None
    assert "cuda" in data["backends"]
    assert set(data["cpu"]["flags"]) >= {"sha_ni", "avx2", "avx512f"}


def test_reference_device_scans(cli: Cli) -> None:
    proc = cli("scan", "--header", G, "--start", "2083236890", "--count", "8",
                   "--device", "reference", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"nonce": 2083236893' in proc.stdout


def test_ctrl_c_during_a_scan_exits_130() -> None:
    import signal
    import time

    from conftest import spawned
    with spawned("scan", "--header", G, "--device", "cpu") as proc:
        time.sleep(3.0)      # imports and kernel load done; the 2^32 scan takes over a minute
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stderr.strip().endswith("benchhash: interrupted")
