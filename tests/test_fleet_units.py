"""The fleet's parts without launching anything: which rank a process is (torchrun, srun,
PyTorchJob environments), how the fleet adds energy (each GPU's own, each node's CPU once), a
rank counted once, plug-in workloads, and signals held while a file is written."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from benchhash.errors import InputError, Interrupted, hold_signals
from benchhash.fleet.ranks import RankEnv, from_env
from benchhash.results import io
from benchhash.results.fleet_build import Member, fleet_from
from benchhash.results.model import Device, FleetRank, Result
from benchhash.units import duration

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"     # energy in every trial
NULL = ROOT / "tests" / "data" / "golden" / "cpu-null.json"         # none
RUN_ID = "ab" * 16


def test_torchrun_environment() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1"}
    assert from_env(env) == RankEnv(3, 8, 1, 2, 1, "torchrun")
    assert from_env({}) is None


def test_srun_step_environment_and_the_batch_script_outside_it() -> None:
    step = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODEID": "2",
            "SLURM_STEP_TASKS_PER_NODE": "4(x2)", "MASTER_ADDR": "n1", "MASTER_PORT": "29500"}
    assert from_env(step) == RankEnv(5, 8, 1, 4, 2, "slurm")
    batch = {"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_NODEID": "0"}     # sbatch --ntasks=8, no srun
    assert from_env(batch) is None
    with pytest.raises(InputError, match="set MASTER_ADDR"):
        from_env({k: v for k, v in step.items() if k != "MASTER_ADDR"})


@pytest.mark.parametrize(("env", "says"), [
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a whole number"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "rank 2 of 2"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"}, "is not a rank"),
])
def test_a_broken_launcher_environment_is_one_line(env: dict[str, str], says: str) -> None:
    with pytest.raises(InputError, match=says):
        from_env(env)


def _rank(path: Path, rank: int, host: str = "node-a", gpu: bool = False, world: int = 2,
          energy: bool = True) -> Member:
    """A golden result dressed as one rank of a fleet (same trials, its own rank)."""
    result, raw = io.load(path if energy else NULL)
    device = Device(kind="cuda", index=rank, name="GPU", pci_bus_id=f"0000:0{rank}:00.0") if gpu else result.device
    fleet = FleetRank(run_id=RUN_ID, rank=rank, world_size=world, local_rank=rank, node_rank=0,
                      launcher="torchrun", clock_offset_s=0.0, clock_rtt_s=0.0, node_meter=rank == 0)
    env = result.environment.model_copy(update={"host": host})
    r = result.model_copy(update={"fleet": fleet, "device": device, "environment": env})
    return Member(f"rank-{rank}.json", Result.model_validate(r.model_dump()), raw["integrity"]["digest"])


def test_gpu_ranks_add_their_own_energy() -> None:
    f = fleet_from([_rank(REPLAY, 0, gpu=True), _rank(REPLAY, 1, gpu=True)])
    (p,) = f.phases
    one = io.load(REPLAY)[0].workloads[0].trials
    assert [t.average_w for t in p.trials] == pytest.approx([2 * (t.energy.average_w or 0) for t in one])
    assert p.rate_method == "median of per-trial sums" and f.lockstep and f.complete


def test_a_gpu_rank_without_energy_leaves_the_fleet_without_watts() -> None:
    f = fleet_from([_rank(REPLAY, 0, gpu=True), _rank(REPLAY, 1, gpu=True, energy=False)])
    both = [t for t in f.phases[0].trials if t.ranks == 2]
    assert both and all(t.average_w is None and t.energy_ranks == 1 for t in both)
    assert f.phases[0].average_w is None and f.phases[0].work_per_joule is None


def test_a_nodes_cpu_energy_counts_once_read_by_one_rank() -> None:
    # two CPU ranks on one node: local rank 0 read the package, rank 1 did not (and must not)
    f = fleet_from([_rank(REPLAY, 0), _rank(REPLAY, 1, energy=False)])
    one = io.load(REPLAY)[0].workloads[0].trials
    assert [t.average_w for t in f.phases[0].trials] == pytest.approx([t.energy.average_w for t in one])
    # a second node that read nothing: the fleet's watts are unknown, not undercounted
    f = fleet_from([_rank(REPLAY, 0, world=3), _rank(REPLAY, 1, world=3, energy=False),
                    _rank(REPLAY, 2, host="node-b", world=3, energy=False)])
    assert f.phases[0].average_w is None


def test_missing_ranks_and_a_rank_twice() -> None:
    f = fleet_from([_rank(REPLAY, 2, world=4), _rank(REPLAY, 0, world=4)])
    assert f.missing == [1, 3] and not f.complete and [r.rank for r in f.ranks] == [0, 2]
    assert any("rank(s) 1, 3 left no file" in n for n in f.notes)
    with pytest.raises(InputError, match="rank 1 of one fleet run"):
        fleet_from([_rank(REPLAY, 1), _rank(NULL, 1)])


def test_plugin_workloads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchhash.workloads import known, parse_names
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "plugins"))
    monkeypatch.setenv("BENCHHASH_WORKLOADS", "faulty=faulty_workload:FaultyWorkload")
    assert parse_names("sha256d,faulty") == ["sha256d", "faulty"]
    assert known("faulty") is not None
    for bad, says in (("faulty", "is not name=module:Class"), ("x=no_such_module:X", "cannot load"),
                      ("x=os:getcwd", "is not a benchhash Workload"), ("sha256d=os:path", None)):
        monkeypatch.setenv("BENCHHASH_WORKLOADS", bad)
        if says is None:                 # a built-in name cannot be taken over
            assert known("sha256d").__name__ == "Sha256dWorkload"  # type: ignore[union-attr]
            continue
        with pytest.raises(InputError, match=says):
            known(bad.split("=")[0]) if "=" in bad else parse_names("sha256d")


def test_signals_are_held_while_a_file_is_written() -> None:
    with hold_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)
        written = True                      # the block goes on to its end
    assert written and isinstance(held.error, Interrupted) and held.error.code == 143
    with hold_signals() as held:
        pass
    assert held.error is None


@pytest.mark.parametrize(("seconds", "text"), [(None, "-"), (4.2e-5, "42 µs"), (0.0031, "3.1 ms"),
                                               (1.25, "1.25 s")])
def test_durations_as_a_person_reads_them(seconds: Any, text: str) -> None:
    assert duration(seconds) == text


def _three_phases(m: Member) -> Member:
    """A rank's result with three phases of three trials each (a typical run), opened together."""
    w = m.result.workloads[0]
    trials = [*w.trials, w.trials[0].model_copy(update={"index": 2})]
    trials = [t.model_copy(update={"started_fleet_s": 1234.5678901 + 1.0123 * t.index}) for t in trials]
    phases = [w.model_copy(update={"trials": trials, "params": {**w.params, "phase": i}}) for i in range(3)]
    phases = [p.model_copy(update={"phase": f"scan{i}"}) for i, p in enumerate(phases)]
    return Member(m.file, m.result.model_copy(update={"workloads": phases}), m.digest)


