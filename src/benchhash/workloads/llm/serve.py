"""Served inference as a phase: a seeded stream of requests served with continuous batching over
the static KV cache, one phase per concurrency (``serve.c64``: 64 slots).

Each slot holds one request at its own position. Every iteration first refills free slots: a
waiting request is prefilled whole, one request at a time, into its slot's cache row (its first
token comes from that prefill, the LM head on its last position only); then one decode step
advances every slot at once, each row attending to its own valid length, the span read rounded
up to a few static sizes (model.kv_span). The tokens reach the host after every step, as a
server streams them; a request that has its output length is complete, and its slot is free for
the next. On a GPU the decode step is one CUDA graph (static shapes, positions as a tensor, one
capture per span) and the prefill is compiled per prompt-length bucket, all before the windows.

Requests arrive as a closed loop (a slot's next request arrives as its last completes: the
most a server can deliver at that concurrency) or, with --serve-rate, as a Poisson process.
Their lengths are IN:OUT (default 512:512 on a GPU: the prompt the prefill phase measures, a
whole 1,024-position cache; ML.ENERGY's Llama-3.1-8B reference runs vLLM over real chat prompts
at batch 64, whose responses average about 700 tokens in its v3 Text Conversation task, so a
512-token answer carries more prefill per output token than theirs), or drawn from a histogram
of (IN, OUT, weight) triples. The first request of each slot has an output length spread over
1..OUT, so the slots do not complete in lockstep, as in a server that has been running.

Time is service time: wall time inside the windows only, so a request in flight between two
windows is not charged the runner's pause between them."""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from benchhash.errors import InputError
from benchhash.fsutil import parse_json, read_bytes
from benchhash.workloads.base import Window
from benchhash.workloads.llm import serve_proof as sp
from benchhash.workloads.llm.figures import serve_work
from benchhash.workloads.llm.phase import LlmPhase, Spans
from benchhash.workloads.torch_util import import_torch, synchronize

if TYPE_CHECKING:
    from benchhash.workloads.llm.workload import LlmWorkload


@dataclass(frozen=True)
class Lengths:
    """The (input, output) lengths requests draw, with their weights."""

    pairs: tuple[tuple[int, int], ...]
    weights: tuple[float, ...]
    label: str

    def draw(self, rng: random.Random) -> tuple[int, int]:
        if len(self.pairs) == 1:
            return self.pairs[0]
        return rng.choices(self.pairs, self.weights)[0]

    @property
    def longest(self) -> int:
        return max(i + o for i, o in self.pairs)


def _pair(text: str) -> tuple[int, int] | None:
    head, sep, tail = text.partition(":")
    if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
        return None
    return int(head), int(tail)


def parse_lengths(text: str) -> Lengths:
    """IN:OUT, or a JSON file {"pairs": [[IN, OUT, weight], ...]} (a histogram of lengths)."""
    pair = _pair(text.strip())
    if pair is not None:
        if min(pair) < 1:
            raise InputError(f"--serve-lengths IN:OUT needs both at least 1, got {text!r}")
        return Lengths((pair,), (1.0,), f"{pair[0]}:{pair[1]}")
    path = Path(text)
    try:
        raw = read_bytes(path, "--serve-lengths file")
        rows = parse_json(raw.decode("utf-8"), f"--serve-lengths file {path}")["pairs"]
        pairs = tuple((int(r[0]), int(r[1])) for r in rows)
        weights = tuple(float(r[2]) for r in rows)
    except (InputError, ValueError, KeyError, TypeError, IndexError):
        raise InputError(f"--serve-lengths takes IN:OUT or a JSON file of {{\"pairs\": [[IN, OUT, weight], "
                         f"...]}}, got {text!r}") from None
    if not pairs or min(min(p) for p in pairs) < 1 or min(weights) < 0 or not sum(weights) > 0:
        raise InputError(f"--serve-lengths {text}: lengths must be at least 1 and weights non-negative")
    return Lengths(pairs, weights, f"histogram {path.name} (sha256 {hashlib.sha256(raw).hexdigest()[:16]})")


