"""The cuda backend without a GPU: the probe names the missing part, `--device auto` falls back
to the CPU for sha256d with the reason while an explicit `--device cuda` is refused, and the
scan loop (grid from the occupancy API, launches, overflow, sorting) runs against the kernel's
own code compiled for the host, behind a fake CuPy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchhash.errors import BackendUnavailable
from benchhash.hw.device import resolve
from benchhash.results import io
from benchhash.sha256d import cuda, scan
from benchhash.sha256d.header import GENESIS
from benchhash.sha256d.reference import ReferenceBackend
from benchhash.workloads import create
from benchhash.workloads.sha256d import Sha256dWorkload
from conftest import run_main


def test_probe_without_cupy_names_cupy() -> None:
    cuda.probe.cache_clear()
    try:
        p = cuda.probe(0)
    finally:
        cuda.probe.cache_clear()
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    assert not p.ok and list(p.steps) == ["cupy"] and "pip install" in (p.reason or "")


@pytest.mark.parametrize(("state", "failed_step", "needle"), [
    ({"driver_error": "cudaErrorInsufficientDriver"}, "gpu", "no usable CUDA driver"),
    ({"devices": 0}, "gpu", "no CUDA GPU found"),
    ({"nvrtc_error": "CuPy failed to load libnvrtc.so.12"}, "nvrtc", "NVRTC"),
    ({"compile_error": "nvrtc: error: invalid value for --gpu-architecture"}, "compile",
     "could not compile a test kernel"),
    ({"wrong_probe_result": True}, "launch", "computed wrong values"),
])
def test_probe_names_the_missing_part(fake_cupy: Any, state: dict[str, Any], failed_step: str,
                                      needle: str) -> None:
    fake_cupy(**state)
    p = cuda.probe(0)
    assert not p.ok and needle in (p.reason or "")
    assert [k for k, v in p.steps.items() if v is not None] == [failed_step]
    assert list(p.steps)[-1] == failed_step           # later steps were not tried


def test_probe_passes_and_is_cached(fake_cupy: Any) -> None:
    state = fake_cupy()
    assert cuda.probe(0).ok and cuda.probe(0).nvrtc_version == "12.9"
    state.nvrtc_error = "gone"
    assert cuda.probe(0).ok                               # once per process
    assert "cuda:3 does not exist" in (cuda.probe(3).reason or "")


def test_info_says_which_part_is_missing(fake_cupy: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fake_cupy(nvrtc_error="CuPy failed to load libnvrtc.so.12")
    code, out, err = run_main(capsys, "info", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["cuda_probe"]["cupy"] is None and data["cuda_probe"]["gpu"] is None
    assert "libnvrtc" in data["cuda_probe"]["nvrtc"]
    assert data["cuda_probe"]["compile"] == "not tried"
    assert "NVRTC" in data["backends"]["cuda"]
    code, out, _ = run_main(capsys, "info")
    assert "nvrtc FAILED" in out and "compile not tried" in out


@given(n=st.integers(1, 1 << 30), sms=st.integers(1, 200), per_sm=st.integers(1, 32))
def test_grid_covers_every_nonce_in_one_wave(n: int, sms: int, per_sm: int) -> None:
    blocks, per_thread = cuda.grid_for(n, sms, per_sm)
    assert 1 <= blocks <= sms * per_sm
    assert blocks * cuda.THREADS_PER_BLOCK * per_thread >= n               # covered
    assert blocks * cuda.THREADS_PER_BLOCK * (per_thread - 1) < n           # no idle round
    if n >= sms * per_sm * cuda.THREADS_PER_BLOCK * cuda.NONCES_PER_THREAD:
        assert blocks == sms * per_sm                                       # a full wave


def test_backend_sizes_the_grid_with_the_occupancy_api(fake_cupy: Any, host_lib: Any) -> None:
    state = fake_cupy(host_lib=host_lib, blocks_per_sm=3, sms=132, compute_capability="80")
    backend = cuda.CudaBackend(0)                   # no tuned launch for sm_80: 256 x 1
    info = backend.launch_info()
    assert "tuned_for" not in info and info["compute_capability"] == "80"
    assert info["blocks_per_sm"] == 3 and info["grid_blocks"] == 396 and info["registers"] == 79
    assert info["nvrtc_options"] == list(cuda.NVRTC_OPTIONS)
    assert state.launches == [(1, 256, 4096, 16)]      # loading ran the known-answer window
    state.launches.clear()
    result = scan(GENESIS, 2083236893 - (1 << 19), 1 << 20, backend=backend)
    assert [(h.nonce, h.hash) for h in result.hits] == [(2083236893, GENESIS.hash_hex())]
    assert result.scanned == 1 << 20 and result.backend == "cuda"
    (blocks, threads, n, per_thread), = state.launches
    assert (blocks, threads, n) == (64, 256, 1 << 20) and per_thread == 64


def test_a_launch_shape_is_compiled_for_and_launched(fake_cupy: Any, host_lib: Any) -> None:
    # what bench_kernel_gpu sweeps: other threads per block (the kernel built for them), more
    # waves per launch (fewer nonces per thread), a variant macro; the scan stays exact
    state = fake_cupy(host_lib=host_lib, blocks_per_sm=2, sms=4)
    backend = cuda.CudaBackend(0, cuda.Launch(128, 2, ("BH_PLAIN_ADDS",)))
    info = backend.launch_info()
    assert info["nvrtc_options"] == [*cuda.NVRTC_OPTIONS, "-DBH_THREADS=128", "-DBH_PLAIN_ADDS"]
    assert info["threads_per_block"] == 128 and info["grid_blocks"] == 16
    assert info["waves"] == 2 and info["defines"] == ["BH_PLAIN_ADDS"]
    state.launches.clear()
    result = scan(GENESIS, 2083236893 - (1 << 19), 1 << 20, backend=backend)
    assert [h.nonce for h in result.hits] == [2083236893]
    (blocks, threads, n, per_thread), = state.launches
    assert (blocks, threads, n) == (16, 128, 1 << 20) and per_thread == 512
    default = cuda.Launch()
    assert default.options() == cuda.NVRTC_OPTIONS and default.info() == {}   # a run's params as before


def test_a_run_uses_the_launch_tuned_for_its_gpu_and_records_it(fake_cupy: Any, host_lib: Any) -> None:
    state = fake_cupy(host_lib=host_lib, blocks_per_sm=2, sms=132, compute_capability="90")
    backend = cuda.CudaBackend(0)
    tuned = cuda.Launch(512, 4, ("BH_MIN_BLOCKS=2", "BH_SCHED_PLAIN_ADDS"))
    assert backend.shape == cuda.TUNED["90"] == tuned
    info = backend.launch_info()
    assert info["tuned_for"] == "sm_90" and info["threads_per_block"] == 512 and info["waves"] == 4
    assert info["grid_blocks"] == 132 * 2 * 4 and "-DBH_THREADS=512" in info["nvrtc_options"]
    assert info["defines"] == ["BH_MIN_BLOCKS=2", "BH_SCHED_PLAIN_ADDS"]          # the variant, recorded
    result = scan(GENESIS, 2083236893 - (1 << 20), 1 << 21, backend=backend)
    assert [h.nonce for h in result.hits] == [2083236893]
    assert {t for _, t, _, _ in state.launches} == {512}
    explicit = cuda.CudaBackend(0, cuda.Launch())   # a shape asked for is used as given, not tuned
    assert explicit.shape == cuda.Launch() and "tuned_for" not in explicit.launch_info()


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"threads": 100}, "threads per block must be"), ({"waves": 0}, "waves must be"),
    ({"defines": ("X; rm -rf",)}, r"a kernel variant is a BH_\* macro, got .X; rm -rf"),
])
def test_a_bad_launch_is_refused(kwargs: dict[str, Any], needle: str) -> None:
    from benchhash.errors import InputError
    with pytest.raises(InputError, match=needle):
        cuda.Launch(**kwargs)


@pytest.mark.parametrize("seed", range(3))
def test_backend_equals_reference(fake_cupy: Any, host_lib: Any, seed: int) -> None:
    fake_cupy(host_lib=host_lib)
    rng = np.random.default_rng(300 + seed)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    start = int(rng.integers(0, (1 << 32) - 70000))
    kwargs: dict[str, Any] = dict(target=(1 << 248) - 1, share_bits=6)
    fast = scan(header, start, 20000, backend=cuda.CudaBackend(0), **kwargs)
    slow = scan(header, start, 20000, backend=ReferenceBackend(), **kwargs)
    assert fast.hits == slow.hits and fast.shares == slow.shares and fast.shares


def test_a_full_result_buffer_is_redone_exactly_sized(fake_cupy: Any, host_lib: Any) -> None:
    state = fake_cupy(host_lib=host_lib)
    result = scan(GENESIS, 0, 3000, target=(1 << 256) - 1, backend=cuda.CudaBackend(0))
    assert [h.nonce for h in result.hits] == list(range(3000))
    assert len(state.launches[1:]) == 2                      # 3000 > 1024 slots: once more (after the known answer)


def test_a_tuned_launch_that_computes_wrong_hashes_falls_back_and_says_so(
        fake_cupy: Any, host_lib: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake_cupy(host_lib=host_lib, compute_capability="90", wrong_for_threads=512)
    backend = cuda.CudaBackend(0)
    info = backend.launch_info()
    assert backend.shape == cuda.Launch() and "tuned_for" not in info
    built = "512 threads x 4 wave(s) -DBH_MIN_BLOCKS=2 -DBH_SCHED_PLAIN_ADDS"
    assert f"{built} computed hashes that differ from hashlib's" in info["untuned_because"]
    assert "using the untuned launch (256 x 1)" in caplog.text
    result = scan(GENESIS, 2083236893 - (1 << 19), 1 << 20, backend=backend)
    assert [h.nonce for h in result.hits] == [2083236893]


def test_a_kernel_that_computes_wrong_hashes_is_not_used(fake_cupy: Any, host_lib: Any) -> None:
    fake_cupy(host_lib=host_lib, compute_capability="80", wrong_for_threads=256)
    with pytest.raises(BackendUnavailable, match="differ from hashlib's on NVIDIA H100 80GB HBM3; it is not used"):
        cuda.CudaBackend(0).load()


def _quick(*extra: str) -> list[str]:
    return ["run", "--workloads", "sha256d", "--duration", "0.2", "--trials", "1",
            "--warmup", "0", "--meter", "null", *extra]


def test_auto_falls_back_to_the_cpu_for_sha256d_with_the_reason(
        fake_cupy: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_cupy(nvrtc_error="CuPy failed to load libnvrtc.so.12")
    device = resolve("auto")
    assert device.kind == "cuda" and not device.explicit       # CuPy sees the GPU
    w = create("sha256d", device)
    assert not w.metered() and "libnvrtc" in w.notes()[0]
    code, _, err = run_main(capsys, *_quick("--device", "auto", "--out", str(tmp_path / "r.json")))
    assert code == 0, err
    result, _ = io.load(tmp_path / "r.json")
    (phase,) = result.workloads
    assert result.device.kind == "cuda" and phase.backend == "cpu"
    assert any("sha256d ran on the CPU instead" in x and "libnvrtc" in x
               for x in phase.validity.warnings)
    assert phase.efficiency.work_per_joule is None      # GPU energy says nothing of CPU work


def test_explicit_cuda_that_cannot_hash_is_one_line_exit_2(
        fake_cupy: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_cupy(nvrtc_error="CuPy failed to load libnvrtc.so.12")
    with pytest.raises(BackendUnavailable, match="sha256d on cuda:0: cuda backend: NVRTC"):
        create("sha256d", resolve("cuda"))
    code, _, err = run_main(capsys, *_quick("--device", "cuda", "--out", str(tmp_path)))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchhash: error: sha256d on cuda:0")
    assert not list(tmp_path.iterdir())


def test_scan_auto_says_why_it_is_not_on_the_gpu(fake_cupy: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake_cupy(compile_error="nvrtc: error: invalid value for --gpu-architecture (-arch)")
    code, out, err = run_main(capsys, "scan", "--header", GENESIS.hex(), "--start", "2083236890",
                              "--count", "8", "--json")
    assert code == 0, err
    assert json.loads(out)["backend"] == "cpu"
    assert "could not compile a test kernel" in err and "scanning on the CPU instead" in err


# --- an AMD GPU: CuPy's ROCm build (HIP) ----------------------------------------------------------
HIP_DEVICE = ("-D__HIP__", "-D__HIPCC__", "-D__HIP_DEVICE_COMPILE__=1", "-D__HIP_PLATFORM_AMD__=1")
NV_DEVICE = ("-D__CUDACC__", "-D__CUDA_ARCH__=900")


def preprocessed(*defines: str) -> str:
    """kernels/sha256d.cu as a compiler's device pass with these macros would see it."""
    import shutil
    import subprocess

    from benchhash.sha256d.kernel_source import kernel_path
    cpp = shutil.which("cpp")
    if cpp is None:
        pytest.skip("no C preprocessor here")
    return subprocess.run([cpp, "-P", "-x", "c++", *defines, str(kernel_path())], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.parametrize("defines", [HIP_DEVICE, HIP_DEVICE + ("-D__CUDA_ARCH__=900",)])
def test_hip_compiles_the_plain_c_path(defines: tuple[str, ...]) -> None:
    """No inline PTX and no NVIDIA-only intrinsic reaches HIP's compiler, even were __CUDA_ARCH__
    defined; the kernel entry point, its device functions and the atomic are there."""
    src = preprocessed(*defines)
    for nvidia_only in ("asm(", "mad.lo.u32", "__funnelshift_r", "__byte_perm"):
        assert nvidia_only not in src, nvidia_only
    assert "sha256d_scan" in src and "__global__" in src and "__device__" in src and "atomicAdd" in src


def test_the_nvidia_device_pass_keeps_its_imad_adds() -> None:
    src = preprocessed(*NV_DEVICE)
    assert "mad.lo.u32" in src and "__funnelshift_r" in src and "atomicAdd" in src


def _hip(fake_cupy: Any, **kw: Any) -> Any:
    import sys
    state = fake_cupy(compute_capability="90", **kw)         # gfx90a: major 9, minor 0
    sys.modules["cupy"].cuda.runtime.is_hip = True
    return state


def test_a_tuned_launch_is_for_nvidia_gpus_only(fake_cupy: Any, host_lib: Any) -> None:
    assert cuda.tuned_launch("90") == cuda.TUNED["90"]
    assert cuda.tuned_launch("90", hip=True) == cuda.Launch()
    _hip(fake_cupy, host_lib=host_lib)
    backend = cuda.CudaBackend(0)
    assert backend.shape == cuda.Launch() and not backend.tuned


def test_sha256d_falls_back_to_the_cpu_where_rocm_cannot_compile_the_kernel(
        fake_cupy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools
    _hip(fake_cupy)

    @functools.cache
    def refuse(index: int, options: tuple[str, ...] = cuda.NVRTC_OPTIONS) -> Any:
        raise RuntimeError("hiprtc: error: unknown type name\n 'u32'")

    monkeypatch.setattr(cuda, "_module", refuse)
    why = cuda.unavailable(0)
    assert why is not None and "ROCm build could not compile kernels/sha256d.cu" in why
    assert "hiprtc: error: unknown type name 'u32'" in why and "\n" not in why
    w = create("sha256d", resolve("auto"))          # the workload falls back to the CPU and says why
    assert isinstance(w, Sha256dWorkload)
    assert w.fallback == why and "sha256d ran on the CPU instead" in w.notes()[0]
    assert cuda.unavailable(0) is not None and not cuda.probe(0).reason
