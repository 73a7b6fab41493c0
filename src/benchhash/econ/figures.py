"""Figures as econ prints them (shared by the econ text and the decision's)."""

from __future__ import annotations

import math

from benchhash.units import PREFIXES


def num(v: float | None) -> str:
    """A figure as typed: 60,000; 0.0055; 1.8214; from a million up with a prefix (1.85 M, 133.87 T);
    'none' for a missing figure (no table figure as old as the snapshot)."""
    if v is None or not math.isfinite(v):
        return "none"
    factor, prefix = next(((f, p) for f, p in PREFIXES if abs(v) >= f), (1.0, ""))
    return f"{v / factor:.5g} {prefix}" if factor >= 1e6 else f"{v:,.6g}"
