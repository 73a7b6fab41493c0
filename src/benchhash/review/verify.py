"""`benchhash verify`: is a published file what it says it is, and what of it is proven? The
loader says what the file holds; a result is verified by review/result.py, a fleet by
review/fleet.py, anything else is skipped. The names the commands used from
benchhash.results.verify are here too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchhash.errors import ResultFileError
from benchhash.results import io, sign
from benchhash.results.model import Result
from benchhash.review.fleet import verify_fleet
from benchhash.review.load import Loaded, read
from benchhash.review.result import verify_data, verify_result
from benchhash.review.verdict import ALLOW, CLAIMED, Verdict, require
from benchhash.workloads.sha256d_proof import sampling

if TYPE_CHECKING:
    from benchhash.review.pool import Pool

__all__ = ["ALLOW", "CLAIMED", "Verdict", "check", "load_verified", "require", "verdict", "verify_data",
           "verify_file", "verify_result"]


def check(f: Loaded, trusted: list[sign.Signer] | None = None, accept_claims: bool = False,
          sample: int | None = None, pool: Pool | None = None) -> Verdict:
    """The verdict on a file read by the loader. ``accept_claims``: a fleet file without its rank
    files is said as unproven rather than failed (verify --allow-unverified). ``sample``: re-hash
    that many SHA-256d shares a trial, drawn from each result file's digest (verify --sample),
    and say what that leaves unseen; None re-hashes every share. ``pool``: the workers that
    check a fleet's rank files (None: verify_fleet starts its own)."""
    with sampling(sample):
        if f.kind == "fleet":
            return verify_fleet(f.raw, f.path, trusted, accept_claims, pool)
        if f.kind == "result":
            return verify_result(f.raw, f.path, trusted)
    return Verdict(f.path, "SKIP", claimed=[f.what or "not a result"])


def verdict(path: str | Path, trusted: list[sign.Signer] | None = None, accept_claims: bool = False,
            sample: int | None = None) -> Verdict:
    """The verdict on a file of any kind; one that cannot be read fails."""
    try:
        return check(read(path), trusted, accept_claims, sample)
    except ResultFileError as exc:
        return Verdict(str(path), "FAIL", [str(exc)])


def verify_file(path: str | Path, trusted: list[sign.Signer] | None = None) -> tuple[str, list[str]]:
    """('OK' | 'FAIL' | 'SKIP', problems or the reason for skipping)."""
    v = verdict(path, trusted)
    return v.status, (v.problems or ([] if v.status != "SKIP" else v.claimed))


def load_verified(path: str | Path, what: str = "", allow_unverified: bool = False) -> tuple[Result, dict[str, Any]]:
    """A result file that verifies (and proves what it claims, unless ``allow_unverified``), or
    an InputError naming its first problem (for the commands that act on results)."""
    result, raw = io.load(path)
    require(verify_result(raw, str(path)), what, allow_unverified)
    return result, raw
