"""SHA-256d nonce scanning as a workload: one phase, unit 'hash' (one double SHA-256 of an
80-byte header), scanned with the cpu or cuda backend until the window closes.

Proof of work is kept as a pool keeps it: a share target easy enough to give ~100-250 shares a
trial, and every share (header, nonce, hash) with the exact nonce ranges scanned, so a reader can
re-hash the shares and check the claimed hash count against how many shares it produced.
Headers are derived from a random seed (merkle root = SHA-256d(seed || j)); when a header's 2^32
nonces are used up the next one follows, as extranonce rolling does on a real miner.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from benchhash.errors import BackendUnavailable
from benchhash.hw.cpu import usable_cores
from benchhash.results.model import Device, Result, WorkloadResult
from benchhash.results.shares import pack
from benchhash.sha256d.backend import ScanBackend
from benchhash.sha256d.cpu_choice import check_choice, check_name
from benchhash.sha256d.header import NONCE_SPACE, hash_to_int, sha256d, share_target
from benchhash.workloads import sha256d_proof
from benchhash.workloads.base import SEED_RULE, Options, Phase, PhaseFigures, Window, Workload
from benchhash.workloads.econ_figures import EconFigures
from benchhash.workloads.sha256d_proof import (
    HEADER_RULE,
    SHARES_PER_TRIAL,
    Sha256dProof,
    Sha256dTrialProof,
    derive_header,
    share_bits_for,
)

__all__ = ["SHARES_PER_TRIAL", "ScanPhase", "Sha256dOptions", "Sha256dWorkload", "derive_header", "share_bits_for"]

class Sha256dOptions(Options):
    threads: int | None = Field(default=None, description="--threads: CPU threads (default: every core)")
    cpu_kernel: str | None = Field(
        default=None, description="--cpu-kernel: auto (the faster on this CPU) | simd | sha-ni")

    @model_validator(mode="after")
    def _threads(self) -> Sha256dOptions:
        most = max(64, 4 * usable_cores())
        if self.threads is not None and not 1 <= self.threads <= most:
            raise ValueError(f"--threads must be between 1 and {most} (4 x the usable cores), got {self.threads}")
        if self.cpu_kernel is not None:
            check_name(self.cpu_kernel)
        return self


class ScanPhase(Phase):
    name = "scan"
    unit = "hash"

    def __init__(self, backend: ScanBackend, params: dict[str, Any], seed: bytes | None = None,
                 seed_for: Callable[[str], bytes] | None = None) -> None:
        self.backend = backend
        self._params = params
        self.seed_for = seed_for
        self.share_bits = 32
        self._start(seed)

    def _start(self, seed: bytes | None) -> None:
        """Headers from this seed (bound to the run when given; random otherwise), from the first."""
        self.seed = seed if seed is not None else os.urandom(16)
        self.bound = seed is not None
        self.prev = sha256d(b"benchhash prev " + self.seed)
        self.timestamp = int(time.time())
        self.headers: list[bytes] = []
        self.j, self.pos = -1, NONCE_SPACE     # next header is fetched on first use

    def rebind(self, label: str) -> None:
        """At another power limit the phase is a phase of its own: its shares come from headers
        seeded by that phase's label, so that no share serves two limits."""
        self._start(self.seed_for(label) if self.seed_for is not None else None)

    def compile(self) -> bool:
        """Load the kernel (numba: compiled once per machine; cuda: NVRTC) and run it once."""
        self.backend.load()
        warm = derive_header(self.seed, 1 << 40, self.prev, self.timestamp)
        self.backend.candidates(warm, 0, 1 << 12, 0)
        return True

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        if rate_estimate is None:
            rate_estimate = self.run(0.25, threading.Event(), None).rate
        self.share_bits = share_bits_for(rate_estimate, trial_seconds)

    def _next_header(self) -> None:
        self.j += 1
        self.pos = 0
        self.headers.append(derive_header(self.seed, self.j, self.prev, self.timestamp))

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        share = share_target(self.share_bits)
        done = threading.Event()
        timer = threading.Timer(seconds, done.set)
        ranges: list[list[int]] = []
        shares: list[tuple[int, int]] = []
        scanned_total = 0
        t0 = time.perf_counter()
        timer.start()
        try:
            while not done.is_set() and not stop.is_set():
                if self.pos >= NONCE_SPACE:
                    self._next_header()
                header = self.headers[self.j]
                found, scanned = self.backend.candidates(
                    header, self.pos, NONCE_SPACE - self.pos, share, None, done)
                for c in found:
                    if hash_to_int(c.digest) <= share:
                        shares.append((self.j, c.nonce))
                if scanned:
                    ranges.append([self.j, self.pos, scanned])
                self.pos += scanned
                scanned_total += scanned
        finally:
            timer.cancel()
        seconds_taken = time.perf_counter() - t0
        proof = None if trial is None else {"ranges": ranges,
                                            "packed_shares": pack(shares).model_dump(mode="json")}
        return Window(work=float(scanned_total), seconds=seconds_taken, proof=proof)

    def params(self) -> dict[str, Any]:
        launch = getattr(self.backend, "launch_info", None)
        return {**self._params, **({"launch": launch()} if launch is not None else {})}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        chosen = getattr(self.backend, "kernel_metrics", None)
        return dict(chosen()) if chosen is not None else {}

    def proof_context(self) -> dict[str, Any]:
        return {
            "share_bits": self.share_bits,
            "share_target": f"{share_target(self.share_bits):064x}",
            "seed": self.seed.hex(),
            "seed_rule": SEED_RULE if self.bound else None,
            "header_rule": HEADER_RULE,
            "headers": [h.hex() for h in self.headers],
        }


