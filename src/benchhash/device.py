"""Where a run happens: `--device auto|cpu|cuda|cuda:I` resolved to one concrete device.

A GPU is found through CuPy or, without it, through torch; its PCI bus id is how NVML finds the
same GPU. A MIG instance (a slice of a GPU) is measured as such: its SM count and memory are
recorded so that peaks can be scaled to its share, and its energy is labelled whole-card."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from benchhash.errors import BackendUnavailable, InputError

DEVICES = "auto, cpu, cuda or cuda:I"
_MIG_NAME = re.compile(r"\bMIG\s+(\d+g\.\d+gb)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Device:
    kind: str                       # "cpu" | "cuda"
    index: int = 0
    name: str = "cpu"
    pci_bus_id: str | None = None   # cuda only: how NVML finds the same GPU
    explicit: bool = False          # asked for by name (--device cuda), not found by 'auto'
    sm_count: int | None = None     # cuda only: streaming multiprocessors this device has
    memory_bytes: int | None = None
    mig_profile: str | None = None  # e.g. '3g.40gb' when the device is a MIG instance

    @property
    def label(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"

    @property
    def is_mig(self) -> bool:
        return self.mig_profile is not None


def parse(text: str) -> tuple[str, int]:
    t = text.strip().lower()
    if t in ("auto", "cpu", "cuda"):
        return t, 0
    m = re.fullmatch(r"cuda:(\d+)", t)
    if m:
        return "cuda", int(m.group(1))
    raise InputError(f"--device must be one of {DEVICES}, got {text!r}")


def mig_profile(name: str, nvml_mig_mode: bool | None) -> str | None:
    """The MIG profile of a CUDA device: from its name ('... MIG 3g.40gb'), or 'unknown' when
    NVML says MIG mode is on for its GPU (CUDA then sees only MIG instances)."""
    m = _MIG_NAME.search(name)
    if m:
        return m.group(1).lower()
    return "unknown" if nvml_mig_mode else None


def _cpu_name() -> str:
    from benchhash.env import cpu_info
    return str(cpu_info()["model"] or "cpu")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cupy_gpu(index: int) -> dict[str, Any] | None:
    """Name, bus id, SMs and memory of a GPU CuPy sees (NVRTC not needed for this)."""
    from benchhash.sha256d.cuda import probe
    steps = probe(index).steps
    if steps.get("cupy", "") is not None or steps.get("gpu", "") is not None:
        return None
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(index)
    return {"name": _text(props["name"]), "pci_bus_id": cupy.cuda.Device(index).pci_bus_id,
            "sm_count": int(props["multiProcessorCount"]),
            "memory_bytes": int(props["totalGlobalMem"])}


def _torch_gpu(index: int) -> dict[str, Any] | None:
    """The GPU as torch sees it, for machines with torch but without CuPy (tensor workloads
    run; sha256d on the GPU needs CuPy and falls back or says so)."""
    try:
        import torch
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return None
        p = torch.cuda.get_device_properties(index)
        pci = f"{p.pci_domain_id:04x}:{p.pci_bus_id:02x}:{p.pci_device_id:02x}.0"
        return {"name": p.name, "pci_bus_id": pci, "sm_count": int(p.multi_processor_count),
                "memory_bytes": int(p.total_memory)}
    except Exception:  # noqa: BLE001 - no usable torch CUDA: the caller falls back
        return None


def _nvml_mig_mode(pci_bus_id: str | None) -> bool | None:
    """Whether NVML reports MIG mode on for the GPU at this bus id (None: cannot tell)."""
    if not pci_bus_id:
        return None
    try:
        from benchhash.meters.nvml_errors import call, import_pynvml
        nv = import_pynvml()
        call(nv, "init", nv.nvmlInit)
    except Exception:  # noqa: BLE001 - no NVML: the name is all there is
        return None
    try:
        h = call(nv, "handle by PCI bus id", nv.nvmlDeviceGetHandleByPciBusId, pci_bus_id)
        current, _pending = call(nv, "MIG mode", nv.nvmlDeviceGetMigMode, h)
        return bool(current)
    except Exception:  # noqa: BLE001 - not supported on this GPU: no MIG
        return None
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def resolve(text: str) -> Device:
    """The device a run uses: 'auto' takes GPU I when CuPy or torch sees one, else the CPU;
    'cuda' / 'cuda:I' that finds no GPU is an error."""
    kind, index = parse(text)
    if kind in ("auto", "cuda"):
        found = _cupy_gpu(index) or _torch_gpu(index)
        if found is not None:
            mig = mig_profile(found["name"], _nvml_mig_mode(found["pci_bus_id"]))
            return Device("cuda", index, found["name"], found["pci_bus_id"], kind == "cuda",
                          found["sm_count"], found["memory_bytes"], mig)
        if kind == "cuda":
            from benchhash.sha256d.cuda import probe
            raise BackendUnavailable(probe(index).reason or f"cuda:{index}: no GPU found")
    return Device("cpu", 0, _cpu_name())
