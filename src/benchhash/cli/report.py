"""`benchhash report`: one row per file and workload, as a table, markdown, CSV or HTML."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from benchhash.cli.app import out, progress
from benchhash.cli.options import AllowOption, MarketOption, SetOption
from benchhash.errors import InputError


def _load_all(files: list[str]) -> list[tuple[str, Any]]:
    """Each file with its result or fleet; a file that fails verify, or proves less than it
    claims, is marked so in its name."""
    from benchhash.review.load import read
    from benchhash.review.verify import check
    if not files:
        raise InputError("give at least one result or fleet file")
    out = []
    for f in files:
        loaded = read(f)
        held = loaded.parsed()
        v = check(loaded)
        mark = (f" (FAILS VERIFY: {v.problems[0]})" if v.problems else
                f" (UNPROVEN: {v.unproven[0]})" if v.unproven else "")
        out.append((f + mark, held))
    return out


def report(
    files: Annotated[list[str], typer.Argument(help="result or fleet files")],
    fmt: Annotated[str, typer.Option("--format", help="table | md | csv | html")] = "table",
    out_file: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None,
    market: MarketOption = None,
    set_: SetOption = None,
    log_scale: Annotated[bool, typer.Option(
        "--log-scale", help="html: measured rates and work per joule on log axes (said in the titles)")] = False,
    allow_unverified: AllowOption = False,
) -> None:
    """One row per file and workload: rate, watts, work per joule (and J/TH), energy method,
    warnings; --format html adds the market inputs, each use per facility MW, the claim's verdicts
    and charts, priced with --market and --set as `econ` is."""
    from benchhash.fsutil import write_output
    from benchhash.report import formats

    if fmt not in formats.FORMATS:
        raise InputError(f"--format must be table, md, csv or html, got {fmt!r}")
    opts = formats.Options(market, tuple(set_ or ()), log_scale, allow_unverified)
    if fmt != "html" and (opts.priced or log_scale):
        raise InputError("--market, --set and --log-scale are for --format html (the other formats have no "
                         "economics or charts)")
    results = _load_all(files)
    if fmt == "table" and not out_file:
        out.print(formats.rich_table(results))
        return
    text = formats.render(fmt, results, opts)
    if out_file:
        write_output(out_file, text)
        progress.info("report written to %s", out_file)
    else:
        print(text, end="")
