"""`benchhash run --all-gpus`: one rank per visible GPU of this node, started through torch's
elastic launch API (what torchrun uses), each rank the same `benchhash run` on cuda:LOCAL_RANK."""

from __future__ import annotations

import os
import signal
import sys
import uuid

from benchhash.errors import InputError
from benchhash.hw.cuda import gpu_count


def strip_flag(argv: list[str], flag: str) -> list[str]:
    return [a for a in argv if a != flag]


def run_all(args: list[str], nproc: int | None = None) -> int:
    """Run ``benchhash ARGS`` as one rank per GPU (``nproc`` ranks when given: tests use CPUs);
    returns the launch's exit code."""
    n = gpu_count() if nproc is None else nproc
    if n < 1:
        raise InputError("--all-gpus needs GPUs, and this machine shows none")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=0.5, rdzv_configs={"is_host": True})
    os.environ["BENCHHASH_ALL_GPUS"] = "1"
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "benchhash", *args)
    except ChildFailedError as exc:
        codes = [c if c > 0 else 128 - c for c in (f.exitcode for f in exc.failures.values())]
        return max(codes) if codes else 1
    finally:
        os.environ.pop("BENCHHASH_ALL_GPUS", None)
        for sig, handler in saved.items():     # the launcher's handlers leave with it
            if handler is not None:
                signal.signal(sig, handler)
    return 0
