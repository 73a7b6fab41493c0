"""What every scan backend provides; the engine (scan.py) does the rest."""

from __future__ import annotations

import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchhash.errors import ScanOverflowError

#: Called with the number of nonces finished since the last call.
Progress = Callable[[int], None]

#: Stop filling the result buffers past this many qualifying nonces in one scan.
MAX_RESULTS = 1 << 20


@dataclass(frozen=True)
class Candidate:
    """A nonce whose hash met the easiest threshold of the scan; digest in internal order."""

    nonce: int
    digest: bytes


def threshold_words(threshold: int) -> np.ndarray:
    """A 256-bit threshold as uint32[8], most significant word first (what the kernels compare)."""
    return np.array([(threshold >> (32 * (7 - k))) & 0xFFFFFFFF for k in range(8)], dtype=np.uint32)


def words_to_digest(words: np.ndarray) -> bytes:
    """Final SHA-256 state words -> the 32-byte digest (internal order)."""
    return struct.pack(">8I", *(int(w) for w in words))


def check_overflow(found: int, limit: int | None = None) -> None:
    """ScanOverflowError past ``limit`` (default: MAX_RESULTS as it is now, not at import)."""
    limit = MAX_RESULTS if limit is None else limit
    if found > limit:
        raise ScanOverflowError(
            f"{found} nonces met the target or share target, more than the {limit} the result "
            "buffer holds; use a harder target or more --share-bits")


class ScanBackend(ABC):
    """Scans a nonce range of one header and returns every nonce whose hash <= threshold."""

    name: str = "?"

    @property
    @abstractmethod
    def device(self) -> str:
        """Where it runs, in words (CPU model or GPU name)."""

    def load(self) -> None:
        """Compile or load the kernel (idempotent); candidates() calls it, and a caller that
        wants the compile timed on its own calls it first."""

    @abstractmethod
    def candidates(self, header: bytes, start: int, count: int, threshold: int,
                   progress: Progress | None = None,
                   stop: threading.Event | None = None) -> tuple[list[Candidate], int]:
        """Scan [start, start+count); return the qualifying nonces (ascending) and how many
        nonces were scanned (fewer than count only when ``stop`` was set)."""
