"""CUDA on this machine: whether the cuda scan backend can run (CuPy, the GPU, NVRTC, a kernel
compiled and run), and the GPUs as CuPy or torch see them (name, PCI bus id, SMs, memory, vendor).

An AMD GPU under ROCm builds of CuPy and torch is a "cuda" device too (HIP keeps CUDA's API);
its vendor is 'amd', told by CuPy's ``runtime.is_hip`` or torch's ``version.hip``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from benchhash.errors import BackendUnavailable
from benchhash.hw.nvml import text

#: NVRTC options for the kernel (CuPy adds the -arch of the device); tests compile with these.
NVRTC_OPTIONS = ("--std=c++14",)
PROBE_STEPS = ("cupy", "gpu", "nvrtc", "compile", "launch")
_PROBE_SOURCE = r"""
extern "C" __global__ void benchhash_probe(unsigned int* out) {
    out[threadIdx.x] = threadIdx.x * 3u + 1u;
}
"""


@dataclass(frozen=True)
class CudaProbe:
    """Whether the cuda backend can run on a GPU: each step's failure (None: it worked; absent:
    not tried because an earlier step failed) and the first failure as the reason."""

    index: int
    steps: dict[str, str | None]
    nvrtc_version: str | None = None

    @property
    def ok(self) -> bool:
        return all(self.steps.get(k, "not tried") is None for k in PROBE_STEPS)

    @property
    def reason(self) -> str | None:
        return next((f"cuda backend: {v}" for v in self.steps.values() if v is not None), None)


def _probe_steps(index: int, steps: dict[str, str | None]) -> str | None:
    """Run the probe's steps in order, filling ``steps``; returns NVRTC's version."""
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CuPy built for another CUDA
        steps["cupy"] = (f"CuPy is not importable ({exc}); pip install 'benchhash[cuda12]' "
                         "or '[cuda13]', matching the driver's CUDA version")
        return None
    steps["cupy"] = None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDA raises its own error types
        steps["gpu"] = f"no usable CUDA driver or GPU ({exc})"
        return None
    steps["gpu"] = None if 0 <= index < count else (
        "no CUDA GPU found" if count == 0 else f"cuda:{index} does not exist ({count} GPU(s) found)")
    if steps["gpu"]:
        return None
    try:
        major, minor = cupy.cuda.nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - the library is loaded on first use
        steps["nvrtc"] = (f"NVRTC (the CUDA runtime compiler) could not be loaded ({exc}); "
                          "install the CUDA toolkit or pip install nvidia-cuda-nvrtc")
        return None
    steps["nvrtc"] = None
    version = f"{major}.{minor}"
    with cupy.cuda.Device(index):
        try:
            fn = cupy.RawModule(code=_PROBE_SOURCE, options=NVRTC_OPTIONS).get_function(
                "benchhash_probe")
        except Exception as exc:  # noqa: BLE001 - NVRTC too old for this GPU, bad install
            steps["compile"] = f"NVRTC {version} could not compile a test kernel for this GPU ({exc})"
            return version
        steps["compile"] = None
        try:
            out = cupy.zeros(32, dtype=cupy.uint32)
            fn((1,), (32,), (out,))
            got = [int(v) for v in cupy.asnumpy(out)]
        except Exception as exc:  # noqa: BLE001
            steps["launch"] = f"a test kernel could not run ({exc})"
            return version
        want = [3 * i + 1 for i in range(32)]
        steps["launch"] = None if got == want else "a test kernel ran but computed wrong values"
    return version


@cache
def probe(index: int = 0) -> CudaProbe:
    """Can the cuda backend run on GPU ``index``: CuPy imports, the GPU is there, NVRTC loads, a
    tiny kernel compiles for this GPU and computes what it should. Cached per process."""
    steps: dict[str, str | None] = {}
    version = _probe_steps(index, steps)
    return CudaProbe(index, steps, version)


def import_cupy(index: int = 0) -> Any:
    """CuPy, once the probe says the cuda backend can run; else BackendUnavailable naming the
    part that is missing."""
    p = probe(index)
    if not p.ok:
        raise BackendUnavailable(p.reason or "cuda backend unavailable")
    import cupy
    return cupy



def is_hip(cupy: Any) -> bool:
    """Whether this CuPy is a ROCm (HIP) build, for AMD GPUs."""
    return bool(getattr(cupy.cuda.runtime, "is_hip", False))


def cupy_gpu(index: int) -> dict[str, Any] | None:
    """Name, bus id, SMs, memory and vendor of a GPU CuPy sees (NVRTC is not needed for this)."""
    steps = probe(index).steps
    if steps.get("cupy", "") is not None or steps.get("gpu", "") is not None:
        return None
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(index)
    return {"name": text(props["name"]), "pci_bus_id": cupy.cuda.Device(index).pci_bus_id,
            "sm_count": int(props["multiProcessorCount"]),
            "memory_bytes": int(props["totalGlobalMem"]), "vendor": "amd" if is_hip(cupy) else "nvidia"}


def torch_gpu(index: int) -> dict[str, Any] | None:
    """The GPU as torch sees it, for machines with torch but without CuPy (tensor workloads
    run; sha256d on the GPU needs CuPy and falls back or says so)."""
    try:
        import torch
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return None
        p = torch.cuda.get_device_properties(index)
        domain, bus, dev = (getattr(p, f"pci_{k}_id") for k in ("domain", "bus", "device"))
        pci = f"{domain:04x}:{bus:02x}:{dev:02x}.0"
        return {"name": p.name, "pci_bus_id": pci, "sm_count": int(p.multi_processor_count),
                "memory_bytes": int(p.total_memory), "vendor": "amd" if torch.version.hip else "nvidia"}
    except Exception:  # noqa: BLE001 - no usable torch CUDA: the caller falls back
        return None


def gpu_count() -> int:
    """How many GPUs this process sees, through CuPy or else torch (0: none, or neither works)."""
    p = probe(0)
    if p.steps.get("gpu", "") is None:
        import cupy
        return int(cupy.cuda.runtime.getDeviceCount())
    try:
        import torch
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no usable torch CUDA
        return 0
