"""`benchhash merge`: rank or node results into one fleet file."""

from __future__ import annotations

from typing import Annotated

import typer

from benchhash.cli.app import out, progress
from benchhash.cli.options import AllowOption
from benchhash.errors import InputError


def merge(
    files: Annotated[list[str], typer.Argument(help="node result files")],
    out_file: Annotated[str, typer.Option("-o", "--out", help="fleet file to write")] = "",
    allow_unverified: AllowOption = False,
) -> None:
    """Rank or node results into one fleet file: a row per file, per phase the fleet's rate and
    watts (per-trial sums for the ranks of one fleet run), and the ranks that are missing."""
    from benchhash.fsutil import write_output
    from benchhash.report.fleet import fleet_table
    from benchhash.results.io import dumps
    from benchhash.review.merge import merge as run_merge

    if not out_file:
        raise InputError("merge needs -o FLEET.json")
    fleet = run_merge(files, out_file, allow_unverified)
    write_output(out_file, dumps(fleet), "-o/--out")
    out.print(fleet_table(out_file))
    progress.info("fleet of %d file(s) written to %s%s", len(fleet["ranks"]), out_file,
                  "" if fleet["complete"] else " (incomplete)")
