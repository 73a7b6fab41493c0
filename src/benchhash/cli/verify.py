"""`benchhash verify`: what each file proves, what it claims unproven, and what fails."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer


def verify(
    files: Annotated[list[str], typer.Argument(help="result or fleet files")],
    trusted_keys: Annotated[str | None, typer.Option(
        "--trusted-keys", help="allowed_signers file (ssh-keygen's format): who is trusted to sign")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON verdict per file on stdout")] = False,
    allow_unverified: Annotated[bool, typer.Option(
        "--allow-unverified", help="a fleet file without its rank files: its word as unproven, not failed")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", help="files checked at once, each in a worker process (default: every core)")] = None,
    sample: Annotated[int | None, typer.Option(
        "--sample", min=1, help="re-hash only K SHA-256d shares a trial, drawn from the file's digest, and "
                                "say the odds that forged shares went unseen (default: every share)")] = None,
) -> None:
    """What each file proves, what it claims but does not prove (older files, said as unproven:
    econ, merge and compare refuse them unless given --allow-unverified), and what it only
    claims: schema, digest, signature, consistency, plausibility, every SHA-256d share
    re-hashed. Exit 1 when a file fails (with --trusted-keys: also when its signer is not
    trusted); a file that is not there is bad input, as in every command (one line, exit 2)."""
    from benchhash.results import io
    from benchhash.results.sign import allowed_signers
    from benchhash.review.batch import verify_paths
    from benchhash.review.pool import jobs_option

    jobs = jobs_option(jobs)
    for f in files:
        if not os.path.exists(f):
            io.read_json(f)         # raises the one-line "cannot read result file F: no such file"
    trusted = allowed_signers(trusted_keys) if trusted_keys else None
    verdicts = verify_paths(files, trusted, allow_unverified, jobs, sample)
    if as_json:
        print(json.dumps([v.to_json() for v in verdicts], indent=1))
    for v in verdicts if not as_json else []:
        print(f"{v.status:<4} {v.path}" + (f" ({v.claimed[0]})" if v.status == "SKIP" else ""))
        if v.status == "SKIP":
            continue
        for p in v.problems[:20]:
            print(f"  - {p}")
        if len(v.problems) > 20:
            print(f"  - ... {len(v.problems) - 20} more")
        for line in v.proven:
            print(f"  proven:  {line}")
        for line in v.unproven:
            print(f"  unproven: {line}")
        for line in v.claimed:
            print(f"  claimed: {line}")
    if any(v.status == "FAIL" for v in verdicts):
        raise SystemExit(1)
