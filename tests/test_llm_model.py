"""The decoder on the CPU: cached decode equals a full forward, presets match published sizes,
and the FLOP/byte accounting matches hand-computed cases."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchhash.workloads.llm import accounting as acc  # noqa: E402
from benchhash.workloads.llm.config import PRESETS, LlmConfig  # noqa: E402
from benchhash.workloads.llm.model import build, kv_span, prefill_slot  # noqa: E402

SMALL = LlmConfig("t", dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=160, vocab_size=97,
                  tie_embeddings=False, rope_theta=10_000.0)


@pytest.mark.parametrize("name", ["1b", "3b", "8b"])
def test_presets_match_published_parameter_counts(name: str) -> None:
    c = PRESETS[name]
    assert c.published_params is not None
    assert acc.total_params(c) == pytest.approx(c.published_params, rel=0.02)


def test_model_parameter_count_equals_the_accounting() -> None:
    for c in (SMALL, PRESETS["tiny"]):
        model = build(c, 32, torch.device("cpu"), torch.float32)
        assert sum(p.numel() for p in model.parameters()) == acc.total_params(c)


def test_cached_decode_gives_the_full_forward_logits() -> None:
    model = build(SMALL, 24, torch.device("cpu"), torch.float32, seed=3)
    tokens = torch.randint(0, SMALL.vocab_size, (2, 20))
    with torch.no_grad():
        model.allocate_cache(2)
        full = model(tokens, torch.arange(20))
        model.allocate_cache(2)
        steps = [model(tokens[:, :12], torch.arange(12))]
        for i in range(12, 20):
            steps.append(model(tokens[:, i:i + 1], torch.tensor([i])))
        cached = torch.cat(steps, dim=1)
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-4)


def test_causality_future_tokens_do_not_change_earlier_logits() -> None:
    model = build(SMALL, 16, torch.device("cpu"), torch.float32, seed=4)
    a = torch.randint(0, SMALL.vocab_size, (1, 10))
    b = a.clone()
    b[0, 7:] = (b[0, 7:] + 1) % SMALL.vocab_size
    with torch.no_grad():
        model.allocate_cache(1)
        la = model(a, torch.arange(10))
        model.allocate_cache(1)
        lb = model(b, torch.arange(10))
    torch.testing.assert_close(la[:, :7], lb[:, :7])
    assert not torch.allclose(la[:, 7:], lb[:, 7:])


def test_flops_and_bytes_by_hand() -> None:
    c = SMALL
    # per layer: q 64*64 + k,v 2*64*32 + o 64*64 = 12288; mlp 3*64*160 = 30720 -> 43008 linear
    assert acc.matmul_params(c) == 2 * 43008 + 97 * 64
    assert acc.flops_per_token(c, 0) == 2 * (2 * 43008 + 97 * 64)
    assert acc.flops_per_token(c, 10) - acc.flops_per_token(c, 0) == 4 * 2 * 10 * 64
    assert acc.prefill_flops(c, 1, 3) == 3 * 2 * acc.matmul_params(c) + 4 * 2 * 64 * (1 + 2 + 3)
    # a server's prefill: the LM head (97 x 64) on the last of the 3 positions only
    assert acc.server_prefill_flops(c, 3) == acc.prefill_flops(c, 1, 3) - 2 * 2 * 97 * 64
    # kv: 2 (k and v) * 2 layers * batch 4 * 100 positions * 2 kv heads * 16 dims * 2 bytes
    assert acc.kv_bytes(c, 4, 100, 2) == 2 * 2 * 4 * 100 * 2 * 16 * 2
    assert acc.decode_step_bytes(c, 4, 100, 2) == acc.matmul_params(c) * 2 + acc.kv_bytes(c, 4, 100, 2)


def test_8b_decode_bytes_are_dominated_by_weights() -> None:
    c = PRESETS["8b"]
    w = acc.weight_bytes(c, 2)
    # 8.03 B params less the 0.53 B embedding table (looked up, not multiplied), in bf16
    assert w == pytest.approx(15.01e9, rel=0.01)
    assert acc.kv_bytes(c, 1, 1024, 2) == pytest.approx(134.2e6, rel=0.01)


def test_kv_span_rounds_up_to_an_eighth_of_the_cache() -> None:
    assert [kv_span(n, 1024) for n in (1, 128, 129, 513, 1024)] == [128, 128, 256, 640, 1024]
    assert kv_span(3, 64) == 16 and kv_span(200, 1024, "full") == 1024
    assert len({kv_span(n, 1024) for n in range(1, 1025)}) == 8


def test_per_row_positions_and_a_short_span_give_each_row_its_own_decode() -> None:
    """Rows at different positions in one batch, attending over a span shorter than the cache,
    give the logits each row gets decoded alone over the whole cache."""
    model = build(SMALL, 48, torch.device("cpu"), torch.float32, seed=5)
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, SMALL.vocab_size, (1, n), generator=gen) for n in (4, 11, 7)]
    nxt = torch.randint(0, SMALL.vocab_size, (3, 1), generator=gen)
    alone = []
    with torch.no_grad():
        for p, t in zip(prompts, nxt, strict=True):
            model.allocate_cache(1)
            model(p, torch.arange(p.shape[1]))
            alone.append(model(t.view(1, 1), torch.tensor([p.shape[1]])))
        model.allocate_cache(3)
        for row, p in enumerate(prompts):     # each prompt into its own row, padded to 16
            padded = torch.cat([p, torch.zeros(1, 16 - p.shape[1], dtype=torch.long)], 1)
            prefill_slot(model, padded, torch.tensor([row]), torch.tensor([p.shape[1] - 1]))
        positions = torch.tensor([[p.shape[1]] for p in prompts])
        span = kv_span(int(positions.max()) + 1, 48)
        assert span == 16 < 48
        batched = model(nxt, positions, torch.arange(span), last_only=True)
    torch.testing.assert_close(batched, torch.cat(alone), rtol=1e-4, atol=1e-4)


def test_prefill_into_a_row_gives_the_forward_pass_last_token_and_keys() -> None:
    model = build(SMALL, 24, torch.device("cpu"), torch.float32, seed=6)
    tokens = torch.randint(0, SMALL.vocab_size, (1, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model.allocate_cache(2)
        want = model(tokens, torch.arange(9))[:, -1].argmax(-1)      # row 0, every position's logits
        got = prefill_slot(model, tokens, torch.tensor([1]), torch.tensor([8]))
    assert torch.equal(got.view(-1), want)
    for layer in model.blocks():
        cache = layer.attn.k_cache
        assert cache is not None
        torch.testing.assert_close(cache[1, :, :9], cache[0, :, :9])   # the same keys, in row 1
