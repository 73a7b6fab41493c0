"""SHA-256d proof of work as a result keeps it, and how `verify` checks it.

The models: per phase the share target, the seed and the headers derived from it; per trial the
exact nonce ranges scanned and every share found. The check re-hashes every share with hashlib
(independent of the kernels that found it), and asks whether the number of hashes claimed agrees
with the number of shares found: shares are a Poisson process, so the expected count must lie in
the exact 99.9 % interval of the observed count.

The protocol (from v5): the share target follows from the trial's own work (share_bits_for: a
target the publisher picks to be hard would leave a few shares that prove nothing), and a trial
keeps at least MIN_SHARES shares; fewer, and its hash count is unproven. Files written before
v5 are held to the rules of their day (their proofs are bound by SEED_RULE_V1, their targets
were set for fewer shares), and say what that leaves unproven."""

from __future__ import annotations

import math
import struct
from typing import Annotated

from pydantic import Field, ValidationError

from benchhash.results.model import HeaderHex, Hex64, Model, Result, Trial, WorkloadResult
from benchhash.sha256d.header import NONCE_SPACE, hash_to_int, sha256d
from benchhash.stats import poisson_interval
from benchhash.workloads.base import SEED_RULE, SEED_RULE_V1, RunContext
from benchhash.workloads.peaks import cpu_threads, device_sms

HEADER_RULE = "merkle_root = SHA256d(seed || uint64le(j)), other fields as headers[0]"
BITS = 0x1D00FFFF        # difficulty 1: the block target plays no part in the measurement
VERSION = 0x20000000
#: Aim for this many shares per trial (between it and twice it): three trials then prove their
#: hash count to within about 3.5 % (99.9 %; 128 a trial left 14 % of extra work unprovable),
#: for about 300 kB of file per trial.
SHARES_PER_TRIAL = 2048
#: The protocol's least shares a trial: fewer prove its hash count to no better than about
#: -10/+11 % (99.9 %), and the trial's work is unproven.
MIN_SHARES = 1000
#: How much harder than the protocol's target for a trial's own work the file's may be: the
#: target is set from the warm-up's rate, which a trial on a busy machine may fall short of.
TARGET_SLACK_BITS = 3


def share_bits_for(rate: float, seconds: float) -> int:
    """Leading zero bits that give SHARES_PER_TRIAL..2x shares in a trial at ``rate``."""
    expected = max(rate * seconds, 1.0) / SHARES_PER_TRIAL
    return max(1, min(64, int(math.floor(math.log2(expected))) if expected >= 2 else 1))


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
    """A file that has a run id must hold shares derived from it by the rule of its schema
    (SEED_RULE from v5, SEED_RULE_V1 before): shares from any other run, file, host, device,
    time, rank or meter re-hash fine but are not this file's."""
    if result is None or result.run_id is None:
        return [] if result is None or proof.seed_rule is None else [
            f"{name}: a proof bound by a seed rule in a file without a run id: the run id was taken out"]
    ctx, new = RunContext.of(result), result.stored_version >= 5
    rule, seed = (SEED_RULE, ctx.seed(w.label)) if new else (SEED_RULE_V1, ctx.seed_v1(w.label))
    if proof.seed_rule != rule:
        return [f"{name}: the proof is not bound to this file (its seed rule is not schema "
                f"{result.stored_version}'s); its shares could come from another run"]
    if proof.seed != seed.hex():
        return [f"{name}: the proof's seed is not derived from this file's run id, time, host, device"
                + (", rank and meter" if new else "") + ": the shares come from another run"]
    return []


def _check_target(proof: Sha256dProof, w: WorkloadResult, result: Result | None, name: str) -> list[str]:
    """From v5 the share target is the protocol's for the trials' work (share_bits_for), give
    or take TARGET_SLACK_BITS: not the publisher's to make so hard that a few shares prove
    nothing."""
    if result is None or result.stored_version < 5 or not w.trials:
        return []
    most = min(share_bits_for(t.work, 1.0) for t in w.trials) + TARGET_SLACK_BITS
    if proof.share_bits <= most:
        return []
    return [f"{name}: a share target of {proof.share_bits} bits is harder than the protocol's for this work "
            f"(at most {most}): a target picked to leave too few shares to prove the hashes"]


