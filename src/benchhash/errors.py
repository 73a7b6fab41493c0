"""Exceptions benchhash raises on purpose; the CLI turns each into one line and exit code 2."""

from __future__ import annotations


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
