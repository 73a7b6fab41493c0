"""What a result file proves, and what it only claims.

For a result: the schema (and that the file looks the age it claims); the integrity digest; the
signature, when there is one (and who signed, from a trusted-keys list: a key not trusted then is
a failure); every consistency check of results/checks.py and results/consistency.py; and each
workload's own checks (SHA-256d: every share re-hashed, the proof bound to this file, the hash
count against the share count). The verdict says what is proven (by arithmetic anyone can redo),
what the file claims but does not prove (a file from before a rule that would: said as
unproven, and refused by the commands that price, merge or compare unless told to accept it),
and what is only claimed (seconds, joules, device, host: attributable to a publisher only when
signed).

The policy for files of older schemas: each is held to the rules of its day. A file that holds
what only a newer schema has is a newer file relabelled old, and fails; a file that is its age
verifies, with what the newer rules would have proven said as unproven (a schema 1 file's shares
are not bound to its run; before v5 a phase of another workload is not bound to its run, and a
trial may have fewer shares than the protocol's least).

For a fleet file: review/fleet.py; the command: review/verify.py."""

from __future__ import annotations

from typing import Any

from benchhash.errors import ResultFileError
from benchhash.results import io, sign
from benchhash.results.model import Result
from benchhash.review.checks import result_problems
from benchhash.review.consistency import claim_problems, unproven
from benchhash.review.verdict import CLAIMED, Signer, Trust, Verdict
from benchhash.workloads import known


def _signer(result: Result, digest: str, trusted: list[sign.Signer] | None) -> tuple[Signer, list[str]]:
    """(who signed, problems). With a trusted-keys list, a key it does not trust (or not at the
    time the file was signed) is a problem: the caller asked who vouches, and nobody does."""
    sig = result.signature
    if sig is None:
        return Signer(Trust.UNSIGNED), []
    bad = sign.check(sig, digest)
    if bad:
        return Signer(Trust.INVALID), [f"signature: {bad}"]
    if trusted is None:
        return Signer(Trust.KEY, sig.fingerprint), []
    names = sign.who(sig, trusted)
    if names:
        return Signer(Trust.TRUSTED, sig.fingerprint, tuple(names)), []
    old = " (an older signature, whose time is not signed)" if sig.message == sign.V1 else ""
    return Signer(Trust.UNTRUSTED, sig.fingerprint), [f"signature: key {sig.fingerprint} is not trusted by the "
                                                      f"trusted-keys list at {sig.signed_utc}{old}"]


def verify_result(raw: dict[str, Any], where: str, trusted: list[sign.Signer] | None = None) -> Verdict:
    v = Verdict(where)
    try:
        result = io.parse(raw, where)
    except ResultFileError as exc:
        v.status, v.problems = "FAIL", [str(exc)]
        return v
    bad = io.integrity_problem(raw)
    v.problems = ([bad] if bad else []) + io.anachronisms(raw)
    v.signer, sig_problems = _signer(result, io.digest_of(raw), trusted)
    v.problems += sig_problems + claim_problems(result) + result_problems(result)
    if v.problems:
        v.status = "FAIL"
        return v
    v.proven = ["integrity digest: nothing was edited since the file was sealed",
                "every rate, statistic, energy, efficiency, summary and warning follows from the raw trials",
                "every rate is within what the recorded device can do"]
    for w in result.workloads:
        workload = known(w.workload)
        v.proven += workload.proven(w, result) if workload else []
    v.unproven = unproven(result)
    v.claimed = [CLAIMED + (f"; vouched for: {v.signer}" if v.signer.vouched else f"; {v.signer}")]
    if not result.complete:
        v.claimed.append(f"an incomplete run ({result.stopped or 'failures recorded'})")
    return v


def verify_data(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem found in a decoded result file; empty when it verifies."""
    return verify_result(raw, where).problems
