# mypy: disable-error-code="type-abstract"
"""gemm and llm workloads on the CPU: correctness, accounting, size fallback, refusal, and a quick
run through the CLI."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchhash.errors import InputError  # noqa: E402
from benchhash.results import io  # noqa: E402
from benchhash.results.model import Device  # noqa: E402
from benchhash.review.verify import verify_file  # noqa: E402
from benchhash.workloads import create  # noqa: E402
from benchhash.workloads import gemm as gemm_mod  # noqa: E402
from benchhash.workloads.gemm import GemmPhase, GemmWorkload  # noqa: E402
from benchhash.workloads.llm.phase import LlmPhase  # noqa: E402
from benchhash.workloads.llm.serve import ServePhase  # noqa: E402
from benchhash.workloads.llm.workload import DecodePhase, LlmWorkload  # noqa: E402
from conftest import Cli  # noqa: E402
from typed import made, phases_of  # noqa: E402

CPU = Device(kind="cpu", name="test cpu")


def test_matmul_matches_numpy() -> None:
    mm = gemm_mod.MatMul(torch, "fp32", 37, 23, 41, torch.device("cpu"))
    got = mm().numpy()
    want = mm.a.numpy().astype(np.float64) @ mm.b.numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gemm_window_counts_2mnk_per_call() -> None:
    w = made(GemmWorkload, "gemm", CPU, {"gemm_size": 256})
    w.setup()
    (phase,) = phases_of(w, GemmPhase)
    assert phase.fn is None and phase.compile() and phase.fn is not None   # allocated here
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
        def __init__(self, t, dtype, m, n, k, dev, gen=None):  # type: ignore[no-untyped-def]
            if max(m, n, k) > 512:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            super().__init__(t, dtype, m, n, k, dev, gen)

    monkeypatch.setattr(gemm_mod, "MatMul", Tight)
    w = made(GemmWorkload, "gemm", CPU, {"gemm_size": 2048})
    w.setup()
    (phase,) = phases_of(w, GemmPhase)
    phase.compile()
    assert phase.params()["m"] == 512 and phase.params()["oom_fallback_from"] == 2048


def test_gemm_sweep_keeps_the_fastest_shape() -> None:
    w = made(GemmWorkload, "gemm", CPU, {"gemm_sweep": True})
    w.setup()
    (phase,) = phases_of(w, GemmPhase)
    phase.compile()
    tried = phase.summary([phase.run(0.05, threading.Event(), 0)])["sweep"]
    best = max(tried, key=lambda r: r["tflops"] or 0)
    assert [phase.shape[0], phase.shape[1], phase.shape[2]] == best["shape"]


def test_llm_phases_and_accounting() -> None:
    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "1,4"})
    w.setup()
    names = [p.name for p in w.phases()]
    assert names == ["prefill", "decode.b1", "decode.b4"]
    prefill, d1, d4 = w.phases()
    win = d4.run(0.2, threading.Event(), 0)
    assert win.work % 4 == 0 and win.metrics["tpot_ms"] > 0
    s = d4.summary([win])
    assert s["bytes_per_step"] > 0 and "mbu_reason" in s
    p = prefill.run(0.2, threading.Event(), 0)
    assert p.work % 64 == 0 and prefill.summary([p])["prefill_latency_ms"] > 0
    assert "ttft_ms" not in prefill.summary([p])          # back-to-back prefill is not a served TTFT
    assert prefill.params()["lm_head"] == "last position only"
    assert d4.params()["launch"] == "attention sdpa, kv span bucket"


def test_preset_too_big_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.workloads.llm.workload as llm
    monkeypatch.setattr(llm, "free_memory_bytes", lambda dev: 4 * 10 ** 9)
    with pytest.raises(InputError, match="preset 8b needs about .* GB"):
        made(LlmWorkload, "llm", CPU, {"llm_preset": "8b"})


@pytest.mark.parametrize(("args", "needle"), [
    (["--llm-preset", "405b"], "unknown llm preset"),
    (["--llm-batches", "0"], "--llm-batches"),
    (["--gemm-dtypes", "int4"], "--gemm-dtypes"),
    (["--gemm-size", "10"], "--gemm-size"),
])
def test_bad_tensor_options(args: list[str], needle: str, tmp_path: Path, cli: Cli) -> None:
    proc = cli("run", "--quick", "--device", "cpu", "--workloads", "gemm,llm", *args,
               "--out", str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_cpu_run_of_gemm_and_llm(tmp_path: Path, cli: Cli) -> None:
    proc = cli("run", "--device", "cpu", "--workloads", "gemm,llm", "--duration", "0.4",
               "--trials", "2", "--warmup", "0.4", "--llm-batches", "1,16", "--out", str(tmp_path / "ai.json"))
    assert proc.returncode == 0, proc.stderr
    result, _ = io.load(tmp_path / "ai.json")
    assert [(w.workload, w.phase) for w in result.workloads] == [
        ("gemm", "fp32"), ("llm", "prefill"), ("llm", "decode.b1"), ("llm", "decode.b16")]
    assert result.workloads[1].metrics["prefill_latency_ms"] > 0
    assert result.workloads[3].metrics["context_mean"] > 64
    assert all(w.compile_s is not None for w in result.workloads)     # each phase's own step
    assert result.config.options == {"gemm_sweep": False, "llm_batches": [1, 16], "no_compile": False}
    assert verify_file(tmp_path / "ai.json") == ("OK", [])


def test_a_compiler_failure_falls_back_to_eager_per_phase_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            raise RuntimeError("inductor exploded (simulated)")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "2,3"})
    w.use_compile = True
    w.setup()
    for phase in phases_of(w, LlmPhase):
        assert phase.compile()
        win = phase.run(0.1, threading.Event(), 0)
        assert win.work > 0 and phase.params()["compiled"] is False
        assert phase.params()["cuda_graphs"] is False
        (note,) = phase.notes()
        assert f"{phase.name} runs eager" in note and "inductor exploded" in note


def test_compile_step_runs_under_tuned_config_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def recording_compile(fn, **kwargs):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            seen.append((kwargs.get("mode"), kwargs.get("fullgraph"),
                         torch._inductor.config.coordinate_descent_tuning,
                         torch._dynamo.config.recompile_limit))
            return fn(*args)
        return call

    monkeypatch.setattr(torch, "compile", recording_compile)
    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "2"})
    w.use_compile = True
    w.setup()
    prefill, decode = phases_of(w, LlmPhase)
    assert prefill.compile() and decode.compile()
    assert prefill.params()["compiled"] and decode.params()["compiled"]
    assert (None, True, True, 1024) in seen and ("reduce-overhead", True, True, 1024) in seen
    assert torch._inductor.config.coordinate_descent_tuning is False
    assert torch._dynamo.config.recompile_limit == 8


@pytest.mark.parametrize("phases", ["decode", "serve"])
def test_the_compile_step_calls_every_shape_the_windows_will(phases: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled, a decode step takes one CUDA graph per attended span and a prefill one compile
    per prompt bucket: the compile step must call each shape a window will, or the capture
    would fall inside an energy window. Spans are marked dynamic: one compile serves them all."""
    seen: dict[str, set[tuple[int, ...]]] = {"compile": set(), "windows": set()}
    stage = ["compile"]

    def recording_compile(fn, **kwargs):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            seen[stage[0]].add(tuple(a.shape[-1] for a in args[1:] if isinstance(a, torch.Tensor)))
            return fn(*args)
        return call

    monkeypatch.setattr(torch, "compile", recording_compile)
    w = made(LlmWorkload, "llm", CPU, {"llm_phases": phases, "llm_batches": "2", "serve_concurrency": "3",
                            "serve_lengths": "40:30"})
    w.use_compile = True
    w.setup()
    (phase,) = phases_of(w, LlmPhase)
    assert isinstance(phase, DecodePhase | ServePhase)
    assert phase.compile() and phase.compiled
    assert all(getattr(k, "_dynamo_dynamic_indices", None) == {0} for k in phase.spans.by_size.values())
    stage[0] = "windows"
    phase.run(0.3, threading.Event(), 0)
    assert seen["windows"] and seen["windows"] <= seen["compile"]


