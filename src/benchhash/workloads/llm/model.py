"""A decoder of the Llama architecture in plain torch: RMSNorm, rotary embeddings (RoPE), SwiGLU,
grouped-query attention through scaled_dot_product_attention, and a static KV cache.

Built for decode at the memory-bandwidth limit, as gpt-fast builds it:
- Q, K and V come from one fused projection, and the SwiGLU gate and up projections from
  another: one weight read and one kernel each instead of three and two;
- grouped-query attention reads each KV head once: the query heads that share a KV head are
  folded into the query-length axis, so K and V are never repeated per query head;
- positions are shared by every row ([T]) or per row ([B, T]): a serving batch holds requests at
  different positions in one static KV cache, each row attending to its own valid length;
- attention reads the cache up to a span of a few static sizes (:func:`kv_span`: the valid
  length rounded up to an eighth of the cache) rather than the whole static cache, so a compiled
  step reads little more than the valid keys; the span travels as the length of a tensor of key
  positions, which a compiled step marks dynamic: one compile, one CUDA graph per span;
- a prompt is prefilled the way a server prefills it: attending over its own keys and values,
  written into one cache row (a tensor index: no recompile per row), the LM head applied to its
  last position only;
- :func:`decode_next` is a whole decode step, the next-token choice included, for one graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from benchhash.workloads.llm.config import LlmConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(x.dtype) * self.weight


def rope_tables(head_dim: int, max_seq: int, theta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, [max_seq, head_dim / 2], in float32."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(max_seq, device=device, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, D] with cos/sin [T, D/2]; pairs (even, odd) rotated."""
    xf = x.float().unflatten(-1, (-1, 2))
    a, b = xf[..., 0], xf[..., 1]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    return out.to(x.dtype)


#: How attention is computed: "sdpa" (F.scaled_dot_product_attention: the backend torch picks,
#: cuDNN flash attention on an H200) or "math" (two matmuls and a float32 softmax, which
#: torch.compile fuses). On an H200 the cuDNN kernel took 24 us a layer for a batch-1 decode step
#: (0.77 of 5.62 ms; results/bench/profile-decode-h200-sxm.json): "math" is the alternative to
#: time against it (scripts/profile_decode.py --attention).
ATTENTION = ("sdpa", "math")


def _attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
            impl: str) -> torch.Tensor:
    if impl == "sdpa":
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
    scores = torch.matmul(q, keys.transpose(-1, -2)).float() * q.shape[-1] ** -0.5
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1).to(values.dtype)
    return torch.matmul(weights, values)


#: How far attention reads the cache: "bucket" (the valid length rounded up to an eighth of the
#: cache: a few static sizes) or "full" (the whole static cache, masked: what a compiled decode
#: step read before, kept for A/B runs).
SPANS = ("bucket", "full")


