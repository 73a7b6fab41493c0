"""`benchhash compare REF NEW`: per phase, faster or slower, and whether it is significant."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from benchhash.cli.app import log, printable
from benchhash.cli.options import AllowOption
from benchhash.errors import InputError


def compare(
    ref: Annotated[str, typer.Argument(help="reference result")],
    new: Annotated[str, typer.Argument(help="new result")],
    threshold: Annotated[float, typer.Option(
        help="fail (exit 1) on a significant slow-down above this many percent")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    allow_unverified: AllowOption = False,
) -> None:
    """NEW against REF per workload, in words: how much faster or slower, whether that is
    significant (Welch's t-test, Mann-Whitney U), and whether either side ran on a busy machine.
    Exit 1 on a significant regression beyond --threshold, 3 when a phase of REF could not be
    compared (another methodology, device, unit or parameters, or missing from NEW): a gate
    fails closed."""
    from benchhash.review.compare import INCOMPARABLE, compared, regressions, sentence

    if not 0 <= threshold <= 100:
        raise InputError(f"--threshold must be between 0 and 100, got {threshold:g}")
    rows = compared(ref, new, allow_unverified)
    if as_json:
        print(json.dumps([r.to_json() for r in rows], indent=1))
    else:
        for r in rows:
            print(printable(sentence(r)))
    bad = regressions(rows, threshold)
    if bad:
        busy = [r.workload for r in bad if r.busy]
        log.warning("%d significant regression(s) beyond %g %%: %s%s", len(bad), threshold,
                    ", ".join(r.workload for r in bad),
                    f" ({', '.join(busy)} measured on a busy machine: measure again on an idle one before "
                    "believing it)" if busy else "")
        raise SystemExit(1)
    closed = [r.workload for r in rows if r.mark == "incomparable" or (r.mark, r.reason) == ("missing", "only in REF")]
    if closed:
        log.warning("not compared: %s (exit %d: a phase of REF that cannot be compared is no pass)",
                    ", ".join(closed), INCOMPARABLE)
        raise SystemExit(INCOMPARABLE)
