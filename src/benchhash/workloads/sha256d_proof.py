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

from benchhash.results.model import HeaderHex, Hex64, Model, Result, Trial, WorkloadResult
from benchhash.sha256d.header import NONCE_SPACE, hash_to_int, sha256d
from benchhash.stats import poisson_interval
from benchhash.workloads.base import SEED_RULE, RunContext

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
    seed_rule: str | None = Field(
        default=None, description="how the seed derives from the file (run id, time, host, device, "
                                  "phase), so the shares belong to this file; null: random seed")
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


def _check_binding(proof: Sha256dProof, w: WorkloadResult, result: Result | None, name: str) -> list[str]:
    """A file that has a run id must hold shares derived from it (SEED_RULE): shares from any
    other run, file, host, device or time re-hash fine but are not this file's."""
    if result is None or result.run_id is None:
        return []
    if proof.seed_rule != SEED_RULE:
        return [f"{name}: the proof is not bound to this file (no seed rule); its shares could "
                "come from another run"]
    ctx = RunContext(result.run_id, result.created_utc, result.environment.host, result.device.name)
    if proof.seed != ctx.seed(w.label).hex():
        return [f"{name}: the proof's seed is not derived from this file's run id, time, host and "
                "device: the shares come from another run"]
    return []


def check(w: WorkloadResult, result: Result | None = None) -> list[str]:
    """Everything wrong with a SHA-256d result's proof of work; [] when it holds. With the
    whole ``result``, also that the proof belongs to it."""
    name = w.label
    try:
        proof = Sha256dProof.model_validate(w.proof)
        trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    except ValidationError as exc:
        return [f"{name}: proof is malformed ({exc.errors()[0]['msg']})"]
    problems = _check_binding(proof, w, result, name) + _check_headers(proof, name)
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


#: Plausibility bounds, about 3.5x the fastest known code (a bound is a tripwire for forged
#: seconds, not a benchmark): on a CPU about 29 MH/s per thread (AVX-512 lanes or SHA-NI), on a
#: GPU about 57 MH/s per SM (H100: 7.5 GH/s over 132 SMs). Seconds divided by 10 cross it.
CPU_HPS_PER_THREAD = 100e6
GPU_HPS_PER_SM = 200e6
GPU_HPS_UNKNOWN = 100e9


def max_rate(w: WorkloadResult, result: Result) -> tuple[float, str] | None:
    """The most SHA-256d hashes per second the file's device could do."""
    if w.params.get("backend") == "cpu":
        threads = w.params.get("threads") or result.environment.cpu.logical_cores or 1
        return threads * CPU_HPS_PER_THREAD, f"{threads} CPU thread(s) at most {CPU_HPS_PER_THREAD / 1e6:.0f} MH/s each"
    if w.params.get("backend") == "cuda":
        sms = result.device.sm_count
        if sms:
            return sms * GPU_HPS_PER_SM, f"{sms} SMs at most {GPU_HPS_PER_SM / 1e6:.0f} MH/s each"
        return GPU_HPS_UNKNOWN, f"a GPU of unknown size at most {GPU_HPS_UNKNOWN / 1e9:.0f} GH/s"
    return None


def proven(w: WorkloadResult, result: Result) -> list[str]:
    """What the proof establishes, for verify's report (call after check found no problem)."""
    trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    shares = sum(len(tp.shares) for tp in trials)
    work = sum(t.work for t in w.trials)
    if not shares:
        return []
    lo, hi = poisson_interval(shares)
    bound = " and bound to this file's run, host, device and time" if result.run_id else \
        " (an older file: not bound to its run)"
    return [f"{w.label}: {shares:,} shares re-hashed; they prove {work:.4g} hashes to within "
            f"-{100 * (1 - lo / shares):.1f} %/+{100 * (hi / shares - 1):.1f} % (99.9 %){bound}"]
