"""A plug-in workload for fleet tests (loaded through BENCHHASH_WORKLOADS): it hashes with
hashlib for the window's length, and on one rank, at one trial, it fails the way its
environment says: FAULT=raise (an error in the phase) or FAULT=hang (it stops answering)."""

from __future__ import annotations

import hashlib
import os
import threading
import time

from benchhash.workloads.base import Phase, Window, Workload


class Spin(Phase):
    name = "spin"
    unit = "hash"

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        if trial is not None and os.environ.get("RANK") == os.environ.get("FAULT_RANK") \
                and trial == int(os.environ.get("FAULT_TRIAL", "1")) and self.name == "first":
            if os.environ.get("FAULT") == "raise":
                raise RuntimeError("injected fault")
            if os.environ.get("FAULT") == "hang":
                time.sleep(3600)
        n, t0, block = 0, time.perf_counter(), b"x" * 64
        while time.perf_counter() - t0 < seconds and not stop.is_set():
            for _ in range(1000):
                block = hashlib.sha256(block).digest()
            n += 1000
        return Window(float(n), time.perf_counter() - t0, None)


class FaultyWorkload(Workload):
    name = "faulty"
    description = "hashlib spinning, with an injected fault on one rank (tests only)"

    def setup(self) -> None:
        self._phases: list[Phase] = [Spin("first"), Spin("second")]

    def phases(self) -> list[Phase]:
        return self._phases

    def expected_phases(self) -> int:
        return 2

    @classmethod
    def phase_names(cls) -> str | None:
        return r"first|second"
