"""The energy-meter interface: begin a window, end it, get joules and how they were obtained.

A missing reading is ``None`` with a reason, never zero. Readings, energies and telemetry are the
result's own models (results.model), so what a meter reads goes into a file unconverted.
Polling meters (NVML, replay) share :class:`PollingMeter`: a background thread samples power,
clocks, temperature and throttle reasons; a window's polled energy is the integral of those
samples.
"""

from __future__ import annotations

import statistics
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from benchhash.results.model import Energy, Reading, Telemetry

#: A polled integral this far from the hardware counter is flagged.
POLL_GAP_WARN = 0.05

#: NVML clock-event ("throttle") reason bits and the names benchhash records them under.
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def throttle_names(mask: int) -> list[str]:
    """Names of the reason bits set in ``mask`` (unknown bits as hex)."""
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_REASONS)
    if rest:
        names.append(f"other_{rest:#x}")
    return names


@dataclass
class Sample:
    """One poll of a device; a field the device would not give is None."""

    t_s: float
    power_w: float | None = None
    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    throttle_reasons: int | None = None


def summarize_samples(samples: list[Sample]) -> Telemetry:
    """Means, extremes and throttle-reason shares of a list of polls."""
    def vals(name: str) -> list[float]:
        return [v for s in samples if (v := getattr(s, name)) is not None]

    power, clock, temp = vals("power_w"), vals("sm_clock_mhz"), vals("temperature_c")
    masks = [s.throttle_reasons for s in samples if s.throttle_reasons is not None]
    share: dict[str, float] = {}
    for mask in masks:
        for name in throttle_names(mask):
            share[name] = share.get(name, 0.0) + 1.0 / len(masks)
    return Telemetry(
        samples=len(samples),
        power_w_mean=statistics.fmean(power) if power else None,
        power_w_max=max(power) if power else None,
        sm_clock_mhz_median=statistics.median(clock) if clock else None,
        sm_clock_mhz_min=min(clock) if clock else None,
        temperature_c_first=temp[0] if temp else None,
        temperature_c_last=temp[-1] if temp else None,
        temperature_c_max=max(temp) if temp else None,
        throttle_share={k: round(v, 6) for k, v in sorted(share.items())},
    )


def integrate_power(samples: list[Sample], t0: float, t1: float) -> float | None:
    """Joules over [t0, t1] from power samples: trapezoids between samples, the first and last
    value held to the window's edges. None with fewer than two power readings."""
    pts = [(s.t_s, s.power_w) for s in samples if s.power_w is not None and t0 <= s.t_s <= t1]
    if len(pts) < 2:
        return None
    energy = pts[0][1] * (pts[0][0] - t0) + pts[-1][1] * (t1 - pts[-1][0])
    for (ta, pa), (tb, pb) in zip(pts, pts[1:], strict=False):
        energy += 0.5 * (pa + pb) * (tb - ta)
    return energy


def energy(seconds: float, energy_j: float | None, method: str, **fields: Any) -> Energy:
    """A window's Energy, its average power derived (None, never 0, without a reading)."""
    average = energy_j / seconds if energy_j is not None and seconds > 0 else None
    return Energy(seconds=seconds, energy_j=energy_j, average_w=average, method=method, **fields)


class Ticker:
    """A daemon thread calling ``tick`` every ``interval_s`` (first call at once) until stopped;
    start() and stop() are idempotent. Meters sample with it."""

    def __init__(self, tick: Callable[[], None], interval_s: float, name: str) -> None:
        self.tick, self.interval_s, self.name = tick, interval_s, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None


