"""`benchhash verify FILE... --jobs N`: every file checked in a worker process (review/pool.py),
verdicts in the files' order. A worker reads its file; a result file it verifies there, a fleet
file it hands back to be verified here, its rank files going to the same workers (a worker
starts no workers of its own)."""

from __future__ import annotations

from functools import partial

from benchhash.errors import ResultFileError
from benchhash.results import sign
from benchhash.review.load import read
from benchhash.review.pool import Pool
from benchhash.review.verdict import Verdict
from benchhash.review.verify import check


def _verdict(path: str, trusted: list[sign.Signer] | None, accept_claims: bool,
             sample: int | None = None) -> Verdict | None:
    """A file's verdict, or None for a fleet file (verified by the caller, with the workers)."""
    try:
        loaded = read(path)
    except ResultFileError as exc:
        return Verdict(path, "FAIL", [str(exc)])
    if loaded.kind == "fleet":
        return None
    return check(loaded, trusted, accept_claims, sample)


def verify_paths(paths: list[str], trusted: list[sign.Signer] | None = None, accept_claims: bool = False,
                 jobs: int | None = None, sample: int | None = None) -> list[Verdict]:
    """The verdict on each file, in order; ``jobs`` worker processes (None: every core);
    ``sample``: re-hash that many SHA-256d shares a trial (verify --sample; None: every share)."""
    out: list[Verdict] = []
    with Pool(jobs) as pool:
        fleets = []
        one = partial(_verdict, trusted=trusted, accept_claims=accept_claims, sample=sample)
        for path, v in zip(paths, pool.map(one, paths), strict=True):
            out.append(v if v is not None else Verdict(path))
            if v is None:
                fleets.append(len(out) - 1)
        for i in fleets:
            try:
                out[i] = check(read(paths[i]), trusted, accept_claims, sample, pool)
            except ResultFileError as exc:
                out[i] = Verdict(paths[i], "FAIL", [str(exc)])
    return out
