"""A decoder of the Llama architecture in plain torch: RMSNorm, rotary embeddings (RoPE), SwiGLU,
grouped-query attention through scaled_dot_product_attention, and a static KV cache.

Built for decode at the memory-bandwidth limit, as gpt-fast builds it:
- Q, K and V come from one fused projection, and the SwiGLU gate and up projections from
  another: one weight read and one kernel each instead of three and two;
- grouped-query attention reads each KV head once: the query heads that share a KV head are
  folded into the query-length axis, so K and V are never repeated per query head;
- attention covers the valid cache length when it is known on the host (prefill, eager decode);
  a compiled decode step attends over the whole static cache with a mask, so that every step
  has the same shapes and one CUDA graph replays it;
- :func:`decode_next` is a whole decode step, the next-token choice included, for one graph.
"""

from __future__ import annotations

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


def grouped_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                      mask: torch.Tensor, impl: str = "sdpa") -> torch.Tensor:
    """Attention of q [B, H, T, D] over keys/values [B, Hkv, S, D] (H = rep * Hkv; query head h
    uses KV head h // rep) with a boolean mask [T, S], reading each KV head once: the rep query
    heads of a group become rep * T query rows against that group's K and V."""
    b, h, t, d = q.shape
    kv = keys.shape[1]
    rep = h // kv
    if rep == 1:
        return _attend(q, keys, values, mask, impl)
    qg = q.reshape(b, kv, rep * t, d)               # head kv*rep + r, token i -> row r*T + i
    mg = mask.unsqueeze(0).expand(rep, t, mask.shape[-1]).reshape(rep * t, mask.shape[-1])
    out = _attend(qg, keys, values, mg, impl)
    return out.reshape(b, h, t, d)


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

    def project(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor) -> torch.Tensor:
        """Q, K, V from the fused projection, rotated; K and V written into the cache at
        ``positions``. Returns Q [B, H, T, D]."""
        b, t, _ = x.shape
        c = self.c
        hd = c.head_dim
        q, k, v = self.wqkv(x).split([c.n_heads * hd, c.n_kv_heads * hd, c.n_kv_heads * hd], -1)
        q = q.view(b, t, c.n_heads, hd).transpose(1, 2)
        k = k.view(b, t, c.n_kv_heads, hd).transpose(1, 2)
        v = v.view(b, t, c.n_kv_heads, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        assert self.k_cache is not None and self.v_cache is not None, "allocate the KV cache first"
        self.k_cache[:b].index_copy_(2, positions, k)
        self.v_cache[:b].index_copy_(2, positions, v)
        return q

    def output(self, out: torch.Tensor) -> torch.Tensor:
        """Attention output [B, H, T, D] -> the residual stream [B, T, dim]."""
        b, h, t, d = out.shape
        return self.wo(out.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor, mask: torch.Tensor, kv_len: int) -> torch.Tensor:
        q = self.project(x, positions, cos, sin)
        b = x.shape[0]
        assert self.k_cache is not None and self.v_cache is not None
        keys, values = self.k_cache[:b, :, :kv_len], self.v_cache[:b, :, :kv_len]
        return self.output(grouped_attention(q, keys, values, mask, self.impl))


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

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor, mask: torch.Tensor, kv_len: int) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), positions, cos, sin, mask, kv_len)
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
        self.head = None if c.tie_embeddings else nn.Linear(c.dim, c.vocab_size, bias=False)
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

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, kv_len: int | None = None,
                last_only: bool = False) -> torch.Tensor:
        """tokens [B, T] at absolute ``positions`` [T] -> logits [B, T, vocab] (the last
        token's only with ``last_only``). Each token attends to cached positions up to and
        including its own, among the first ``kv_len`` (default: the whole static cache)."""
        span = self.max_seq if kv_len is None else kv_len
        x = self.embed(tokens)
        cos, sin = self.cos[positions], self.sin[positions]
        keys = torch.arange(span, device=tokens.device)
        mask = keys[None, :] <= positions[:, None]           # [T, span], True = attend
        for layer in self.layers:
            x = layer(x, positions, cos, sin, mask, span)
        x = self.norm(x[:, -1:] if last_only else x)
        weight = self.embed.weight if self.head is None else self.head.weight
        return F.linear(x, weight)


def decode_next(model: Decoder, tokens: torch.Tensor, positions: torch.Tensor,
                kv_len: int | None = None) -> torch.Tensor:
    """One whole decode step: tokens [B, 1] at ``positions`` [1] -> the next tokens [B, 1]
    (greedy). Compiled with CUDA graphs, this is one graph replay per step."""
    return model(tokens, positions, kv_len, last_only=True).argmax(-1)


def prefill_next(model: Decoder, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """A prompt's prefill, every position's logits computed (what accounting.prefill_flops
    counts), attending over the prompt only: -> the first generated token [B]."""
    return model(tokens, positions, kv_len=tokens.shape[1])[:, -1].argmax(-1)


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
