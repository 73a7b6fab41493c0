"""The cuda backend against reference on a real GPU (marked gpu: skipped, saying so, without one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from benchhash.sha256d import scan
from benchhash.sha256d.header import GENESIS
from benchhash.sha256d.reference import ReferenceBackend

if TYPE_CHECKING:
    from benchhash.sha256d.cuda import CudaBackend

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", params=["run's launch", "256x1"])
def cuda(request: pytest.FixtureRequest) -> CudaBackend:
    """The launch a run uses on this GPU (tuned per compute capability) and the untuned 256 x 1."""
    from benchhash.sha256d.cuda import CudaBackend, Launch
    return CudaBackend(0, None if request.param == "run's launch" else Launch())


def test_cuda_finds_genesis_in_2_20_window(cuda: CudaBackend) -> None:
    result = scan(GENESIS, 2083236893 - (1 << 19), 1 << 20, backend=cuda)
    assert [(h.nonce, h.hash) for h in result.hits] == [(2083236893, GENESIS.hash_hex())]
    assert result.scanned == 1 << 20


@pytest.mark.parametrize("seed", range(8))
def test_cuda_equals_reference_random_headers(cuda: CudaBackend, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    start = int(rng.integers(0, (1 << 32) - 70000))
    kwargs: dict[str, Any] = dict(target=(1 << 248) - 1, share_bits=6)
    fast = scan(header, start, 65536, backend=cuda, **kwargs)
    slow = scan(header, start, 65536, backend=ReferenceBackend(), **kwargs)
    assert fast.hits == slow.hits and fast.shares == slow.shares


def test_cuda_overflowing_buffer_is_redone(cuda: CudaBackend) -> None:
    result = scan(GENESIS, 0, 5000, target=(1 << 256) - 1, backend=cuda)
    assert [h.nonce for h in result.hits] == list(range(5000))


def test_cuda_range_end_of_nonce_space(cuda: CudaBackend) -> None:
    result = scan(GENESIS, (1 << 32) - 1000, 1000, target=(1 << 250) - 1, backend=cuda)
    ref = scan(GENESIS, (1 << 32) - 1000, 1000, target=(1 << 250) - 1, backend=ReferenceBackend())
    assert result.hits == ref.hits


def _sweep_configs() -> list[tuple[str, int, int]]:
    import importlib.util
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_kernel_gpu_g", root / "scripts" / "bench_kernel_gpu.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return list(bench.parse_configs(bench.DEFAULT_CONFIGS))


@pytest.mark.parametrize(("variant", "threads", "waves"), _sweep_configs())
def test_every_kernel_variant_of_the_sweep_equals_reference(variant: str, threads: int, waves: int) -> None:
    """Each build bench_kernel_gpu times, on odd counts (a two-nonce thread's last lane cut off)
    and past 2^32 - 1: the same hits and shares as hashlib."""
    from benchhash.sha256d.cuda import CudaBackend, Launch, variant_defines
    backend = CudaBackend(0, Launch(threads, waves, variant_defines(variant)))
    rng = np.random.default_rng(threads + waves)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    for start, count in ((int(rng.integers(0, 1 << 31)), 200_003), ((1 << 32) - 70_001, 70_001)):
        kwargs: dict[str, Any] = dict(target=(1 << 248) - 1, share_bits=6)
        fast = scan(header, start, count, backend=backend, **kwargs)
        slow = scan(header, start, count, backend=ReferenceBackend(), **kwargs)
        assert fast.hits == slow.hits and fast.shares == slow.shares and fast.scanned == count


def test_probe_and_launch_shape_on_the_gpu(cuda: CudaBackend) -> None:
    from benchhash.hw.cuda import probe
    assert probe(0).ok, probe(0).steps
    info = cuda.launch_info()
    assert info["blocks_per_sm"] >= 1
    assert info["grid_blocks"] == info["sms"] * info["blocks_per_sm"] * info.get("waves", 1)
    assert info["registers"] is None or info["registers"] <= 255
    assert "untuned_because" not in info             # the tuned build gave the known answer on this GPU
    assert info["local_bytes"] in (None, 0)          # no spills to local memory (sm_90's tuned build: 48 registers)


def test_quick_run_on_the_gpu_measures_energy_with_nvml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchhash.results import io
    from conftest import run_cli
    proc = run_cli("run", "--quick", "--device", "cuda", "--workloads", "sha256d",
                   "--out", str(tmp_path / "gpu.json"))
    assert proc.returncode == 0, proc.stderr
    result, raw = io.load(tmp_path / "gpu.json")
    assert io.integrity_problem(raw) is None and not result.failures
    (w,) = result.workloads
    assert w.backend == "cuda" and w.energy.energy_j is not None and w.energy.energy_j > 0
    assert w.energy.method.startswith("nvml") and w.compile_s is not None
    assert w.params["launch"]["blocks_per_sm"] >= 1
    assert any(g.measured for g in result.environment.gpus)


@pytest.mark.gpu
def test_gemm_bf16_on_the_gpu_counts_its_flops_and_stays_under_peak() -> None:
    """What the window counts and how the summary reads it; how many TFLOP/s this GPU reaches
    is a benchmark's (gpu_check's ai stage holds the targets), not a test's: a busy GPU passes."""
    import threading

    from benchhash.hw.device import resolve
    from benchhash.workloads import create
    w = create("gemm", resolve("cuda"), {"gemm_dtypes": "bf16", "gemm_size": 4096})
    w.setup()
    (phase,) = w.phases()
    phase.compile()
    phase.run(1.0, threading.Event(), None)
    win = phase.run(2.0, threading.Event(), 0)
    s = phase.summary([win])
    assert win.metrics["calls"] >= 1 and win.work == win.metrics["calls"] * 2 * 4096 ** 3
    assert s["tflops"] == pytest.approx(win.rate / 1e12)
    if "pct_of_peak" in s:       # above the peak would be a window that missed work it timed
        assert s["pct_of_peak"] == pytest.approx(100 * s["tflops"] / s["peak_tflops"]) and s["pct_of_peak"] <= 100


