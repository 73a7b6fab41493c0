"""Nothing measured is lost: SIGTERM and SIGHUP stop a run as Ctrl-C does, a checkpoint after
every phase survives SIGKILL, names never collide, an existing --out FILE is kept without
--force, and a full disk ends in one line saying where the result went instead."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchhash.fsutil import cache_dir
from benchhash.results import io
from benchhash.results.model import SCHEMA_VERSION
from benchhash.results.paths import claim
from benchhash.review.verify import verdict
from conftest import Cli, spawned

FAST = ["--device", "cpu", "--meter", "null", "--warmup", "0"]


def wait_for(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Read the child's stderr until a line holds ``needle``."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError("never saw " + needle + ":\n" + "".join(seen))


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"),
                                                   (signal.SIGHUP, 129, "SIGHUP")])
def test_sigterm_and_sighup_keep_the_finished_trials(tmp_path: Path, sig: int, code: int, name: str) -> None:
    out = tmp_path / "r.json"
    with spawned("run", *FAST, "--workloads", "sha256d", "--duration", "1", "--trials", "6",
                 "--out", str(out)) as proc:
        wait_for(proc, "trial 2/6")
        time.sleep(0.3)
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=60)
    assert proc.returncode == code, rest
    assert f"interrupted ({name})" in rest
    result, _ = io.load(out)
    assert result.stopped == f"interrupted ({name})" and not result.complete
    assert len(result.workloads[0].trials) == 1
    assert verdict(out).status == "OK"


def test_sigkill_leaves_the_last_checkpoint_which_verifies(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with spawned("run", *FAST, "--workloads", "gemm,llm", "--duration", "0.3", "--trials", "2",
                 "--llm-batches", "1", "--out", str(out)) as proc:
        wait_for(proc, "llm decode.b1 compile")
        proc.kill()
        proc.communicate(timeout=60)
    result, _ = io.load(out)
    assert not result.complete and result.stopped is not None and result.stopped.startswith("checkpoint")
    assert [(w.workload, w.phase, len(w.trials)) for w in result.workloads] == [
        ("gemm", "fp32", 2), ("llm", "prefill", 2)]
    assert verdict(out).status == "OK", verdict(out).problems
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]          # no temp files left


def test_names_never_collide(tmp_path: Path) -> None:
    target = tmp_path / "host-20261123T000000Z.json"
    first = claim(target, "{}", named=False, force=False)
    second = claim(target, "{}", named=False, force=False)
    assert (first.name, second.name) == ("host-20261123T000000Z.json", "host-20261123T000000Z-1.json")


def test_two_runs_at_once_into_one_folder_keep_two_files(tmp_path: Path) -> None:
    args = ["run", *FAST, "--workloads", "sha256d", "--duration", "0.3", "--trials", "1", "--out", str(tmp_path)]
    with spawned(*args) as a, spawned(*args) as b:
        a.communicate(timeout=120)
        b.communicate(timeout=120)
    assert a.returncode == b.returncode == 0
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2 and all(verdict(f).status == "OK" for f in files)


def test_an_out_file_that_exists_needs_force(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "mine.json"
    out.write_text("precious")
    args = ["run", *FAST, "--workloads", "sha256d", "--duration", "0.2", "--trials", "1", "--out", str(out)]
    refused = cli(*args)
    assert refused.returncode == 2 and "exists; give --force" in refused.stderr
    assert out.read_text() == "precious"
    forced = cli(*args, "--force")
    assert forced.returncode == 0 and verdict(out).status == "OK"


def test_a_disk_that_fills_up_sends_the_result_to_the_cache(tmp_path: Path, cli: Cli,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake writer that raises ENOSPC for the target (the real thing follows, where a small
    tmpfs can be mounted)."""
    from benchhash.results import io as results_io
    out = tmp_path / "full" / "r.json"
    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    real = results_io.write_atomic

    def full(path: str | Path, text: str) -> Path:
        if Path(path).parent == out.parent:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(results_io, "write_atomic", full)
    proc = cli("run", *FAST, "--workloads", "sha256d", "--duration", "0.2", "--trials", "1", "--out", str(out))
    assert proc.returncode == 1
    spare = tmp_path / "cache" / "results" / "r.json"
    assert f"cannot write {out} (No space left on device); the result was written to {spare} instead" in proc.stderr
    assert "Traceback" not in proc.stderr and verdict(spare).status == "OK"
    assert proc.stderr.count("cannot checkpoint") == 1          # said once, not per phase


