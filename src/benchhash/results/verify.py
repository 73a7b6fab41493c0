"""`benchhash verify`: is a published result what it says it is, and what of it is proven?

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

For a fleet file: fleet/verify.py."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchhash.errors import InputError, ResultFileError
from benchhash.results import io, sign
from benchhash.results.checks import result_problems
from benchhash.results.consistency import claim_problems, unproven
from benchhash.results.model import Result
from benchhash.workloads import known

log = logging.getLogger(__name__)
CLAIMED = "seconds, joules, watts, clocks, the device, the host and the time are as reported"
#: How the commands that act on results are told to take one that proves less than it claims.
ALLOW = "--allow-unverified"


@dataclass
class Verdict:
    """What verify found for one file."""

    path: str
    status: str = "OK"                      # OK | FAIL | SKIP
    problems: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    signer: str = "unsigned"
    #: what the file claims but does not prove (it may still be OK: a file older than the rule)
    unproven: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _signer(result: Result, digest: str, trusted: list[sign.Signer] | None) -> tuple[str, list[str]]:
    """(who signed, problems). With a trusted-keys list, a key it does not trust (or not at the
    time the file was signed) is a problem: the caller asked who vouches, and nobody does."""
    sig = result.signature
    if sig is None:
        return "unsigned: the claims are nobody's in particular", []
    bad = sign.check(sig, digest)
    if bad:
        return "signature invalid", [f"signature: {bad}"]
    if trusted is None:
        return f"signed by key {sig.fingerprint} (no trusted-keys list given)", []
    names = sign.who(sig, trusted)
    if names:
        return f"signed by {', '.join(names)} (trusted key {sig.fingerprint})", []
    old = " (an older signature, whose time is not signed)" if sig.message == sign.V1 else ""
    return "signed by an untrusted key", [f"signature: key {sig.fingerprint} is not trusted by the trusted-keys "
                                          f"list at {sig.signed_utc}{old}"]


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
    v.claimed = [CLAIMED + (f"; vouched for: {v.signer}" if v.signer.startswith("signed by")
                            and "trusted key" in v.signer else f"; {v.signer}")]
    if not result.complete:
        v.claimed.append(f"an incomplete run ({result.stopped or 'failures recorded'})")
    return v


def verify_data(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem found in a decoded result file; empty when it verifies."""
    return verify_result(raw, where).problems


def verify_file(path: str | Path, trusted: list[sign.Signer] | None = None) -> tuple[str, list[str]]:
    """('OK' | 'FAIL' | 'SKIP', problems or the reason for skipping)."""
    v = verdict(path, trusted)
    return v.status, (v.problems or ([] if v.status != "SKIP" else v.claimed))


def verdict(path: str | Path, trusted: list[sign.Signer] | None = None, accept_claims: bool = False) -> Verdict:
    """The verdict on a file of any kind. ``accept_claims``: a fleet file without its rank files
    is said as unproven rather than failed (verify --allow-unverified)."""
    try:
        raw = io.read_json(path)
    except ResultFileError as exc:
        return Verdict(str(path), "FAIL", [str(exc)])
    if "$schema" in raw:
        return Verdict(str(path), "SKIP", claimed=["a JSON Schema, not a result"])
    for kind in ("benchmark", "check"):
        if isinstance(raw.get(kind), str) and "schema_version" not in raw and "fleet_schema_version" not in raw:
            return Verdict(str(path), "SKIP", claimed=[f"output of the {raw[kind]!r} {kind} script, not a result"])
    if "fleet_schema_version" in raw:
        from benchhash.fleet.verify import verify_fleet
        return verify_fleet(raw, str(path), trusted, accept_claims)
    return verify_result(raw, str(path), trusted)


def require(v: Verdict, what: str = "", allow_unverified: bool = False, even_failing: bool = False,
            quiet: bool = False) -> Verdict:
    """The verdict of a file a command acts on (compare, merge, econ, sign): one that fails is
    an InputError naming its first problem (unless ``even_failing`` and ``allow_unverified``:
    compare may set a failing file beside another, saying so); one that proves less than it
    claims is too, unless ``allow_unverified``, when it is said on stderr (unless ``quiet``: sign
    vouches for claims, proven or not) and returned."""
    if v.problems and not (even_failing and allow_unverified):
        raise InputError(f"{v.path} fails verify ({v.problems[0]}){what}; `benchhash verify` says more")
    if (v.problems or v.unproven) and not allow_unverified:
        raise InputError(f"{v.path} does not prove what it claims ({v.unproven[0]}){what}; give {ALLOW} to use "
                         "it anyway, on its word")
    if (v.problems or v.unproven) and not quiet:
        log.warning("%s is used on its word (%s): %s", v.path, ALLOW, (v.problems or v.unproven)[0])
    return v


def load_verified(path: str | Path, what: str = "", allow_unverified: bool = False) -> tuple[Result, dict[str, Any]]:
    """A result file that verifies (and proves what it claims, unless ``allow_unverified``), or
    an InputError naming its first problem (for the commands that act on results)."""
    result, raw = io.load(path)
    require(verify_result(raw, str(path)), what, allow_unverified)
    return result, raw
