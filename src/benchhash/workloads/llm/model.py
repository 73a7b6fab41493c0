"""A decoder of the Llama architecture in plain torch: RMSNorm, rotary embeddings (RoPE), SwiGLU,
grouped-query attention through scaled_dot_product_attention, and a static KV cache.

Decoding attends over the whole static cache with a mask of the valid positions, so every decode
step has the same shapes: torch.compile and CUDA graphs can capture it once."""

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


class Attention(nn.Module):
    def __init__(self, c: LlmConfig) -> None:
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.wq = nn.Linear(c.dim, c.n_heads * hd, bias=False)
        self.wk = nn.Linear(c.dim, c.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(c.dim, c.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(c.n_heads * hd, c.dim, bias=False)
        # buffers, not plain attributes: torch.compile then treats their in-place updates as
        # module state, which CUDA graphs can replay
        self.register_buffer("k_cache", None, persistent=False)
        self.register_buffer("v_cache", None, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        c = self.c
        q = self.wq(x).view(b, t, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        assert self.k_cache is not None and self.v_cache is not None, "allocate the KV cache first"
        self.k_cache[:b].index_copy_(2, positions, k)
        self.v_cache[:b].index_copy_(2, positions, v)
        keys, values = self.k_cache[:b], self.v_cache[:b]
        rep = c.n_heads // c.n_kv_heads
        if rep > 1:  # grouped-query attention: each KV head serves `rep` query heads
            keys = keys.repeat_interleave(rep, dim=1)
            values = values.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(b, t, c.n_heads * c.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, c: LlmConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w3 = nn.Linear(c.dim, c.ffn_dim, bias=False)
        self.w2 = nn.Linear(c.ffn_dim, c.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, c: LlmConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.attn = Attention(c)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.ffn = FeedForward(c)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor,
                sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), positions, cos, sin, mask)
        return x + self.ffn(self.ffn_norm(x))


class Decoder(nn.Module):
    def __init__(self, c: LlmConfig, max_seq: int) -> None:
        super().__init__()
        self.c, self.max_seq = c, max_seq
        self.embed = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.head = None if c.tie_embeddings else nn.Linear(c.dim, c.vocab_size, bias=False)
        cos, sin = rope_tables(c.head_dim, max_seq, c.rope_theta, self.embed.weight.device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def allocate_cache(self, batch: int) -> None:
        """Static KV cache for up to ``batch`` sequences of max_seq positions."""
        w = self.embed.weight
        shape = (batch, self.c.n_kv_heads, self.max_seq, self.c.head_dim)
        for layer in self.layers:
            layer.attn.k_cache = torch.zeros(shape, dtype=w.dtype, device=w.device)
            layer.attn.v_cache = torch.zeros(shape, dtype=w.dtype, device=w.device)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] at absolute ``positions`` [T] -> logits [B, T, vocab]. Each token
        attends to cached positions up to and including its own."""
        x = self.embed(tokens)
        cos, sin = self.cos[positions], self.sin[positions]
        keys = torch.arange(self.max_seq, device=tokens.device)
        mask = keys[None, :] <= positions[:, None]           # [T, max_seq], True = attend
        for layer in self.layers:
            x = layer(x, positions, cos, sin, mask)
        x = self.norm(x)
        weight = self.embed.weight if self.head is None else self.head.weight
        return F.linear(x, weight)


def build(c: LlmConfig, max_seq: int, device: torch.device, dtype: torch.dtype,
          seed: int = 0) -> Decoder:
    """Random weights (std 0.02), made directly on the device in the target dtype."""
    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype.is_floating_point else old)
    try:
        with torch.device(device):
            model = Decoder(c, max_seq)
    finally:
        torch.set_default_dtype(old)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    model.cos, model.sin = rope_tables(c.head_dim, max_seq, c.rope_theta, device)
    return model.eval()
