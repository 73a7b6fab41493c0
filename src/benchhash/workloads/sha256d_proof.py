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
were set for fewer shares), and say what that leaves unproven.

From schema 6 a trial stores its shares packed (results/shares.py: sorted (header index, nonce)
pairs, delta varints in base64) and no hash: verify recomputes each one. Files before v6 list
every share with its hash, which must be the one recomputed. ``verify --sample K`` (sampling())
re-hashes K shares a trial drawn from the file's digest and says what that leaves unseen."""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import math
import struct
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, ValidationError

from benchhash.results.model import HeaderHex, Hex64, Model, Result, Trial, WorkloadResult
from benchhash.results.shares import NONCE_BITS, NONCE_MASK, PackedShares, SharesError, unpack_keys
from benchhash.sha256d.header import NONCE_SPACE, sha256d
from benchhash.stats import poisson_interval
from benchhash.workloads.base import SEED_RULE, SEED_RULE_V1, RunContext
from benchhash.workloads.peaks import cpu_threads, device_sms

HEADER_RULE = "merkle_root = SHA256d(seed || uint64le(j)), other fields as headers[0]"
BITS = 0x1D00FFFF        # difficulty 1: the block target plays no part in the measurement
VERSION = 0x20000000
#: Aim for this many shares per trial (between it and twice it): three trials then prove their
#: hash count to within about 3.5 % (99.9 %; 128 a trial left 14 % of extra work unprovable),
#: for about 15 kB of file per trial packed (schema 6; listed, schema 5 took about 500 kB).
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


Ranges = list[Annotated[list[int], Field(min_length=3, max_length=3)]]
RANGES_DOC = "[header index, first nonce, count] scanned in this trial"


class Share(Model):
    """A share as files before schema 6 list it."""

    header: int = Field(ge=0, description="index into proof.headers")
    nonce: int = Field(ge=0, lt=1 << 32)
    hash: Hex64 = Field(description="block hash, display order")


class Sha256dTrialProof(Model):
    """A trial's proof from schema 6: the ranges scanned and the shares found, packed."""

    ranges: Ranges = Field(description=RANGES_DOC)
    packed_shares: PackedShares


class Sha256dTrialProofListed(Model):
    """A trial's proof in files before schema 6: every share listed with its hash."""

    ranges: Ranges = Field(description=RANGES_DOC)
    shares: list[Share]


@dataclass(frozen=True)
class TrialShares:
    """A trial's proof as verify reads it, whatever its schema: the ranges, each share's key
    (header index << 32 | nonce; sorted from v6, in file order before) and, before v6, the
    hash the file gives for each (display hex)."""

    ranges: list[list[int]]
    keys: list[int]
    hashes: list[str] | None = None


def packed_proof(w: WorkloadResult, result: Result | None) -> bool:
    """Whether the phase's trials store packed shares: from the file's schema, or (no file)
    from what the trials hold."""
    if result is not None:
        return result.stored_version >= 6
    return any(isinstance(t.proof, dict) and "packed_shares" in t.proof for t in w.trials)


def trial_shares(w: WorkloadResult, result: Result | None = None) -> list[TrialShares]:
    """Each trial's shares; a ValidationError or SharesError when a proof is malformed."""
    out = []
    for t in w.trials:
        if packed_proof(w, result):
            tp = Sha256dTrialProof.model_validate(t.proof)
            out.append(TrialShares(tp.ranges, unpack_keys(tp.packed_shares)))
        else:
            old = Sha256dTrialProofListed.model_validate(t.proof)
            out.append(TrialShares(old.ranges, [(s.header << NONCE_BITS) | s.nonce for s in old.shares],
                                   [s.hash for s in old.shares]))
    return out


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


def _check_ranges(t: Trial, tp: TrialShares, headers: int, name: str) -> list[str]:
    problems = []
    covered = sum(r[2] for r in tp.ranges)
    if covered != t.work:
        problems.append(f"{name} trial {t.index}: nonce ranges cover {covered} hashes, "
                        f"the trial claims {t.work:.0f}")
    for r in tp.ranges:
        if not (0 <= r[0] < headers and r[1] >= 0 and r[2] > 0 and r[1] + r[2] <= NONCE_SPACE):
            problems.append(f"{name} trial {t.index}: nonce range {r} is impossible")
    return problems


