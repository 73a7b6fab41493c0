"""gemm and llm workloads on the CPU: correctness, accounting, size fallback, refusal, and a quick
run through the CLI."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchhash.device import Device  # noqa: E402
from benchhash.errors import InputError  # noqa: E402
from benchhash.results import io  # noqa: E402
from benchhash.results.verify import verify_file  # noqa: E402
from benchhash.workloads import create  # noqa: E402
from benchhash.workloads import gemm as gemm_mod  # noqa: E402
from conftest import run_cli  # noqa: E402

CPU = Device("cpu", 0, "test cpu")


def test_matmul_matches_numpy() -> None:
    mm = gemm_mod.MatMul(torch, "fp32", 37, 23, 41, torch.device("cpu"))
    got = mm().numpy()
    want = mm.a.numpy().astype(np.float64) @ mm.b.numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gemm_window_counts_2mnk_per_call() -> None:
    w = create("gemm", CPU, {"gemm_size": 256})
    w.setup()
    (phase,) = w.phases()
    window = phase.run(0.1, threading.Event(), 0)
    calls = window.metrics["calls"]
    assert window.work == calls * 2 * 256 ** 3 and calls >= 1
    assert phase.params() == {"dtype": "fp32", "m": 256, "n": 256, "k": 256, "sweep": False,
                              "oom_fallback_from": None}
    summary = phase.summary([window])
    assert summary["tflops"] == pytest.approx(window.rate / 1e12)
    assert "pct_of_peak_reason" in summary           # no CPU peaks in the table


def test_gemm_out_of_memory_falls_back_to_a_smaller_size(monkeypatch: pytest.MonkeyPatch) -> None:
    real = gemm_mod.MatMul

    class Tight(real):  # type: ignore[misc, valid-type]
        def __init__(self, t, dtype, m, n, k, dev):  # type: ignore[no-untyped-def]
            if max(m, n, k) > 512:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            super().__init__(t, dtype, m, n, k, dev)

    monkeypatch.setattr(gemm_mod, "MatMul", Tight)
    w = create("gemm", CPU, {"gemm_size": 2048})
    w.setup()
    (phase,) = w.phases()
    assert phase.params()["m"] == 512 and phase.params()["oom_fallback_from"] == 2048


def test_gemm_sweep_keeps_the_fastest_shape() -> None:
    w = create("gemm", CPU, {"gemm_sweep": True})
    w.setup()
    (phase,) = w.phases()
    tried = phase.summary([phase.run(0.05, threading.Event(), 0)])["sweep"]
    best = max(tried, key=lambda r: r["tflops"] or 0)
    assert [phase.shape[0], phase.shape[1], phase.shape[2]] == best["shape"]


def test_llm_phases_and_accounting() -> None:
    w = create("llm", CPU, {"llm_batches": "1,4"})
    w.setup()
    names = [p.name for p in w.phases()]
    assert names == ["prefill", "decode.b1", "decode.b4"]
    prefill, d1, d4 = w.phases()
    win = d4.run(0.2, threading.Event(), 0)
    assert win.work % 4 == 0 and win.metrics["tpot_ms"] > 0
    s = d4.summary([win])
    assert s["bytes_per_step"] > 0 and "mbu_reason" in s
    p = prefill.run(0.2, threading.Event(), 0)
    assert p.work % 64 == 0 and prefill.summary([p])["ttft_ms"] > 0


def test_preset_too_big_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.workloads.llm.workload as llm
    monkeypatch.setattr(llm, "free_memory_bytes", lambda dev: 4 * 10 ** 9)
    with pytest.raises(InputError, match="preset 8b needs about .* GB"):
        create("llm", CPU, {"llm_preset": "8b"})


@pytest.mark.parametrize(("args", "needle"), [
    (["--llm-preset", "70b"], "unknown llm preset"),
    (["--llm-batches", "0"], "--llm-batches"),
    (["--gemm-dtypes", "int4"], "--gemm-dtypes"),
    (["--gemm-size", "10"], "--gemm-size"),
])
def test_bad_tensor_options(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = run_cli("run", "--quick", "--device", "cpu", "--workloads", "gemm,llm", *args,
                   "--out", str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_quick_cpu_run_of_gemm_and_llm(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = run_cli("run", "--quick", "--device", "cpu", "--workloads", "gemm,llm",
                   "--out", str(tmp_path / "ai.json"))
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    result, _ = io.load(tmp_path / "ai.json")
    assert [(w.workload, w.phase) for w in result.workloads] == [
        ("gemm", "fp32"), ("llm", "prefill"), ("llm", "decode.b1"), ("llm", "decode.b16")]
    assert result.workloads[1].metrics["ttft_ms"] > 0
    assert result.workloads[3].metrics["context_mean"] > 64
    assert verify_file(tmp_path / "ai.json") == ("OK", [])
    assert elapsed < 60, f"quick gemm,llm took {elapsed:.0f} s"


def test_a_compiler_failure_falls_back_to_eager_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(model, **kwargs):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            raise RuntimeError("inductor exploded (simulated)")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    w = create("llm", CPU, {"llm_batches": "2"})
    w.use_compile = True
    w.setup()
    assert w.compiled
    _, decode = w.phases()
    win = decode.run(0.1, threading.Event(), 0)
    assert win.work > 0 and not w.compiled
    assert "inductor exploded" in decode.summary([win])["compile_error"]
    assert decode.params()["compiled"] is False