def test_decode_synchronises_once_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """timed_loop on a clock that moves STEP per decode step (so how fast this machine decodes
    does not enter): without an estimate, one step measures it and one batch fills the rest; with
    the warm-up's, one batch fills the window and the device is synchronised once; with one from
    a slower warm-up, one batch and one top-up. The work is steps x batch every time."""
    import benchhash.workloads.torch_util as tu
    from fake_time import FakeTime
    step_s = 2.0 ** -6                          # exact in binary: 32 steps make 0.5 s
    clock = FakeTime()
    monkeypatch.setattr(tu, "time", clock)
    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "4"})
    w.setup()
    _, decode = w.phases()
    assert isinstance(decode, DecodePhase)
    decode.compile()
    real_step = decode.fn

    def step(*args: Any) -> Any:
        clock.advance(step_s)
        return real_step(*args)

    decode.fn = step
    syncs: list[int] = []
    real_sync = tu.synchronize

    def counted_sync(dev: Any) -> None:
        syncs.append(decode.steps)
        real_sync(dev)

    monkeypatch.setattr(tu, "synchronize", counted_sync)

    def window(rate_estimate: float | None) -> tuple[Any, list[int]]:
        decode.per_call_s = None
        decode.prepare(rate_estimate, 0.5)
        syncs.clear()
        win = decode.run(0.5, threading.Event(), 0)
        assert win.work == decode.steps * 4 and decode.steps == syncs[-1]   # every step counted once
        assert win.seconds == 0.5 and win.metrics["tpot_ms"] == 1e3 * step_s
        return win, list(syncs)

    first, at = window(None)                     # warm-up: no estimate yet
    assert at == [1, 32]                         # one step measures, one batch fills the window
    _, at = window(first.rate)                   # the warm-up's estimate (4 tokens a step)
    assert at == [32]                            # one batch, one synchronisation
    _, at = window(first.rate / 2)               # a warm-up that ran at half this speed
    assert at == [16, 32]                        # one batch, one top-up from the step it timed


