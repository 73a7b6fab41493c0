"""The meter of last resort: every window's energy is None, with the reason."""

from __future__ import annotations

import time
from typing import Any

from benchhash.meters.base import EnergyMeter, Reading, energy


class NullMeter(EnergyMeter):
    name = "null"

    def __init__(self, reason: str = "no energy meter was requested") -> None:
        self.reason = reason
        self._t0: float | None = None

    def begin(self) -> None:
        self._t0 = time.monotonic()

    def end(self) -> Reading:
        if self._t0 is None:
            raise RuntimeError("end() without begin()")
        seconds, self._t0 = time.monotonic() - self._t0, None
        return Reading(energy=energy(seconds, None, "none", reason=self.reason))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}
