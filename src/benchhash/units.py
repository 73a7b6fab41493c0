"""Numbers with SI prefixes and one unit style everywhere: 5.38e7 hash/s reads '53.8 MH/s',
2.1e14 FLOP/s '210 TFLOP/s', 1.2e3 token/s '1.20 ktok/s'; money as M$ with two decimals; and
times as the files write them, UTC to the second ('2026-12-04T18:39:59Z'). The ground floor:
every layer may use it, it uses none."""

from __future__ import annotations

import math
from datetime import UTC, datetime

PREFIXES = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
#: a unit of work as a person reads it after a prefix
SHORT = {"hash": "H", "token": "tok", "FLOP": "FLOP"}


def short_unit(unit: str) -> str:
    """'hash/s' -> 'H/s', 'token/J' -> 'tok/J'; other units unchanged."""
    head, sep, tail = unit.partition("/")
    return SHORT.get(head, head) + sep + tail


def prefix_of(magnitude: float) -> tuple[float, str]:
    """The factor and SI prefix a value of this size is written with: 6.8e9 -> (1e9, 'G')."""
    return next(((f, p) for f, p in PREFIXES if abs(magnitude) >= f), (1.0, ""))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """3 significant digits and a prefix; '-' for a missing value."""
    if value is None or not math.isfinite(value):
        return "-"
    factor, prefix = prefix_of(value)
    scaled = value / factor
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(scaled))))) if scaled else 0
    return f"{scaled:.{decimals}f} {prefix}{short_unit(unit)}".rstrip()


def j_per_th(hashes_per_joule: float | None) -> str:
    """Hashing efficiency in miners' units: 15.8 MH/J reads '63,300 J/TH' (an S21: '17.5 J/TH')."""
    if not hashes_per_joule or not math.isfinite(hashes_per_joule) or hashes_per_joule < 0:
        return "-"
    value = 1e12 / hashes_per_joule
    if value < 100:
        return f"{value:.3g} J/TH"
    return f"{round(value, 2 - int(math.floor(math.log10(value)))):,.0f} J/TH"


def per_joule(value: float | None, unit: str) -> str:
    """Work per joule, and for hashes the same in J/TH beside it: '15.8 MH/J (63,300 J/TH)'."""
    text = si(value, unit)
    return f"{text} ({j_per_th(value)})" if short_unit(unit) == "H/J" and value else text


def musd(value: float | None) -> str:
    """Money in millions of dollars, two decimals: '12.34 M$'."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value / 1e6:,.2f} M$"


def usd(value: float | None) -> str:
    """Money as musd, but an amount under 10 k$ with the prefix it needs ('65.0 $', '-4.20 k$'),
    so that a small figure never reads as '0.00 M$'."""
    if value is None or not math.isfinite(value) or value == 0 or abs(value) >= 1e4:
        return musd(value)
    return si(value, "$")


def duration(seconds: float | None) -> str:
    """A short span as a person reads it: '42 µs', '3.1 ms', '1.25 s'."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"



def num(v: float | None) -> str:
    """A figure as typed (econ's inputs): 60,000; 0.0055; 1.8214; from a million up with a prefix
    (1.85 M, 133.87 T); 'none' for a missing figure (no table figure as old as the snapshot)."""
    if v is None or not math.isfinite(v):
        return "none"
    factor, prefix = prefix_of(v)
    return f"{v / factor:.5g} {prefix}" if factor >= 1e6 else f"{v:,.6g}"

#: How a file writes a time: UTC, to the second.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> str:
    return datetime.now(UTC).strftime(UTC_FORMAT)


def utc_stamp(unix_s: float) -> str:
    """A wall-clock time as a file writes it; one beyond the calendar as seconds after 1970."""
    try:
        return datetime.fromtimestamp(unix_s, UTC).strftime(UTC_FORMAT)
    except (OverflowError, OSError, ValueError):
        return f"{unix_s:.6g} s after 1970"


def parse_utc(stamp: str) -> datetime:
    """A file's UTC stamp (fractions of a second aside) as an aware datetime; ValueError when it
    is no time of the calendar (February 30, month 13)."""
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
