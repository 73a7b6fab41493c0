"""`benchhash schema`: the JSON Schema of result or fleet files."""

from __future__ import annotations

from typing import Annotated

import typer


def schema(
    out_file: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None,
    fleet: Annotated[bool, typer.Option("--fleet", help="the schema of fleet files instead")] = False,
) -> None:
    """The JSON Schema of result files, or of fleet files (what results/schema/ holds)."""
    from benchhash.fsutil import write_output
    from benchhash.review.export import schema_text

    text = schema_text(fleet)
    if out_file:
        write_output(out_file, text)
    else:
        print(text, end="")