@pytest.mark.gpu
def test_llm_decode_on_gpu_with_cached_decode_matching_full_forward() -> None:
    import torch

    from benchhash.workloads.llm.config import PRESETS
    from benchhash.workloads.llm.model import build
    model = build(PRESETS["tiny"], 64, torch.device("cuda"), torch.float32, seed=1)
    tokens = torch.randint(0, PRESETS["tiny"].vocab_size, (2, 40), device="cuda")
    with torch.no_grad():
        model.allocate_cache(2)
        full = model(tokens, torch.arange(40, device="cuda"))
        model.allocate_cache(2)
        parts = [model(tokens[:, :30], torch.arange(30, device="cuda"))]
        for i in range(30, 40):
            parts.append(model(tokens[:, i:i + 1], torch.tensor([i], device="cuda")))
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
def test_gemm_fp8_runs_with_fast_accumulation_where_the_gpu_has_fp8() -> None:
    import threading

    import torch

    from benchhash.hw.device import resolve
    from benchhash.workloads import create
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("this GPU has no fp8")
    w = create("gemm", resolve("cuda"), {"gemm_dtypes": "fp8", "gemm_size": 4096})
    w.setup()
    (phase,) = w.phases()
    phase.compile()
    win = phase.run(1.0, threading.Event(), 0)
    s = phase.summary([win])
    assert phase.params()["fp8_fast_accum"] is True and s["tflops"] == pytest.approx(win.rate / 1e12)
    assert win.work == win.metrics["calls"] * 2 * 4096 ** 3 and win.metrics["calls"] >= 1


@pytest.mark.gpu
def test_compiled_decode_step_with_cuda_graphs_matches_eager() -> None:
    import torch

    from benchhash.workloads.llm.config import PRESETS
    from benchhash.workloads.llm.model import build, decode_next
    c = PRESETS["tiny"]
    model = build(c, 64, torch.device("cuda"), torch.float32, seed=2)
    model.allocate_cache(4)
    step = torch.compile(decode_next, mode="reduce-overhead", fullgraph=True, dynamic=False)
    tokens = torch.randint(0, c.vocab_size, (4, 1), device="cuda")
    with torch.no_grad():
        nxt, want = tokens.clone(), []
        for i in range(8):
            nxt = decode_next(model, nxt, torch.tensor([i], device="cuda"))
            want.append(nxt.clone())
        model.allocate_cache(4)
        nxt, got = tokens.clone(), []
        pos = torch.zeros(1, dtype=torch.long, device="cuda")
        for _ in range(8):
            nxt = step(model, nxt, pos).clone()
            pos.add_(1)
            got.append(nxt)
    assert torch.equal(torch.cat(got, 1), torch.cat(want, 1))
