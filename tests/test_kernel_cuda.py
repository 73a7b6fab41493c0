"""The CUDA kernel: compiles without warnings for sm_80/sm_90, and its code, compiled for the
host, computes FIPS vectors and scans exactly like the reference backend."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchhash.sha256d.backend import threshold_words
from benchhash.sha256d.header import GENESIS, hash_to_int
from benchhash.sha256d.kernel_source import kernel_path
from benchhash.sha256d.primitives import IV, precompute
from benchhash.sha256d.reference import ReferenceBackend
from conftest import FIPS_VECTORS, sha256_blocks


def _variant_flags(variant: str, threads: int = 512) -> list[str]:
    from benchhash.sha256d.cuda import variant_defines
    return [f"-D{d}" for d in (*variant_defines(variant), f"BH_THREADS={threads}")]


def _sweep_builds() -> list[tuple[str, int]]:
    """Each variant bench_kernel_gpu's default sweep launches, once, at the largest block it
    launches it with (the block size changes registers, not what the compiler warns about)."""
    import importlib.util
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_kernel_gpu_t", root / "scripts" / "bench_kernel_gpu.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    largest: dict[str, int] = {}
    for v, t, _ in bench.parse_configs(bench.DEFAULT_CONFIGS):
        largest[v] = max(t, largest.get(v, 0))
    return sorted(largest.items())


@pytest.mark.parametrize(("arch", "defines"), [
    ("sm_80", []), ("sm_90", []),
    *(("sm_90", _variant_flags(v, t)) for v, t in _sweep_builds()),     # what bench_kernel_gpu tries
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


@pytest.mark.parametrize("macros", [(), ("BH_NONCES=2",), ("BH_NONCES=3", "BH_SCHED_PLAIN_ADDS")],
                         ids=["one-nonce", "two-nonces", "three-nonces"])
@pytest.mark.parametrize(("n", "per_thread", "threads"), [(4001, 7, 600), (999, 3, 1000)])
def test_the_device_loop_equals_reference_for_every_nonce_count(
        host_lib_for: Callable[..., ctypes.CDLL], macros: tuple[str, ...], n: int, per_thread: int,
        threads: int) -> None:
    """The kernel's per-thread loop (bh_thread_scan), run for every thread of a launch on the
    host: odd counts, a last group of lanes cut short by n or by per_thread, threads with no
    nonce at all; each nonce found exactly once, the same as hashlib's."""
    lib = host_lib_for(*macros)
    rng = np.random.default_rng(n + per_thread)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    start = int(rng.integers(0, (1 << 32) - 5000))
    threshold = (1 << (256 - 6)) - 1
    n_cover = min(n, per_thread * threads)               # what the launch reaches (all, when it covers n)
    cap = 4096
    out = np.zeros(9 * cap, np.uint32)
    found = lib.bh_host_grid_scan(precompute(header), threshold_words(threshold), start, n, per_thread,
                                  threads, cap, out)
    rows = out[: 9 * found].reshape(found, 9)
    got = sorted((int(r[0]), r[1:].astype(">u4").tobytes()[::-1].hex()) for r in rows)
    ref, _ = ReferenceBackend().candidates(header, start, n_cover, threshold)
    assert got == [(c.nonce, c.digest[::-1].hex()) for c in ref] and len(got) > 3


def test_host_scan_of_a_two_nonce_build_finds_genesis_at_an_odd_count(
        host_lib_for: Callable[..., ctypes.CDLL]) -> None:
    found = _host_scan(host_lib_for("BH_NONCES=2"), GENESIS.to_bytes(), GENESIS.nonce - 3000, 6001, GENESIS.target)
    assert found == [(GENESIS.nonce, GENESIS.hash_hex())]


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


@pytest.mark.parametrize(("arch", "variant", "threads"), [
    ("sm_90", "imad-adds", 256), ("sm_80", "imad-adds", 256), ("compute_90", "imad-adds", 256),
    *(("sm_90", v, t) for v, t in _sweep_builds()),
])
def test_kernel_compiles_through_nvrtc_with_the_backends_options(nvrtc: ctypes.CDLL, arch: str,
                                                                  variant: str, threads: int) -> None:
    """What CuPy's RawModule does on a GPU: NVRTC with the options CudaBackend passes for a
    launch (cuda.NVRTC_OPTIONS, threads, the variant's macros) plus the device's -arch (a cubin
    for a known sm_XX, PTX for compute_XX)."""
    from benchhash.sha256d.cuda import Launch, variant_defines
    prog = ctypes.c_void_p()
    src = kernel_path().read_bytes()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"sha256d.cu", 0, None, None) == 0
    opts = [o.encode() for o in (*Launch(threads, 1, variant_defines(variant)).options(), f"-arch={arch}")]
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
