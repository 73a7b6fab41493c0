"""Which scan backends can run here, and why not (for `info` and the scan engine's choice)."""

from __future__ import annotations

from functools import cache

from benchhash.hw.cuda import PROBE_STEPS, probe


@cache
def numba_reason() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as exc:
        return f"the cpu backend needs numba ({exc})"
    return None


def status() -> dict[str, str | None]:
    """Each scan backend -> None when it can run here, else the reason it cannot."""
    return {"reference": None, "cpu": numba_reason(), "cuda": probe(0).reason}


def cuda_probe_steps() -> dict[str, str | None]:
    """The cuda backend's probe, step by step (cupy, gpu, nvrtc, compile, launch): None where
    the step worked, the reason where it failed, 'not tried' after a failure."""
    steps = probe(0).steps
    return {k: steps.get(k, "not tried") for k in PROBE_STEPS}
