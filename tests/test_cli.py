"""Bad input: one line on stderr naming the problem, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

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


def test_bare_command_version_and_short_help(cli: Cli) -> None:
    bare = cli()
    assert "Usage: benchhash" in bare.stdout and bare.returncode == 0
    assert "error" not in bare.stderr
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("benchhash ")
    short = cli("-h")
    assert short.returncode == 0 and "Commands" in short.stdout


def test_scan_progress_lines_when_not_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.cli as cli_module
    lines: list[str] = []
    monkeypatch.setattr(cli_module.progress, "info", lambda msg, *a: lines.append(msg % a))
    report = cli_module._progress_lines(1 << 32, every_s=0.0)
    report(1 << 30)
    assert lines and lines[0].startswith("scanned 1,073,741,824 of 4,294,967,296 nonces (25.0 %)")


def test_run_table_shows_latency_and_says_once_that_quick_is_a_smoke_run(tmp_path: Path, cli: Cli) -> None:
    from benchhash.report.table import rows, run_table
    from benchhash.results import io
    proc = cli("run", "--quick", "--device", "cpu", "--workloads", "llm", "--llm-batches", "1",
               "--duration", "0.3", "--warmup", "0.2", "--out", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    assert "a --quick smoke run" in proc.stdout
    result, _ = io.load(tmp_path / "r.json")
    body, notes = rows(result)
    # prefill's back-to-back time is its latency, not a served TTFT (the serve phases have those)
    assert ", prefill " in body[0]["rate"] and "TTFT" not in body[0]["rate"] and "TPOT" in body[1]["rate"]
    assert not any("shorter than" in n or "did not settle" in n for n in notes)
    assert run_table(result) is not None


ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-null.json"


@pytest.mark.parametrize(("args", "hoisted"), [
    (["run", "--quick", "-v"], ["-v", "run", "--quick"]),
    (["verify", "a.json", "--quiet"], ["--quiet", "verify", "a.json"]),
    (["run", "--notes", "-v", "-q"], ["-q", "run", "--notes", "-v"]),      # --notes's value stays
    (["run", "--", "-v"], ["run", "--", "-v"]),
    (["-v", "run"], ["-v", "run"]),
    (["nosuch", "-v"], ["nosuch", "-v"]),
])
def test_verbosity_flags_after_the_command_move_before_it(args: list[str], hoisted: list[str]) -> None:
    from benchhash.cli import hoist_global_flags
    assert hoist_global_flags(args) == hoisted


def test_verbose_and_quiet_after_the_command(cli: Cli, tmp_path: Path) -> None:
    import logging
    proc = cli("verify", str(GOLDEN), "--verbose")
    assert proc.returncode == 0 and logging.getLogger("benchhash").level == logging.DEBUG
    proc = cli("verify", str(GOLDEN), "-q")
    assert proc.returncode == 0 and proc.stdout.startswith("OK")
    assert logging.getLogger("benchhash").level == logging.ERROR
    quiet = cli("run", "--device", "cpu", "--meter", "null", "--duration", "0.2", "--trials", "1", "--warmup", "0",
                "--gemm-size", "512", "--out", str(tmp_path / "q.json"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr       # not even "--gemm-size has no effect"


def test_run_dash_v_after_the_command_in_a_fresh_process(tmp_path: Path) -> None:
    from conftest import run_cli
    proc = run_cli("run", "--quick", "--device", "cpu", "--meter", "null", "--warmup", "0", "--duration", "0.2",
                   "--trials", "1", "--out", str(tmp_path / "v.json"), "-v")
    assert proc.returncode == 0, proc.stderr
    assert "No such option" not in proc.stderr and "benchhash: result written to" in proc.stderr


def test_version_is_the_installed_packages(cli: Cli) -> None:
    from benchhash import __version__
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout == f"benchhash {__version__}\n" and proc.stderr == ""


def _key(path: Path) -> Path:
    pytest.importorskip("cryptography", reason="signing needs the cryptography package")
    from test_sign import write_key
    write_key(path)
    return path


MISSING = "/nonexistent/missing.json"


@pytest.mark.parametrize("args", [
    ["verify", MISSING], ["verify", str(GOLDEN), MISSING], ["verify", str(GOLDEN), "--trusted-keys", MISSING],
    ["compare", MISSING, str(GOLDEN)], ["compare", str(GOLDEN), MISSING],
    ["merge", MISSING, "-o", "OUT"], ["report", MISSING], ["report", str(GOLDEN), MISSING, "--format", "csv"],
    ["econ", MISSING], ["econ", "--market", MISSING],
    ["sign", MISSING, "--key", "KEY"], ["sign", "COPY", "--key", MISSING],
    ["run", "--device", "cpu", "--sign", MISSING], ["run", "--device", "cpu", "--meter", f"replay:{MISSING}"],
], ids=lambda a: " ".join(x if x != str(GOLDEN) else "GOLDEN" for x in a))
def test_a_missing_file_is_exit_2_in_every_command(args: list[str], cli: Cli, tmp_path: Path) -> None:
    """Every command that reads a file says a missing one the same way: one line naming it, exit 2
    (verify included: a file that is not there is bad input, not a file that fails)."""
    swap = {"OUT": str(tmp_path / "fleet.json"), "COPY": str(tmp_path / "copy.json")}
    if "KEY" in args:
        swap["KEY"] = str(_key(tmp_path / "id_ed25519"))
    if "COPY" in args:
        Path(swap["COPY"]).write_bytes(GOLDEN.read_bytes())
    proc = cli(*[swap.get(a, a) for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchhash: error:"), proc.stderr
    assert MISSING in lines[0] and "no such file" in lines[0].lower()
    assert proc.stdout == "" and not (tmp_path / "fleet.json").exists()

def test_help_lists_the_commands_in_their_order(cli: Cli) -> None:
    """`benchhash --help` lists the commands as before the split into one module per command."""
    import re
    text = cli("--help").stdout
    names = [m for m in re.findall(r"^\W*([a-z]+)\s{2,}", text, re.M) if m in {
        "scan", "info", "run", "schema", "econ", "report", "compare", "merge", "verify", "sign"}]
    assert names == ["scan", "info", "run", "schema", "econ", "report", "compare", "merge", "verify", "sign"]


@pytest.mark.parametrize(("stop", "code", "line"), [
    (KeyboardInterrupt(), 130, "benchhash: interrupted"),
    ("SIGTERM", 143, "benchhash: interrupted (SIGTERM)"),
    ("SIGHUP", 129, "benchhash: interrupted (SIGHUP)"),
])
def test_every_command_ends_a_stop_the_same_way(stop: object, code: int, line: str, cli: Cli,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A command stopped anywhere (here verify, inside its library call) ends through the one
    interrupt path: one line naming the signal, exit 128 + its number; Typer alone would have
    made any stop a silent 130."""
    from benchhash.errors import Interrupted
    from benchhash.review import batch

    def stopped(*args: object, **kwargs: object) -> None:
        raise stop if isinstance(stop, BaseException) else Interrupted(str(stop), code)
    monkeypatch.setattr(batch, "verify_paths", stopped)
    proc = cli("verify", str(GOLDEN))
    assert proc.returncode == code and proc.stderr == line + "\n" and proc.stdout == ""


def test_sigterm_during_a_scan_exits_143() -> None:
    import signal
    import time

    from conftest import spawned
    with spawned("scan", "--header", G, "--device", "cpu") as proc:
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and stderr.strip().endswith("benchhash: interrupted (SIGTERM)")
