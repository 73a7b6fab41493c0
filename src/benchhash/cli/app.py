"""The `benchhash` app: its options (-v, -q, --version), the consoles and the helpers every
command shares (one-line failures, integer flags). Each command is a module of this package."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from benchhash.cli.logs import setup_logging
from benchhash.errors import InputError

log = logging.getLogger("benchhash.cli")
#: exit code of an internal error (EX_SOFTWARE)
INTERNAL = 70
#: what a run or command is doing and where its output went (shown unless --quiet)
progress = logging.getLogger("benchhash.progress")
#: this invocation's arguments, for --all-gpus to hand to its ranks
ARGV: list[str] = []
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="SHA-256d and AI workloads on one GPU: rate, energy, revenue per MW.")


def _version(value: bool) -> None:
    if value:
        from benchhash import __version__
        print(f"benchhash {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="more detail on stderr (before or after the command)")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="errors only on stderr (before or after the command)")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """SHA-256d and AI workloads on one GPU: rate, energy, revenue per MW."""
    if verbose and quiet:
        raise InputError("give --verbose or --quiet, not both")
    setup_logging(1 if verbose else -1 if quiet else 0)
out = Console()
err = Console(stderr=True)


def printable(text: str) -> str:
    """Text any stream can take: bytes that were not UTF-8 in an argument (lone surrogates) are
    shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"benchhash: error: {printable(message)}", file=sys.stderr)
    raise SystemExit(code)


def parse_int(text: str, flag: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise InputError(f"{flag} must be an integer, got {text!r}") from None
