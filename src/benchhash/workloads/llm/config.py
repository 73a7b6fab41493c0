"""Decoder configurations: `tiny` for CPU and CI, and the shapes of Llama 3.2 1B / 3B and
Llama 3.1 8B / 70B (published in their config.json files on the model cards). Weights are
random. 70B needs ~141 GB in bf16: one H200 holds it, an 80 GB GPU does not."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchhash.errors import InputError


@dataclass(frozen=True)
class LlmConfig:
    name: str
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    vocab_size: int
    tie_embeddings: bool
    rope_theta: float = 500_000.0
    norm_eps: float = 1e-5
    published_params: float | None = None   # parameter count the model card states

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, LlmConfig] = {
    "tiny": LlmConfig("tiny", dim=256, n_layers=4, n_heads=8, n_kv_heads=2, ffn_dim=768,
                      vocab_size=4096, tie_embeddings=True, rope_theta=10_000.0),
    # Llama 3.2 1B: 1.24 B parameters (model card), tied embeddings
    "1b": LlmConfig("1b", dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192,
                    vocab_size=128_256, tie_embeddings=True, published_params=1.24e9),
    # Llama 3.2 3B: 3.21 B parameters (model card), tied embeddings
    "3b": LlmConfig("3b", dim=3072, n_layers=28, n_heads=24, n_kv_heads=8, ffn_dim=8192,
                    vocab_size=128_256, tie_embeddings=True, published_params=3.21e9),
    # Llama 3.1 8B: 8.03 B parameters (model card)
    "8b": LlmConfig("8b", dim=4096, n_layers=32, n_heads=32, n_kv_heads=8, ffn_dim=14_336,
                    vocab_size=128_256, tie_embeddings=False, published_params=8.03e9),
    # Llama 3.1 70B: 70.6 B parameters (model card)
    "70b": LlmConfig("70b", dim=8192, n_layers=80, n_heads=64, n_kv_heads=8, ffn_dim=28_672,
                     vocab_size=128_256, tie_embeddings=False, published_params=70.6e9),
}


def preset(name: str) -> LlmConfig:
    key = name.strip().lower()
    if key not in PRESETS:
        raise InputError(f"unknown llm preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[key]
