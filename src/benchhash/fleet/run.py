"""One rank of a fleet run: join the group, take this rank's device (cuda:LOCAL_RANK, the GPU
found again by its PCI bus id; two ranks on one GPU refused), measure the shared plan in
lockstep, write DIR/rank-<R>.json (sealed, before any collective step), then rank 0 gathers
each rank's summary (its file's name and digest, host, device and per-trial sums: a few hundred
bytes, not the megabyte of its file) into DIR/fleet.json. A rank that fails still joins the
gather; when the group broke (a rank died or hung), rank 0 builds the fleet file from the rank
files it finds. Either way the rank files are the record, and verify rebuilds the fleet file
from them with the same summary."""

from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path
from typing import Any

from benchhash.errors import BenchhashError, FleetBroken, InputError, hold_signals
from benchhash.fleet.lockstep import Group, Lockstep
from benchhash.fleet.ranks import RankEnv
from benchhash.fsutil import write_atomic
from benchhash.hw.cuda import gpu_count
from benchhash.hw.device import parse, resolve
from benchhash.meters import EnergyMeter, NullMeter, make_meter
from benchhash.results import io
from benchhash.results.fleet import RankSummary
from benchhash.results.fleet_build import fleet_of, member, seal, summarize
from benchhash.results.model import Device, FleetRank
from benchhash.results.paths import slug
from benchhash.runner import Listener
from benchhash.session import Checkpoint, Outcome, Plan, Request, run
from benchhash.units import utc_now
from benchhash.workloads.base import RunContext

log = logging.getLogger(__name__)
FLEET_FILE = "fleet.json"


def _device(req: Request, env: RankEnv) -> Device:
    kind, _ = parse(req.device)
    if kind == "cpu":
        return resolve("cpu")
    if req.device.strip().lower().startswith("cuda:"):
        raise InputError(f"in a fleet each rank takes cuda:LOCAL_RANK; give --device cuda or auto, not {req.device}")
    visible = gpu_count()
    if visible == 0:
        if kind == "cuda":
            raise InputError(f"rank {env.rank}: --device cuda, but this node has no GPU")
        return resolve("cpu")
    # one GPU visible per rank (srun --gpus-per-task=1) is cuda:0 whatever the local rank
    index = 0 if visible == 1 else env.local_rank
    if index >= visible:
        raise InputError(f"rank {env.rank}: local rank {env.local_rank} but only {visible} GPU(s) visible")
    return resolve(f"cuda:{index}")


def _check_unique(group: Group, device: Device) -> None:
    """Two ranks measuring one GPU would each see the other's power: refused."""
    mine = (socket.gethostname(), device.pci_bus_id) if device.kind == "cuda" else None
    seen: dict[Any, int] = {}
    for rank, key in enumerate(group.all_gather(mine, "devices")):
        if key is not None and key in seen:
            raise InputError(f"ranks {seen[key]} and {rank} would measure the same GPU {key[1]} on {key[0]}; "
                             "one rank per GPU")
        if key is not None:
            seen[key] = rank


def _meter(req: Request, device: Device, env: RankEnv) -> EnergyMeter:
    """A GPU's own meter; on CPUs the node's energy is read once, by local rank 0."""
    if device.kind == "cpu" and env.local_rank != 0 and not req.meter.startswith("replay:"):
        return NullMeter("the node's CPU energy is read once, by local rank 0")
    return make_meter(req.meter, device)


def _folder(req: Request, shared: dict[str, str]) -> Path:
    if req.out is not None and Path(req.out).suffix.lower() == ".json" and not Path(req.out).is_dir():
        raise InputError("a fleet writes a folder (rank-<R>.json and fleet.json): give --out DIR")
    if req.out is not None:
        return Path(req.out).expanduser()
    return Path("results") / f"fleet-{slug(shared['host'])}-{shared['created'].replace('-', '').replace(':', '')}"


