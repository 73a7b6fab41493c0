"""The CUDA backend: kernels/sha256d.cu compiled at run time by CuPy's RawModule (NVRTC; on an AMD
GPU, CuPy's ROCm build compiles the kernel's plain-C path with hiprtc: no PTX)."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from benchhash.errors import BackendUnavailable, InputError
from benchhash.hw.catalogue import tuned_launches
from benchhash.hw.cuda import NVRTC_OPTIONS, import_cupy, is_hip, probe
from benchhash.sha256d.backend import (
    Candidate,
    Progress,
    ScanBackend,
    check_overflow,
    threshold_words,
    words_to_digest,
)
from benchhash.sha256d.header import GENESIS, hash_to_int
from benchhash.sha256d.kernel_source import kernel_path
from benchhash.sha256d.primitives import precompute
from benchhash.sha256d.reference import ReferenceBackend

log = logging.getLogger(__name__)

THREADS_PER_BLOCK = 256         # the kernel's __launch_bounds__
NONCES_PER_THREAD = 64          # fewest nonces a thread loops over (small scans use fewer blocks)
LAUNCH_MAX = 1 << 30            # nonces per launch: keeps progress and Ctrl-C responsive
BUFFER = 1024                   # result slots per launch; more found -> that launch is redone
#: The known answer a launch must give before it is used: (start, count, threshold) over the
#: genesis header, the window holding its nonce; ~64 hashes fall under 2^250. The GPU's
#: candidates must be hashlib's. (Tests whose fake kernel finds nothing set this to None.)
KNOWN_ANSWER: tuple[int, int, int] | None = (GENESIS.nonce - 2048, 4096, 1 << 250)


def grid_for(n: int, sms: int, blocks_per_sm: int, threads: int = THREADS_PER_BLOCK,
             min_per_thread: int = NONCES_PER_THREAD) -> tuple[int, int]:
    """(blocks, nonces per thread) for a launch of ``n`` nonces: one full wave (every SM holding
    as many blocks as the occupancy API allows), fewer blocks when n is too small for that."""
    wave = max(1, sms * blocks_per_sm)
    blocks = max(1, min(wave, -(-n // (threads * min_per_thread))))
    return blocks, -(-n // (blocks * threads))


#: The kernel's variants, each a set of macros (kernels/sha256d.cu says what each does); a GPU
#: measures them against each other (scripts/bench_kernel_gpu.py) and kernel_sass.py counts their
#: SASS. 'imad-adds' is the kernel a run uses; names join with '+' ('min-blocks-2+sched-plain').
VARIANTS: dict[str, tuple[str, ...]] = {
    "imad-adds": (),                                   # the round and schedule adds on the FMA pipe
    "plain-adds": ("BH_PLAIN_ADDS",),                  # every add left to the compiler
    "sched-plain": ("BH_SCHED_PLAIN_ADDS",),           # IMAD adds in the rounds, plain in the schedule
    "min-blocks-2": ("BH_MIN_BLOCKS=2",),              # registers for 2 blocks per SM (no spill at 512)
    "two-nonces": ("BH_NONCES=2",),                    # two nonces per thread, interleaved
}


def variant_defines(name: str) -> tuple[str, ...]:
    """The macros of a variant name such as 'two-nonces+sched-plain'."""
    parts = name.split("+")
    if unknown := [v for v in parts if v not in VARIANTS]:
        raise InputError(f"unknown kernel variant {'+'.join(unknown)!r}; known: {', '.join(VARIANTS)}")
    return tuple(d for v in parts for d in VARIANTS[v])


@dataclass(frozen=True)
class Launch:
    """How the kernel is built and launched: threads per block (the kernel is compiled for it),
    grid waves per launch (nonces per thread fall as waves rise), and variant macros of the
    kernel (e.g. BH_PLAIN_ADDS). The default is what a run uses; a sweep tries others."""

    threads: int = THREADS_PER_BLOCK
    waves: int = 1
    defines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.threads not in (64, 128, 256, 512, 1024):
            raise InputError(f"threads per block must be 64, 128, 256, 512 or 1024, got {self.threads}")
        if not 1 <= self.waves <= 64:
            raise InputError(f"waves must be between 1 and 64, got {self.waves}")
        for d in self.defines:
            if not re.fullmatch(r"BH_[A-Z0-9_]+(=\w+)?", d):
                raise InputError(f"a kernel variant is a BH_* macro, got {d!r}")

    def __str__(self) -> str:
        return f"{self.threads} threads x {self.waves} wave(s){''.join(' -D' + d for d in self.defines)}"

    def options(self) -> tuple[str, ...]:
        extra = () if self.threads == THREADS_PER_BLOCK else (f"-DBH_THREADS={self.threads}",)
        return NVRTC_OPTIONS + extra + tuple(f"-D{d}" for d in self.defines)

    def info(self) -> dict[str, Any]:
        """Only what differs from the default, so that a default run's params stay as they were."""
        return {**({"waves": self.waves} if self.waves != 1 else {}),
                **({"defines": list(self.defines)} if self.defines else {})}


