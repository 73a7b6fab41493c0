"""The fleet's lockstep protocol (fleet/lockstep.py) on ranks that are threads, with a group of
threading barriers in place of torch.distributed: every rank stays at the same point of the
plan when one fails a phase or cannot set a workload up, warm-up ends together, windows open at
the instant rank 0 chose, and different plans stop the fleet. Each rank has a fake clock of its
own (what the threads' scheduling does to real time does not enter)."""

from __future__ import annotations

import threading
import types
from typing import Any, cast

import pytest

from benchhash.errors import FleetBroken
from benchhash.fleet import lockstep
from benchhash.fleet.lockstep import Group, Lockstep
from benchhash.meters import NullMeter
from benchhash.results.model import Config
from benchhash.runner import Runner, RunRecord
from test_runner import CPU, FakeClock, Recorder, Scripted, Toy

#: what one reading of a rank's clock takes (so that a spin on it, as in _sleep_until, ends)
TICK = 2.0 ** -12
_this_rank = threading.local()


@pytest.fixture(autouse=True)
def _sleep_on_the_ranks_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """lockstep's time.sleep (in _sleep_until) moves the calling rank's fake clock."""
    monkeypatch.setattr(lockstep, "time", types.SimpleNamespace(sleep=lambda s: _this_rank.group.sleep(s)))


class ThreadGroup:
    """What Lockstep needs of fleet.lockstep.Group, for ranks that are threads. Its clock (on
    rank 0's time, as Group.now is once it measured its offset) is the rank's fake clock: it
    moves as the rank's work takes time, TICK a reading, and as long as a sleep; so a rank that
    measured more is ahead, and the others wait for the instant rank 0 chose."""

    def __init__(self, shared: dict[str, Any], rank: int, clock: FakeClock) -> None:
        self.shared, self.rank, self.clock = shared, rank, clock

    def _wait(self) -> None:
        try:
            self.shared["barrier"].wait(timeout=10)
        except threading.BrokenBarrierError:
            raise FleetBroken("a rank left") from None

    def reduce(self, values: list[int], label: str, op: str = "max") -> list[int]:
        out = self.all_gather(values, label)
        return [max(col) if op == "max" else sum(col) for col in zip(*out, strict=True)]

    def all_gather(self, obj: Any, label: str) -> list[Any]:
        self.shared["slots"][self.rank] = obj
        self._wait()
        out = list(self.shared["slots"])
        self._wait()
        return out

    def now(self) -> float:
        self.clock.take(TICK)
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.clock.take(seconds)


class Fails(Scripted):
    def __init__(self, at_trial: int, **kw: Any) -> None:
        super().__init__([100.0], **kw)
        self.at = at_trial

    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Any:
        if trial == self.at:
            raise RuntimeError("this GPU ran out of memory")
        return super().run(seconds, stop, trial)


class NoSetup(Toy):
    name = "nosetup"

    def setup(self) -> None:
        raise RuntimeError("no such device")


def fleet(plans: list[Any], cfg: Config) -> list[RunRecord]:
    """Run plans[r](clock) -> workloads on rank r, all in lockstep; each rank's record."""
    n = len(plans)
    shared: dict[str, Any] = {"barrier": threading.Barrier(n), "slots": [None] * n}
    out: list[Any] = [None] * n

    def rank(r: int) -> None:
        clock = FakeClock()
        _this_rank.group = group = ThreadGroup(shared, r, clock)
        runner = Runner(NullMeter("test"), cfg, Recorder(), clock, sync=Lockstep(cast(Group, group)))
        out[r] = runner.run(plans[r](clock))

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a rank hung"
    return out


CFG = Config(duration_s=1.0, trials=4, warmup_s=0.0, idle_s=0.0)


def test_a_failed_phase_on_one_rank_is_left_by_every_rank_and_the_fleet_goes_on() -> None:
    def good(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([100.0], clock, name="a"), Scripted([200.0], clock, name="b")])]

    def bad(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Fails(2, clock=clock, name="a"), Scripted([200.0], clock, name="b")])]

    r0, r1 = fleet([good, bad], CFG)
    for rec, kept in ((r0, [0, 1, 2]), (r1, [0, 1])):   # rank 0 finished the window rank 1 failed in
        assert rec.complete and rec.error is None
        a, b = rec.phases
        assert [t.index for t in a.trials] == kept and not a.complete
        assert [t.index for t in b.trials] == [0, 1, 2, 3] and b.complete
    assert [(f.phase, f.stage, f.error) for f in r1.failures] == [("a", "trial", "RuntimeError")]
    assert [(f.phase, f.stage, f.error) for f in r0.failures] == [("a", "trial", "FleetMovedOn")]
    assert "rank(s) 1 could not run this phase" in r0.failures[0].message
    opened = [[t.started_fleet_s for t in rec.phases[1].trials] for rec in (r0, r1)]
    assert opened[0] == pytest.approx(opened[1], rel=0, abs=1e-9)   # windows opened together: rank 0's instant
    assert opened[0] == sorted({s for s in opened[0] if s is not None})  # one instant per window


def test_a_workload_one_rank_cannot_set_up_is_skipped_by_all() -> None:
    def good(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([1.0], clock, name="x"), Scripted([1.0], clock, name="y")]),
                Toy(CPU, [Scripted([5.0], clock, name="z")])]

    def bad(clock: FakeClock) -> list[Toy]:
        return [NoSetup(CPU, []), Toy(CPU, [Scripted([5.0], clock, name="z")])]

    r0, r1 = fleet([good, bad], CFG)
    assert [p.phase for p in r0.phases] == [p.phase for p in r1.phases] == ["z"]
    assert [(f.phase, f.stage) for f in r0.failures] == [("x", "fleet"), ("y", "fleet")]
    assert [(f.workload, f.stage) for f in r1.failures] == [("nosetup", "setup")]


def test_warm_up_ends_when_every_rank_settled() -> None:
    cfg = Config(duration_s=1.0, trials=1, warmup_s=20.0, idle_s=0.0)

    def steady(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([100.0], clock)])]

    def slow(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([10.0, 40.0, 70.0, 100.0, 100.0], clock)])]

    r0, r1 = fleet([steady, slow], cfg)
    w0, w1 = (r.phases[0].warmup for r in (r0, r1))
    assert w0 is not None and w1 is not None
    assert len(w0.windows) == len(w1.windows) == 5              # the steady rank waited for the slow one
    assert w0.settled and w1.settled


def test_different_plans_stop_the_fleet() -> None:
    def one(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([1.0], clock, name="p")])]

    def other(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([1.0], clock, name="q")])]

    for rec in fleet([one, other], CFG):
        assert isinstance(rec.error, FleetBroken) and "different plans" in str(rec.error)
        assert not rec.complete


@pytest.mark.parametrize("n", [3])
def test_three_ranks_one_failing_late_all_reach_the_end(n: int) -> None:
    def good(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Scripted([3.0], clock, name="only")])]

    def bad(clock: FakeClock) -> list[Toy]:
        return [Toy(CPU, [Fails(3, clock=clock, name="only")])]

    recs = fleet([good, bad, good], CFG)
    assert all(r.complete for r in recs)
    assert [len(r.phases[0].trials) for r in recs] == [4, 3, 4]

