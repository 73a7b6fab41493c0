"""Where a run happens: `--device auto|cpu|cuda|cuda:I` resolved to one concrete device."""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchhash.errors import BackendUnavailable, InputError

DEVICES = "auto, cpu, cuda or cuda:I"


@dataclass(frozen=True)
class Device:
    kind: str                       # "cpu" | "cuda"
    index: int = 0
    name: str = "cpu"
    pci_bus_id: str | None = None   # cuda only: how NVML finds the same GPU

    @property
    def label(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


def parse(text: str) -> tuple[str, int]:
    t = text.strip().lower()
    if t in ("auto", "cpu", "cuda"):
        return t, 0
    m = re.fullmatch(r"cuda:(\d+)", t)
    if m:
        return "cuda", int(m.group(1))
    raise InputError(f"--device must be one of {DEVICES}, got {text!r}")


def _cpu_name() -> str:
    from benchhash.env import cpu_info
    return str(cpu_info()["model"] or "cpu")


def resolve(text: str) -> Device:
    """The device a run uses: 'auto' takes GPU 0 when CuPy sees one, else the CPU."""
    kind, index = parse(text)
    if kind in ("auto", "cuda"):
        try:
            from benchhash.sha256d.cuda import import_cupy
            cupy = import_cupy()
            count = cupy.cuda.runtime.getDeviceCount()
            if not 0 <= index < count:
                raise BackendUnavailable(f"cuda:{index} does not exist ({count} GPU(s) found)")
            props = cupy.cuda.runtime.getDeviceProperties(index)
            name = props["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            return Device("cuda", index, name, cupy.cuda.Device(index).pci_bus_id)
        except BackendUnavailable as exc:
            found = _torch_gpu(index)
            if found is not None:
                return found
            if kind == "cuda":
                raise exc from None
    return Device("cpu", 0, _cpu_name())


def _torch_gpu(index: int) -> Device | None:
    """The GPU as torch sees it, for machines with torch but without CuPy (tensor workloads
    run; sha256d on the GPU still needs CuPy and says so)."""
    try:
        import torch
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return None
        p = torch.cuda.get_device_properties(index)
        pci = f"{p.pci_domain_id:04x}:{p.pci_bus_id:02x}:{p.pci_device_id:02x}.0"
        return Device("cuda", index, p.name, pci)
    except Exception:  # noqa: BLE001 - no usable torch CUDA: the caller falls back
        return None
