"""Typed access for tests: a workload made by name, and its phases, as the classes the test
reads (so mypy checks the attributes a test touches, and a wrong class fails loudly)."""

from __future__ import annotations

from typing import Any, TypeVar

from benchhash.results.model import Device
from benchhash.workloads import create
from benchhash.workloads.base import Phase, Workload

W = TypeVar("W", bound=Workload)
P = TypeVar("P", bound=Phase)


def made(kind: type[W], name: str, device: Device, options: dict[str, Any] | None = None) -> W:
    w = create(name, device, options) if options is not None else create(name, device)
    assert isinstance(w, kind), f"{name} made a {type(w).__name__}, not a {kind.__name__}"
    return w


def phases_of(w: Workload, kind: type[P]) -> list[P]:
    got = w.phases()
    assert all(isinstance(p, kind) for p in got), [type(p).__name__ for p in got]
    return [p for p in got if isinstance(p, kind)]