class EnergyMeter(ABC):
    """begin() / end() a window -> Reading. Meters are context managers; close() is idempotent."""

    name: str = "?"

    def start(self) -> None:
        """Start background sampling, if the meter has any."""

    @abstractmethod
    def begin(self) -> None:
        """Open a window (the caller has synchronised the device)."""

    @abstractmethod
    def end(self) -> Reading:
        """Close the window opened by begin() (the caller has synchronised the device)."""

    def close(self) -> None:
        """Stop sampling and release the device."""

    def describe(self) -> dict[str, Any]:
        """What this meter measures and how, for the result's provenance."""
        return {"name": self.name}

    def session(self) -> Telemetry | None:
        """Telemetry over everything polled since start(), for temperatures before/after/max."""
        return None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PollingMeter(EnergyMeter):
    """A meter with a sampling thread; subclasses provide poll() and, optionally, a counter."""

    method_counter = "counter"
    method_polled = "polling"

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._ticker = Ticker(self._sample, interval_s, f"{self.name}-poll")
        self._t0: float | None = None
        self._counter0: float | None = None
        self._counter_error: str | None = None

    # --- what subclasses provide ---------------------------------------------------------
    @abstractmethod
    def poll(self) -> Sample:
        """One sample now (fields the device refuses are None)."""

    def read_counter_j(self) -> float | None:
        """A monotonically increasing energy counter in joules, or None when there is none."""
        return None

    def counter_reason(self) -> str:
        """Why there is no counter (shown when polling is the method)."""
        return "this meter has no energy counter"

    def notes(self) -> list[str]:
        """What changed in how the meter reads (e.g. a fallback mid-run), added to each window's
        warnings from then on."""
        return []

    # --- sampling --------------------------------------------------------------------------
    def _sample(self) -> None:
        sample = self.poll()
        with self._lock:
            self._samples.append(sample)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.stop()

    def _window(self, t0: float, t1: float) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if t0 <= s.t_s <= t1]

    def session(self) -> Telemetry | None:
        """None also when the samples hold what no summary can (values beyond a float's range):
        the run's file is written without it rather than lost."""
        with self._lock:
            samples = list(self._samples)
        try:
            return summarize_samples(samples) if samples else None
        except (ArithmeticError, ValueError):
            return None

    # --- windows ---------------------------------------------------------------------------
    def _safe_counter(self) -> float | None:
        try:
            return self.read_counter_j()
        except Exception as exc:  # noqa: BLE001 - a failed read falls back to polling, said so
            self._counter_error = f"energy counter read failed mid-run ({exc})"
            return None

    def begin(self) -> None:
        self.start()
        self._counter_error = None
        self._counter0 = self._safe_counter()
        self._t0 = time.monotonic()
        self._sample()  # one at the edge, so short windows still integrate

    def end(self) -> Reading:
        if self._t0 is None:
            raise RuntimeError("end() without begin()")
        self._sample()
        t1 = time.monotonic()
        counter1 = self._safe_counter() if self._counter0 is not None else None
        t0, self._t0 = self._t0, None
        window = self._window(t0, t1)
        polled = integrate_power(window, t0, t1)
        counter = None if counter1 is None or self._counter0 is None else counter1 - self._counter0
        warnings: list[str] = []
        gap = reason = None
        if counter is not None:
            joules, method = counter, self.method_counter
            if polled is not None and counter > 0:
                gap = 100.0 * (polled - counter) / counter
                if abs(gap) > 100 * POLL_GAP_WARN:
                    warnings.append(f"polled power integral differs from the energy counter by "
                                    f"{gap:+.1f} % (more than {100 * POLL_GAP_WARN:.0f} %)")
        elif polled is not None:
            joules, method = polled, self.method_polled
            reason = self._counter_error or self.counter_reason()
            if self._counter_error:
                warnings.append(self._counter_error + "; energy from polled power")
        else:
            joules, method = None, "none"
            reason = (self._counter_error or self.counter_reason()) + \
                "; and fewer than two power samples in the window"
            warnings.append(f"no energy reading: {reason}")
        warnings += [n for n in self.notes() if n not in warnings]
        return Reading(energy=energy(t1 - t0, joules, method, reason=reason,
                                     counter_energy_j=counter, polled_energy_j=polled,
                                     gap_pct=gap, warnings=warnings),
                       telemetry=summarize_samples(window))
