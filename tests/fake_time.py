"""A clock that moves only when a test moves it, for code whose figures come from timing.

Patched in as the ``time`` of the module under test (``monkeypatch.setattr(module, "time",
fake)``), it makes what a timed window measures a consequence of what the test did, not of how
busy the machine is: a test that asserts what a window of N seconds holds then passes on a
loaded 2-core machine as on an idle one. It is also a runner ``Clock`` (now, wait), and it makes
the meters' pollers (``benchhash.meters.base.Ticker``) tick on its time: see ``install_meters``.
"""

from __future__ import annotations

import threading
import time as _real_time
from collections.abc import Callable
from typing import Any

import pytest

from benchhash.runner import Clock


class FakeTicker:
    """What meters.base.Ticker does (tick at once when started, then every interval_s until
    stopped; start and stop idempotent), on a FakeTime's clock instead of a thread."""

    def __init__(self, clock: FakeTime, tick: Callable[[], None], interval_s: float, name: str) -> None:
        self.clock, self.tick, self.interval_s, self.name = clock, tick, interval_s, name
        self.running = False
        self.ticks = 0                   # every tick, since it was made
        self._started_at = 0.0
        self._n = 0                      # ticks since the last start

    @property
    def next_due(self) -> float:
        return self._started_at + self._n * self.interval_s

    def fire(self) -> None:
        self._n += 1
        self.ticks += 1
        self.tick()

    def start(self) -> None:
        if not self.running:
            self.running, self._started_at, self._n = True, self.clock.t, 0
            self.fire()                  # the first tick at once, as the real one does

    def stop(self) -> None:
        self.running = False


class FakeTime(Clock):
    """monotonic() and perf_counter() read ``t``; advance() and sleep() move it, ticking every
    running FakeTicker whose next tick falls within the step, in time order."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.tickers: list[FakeTicker] = []

    # --- the parts of the time module the code under test calls ---------------------------------
    def monotonic(self) -> float:
        return self.t

    def perf_counter(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    # the wall clock, strftime and gmtime stay real: only intervals are faked
    time = staticmethod(_real_time.time)
    strftime = staticmethod(_real_time.strftime)
    gmtime = staticmethod(_real_time.gmtime)

    # --- runner.Clock ----------------------------------------------------------------------------
    def now(self) -> float:
        return self.t

    def wait(self, event: threading.Event, seconds: float) -> None:
        self.advance(seconds)

    def take(self, seconds: float) -> None:
        self.advance(seconds)

    # --- moving it -------------------------------------------------------------------------------
    def advance(self, seconds: float) -> float:
        """Move the clock on by ``seconds`` (the tickers due on the way firing in order); the new
        time, so that a lambda may advance and go on."""
        end = self.t + seconds
        while due := [k for k in self.tickers if k.running and k.next_due <= end]:
            first = min(due, key=lambda k: k.next_due)
            self.t = max(self.t, first.next_due)
            first.fire()
        self.t = end
        return end

    def ticker(self, tick: Callable[[], None], interval_s: float, name: str) -> FakeTicker:
        """A stand-in for meters.base.Ticker(tick, interval_s, name), on this clock."""
        k = FakeTicker(self, tick, interval_s, name)
        self.tickers.append(k)
        return k

    def install_meters(self, monkeypatch: pytest.MonkeyPatch, *modules: Any) -> FakeTime:
        """The polling meters on this clock: their windows' edges and every poll's time stamp
        (meters.base and each module given, e.g. meters.nvml, read it) and their pollers'
        ticks (every Ticker made from now on is a FakeTicker)."""
        from benchhash.meters import base
        monkeypatch.setattr(base, "Ticker", self.ticker)
        for m in (base, *modules):
            monkeypatch.setattr(m, "time", self)
        return self
