"""`benchhash verify`: is a published result what it says it is, and what of it is proven?

For a result: the schema; the integrity digest; the signature, when there is one (and who signed,
from a trusted-keys list); every consistency check of results/checks.py; and each workload's own
checks (SHA-256d: every share re-hashed, the proof bound to this file, the hash count against
the share count). The verdict says what is proven (by arithmetic anyone can redo) and what is
only claimed (seconds, joules, device, host: attributable to a publisher only when signed).

For a fleet file (fleet_schema_version 2): fleet/verify.py. Version 1 fleet files (merge's before
fleet runs) are checked here as they are: the digest, the totals against the member rows, and
each member row against the member's file when that file is beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchhash.errors import ResultFileError
from benchhash.results import io, sign
from benchhash.results.checks import close, result_problems
from benchhash.results.model import Result
from benchhash.workloads import known

CLAIMED = "seconds, joules, watts, clocks, the device, the host and the time are as reported"


@dataclass
class Verdict:
    """What verify found for one file."""

    path: str
    status: str = "OK"                      # OK | FAIL | SKIP
    problems: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    signer: str = "unsigned"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _signer(result: Result, digest: str, trusted: list[sign.Signer] | None) -> tuple[str, list[str]]:
    """(who signed, problems)."""
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
    return f"signed by a key that is not in the trusted list ({sig.fingerprint})", []


def verify_result(raw: dict[str, Any], where: str, trusted: list[sign.Signer] | None = None) -> Verdict:
    v = Verdict(where)
    try:
        result = io.parse(raw, where)
    except ResultFileError as exc:
        v.status, v.problems = "FAIL", [str(exc)]
        return v
    bad = io.integrity_problem(raw)
    v.problems = [bad] if bad else []
    v.signer, sig_problems = _signer(result, io.digest_of(raw), trusted)
    v.problems += sig_problems + result_problems(result)
    if v.problems:
        v.status = "FAIL"
        return v
    v.proven = ["integrity digest: nothing was edited since the file was sealed",
                "every rate, statistic, energy, efficiency and summary follows from the raw trials",
                "every rate is within what the recorded device can do"]
    for w in result.workloads:
        workload = known(w.workload)
        v.proven += workload.proven(w, result) if workload else []
    v.claimed = [CLAIMED + (f"; vouched for: {v.signer}" if v.signer.startswith("signed by")
                            and "trusted key" in v.signer else f"; {v.signer}")]
    if not result.complete:
        v.claimed.append(f"an incomplete run ({result.stopped or 'failures recorded'})")
    return v


def verify_data(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem found in a decoded result file; empty when it verifies."""
    return verify_result(raw, where).problems


def _fleet_member_problems(node: dict[str, Any], base: Path) -> list[str]:
    """A member row against the member file, when the file is there."""
    path = Path(str(node.get("file", "")))
    for candidate in (path, base / path.name):
        if candidate.is_file():
            try:
                result, raw = io.load(candidate)
            except ResultFileError as exc:
                return [f"member {path}: {exc}"]
            if raw.get("integrity", {}).get("digest") != node.get("integrity"):
                return [f"member {path}: its digest is not the one the fleet file recorded"]
            from benchhash.results.merge import node_rows
            if node_rows(result) != node.get("workloads"):
                return [f"member {path}: the fleet's rows for it do not match the file"]
            return []
    return []


def verify_fleet_v1(raw: dict[str, Any], where: str) -> list[str]:
    stored = raw.get("integrity", {})
    if not isinstance(stored, dict) or stored.get("digest") != io.digest_of(raw):
        return [f"{where}: fleet integrity digest mismatch (verify each node file on its own)"]
    problems: list[str] = []
    sums: dict[str, dict[str, Any]] = {}
    for node in raw.get("nodes", []):
        problems += _fleet_member_problems(node, Path(where).parent)
        for row in node.get("workloads", []):
            t = sums.setdefault(row["workload"], {"nodes": 0, "rate": 0.0, "watts": 0.0, "all_watts": True})
            t["nodes"] += 1
            t["rate"] += row.get("rate") or 0.0
            if row.get("average_w") is None:
                t["all_watts"] = False
            else:
                t["watts"] += row["average_w"]
    for total in raw.get("totals", []):
        s = sums.get(total.get("workload"))
        watts = None if s is None or not s["all_watts"] else s["watts"]
        if s is None or s["nodes"] != total.get("nodes") or not close(s["rate"], total.get("rate"), 1e-9) \
                or not close(watts, total.get("average_w"), 1e-9):
            problems.append(f"{where}: fleet total for {total.get('workload')!r} does not follow from its nodes")
    return problems


def verify_file(path: str | Path, trusted: list[sign.Signer] | None = None) -> tuple[str, list[str]]:
    """('OK' | 'FAIL' | 'SKIP', problems or the reason for skipping)."""
    v = verdict(path, trusted)
    return v.status, (v.problems or ([] if v.status != "SKIP" else v.claimed))


def verdict(path: str | Path, trusted: list[sign.Signer] | None = None) -> Verdict:
    try:
        raw = io.read_json(path)
    except ResultFileError as exc:
        return Verdict(str(path), "FAIL", [str(exc)])
    if "$schema" in raw:
        return Verdict(str(path), "SKIP", claimed=["a JSON Schema, not a result"])
    for kind in ("benchmark", "check"):
        if isinstance(raw.get(kind), str) and "schema_version" not in raw:
            return Verdict(str(path), "SKIP", claimed=[f"output of the {raw[kind]!r} {kind} script, not a result"])
    if raw.get("fleet_schema_version") == 1:
        problems = verify_fleet_v1(raw, str(path))
        return Verdict(str(path), "FAIL" if problems else "OK", problems,
                       proven=[] if problems else ["fleet digest; totals follow from the member rows"])
    if "fleet_schema_version" in raw:
        from benchhash.fleet.verify import verify_fleet
        return verify_fleet(raw, str(path), trusted)
    return verify_result(raw, str(path), trusted)


def load_verified(path: str | Path, what: str = "") -> tuple[Result, dict[str, Any]]:
    """A result file that verifies, or an InputError naming its first problem (for the commands
    that act on results: compare, merge, econ)."""
    from benchhash.errors import InputError
    result, raw = io.load(path)
    problems = verify_result(raw, str(path)).problems
    if problems:
        raise InputError(f"{path} fails verify ({problems[0]}){what}; `benchhash verify` says more")
    return result, raw