def test_decode_attends_over_the_valid_length_rounded_up_and_reads_kv_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.workloads.llm.model as model_mod
    from benchhash.workloads.llm.model import kv_span
    calls: list[tuple[tuple[int, ...], int]] = []
    real = model_mod.F.scaled_dot_product_attention

    def spy(q, k, v, **kw):  # type: ignore[no-untyped-def]
        calls.append((tuple(k.shape), k.untyped_storage().data_ptr()))
        return real(q, k, v, **kw)

    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "2"})
    w.setup()
    _, decode = w.phases()
    assert isinstance(decode, DecodePhase)
    decode.compile()
    monkeypatch.setattr(model_mod.F, "scaled_dot_product_attention", spy)
    position = decode.position
    with torch.no_grad():
        decode._call()
    layer: Any = w.model.layers[0]
    cache = layer.attn.k_cache
    c = w.config
    (shape, ptr) = calls[0]
    span = kv_span(position + 1, w.max_seq)
    assert position + 1 <= span < w.max_seq                       # not the whole static cache
    assert shape == (2, c.n_kv_heads, span, c.head_dim)           # KV heads, not query heads
    assert ptr == cache.untyped_storage().data_ptr()               # the cache itself, no copy
    assert len(calls) == c.n_layers


@pytest.mark.parametrize("impl", ["sdpa", "math"])
@pytest.mark.parametrize(("heads", "kv_heads", "t"), [(8, 2, 5), (8, 2, 1), (4, 4, 3)])
def test_grouped_attention_equals_repeating_the_kv_heads(impl: str, heads: int, kv_heads: int, t: int) -> None:
    from benchhash.workloads.llm.model import grouped_attention
    gen = torch.Generator().manual_seed(5)
    q = torch.randn(3, heads, t, 16, generator=gen)
    k = torch.randn(3, kv_heads, 11, 16, generator=gen)
    v = torch.randn(3, kv_heads, 11, 16, generator=gen)
    mask = torch.arange(11)[None, :] <= torch.arange(11 - t, 11)[:, None]
    rep = heads // kv_heads
    want = torch.nn.functional.scaled_dot_product_attention(
        q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), attn_mask=mask)
    torch.testing.assert_close(grouped_attention(q, k, v, mask, impl), want, rtol=1e-5, atol=1e-5)


