"""The CUDA kernel: compiles without warnings for sm_80/sm_90, and its code, compiled for the
host, computes FIPS vectors and scans exactly like the reference backend."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchhash.sha256d.backend import threshold_words
from benchhash.sha256d.header import GENESIS, hash_to_int
from benchhash.sha256d.kernel_source import kernel_path
from benchhash.sha256d.primitives import IV, precompute
from benchhash.sha256d.reference import ReferenceBackend
from conftest import FIPS_VECTORS, sha256_blocks


@pytest.mark.parametrize(("arch", "defines"), [
    ("sm_80", []), ("sm_90", []),
    ("sm_90", ["-DBH_PLAIN_ADDS", "-DBH_THREADS=512"]),     # the variants bench_kernel_gpu tries
])
def test_kernel_compiles_without_warnings(nvcc: str, arch: str, defines: list[str], tmp_path: Path) -> None:
    proc = subprocess.run([nvcc, f"-arch={arch}", *defines, "-cubin", "-Werror", "all-warnings",
                           "-o", str(tmp_path / "k.cubin"), str(kernel_path())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()


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


def _libnvrtc() -> ctypes.CDLL | None:
    """NVRTC as the cuda backend would load it: a pip wheel (nvidia-cuda-nvrtc) or the toolkit."""
    import ctypes.util
    import glob
    import site
    roots = [*site.getsitepackages(), site.getusersitepackages()]
    candidates = [p for r in roots for p in sorted(glob.glob(f"{r}/nvidia/*/lib/libnvrtc.so*"))]
    candidates += sorted(glob.glob("/usr/local/cuda*/lib64/libnvrtc.so*"))
    found = ctypes.util.find_library("nvrtc")
    for path in [*candidates, *([found] if found else [])]:
        if "builtins" in path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def nvrtc() -> ctypes.CDLL:
    lib = _libnvrtc()
    if lib is None:
        pytest.skip("NVRTC not found (pip install nvidia-cuda-nvrtc): NVRTC compile check skipped")
    return lib


@pytest.mark.parametrize("arch", ["sm_90", "sm_80", "compute_90"])
def test_kernel_compiles_through_nvrtc_with_the_backends_options(nvrtc: ctypes.CDLL,
                                                                  arch: str) -> None:
    """What CuPy's RawModule does on a GPU: NVRTC with cuda.NVRTC_OPTIONS plus the device's
    -arch (a cubin for a known sm_XX, PTX for compute_XX)."""
    from benchhash.sha256d.cuda import NVRTC_OPTIONS
    prog = ctypes.c_void_p()
    src = kernel_path().read_bytes()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"sha256d.cu", 0, None, None) == 0
    opts = [o.encode() for o in (*NVRTC_OPTIONS, f"-arch={arch}")]
    rc = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    assert rc == 0, log.value.decode()
    assert "warning" not in log.value.decode().lower(), log.value.decode()
    out = ctypes.c_size_t()
    getter = nvrtc.nvrtcGetCUBINSize if arch.startswith("sm_") else nvrtc.nvrtcGetPTXSize
    assert getter(prog, ctypes.byref(out)) == 0 and out.value > 1000
    nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
