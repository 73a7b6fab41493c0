"""The `benchhash` app: its options (-v, -q, --version), the consoles and the helpers every
command shares (one-line failures, integer flags). Each command is a module of this package."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from benchhash.cli.logs import setup_logging
from benchhash.errors import InputError, signals_interrupt

P = ParamSpec("P")
R = TypeVar("R")

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


def interrupted(stop: BaseException | None = None) -> NoReturn:
    """The one way a command ends when it is stopped: 'benchhash: interrupted' on stderr (with
    the signal's name when it was not Ctrl-C) and exit 128 + the signal's number (Ctrl-C: 130)."""
    name = getattr(stop, "name", "Ctrl-C")
    print("benchhash: interrupted" + ("" if name == "Ctrl-C" else f" ({name})"), file=sys.stderr)
    raise SystemExit(getattr(stop, "code", 130))


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Around every command: SIGTERM and SIGHUP stop it as Ctrl-C does (errors.Interrupted), and
    however it is stopped, it ends through interrupted()."""
    try:
        with signals_interrupt():
            yield
    except KeyboardInterrupt as stop:
        interrupted(stop)


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """A command's function run inside stoppable(); Typer reads its options from the function
    itself (its signature and annotations), as it would unwrapped."""
    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with stoppable():
            return fn(*args, **kwargs)
    return wrapped
