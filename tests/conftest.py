"""Shared fixtures: FIPS 180-4 padding, the genesis block, and GPU/nvcc availability."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def sha256_blocks(message: bytes) -> list[bytes]:
    """FIPS 180-4 padding: the message as a list of 64-byte blocks."""
    length = struct.pack(">Q", 8 * len(message))
    padded = message + b"\x80" + b"\x00" * ((55 - len(message)) % 64) + length
    return [padded[i:i + 64] for i in range(0, len(padded), 64)]


# FIPS 180-4 / NIST CSRC example digests.
FIPS_VECTORS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


def has_gpu() -> tuple[bool, str]:
    """A GPU that CuPy or torch sees (the cuda backend's own tests then fail, not skip, when
    the backend does not work on it)."""
    from benchhash.hw.cuda import probe
    p = probe(0)
    if p.steps.get("gpu", "") is None:
        return True, ""
    try:
        import torch
        if torch.cuda.is_available():
            return True, ""
    except ImportError:
        pass
    return False, p.reason or "no GPU"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ok, why = has_gpu()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped, no GPU here: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nvcc() -> str:
    path = shutil.which("nvcc")
    if path is None:
        pytest.skip("nvcc not found: CUDA kernel compile checks skipped")
    return path


@pytest.fixture(scope="session")
def host_lib_for(nvcc: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., ctypes.CDLL]:
    """host_lib_for(*macros): kernels/sha256d.cu built with those macros for the host (its test
    harness entry points), once per set of macros."""
    import numpy as np

    from benchhash.sha256d.kernel_source import kernel_path
    built: dict[tuple[str, ...], ctypes.CDLL] = {}

    def build(*defines: str) -> ctypes.CDLL:
        if defines in built:
            return built[defines]
        so = tmp_path_factory.mktemp("kernel") / "sha256d_host.so"
        proc = subprocess.run([nvcc, "-x", "cu", "-DBENCHHASH_HOST_HARNESS", *(f"-D{d}" for d in defines),
                               "--shared", "-Xcompiler", "-fPIC,-O2", "-Werror", "all-warnings", "-o", str(so),
                               str(kernel_path())], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        lib = ctypes.CDLL(str(so))
        u32p = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
        u32 = ctypes.c_uint32
        lib.bh_host_compress.argtypes = [u32p, u32p]
        lib.bh_host_scan.argtypes = [u32p, u32p, u32, u32, u32, u32p]
        lib.bh_host_scan.restype = u32
        lib.bh_host_grid_scan.argtypes = [u32p, u32p, u32, u32, u32, u32, u32, u32p]
        lib.bh_host_grid_scan.restype = u32
        built[defines] = lib
        return lib

    return build


@pytest.fixture(scope="session")
def host_lib(host_lib_for: Callable[..., ctypes.CDLL]) -> ctypes.CDLL:
    """kernels/sha256d.cu compiled for the host, as a run builds it (no variant macros)."""
    return host_lib_for()


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """install(**FakeGpuState fields) puts a fake CuPy in sys.modules and resets the cuda
    backend's per-process caches (again after the test)."""
    from benchhash.hw import cuda as hw_cuda
    from benchhash.sha256d import cuda
    from fake_cupy import FakeGpuState, make_cupy

    def install(**kwargs: Any) -> FakeGpuState:
        state = FakeGpuState(**kwargs)
        if state.host_lib is None:      # a kernel that finds nothing cannot give the known answer
            monkeypatch.setattr(cuda, "KNOWN_ANSWER", None)
        monkeypatch.setitem(sys.modules, "cupy", make_cupy(state))
        hw_cuda.probe.cache_clear()
        cuda._module.cache_clear()
        return state

    yield install
    hw_cuda.probe.cache_clear()
    cuda._module.cache_clear()


def _default_sigint() -> None:
    """In the child, before exec: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when this test process ignores it (a background job, nohup)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`benchhash ARGS` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "benchhash", *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=_default_sigint)


@contextlib.contextmanager
def spawned(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`benchhash ARGS` started in the background, as a user would start it, to be signalled;
    killed on the way out whatever the test did, so no child is ever left burning a CPU."""
    proc = subprocess.Popen([sys.executable, "-m", "benchhash", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`benchhash ARGS` in this process (for what a subprocess is not needed for):
    (exit code, stdout, stderr)."""
    from benchhash.cli import main
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`benchhash ARGS` in this process, answered like run_cli (returncode, stdout, stderr)."""
    def call(*args: str) -> subprocess.CompletedProcess[str]:
        code, out, err = run_main(capsys, *args)
        return subprocess.CompletedProcess(["benchhash", *args], code, out, err)
    return call