def _intervals(ranges: list[list[int]]) -> tuple[list[int], list[int]]:
    """The ranges as merged, sorted key intervals [start, end): (starts, ends)."""
    spans = sorted(((j << NONCE_BITS) + first, (j << NONCE_BITS) + first + count) for j, first, count in ranges)
    starts: list[int] = []
    ends: list[int] = []
    for a, b in spans:
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def rehash(keys: list[int], headers: list[bytes], indexes: Iterator[int] | range) -> Iterator[tuple[int, bytes]]:
    """(index, SHA-256d digest in internal order) of the share at each index (every key's
    header must exist): the first 64 bytes of each header hashed once, its midstate copied."""
    sha = hashlib.sha256
    mids = [sha(h[:64]) for h in headers]
    tails = [h[64:76] for h in headers]
    for i in indexes:
        k = keys[i]
        j = k >> NONCE_BITS
        m = mids[j].copy()
        m.update(tails[j] + (k & NONCE_MASK).to_bytes(4, "little"))
        yield i, sha(m.digest()).digest()


def missing_target(keys: list[int], headers: list[bytes], target: int) -> list[int]:
    """The indexes of the shares whose SHA-256d is above ``target``: rehash() inlined, for
    verify's full pass (every key's header must exist)."""
    sha = hashlib.sha256
    mids = [sha(h[:64]) for h in headers]
    tails = [h[64:76] for h in headers]
    bad = []
    for i, k in enumerate(keys):
        j = k >> NONCE_BITS
        m = mids[j].copy()
        m.update(tails[j] + (k & NONCE_MASK).to_bytes(4, "little"))
        if int.from_bytes(sha(m.digest()).digest(), "little") > target:
            bad.append(i)
    return bad


def _all_in(keys: list[int], starts: list[int], ends: list[int]) -> bool:
    """Whether every key (each once) lies in the disjoint intervals: counted by bisection."""
    ordered = sorted(keys)
    inside = sum(bisect.bisect_left(ordered, b) - bisect.bisect_left(ordered, a) for a, b in zip(starts, ends,
                                                                                                strict=True))
    return inside == len(ordered)


def _placement_problems(ts: TrialShares, starts: list[int], ends: list[int], limit: int,
                        seen: set[int], where: str) -> list[str]:
    """Each share's header exists, it is in no other trial, its nonce is in a scanned range:
    set operations and bisection for the whole trial, share by share only to name a problem."""
    keys = ts.keys
    clean = (not keys or max(keys) < limit) and seen.isdisjoint(keys) and len(set(keys)) == len(keys) \
        and _all_in(keys, starts, ends)
    if clean:
        seen.update(keys)
        return []
    problems = []
    for i, k in enumerate(keys):
        if k >= limit:
            problems.append(f"{where} {i} (nonce {k & NONCE_MASK}): no header {k >> NONCE_BITS}")
            continue
        if k in seen:
            problems.append(f"{where} {i} (nonce {k & NONCE_MASK}): duplicate share")
        seen.add(k)
        r = bisect.bisect_right(starts, k) - 1
        if r < 0 or k >= ends[r]:
            problems.append(f"{where} {i} (nonce {k & NONCE_MASK}): nonce outside the ranges this trial scanned")
    return problems