def kv_span(needed: int, max_seq: int, policy: str = "bucket") -> int:
    """The cache positions a step attends over when ``needed`` of them hold valid keys: an
    eighth of the cache (at least 16) at a time, so a compiled step has few shapes to capture."""
    if policy == "full":
        return max_seq
    granule = max(16, max_seq // 8)
    return min(max_seq, -(-needed // granule) * granule)


def grouped_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                      mask: torch.Tensor, impl: str = "sdpa") -> torch.Tensor:
    """Attention of q [B, H, T, D] over keys/values [B, Hkv, S, D] (H = rep * Hkv; query head h
    uses KV head h // rep) with a boolean mask [T, S] (or per row, [B, T, S]), reading each KV
    head once: the rep query heads of a group become rep * T query rows against that group's K
    and V."""
    b, h, t, d = q.shape
    kv, s = keys.shape[1], keys.shape[2]
    rep = h // kv
    lead = mask.shape[:-2]
    mg = mask.unsqueeze(-3).expand(*lead, rep, t, s).reshape(*lead, rep * t, s)
    if mg.dim() == 3:
        mg = mg.unsqueeze(1)                        # a row's mask, for every KV head
    qg = q.reshape(b, kv, rep * t, d)               # head kv*rep + r, token i -> row r*T + i
    out = _attend(qg, keys, values, mg, impl)
    return out.reshape(b, h, t, d)


@dataclass
class At:
    """Where a forward's tokens sit: their absolute positions ([T], shared by every row, or
    [B, T], per row), cos and sin there, the mask over the attended span, the span's length, and
    for a prompt prefilled into one cache row the row (a tensor [1]): such a prompt starts at
    position 0 and attends over its own keys and values."""

    positions: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    mask: torch.Tensor
    span: int
    slot: torch.Tensor | None = None


class Attention(nn.Module):
    k_cache: torch.Tensor | None
    v_cache: torch.Tensor | None

    def __init__(self, c: LlmConfig, impl: str = "sdpa") -> None:
        super().__init__()
        self.c, self.impl = c, impl
        hd = c.head_dim
        self.wqkv = nn.Linear(c.dim, (c.n_heads + 2 * c.n_kv_heads) * hd, bias=False)
        self.wo = nn.Linear(c.n_heads * hd, c.dim, bias=False)
        # buffers, not plain attributes: torch.compile then treats their in-place updates as
        # module state, which CUDA graphs can replay
        self.register_buffer("k_cache", None, persistent=False)
        self.register_buffer("v_cache", None, persistent=False)

    def project(self, x: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q [B, H, T, D], K and V [B, Hkv, T, D] from the fused projection, Q and K rotated."""
        b, t, _ = x.shape
        c = self.c
        hd = c.head_dim
        q, k, v = self.wqkv(x).split([c.n_heads * hd, c.n_kv_heads * hd, c.n_kv_heads * hd], -1)
        q = q.view(b, t, c.n_heads, hd).transpose(1, 2)
        k = k.view(b, t, c.n_kv_heads, hd).transpose(1, 2)
        v = v.view(b, t, c.n_kv_heads, hd).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def store(self, k: torch.Tensor, v: torch.Tensor, at: At) -> None:
        """K and V into the cache: rows 0..B-1 at ``at.positions``, or row ``at.slot`` from 0."""
        assert self.k_cache is not None and self.v_cache is not None, "allocate the KV cache first"
        b, _, t, _ = k.shape
        for cache, new in ((self.k_cache, k), (self.v_cache, v)):
            if at.slot is not None:
                cache.narrow(2, 0, t).index_copy_(0, at.slot, new)
            elif at.positions.dim() == 1:
                cache[:b].index_copy_(2, at.positions, new)
            else:
                cache[:b].scatter_(2, at.positions[:, None, :, None].expand_as(new), new)

    def output(self, out: torch.Tensor) -> torch.Tensor:
        """Attention output [B, H, T, D] -> the residual stream [B, T, dim]."""
        b, h, t, d = out.shape
        return self.wo(out.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, x: torch.Tensor, at: At) -> torch.Tensor:
        q, k, v = self.project(x, at.cos, at.sin)
        self.store(k, v, at)
        if at.slot is not None:
            return self.output(grouped_attention(q, k, v, at.mask, self.impl))
        b = x.shape[0]
        assert self.k_cache is not None and self.v_cache is not None
        keys, values = self.k_cache[:b, :, :at.span], self.v_cache[:b, :, :at.span]
        return self.output(grouped_attention(q, keys, values, at.mask, self.impl))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(gate x) * up x), gate and up in one fused projection (w13)."""

    def __init__(self, c: LlmConfig) -> None:
        super().__init__()
        self.w13 = nn.Linear(c.dim, 2 * c.ffn_dim, bias=False)
        self.w2 = nn.Linear(c.ffn_dim, c.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, c: LlmConfig, attention: str = "sdpa") -> None:
        super().__init__()
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.attn = Attention(c, attention)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.ffn = FeedForward(c)

    def forward(self, x: torch.Tensor, at: At) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), at)
        return x + self.ffn(self.ffn_norm(x))


class Decoder(nn.Module):
    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, c: LlmConfig, max_seq: int, attention: str = "sdpa") -> None:
        super().__init__()
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, got {attention!r}")
        self.c, self.max_seq = c, max_seq
        self.embed = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList(Block(c, attention) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.lm_head = None if c.tie_embeddings else nn.Linear(c.dim, c.vocab_size, bias=False)
        cos, sin = rope_tables(c.head_dim, max_seq, c.rope_theta, self.embed.weight.device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def allocate_cache(self, batch: int) -> None:
        """Static KV cache for up to ``batch`` sequences of max_seq positions."""
        w = self.embed.weight
        shape = (batch, self.c.n_kv_heads, self.max_seq, self.c.head_dim)
        for layer in self.blocks():
            layer.attn.k_cache = torch.zeros(shape, dtype=w.dtype, device=w.device)
            layer.attn.v_cache = torch.zeros(shape, dtype=w.dtype, device=w.device)

    def blocks(self) -> list[Block]:
        return [b for b in self.layers if isinstance(b, Block)]

    def at(self, positions: torch.Tensor, keys: torch.Tensor, slot: torch.Tensor | None = None) -> At:
        """Where tokens at ``positions`` sit, attending over the cache positions ``keys``
        (arange(span)), up to and including their own."""
        cos, sin = self.cos[positions], self.sin[positions]
        if positions.dim() == 2:                 # per row: [B, 1, T, D/2] against [B, H, T, D/2]
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        mask = keys <= positions.unsqueeze(-1)   # [T, S] or [B, T, S], True = attend
        return At(positions, cos, sin, mask, keys.shape[0], slot)

    def trunk(self, tokens: torch.Tensor, at: At) -> torch.Tensor:
        """tokens [B, T] -> the last layer's hidden states [B, T, dim] (K and V cached)."""
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, at)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Final norm and LM head: hidden states -> logits."""
        weight = self.embed.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(self.norm(x), weight)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, keys: torch.Tensor | None = None,
                last_only: bool = False) -> torch.Tensor:
        """tokens [B, T] at absolute ``positions`` ([T], or [B, T] per row) -> logits [B, T,
        vocab] (the last token's only with ``last_only``). Each token attends to the cache
        positions in ``keys`` (default: the whole static cache) up to and including its own."""
        if keys is None:
            keys = torch.arange(self.max_seq, device=tokens.device)
        x = self.trunk(tokens, self.at(positions, keys))
        return self.head(x[:, -1:] if last_only else x)


def decode_next(model: Decoder, tokens: torch.Tensor, positions: torch.Tensor,
                keys: torch.Tensor | None = None) -> torch.Tensor:
    """One whole decode step: tokens [B, 1] at ``positions`` ([1], or [B, 1] per row) -> the next
    tokens [B, 1] (greedy), attending over ``keys`` (arange(span)). Compiled with CUDA graphs,
    this is one graph replay per step."""
    return model(tokens, positions, keys, last_only=True).argmax(-1)


def prefill_slot(model: Decoder, tokens: torch.Tensor, slot: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """A prompt as a server prefills it: tokens [1, L] from position 0 into cache row ``slot``
    ([1]), attending over its own keys and values, the LM head on position ``last`` ([1]) only
    -> its first generated token [1, 1]. A prompt shorter than L is padded after its end: causal
    attention keeps the padding out of every real position, and the keys it leaves in the cache
    sit where decode writes before it reads."""
    positions = torch.arange(tokens.shape[1], device=tokens.device)
    x = model.trunk(tokens, model.at(positions, positions, slot))
    return model.head(x[:, last]).argmax(-1)


def build(c: LlmConfig, max_seq: int, device: torch.device, dtype: torch.dtype,
          seed: int = 0, attention: str = "sdpa") -> Decoder:
    """Random weights (std 0.02) from a generator of its own (the process's seed is left
    alone), made directly on the device in the target dtype; no autograd."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype.is_floating_point else old)
    try:
        with torch.device("meta"):          # no default init: it would draw from the global RNG
            model = Decoder(c, max_seq, attention)
    finally:
        torch.set_default_dtype(old)
    model = model.to_empty(device=device)
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=gen)
            p.requires_grad_(False)
    model.cos, model.sin = rope_tables(c.head_dim, max_seq, c.rope_theta, device)
    return model.eval()
