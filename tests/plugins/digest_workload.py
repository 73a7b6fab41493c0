"""A plug-in workload with options of its own (loaded through BENCHHASH_WORKLOADS): it hashes
blocks with hashlib for the window's length. Its options reach it only through the generic
`run --opt digest.NAME=VALUE`, as any plug-in's do."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Literal

from pydantic import Field

from benchhash.workloads.base import Options, Phase, Window, Workload


class DigestOptions(Options):
    algorithm: Literal["sha256", "blake2b", "md5"] = Field(default="sha256", description="the hashlib function")
    block_bytes: int = Field(default=64, ge=1, le=1 << 20, description="bytes hashed per call")


class Hashing(Phase):
    name = "hash"
    unit = "hash"

    def __init__(self, options: DigestOptions) -> None:
        self.options = options

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        n, t0, block = 0, time.perf_counter(), b"x" * self.options.block_bytes
        while time.perf_counter() - t0 < seconds and not stop.is_set():
            for _ in range(100):
                hashlib.new(self.options.algorithm, block).digest()
            n += 100
        return Window(float(n), time.perf_counter() - t0, None)

    def params(self) -> dict[str, Any]:
        return {"algorithm": self.options.algorithm, "block_bytes": self.options.block_bytes}


class DigestWorkload(Workload):
    name = "digest"
    description = "hashlib over blocks, with options of its own (tests only)"
    options_model = DigestOptions
    options: DigestOptions
    version = 2

    def setup(self) -> None:
        self._phases: list[Phase] = [Hashing(self.options)]

    def phases(self) -> list[Phase]:
        return self._phases

    @classmethod
    def phase_names(cls) -> str | None:
        return r"hash"
