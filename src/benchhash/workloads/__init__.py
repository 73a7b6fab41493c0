"""The workload registry: a workload is added by writing its module and naming it here; the
runner never changes."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from benchhash.errors import InputError
from benchhash.results.model import Device
from benchhash.workloads.base import Options, Phase, Window, Workload

#: name -> "module:Class"; imported only when asked for (torch is heavy).
REGISTRY: dict[str, str] = {
    "sha256d": "benchhash.workloads.sha256d:Sha256dWorkload",
    "gemm": "benchhash.workloads.gemm:GemmWorkload",
    "llm": "benchhash.workloads.llm.workload:LlmWorkload",
}

__all__ = ["REGISTRY", "Options", "Phase", "Window", "Workload", "create", "defaults", "known",
           "parse_names"]


def load(name: str) -> type[Workload]:
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def parse_names(text: str) -> list[str]:
    """'sha256d,gemm' -> validated names in order, duplicates dropped."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise InputError("--workloads is empty; known: " + ", ".join(REGISTRY))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise InputError(f"unknown workload {unknown[0]!r}; known: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def defaults(device: Device) -> list[str]:
    """What a plain `benchhash run` measures on this kind of device."""
    return [n for n in REGISTRY if device.kind in load(n).default_on]


def create(name: str, device: Device,
           options: Options | Mapping[str, Any] | None = None) -> Workload:
    """The workload ``name`` on ``device``; ``options`` is its Options, or the command's flags
    (each workload takes the ones it declares)."""
    cls = load(name)
    if options is None or isinstance(options, Options):
        return cls(device, options)
    return cls(device, cls.options_model.from_flags(options))


def known(name: str) -> type[Workload] | None:
    """The workload class registered as ``name`` (exactly), or None."""
    return load(name) if name in REGISTRY else None
