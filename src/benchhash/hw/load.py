"""How busy this machine is while benchhash measures: the 1-minute load average, and over a span
the share of all CPUs' time that this process took and that everything else took (other
processes, the kernel's own work and, in a VM, time the hypervisor gave to other guests: steal).
From /proc/stat and os.times(), no psutil; a reading the system does not give is None."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from benchhash.results.model import Load

log = logging.getLogger(__name__)

#: /proc/stat's fields after "cpu": user nice system idle iowait irq softirq steal (guest and
#: guest_nice are already inside user and nice)
_IDLE = (3, 4)
_COUNTED = 8


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds since boot, summed over every CPU: all of it, the part not idle, and the
    part this process (all its threads) used."""

    total_s: float
    busy_s: float
    own_s: float
    cpus: int


@dataclass(frozen=True)
class Shares:
    """Over a span: this process's and everyone else's share of all CPUs' time (0..1)."""

    own: float
    others: float
    cpus: int


def parse_stat(text: str, own_s: float, ticks_per_s: float) -> CpuTimes | None:
    """CpuTimes from /proc/stat's text (None when its 'cpu' line is not there or malformed)."""
    lines = text.splitlines()
    first = lines[0].split() if lines else []
    if not first or first[0] != "cpu":
        return None
    try:
        ticks = [int(x) for x in first[1:1 + _COUNTED]]
    except ValueError:
        return None
    idle = sum(ticks[i] for i in _IDLE if i < len(ticks))
    cpus = sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit())
    total = sum(ticks) / ticks_per_s
    return CpuTimes(total, total - idle / ticks_per_s, own_s, max(cpus, 1))


def shares(a: CpuTimes | None, b: CpuTimes | None) -> Shares | None:
    """Who used the CPUs between two readings (None without both, or when no time passed)."""
    if a is None or b is None or b.total_s - a.total_s <= 0:
        return None
    total = b.total_s - a.total_s
    own = min(1.0, max(0.0, (b.own_s - a.own_s) / total))
    others = min(1.0, max(0.0, (b.busy_s - a.busy_s) / total - own))
    return Shares(own, others, b.cpus)


class Probe:
    """Reads the machine's load; tests pass one with scripted readings."""

    def load_average(self) -> float | None:
        """The 1-minute load average (runnable and uninterruptible tasks), None where unknown."""
        try:
            return round(os.getloadavg()[0], 2)
        except (OSError, AttributeError):
            return None

    def cpu_times(self) -> CpuTimes | None:
        """All CPUs' and this process's CPU time now, None where /proc/stat cannot be read."""
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                text = fh.read()
            ticks = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, AttributeError) as exc:
            log.debug("no CPU times: %s", exc)
            return None
        t = os.times()
        return parse_stat(text, t.user + t.system, float(ticks))


def phase_load(probe: Probe, before: Load | None, start: CpuTimes | None) -> Load:
    """A phase's Load now its trials are over: the load average ``before`` held (read as the
    phase began), the one now, and who used the CPUs since ``start`` (read as its trials began)."""
    share = shares(start, probe.cpu_times())
    after = probe.load_average()
    missing = [what for what, value in (("/proc/stat", share), ("load average", after)) if value is None]
    return Load(cpus=share.cpus if share else os.cpu_count(),
                load_avg_1m_before=before.load_avg_1m_before if before else None, load_avg_1m_after=after,
                own_cpu_share=round(share.own, 4) if share else None,
                others_cpu_share=round(share.others, 4) if share else None,
                reason=f"not readable here: {', '.join(missing)}" if missing else None)