def test_a_decoder_attending_by_math_gives_the_same_tokens_and_logits() -> None:
    from benchhash.workloads.llm.config import PRESETS
    from benchhash.workloads.llm.model import build, decode_next
    c = PRESETS["tiny"]
    prompt = torch.randint(0, c.vocab_size, (2, 12), generator=torch.Generator().manual_seed(9))
    logits, tokens = [], []
    for impl in ("sdpa", "math"):
        model = build(c, 32, torch.device("cpu"), torch.float32, seed=7, attention=impl)
        model.allocate_cache(2)
        with torch.no_grad():
            logits.append(model(prompt, torch.arange(12)))
            tokens.append(decode_next(model, prompt[:, -1:], torch.tensor([12])))
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-4)
    assert torch.equal(tokens[0], tokens[1])
    with pytest.raises(ValueError, match="attention must be one of sdpa, math"):
        build(c, 32, torch.device("cpu"), torch.float32, attention="flash")


def test_workloads_leave_the_process_state_alone() -> None:
    from benchhash.workloads.torch_util import tf32_matmul
    rng = torch.get_rng_state()
    precision = torch.backends.cuda.matmul.fp32_precision
    dtype = torch.get_default_dtype()
    for name, opts in (("gemm", {"gemm_size": 256}), ("llm", {"llm_batches": "1"})):
        w = create(name, CPU, opts)
        w.setup()
        for phase in w.phases():
            phase.compile()
            phase.run(0.05, threading.Event(), 0)
            phase.close()
        w.teardown()
    with tf32_matmul(True):
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.backends.cuda.matmul.fp32_precision == precision
    assert torch.get_default_dtype() == dtype


def test_fp8_uses_fast_accumulation_and_sizes_of_16(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="multiples of 16"):
        gemm_mod.MatMul(torch, "fp8", 1000, 1024, 1024, torch.device("cpu"))
    seen = {}
    monkeypatch.setattr(torch, "_scaled_mm", lambda *a, **kw: seen.update(kw))
    gemm_mod.MatMul(torch, "fp8", 32, 48, 64, torch.device("cpu"))()
    assert seen["use_fast_accum"] is True and seen["out_dtype"] == torch.bfloat16
    w = made(GemmWorkload, "gemm", CPU, {"gemm_size": 1024})
    assert gemm_mod.GemmPhase(w, "fp8").params()["fp8_fast_accum"] is True
    for shape in [(10000, 10000, 10000), (8200, 4104, 1000)]:
        assert all(s % 16 == 0 for s in gemm_mod.halved(shape))   # after out-of-memory too


@pytest.mark.parametrize(("opts", "needle"), [
    ({"gemm_dtypes": "fp8"}, "--gemm-dtypes fp8: on the CPU only fp32 and bf16"),
    ({"gemm_dtypes": "fp32,tf32"}, "--gemm-dtypes tf32"),
    ({"gemm_size": 0}, "--gemm-size must be between 256 and 65536, got 0"),
])
def test_what_the_device_cannot_run_is_refused_before_anything_runs(opts: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        made(GemmWorkload, "gemm", CPU, opts)
