"""The entry point: the app run with every failure mapped to one line on stderr and an exit code."""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any

import typer

from benchhash.cli.app import ARGV, INTERNAL, app, fail, interrupted
from benchhash.cli.logs import setup_logging
from benchhash.errors import BenchhashError

log = logging.getLogger("benchhash.cli")


def _click_exceptions() -> ModuleType:
    """click's exceptions, as Typer raises them: its own copy of click (Typer 0.2x vendors it)
    or click itself (older Typer)."""
    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


class _NeverRaised(Exception):
    pass


_click = _click_exceptions()
#: a usage error (bad flag, missing option, bad value): said in one line, exit 2
ClickException: Any = _click.ClickException
#: a bare `benchhash`: Typer has printed the help (click before 8.2 has no such class)
NoArgsIsHelpError: type[Exception] = getattr(_click, "NoArgsIsHelpError", _NeverRaised)

#: the app's own options that a person also types after the command (`benchhash run --quick -v`)
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def hoist_global_flags(args: list[str]) -> list[str]:
    """-v/--verbose and -q/--quiet given after the command moved before it, where Typer reads
    them; one that is the value of the command's own option (--notes -v), that the command takes
    itself, or that follows '--', stays where it is."""
    at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    command = None if at is None else getattr(typer.main.get_command(app), "commands", {}).get(args[at])
    if at is None or command is None:
        return list(args)
    options = [p for p in command.params if getattr(p, "param_type_name", "") == "option"]
    own = {o for p in options for o in p.opts}
    takes_value = {o for p in options if not getattr(p, "is_flag", False) and not getattr(p, "count", False)
                   for o in p.opts}
    hoisted: list[str] = []
    kept: list[str] = []
    rest = args[at + 1:]
    i = 0
    while i < len(rest):
        if rest[i] == "--":
            kept += rest[i:]
            break
        step = 2 if rest[i] in takes_value else 1       # an option and its value stay together
        if rest[i] in GLOBAL_FLAGS and rest[i] not in own:
            hoisted.append(rest[i])
        else:
            kept += rest[i:i + step]
        i += step
    return [*args[:at], *hoisted, args[at], *kept]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, mapping every failure to one line on stderr (bad input:
    exit 2; Ctrl-C or a stopping signal: 128 + its number; a benchhash bug: 70, its traceback
    with -v)."""
    setup_logging()
    ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):      # a path or note that was not UTF-8 prints escaped
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    try:
        code = app(args=hoist_global_flags(ARGV), prog_name="benchhash", standalone_mode=False)
    except BenchhashError as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:     # while the arguments were read, before any command ran
        interrupted(exc)
    except BrokenPipeError:
        raise SystemExit(0) from None
    except RecursionError:
        fail("input nested too deeply")
    except MemoryError:
        fail("out of memory", 1)
    except typer.Abort:
        interrupted()
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except NoArgsIsHelpError:       # a bare `benchhash`: the help is the answer
        raise SystemExit(0) from None
    except ClickException as exc:   # a usage error: bad flag, missing option, bad value
        fail(" ".join(exc.format_message().split()))
    except Exception as exc:
        log.debug("internal error", exc_info=exc)
        fail(f"internal error, a benchhash bug: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
             "(run with -v for the traceback)", INTERNAL)
    # Typer (non-standalone) returns Ctrl-C outside a command (in the app's own options) as 130.
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            interrupted()
        raise SystemExit(code)
