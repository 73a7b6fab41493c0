"""A meter that plays back a recorded power trace: deterministic energy for end-to-end tests
and for re-running the pipeline on telemetry captured elsewhere.

Trace file (JSON): ``{"interval_s": 0.1, "samples": [{"power_w": 300.0, "sm_clock_mhz": 1980,
"temperature_c": 60, "throttle_reasons": 0}, ...]}``; samples repeat when the run outlasts them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.fsutil import read_json
from benchhash.meters.base import PollingMeter, Sample

FIELDS = ("power_w", "sm_clock_mhz", "temperature_c", "throttle_reasons")
#: The most any sample may hold: 100 kW (a whole 8-GPU node draws about 10), 100 GHz, 1000 °C, and
#: a 64-bit reason mask; beyond, the energies a window integrates leave a float's range.
LIMITS = {"power_w": 1e5, "sm_clock_mhz": 1e5, "temperature_c": 1e3, "throttle_reasons": 2.0**64}


class ReplayMeter(PollingMeter):
    name = "replay"
    method_polled = "replay"

    def __init__(self, samples: list[dict[str, Any]], interval_s: float = 0.1,
                 source: str | None = None) -> None:
        super().__init__(interval_s)
        if not samples:
            raise InputError("replay trace has no samples")
        for i, s in enumerate(samples):
            if not isinstance(s, dict) or set(s) - set(FIELDS):
                raise InputError(f"replay sample {i} must be an object with keys from {FIELDS}")
            for k, v in s.items():
                if v is not None and (not isinstance(v, int | float) or isinstance(v, bool)
                                      or not math.isfinite(v) or not 0 <= v <= LIMITS[k]):
                    raise InputError(f"replay sample {i}: {k} must be a non-negative number, at most {LIMITS[k]:g}")
        self.trace = samples
        self.source = source
        self._i = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayMeter:
        p = Path(path)
        data = read_json(p, "replay trace")
        if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
            raise InputError(f"replay trace {p} must be an object with a 'samples' list")
        interval = data.get("interval_s", 0.1)
        if not isinstance(interval, int | float) or not 0.001 <= interval <= 10:
            raise InputError(f"replay trace {p}: interval_s must be between 0.001 and 10")
        return cls(data["samples"], float(interval), source=str(p))

    def poll(self) -> Sample:
        s = self.trace[self._i % len(self.trace)]
        self._i += 1
        return Sample(t_s=time.monotonic(), power_w=s.get("power_w"),
                      sm_clock_mhz=s.get("sm_clock_mhz"), temperature_c=s.get("temperature_c"),
                      throttle_reasons=s.get("throttle_reasons"))

    def counter_reason(self) -> str:
        return "replayed power trace (no hardware was measured)"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "samples": len(self.trace),
                "interval_s": self.interval_s}