class Sha256dWorkload(Workload):
    name = "sha256d"
    unit = ScanPhase.unit
    description = "Bitcoin proof of work: SHA-256d over an 80-byte header, scanning the nonce"

    options_model = Sha256dOptions
    #: 1: double SHA-256 of 80-byte headers, nonces from the run's seed, the share protocol of
    #: schema v5 (Workload.version)
    version = 1
    proof_models = (Sha256dProof, Sha256dTrialProof)
    options: Sha256dOptions

    def __init__(self, device: Device, options: Options | None = None) -> None:
        super().__init__(device, options)
        self.fallback: str | None = None
        if device.kind == "cuda":
            from benchhash.sha256d.cuda import unavailable
            reason = unavailable(device.index)
            if reason is not None and device.explicit:
                raise BackendUnavailable(f"sha256d on {device.label}: {reason}")
            self.fallback = reason
        if device.kind == "cpu" or self.fallback is not None:
            check_choice(self.options.cpu_kernel or "auto")    # sha-ni on a CPU without it: refused now

    @classmethod
    def check_result(cls, w: WorkloadResult, result: Result) -> list[str]:
        return sha256d_proof.check(w, result)

    @classmethod
    def proven(cls, w: WorkloadResult, result: Result) -> list[str]:
        return sha256d_proof.proven(w, result)

    @classmethod
    def unproven(cls, w: WorkloadResult, result: Result) -> list[str]:
        return sha256d_proof.unproven(w, result)

    @classmethod
    def evidence(cls, w: WorkloadResult) -> set[tuple[str, int]]:
        return sha256d_proof.evidence(w)

    @classmethod
    def phase_names(cls) -> str | None:
        return r"scan"

    @classmethod
    def max_rate(cls, w: WorkloadResult, result: Result) -> tuple[float, str] | None:
        return sha256d_proof.max_rate(w, result)

    @classmethod
    def econ_figures(cls, f: PhaseFigures) -> EconFigures:
        return EconFigures(hashes_per_second=f.rate, hashing_watts=f.average_w)   # the watts belong to this work

    def setup(self) -> None:
        threads = self.options.threads
        if self.device.kind == "cuda" and self.fallback is None:
            from benchhash.sha256d.cuda import CudaBackend
            self._backend: ScanBackend = CudaBackend(self.device.index)
            params: dict[str, Any] = {"backend": "cuda"}
        else:
            from benchhash.sha256d.cpu import CpuBackend
            cpu = CpuBackend(threads, self.options.cpu_kernel or "auto")
            self._backend = cpu
            params = {"backend": "cpu", "threads": cpu.threads}
        seed = self.context.seed(f"{self.name} {ScanPhase.name}") if self.context else None
        self._phase = ScanPhase(self._backend, params, seed, self.context.seed if self.context else None)

    def phases(self) -> list[Phase]:
        return [self._phase]

    def synchronize(self) -> None:
        sync = getattr(self._backend, "synchronize", None)
        if sync is not None:
            sync()

    def backend(self) -> str | None:
        return self._backend.name

    def device_name(self) -> str:
        return self._backend.device

    def notes(self) -> list[str]:
        if self.fallback is None:
            return super().notes()
        return [f"{self.fallback}; sha256d ran on the CPU instead (--device auto)"]

    def metered(self) -> bool:
        return self.fallback is None or self.device.kind == "cpu"