def test_a_rank_sends_rank_0_a_summary_of_under_a_kilobyte_and_the_fleet_is_the_same() -> None:
    """What a rank sends rank 0 (its summary, naming by number the phases rank 0 has) is under
    1 KB for three phases of three trials, comes back exactly, and builds the fleet the full
    results build."""
    from benchhash.results.fleet import RankSummary
    from benchhash.results.fleet_build import fleet_of
    members = [_three_phases(_rank(REPLAY, r, gpu=True)) for r in (0, 1)]
    known = [w.key for w in members[0].result.workloads]
    sent = [m.summary().wire(known if m.rank else ()) for m in members]
    assert len(sent[1]) < 1024, len(sent[1])
    back = [RankSummary.from_wire(b, known) for b in sent]
    assert back[0] == members[0].summary()
    assert back[1].phases[0].params is None and back[1].phases[0].trials == members[1].summary().phases[0].trials
    when = "2026-12-04T00:00:00Z"
    assert fleet_of(back, when) == fleet_from(members, when)
    assert [p.params["phase"] for p in fleet_of(back, when).phases] == [0, 1, 2]


def test_the_fleet_takes_the_parameters_of_the_first_rank_that_has_the_phase() -> None:
    from benchhash.results.fleet import RankSummary
    from benchhash.results.fleet_build import fleet_of
    first, second = _rank(REPLAY, 0, gpu=True), _rank(REPLAY, 1, gpu=True)
    no_phase = first.result.model_copy(update={"workloads": []})
    known: list[Any] = []                   # rank 0 has no phase: rank 1 sends its own parameters
    sent = [Member(first.file, no_phase, first.digest).summary(), second.summary()]
    sent = [RankSummary.from_wire(s.wire(known), known) for s in sent]
    assert fleet_of(sent).phases[0].params == second.result.workloads[0].params
    assert fleet_of(sent).phases[0].ranks == [1]


