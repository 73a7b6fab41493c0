"""The cuda backend against reference on a real GPU (marked gpu: skipped, saying so, without one)."""

from __future__ import annotations

import numpy as np
import pytest

from benchhash.header import GENESIS
from benchhash.sha256d import scan
from benchhash.sha256d.reference import ReferenceBackend

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda():
    from benchhash.sha256d.cuda import CudaBackend
    return CudaBackend(0)


def test_cuda_finds_genesis_in_2_20_window(cuda) -> None:
    result = scan(GENESIS, 2083236893 - (1 << 19), 1 << 20, backend=cuda)
    assert [(h.nonce, h.hash) for h in result.hits] == [(2083236893, GENESIS.hash_hex())]
    assert result.scanned == 1 << 20


@pytest.mark.parametrize("seed", range(8))
def test_cuda_equals_reference_random_headers(cuda, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    header = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()
    start = int(rng.integers(0, (1 << 32) - 70000))
    kwargs = dict(target=(1 << 248) - 1, share_bits=6)
    fast = scan(header, start, 65536, backend=cuda, **kwargs)
    slow = scan(header, start, 65536, backend=ReferenceBackend(), **kwargs)
    assert fast.hits == slow.hits and fast.shares == slow.shares


def test_cuda_overflowing_buffer_is_redone(cuda) -> None:
    result = scan(GENESIS, 0, 5000, target=(1 << 256) - 1, backend=cuda)
    assert [h.nonce for h in result.hits] == list(range(5000))


def test_cuda_range_end_of_nonce_space(cuda) -> None:
    result = scan(GENESIS, (1 << 32) - 1000, 1000, target=(1 << 250) - 1, backend=cuda)
    ref = scan(GENESIS, (1 << 32) - 1000, 1000, target=(1 << 250) - 1, backend=ReferenceBackend())
    assert result.hits == ref.hits


@pytest.mark.gpu
def test_quick_run_on_the_gpu_measures_energy_with_nvml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchhash.results import io
    from conftest import run_cli
    proc = run_cli("run", "--quick", "--device", "cuda", "--out", str(tmp_path / "gpu.json"))
    assert proc.returncode == 0, proc.stderr
    result, raw = io.load(tmp_path / "gpu.json")
    assert io.integrity_problem(raw) is None
    (w,) = result.workloads
    assert w.backend == "cuda" and w.energy.energy_j is not None and w.energy.energy_j > 0
    assert w.energy.method.startswith("nvml")
    assert any(g.measured for g in result.environment.gpus)
