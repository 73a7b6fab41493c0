"""One scanning interface over three backends: pick a backend, scan a nonce range, sort what it
found into hits (hash <= target) and shares (hash <= share target)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from benchhash.errors import BackendUnavailable, InputError
from benchhash.hw.device import parse
from benchhash.sha256d.backend import Candidate, Progress, ScanBackend
from benchhash.sha256d.header import (
    NONCE_SPACE,
    BlockHeader,
    bits_to_target,
    display_hex,
    hash_to_int,
    share_target,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """A nonce and its block hash in display order."""

    nonce: int
    hash: str

    def to_json(self) -> dict[str, int | str]:
        return {"nonce": self.nonce, "hash": self.hash}


@dataclass
class ScanResult:
    header: str
    start: int
    count: int
    target: int
    share_target: int | None
    hits: list[Hit]
    shares: list[Hit]
    scanned: int
    seconds: float
    backend: str
    device: str
    complete: bool = True
    extra: dict[str, object] = field(default_factory=dict)
    launch: dict[str, object] | None = None     # the backend's kernel / launch shape, if it says

    @property
    def hashes_per_second(self) -> float | None:
        return self.scanned / self.seconds if self.seconds > 0 else None

    def to_json(self) -> dict[str, object]:
        return {
            "header": self.header,
            "start": self.start,
            "count": self.count,
            "target": f"{self.target:064x}",
            "share_target": None if self.share_target is None else f"{self.share_target:064x}",
            "hits": [h.to_json() for h in self.hits],
            "shares": [s.to_json() for s in self.shares],
            "scanned": self.scanned,
            "seconds": self.seconds,
            "hashes_per_second": self.hashes_per_second,
            "device": self.device,
            "backend": self.backend,
            "complete": self.complete,
            "launch": self.launch,
        }


def make_backend(device: str = "auto", threads: int | None = None, cpu_kernel: str = "auto") -> ScanBackend:
    """The backend for a device string; 'auto' takes the GPU when CuPy sees one, else the CPU
    (with ``cpu_kernel``: auto | simd | sha-ni)."""
    kind, index = parse(device, reference=True)
    if kind == "auto":
        from benchhash.hw.cuda import probe
        from benchhash.sha256d.cuda import CudaBackend
        try:
            return CudaBackend(index)
        except BackendUnavailable as exc:
            if probe(index).steps.get("gpu", "") is None:     # a GPU is there: say why not it
                log.warning("%s; scanning on the CPU instead", exc)
            kind = "cpu"
    if kind == "cuda":
        from benchhash.sha256d.cuda import CudaBackend
        return CudaBackend(index)
    if kind == "reference":
        from benchhash.sha256d.reference import ReferenceBackend
        return ReferenceBackend()
    from benchhash.sha256d.cpu import CpuBackend
    return CpuBackend(threads, cpu_kernel)


def check_range(start: int, count: int) -> None:
    if count <= 0:
        raise InputError(f"--count must be positive, got {count}")
    if start < 0:
        raise InputError(f"--start must not be negative, got {start}")
    if start + count > NONCE_SPACE:
        raise InputError(f"nonce range [{start}, {start + count}) goes past 2^32 = {NONCE_SPACE}")


def classify(found: list[Candidate], target: int, share: int | None) -> tuple[list[Hit], list[Hit]]:
    hits: list[Hit] = []
    shares: list[Hit] = []
    for c in found:
        value = hash_to_int(c.digest)
        hit = Hit(c.nonce, display_hex(c.digest))
        if value <= target:
            hits.append(hit)
        if share is not None and value <= share:
            shares.append(hit)
    return hits, shares


def scan(header: bytes | BlockHeader, start: int = 0, count: int = NONCE_SPACE, *,
         target: int | None = None, share_bits: int | None = None,
         backend: ScanBackend | None = None, device: str = "auto", threads: int | None = None,
         progress: Progress | None = None, stop: threading.Event | None = None) -> ScanResult:
    """Scan nonces [start, start+count) of a header. The target defaults to the header's bits."""
    raw = header.to_bytes() if isinstance(header, BlockHeader) else bytes(header)
    parsed = BlockHeader.from_bytes(raw)
    check_range(start, count)
    tgt = bits_to_target(parsed.bits) if target is None else target
    if not 0 <= tgt < 1 << 256:
        raise InputError("target must be between 0 and 2^256 - 1")
    share = None if share_bits is None else share_target(share_bits)
    threshold = tgt if share is None else max(tgt, share)
    engine = backend or make_backend(device, threads)
    engine.load()                  # compile / load / calibrate outside the timed scan
    t0 = time.perf_counter()
    found, scanned = engine.candidates(raw, start, count, threshold, progress, stop)
    seconds = time.perf_counter() - t0
    hits, shares = classify(found, tgt, share)
    launch = getattr(engine, "launch_info", None)
    return ScanResult(raw.hex(), start, count, tgt, share, hits, shares, scanned, seconds,
                      engine.name, engine.device, complete=scanned == count,
                      launch=launch() if launch is not None else None)
