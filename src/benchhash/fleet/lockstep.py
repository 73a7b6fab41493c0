"""The ranks of a fleet in lockstep over a torch.distributed process group (gloo: it runs on
CPUs too).

- A meeting is one all-reduce of a fixed 80 bytes, whatever the number of ranks (recursive
  doubling: log2 N exchanges of a rank with one peer at a time): the maximum of
  each rank's place in the plan and of its negation (so the minimum too), of a hash of the
  phase's label and kind, of the instant it arrived, and the AND of its flags. The ranks agree
  when the maxima equal the minima; only when they do not (a rank failed a phase: rare) do they
  exchange their places one by one, to name the ranks ahead.
- A rank that died or hangs: the collective fails (a closed connection, or the group's timeout);
  each rank that got there says so in the process group's store, and the ranks that did not
  within the timeout are named.
- Warm-up goes on while every rank has time left and not every rank has settled.
- Every window opens at one instant of rank 0's clock: the latest arrival at the meeting (each
  rank knows its clock's offset from rank 0's) plus a lead long enough for the meeting to reach
  every rank, so every rank computes the same instant and no broadcast is needed. Offsets are
  measured once per node (the ranks of one host share its clock), each node's first rank timing
  round trips to rank 0 (the best of a few, as NTP estimates it, but needing no NTP), all nodes
  at once: rank 0 answers whichever asks."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections import deque
from datetime import timedelta
from typing import Any

from benchhash.errors import FleetBroken, FleetMovedOn
from benchhash.fleet.ranks import RankEnv
from benchhash.runner import Position, Sync

log = logging.getLogger(__name__)
#: least time from the last rank's arrival at a meeting to the window's opening
LEAD_S = 0.05
#: the most it grows to, when meetings take long to reach every rank
MAX_LEAD_S = 1.0
PROBES = 8
#: slots of a meeting: a place in the plan of up to SLOTS numbers, up to FLAGS flags
SLOTS, BITS, FLAGS = 4, 15, 4
ARRIVED = "benchhash/arrived"
#: message tags: the meetings' exchanges, the clock probes
REDUCE, PROBE = 1, 2


def _dist() -> Any:
    try:
        import torch.distributed as dist
    except ImportError as exc:
        raise FleetBroken(f"a fleet run needs torch.distributed ({exc})") from None
    if not dist.is_available():
        raise FleetBroken("this torch build has no torch.distributed")
    return dist


def encode(position: Position) -> int:
    """A place in the plan as one number that sorts as the tuples do, (1, 2) < (1, 2, 0) included:
    each part + 2 in 15 bits (0: no part)."""
    if len(position) > SLOTS or any(not -1 <= p < (1 << BITS) - 2 for p in position):
        raise ValueError(f"a fleet position of at most {SLOTS} numbers from -1 to {(1 << BITS) - 3}: {position}")
    out = 0
    for i in range(SLOTS):
        out = (out << BITS) | (position[i] + 2 if i < len(position) else 0)
    return out


def decode(code: int) -> Position:
    parts = [(code >> (BITS * (SLOTS - 1 - i))) & ((1 << BITS) - 1) for i in range(SLOTS)]
    return tuple(p - 2 for p in parts if p)


def signature(kind: str, label: str) -> int:
    """48 bits of the meeting's kind and label: equal on every rank that runs the same plan."""
    return int.from_bytes(hashlib.blake2b(f"{kind}\0{label}".encode(), digest_size=6).digest(), "big")


def _doubling(dist: Any, t: Any, combine: Any, rank: int, n: int) -> Any:
    """All-reduce by recursive doubling over point-to-point messages (tag REDUCE): the ranks
    past the largest power of two below N first hand their values to a partner and get the
    result back at the end."""
    p = 1 << (n.bit_length() - 1)
    extra, other = n - p, t.clone()
    if rank >= p:
        dist.send(t, rank - p, tag=REDUCE)
        dist.recv(t, rank - p, tag=REDUCE)
        return t
    if rank < extra:
        dist.recv(other, rank + p, tag=REDUCE)
        t = combine(t, other)
    mask = 1
    while mask < p:
        peer = rank ^ mask
        sent = dist.isend(t, peer, tag=REDUCE)
        dist.recv(other, peer, tag=REDUCE)
        sent.wait()
        t = combine(t, other)
        mask <<= 1
    if rank < extra:
        dist.send(t, rank + p, tag=REDUCE)
    return t


def _failed(exc: BaseException, label: str) -> FleetBroken:
    text = " ".join(str(exc).split())
    return FleetBroken(f"fleet: the process group broke at {label!r}: {text[:200]}")


