"""FLOP and byte accounting for the decoder, so measured rates can be set against peaks.

Conventions (as in the MFU literature): a multiply-add is 2 FLOPs; every weight matrix is used
once per token (the LM head included, the embedding lookup excluded); attention adds
4 * layers * context * (heads * head_dim) FLOPs per token (QK^T and AV). A prompt's prefill is
counted as a server computes it (server_prefill_flops: the LM head on its last position only);
a decode step's bytes are those it reads: the weights and the KV cache over its span."""

from __future__ import annotations

from benchhash.workloads.llm.config import LlmConfig


def layer_params(c: LlmConfig) -> int:
    attn = c.dim * c.n_heads * c.head_dim + 2 * c.dim * c.n_kv_heads * c.head_dim \
        + c.n_heads * c.head_dim * c.dim
    mlp = 3 * c.dim * c.ffn_dim
    return attn + mlp + 2 * c.dim          # two RMSNorm weights


def total_params(c: LlmConfig) -> int:
    """Every parameter, counted once (a tied LM head shares the embedding matrix)."""
    embed = c.vocab_size * c.dim
    head = 0 if c.tie_embeddings else c.vocab_size * c.dim
    return embed + c.n_layers * layer_params(c) + c.dim + head


def matmul_params(c: LlmConfig) -> int:
    """Weights that take part in a matmul for each token: all linear layers and the LM head."""
    linear = c.n_layers * (layer_params(c) - 2 * c.dim)
    return linear + c.vocab_size * c.dim


def flops_per_token(c: LlmConfig, context: float) -> float:
    """Forward FLOPs of one token attending to ``context`` positions."""
    return 2.0 * matmul_params(c) + 4.0 * c.n_layers * context * c.n_heads * c.head_dim


def prefill_flops(c: LlmConfig, batch: int, prompt: int) -> float:
    """A causal prefill of ``prompt`` tokens: token i attends to i positions (1-based)."""
    attn = 4.0 * c.n_layers * c.n_heads * c.head_dim * prompt * (prompt + 1) / 2
    return batch * (2.0 * matmul_params(c) * prompt + attn)


def server_prefill_flops(c: LlmConfig, prompt: int) -> float:
    """What a server computes to prefill one prompt: every layer for every token (attention
    causal), the LM head on the last position only (it needs one next token, not every
    position's logits)."""
    return prefill_flops(c, 1, prompt) - 2.0 * c.vocab_size * c.dim * (prompt - 1)


def kv_bytes(c: LlmConfig, batch: int, positions: float, bytes_per_value: int) -> float:
    """Keys and values of ``positions`` cached positions for a batch."""
    return 2.0 * c.n_layers * batch * positions * c.n_kv_heads * c.head_dim * bytes_per_value


def weight_bytes(c: LlmConfig, bytes_per_value: int) -> float:
    """Weights one decode step reads: every matmul weight once (norms are negligible)."""
    return float(matmul_params(c)) * bytes_per_value


def decode_step_bytes(c: LlmConfig, batch: int, context: float, bytes_per_value: int) -> float:
    """Bytes a decode step reads: weights + the KV cache over the ``context`` positions it
    attends to (its span: what attention actually reads, valid or not)."""
    return weight_bytes(c, bytes_per_value) + kv_bytes(c, batch, context, bytes_per_value)
