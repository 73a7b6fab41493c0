"""The CUDA kernel: compiles without warnings for sm_80/sm_90, and its code, compiled for the
host, computes FIPS vectors and scans exactly like the reference backend."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchhash.header import GENESIS, hash_to_int
from benchhash.sha256d.backend import threshold_words
from benchhash.sha256d.kernel_source import kernel_path
from benchhash.sha256d.primitives import IV, precompute
from benchhash.sha256d.reference import ReferenceBackend
from conftest import FIPS_VECTORS, sha256_blocks


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernel_compiles_without_warnings(nvcc: str, arch: str, tmp_path: Path) -> None:
    proc = subprocess.run([nvcc, f"-arch={arch}", "-cubin", "-Werror", "all-warnings",
                           "-o", str(tmp_path / "k.cubin"), str(kernel_path())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()


@pytest.fixture(scope="module")
def host_lib(nvcc: str, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    so = tmp_path_factory.mktemp("kernel") / "sha256d_host.so"
    proc = subprocess.run([nvcc, "-x", "cu", "-DBENCHHASH_HOST_HARNESS", "--shared",
                           "-Xcompiler", "-fPIC", "-Werror", "all-warnings", "-o", str(so),
                           str(kernel_path())], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lib = ctypes.CDLL(str(so))
    u32p = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
    lib.bh_host_compress.argtypes = [u32p, u32p]
    lib.bh_host_scan.argtypes = [u32p, u32p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, u32p]
    lib.bh_host_scan.restype = ctypes.c_uint32
    return lib


@pytest.mark.parametrize(("message", "expected"), FIPS_VECTORS[:4], ids=lambda v: str(len(v)))
def test_fips_vectors_through_kernel_compress(host_lib: ctypes.CDLL, message: bytes, expected: str) -> None:
    state = np.array(IV, dtype=np.uint32)
    for block in sha256_blocks(message):
        host_lib.bh_host_compress(state, np.frombuffer(block, dtype=">u4").astype(np.uint32))
    assert state.astype(">u4").tobytes().hex() == expected


def _host_scan(lib: ctypes.CDLL, header: bytes, start: int, n: int, threshold: int) -> list[tuple[int, str]]:
    cap = 4096
    out = np.zeros(9 * cap, np.uint32)
    found = lib.bh_host_scan(precompute(header), threshold_words(threshold), start, n, cap, out)
    assert found <= cap
    rows = out[: 9 * found].reshape(found, 9)
    return [(int(r[0]), r[1:].astype(">u4").tobytes()[::-1].hex()) for r in rows]


def test_kernel_code_finds_genesis(host_lib: ctypes.CDLL) -> None:
    found = _host_scan(host_lib, GENESIS.to_bytes(), 2083236893 - 3000, 6000, GENESIS.target)
    assert found == [(2083236893, GENESIS.hash_hex())]


@pytest.mark.parametrize("seed", range(5))
def test_kernel_code_equals_reference(host_lib: ctypes.CDLL, seed: int) -> None:
    rng = np.random.default_rng(seed)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    start = int(rng.integers(0, (1 << 32) - 5000))
    threshold = (1 << (256 - 7)) - 1
    found = _host_scan(host_lib, header, start, 4000, threshold)
    ref, _ = ReferenceBackend().candidates(header, start, 4000, threshold)
    assert found == [(c.nonce, c.digest[::-1].hex()) for c in ref]
    assert all(hash_to_int(hashlib.sha256(hashlib.sha256(
        header[:76] + n.to_bytes(4, "little")).digest()).digest()) <= threshold for n, _ in found)
