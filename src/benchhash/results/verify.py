"""`benchhash verify`: is a published result what it says it is?

Checks, each reported with its reason: the schema; the integrity digest; that every trial's rate
is its work over its seconds and the statistics follow from the trials; and for SHA-256d, that
every share re-hashes (hashlib) to its recorded hash, meets the share target and lies in a
recorded nonce range of a header derived by the stated rule, and that the claimed number of
hashes agrees with the number of shares (a Poisson count: the expected count must lie in the
99.9 % interval the observed count implies)."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchhash.errors import ResultFileError
from benchhash.header import hash_to_int, sha256d
from benchhash.results import io
from benchhash.results.schema import Result, Sha256dProof, Sha256dTrialProof, WorkloadResult
from benchhash.stats import summarize

CONFIDENCE = 0.999
REL_TOL = 1e-9


def poisson_interval(k: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count k."""
    from scipy.stats import chi2
    alpha = 1 - confidence
    lower = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k) / 2)
    upper = float(chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2)
    return lower, upper


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def check_stats(w: WorkloadResult, name: str) -> list[str]:
    problems = []
    for t in w.trials:
        if not _close(t.rate, t.work / t.seconds):
            problems.append(f"{name} trial {t.index}: rate {t.rate:.6g} is not work/seconds "
                            f"({t.work / t.seconds:.6g})")
        if t.work_per_joule is not None and t.energy.energy_j:
            if not _close(t.work_per_joule, t.work / t.energy.energy_j):
                problems.append(f"{name} trial {t.index}: work_per_joule is not work/energy_j")
    if w.trials and w.stats.rate is not None:
        again = summarize([t.rate for t in w.trials])
        for field in ("median", "mad", "mean", "min", "max"):
            if not _close(getattr(w.stats.rate, field), getattr(again, field)):
                problems.append(f"{name}: stats.rate.{field} {getattr(w.stats.rate, field):.6g} "
                                f"does not follow from the trials ({getattr(again, field):.6g})")
                break
    return problems


def _rule_header(proof: Sha256dProof, j: int) -> bytes | None:
    """The header j as the rule derives it from headers[0] and the seed."""
    try:
        first = bytes.fromhex(proof.headers[0])
        merkle = sha256d(bytes.fromhex(proof.seed) + struct.pack("<Q", j))
    except (ValueError, IndexError):
        return None
    return first[:36] + merkle + first[68:76] + bytes(4)


def check_sha256d(w: WorkloadResult, name: str) -> list[str]:
    problems: list[str] = []
    try:
        proof = Sha256dProof.model_validate(w.proof)
        trials = [Sha256dTrialProof.model_validate(t.proof) for t in w.trials]
    except ValidationError as exc:
        return [f"{name}: proof is malformed ({exc.errors()[0]['msg']})"]
    target = int(proof.share_target, 16)
    if target != (1 << (256 - proof.share_bits)) - 1:
        problems.append(f"{name}: share_target does not match share_bits {proof.share_bits}")
    headers = [bytes.fromhex(h) for h in proof.headers]
    for j, h in enumerate(headers):
        if h[:76] != (_rule_header(proof, j) or b"")[:76]:
            problems.append(f"{name}: header {j} does not follow the header rule from the seed")
            break
    total_work = 0.0
    total_shares = 0
    seen: set[tuple[int, int]] = set()
    for t, tp in zip(w.trials, trials):
        covered = sum(r[2] for r in tp.ranges)
        if covered != t.work:
            problems.append(f"{name} trial {t.index}: nonce ranges cover {covered} hashes, "
                            f"the trial claims {t.work:.0f}")
        for r in tp.ranges:
            if not (0 <= r[0] < len(headers) and r[1] >= 0 and r[2] > 0 and r[1] + r[2] <= 1 << 32):
                problems.append(f"{name} trial {t.index}: nonce range {r} is impossible")
        total_work += t.work
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
            total_shares += 1
    if w.trials:
        expected = total_work * (target + 1) / 2 ** 256
        lo, hi = poisson_interval(total_shares)
        if not lo <= expected <= hi:
            problems.append(
                f"{name}: {total_work:.4g} hashes claimed should give about {expected:.0f} shares; "
                f"{total_shares} found, which implies {lo / expected * total_work:.4g}.."
                f"{hi / expected * total_work:.4g} hashes (99.9 %)" if expected > 0 else
                f"{name}: no hashes claimed but {total_shares} shares")
    return problems


def verify_data(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem found in a decoded result file; empty when it verifies."""
    try:
        result: Result = io.parse(raw, where)
    except ResultFileError as exc:
        return [str(exc)]
    problems = []
    bad = io.integrity_problem(raw)
    if bad:
        problems.append(bad)
    for w in result.workloads:
        name = w.workload if w.phase in ("", "run") else f"{w.workload} {w.phase}"
        problems += check_stats(w, name)
        if w.workload == "sha256d":
            problems += check_sha256d(w, name)
    return problems


def verify_fleet(raw: dict[str, Any], where: str) -> list[str]:
    stored = raw.get("integrity", {})
    if not isinstance(stored, dict) or stored.get("digest") != io.digest_of(raw):
        return [f"{where}: fleet integrity digest mismatch (verify each node file on its own)"]
    return []


def verify_file(path: str | Path) -> tuple[str, list[str]]:
    """('OK' | 'FAIL' | 'SKIP', problems or the reason for skipping)."""
    try:
        raw = io.read_json(path)
    except ResultFileError as exc:
        return "FAIL", [str(exc)]
    if "$schema" in raw:
        return "SKIP", ["a JSON Schema, not a result"]
    if "benchmark" in raw and "schema_version" not in raw:
        return "SKIP", [f"output of the {raw['benchmark']!r} benchmark script, not a result"]
    problems = (verify_fleet(raw, str(path)) if "fleet_schema_version" in raw
                else verify_data(raw, str(path)))
    return ("FAIL" if problems else "OK"), problems
