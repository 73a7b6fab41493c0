"""Where work runs: `--device auto|cpu|cuda|cuda:I` (and `reference` for `scan`) parsed in one
place and resolved to one concrete Device (results.model.Device).

A GPU is found through CuPy or, without it, through torch; its PCI bus id is how NVML finds the
same GPU. A MIG instance (a slice of a GPU) is measured as such: its SM count and memory are
recorded so that peaks can be scaled to its share, and its energy is labelled whole-card."""

from __future__ import annotations

import re

from benchhash.errors import BackendUnavailable, InputError
from benchhash.hw.cpu import cpu_name
from benchhash.hw.cuda import cupy_gpu, probe, torch_gpu
from benchhash.hw.gpus import mig_mode
from benchhash.results.model import Device

__all__ = ["DEVICES", "Device", "mig_profile", "parse", "resolve"]

DEVICES = "auto, cpu, cuda or cuda:I"
_MIG_NAME = re.compile(r"\bMIG\s+(\d+g\.\d+gb)\b", re.IGNORECASE)


def parse(text: str, *, flag: str = "--device", reference: bool = False) -> tuple[str, int]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:I' (| 'reference' where allowed) -> (kind, index)."""
    t = text.strip().lower()
    kinds = ("auto", "cpu", "cuda") + (("reference",) if reference else ())
    if t in kinds:
        return t, 0
    m = re.fullmatch(r"cuda:(\d+)", t)
    if m:
        return "cuda", int(m.group(1))
    known = "auto, cpu, cuda, cuda:I or reference" if reference else DEVICES
    raise InputError(f"unknown device {text!r}: {flag} must be one of {known}")


def mig_profile(name: str, nvml_mig_mode: bool | None) -> str | None:
    """The MIG profile of a CUDA device: from its name ('... MIG 3g.40gb'), or 'unknown' when
    NVML says MIG mode is on for its GPU (CUDA then sees only MIG instances)."""
    m = _MIG_NAME.search(name)
    if m:
        return m.group(1).lower()
    return "unknown" if nvml_mig_mode else None


def resolve(text: str) -> Device:
    """The device a run uses: 'auto' takes GPU 0 when CuPy or torch sees one, else the CPU;
    'cuda' / 'cuda:I' that finds no GPU is an error."""
    kind, index = parse(text)
    if kind in ("auto", "cuda"):
        found = cupy_gpu(index) or torch_gpu(index)
        if found is not None:
            return Device(kind="cuda", index=index, name=found["name"],
                          pci_bus_id=found["pci_bus_id"], sm_count=found["sm_count"],
                          memory_bytes=found["memory_bytes"], explicit=kind == "cuda",
                          mig_profile=mig_profile(found["name"], mig_mode(found["pci_bus_id"])))
        if kind == "cuda":
            raise BackendUnavailable(probe(index).reason or f"cuda:{index}: no GPU found")
    return Device(kind="cpu", name=cpu_name())
