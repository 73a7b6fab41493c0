"""Numbers with SI prefixes, so 5.38e7 hash/s reads as '53.8 Mhash/s'."""

from __future__ import annotations

import math

PREFIXES = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """3 significant digits and a prefix; '-' for a missing value."""
    if value is None or not math.isfinite(value):
        return "-"
    mag = abs(value)
    factor, prefix = next(((f, p) for f, p in PREFIXES if mag >= f), (1.0, ""))
    scaled = value / factor
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(scaled))))) if scaled else 0
    return f"{scaled:.{decimals}f} {prefix}{unit}".rstrip()
