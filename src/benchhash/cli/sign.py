"""`benchhash sign`: sign result files with an SSH key."""

from __future__ import annotations

from typing import Annotated

import typer

from benchhash.cli.app import progress


def sign(
    files: Annotated[list[str], typer.Argument(help="result files to sign (in place)")],
    key: Annotated[str, typer.Option("--key", help="Ed25519 OpenSSH private key (e.g. ~/.ssh/id_ed25519)")],
) -> None:
    """Sign result files with an SSH key: who vouches for their seconds, joules and device.
    A file that fails verify is not signed."""
    from benchhash.fsutil import write_output
    from benchhash.results import io
    from benchhash.results.sign import load_key, sign_digest
    from benchhash.review.verify import require, verify_result

    private = load_key(key)
    for f in files:
        raw = io.read_json(f)           # one that proves less than it claims is signed: its claims are vouched for
        require(verify_result(raw, f), ": only a file that verifies is signed", allow_unverified=True, quiet=True)
        raw["signature"] = sign_digest(private, io.digest_of(raw)).model_dump(mode="json")
        write_output(f, io.dumps(raw), "sign")
        progress.info("signed %s with %s", f, raw["signature"]["fingerprint"])
