"""A fake CuPy for machines without a GPU: enough of the API for the cuda backend's probe and
scan loop. Its sha256d_scan "kernel" is the real kernels/sha256d.cu compiled for the host (the
test harness build), called over the launch's whole range after checking that the grid covers
it, so the backend's launch, overflow and sorting logic runs against the kernel's own code."""

from __future__ import annotations

import ctypes
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class FakeArray(np.ndarray):
    def get(self) -> np.ndarray:
        return np.array(self)


class CompileException(Exception):
    """What cupy.cuda.compiler raises when NVRTC rejects the source."""


@dataclass
class FakeGpuState:
    devices: int = 1
    name: str = "NVIDIA H100 80GB HBM3"
    sms: int = 132
    memory_bytes: int = 80 * 2**30
    blocks_per_sm: int = 3
    registers: int = 79
    compute_capability: str = "90"
    wrong_for_threads: int | None = None   # a build for this many threads returns corrupted digests
    driver_error: str | None = None        # getDeviceCount raises this
    nvrtc_error: str | None = None         # nvrtc.getVersion raises this
    compile_error: str | None = None       # RawModule(...).get_function raises this
    wrong_probe_result: bool = False
    host_lib: ctypes.CDLL | None = None    # the kernel compiled for the host; None: finds nothing
    launches: list[tuple[int, int, int, int]] = field(default_factory=list)  # blocks, threads, n, per_thread


def _zeros(n: int, dtype: Any = np.float64) -> FakeArray:
    return np.zeros(n, dtype=dtype).view(FakeArray)


def _asarray(a: Any) -> FakeArray:
    return np.ascontiguousarray(a).view(FakeArray)


class _Device:
    def __init__(self, state: FakeGpuState, index: int) -> None:
        self.index, self.pci_bus_id = index, f"0000:{0x1b + index:02X}:00.0"
        self._state = state
        self.compute_capability = state.compute_capability

    def __enter__(self) -> _Device:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def synchronize(self) -> None:
        return None


def make_cupy(state: FakeGpuState) -> types.ModuleType:
    cupy = types.ModuleType("cupy")
    cupy.uint32 = np.uint32  # type: ignore[attr-defined]
    cupy.zeros = _zeros  # type: ignore[attr-defined]
    cupy.asarray = _asarray  # type: ignore[attr-defined]
    cupy.asnumpy = lambda a: np.array(a)  # type: ignore[attr-defined]

    def device_count() -> int:
        if state.driver_error:
            raise RuntimeError(state.driver_error)
        return state.devices

    def occupancy(func: Any, threads: int, smem: int) -> int:
        if type(func) is not int:       # the driver call takes a CUfunction handle, as CuPy's does
            raise TypeError(f"an integer CUfunction handle is required, not {type(func).__name__}")
        return state.blocks_per_sm

    def properties(index: int) -> dict[str, Any]:
        return {"name": state.name.encode(), "multiProcessorCount": state.sms,
                "totalGlobalMem": state.memory_bytes}

    def nvrtc_version() -> tuple[int, int]:
        if state.nvrtc_error:
            raise RuntimeError(state.nvrtc_error)
        return (12, 9)

    def probe_kernel(grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        (out,) = args
        out[:] = np.arange(block[0], dtype=np.uint32) * 3 + 1 + int(state.wrong_probe_result)

    def scan_kernel(grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        pre, thr, start, n, per_thread, count, cap, out = args
        blocks, threads = grid[0], block[0]
        state.launches.append((blocks, threads, int(n), int(per_thread)))
        assert blocks * threads * int(per_thread) >= int(n), "the grid does not cover the range"
        if state.host_lib is None:      # a stand-in that finds nothing, instantly
            return
        found = state.host_lib.bh_host_scan(pre, thr, int(start), int(n), int(cap), out)
        count[0] += found
        if threads == state.wrong_for_threads:
            out[1:9 * min(found, int(cap)):9] ^= 1      # every digest's first word off by one bit

    class Function:
        def __init__(self, fn: Any) -> None:
            self._fn, self.num_regs, self.local_size_bytes = fn, state.registers, 0
            self.kernel = types.SimpleNamespace(ptr=1)     # as CuPy: the CUfunction is RawKernel.kernel.ptr

        def __call__(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
            self._fn(grid, block, args)

    class RawModule:
        def __init__(self, code: str, options: tuple[str, ...] = (), **kwargs: Any) -> None:
            self.code, self.options = code, options

        def get_function(self, name: str) -> Function:
            if state.compile_error:
                raise CompileException(state.compile_error)
            if name == "benchhash_probe" and name in self.code:
                return Function(probe_kernel)
            if name == "sha256d_scan" and name in self.code:
                return Function(scan_kernel)
            raise CompileException(f"no kernel named {name}")

    cupy.RawModule = RawModule  # type: ignore[attr-defined]
    cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=device_count,
                                      getDeviceProperties=properties),
        nvrtc=types.SimpleNamespace(getVersion=nvrtc_version),
        driver=types.SimpleNamespace(
            occupancyMaxActiveBlocksPerMultiprocessor=occupancy),
        Device=lambda index=0: _Device(state, index),
    )
    cupy.cuda = cuda  # type: ignore[attr-defined]
    return cupy
