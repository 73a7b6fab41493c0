"""Which CPU kernel scans: the vector-lane kernel (``simd``, every CPU) or the SHA-NI kernel
(``sha-ni``, x86-64 CPUs with the SHA extensions). ``auto`` measures both on this CPU, one
thread, on the same nonces, and keeps the faster; the choice and the rates behind it go into the
result (the kernel in ``params.launch``, how it was chosen and the calibration rates in the
phase's ``metrics``), so a reader sees which kernel produced a figure and why.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchhash.errors import BackendUnavailable, InputError
from benchhash.sha256d.primitives import precompute

log = logging.getLogger(__name__)

KERNELS = ("simd", "sha-ni")
CHOICES = ("auto", *KERNELS)
CALIBRATION_NONCES = 1 << 17     # per kernel and round: ~10 ms at 12 MH/s
CALIBRATION_ROUNDS = 3           # alternating, best of each kept (a busy neighbour only slows)

#: h7_block(pre, start, n, out) of one kernel module
H7 = Callable[[np.ndarray, int, int, np.ndarray], None]


@dataclass(frozen=True)
class KernelChoice:
    """The kernel that scans, how it was chosen, and what calibration measured (H/s, 1 thread)."""

    kernel: str
    chosen_by: str                          # "flag" | "calibration" | "only one"
    reason: str | None = None               # why the other kernel was not a candidate
    calibration_hps: Mapping[str, float] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The kernel itself (params.launch): the same on every run of this kernel."""
        from benchhash.sha256d.cpu_shani import LANES
        return {"kernel": self.kernel, **({"lanes": LANES} if self.kernel == "sha-ni" else {})}

    def metrics(self) -> dict[str, Any]:
        """How it was chosen (the phase's metrics): differs from run to run, as rates do."""
        out: dict[str, Any] = {"cpu_kernel_chosen_by": self.chosen_by}
        if self.reason:
            out["cpu_kernel_reason"] = self.reason
        if self.calibration_hps:
            out["cpu_kernel_calibration_hps"] = {k: round(v) for k, v in self.calibration_hps.items()}
        return out


def sha_ni_problem() -> str | None:
    """Why the SHA-NI kernel cannot run here; None when it can. LLVM cannot lower the SHA
    intrinsics for a CPU without them, so this is asked before anything compiles."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return f"the SHA-NI kernel needs an x86-64 CPU (this one: {machine or 'unknown'})"
    user = os.environ.get("NUMBA_CPU_FEATURES")
    if user is not None:
        return None if "+sha" in user.split(",") else "NUMBA_CPU_FEATURES is set without +sha"
    try:
        import llvmlite.binding as llvm
        features = llvm.get_host_cpu_features()
    except Exception as exc:  # noqa: BLE001 - an odd host keeps the vector kernel
        return f"LLVM cannot read this CPU's features ({exc})"
    return None if features.get("sha") else "this CPU has no SHA extensions (sha_ni)"


def check_name(kernel: str) -> None:
    """--cpu-kernel is one of auto | simd | sha-ni (an InputError, a ValueError, otherwise)."""
    if kernel not in CHOICES:
        raise InputError(f"--cpu-kernel must be one of {', '.join(CHOICES)}, got {kernel!r}")


def check_choice(kernel: str) -> None:
    """A bad --cpu-kernel, or sha-ni on a CPU without it: one line, before anything runs."""
    check_name(kernel)
    if kernel == "sha-ni" and (why := sha_ni_problem()) is not None:
        raise BackendUnavailable(f"--cpu-kernel sha-ni: {why}")


def calibrate(kernels: Mapping[str, H7], nonces: int = CALIBRATION_NONCES,
              rounds: int = CALIBRATION_ROUNDS) -> dict[str, float]:
    """Best rate (H/s, this thread) of each kernel's H7 loop on the same nonces, alternating."""
    pre = precompute(bytes(80))
    out = np.empty(nonces, np.uint32)
    for h7 in kernels.values():
        h7(pre, 0, 64, out)                  # compile or load before the clock starts
    best = dict.fromkeys(kernels, 0.0)
    for r in range(rounds):
        for name, h7 in kernels.items():
            t0 = time.perf_counter()
            h7(pre, r * nonces, nonces, out)
            best[name] = max(best[name], nonces / max(time.perf_counter() - t0, 1e-9))
    return best


def choose(requested: str, load: Callable[[str], H7]) -> KernelChoice:
    """The kernel for ``requested`` (auto | simd | sha-ni); ``load(kernel)`` gives its H7 loop."""
    check_choice(requested)
    if requested != "auto":
        return KernelChoice(requested, "flag")
    why = sha_ni_problem()
    if why is not None:
        return KernelChoice("simd", "only one", why)
    rates = calibrate({k: load(k) for k in KERNELS})
    kernel = max(KERNELS, key=lambda k: rates[k])
    log.info("cpu kernel: %s (%s)", kernel,
             ", ".join(f"{k} {v / 1e6:.1f} MH/s" for k, v in rates.items()))
    return KernelChoice(kernel, "calibration", None, rates)