@dataclass
class Request:
    """A request and what has happened to it, on the service clock."""

    n: int                      # its place in the stream
    input: int
    output: int
    arrival_s: float
    first_s: float | None = None
    done_s: float | None = None
    made: int = 0               # output tokens so far
    window_tokens: int = 0      # ... inside the current window
    window_prefill: bool = False
    window_done: bool = False

    def record(self) -> sp.Record:
        ttft = None if self.first_s is None else 1e3 * (self.first_s - self.arrival_s)
        tpot = None
        if self.window_done and self.output > 1 and self.first_s is not None and self.done_s is not None:
            tpot = 1e3 * (self.done_s - self.first_s) / (self.output - 1)
        return sp.Record(self.input, self.output, self.window_tokens, self.window_prefill, self.window_done,
                         ttft, tpot)


class Stream:
    """Requests in the order they arrive, from a seeded generator: lengths drawn from
    ``lengths``; arrivals a closed loop (one is always waiting) or Poisson at ``rate``/s. The
    first ``stagger`` requests have their output length spread over 1..OUT."""

    def __init__(self, lengths: Lengths, seed: int, rate: float | None, stagger: int, start_s: float = 0.0) -> None:
        self.lengths, self.rate, self.stagger = lengths, rate, stagger
        self.rng = random.Random(seed)
        self.next_s = start_s
        self.count = 0

    def due(self, now: float) -> bool:
        return self.rate is None or self.next_s <= now

    def take(self, now: float) -> Request:
        inp, out = self.lengths.draw(self.rng)
        if self.count < self.stagger:
            out = max(1, math.ceil(out * (self.count + 1) / self.stagger))
        arrival = now if self.rate is None else self.next_s
        if self.rate is not None:
            self.next_s += self.rng.expovariate(self.rate)
        self.count += 1
        return Request(self.count - 1, inp, out, arrival)


