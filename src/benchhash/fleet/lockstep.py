"""The ranks of a fleet in lockstep over a torch.distributed process group (gloo: it runs on
CPUs too, and gives barriers that name the ranks that did not arrive).

- At every phase the ranks meet at a monitored barrier and check that they run the same plan; a
  rank that died or hangs is named within the timeout.
- Warm-up goes on while every rank has time left and not every rank has settled.
- Every window opens at one instant chosen by rank 0 on its own clock: each rank knows its
  clock's offset from rank 0's (the best of a few round trips over the group, as NTP estimates
  it, but needing no NTP), so windows line up to the round trip's uncertainty."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from benchhash.errors import FleetBroken, FleetMovedOn
from benchhash.fleet.ranks import RankEnv
from benchhash.runner import Position, Sync

#: how far ahead rank 0 sets a window's opening: enough for the broadcast to reach every rank
LEAD_S = 0.05
PROBES = 8


def _dist() -> Any:
    try:
        import torch.distributed as dist
    except ImportError as exc:
        raise FleetBroken(f"a fleet run needs torch.distributed ({exc})") from None
    if not dist.is_available():
        raise FleetBroken("this torch build has no torch.distributed")
    return dist


def _named(exc: BaseException, label: str, timeout_s: float) -> FleetBroken:
    """A torch.distributed error as a FleetBroken naming the ranks it names."""
    text = " ".join(str(exc).split())
    m = re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier", text)
    if m:
        return FleetBroken(f"fleet: rank(s) {m.group(1).strip()} did not reach {label!r} within "
                           f"{timeout_s:g} s (dead or hung)")
    return FleetBroken(f"fleet: the process group broke at {label!r}: {text[:200]}")


class Group:
    """This rank's membership of the fleet's process group."""

    def __init__(self, env: RankEnv, timeout_s: float) -> None:
        self.env, self.timeout_s = env, timeout_s
        self.dist = dist = _dist()
        try:
            dist.init_process_group("gloo", init_method="env://", rank=env.rank,
                                    world_size=env.world_size, timeout=timedelta(seconds=timeout_s))
        except Exception as exc:  # noqa: BLE001 - rendezvous failures come in many types
            raise _named(exc, "start", timeout_s) from None
        self.broken: str | None = None
        self.offset_s, self.rtt_s = self._clock_offset()

    @property
    def rank(self) -> int:
        return self.env.rank

    def _call(self, label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.broken is not None:
            raise FleetBroken(self.broken)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a dead or late peer
            err = _named(exc, label, self.timeout_s)
            self.broken = str(err)
            raise err from None

    def _clock_offset(self) -> tuple[float, float]:
        """(this clock - rank 0's clock, the round trip it was measured within)."""
        return self._offsets_from_probes() if self.env.world_size > 1 else (0.0, 0.0)

    def _offsets_from_probes(self) -> tuple[float, float]:
        """Rank 0 times round trips to each peer; each peer learns its offset (best probe)."""
        import torch
        dist = self.dist
        mine = torch.zeros(2, dtype=torch.float64)
        for peer in range(1, self.env.world_size):
            best_rtt, best_offset = float("inf"), 0.0
            for _ in range(PROBES):
                if self.rank == 0:
                    t0 = time.monotonic()
                    self._call("clock", dist.send, torch.zeros(1, dtype=torch.float64), peer)
                    reply = torch.zeros(1, dtype=torch.float64)
                    self._call("clock", dist.recv, reply, peer)
                    t1 = time.monotonic()
                    if t1 - t0 < best_rtt:
                        best_rtt, best_offset = t1 - t0, float(reply[0]) - (t0 + t1) / 2
                elif self.rank == peer:
                    self._call("clock", dist.recv, torch.zeros(1, dtype=torch.float64), 0)
                    self._call("clock", dist.send, torch.tensor([time.monotonic()], dtype=torch.float64), 0)
            if self.rank == 0:
                self._call("clock", dist.send, torch.tensor([best_offset, best_rtt], dtype=torch.float64), peer)
            elif self.rank == peer:
                self._call("clock", dist.recv, mine, 0)
        return (float(mine[0]), float(mine[1])) if self.rank else (0.0, 0.0)

    def barrier(self, label: str) -> None:
        """Every rank here, or the ones that are not named (rank 0 names them)."""
        self._call(label, self.dist.monitored_barrier, timeout=timedelta(seconds=self.timeout_s),
                   wait_all_ranks=True)

    def all_gather(self, obj: Any, label: str) -> list[Any]:
        out: list[Any] = [None] * self.env.world_size
        self._call(label, self.dist.all_gather_object, out, obj)
        return out

    def broadcast(self, obj: Any, label: str) -> Any:
        box = [obj]
        self._call(label, self.dist.broadcast_object_list, box, 0)
        return box[0]

    def gather_to_0(self, obj: Any, label: str) -> list[Any] | None:
        out: list[Any] | None = [None] * self.env.world_size if self.rank == 0 else None
        self._call(label, self.dist.gather_object, obj, out, 0)
        return out

    def now(self) -> float:
        """This instant on rank 0's clock."""
        return time.monotonic() - self.offset_s

    def close(self) -> None:
        try:
            if self.dist.is_initialized():
                self.dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - leaving a broken group is best effort
            pass


class Lockstep(Sync):
    """runner.Sync for a fleet. A meeting is a monitored barrier (a dead or hung rank is named)
    and an exchange of where each rank is in the plan and its flags:
    - all at the same point: go on, each knowing every rank's flags;
    - a rank at a later phase (it failed this one, or could not set its workload up): the ranks
      behind leave their phase (FleetMovedOn, recorded as a failure with what they measured)
      and meet again at their next phase's start, until all are at the same point;
    - the same point with different labels: the ranks run different plans, and the fleet stops.
    Every window then opens at one instant of rank 0's clock."""

    def __init__(self, group: Group) -> None:
        self.group = group

    def meet(self, kind: str, label: str, position: Position,
             flags: tuple[bool, ...] = ()) -> list[tuple[bool, ...]]:
        while True:
            self.group.barrier(label)
            seen = self.group.all_gather((tuple(position), kind, label, flags), label)
            if all(s[:3] == seen[0][:3] for s in seen):
                return [tuple(s[3]) for s in seen]
            ahead = max(tuple(s[0]) for s in seen)
            if tuple(position) < ahead:
                names = ", ".join(str(r) for r, s in enumerate(seen) if tuple(s[0]) == ahead)
                raise FleetMovedOn(f"rank(s) {names} could not run this phase (see their files); "
                                   "every rank left it to stay in step")
            labels = {s[2] for s in seen if tuple(s[0]) == ahead}
            if len(labels) > 1 or any(s[1] != "boundary" for s in seen if tuple(s[0]) == ahead):
                raise FleetBroken(f"fleet: the ranks run different plans ({sorted(labels)[:3]} at one point)")
            # this rank is at the point the fleet moves to: wait for the others to catch up

    def open(self) -> None:
        at = self.group.broadcast(self.group.now() + LEAD_S if self.group.rank == 0 else None, "open")
        _sleep_until(self.group.now, float(at))

    def clock(self) -> float | None:
        return self.group.now()


def _sleep_until(now: Any, at: float) -> None:
    """Sleep most of the way, then spin the last 2 ms: a sleep alone oversleeps by up to a
    scheduler tick, which would skew the opening by as much."""
    while (left := at - now()) > 0.002:
        time.sleep(left - 0.002)
    while now() < at:
        pass
