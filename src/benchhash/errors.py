"""Exceptions benchhash raises on purpose; the CLI turns each into one line and exit code 2."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class BenchhashError(Exception):
    """Base of every error benchhash reports to a user without a traceback."""


class InputError(BenchhashError, ValueError):
    """A value given by the user (flag, hex, file) is malformed or out of range."""


class BackendUnavailable(BenchhashError):
    """A scan backend was asked for but cannot run on this machine; the message says why."""


class ScanOverflowError(BenchhashError):
    """More qualifying nonces than the result buffer may hold: the target is too easy."""


class ResultFileError(InputError):
    """A result file is unreadable, malformed, of a newer schema, or fails validation."""


class MeterError(BenchhashError):
    """An energy or telemetry reading failed; the message says which and why."""


class FleetBroken(BenchhashError):
    """A fleet run cannot go on: a rank died, hung past the timeout, or disagreed on the plan.
    The message names the ranks."""


class FleetMovedOn(BenchhashError):
    """In a fleet, another rank could not run this phase (its failure is in its own file): every
    rank leaves the phase together, keeping what it measured, and the fleet goes on in step."""


class Interrupted(KeyboardInterrupt):
    """A signal that stops a run as Ctrl-C does (SIGTERM from Slurm, Kubernetes or `timeout`,
    SIGHUP from a closed terminal): what was measured is written, marked incomplete."""

    def __init__(self, name: str = "Ctrl-C", code: int = 130) -> None:
        super().__init__(name)
        self.name, self.code = name, code


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise Interrupted like Ctrl-C raises
    KeyboardInterrupt; the previous handlers come back after. A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        raise Interrupted(name, 128 + signum)

    for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


class Held:
    """The first stopping signal that arrived while signals were held (None if none)."""

    def __init__(self) -> None:
        self.error: Interrupted | None = None


@contextlib.contextmanager
def hold_signals() -> Iterator[Held]:
    """Inside the block, Ctrl-C, SIGTERM and SIGHUP are noted, not raised: what the block writes
    (a result file once the measuring is over) is written whole. The caller decides what the
    noted signal means afterwards (``held.error``). A no-op off the main thread."""
    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def note(signum: int, frame: object) -> None:
        if held.error is None:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            held.error = Interrupted(name, 128 + signum)

    sigs = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    saved = {sig: signal.signal(sig, note) for sig in sigs}
    try:
        yield held
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
