"""Provenance of a run: host, OS, Python, package versions, benchhash's git commit, the command
line, the CPU (hw.cpu) and every GPU (hw.gpus), before the run and after it."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchhash.fsutil import clean_text
from benchhash.hw.cpu import cpu
from benchhash.hw.gpus import gpus
from benchhash.results.model import Device, Environment, Git, Gpu, Telemetry, Throttle

PACKAGES = ("benchhash", "numpy", "numba", "llvmlite", "cupy-cuda12x", "cupy-cuda13x", "torch",
            "nvidia-ml-py", "py-cpuinfo", "pydantic", "rich", "typer", "scipy")


def packages() -> dict[str, str | None]:
    """Installed version of each package that can affect a result (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_info(source: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the benchhash source tree, when it is a git checkout."""
    root = source or Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None, "reason": "benchhash is not running from a git checkout"}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "reason": f"git failed: {exc}"}
    return {"commit": commit, "dirty": bool(status.strip()), "reason": None}


def _same_pci(a: str | None, b: str | None) -> bool:
    def key(s: str) -> tuple[int, ...] | None:
        try:
            dom, bus, rest = s.lower().split(":")
            dev, fn = rest.split(".")
            return int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)
        except ValueError:
            return None
    return a is not None and b is not None and key(a) is not None and key(a) == key(b)


def snapshot(command_line: list[str], notes: str | None) -> Environment:
    """The machine and software before a run (the meter is filled in at the end)."""
    found, reason = gpus()
    return Environment(host=socket.gethostname(), os=platform.platform(),
                       python=sys.version.split()[0], packages=packages(),
                       git=Git.model_validate(git_info()), command_line=[clean_text(a) for a in command_line],
                       notes=None if notes is None else clean_text(notes),
                       cpu=cpu(), gpus=found, gpu_reason=reason, meter={})


def _finish_gpu(g: Gpu, later: Gpu | None, device: Device, session: Telemetry | None) -> Gpu:
    temps = g.temperature_c.model_copy(update={"after": later.temperature_c.before if later else None})
    seen = [v for v in (temps.before, temps.after) if v is not None]
    measured = device.kind == "cuda" and (_same_pci(g.pci_bus_id, device.pci_bus_id)
                                          or (device.pci_bus_id is None and g.index == device.index))
    update: dict[str, Any] = {"measured": measured}
    if measured and session is not None:
        if session.temperature_c_max is not None:
            seen.append(session.temperature_c_max)
        update["throttle"] = Throttle(union=sorted(session.throttle_share),
                                      share=dict(session.throttle_share))
    update["temperature_c"] = temps.model_copy(update={"max": max(seen) if seen else None})
    return g.model_copy(update=update)


def finish(env: Environment, device: Device, session: Telemetry | None,
           meter: dict[str, Any]) -> Environment:
    """The environment after the run: each GPU's temperature after (read now) and max, the
    measured GPU's throttle record, and what the meter was."""
    after, _ = gpus() if env.gpus else ([], None)
    by_index = {g.index: g for g in after}
    done = [_finish_gpu(g, by_index.get(g.index), device, session) for g in env.gpus]
    return env.model_copy(update={"gpus": done, "meter": meter})