def test_a_place_in_the_plan_is_one_number_that_sorts_as_the_places_do() -> None:
    from benchhash.fleet.lockstep import decode, encode
    places = [(-1, 0), (0, 0), (0, 0, 0), (0, 0, 1), (0, 1), (1, 0), (2, 3, 4), (5, 0)]
    assert sorted(places, key=encode) == sorted(places)
    assert [decode(encode(p)) for p in places] == places
    with pytest.raises(ValueError, match="fleet position"):
        encode((1, 2, 3, 4, 5))


def _reducing_rank(rank: int, n: int, port: int, out: Any) -> None:
    import os

    from benchhash.fleet.lockstep import Group
    from benchhash.fleet.ranks import RankEnv
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    group = Group(RankEnv(rank, n, rank % 2, 2, rank // 2, "test"), timeout_s=60)
    try:
        out.put((rank, group.reduce([rank, -rank], "max"), group.reduce([rank, 1], "sum", op="sum"),
                 group.offset_s, group.rtt_s))
    finally:
        group.close()


def test_the_meeting_reduce_over_real_processes_not_a_power_of_two() -> None:
    """Recursive doubling with 5 ranks (two nodes of two and one of one, on loopback): every
    rank gets the maximum and the sum; a node's second rank takes its first rank's clock."""
    import multiprocessing as mp
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    n = 5
    procs = [ctx.Process(target=_reducing_rank, args=(r, n, port, out)) for r in range(n)]
    for p in procs:
        p.start()
    got = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    assert [g[1] for g in got] == [[n - 1, 0]] * n
    assert [g[2] for g in got] == [[n * (n - 1) // 2, n]] * n
    assert got[0][3:] == got[1][3:] == (0.0, 0.0)           # rank 1 shares rank 0's node
    assert got[2][3:] == got[3][3:] and got[2][4] > 0        # rank 3 took rank 2's probe


class _CountingDist:
    """torch.distributed as _doubling sees it, for one rank alone: every receive gets zeros, and
    each exchange is counted (what a meeting costs in sequential steps, not in seconds)."""

    class _Sent:
        def wait(self) -> None:
            return None

    def __init__(self) -> None:
        self.steps = 0

    def send(self, t: Any, peer: int, tag: int = 0) -> None:
        self.steps += 1

    def isend(self, t: Any, peer: int, tag: int = 0) -> _CountingDist._Sent:
        return self._Sent()

    def recv(self, t: Any, peer: int, tag: int = 0) -> None:
        self.steps += 1
        t.zero_()


@pytest.mark.parametrize("n", [2, 4, 5, 64, 100, 1000, 10_000])
def test_a_meeting_takes_steps_growing_as_log_n(n: int) -> None:
    """The meeting's all-reduce by recursive doubling: no rank takes more than log2(N) + 2
    sequential exchanges (the ring of gloo's all_reduce took 2(N - 1)); checked for a sample of
    ranks, each run alone against a counting fake."""
    import math

    import torch

    from benchhash.fleet.lockstep import _doubling
    most = 0
    for rank in sorted({0, 1, n // 2, n - 1, (1 << (n.bit_length() - 1)) - 1} & set(range(n))):
        d = _CountingDist()
        _doubling(d, torch.zeros(10, dtype=torch.int64), torch.maximum, rank, n)
        most = max(most, d.steps)
    assert most <= math.floor(math.log2(n)) + 2
    assert most >= math.floor(math.log2(n))          # every rank hears from log2 N partners at least
