"""`benchhash info`: what this machine has and can run."""

from __future__ import annotations

import json
import socket
from typing import Annotated, Any

import typer
from rich.markup import escape

from benchhash.cli.app import out


def _gpu_line(g: dict[str, Any]) -> str:
    mem = g.get("memory_total_bytes")
    limit = (g.get("power_limits") or {}).get("enforced_w")
    parts = [g.get("name") or "unknown name", g.get("uuid") or "",
             f"driver {g.get('driver') or 'n/a'}",
             f"{mem / 2**30:.1f} GiB" if mem is not None else "memory n/a",
             f"power limit {limit:.0f} W" if limit is not None else "power limit n/a"]
    lim = g.get("power_limits") or {}
    if lim.get("current_w") is not None and lim.get("default_w") is not None \
            and abs(lim["current_w"] - lim["default_w"]) > 0.5:
        parts.append(f"(CHANGED from its default {lim['default_w']:.0f} W)")
    if (g.get("mig_mode") or {}).get("current"):
        parts.append("MIG mode on")
    return f"[bold]GPU {g['index']}[/] " + escape(" ".join(p for p in parts if p))


def _record_json(path: Any, rec: Any) -> dict[str, Any]:
    """A power-limit record as `info` shows it: what it holds, and what happens to it."""
    if rec is None:
        return {"file": str(path), "text": f"{path}: unreadable record (remove it by hand)"}
    running = rec.alive()
    state = (f"benchhash pid {rec.pid} is running and puts it back when it ends" if running else
             f"benchhash pid {rec.pid} did not finish; the next `benchhash run` puts it back")
    at = f"at {rec.set_w:g} W, " if rec.set_w is not None else ""
    return {"file": str(path), "running": running, **rec.__dict__,
            "text": f"GPU {rec.pci_bus_id}: {at}original {rec.original_w:g} W; {state} ({path})"}


def _workloads() -> list[dict[str, Any]]:
    """Every workload this benchhash can run (built-in and plug-in) with its options, as --opt
    takes them; a plug-in that cannot be loaded, with why."""
    from benchhash.errors import BenchhashError
    from benchhash.workloads import load, registry
    from benchhash.workloads.options import describe
    rows: list[dict[str, Any]] = []
    for name in registry():
        try:
            cls = load(name)
        except BenchhashError as exc:
            rows.append({"name": name, "error": str(exc)})
            continue
        rows.append({"name": name, "version": cls.version, "description": cls.description,
                     "options": describe(name, cls.options_model)})
    return rows


def _print_workloads(rows: list[dict[str, Any]]) -> None:
    for w in rows:
        if "error" in w:
            out.print(f"[bold]workload[/] {escape(w['name'])}: cannot load ({escape(w['error'])})")
            continue
        out.print(f"[bold]workload[/] {escape(w['name'])} (version {escape(str(w['version']))}): "
                  f"{escape(w['description'])}")
        for o in w["options"]:
            out.print(f"    --opt {escape(o['option'])}=...  {escape(o['takes'])}")


def info(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """CPU, GPUs and the scan backends this machine can run (and why not)."""
    from benchhash.hw.backends import cuda_probe_steps, status
    from benchhash.hw.cpu import cpu as cpu_info
    from benchhash.hw.gpus import gpus as gpu_info
    from benchhash.hw.power import records
    from benchhash.meters import energy_here

    cpu = cpu_info()
    found, gpu_reason = gpu_info()
    left = [_record_json(path, rec) for path, rec in records(socket.gethostname())]
    gpus = [g.model_dump(mode="json") for g in found]
    backends = status()
    probe = cuda_probe_steps()
    energy = energy_here([g.index for g in found])
    loads = _workloads()
    if as_json:
        print(json.dumps({"cpu": cpu.model_dump(mode="json"), "gpus": gpus, "gpu_reason": gpu_reason,
                          "backends": backends, "cuda_probe": probe, "power_limit_records": left,
                          "energy": [{"device": d, "how": h, "measurable": ok} for d, h, ok in energy],
                          "workloads": loads}, default=list))
        return
    flags = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu.flags.items())
    out.print(f"[bold]CPU[/] {escape(str(cpu.model))} ({cpu.usable_cores}/{cpu.logical_cores} cores usable)")
    out.print(f"    {flags}")
    for g in gpus:
        out.print(_gpu_line(g))
        for key, why in sorted(g.get("unavailable", {}).items()):
            out.print(f"    {escape(key)}: unavailable ({escape(why)})")
    if not gpus:
        out.print(f"[bold]GPU[/] none ({escape(str(gpu_reason))})")
    for r in left:
        out.print("[bold]power limit left changed[/] " + escape(r["text"]))
    for name, reason in backends.items():
        out.print(f"backend {name}: " + ("available" if reason is None else f"unavailable - {escape(reason)}"))
    if backends.get("cuda") is not None:
        out.print("    cuda probe: " + ", ".join(
            f"{k} {'ok' if v is None else ('not tried' if v == 'not tried' else 'FAILED')}"
            for k, v in probe.items()))
    for where, how, ok in energy:
        out.print(f"[bold]energy[/] {where}: " + (escape(how) if ok else
                  f"none - {escape(how)}: runs here give rates but no per-joule figures, and econ cannot price them"))
    _print_workloads(loads)
