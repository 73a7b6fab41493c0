"""The serve phase compiled on a GPU (marked gpu: skipped, saying so, without one): the decode step
for the whole slot batch is CUDA graphs, nothing compiles inside a window, and the tokens each
request gets are those the eager phase delivers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.gpu


def _served(lengths: Path, compiled: bool) -> tuple[Any, dict[int, list[int]], int]:
    import torch
    from torch._dynamo.utils import counters

    from benchhash.hw.device import resolve
    from benchhash.workloads import create
    from benchhash.workloads.llm.config import LlmConfig
    from benchhash.workloads.llm.model import build
    from benchhash.workloads.llm.serve import ServePhase
    from benchhash.workloads.llm.workload import LlmWorkload
    w = create("llm", resolve("cuda"), {"llm_preset": "tiny", "llm_phases": "serve", "serve_concurrency": "3",
                                        "serve_lengths": str(lengths), "no_compile": not compiled})
    assert isinstance(w, LlmWorkload)
    w.setup()
    untied = LlmConfig("untied", dim=256, n_layers=2, n_heads=8, n_kv_heads=2, ffn_dim=512, vocab_size=4096,
                       tie_embeddings=False, rope_theta=10_000.0)
    w.model = build(untied, w.max_seq, w.dev, torch.float32, seed=2)      # fp32: the same tokens eager and compiled
    w.model.allocate_cache(3)
    (phase,) = w.phases()
    assert isinstance(phase, ServePhase)
    phase.compile()
    graphs = counters["stats"]["unique_graphs"]
    phase.delivered = {}
    phase._open()
    phase.clock.start()
    with torch.no_grad():
        for _ in range(60):
            phase._iteration(math.inf)
    return phase, phase.delivered, counters["stats"]["unique_graphs"] - graphs


def test_compiled_serve_with_cuda_graphs_delivers_the_eager_tokens(tmp_path: Path) -> None:
    lengths = tmp_path / "lengths.json"
    lengths.write_text(json.dumps({"pairs": [[5, 6, 1], [9, 3, 1], [140, 7, 1]]}))     # two prefill buckets
    eager, want, _ = _served(lengths, False)
    phase, got, compiled_in_window = _served(lengths, True)
    assert not eager.compiled and phase.compiled and phase.cuda_graphs, phase.notes()
    assert compiled_in_window == 0                     # every span and bucket compiled before
    assert got == want and len(got) > 6                # slots refilled, the same tokens