#: The launch measured fastest per compute capability (scripts/bench_kernel_gpu.py: kernel
#: variants x 128/256/512 threads x 1/2/4 waves, medians of whole 2^32 scans): each is the
#: tuned_launch of the catalogue entry it was measured on (data/gpus.json, with its figures, source
#: and date); a GPU of a capability not listed keeps Launch()'s 256 x 1.
TUNED: dict[str, Launch] = {cc: Launch(threads=t.threads, waves=t.waves, defines=variant_defines(t.variant))
                            for cc, t in tuned_launches().items()}


def tuned_launch(compute_capability: str, hip: bool = False) -> Launch:
    """The launch a run uses on a GPU of this compute capability (e.g. '90'). The launches were
    tuned on NVIDIA GPUs: an AMD GPU (``hip``), whose 'compute capability' is its gfx version
    (gfx90a reads '90'), keeps the default."""
    return Launch() if hip else TUNED.get(compute_capability, Launch())


def unavailable(index: int = 0) -> str | None:
    """Why the cuda backend cannot scan on GPU ``index`` (None: it can): the probe's reason, and
    on CuPy's ROCm build whether kernels/sha256d.cu itself compiles there, so that a ROCm whose
    compiler refuses it falls back to the CPU with the reason rather than failing the phase (both
    steps are cached per process)."""
    p = probe(index)
    if p.reason is not None or not is_hip(import_cupy(index)):
        return p.reason
    try:
        _module(index, Launch().options())
    except Exception as exc:  # noqa: BLE001 - hiprtc's CompileException, a missing ROCm part
        why = " ".join(str(exc).split())[:300]
        return f"cuda backend: CuPy's ROCm build could not compile kernels/sha256d.cu ({why})"
    return None


@cache
def _module(device_index: int, options: tuple[str, ...] = NVRTC_OPTIONS) -> Any:
    cupy = import_cupy(device_index)
    with cupy.cuda.Device(device_index):
        source = kernel_path().read_text()
        module = cupy.RawModule(code=source, options=options, name_expressions=None)
        return module.get_function("sha256d_scan")


def _handle(fn: Any) -> int:
    """The CUfunction handle of a CuPy RawKernel (its compiled ``kernel``, a cupy.cuda.Function)."""
    return int(fn.kernel.ptr)


def _attribute(cupy: Any, fn: Any, name: str, code: int) -> int | None:
    """A kernel attribute (CUfunction_attribute ``code``), or None when CuPy cannot say."""
    try:
        value = getattr(fn, name, None)
        if value is None:
            value = cupy.cuda.driver.funcGetAttribute(code, _handle(fn))
        return int(value)
    except Exception:  # noqa: BLE001 - informational only
        return None


