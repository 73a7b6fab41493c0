"""LLM inference on a self-contained Llama-architecture decoder with random weights."""
