"""The reference backend: hashlib, one nonce at a time. Slow and obviously correct; tests and
verification trust it, and the CPU benchmark uses its midstate loop as the baseline."""

from __future__ import annotations

import hashlib
import platform
import struct
import threading

from benchhash.sha256d.backend import Candidate, Progress, ScanBackend, check_overflow
from benchhash.sha256d.header import hash_to_int

_REPORT_EVERY = 1 << 16


class ReferenceBackend(ScanBackend):
    name = "reference"

    @property
    def device(self) -> str:
        return f"cpu ({platform.processor() or platform.machine()}, hashlib)"

    def candidates(self, header: bytes, start: int, count: int, threshold: int,
                   progress: Progress | None = None,
                   stop: threading.Event | None = None) -> tuple[list[Candidate], int]:
        midstate = hashlib.sha256(header[:64])  # the first block never changes with the nonce
        tail = header[64:76]
        sha256 = hashlib.sha256
        pack = struct.Struct("<I").pack
        found: list[Candidate] = []
        scanned = 0
        for nonce in range(start, start + count):
            inner = midstate.copy()
            inner.update(tail + pack(nonce))
            digest = sha256(inner.digest()).digest()
            if hash_to_int(digest) <= threshold:
                found.append(Candidate(nonce, digest))
                check_overflow(len(found))
            scanned += 1
            if scanned % _REPORT_EVERY == 0:
                if progress:
                    progress(_REPORT_EVERY)
                if stop is not None and stop.is_set():
                    return found, scanned
        if progress and scanned % _REPORT_EVERY:
            progress(scanned % _REPORT_EVERY)
        return found, scanned