class CudaBackend(ScanBackend):
    name = "cuda"

    def __init__(self, device_index: int = 0, launch: Launch | None = None) -> None:
        cupy = import_cupy(device_index)
        self.index = device_index
        self.compute_capability = str(cupy.cuda.Device(device_index).compute_capability)
        hip = is_hip(cupy)
        self.tuned = launch is None and not hip and self.compute_capability in TUNED
        self.shape = launch or tuned_launch(self.compute_capability, hip)
        self._cupy = cupy
        props = cupy.cuda.runtime.getDeviceProperties(device_index)
        self._name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self._sms = int(props["multiProcessorCount"])
        self._kernel: Any = None
        self.untuned_because: str | None = None
        self.blocks_per_sm = 0
        self.registers: int | None = None
        self.local_bytes: int | None = None

    def load(self) -> None:
        """Compile the kernel with NVRTC and size the grid with the occupancy API."""
        if self._kernel is not None:
            return
        cupy = self._cupy
        kernel = _module(self.index, self.shape.options())
        with cupy.cuda.Device(self.index):
            per_sm = int(cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(
                _handle(kernel), self.shape.threads, 0))
        if per_sm < 1:
            raise BackendUnavailable(f"cuda:{self.index}: the kernel cannot be resident with "
                                     f"{self.shape.threads} threads per block")
        self.blocks_per_sm = per_sm
        self.registers = _attribute(cupy, kernel, "num_regs", 4)
        self.local_bytes = _attribute(cupy, kernel, "local_size_bytes", 3)
        self._kernel = kernel
        if KNOWN_ANSWER is None or self._gives_known_answer(*KNOWN_ANSWER):
            return
        self._kernel = None
        wrong = f"the kernel built for {self.shape} computed hashes that differ from hashlib's on {self._name}"
        if not self.tuned:
            raise BackendUnavailable(f"cuda:{self.index}: {wrong}; it is not used")
        log.warning("cuda:%d: %s; using the untuned launch (256 x 1)", self.index, wrong)
        self.untuned_because = wrong
        self.shape, self.tuned = Launch(), False
        self.load()

    def _gives_known_answer(self, start: int, count: int, threshold: int) -> bool:
        header = GENESIS.to_bytes()
        got, _ = self.candidates(header, start, count, threshold)
        want, _ = ReferenceBackend().candidates(header, start, count, threshold)
        return [c for c in got if hash_to_int(c.digest) <= threshold] == want

    def launch_info(self) -> dict[str, Any]:
        """How the kernel is launched on this GPU (recorded with a result)."""
        self.load()
        p = probe(self.index)
        return {"threads_per_block": self.shape.threads, "blocks_per_sm": self.blocks_per_sm,
                "sms": self._sms, "grid_blocks": self._sms * self.blocks_per_sm * self.shape.waves,
                "registers": self.registers, "local_bytes": self.local_bytes,
                "nvrtc": p.nvrtc_version, "nvrtc_options": list(self.shape.options()),
                "compute_capability": self.compute_capability,
                **self.shape.info(), **({"tuned_for": f"sm_{self.compute_capability}"} if self.tuned else {}),
                **({"untuned_because": self.untuned_because} if self.untuned_because else {})}

    @property
    def device(self) -> str:
        return f"{self._name} (cuda:{self.index})"

    def _launch(self, pre: Any, thr: Any, start: int, n: int, cap: int) -> tuple[int, np.ndarray]:
        cp = self._cupy
        count = cp.zeros(1, dtype=cp.uint32)
        out = cp.zeros(9 * cap, dtype=cp.uint32)
        threads = self.shape.threads
        blocks, per_thread = grid_for(n, self._sms, self.blocks_per_sm * self.shape.waves, threads)
        self._kernel((blocks,), (threads,),
                     (pre, thr, np.uint32(start), np.uint32(n), np.uint32(per_thread), count,
                      np.uint32(cap), out))
        return int(count.get()[0]), out.get()

    def candidates(self, header: bytes, start: int, count: int, threshold: int,
                   progress: Progress | None = None,
                   stop: threading.Event | None = None) -> tuple[list[Candidate], int]:
        self.load()
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
