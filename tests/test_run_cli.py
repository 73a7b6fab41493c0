"""`benchhash run` as a user runs it: a quick CPU run writes a file that validates, Ctrl-C keeps
the finished trials, bad flags are one line and exit 2."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchhash.results import io
from benchhash.results.shares import PackedShares, unpack
from benchhash.sha256d.header import hash_to_int, sha256d
from conftest import Cli, run_cli, spawned


def check_shares(data: dict) -> int:
    """Re-hash every recorded share with hashlib; return how many there were."""
    w = next(w for w in data["workloads"] if w["workload"] == "sha256d")
    headers = [bytes.fromhex(h) for h in w["proof"]["headers"]]
    target = int(w["proof"]["share_target"], 16)
    n = 0
    for t in w["trials"]:
        assert sum(r[2] for r in t["proof"]["ranges"]) == t["work"]
        for header, nonce in unpack(PackedShares.model_validate(t["proof"]["packed_shares"])):
            digest = sha256d(headers[header][:76] + nonce.to_bytes(4, "little"))
            assert hash_to_int(digest) <= target
            n += 1
    return n


def shares_match_work(data: dict) -> None:
    """Each trial's share count is what its recorded hash count gives at the share target (a
    binomial count, within 6 standard deviations): no share lost, none invented, whatever the
    rate the machine managed."""
    w = next(w for w in data["workloads"] if w["workload"] == "sha256d")
    p = (int(w["proof"]["share_target"], 16) + 1) / 2 ** 256
    for t in w["trials"]:
        expected = t["work"] * p
        found = t["proof"]["packed_shares"]["count"]
        assert abs(found - expected) <= 6 * (expected * (1 - p)) ** 0.5 + 6, (t["work"], expected)


def test_quick_cpu_run_writes_a_valid_sealed_file(tmp_path: Path) -> None:
    from benchhash.session import QUICK, plan_seconds
    from benchhash.units import si
    proc = run_cli("run", "--quick", "--device", "cpu", "--out", str(tmp_path), "--notes", "ci")
    assert proc.returncode == 0, proc.stderr
    (path,) = tmp_path.glob("*.json")
    assert f"result written to {path}" in proc.stderr
    result, raw = io.load(path)
    assert io.integrity_problem(raw) is None
    assert result.complete and result.stopped is None and result.config.quick
    assert result.environment.notes == "ci" and result.device.kind == "cpu"
    # --quick is "a smoke run in under a minute" by its plan, not by how fast this machine is
    cfg = result.config
    assert (cfg.duration_s, cfg.trials, cfg.warmup_s) == QUICK and plan_seconds(cfg, len(result.workloads)) < 60
    (w,) = result.workloads
    assert w.workload == "sha256d" and w.unit == "hash" and len(w.trials) == 3
    assert all(t.rate == pytest.approx(t.work / t.seconds) and t.work > 0 for t in w.trials)
    assert w.stats.rate is not None and w.stats.rate.median == pytest.approx(sorted(t.rate for t in w.trials)[1])
    assert w.params["launch"]["kernel"] in ("simd", "sha-ni")       # which kernel, and why
    assert w.metrics["cpu_kernel_chosen_by"] in ("calibration", "only one")
    assert check_shares(raw) > 0
    shares_match_work(raw)
    unit = si(w.stats.rate.median, w.rate_unit).split()[-1]        # MH/s, or kH/s on a slow machine
    assert "sha256d" in proc.stdout and unit in proc.stdout


def test_sigint_leaves_a_valid_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    with spawned("run", "--device", "cpu", "--warmup", "0", "--duration", "3", "--trials", "5",
                 "--out", str(out)) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:            # stage lines arrive as the run goes
            seen.append(line)
            if "trial 2/5" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    result, raw = io.load(out)
    assert io.integrity_problem(raw) is None
    assert result.complete is False and result.stopped == "interrupted (Ctrl-C)"
    (w,) = result.workloads
    assert len(w.trials) == 1 and not w.complete and not w.validity.valid
    check_shares(raw)
    assert [p.name for p in tmp_path.iterdir()] == ["partial.json"]   # no temp files left


@pytest.mark.parametrize(("args", "needle"), [
    (["--workloads", "sha257"], "unknown workload 'sha257'"),
    (["--workloads", ","], "--workloads is empty"),
    (["--duration", "0"], "--duration"),
    (["--duration", "-3"], "--duration"),
    (["--duration", "ten"], "--duration"),
    (["--trials", "0"], "--trials"),
    (["--warmup", "-1"], "--warmup"),
    (["--idle", "-1"], "--idle"),
    (["--out", "/proc/version/x"], "is a file, not a folder"),
    (["--out", ""], "--out is empty"),
    (["--device", "tpu"], "--device must be one of"),
    (["--meter", "wattmeter"], "--meter must be one of"),
    (["--meter", "replay:/nonexistent.json"], "cannot read replay trace"),
    (["--threads", "0"], "--threads"),
])
def test_bad_flags_one_line_exit_2(args: list[str], needle: str, tmp_path: Path, cli: Cli) -> None:
    proc = cli("run", "--device", "cpu", "--quick", *(args if "--out" in args else [*args, "--out", str(tmp_path)]))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchhash: error:"), proc.stderr
    assert needle in lines[0]
    assert not list(tmp_path.glob("*.json"))


def test_quiet_verbose_and_flags_no_workload_takes(tmp_path: Path, cli: Cli) -> None:
    args = ["run", "--device", "cpu", "--duration", "0.2", "--trials", "1", "--warmup", "0",
            "--meter", "null"]
    quiet = cli("--quiet", *args, "--out", str(tmp_path / "q.json"))
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    plain = cli(*args, "--gemm-size", "512", "--out", str(tmp_path / "p.json"))
    assert plain.returncode == 0
    assert "benchhash: sha256d scan trial 1/1 (0.2 s)" in plain.stderr
    assert "benchhash: --gemm-size has no effect: no workload of this run takes it" in plain.stderr
    assert f"benchhash: result written to {tmp_path / 'p.json'}" in plain.stderr
    both = cli("--quiet", "--verbose", *args)
    assert both.returncode == 2 and "not both" in both.stderr


@contextlib.contextmanager
def cpu_hog() -> Iterator[None]:
    """A process spinning on every CPU of this machine while the block runs; killed after."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=30)