def plan(req: Request, env: RankEnv, group: Group) -> Plan:
    device = _device(req, env)
    _check_unique(group, device)
    mine = {"run_id": secrets.token_hex(16), "created": utc_now(), "host": socket.gethostname()}
    shared = group.broadcast(mine if env.rank == 0 else None, "plan")
    folder = _folder(req, shared)
    ctx = RunContext(shared["run_id"], utc_now(), socket.gethostname(), device.name, device.pci_bus_id,
                     env.rank, env.local_rank)
    fleet = FleetRank(run_id=shared["run_id"], rank=env.rank, world_size=env.world_size,
                      local_rank=env.local_rank, node_rank=env.node_rank, launcher=env.launcher,
                      clock_offset_s=group.offset_s, clock_rtt_s=group.rtt_s,
                      node_meter=device.kind == "cpu" and env.local_rank == 0)
    return Plan(device, ctx, folder / f"rank-{env.rank}.json", named=True,
                meter=lambda: _meter(req, device, env), sync=Lockstep(group), fleet=fleet)


def _write_fleet(members: list[RankSummary], folder: Path) -> Path:
    path = folder / FLEET_FILE
    write_atomic(path, io.dumps(seal(fleet_of(members))))
    return path


def _from_folder(folder: Path, run_id: str) -> Path | None:
    """The fleet file from this run's final rank files in the folder (when the group broke). A
    rank that has only its checkpoint there may still be running and rewrite it: it counts as
    missing, so the fleet file never records a digest that is about to change."""
    members = []
    for f in sorted(folder.glob("rank-*.json")):
        try:
            m = member(f, f.name)
        except BenchhashError as exc:
            log.warning("%s: left out of the fleet file (%s)", f, exc)
            continue
        if m.result.fleet is None or m.result.fleet.run_id != run_id:
            continue
        if m.result.stopped == Checkpoint.STOPPED and m.result.fleet.rank != 0:
            log.warning("%s: rank %d left only a checkpoint so far (it may still be writing): counted as "
                        "missing; `benchhash merge` can take it later", f, m.result.fleet.rank)
            continue
        members.append(m.summary())
    return _write_fleet(members, folder) if members else None


def _gather(group: Group, outcome: Outcome, folder: Path, run_id: str) -> Path | None:
    """Rank 0's fleet file: from the gathered summaries, or from the rank files it can see.
    The fleet records each phase's label, units and parameters as the lowest rank with the
    phase holds them: rank 0 says which phases it has, and the others name those by number."""
    digest = io.digest_of(io.seal(outcome.result))
    keys = [w.key for w in outcome.result.workloads]
    try:
        first = group.broadcast(keys if group.rank == 0 else None, "gather")
        mine = summarize(outcome.path.name, outcome.result, digest)
        gathered = group.gather_to_0(mine.wire(first if group.rank else ()), "gather")
    except FleetBroken as exc:
        if group.rank != 0:
            return None
        log.warning("%s; the fleet file is built from the rank files in %s", exc, folder)
        return _from_folder(folder, run_id)
    if gathered is None:
        return None
    return _write_fleet([RankSummary.from_wire(b, first) for b in gathered], folder)


def run_rank(req: Request, env: RankEnv, listener: Listener | None = None, sign_key: Any = None) -> Outcome:
    """This process's part of a fleet run; rank 0 also writes the fleet file."""
    group = Group(env, req.fleet_timeout_s)
    try:
        p = plan(req, env, group)
        outcome = run(req, listener, sign_key, p)
        folder, run_id = p.path.parent, p.ctx.run_id
        if outcome.error is None or not isinstance(outcome.error, FleetBroken | KeyboardInterrupt):
            outcome.fleet_file = _gather(group, outcome, folder, run_id)
        elif env.rank == 0:
            with hold_signals() as held:          # stopping already: the fleet file is written whole
                outcome.fleet_file = _from_folder(folder, run_id)
            outcome.error = outcome.error or held.error
        return outcome
    finally:
        group.close()