def _check_shares(t: Trial, ts: TrialShares, headers: list[bytes], target: int,
                  seen: set[int], name: str, draw: list[int] | None = None) -> list[str]:
    """Each share: its header exists, it is in no other trial of the phase, its nonce lies in
    a range the trial scanned; and each share (of ``draw``, when sampling) re-hashes under the
    target (to the hash the file gives, before v6)."""
    starts, ends = _intervals(ts.ranges)
    limit = len(headers) << NONCE_BITS
    keys = ts.keys
    where = f"{name} trial {t.index} share"
    problems = _placement_problems(ts, starts, ends, limit, seen, where)
    if draw is None and ts.hashes is None and not problems:
        return [f"{where} {i} (nonce {keys[i] & NONCE_MASK}): hash does not meet the share target"
                for i in missing_target(keys, headers, target)]
    valid = [i for i in (range(len(keys)) if draw is None else draw) if keys[i] < limit]
    for i, digest in rehash(keys, headers, iter(valid)):
        shown = f"{where} {i} (nonce {keys[i] & NONCE_MASK})"
        if ts.hashes is not None and digest[::-1].hex() != ts.hashes[i]:
            problems.append(f"{shown}: re-hashed to {digest[::-1].hex()[:16]}…, file says {ts.hashes[i][:16]}…")
        elif int.from_bytes(digest, "little") > target:
            problems.append(f"{shown}: hash does not meet the share target")
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
    whole ``result``, also that the proof belongs to it. Inside sampling(), each trial's
    shares are re-hashed only at the indexes drawn (everything else is still checked)."""
    name = w.label
    try:
        proof = Sha256dProof.model_validate(w.proof)
        trials = trial_shares(w, result)
    except ValidationError as exc:
        return [f"{name}: proof is malformed ({exc.errors()[0]['msg']})"]
    except SharesError as exc:
        return [f"{name}: proof is malformed (packed shares: {exc})"]
    problems = _check_binding(proof, w, result, name) + _check_headers(proof, name) + \
        _check_target(proof, w, result, name) + _check_backend(w, result, name)
    headers = [bytes.fromhex(h) for h in proof.headers]
    target = int(proof.share_target, 16)
    seen: set[int] = set()
    for t, ts in zip(w.trials, trials, strict=True):
        problems += _check_ranges(t, ts, len(headers), name)
        problems += _check_shares(t, ts, headers, target, seen, name, _draw(w, t, len(ts.keys), result))
    if w.trials:
        shares = sum(len(ts.keys) for ts in trials)
        problems += _check_count(sum(t.work for t in w.trials), shares, target, name)
    return problems


# --- sampled verification -------------------------------------------------------------------------
@dataclass(frozen=True)
class Sampling:
    """verify --sample K: ``k`` shares a trial re-hashed, drawn from ``seed`` (None: each file's
    own integrity digest; a fleet's verify may give the fleet's)."""

    k: int
    seed: str | None = None


_SAMPLING: ContextVar[Sampling | None] = ContextVar("sha256d_sampling", default=None)
#: Forged fractions the verdict gives the probability of going unseen for.
FORGED_FRACTIONS = (0.01, 0.05, 0.1, 0.5)


@contextlib.contextmanager
def sampling(k: int | None, seed: str | None = None) -> Iterator[None]:
    """Within it, check() re-hashes ``k`` shares a trial (None or 0: every share, the default)."""
    token = _SAMPLING.set(Sampling(k, seed) if k else None)
    try:
        yield
    finally:
        _SAMPLING.reset(token)


def sampled() -> int | None:
    """The ``k`` of the sampling in force (None: every share), for handing on to a worker."""
    s = _SAMPLING.get()
    return s.k if s is not None else None


def draw_indexes(seed: str, label: str, trial: int, n: int, k: int) -> list[int]:
    """The ``k`` share indexes (of ``n``, with replacement) sampling re-hashes in a trial:
    index i is SHA-256("benchhash-sample-v1 {seed} {label} {trial} {i}") read as a
    little-endian integer, modulo n. Anyone can redo the draw; every index when k >= n."""
    if k >= n:
        return list(range(n))
    return [int.from_bytes(hashlib.sha256(f"benchhash-sample-v1 {seed} {label} {trial} {i}".encode()).digest(),
                           "little") % n for i in range(k)]


def _seed(result: Result | None) -> str | None:
    s = _SAMPLING.get()
    if s is None:
        return None
    if s.seed is not None:
        return s.seed
    return result.integrity.digest if result is not None and result.integrity is not None else ""


def _draw(w: WorkloadResult, t: Trial, n: int, result: Result | None) -> list[int] | None:
    s, seed = _SAMPLING.get(), _seed(result)
    return None if s is None or seed is None else draw_indexes(seed, w.label, t.index, n, s.k)


def _sampled(w: WorkloadResult, result: Result) -> list[str]:
    """What sampling left unseen, for the verdict (nothing when every share was re-hashed)."""
    s = _SAMPLING.get()
    counts = _trial_shares(w, result)
    if s is None or not counts or all(n <= s.k for n in counts):
        return []
    odds = ", ".join(f"{_percent((1 - f) ** s.k)} at f = {100 * f:g} %" for f in FORGED_FRACTIONS)
    return [f"{w.label}: sampled: {s.k} shares a trial re-hashed ({sum(min(n, s.k) for n in counts):,} draws of "
            f"{sum(counts):,} shares, with replacement, from the {'given seed' if s.seed else 'file digest'}); "
            f"the others were decoded and checked against the ranges, not re-hashed. A trial with a fraction f "
            f"of forged shares passes unseen with probability (1 - f)^{s.k}: {odds}; its hash count is then "
            f"overstated by up to f. A forger who reseals to change the draw needs about 1/p tries; verify "
            f"without --sample re-hashes every share"]


def _percent(p: float) -> str:
    return f"{100 * p:.3g} %" if p >= 1e-4 else f"{p:.2g}"


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


def evidence(w: WorkloadResult, result: Result | None = None) -> set[tuple[str, int]]:
    """Every share of the phase as (its header, hex, and nonce); empty when the proof is malformed."""
    try:
        headers = Sha256dProof.model_validate(w.proof).headers
        trials = trial_shares(w, result)
    except (ValidationError, SharesError):
        return set()
    return {(headers[k >> NONCE_BITS], k & NONCE_MASK) for ts in trials for k in ts.keys
            if k >> NONCE_BITS < len(headers)}


def _trial_shares(w: WorkloadResult, result: Result | None = None) -> list[int]:
    """Each trial's share count (from v6 the packed count, which check() holds to the data)."""
    if packed_proof(w, result):
        return [Sha256dTrialProof.model_validate(t.proof).packed_shares.count for t in w.trials]
    return [len(Sha256dTrialProofListed.model_validate(t.proof).shares) for t in w.trials]


