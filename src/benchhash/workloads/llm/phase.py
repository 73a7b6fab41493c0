"""What every phase of the llm workload shares: its compile step (torch.compile with the
settings gpt-fast uses, CUDA graphs where the phase asks for them, eager with the reason when
compiling fails) and the cache spans a decode step attends over."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from benchhash.workloads.base import Phase
from benchhash.workloads.torch_util import import_torch, synchronize

if TYPE_CHECKING:
    from benchhash.workloads.llm.workload import LlmWorkload


def _compile_config(torch: Any) -> contextlib.ExitStack:
    """What a compile step runs under, as gpt-fast compiles: coordinate-descent tuning of the
    generated kernels, and room for one graph per batch size (torch's default of 8 recompiles
    would silently run a ninth batch size eager). Restored after the step."""
    stack = contextlib.ExitStack()
    inductor = torch._inductor.config
    patch = {k: True for k in ("coordinate_descent_tuning", "triton.unique_kernel_names",
                               "fx_graph_cache") if _has_option(inductor, k)}
    stack.enter_context(inductor.patch(patch))
    dynamo = torch._dynamo.config
    limit = next((k for k in ("recompile_limit", "cache_size_limit") if hasattr(dynamo, k)), None)
    if limit is not None:
        stack.enter_context(dynamo.patch(**{limit: 1024}))
    return stack


def _has_option(config: Any, dotted: str) -> bool:
    obj = config
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


class LlmPhase(Phase):
    unit = "token"
    #: torch.compile mode for this phase's compiled function (None: inductor's default)
    mode: str | None = None

    def __init__(self, w: LlmWorkload) -> None:
        self.w = w
        self.per_call_s: float | None = None
        self.fn: Any = None
        self.compiled = False
        self.cuda_graphs = False
        self.compile_error: str | None = None

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate:
            self.per_call_s = self.tokens_per_call / rate_estimate

    @property
    def tokens_per_call(self) -> int:
        raise NotImplementedError

    def eager(self) -> Any:
        raise NotImplementedError

    def compiled_fn(self, torch: Any) -> Any:
        raise NotImplementedError

    def first_calls(self, fn: Any) -> None:
        """Call ``fn`` as the phase will (compiling and capturing it when it is compiled)."""
        raise NotImplementedError

    def compile(self) -> bool:
        """torch.compile (with CUDA graphs for decode) and the first calls that build and
        capture the graphs, outside every energy window; a compiler failure falls back to eager
        for this phase, with the reason kept. Eager, the first calls still warm the allocator."""
        torch = import_torch()
        if self.w.use_compile:
            from torch._dynamo.utils import counters
            skips = sum(counters["inductor"].get(k, 0) for k in ("cudagraph_skips",))
            try:
                with _compile_config(torch), torch.no_grad():
                    fn = self.compiled_fn(torch)
                    self.first_calls(fn)
                    synchronize(self.w.dev)
                self.fn, self.compiled = fn, True
                self.cuda_graphs = self.mode == "reduce-overhead" and \
                    sum(counters["inductor"].get(k, 0) for k in ("cudagraph_skips",)) == skips
                return True
            except Exception as exc:  # noqa: BLE001 - eager still measures; the reason is kept
                self.compile_error = (f"torch.compile failed, {self.name} runs eager: "
                                      + " ".join(str(exc).split())[:300])
        self.fn = self.eager()
        with torch.no_grad():
            self.first_calls(self.fn)
        synchronize(self.w.dev)
        return True

    def notes(self) -> list[str]:
        return [self.compile_error] if self.compile_error else []

    def close(self) -> None:
        self.fn = None

    def base_params(self) -> dict[str, Any]:
        """What every llm phase's results are compared by; ``launch`` says how the same work
        ran (compare reports a different one beside its verdict, as it does a kernel's)."""
        return {"preset": self.w.config.name, "dtype": self.w.dtype_name, "prompt": self.w.prompt,
                "max_seq": self.w.max_seq, "compiled": self.compiled,
                "cuda_graphs": self.cuda_graphs, "attention": "grouped-query, KV read once",
                "fused_projections": True,
                "launch": f"attention {self.w.attention}, kv span {self.w.kv_span}"}


class Spans:
    """The cache spans a step may attend over (model.kv_span of each valid length), each a
    tensor of key positions on the device. When the phase is compiled and there are several,
    each is marked dynamic in its length: one compile serves them all, and CUDA graph trees
    capture one graph per span."""

    def __init__(self, w: LlmWorkload) -> None:
        from benchhash.workloads.llm.model import kv_span
        torch = import_torch()
        self.span, self.max_seq, self.policy = kv_span, w.max_seq, w.kv_span
        sizes = sorted({kv_span(n, w.max_seq, w.kv_span) for n in range(1, w.max_seq + 1)})
        self.by_size = {n: torch.arange(n, device=w.dev) for n in sizes}
        if w.use_compile and len(sizes) > 1:
            for keys in self.by_size.values():
                torch._dynamo.mark_dynamic(keys, 0)

    def keys(self, needed: int) -> Any:
        """The key positions a step attends over when ``needed`` positions hold valid keys."""
        return self.by_size[self.span(needed, self.max_seq, self.policy)]

    def covering(self, lowest: int, highest: int) -> list[Any]:
        """Every span a step with lowest..highest valid positions attends over (to capture
        them all before the windows)."""
        sizes = {self.span(n, self.max_seq, self.policy) for n in range(lowest, highest + 1)}
        return [self.by_size[n] for n in sorted(sizes)]