class ServiceClock:
    """Seconds of service: wall time while running, stopped between windows."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.stopped_at: float | None = None

    def now(self) -> float:
        return (time.perf_counter() if self.stopped_at is None else self.stopped_at) - self.offset

    def stop(self) -> None:
        self.stopped_at = time.perf_counter()

    def start(self) -> None:
        if self.stopped_at is not None:
            self.offset += time.perf_counter() - self.stopped_at
            self.stopped_at = None


class Fns(NamedTuple):
    prefill: Any
    decode: Any


@dataclass
class Tally:
    """What a window's iterations did beyond the requests' own records (for MFU and MBU)."""

    seen: list[Request] = field(default_factory=list)
    steps: int = 0
    decode_tokens: int = 0
    context_sum: int = 0        # valid positions attended, over the decode tokens
    span_sum: int = 0           # positions read per row, over the steps


def _weighted(windows: list[Window], mean: str, weight: str) -> float | None:
    """A per-window mean over all the windows (each weighted by its count)."""
    pairs = [(x.metrics[mean], x.metrics[weight]) for x in windows if x.metrics[mean] is not None]
    total = sum(n for _, n in pairs)
    return sum(m * n for m, n in pairs) / total if total else None


class ServePhase(LlmPhase):
    mode = "reduce-overhead"      # the decode step: one CUDA graph replay

    def __init__(self, w: LlmWorkload, concurrency: int) -> None:
        super().__init__(w)
        torch = import_torch()
        self.concurrency, self.name = concurrency, f"serve.c{concurrency}"
        self.seed = int.from_bytes(w.context.seed(f"llm {self.name}")[:4], "big") if w.context else concurrency
        self.next = torch.zeros((concurrency, 1), dtype=torch.long, device=w.dev)
        self.pos = torch.zeros((concurrency, 1), dtype=torch.long, device=w.dev)
        self.rows = [torch.tensor([i], device=w.dev) for i in range(concurrency)]
        self.spans = Spans(w)
        self.buckets = sorted({self.spans.span(i, w.max_seq, "bucket") for i, _ in w.lengths.pairs})
        self.prompts = {n: torch.randint(0, w.config.vocab_size, (1, n), device=w.dev, generator=w.gen)
                        for n in self.buckets}
        self.lasts = {i: torch.tensor([i - 1], device=w.dev) for i, _ in w.lengths.pairs}
        self.clock = ServiceClock()
        self.tally = Tally()
        self.delivered: dict[int, list[int]] | None = None    # tokens per request, when a test asks
        self.reset()

    def reset(self) -> None:
        """Empty slots and a fresh stream (a phase measured again starts over)."""
        self.slots: list[Request | None] = [None] * self.concurrency
        self.positions = [0] * self.concurrency
        self.stream = Stream(self.w.lengths, self.seed, self.w.serve_rate, self.concurrency, self.clock.now())

    @property
    def tokens_per_call(self) -> int:
        return self.concurrency

    def eager(self) -> Fns:
        from benchhash.workloads.llm.model import decode_next, prefill_slot
        return Fns(prefill_slot, decode_next)

    def compiled_fn(self, torch: Any) -> Fns:
        from benchhash.workloads.llm.model import decode_next, prefill_slot
        return Fns(torch.compile(prefill_slot, fullgraph=True, dynamic=False),
                   torch.compile(decode_next, mode=self.mode, fullgraph=True, dynamic=False))

    def first_calls(self, fn: Fns) -> None:
        """Every prefill bucket and every decode span, called as the windows will (compiled:
        the compiles and the CUDA graph captures); then the slots filled, on the clock."""
        self.fn = fn
        m = self.w.model
        repeats = 3 if self.w.use_compile else 1     # cudagraph trees: warm-up, record, replay
        for n in self.buckets:
            for _ in range(repeats):
                fn.prefill(m, self.prompts[n], self.rows[0], self.lasts[min(self.lasts)])
        self.positions = [0] * self.concurrency
        self.pos.zero_()
        for keys in self.spans.covering(1, self.w.lengths.longest):
            for _ in range(repeats):
                self.next.copy_(fn.decode(m, self.next, self.pos, keys))
        self.clock.start()                           # the first requests' prefills are timed too
        self.reset()
        self.tally = Tally()
        self._refill()
        synchronize(self.w.dev)
        self.clock.stop()

    def _admit(self, i: int, r: Request) -> None:
        """Prefill request r into slot i: its first token, on the host."""
        bucket = self.spans.span(r.input, self.w.max_seq, "bucket")
        first = self.fn.prefill(self.w.model, self.prompts[bucket], self.rows[i], self.lasts[r.input])
        self.next.index_copy_(0, self.rows[i], first)
        token = int(first.item())                    # the first token, delivered
        r.first_s = self.clock.now()
        self.slots[i], self.positions[i] = r, r.input
        r.window_prefill = True
        self.tally.seen.append(r)
        self._produced(i, r, token, r.first_s)

    def _produced(self, i: int, r: Request, token: int, now: float) -> None:
        r.made += 1
        r.window_tokens += 1
        if self.delivered is not None:
            self.delivered.setdefault(r.n, []).append(token)
        if r.made == r.output:
            r.done_s, r.window_done = now, True
            self.slots[i], self.positions[i] = None, 0

    def _refill(self) -> None:
        for i in range(self.concurrency):
            if self.slots[i] is None and self.stream.due(self.clock.now()):
                self._admit(i, self.stream.take(self.clock.now()))

    def _decode(self, active: list[int]) -> None:
        """One step for every slot (a free one computes at its parked position 0, unread)."""
        torch = import_torch()
        keys = self.spans.keys(max(self.positions[i] for i in active) + 1)
        self.pos.copy_(torch.tensor(self.positions, dtype=torch.long).view(-1, 1))
        self.next.copy_(self.fn.decode(self.w.model, self.next, self.pos, keys))
        tokens = self.next.view(-1).tolist()         # every slot's token, delivered
        now = self.clock.now()
        t = self.tally
        t.steps += 1
        t.span_sum += int(keys.shape[0])
        for i in active:
            r = self.slots[i]
            assert r is not None
            self.positions[i] += 1
            t.decode_tokens += 1
            t.context_sum += self.positions[i]
            self._produced(i, r, tokens[i], now)

    def _iteration(self, deadline: float) -> None:
        self._refill()
        active = [i for i, r in enumerate(self.slots) if r is not None]
        if active:
            self._decode(active)
        else:      # Poisson arrivals and nothing to serve: wait for the next request
            time.sleep(max(0.0, min(self.stream.next_s - self.clock.now(), deadline - time.perf_counter())))

    def _open(self) -> None:
        self.tally = Tally(seen=[r for r in self.slots if r is not None])
        for r in self.tally.seen:
            r.window_tokens, r.window_prefill, r.window_done = 0, False, False

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if self.fn is None:
            self.compile()
        torch = import_torch()
        self._open()
        self.clock.start()
        t0 = time.perf_counter()
        with torch.no_grad():
            while time.perf_counter() - t0 < seconds and not stop.is_set():
                self._iteration(t0 + seconds)
            synchronize(self.w.dev)
        secs = time.perf_counter() - t0
        self.clock.stop()
        records = [r.record() for r in self.tally.seen if r.window_tokens or r.window_prefill]
        figures = sp.trial_figures(records, secs)
        return Window(figures["output_tokens"], secs, proof={"requests": [r.row() for r in records]},
                      metrics={**figures, **self._work(records)})

    def _work(self, records: list[sp.Record]) -> dict[str, Any]:
        """The window's FLOPs (a server's: real tokens only) and bytes read (weights once per
        step and per prefill, the KV cache over every row's span), as verify recomputes them."""
        t = self.tally
        context = t.context_sum / t.decode_tokens if t.decode_tokens else None
        span = t.span_sum / t.steps if t.steps else None
        prefilled = [r.input_tokens for r in records if r.prefilled_in_window]
        flops, read = serve_work(self.w.config, self.concurrency, self.w.bytes_per_value, prefilled, t.steps,
                                 t.decode_tokens, context, span)
        return {"decode_steps": t.steps, "decode_tokens": t.decode_tokens, "flops": flops, "bytes_read": read,
                "context_mean": context, "kv_span_mean": span}

    def params(self) -> dict[str, Any]:
        w = self.w
        return {**self.base_params(), "concurrency": self.concurrency, "lengths": w.lengths.label,
                "arrivals": self.arrivals, "prefill": "whole prompt, one request at a time, between decode steps",
                "lm_head": "last position only"}

    @property
    def arrivals(self) -> str:
        rate = self.w.serve_rate
        return "closed loop" if rate is None else f"poisson {rate:g} requests/s"

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        seconds = sum(x.seconds for x in windows)
        trials = [[sp.Record.of(row) for row in (x.proof or {}).get("requests", [])] for x in windows]
        out = sp.phase_figures(trials, seconds, list(self.w.slo_ms))
        flops = sum(x.metrics["flops"] for x in windows)
        read = sum(x.metrics["bytes_read"] for x in windows)
        out.update(concurrency=self.concurrency, tflops=flops / seconds / 1e12, bytes_read_per_s=read / seconds,
                   context_mean=_weighted(windows, "context_mean", "decode_tokens"),
                   kv_span_mean=_weighted(windows, "kv_span_mean", "decode_steps"))
        return {**out, **self.w.utilisation(flops / seconds, read / seconds)}

    def proof_context(self) -> dict[str, Any]:
        return sp.ServeProof(columns=list(sp.COLUMNS), concurrency=self.concurrency, lengths=self.w.lengths.label,
                             arrivals=self.arrivals, seed=self.seed, slo_ms=list(self.w.slo_ms),
                             slo_percentile=sp.SLO_PERCENTILE).model_dump(mode="json")
