"""The workload registry: a workload is added by writing its module and naming it here, or from
outside benchhash as a plug-in (an entry point in the group ``benchhash.workloads``, or
BENCHHASH_WORKLOADS="name=module:Class,..."); the runner never changes."""

from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
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

PLUGIN_ENV = "BENCHHASH_WORKLOADS"
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")

__all__ = ["PLUGIN_ENV", "REGISTRY", "Options", "Phase", "Window", "Workload", "create", "defaults", "known",
           "parse_names"]


def _from_env() -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in os.environ.get(PLUGIN_ENV, "").split(","))):
        name, _, target = item.partition("=")
        if not name.strip() or not _TARGET.fullmatch(target.strip()):
            raise InputError(f"{PLUGIN_ENV}: {item!r} is not name=module:Class")
        out[name.strip().lower()] = target.strip()
    return out


def registry() -> dict[str, str]:
    """Built-in workloads, then installed plug-ins, then BENCHHASH_WORKLOADS (a built-in name
    cannot be taken over)."""
    return {**_installed(), **_from_env(), **REGISTRY}


@functools.cache
def _installed() -> dict[str, str]:
    return {ep.name.lower(): ep.value for ep in entry_points(group="benchhash.workloads")}


def load(name: str) -> type[Workload]:
    module, cls = registry()[name].split(":")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"workload {name!r}: cannot load {module}:{cls} ({exc})") from None
    if not (isinstance(found, type) and issubclass(found, Workload)):
        raise InputError(f"workload {name!r}: {module}:{cls} is not a benchhash Workload")
    return found


def parse_names(text: str) -> list[str]:
    """'sha256d,gemm' -> validated names in order, duplicates dropped."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    table = registry()
    if not names:
        raise InputError("--workloads is empty; known: " + ", ".join(table))
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InputError(f"unknown workload {unknown[0]!r}; known: {', '.join(table)}")
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
    return load(name) if name in registry() else None