def _within(shares: int) -> str:
    """'-3.3 %/+3.4 %': how well ``shares`` shares know their expected count (99.9 %)."""
    lo, hi = poisson_interval(shares)
    n = max(shares, 1)
    return f"-{100 * (1 - lo / n):.1f} %/+{100 * (hi / n - 1):.1f} %"


def proven(w: WorkloadResult, result: Result) -> list[str]:
    """What the proof establishes, for verify's report (call after check found no problem)."""
    shares = sum(_trial_shares(w, result))
    if not shares or result.run_id is None:
        return []
    bound = ("run, rank, host, device, meter and time" if result.stored_version >= 5 else
             f"run, host, device and time (schema {result.stored_version}'s rule: not to a fleet rank or meter)")
    s = _SAMPLING.get()
    drawn = shares if s is None else sum(min(n, s.k) for n in _trial_shares(w, result))
    how = f"{shares:,} shares re-hashed" if drawn == shares else \
        f"{shares:,} shares ({drawn:,} re-hashed, the others sampled: see unproven)"
    return [f"{w.label}: {how}; they prove {sum(t.work for t in w.trials):.4g} hashes to "
            f"within {_within(shares)} (99.9 %), bound to this file's {bound}"]


def unproven(w: WorkloadResult, result: Result) -> list[str]:
    """What the phase claims that its proof cannot show: shares not bound to their run (files
    from before binding), trials with fewer shares than the protocol's least."""
    out = []
    if result.run_id is None:
        out.append(f"{w.label}: not bound to its run (schema {result.stored_version}, before binding): its "
                   "shares prove hashes were computed, not by this run, device or time")
    few = [(t.index, n) for t, n in zip(w.trials, _trial_shares(w, result), strict=True) if n < MIN_SHARES]
    if few:
        least = min(n for _, n in few)
        out.append(f"{w.label}: trial(s) {', '.join(str(i + 1) for i, _ in few)} found fewer than the protocol's "
                   f"{MIN_SHARES:,} shares ({least} the fewest): each such hash count is known only to "
                   f"within {_within(least)}")
    return out + _sampled(w, result)
