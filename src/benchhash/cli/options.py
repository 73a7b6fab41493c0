"""Options that several commands declare alike (one declaration for all)."""

from __future__ import annotations

from typing import Annotated

import typer

#: the market economics prices with, as `econ` and `report` take it (one declaration for both)
AllowOption = Annotated[bool, typer.Option(
    "--allow-unverified", help="take files that prove less than they claim (compare: also files that fail verify) "
                               "on their word, said so")]
MarketOption = Annotated[str | None, typer.Option(
    help="snapshot name, market .json (merged over the default), or live[:URL] (mempool.space API)")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="override one input: key=value (repeatable); the keys, units and ranges: econ --inputs")]
