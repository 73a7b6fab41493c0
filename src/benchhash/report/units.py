"""Numbers with SI prefixes and one unit style everywhere: 5.38e7 hash/s reads '53.8 MH/s',
2.1e14 FLOP/s '210 TFLOP/s', 1.2e3 token/s '1.20 ktok/s'; money as M$ with two decimals."""

from __future__ import annotations

import math

PREFIXES = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
#: a unit of work as a person reads it after a prefix
SHORT = {"hash": "H", "token": "tok", "FLOP": "FLOP"}


def short_unit(unit: str) -> str:
    """'hash/s' -> 'H/s', 'token/J' -> 'tok/J'; other units unchanged."""
    head, sep, tail = unit.partition("/")
    return SHORT.get(head, head) + sep + tail


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """3 significant digits and a prefix; '-' for a missing value."""
    if value is None or not math.isfinite(value):
        return "-"
    mag = abs(value)
    factor, prefix = next(((f, p) for f, p in PREFIXES if mag >= f), (1.0, ""))
    scaled = value / factor
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(scaled))))) if scaled else 0
    return f"{scaled:.{decimals}f} {prefix}{short_unit(unit)}".rstrip()


def musd(value: float | None) -> str:
    """Money in millions of dollars, two decimals: '12.34 M$'."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value / 1e6:,.2f} M$"


def duration(seconds: float | None) -> str:
    """A short span as a person reads it: '42 µs', '3.1 ms', '1.25 s'."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
