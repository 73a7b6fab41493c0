"""The CUDA backend: kernels/sha256d.cu compiled at run time by CuPy's RawModule (NVRTC)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from benchhash.errors import BackendUnavailable
from benchhash.sha256d.backend import (
    Candidate, Progress, ScanBackend, check_overflow, threshold_words, words_to_digest,
)
from benchhash.sha256d.kernel_source import kernel_path
from benchhash.sha256d.primitives import precompute

THREADS_PER_BLOCK = 256
NONCES_PER_THREAD = 64          # each thread loops over this many nonces
BLOCKS_PER_SM = 8
LAUNCH_MAX = 1 << 30            # nonces per launch: keeps progress and Ctrl-C responsive
BUFFER = 1024                   # result slots per launch; more found -> that launch is redone


def import_cupy() -> Any:
    """CuPy, with a GPU behind it, or BackendUnavailable saying which of the two is missing."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailable(
            f"cuda backend needs CuPy: pip install 'benchhash[cuda12]' or '[cuda13]' ({exc})") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDA raises its own error types
        raise BackendUnavailable(f"cuda backend: no usable CUDA driver or GPU ({exc})") from None
    if n == 0:
        raise BackendUnavailable("cuda backend: no CUDA GPU found")
    return cupy


@cache
def _module(device_index: int) -> Any:
    cupy = import_cupy()
    with cupy.cuda.Device(device_index):
        source = kernel_path().read_text()
        module = cupy.RawModule(code=source, options=("--std=c++14",), name_expressions=None)
        return module.get_function("sha256d_scan")


class CudaBackend(ScanBackend):
    name = "cuda"

    def __init__(self, device_index: int = 0) -> None:
        cupy = import_cupy()
        count = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= device_index < count:
            raise BackendUnavailable(f"cuda:{device_index} does not exist ({count} GPU(s) found)")
        self.index = device_index
        self._cupy = cupy
        props = cupy.cuda.runtime.getDeviceProperties(device_index)
        self._name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self._sms = int(props["multiProcessorCount"])
        self._kernel = _module(device_index)

    @property
    def device(self) -> str:
        return f"{self._name} (cuda:{self.index})"

    def _launch(self, pre: Any, thr: Any, start: int, n: int, cap: int) -> tuple[int, np.ndarray]:
        cp = self._cupy
        count = cp.zeros(1, dtype=cp.uint32)
        out = cp.zeros(9 * cap, dtype=cp.uint32)
        threads = THREADS_PER_BLOCK
        blocks = min(self._sms * BLOCKS_PER_SM, -(-n // (threads * NONCES_PER_THREAD)))
        blocks = max(blocks, 1)
        per_thread = -(-n // (blocks * threads))
        self._kernel((blocks,), (threads,),
                     (pre, thr, np.uint32(start), np.uint32(n), np.uint32(per_thread), count,
                      np.uint32(cap), out))
        return int(count.get()[0]), out.get()

    def candidates(self, header: bytes, start: int, count: int, threshold: int,
                   progress: Progress | None = None,
                   stop: threading.Event | None = None) -> tuple[list[Candidate], int]:
        cp = self._cupy
        found: list[Candidate] = []
        scanned = 0
        with cp.cuda.Device(self.index):
            pre = cp.asarray(precompute(header))
            thr = cp.asarray(threshold_words(threshold))
            for s in range(start, start + count, LAUNCH_MAX):
                if stop is not None and stop.is_set():
                    break
                n = min(LAUNCH_MAX, start + count - s)
                cap = BUFFER
                hits, out = self._launch(pre, thr, s, n, cap)
                if hits > cap:  # overflow: reported by the counter, redone with an exact buffer
                    check_overflow(len(found) + hits)
                    hits, out = self._launch(pre, thr, s, n, hits)
                rows = out[: 9 * hits].reshape(hits, 9)
                batch = sorted((int(r[0]), words_to_digest(r[1:])) for r in rows)
                found.extend(Candidate(nonce, digest) for nonce, digest in batch)
                check_overflow(len(found))
                scanned += n
                if progress:
                    progress(n)
        return found, scanned

    def synchronize(self) -> None:
        self._cupy.cuda.Device(self.index).synchronize()