def test_a_cpu_hog_during_a_run_is_recorded_and_warned(tmp_path: Path) -> None:
    """Whatever else this machine runs, a hog on every CPU takes a good share of the trials'
    CPU time: the share is recorded and the phase warns that the machine was shared (the
    warning's absence on an idle machine is the fake probe's test, in test_runner)."""
    if not Path("/proc/stat").is_file():
        pytest.skip("no /proc/stat here: the CPU shares are None (test_runner covers that)")
    out = tmp_path / "busy.json"
    with cpu_hog():
        proc = run_cli("run", "--quick", "--device", "cpu", "--meter", "null", "--warmup", "0",
                       "--duration", "0.5", "--trials", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (w,) = io.load(out)[0].workloads
    assert w.load is not None and w.load.others_cpu_share is not None and w.load.others_cpu_share > 0
    assert w.load.load_avg_1m_after is not None
    assert any(x.startswith("the machine was shared") for x in w.validity.warnings)
    assert "the machine was shared" in proc.stdout              # under the run's table


def test_progress_shows_a_compile_by_the_last_ones_length_and_the_run_waits_for_it() -> None:
    from io import StringIO

    from rich.console import Console

    from benchhash.report.progress import RunProgress, _fraction, _time_left
    now = [100.0]
    bars = RunProgress(Console(file=StringIO(), force_terminal=True), 60.0, bars=True)
    assert bars.progress is not None
    bars.progress.get_time = lambda: now[0]
    with bars:
        run = bars.progress.tasks[0]
        bars.stage("idle baseline", 5.0)
        now[0] += 5
        bars.compiling("sha256d scan compile", 20.0)
        now[0] += 10
        stage = bars.progress.tasks[-1]
        assert _fraction(stage) == pytest.approx(0.5) and _time_left(stage) == "~10 s left"
        assert _time_left(run) == "  55 s left + compile"               # the compile is not in the plan
        now[0] += 15                                                    # past the estimate: no full bar
        assert _fraction(stage) is None and _time_left(stage) == "  25 s so far"
        bars.stage("sha256d scan trial 1/3", 2.0)
        now[0] += 4
        assert _time_left(run) == "  51 s left"
        bars.compiling("gemm fp32 compile", None)                      # never compiled here: no estimate
        now[0] += 3
        stage = bars.progress.tasks[-1]
        assert _fraction(stage) is None and _time_left(stage) == "   3 s so far"


def test_without_a_terminal_a_compile_is_a_line_with_the_last_ones_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from benchhash.report import progress
    said: list[str] = []
    monkeypatch.setattr(progress.log, "info", lambda msg, *a: said.append(msg % a))
    with progress.RunProgress(Console(), 10.0, bars=False) as lines:
        lines.compiling("sha256d scan compile", 31.04)
        lines.compiling("sha256d scan compile", 0.0012)
        lines.compiling("llm decode compile", 1234.5)
        lines.compiling("gemm fp32 compile", None)
    assert said == ["sha256d scan compile (the last one took 31 s)",
                    "sha256d scan compile (the last one took 0.0012 s)",
                    "llm decode compile (the last one took 1234 s)", "gemm fp32 compile"]


def test_out_names_a_json_file_or_a_folder_or_is_refused(tmp_path: Path, cli: Cli) -> None:
    args = ["run", "--device", "cpu", "--meter", "null", "--duration", "0.2", "--trials", "1", "--warmup", "0"]
    (tmp_path / "taken.json").mkdir()
    for out, needle in ((tmp_path / "foo.txt", "neither a .json file nor a folder"),
                        (tmp_path / "taken.json", "is a folder")):
        proc = cli(*args, "--out", str(out))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and needle in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.json"]       # foo.txt: no folder made
    assert not list((tmp_path / "taken.json").iterdir())
    named = cli(*args, "--out", str(tmp_path / "r.json"))
    assert named.returncode == 0 and (tmp_path / "r.json").is_file()
    folder = cli(*args, "--out", str(tmp_path / "runs"))
    assert folder.returncode == 0 and len(list((tmp_path / "runs").glob("*.json"))) == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_when_the_result_falls_back_to_stdout_stdout_is_that_json_alone(
        as_json: bool, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import json

    from benchhash.results import io as results_io

    def failing(path: str | Path, text: str) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(results_io, "write_atomic", failing)
    proc = cli("run", "--device", "cpu", "--meter", "null", "--duration", "0.2", "--trials", "1", "--warmup", "0",
               "--out", str(tmp_path / "r.json"), *(["--json"] if as_json else []))
    assert proc.returncode == 1 and "the result is on stdout" in proc.stderr
    printed = json.loads(proc.stdout)                   # the whole of stdout: one JSON document
    assert printed["workloads"][0]["trials"] and io.parse(printed).complete
    assert ("benchhash run" in proc.stderr) != as_json   # the table, when asked for, went to stderr


PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def digest_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest plug-in workload (tests/plugins), known to this process as an installed one is."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("BENCHHASH_WORKLOADS", "digest=digest_workload:DigestWorkload")


def test_a_plugin_workload_takes_its_options(digest_plugin: None, cli: Cli, tmp_path: Path) -> None:
    """A plug-in declares typed options and receives them from --opt; the file records them
    (the phase's params and config.options) and verifies."""
    out = tmp_path / "digest.json"
    proc = cli("run", "--device", "cpu", "--meter", "null", "--workloads", "digest", "--duration", "0.05",
               "--trials", "1", "--warmup", "0", "--opt", "digest.algorithm=blake2b", "--opt", "digest.block-bytes=128",
               "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    result, _ = io.load(out)
    (phase,) = result.workloads
    assert phase.params["algorithm"] == "blake2b" and phase.params["block_bytes"] == 128
    assert result.config.options == {"algorithm": "blake2b", "block_bytes": 128}
    assert cli("verify", str(out)).returncode == 0


@pytest.mark.parametrize(("opt", "says"), [
    ("digest.algorithm=crc32", ["digest.algorithm", "one of sha256, blake2b, md5"]),
    ("digest.block_bytes=0", ["digest.block_bytes", "greater than or equal to 1", "an integer"]),
    ("digest.colour=red", ["workload digest has no option 'colour'", "its options: digest.algorithm, "
                                                                       "digest.block_bytes"]),
    ("digest=sha256", ["is not WORKLOAD.NAME=VALUE"]),
    ("nosuch.size=1", ["unknown workload 'nosuch'"]),
    ("gemm.size=abc", ["--opt gemm.size=abc", "valid integer", "an integer: M = N = K"]),
])
def test_a_bad_option_is_one_line_exit_2(opt: str, says: list[str], digest_plugin: None, cli: Cli,
                                         tmp_path: Path) -> None:
    proc = cli("run", "--device", "cpu", "--meter", "null", "--workloads", "digest,gemm", "--opt", opt,
               "--out", str(tmp_path / "x.json"))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("benchhash: error:"), proc.stderr
    assert all(s in lines[0] for s in says), lines[0]
    assert not (tmp_path / "x.json").exists()


def test_a_flag_is_an_alias_of_its_option(cli: Cli, tmp_path: Path) -> None:
    """--gemm-size and --opt gemm.size set the same option (the same file); both at once is refused."""
    files: list[Path] = []
    for how in (["--gemm-size", "256"], ["--opt", "gemm.size=256"]):
        files.append(tmp_path / f"{len(files)}.json")
        proc = cli("run", "--device", "cpu", "--meter", "null", "--workloads", "gemm", "--duration", "0.05",
                   "--trials", "1", "--warmup", "0", *how, "--out", str(files[-1]), "--quiet")
        assert proc.returncode == 0, proc.stderr
    (a,), (b,) = (io.load(f)[0].workloads for f in files)
    assert a.params == b.params and a.params["m"] == 256
    both = cli("run", "--device", "cpu", "--workloads", "gemm", "--gemm-size", "256", "--opt", "gemm.size=512")
    assert both.returncode == 2 and "give --gemm-size or --opt gemm.size, not both" in both.stderr


def test_an_option_no_flag_reached_before(cli: Cli, tmp_path: Path) -> None:
    """llm's kv_span had no flag: --opt reaches it, and the phase records what it ran."""
    out = tmp_path / "llm.json"
    proc = cli("run", "--device", "cpu", "--meter", "null", "--workloads", "llm", "--llm-preset", "tiny",
               "--llm-phases", "decode", "--llm-batches", "1", "--duration", "0.05", "--trials", "1", "--warmup", "0",
               "--opt", "llm.kv_span=full", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    result, _ = io.load(out)
    assert result.config.options["llm_kv_span"] == "full"
    assert "kv span full" in result.workloads[0].params["launch"]


def test_info_lists_each_workloads_options(digest_plugin: None, cli: Cli) -> None:
    import json
    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    loads = {w["name"]: w for w in json.loads(proc.stdout)["workloads"]}
    assert {"sha256d", "gemm", "llm", "digest"} <= set(loads)
    options = {o["option"]: o for o in loads["digest"]["options"]}
    assert options["digest.algorithm"]["takes"] == "one of sha256, blake2b, md5: the hashlib function"
    assert options["digest.block_bytes"]["default"] == 64 and loads["digest"]["version"] == 2
    assert "llm.kv_span" in {o["option"] for o in loads["llm"]["options"]}


def test_compare_refuses_two_versions_of_a_workload(digest_plugin: None, cli: Cli, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Each phase records its workload's version; compare says a pair of two versions plainly
    and does not compare it (exit 3, a gate fails closed), as it does two methodologies."""
    from digest_workload import DigestWorkload
    files: list[Path] = []
    for version in (2, 3):
        monkeypatch.setattr(DigestWorkload, "version", version)
        files.append(tmp_path / f"v{version}.json")
        proc = cli("run", "--device", "cpu", "--meter", "null", "--workloads", "digest", "--duration", "0.05",
                   "--trials", "2", "--warmup", "0", "--out", str(files[-1]), "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert io.load(files[-1])[0].workloads[0].params["workload_version"] == version
    same = cli("compare", str(files[0]), str(files[0]))
    assert same.returncode == 0, same.stdout + same.stderr
    proc = cli("compare", str(files[0]), str(files[1]))
    assert proc.returncode == 3
    assert "digest hash: not compared, another version of workload digest (2 -> 3)" in proc.stdout
    assert "not compared: digest hash" in proc.stderr
