"""What verify does with a workload's figures: recompute them from the trials with the same
functions the run used, and say each stored figure that is not the one recomputed."""

from __future__ import annotations

import math
from typing import Any

#: Figures recomputed by the same arithmetic agree to rounding.
REL_TOL = 1e-9


def differs(stored: Any, again: Any) -> bool:
    """Whether a stored figure is not the one recomputed (numbers to REL_TOL, dicts key by key,
    text and flags exactly)."""
    if isinstance(again, dict):
        return not isinstance(stored, dict) or set(stored) != set(again) or \
            any(differs(stored[k], v) for k, v in again.items())
    if isinstance(again, bool) or again is None or isinstance(again, str):
        return stored != again or type(stored) is not type(again)
    return not isinstance(stored, int | float) or isinstance(stored, bool) or \
        not math.isclose(stored, again, rel_tol=REL_TOL, abs_tol=1e-12)


#: Figures that follow from a peak: a phase with none to follow from (a CPU's) cannot claim them.
AGAINST_PEAKS = ("mfu", "mbu", "pct_of_peak", "peak_tflops", "memory_bandwidth_gb_s")


def figure_problems(where: str, stored: dict[str, Any], again: dict[str, Any], source: str) -> list[str]:
    """'WHERE: KEY STORED does not follow from SOURCE (AGAIN)' for each figure that differs, and
    each figure against a peak that the recomputation has no peak for. Where a peak came from
    (``*_source``: the catalogue's words, which get better) is not compared."""
    out = [f"{where}: {k} {stored.get(k)!r} does not follow from {source} ({v!r})"
           for k, v in again.items() if not k.endswith("_source") and differs(stored.get(k), v)]
    return out + [f"{where}: {k} {stored[k]!r} claimed, but there is no peak for it to follow from"
                  for k in AGAINST_PEAKS if k in stored and k not in again]
