"""The SHA-256d workload: exact nonce ranges, shares that re-hash, header rolling, share bits."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from benchhash.results.model import Device
from benchhash.results.shares import unpack
from benchhash.sha256d.header import NONCE_SPACE, hash_to_int, sha256d
from benchhash.sha256d.reference import ReferenceBackend
from benchhash.workloads import create, defaults, parse_names
from benchhash.workloads.sha256d import ScanPhase, derive_header, share_bits_for
from benchhash.workloads.sha256d_proof import Sha256dProof, Sha256dTrialProof


def test_share_bits_give_2048_to_4096_shares_per_trial() -> None:
    for rate in (1e6, 5e7, 8e9):
        k = share_bits_for(rate, 10.0)
        assert 2048 <= rate * 10 / 2 ** k < 4096


def test_headers_follow_the_rule() -> None:
    seed, prev = bytes(16), bytes(32)
    h = derive_header(seed, 3, prev, 1_700_000_000)
    assert len(h) == 80 and h[36:68] == sha256d(seed + (3).to_bytes(8, "little"))
    assert h[76:] == bytes(4)


class StopsAfter(ReferenceBackend):
    """The reference backend scanning at most ``per_call`` nonces a call, which sets ``stop``
    once ``total`` are scanned: a window that ends after a set amount of work, not of time."""

    def __init__(self, stop: threading.Event, per_call: int, total: int) -> None:
        super().__init__()
        self.stop, self.per_call, self.total, self.scanned = stop, per_call, total, 0

    def candidates(self, header: bytes, start: int, count: int, threshold: int, progress: Any = None,
                   stop: threading.Event | None = None) -> tuple[list[Any], int]:
        found, n = super().candidates(header, start, min(count, self.per_call), threshold, progress, stop)
        self.scanned += n
        if self.scanned >= self.total:
            self.stop.set()
        return found, n


def test_phase_records_exact_ranges_and_true_shares() -> None:
    stop = threading.Event()
    phase = ScanPhase(StopsAfter(stop, per_call=4096, total=3000 + 4096), {"backend": "reference"})
    phase.share_bits = 8                      # 1 share in 256 hashes
    phase.pos = NONCE_SPACE - 3000            # force a roll onto the next header mid-window
    phase.j = 0
    phase.headers.append(derive_header(phase.seed, 0, phase.prev, phase.timestamp))
    w = phase.run(600.0, stop, trial=0)       # ended by the stop event, long before its timer
    proof = Sha256dTrialProof.model_validate(w.proof)
    context = Sha256dProof.model_validate(phase.proof_context())
    assert sum(r[2] for r in proof.ranges) == w.work == 3000 + 4096
    assert proof.ranges == [[0, NONCE_SPACE - 3000, 3000], [1, 0, 4096]]   # the rest of header 0, then header 1
    target = int(context.share_target, 16)
    expected = set()
    for j, start, count in proof.ranges:      # brute-force the same ranges with hashlib
        header = bytes.fromhex(context.headers[j])
        for n in range(start, start + count):
            d = sha256d(header[:76] + n.to_bytes(4, "little"))
            if hash_to_int(d) <= target:
                expected.add((j, n))
    assert unpack(proof.packed_shares) == sorted(expected) and proof.packed_shares.count == len(expected) > 0


def test_warmup_windows_keep_no_proof() -> None:
    phase = ScanPhase(ReferenceBackend(), {})
    assert phase.run(0.05, threading.Event(), trial=None).proof is None


def test_registry() -> None:
    assert parse_names("sha256d, SHA256D") == ["sha256d"]
    assert defaults(Device(kind="cpu")) == ["sha256d"]
    assert create("sha256d", Device(kind="cpu")).name == "sha256d"
    with pytest.raises(Exception, match="unknown workload"):
        parse_names("scrypt")