class Group:
    """This rank's membership of the fleet's process group."""

    def __init__(self, env: RankEnv, timeout_s: float) -> None:
        self.env, self.timeout_s = env, timeout_s
        self.dist = dist = _dist()
        os.environ.setdefault("TORCH_GLOO_LAZY_INIT", "1")      # a rank connects to the peers it talks to
        try:
            dist.init_process_group("gloo", init_method="env://", rank=env.rank,
                                    world_size=env.world_size, timeout=timedelta(seconds=timeout_s))
        except Exception as exc:  # noqa: BLE001 - rendezvous failures come in many types
            raise _failed(exc, "start") from None
        self.broken: str | None = None
        self.offset_s, self.rtt_s = self._clock_offset()

    @property
    def rank(self) -> int:
        return self.env.rank

    def _call(self, label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.broken is not None:
            raise FleetBroken(self.broken)
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a dead or late peer
            err = self._named(exc, label, started)
            self.broken = str(err)
            raise err from None

    def _store(self) -> Any:
        try:
            return self.dist.distributed_c10d._get_default_store()
        except Exception:  # noqa: BLE001 - a torch without it: the failure is not named
            return None

    def _named(self, exc: BaseException, label: str, started: float) -> FleetBroken:
        """The ranks that did not reach this step within the timeout, named from the store:
        every rank whose collective failed here says it arrived, and waits (until the timeout
        from when it arrived, and a moment more) for the others to say so."""
        store = self._store()
        missing: list[int] = []
        try:
            if store is None:
                raise RuntimeError("no store")
            store.set(f"{ARRIVED}/{self.rank}", label)
            arrived = int(store.add(ARRIVED, 1))
            deadline = max(started + self.timeout_s, time.monotonic() + min(2.0, self.timeout_s))
            while arrived < self.env.world_size and time.monotonic() < deadline:
                time.sleep(0.05)
                arrived = int(store.add(ARRIVED, 0))
            if arrived < self.env.world_size:
                missing = [r for r in range(self.env.world_size) if not store.check([f"{ARRIVED}/{r}"])]
        except Exception:  # noqa: BLE001 - the store went with rank 0: the failure is not named
            missing = []
        if missing:
            return FleetBroken(f"fleet: rank(s) {', '.join(map(str, missing))} did not reach {label!r} within "
                               f"{self.timeout_s:g} s (dead or hung)")
        return _failed(exc, label)

    # --- clocks --------------------------------------------------------------------------------
    def _clock_offset(self) -> tuple[float, float]:
        """(this clock - rank 0's clock, the round trip it was measured within)."""
        return self._offsets_from_probes() if self.env.world_size > 1 else (0.0, 0.0)

    def _node_key(self) -> str:
        return f"benchhash/clock/{socket.gethostname()}/{self.env.node_rank}"

    def _offsets_from_probes(self) -> tuple[float, float]:
        """Each node's first rank (local rank 0) times round trips to rank 0, every node at once,
        rank 0 answering whichever asks; the node's other ranks take its offset from the store
        (one host, one clock)."""
        probing = self.env.local_rank == 0 and self.rank != 0
        (askers,) = self.reduce([int(probing)], "clock", op="sum")
        if self.rank == 0:
            self._answer(askers * PROBES)
            mine = (0.0, 0.0)
        else:
            mine = self._probe() if probing else (0.0, 0.0)
        store = self._store()
        if self.rank == 0 or self.env.local_rank == 0:
            if store is not None:
                store.set(self._node_key(), f"{mine[0]!r} {mine[1]!r}")
            return mine
        if store is None:
            raise FleetBroken("fleet: no store to share a node's clock offset through")
        offset, rtt = self._call("clock", store.get, self._node_key()).decode().split()
        return float(offset), float(rtt)

    def _answer(self, probes: int) -> None:
        import torch
        box = torch.zeros(1, dtype=torch.float64)
        for _ in range(probes):
            peer = self._call("clock", self.dist.recv, box, tag=PROBE)
            self._call("clock", self.dist.send, torch.tensor([time.monotonic()], dtype=torch.float64), peer,
                       tag=PROBE)

    def _probe(self) -> tuple[float, float]:
        import torch
        best_rtt, best_offset = float("inf"), 0.0
        reply = torch.zeros(1, dtype=torch.float64)
        for _ in range(PROBES):
            t0 = time.monotonic()
            self._call("clock", self.dist.send, torch.zeros(1, dtype=torch.float64), 0, tag=PROBE)
            self._call("clock", self.dist.recv, reply, 0, tag=PROBE)
            t1 = time.monotonic()
            if t1 - t0 < best_rtt:
                best_rtt, best_offset = t1 - t0, (t0 + t1) / 2 - float(reply[0])
        return best_offset, best_rtt

    # --- collectives ---------------------------------------------------------------------------
    def reduce(self, values: list[int], label: str, op: str = "max") -> list[int]:
        """The element-wise maximum (or sum) over the ranks of a few whole numbers, every rank
        getting it: recursive doubling (log2 N exchanges, where gloo's all_reduce is a ring of
        2(N - 1) steps)."""
        import torch
        t = torch.tensor(values, dtype=torch.int64)
        combine = torch.maximum if op == "max" else torch.add
        return [int(x) for x in self._call(label, _doubling, self.dist, t, combine, self.rank,
                                           self.env.world_size).tolist()]

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
    """runner.Sync for a fleet. A meeting is one fixed-size all_reduce (a dead or hung rank is
    named); where the ranks are:
    - all at the same point: go on, with the AND of every rank's flags;
    - a rank at a later phase (it failed this one, or could not set its workload up): the ranks
      behind leave their phase (FleetMovedOn, recorded as a failure with what they measured)
      and meet again at their next phase's start, until all are at the same point;
    - the same point with different labels: the ranks run different plans, and the fleet stops.
    Every window then opens at one instant of rank 0's clock, the same on every rank."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.at: float | None = None            # the instant the next window opens (rank 0's clock)
        #: how long the last few meetings took to reach this rank from the last arrival: the
        #: fleet's longest sets the lead of the next opening
        self.latencies: deque[int] = deque([0], maxlen=8)

    def _meeting(self, kind: str, label: str, position: Position, flags: tuple[bool, ...]) -> list[int]:
        if len(flags) > FLAGS:
            raise ValueError(f"at most {FLAGS} flags a meeting")
        pos, sig = encode(position), signature(kind, label)
        arrived = round(self.group.now() * 1e9)
        out = self.group.reduce([pos, -pos, sig, -sig, arrived, max(self.latencies),
                                 *(-int(f) for f in flags), *([-1] * (FLAGS - len(flags)))], label)
        self.latencies.append(max(0, round(self.group.now() * 1e9) - out[4]))
        return out

    def meet(self, kind: str, label: str, position: Position,
             flags: tuple[bool, ...] = ()) -> list[tuple[bool, ...]]:
        while True:
            out = self._meeting(kind, label, position, flags)
            if out[0] == -out[1] and out[2] == -out[3]:
                lead = min(MAX_LEAD_S, max(LEAD_S, 2e-9 * out[5]))
                self.at = out[4] / 1e9 + lead
                return [tuple(v == -1 for v in out[6:6 + len(flags)])]
            self._disagree(kind, label, position, decode(out[0]))

    def _disagree(self, kind: str, label: str, position: Position, ahead: Position) -> None:
        """The ranks are not at one point: each says where it is (rare: a phase failed)."""
        seen = self.group.all_gather((tuple(position), kind, label), label)
        if tuple(position) < ahead:
            names = ", ".join(str(r) for r, s in enumerate(seen) if tuple(s[0]) == ahead)
            raise FleetMovedOn(f"rank(s) {names} could not run this phase (see their files); "
                               "every rank left it to stay in step")
        labels = {s[2] for s in seen if tuple(s[0]) == ahead}
        if len(labels) > 1 or any(s[1] != "boundary" for s in seen if tuple(s[0]) == ahead):
            raise FleetBroken(f"fleet: the ranks run different plans ({sorted(labels)[:3]} at one point)")
        # this rank is at the point the fleet moves to: it meets again while the others catch up

    def open(self) -> None:
        if self.at is None:
            raise RuntimeError("a window opens after a meeting")
        at, self.at = self.at, None
        _sleep_until(self.group.now, at)

    def clock(self) -> float | None:
        return self.group.now()


def _sleep_until(now: Any, at: float) -> None:
    """Sleep most of the way, then spin the last 2 ms: a sleep alone oversleeps by up to a
    scheduler tick, which would skew the opening by as much. The spin yields the core each turn
    (a microsecond when nothing else waits), so that ranks sharing cores do not starve each
    other of the instant."""
    while (left := at - now()) > 0.002:
        time.sleep(left - 0.002)
    while now() < at:
        _yield()


def _yield() -> None:
    if hasattr(os, "sched_yield"):
        os.sched_yield()
