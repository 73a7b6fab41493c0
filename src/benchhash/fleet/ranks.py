"""Which rank of which fleet this process is, from the launcher's environment: torchrun and a
Kubernetes PyTorchJob set RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK and
MASTER_ADDR/PORT; `srun` without torchrun sets SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID
and SLURM_NODEID for each task of its step (MASTER_ADDR and MASTER_PORT then come from the batch
script). The batch script itself, outside any srun step, is not a rank, whatever --ntasks says."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from benchhash.errors import InputError


@dataclass(frozen=True)
class RankEnv:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    launcher: str


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if text is None:
        if default is None:
            raise InputError(f"a fleet rank needs {name} in its environment")
        return default
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is not a whole number") from None


def from_env(env: Mapping[str, str] | None = None) -> RankEnv | None:
    """This process's rank, or None when no launcher started it as one."""
    e = os.environ if env is None else env
    if "RANK" in e and "WORLD_SIZE" in e:
        r = RankEnv(_int(e, "RANK"), _int(e, "WORLD_SIZE"), _int(e, "LOCAL_RANK", 0),
                    _int(e, "LOCAL_WORLD_SIZE", 1), _int(e, "GROUP_RANK", 0),
                    "benchhash" if "BENCHHASH_ALL_GPUS" in e else "torchrun")
    elif "SLURM_PROCID" in e and _int(e, "SLURM_STEP_NUM_TASKS", 1) > 1:
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in e:
                raise InputError(f"under srun without torchrun, set {name} (rank 0's host and a free port) "
                                 "in the batch script")
        per_node = re.match(r"\d+", e.get("SLURM_STEP_TASKS_PER_NODE", ""))     # '4' or '4(x2)'
        r = RankEnv(_int(e, "SLURM_PROCID"), _int(e, "SLURM_STEP_NUM_TASKS"), _int(e, "SLURM_LOCALID", 0),
                    int(per_node.group()) if per_node else 1, _int(e, "SLURM_NODEID", 0), "slurm")
    else:
        return None
    if not 0 <= r.rank < r.world_size or not 0 <= r.local_rank:
        raise InputError(f"rank {r.rank} of {r.world_size} (local {r.local_rank}) is not a rank")
    return r
