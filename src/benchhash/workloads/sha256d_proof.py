"""SHA-256d proof of work as a result keeps it, and how `verify` checks it.

The models: per phase the share target, the seed and the headers derived from it; per trial the
exact nonce ranges scanned and every share found. The check re-hashes every share with hashlib
(independent of the kernels that found it), and asks whether the number of hashes claimed agrees
with the number of shares found: shares are a Poisson process, so the expected count must lie in
the exact 99.9 % interval of the observed count."""

from __future__ import annotations

import struct
from typing import Annotated

from pydantic import Field, ValidationError

from benchhash.results.model import HeaderHex, Hex64, Model, Trial, WorkloadResult
from benchhash.sha256d.header import NONCE_SPACE, hash_to_int, sha256d
from benchhash.stats import poisson_interval

HEADER_RULE = "merkle_root = SHA256d(seed || uint64le(j)), other fields as headers[0]"
BITS = 0x1D00FFFF        # difficulty 1: the block target plays no part in the measurement
VERSION = 0x20000000


class Share(Model):
    header: int = Field(ge=0, description="index into proof.headers")
    nonce: int = Field(ge=0, lt=1 << 32)
    hash: Hex64 = Field(description="block hash, display order")


class Sha256dTrialProof(Model):
    ranges: list[Annotated[list[int], Field(min_length=3, max_length=3)]] = Field(
        description="[header index, first nonce, count] scanned in this trial")
    shares: list[Share]


class Sha256dProof(Model):
    share_bits: int = Field(ge=1, le=256)
    share_target: Hex64
    seed: str = Field(pattern=r"^[0-9a-f]+$")
    header_rule: str
    headers: list[HeaderHex]


def derive_header(seed: bytes, j: int, prev: bytes, timestamp: int) -> bytes:
    """The j-th header of a run (serialised, nonce 0): same fields, merkle root from the seed
    (both hashes in internal byte order, as they are serialised)."""
    merkle = sha256d(seed + struct.pack("<Q", j))
    return struct.pack("<I", VERSION) + prev + merkle + struct.pack("<III", timestamp, BITS, 0)


def _rule_header(proof: Sha256dProof, j: int) -> bytes | None:
    """The header j as the rule derives it from headers[0] and the seed."""
    try:
        first = bytes.fromhex(proof.headers[0])
        merkle = sha256d(bytes.fromhex(proof.seed) + struct.pack("<Q", j))
    except (ValueError, IndexError):
        return None
    return first[:36] + merkle + first[68:76] + bytes(4)


def _check_headers(proof: Sha256dProof, name: str) -> list[str]:
    problems = []
    if int(proof.share_target, 16) != (1 << (256 - proof.share_bits)) - 1:
        problems.append(f"{name}: share_target does not match share_bits {proof.share_bits}")
    for j, h in enumerate(proof.headers):
        if bytes.fromhex(h)[:76] != (_rule_header(proof, j) or b"")[:76]:
            problems.append(f"{name}: header {j} does not follow the header rule from the seed")
            break
    return problems


def _check_ranges(t: Trial, tp: Sha256dTrialProof, headers: int, name: str) -> list[str]:
    problems = []
    covered = sum(r[2] for r in tp.ranges)
    if covered != t.work:
        problems.append(f"{name} trial {t.index}: nonce ranges cover {covered} hashes, "
                        f"the trial claims {t.work:.0f}")
    for r in tp.ranges:
        if not (0 <= r[0] < headers and r[1] >= 0 and r[2] > 0 and r[1] + r[2] <= NONCE_SPACE):
            problems.append(f"{name} trial {t.index}: nonce range {r} is impossible")
    return problems


def _check_shares(t: Trial, tp: Sha256dTrialProof, headers: list[bytes], target: int,
                  seen: set[tuple[int, int]], name: str) -> list[str]:
    problems = []
    for i, s in enumerate(tp.shares):
        where = f"{name} trial {t.index} share {i} (nonce {s.nonce})"
        if s.header >= len(headers):
            problems.append(f"{where}: no header {s.header}")
            continue
        if (s.header, s.nonce) in seen:
            problems.append(f"{where}: duplicate share")
        seen.add((s.header, s.nonce))
        if not any(r[0] == s.header and r[1] <= s.nonce < r[1] + r[2] for r in tp.ranges):
            problems.append(f"{where}: nonce outside the ranges this trial scanned")
        digest = sha256d(headers[s.header][:76] + struct.pack("<I", s.nonce))
        if digest[::-1].hex() != s.hash:
            problems.append(f"{where}: re-hashed to {digest[::-1].hex()[:16]}…, file says {s.hash[:16]}…")
        elif hash_to_int(digest) > target:
            problems.append(f"{where}: hash does not meet the share target")
    return problems


def _check_count(work: float, shares: int, target: int, name: str) -> list[str]:
    """The hashes claimed against the shares found (Poisson, 99.9 %)."""
    expected = work * (target + 1) / 2 ** 256
    lo, hi = poisson_interval(shares)
    if lo <= expected <= hi:
        return []
    if expected <= 0:
        return [f"{name}: no hashes claimed but {shares} shares"]
    return [f"{name}: {work:.4g} hashes claimed should give about {expected:.0f} shares; {shares} "
            f"found, which implies {lo / expected * work:.4g}..{hi / expected * work:.4g} hashes (99.9 %)"]


def check(w: WorkloadResult) -> list[str]:
    """Everything wrong with a SHA-256d result's proof of work; [] when it holds."""
    name = w.label
    try:
        proof = Sha256dProof.model_validate(w.proof)
        trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    except ValidationError as exc:
        return [f"{name}: proof is malformed ({exc.errors()[0]['msg']})"]
    problems = _check_headers(proof, name)
    headers = [bytes.fromhex(h) for h in proof.headers]
    target = int(proof.share_target, 16)
    seen: set[tuple[int, int]] = set()
    for t, tp in zip(w.trials, trials, strict=True):
        problems += _check_ranges(t, tp, len(headers), name)
        problems += _check_shares(t, tp, headers, target, seen, name)
    if w.trials:
        shares = sum(len(tp.shares) for tp in trials)
        problems += _check_count(sum(t.work for t in w.trials), shares, target, name)
    return problems
