"""The llm workload's serve phases on the CPU: the request stream, continuous batching over the
static KV cache (each request gets the tokens it would get alone), the window's records and the
figures that follow from them, latencies on a fake clock, and the options."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from benchhash.errors import InputError  # noqa: E402
from benchhash.results.model import Device  # noqa: E402
from benchhash.workloads import create  # noqa: E402
from benchhash.workloads.llm import serve as serve_mod  # noqa: E402
from benchhash.workloads.llm import serve_proof as sp  # noqa: E402
from benchhash.workloads.llm.config import LlmConfig  # noqa: E402
from benchhash.workloads.llm.model import build, decode_next, kv_span  # noqa: E402
from benchhash.workloads.llm.workload import LlmWorkload  # noqa: E402
from fake_time import FakeTime  # noqa: E402
from typed import made  # noqa: E402

CPU = Device(kind="cpu", name="test cpu")
#: tiny's shape with its own LM head: greedy tokens then depend on the context, not only on the
#: last token (a tied head makes a random model repeat its input)
UNTIED = LlmConfig("untied", dim=256, n_layers=2, n_heads=8, n_kv_heads=2, ffn_dim=512, vocab_size=4096,
                   tie_embeddings=False, rope_theta=10_000.0)


def serve_phase(concurrency: int, lengths: str, **extra: Any) -> Any:
    w = create("llm", CPU, {"llm_phases": "serve", "serve_concurrency": str(concurrency),
                            "serve_lengths": lengths, **extra})
    w.setup()
    (phase,) = w.phases()
    return w, phase


def test_lengths_fixed_or_from_a_histogram(tmp_path: Path) -> None:
    fixed = serve_mod.parse_lengths("512:128")
    assert fixed.pairs == ((512, 128),) and fixed.label == "512:128" and fixed.longest == 640
    hist = tmp_path / "lengths.json"
    hist.write_text(json.dumps({"pairs": [[100, 20, 3], [30, 200, 1]]}))
    h = serve_mod.parse_lengths(str(hist))
    assert h.pairs == ((100, 20), (30, 200)) and h.longest == 230
    assert h.label.startswith("histogram lengths.json (sha256 ")
    for bad in ("0:5", "5", str(tmp_path / "missing.json")):
        with pytest.raises(InputError, match="--serve-lengths"):
            serve_mod.parse_lengths(bad)


def test_the_stream_is_seeded_staggered_and_poisson() -> None:
    lengths = serve_mod.parse_lengths("8:64")
    s = serve_mod.Stream(lengths, seed=3, rate=None, stagger=4)
    first = [s.take(0.0) for _ in range(6)]
    assert [r.output for r in first] == [16, 32, 48, 64, 64, 64]     # the first slots do not finish together
    assert s.due(0.0) and all(r.arrival_s == 0.0 for r in first)    # closed loop: always one waiting
    a, b = (serve_mod.Stream(lengths, seed=9, rate=50.0, stagger=0) for _ in range(2))
    arrivals = [a.take(0.0).arrival_s for _ in range(2000)]
    assert arrivals == [b.take(0.0).arrival_s for _ in range(2000)]  # the same seed, the same stream
    gaps = [y - x for x, y in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) > 0 and sum(gaps) / len(gaps) == pytest.approx(1 / 50, rel=0.1)
    assert not a.due(arrivals[-1]) and a.due(a.next_s)


def test_continuous_batching_gives_each_request_the_tokens_it_gets_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three slots over requests of different lengths: slots are refilled as requests complete,
    and every completed request's tokens (first from its prefill, the rest from batched decode
    steps at per-slot positions) are those of the request decoded on its own."""
    hist = tmp_path / "lengths.json"
    hist.write_text(json.dumps({"pairs": [[5, 6, 1], [9, 3, 1], [13, 7, 1], [40, 5, 1]]}))
    w, phase = serve_phase(3, str(hist))
    w.model = build(UNTIED, w.max_seq, torch.device("cpu"), torch.float32, seed=2)
    w.model.allocate_cache(3)
    phase.compile()
    phase.delivered = {}
    clock = FakeTime()
    monkeypatch.setattr(serve_mod, "time", clock)     # the window ends after 40 calls of 10 ms
    phase.fn = serve_mod.Fns(*(lambda *a, f=f: (clock.advance(0.01), f(*a))[1] for f in phase.fn))
    phase.run(0.4, threading.Event(), 0)
    stream = serve_mod.Stream(w.lengths, phase.seed, None, 3)
    requests = [stream.take(0.0) for _ in range(max(phase.delivered) + 1)]
    done = [n for n, toks in phase.delivered.items() if len(toks) == requests[n].output]
    assert len([n for n in done if n >= 3]) >= 3                      # slots were refilled
    for n in done:
        r = requests[n]
        prompt = phase.prompts[kv_span(r.input, w.max_seq)][:, :r.input]
        with torch.no_grad():
            w.model.allocate_cache(1)
            out = [w.model(prompt, torch.arange(r.input), last_only=True).argmax(-1)]
            for i in range(r.output - 1):
                out.append(decode_next(w.model, out[-1], torch.tensor([r.input + i])))
        assert phase.delivered[n] == torch.cat(out, 1).view(-1).tolist(), f"request {n} ({r.input}:{r.output})"