def _check_backend(w: WorkloadResult, result: Result | None, name: str) -> list[str]:
    backends = ("cpu", "cuda") if result is None or result.device.kind == "cuda" else ("cpu",)
    if w.backend in backends and w.params.get("backend") == w.backend:
        return []
    return [f"{name}: backend {w.backend!r} (params: {w.params.get('backend')!r}) is not one sha256d runs on "
            f"this device ({', '.join(backends)})"]


def check(w: WorkloadResult, result: Result | None = None) -> list[str]:
    """Everything wrong with a SHA-256d result's proof of work; [] when it holds. With the
    whole ``result``, also that the proof belongs to it."""
    name = w.label
    try:
        proof = Sha256dProof.model_validate(w.proof)
        trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    except ValidationError as exc:
        return [f"{name}: proof is malformed ({exc.errors()[0]['msg']})"]
    problems = _check_binding(proof, w, result, name) + _check_headers(proof, name) + \
        _check_target(proof, w, result, name) + _check_backend(w, result, name)
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


def max_rate(w: WorkloadResult, result: Result) -> tuple[float, str] | None:
    """The most SHA-256d hashes per second the file's device could do, from what the file
    records of the machine (never the phase's own params): its CPU threads, and on a GPU the
    SMs its catalogue entry gives (whichever is more: a phase may fall back to the CPU). None
    for a GPU the catalogue does not know: its rate is unproven."""
    threads = cpu_threads(result)
    cpu = threads * CPU_HPS_PER_THREAD, f"{threads} CPU thread(s) at most {CPU_HPS_PER_THREAD / 1e6:.0f} MH/s each"
    if result.device.kind != "cuda":
        return cpu
    sms = device_sms(result.device)
    if sms is None:
        return None
    return max(cpu, (sms * GPU_HPS_PER_SM, f"{sms} SMs at most {GPU_HPS_PER_SM / 1e6:.0f} MH/s each"))


def evidence(w: WorkloadResult) -> set[tuple[str, int]]:
    """Every share of the phase as (its header, hex, and nonce); empty when the proof is malformed."""
    try:
        headers = Sha256dProof.model_validate(w.proof).headers
        trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    except ValidationError:
        return set()
    return {(headers[s.header], s.nonce) for tp in trials for s in tp.shares if s.header < len(headers)}


def _trial_shares(w: WorkloadResult) -> list[int]:
    return [len(Sha256dTrialProof.model_validate(t.proof).shares) for t in w.trials]


def _within(shares: int) -> str:
    """'-3.3 %/+3.4 %': how well ``shares`` shares know their expected count (99.9 %)."""
    lo, hi = poisson_interval(shares)
    n = max(shares, 1)
    return f"-{100 * (1 - lo / n):.1f} %/+{100 * (hi / n - 1):.1f} %"


def proven(w: WorkloadResult, result: Result) -> list[str]:
    """What the proof establishes, for verify's report (call after check found no problem)."""
    shares = sum(_trial_shares(w))
    if not shares or result.run_id is None:
        return []
    bound = ("run, rank, host, device, meter and time" if result.stored_version >= 5 else
             f"run, host, device and time (schema {result.stored_version}'s rule: not to a fleet rank or meter)")
    return [f"{w.label}: {shares:,} shares re-hashed; they prove {sum(t.work for t in w.trials):.4g} hashes to "
            f"within {_within(shares)} (99.9 %), bound to this file's {bound}"]


def unproven(w: WorkloadResult, result: Result) -> list[str]:
    """What the phase claims that its proof cannot show: shares not bound to their run (files
    from before binding), trials with fewer shares than the protocol's least."""
    out = []
    if result.run_id is None:
        out.append(f"{w.label}: not bound to its run (schema {result.stored_version}, before binding): its "
                   "shares prove hashes were computed, not by this run, device or time")
    few = [(t.index, n) for t, n in zip(w.trials, _trial_shares(w), strict=True) if n < MIN_SHARES]
    if few:
        least = min(n for _, n in few)
        out.append(f"{w.label}: trial(s) {', '.join(str(i + 1) for i, _ in few)} found fewer than the protocol's "
                   f"{MIN_SHARES:,} shares ({least} the fewest): each such hash count is known only to "
                   f"within {_within(least)}")
    return out