def test_when_nothing_can_be_written_the_result_is_on_stdout(tmp_path: Path, cli: Cli,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from benchhash.results import io as results_io
    out = tmp_path / "r.json"
    real = results_io.write_atomic
    calls = []

    def failing(path: str | Path, text: str) -> Path:
        calls.append(path)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(results_io, "write_atomic", failing)
    proc = cli("run", *FAST, "--workloads", "sha256d", "--duration", "0.2", "--trials", "1", "--out", str(out))
    monkeypatch.setattr(results_io, "write_atomic", real)
    assert proc.returncode == 1 and "the result is on stdout" in proc.stderr
    printed = json.loads(proc.stdout)            # stdout holds the JSON alone: the run's table went to stderr
    assert printed["schema_version"] == SCHEMA_VERSION and printed["workloads"][0]["trials"]
    assert "sha256d scan" in proc.stderr


def test_a_real_full_filesystem(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): the fake-writer test stands")
    try:
        (mnt / "filler").write_bytes(bytes(88 * 1024))    # 8 KiB left: less than any result (shares packed)
        env_cache = tmp_path / "cache"
        env_cache.mkdir()
        (cache_dir() / "kernels").mkdir(parents=True, exist_ok=True)
        (env_cache / "kernels").symlink_to(cache_dir() / "kernels")   # the compiled kernel, kept
        proc = subprocess.run(
            [sys.executable, "-m", "benchhash", "run", *FAST, "--workloads", "sha256d", "--duration", "0.5",
             "--trials", "2", "--out", str(mnt / "r.json")], capture_output=True, text=True, timeout=120,
            env={**os.environ, "BENCHHASH_CACHE_DIR": str(env_cache)})
        assert proc.returncode == 1, proc.stderr
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        spare = env_cache / "results" / "r.json"
        assert verdict(spare).status == "OK" and len(io.load(spare)[0].workloads[0].trials) == 2
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_temporaries_a_killed_writer_left_are_cleaned_at_the_next_start(tmp_path: Path) -> None:
    """SIGKILL leaves a write's temporary file (nothing can remove it as the writer dies); the
    next run writing into that folder removes those of dead writers on this host, and leaves a
    live writer's and another host's alone."""
    from benchhash import fsutil
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = fsutil._host()
    left = tmp_path / f".r.json.{host}.{dead.pid}.abc123.tmp"
    live = tmp_path / f".r.json.{host}.{os.getpid()}.def456.tmp"
    other = tmp_path / f".r.json.elsewhere.{dead.pid}.ghi789.tmp"
    for p in (left, live, other):
        p.write_text("{")
    claim(tmp_path / "next.json", "{}", named=True, force=False)
    assert not left.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["next.json"]


def test_sigkill_mid_write_leaves_a_temporary_the_next_run_removes(tmp_path: Path) -> None:
    code = ("import sys, time; from benchhash import fsutil; fsutil.os.fsync = lambda fd: time.sleep(60); "
            f"fsutil.write_atomic({str(tmp_path / 'r.json')!r}, 'x' * 1000)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".r.json.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert list(tmp_path.glob(".r.json.*.tmp")) and not (tmp_path / "r.json").exists()
    claim(tmp_path / "r.json", "{}", named=True, force=False)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_full_kernel_cache_compiles_without_caching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Numba's cache and the kernel's file live in benchhash's cache; when it cannot take them
    (full, read-only), the kernel is compiled in memory, said once, and the run measures."""
    from benchhash.sha256d import cpu
    from benchhash.sha256d.header import GENESIS
    from benchhash.sha256d.primitives import precompute

    def full(path: str | Path, text: str) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("BENCHHASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cpu, "write_atomic", full)
    cpu.kernel_module.cache_clear()
    try:
        module = cpu.kernel_module("simd")
    finally:
        cpu.kernel_module.cache_clear()
    assert "cannot use the kernel cache" in caplog.text and "No space left on device" in caplog.text
    assert not (tmp_path / "cache").exists()
    out = np.full(4, 7, np.uint32)
    module.h7_block(precompute(GENESIS.to_bytes()), 2083236890, 4, out)
    assert out.tolist()[3] == 0          # the genesis block's nonce: its hash ends in 32 zero bits