def test_latencies_on_a_fake_clock_and_no_charge_between_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """One slot, a prefill of 10 ms and decode steps of 2 ms: TTFT is the prefill (the next
    request arrives as the last completes), TPOT the step, also for a request that spans the
    runner's pause between two windows."""
    clock = FakeTime()
    monkeypatch.setattr(serve_mod, "time", clock)
    w, phase = serve_phase(1, "8:11")
    phase.compile()
    prefill, decode = phase.fn
    phase.fn = serve_mod.Fns(lambda *a: (clock.advance(0.010), prefill(*a))[1],
                             lambda *a: (clock.advance(0.002), decode(*a))[1])
    first = phase.run(0.1, threading.Event(), 0)
    clock.advance(100.0)                                            # the runner's pause
    second = phase.run(0.1, threading.Event(), 1)
    for win in (first, second):
        records = [sp.Record.of(row) for row in win.proof["requests"]]
        done = [r for r in records if r.done_in_window]
        assert done and all(r.tpot_ms == pytest.approx(2.0) for r in done)
        assert all(r.ttft_ms == pytest.approx(10.0) for r in done if r.prefilled_in_window)
        assert win.work == sum(r.tokens_in_window for r in records)       # every token counted once
        assert sp.trial_figures(records, win.seconds).items() <= win.metrics.items()
    assert first.metrics["tpot_ms_p50"] == pytest.approx(2.0) and second.metrics["ttft_ms_p99"] == pytest.approx(10.0)


def test_poisson_arrivals_leave_slots_idle_and_are_served_after_they_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime()
    monkeypatch.setattr(serve_mod, "time", clock)
    w, phase = serve_phase(4, "8:4", serve_rate=20.0)
    phase.compile()
    prefill, decode = phase.fn
    phase.fn = serve_mod.Fns(lambda *a: (clock.advance(0.004), prefill(*a))[1],
                             lambda *a: (clock.advance(0.010), decode(*a))[1])
    win = phase.run(1.0, threading.Event(), 0)
    records = [sp.Record.of(row) for row in win.proof["requests"]]
    assert 8 <= win.metrics["prefills"] <= 40                        # about 20 requests/s for 1 s
    assert win.metrics["decode_steps"] < 90                          # slots idle between arrivals
    assert all(r.ttft_ms is not None and r.ttft_ms >= 4.0 - 1e-9 for r in records)
    assert phase.params()["arrivals"] == "poisson 20 requests/s"


def test_phase_figures_pool_the_trials_and_judge_the_objectives() -> None:
    def rec(tpot: float) -> sp.Record:
        return sp.Record(8, 11, 10, False, True, 5.0, tpot)
    trials = [[rec(1.0), rec(3.0)], [rec(2.0), sp.Record(8, 11, 4, True, False, 6.0, None)]]
    out = sp.phase_figures(trials, 2.0, [2.5, 10.0])
    assert out["requests"] == 3 and out["output_tokens"] == 34 and out["input_tokens"] == 8
    assert out["tpot_ms_p50"] == 2.0 and out["tpot_ms_p99"] == pytest.approx(2.98)
    assert out["slo"] == {"2.5": {"met": False, "attainment": 2 / 3}, "10": {"met": True, "attainment": 1.0}}
    assert out["output_tokens_per_request"] == 34 / 3


@pytest.mark.parametrize(("opts", "needle"), [
    ({"llm_phases": "prefill,serving"}, "--llm-phases takes a comma list of prefill, decode, serve"),
    ({"llm_phases": "serve", "serve_lengths": "200:100"}, "a request of 300 tokens does not fit the cache of 256"),
    ({"serve_concurrency": "0"}, "--serve-concurrency values must be between 1 and 4096"),
    ({"serve_slo_ms": "fast"}, "--serve-slo-ms takes a comma list of milliseconds"),
    ({"serve_rate": -1}, "--serve-rate"),
])
def test_bad_serve_options_are_refused_before_anything_runs(opts: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        create("llm", CPU, opts)


def test_serve_is_in_the_default_phases_on_a_gpu_only() -> None:
    from benchhash.workloads.llm import workload as llm
    assert "serve" in llm.GPU.phases and "serve" not in llm.CPU.phases
    w = made(LlmWorkload, "llm", CPU, {"llm_batches": "1"})
    assert w.phase_set == ("prefill", "decode") and w.expected_phases() == 2
    w = made(LlmWorkload, "llm", CPU, {"llm_phases": "serve,decode", "llm_batches": "2,8", "serve_concurrency": "1,4"})
    assert w.expected_phases() == 4 and w.rows == 8
