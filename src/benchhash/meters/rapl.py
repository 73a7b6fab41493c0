"""CPU energy from Intel/AMD RAPL through Linux powercap (/sys/class/powercap).

Package and DRAM zones are summed (DRAM is not part of the package zone; core/uncore are, so
they are skipped). Counters wrap at ``max_energy_range_uj``; a thread reads them every second
so that no window misses a wrap. Since Linux 5.10 ``energy_uj`` is root-only on most systems:
then there is no reading, and the reason says so.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchhash.errors import MeterError
from benchhash.meters.base import EnergyMeter, Reading, Ticker, energy

POWERCAP = Path("/sys/class/powercap")


@dataclass
class Zone:
    label: str          # e.g. "package-0", "dram-0"
    path: Path
    range_uj: int
    last_uj: int
    total_uj: int = 0   # accumulated since the meter started, wraps unfolded

    def read(self) -> int:
        return int((self.path / "energy_uj").read_text())

    def update(self) -> None:
        now = self.read()
        delta = now - self.last_uj
        if delta < 0:  # the counter wrapped (once; the 1 s reader keeps it to at most one)
            delta += self.range_uj
        self.total_uj += delta
        self.last_uj = now


def discover(root: Path = POWERCAP) -> list[Zone]:
    """The package and DRAM zones under a powercap root; MeterError saying why when none."""
    if not root.is_dir():
        raise MeterError(f"no RAPL: {root} does not exist (not Linux, or no powercap driver)")
    zones: list[Zone] = []
    problems: list[str] = []
    for d in sorted(root.glob("*-rapl:*")):
        try:
            name = (d / "name").read_text().strip()
        except OSError:
            continue
        kind = name.split("-")[0]
        if kind not in ("package", "dram"):
            continue
        label = name if "-" in name else f"{name}-{d.name.rsplit(':', 1)[-1]}"
        try:
            now = int((d / "energy_uj").read_text())
            range_uj = int((d / "max_energy_range_uj").read_text())
        except PermissionError:
            problems.append(f"{d / 'energy_uj'} is not readable (root only since Linux 5.10)")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{d}: {exc}")
            continue
        if label in {z.label for z in zones}:
            label = f"{label}@{d.name}"
        zones.append(Zone(label, d, range_uj, now))
    if not zones:
        raise MeterError("no RAPL reading: " + ("; ".join(problems[:2]) if problems
                                                else f"no package or dram zone under {root}"))
    return zones


class RaplMeter(EnergyMeter):
    name = "rapl"
    method = "rapl"

    def __init__(self, root: Path = POWERCAP, interval_s: float = 1.0) -> None:
        self.root = root
        self.zones = discover(root)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._ticker = Ticker(self._tick, interval_s, "rapl-poll")
        self._t0: float | None = None
        self._start_uj: dict[str, int] = {}

    def _update(self) -> None:
        with self._lock:
            for z in self.zones:
                z.update()

    def _tick(self) -> None:
        try:
            self._update()
        except OSError:
            pass  # a transient read error; the next read still unfolds at most one wrap

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.stop()

    def begin(self) -> None:
        self.start()
        self._update()
        self._start_uj = {z.label: z.total_uj for z in self.zones}
        self._t0 = time.monotonic()

    def end(self) -> Reading:
        if self._t0 is None:
            raise RuntimeError("end() without begin()")
        self._update()
        seconds, self._t0 = time.monotonic() - self._t0, None
        domains = {z.label: (z.total_uj - self._start_uj[z.label]) / 1e6 for z in self.zones}
        return Reading(energy=energy(seconds, sum(domains.values()), self.method,
                                     domains_j=dict(domains),
                                     reason="whole CPU packages and DRAM, including other processes"))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.root),
                "zones": [z.label for z in self.zones], "interval_s": self.interval_s}
