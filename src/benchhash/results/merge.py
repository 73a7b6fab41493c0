"""`benchhash merge FILE... -o FLEET.json`: node results into one fleet file. Each node keeps its
full provenance and its file's integrity digest; totals add rates and watts per workload phase
across nodes (work per joule of the fleet = total rate / total watts)."""

from __future__ import annotations

from typing import Any

from benchhash.errors import InputError
from benchhash.results import io
from benchhash.results.build import utc_now

FLEET_SCHEMA_VERSION = 1


def merge(paths: list[str]) -> dict[str, Any]:
    if len(paths) < 1:
        raise InputError("merge needs at least one result file")
    nodes = []
    totals: dict[str, dict[str, Any]] = {}
    for path in paths:
        result, raw = io.load(path)
        bad = io.integrity_problem(raw)
        if bad:
            raise InputError(f"{path}: {bad}; run `benchhash verify` on it")
        rows = []
        for w in result.workloads:
            name = w.label
            rate = w.stats.rate.median if w.stats.rate else None
            rows.append({"workload": name, "unit": w.unit, "rate": rate,
                         "average_w": w.energy.average_w,
                         "work_per_joule": w.efficiency.work_per_joule, "valid": w.validity.valid})
            t = totals.setdefault(name, {"workload": name, "unit": w.unit, "nodes": 0, "rate": 0.0,
                                         "average_w": 0.0, "watts_complete": True})
            if t["unit"] != w.unit:
                raise InputError(f"{path}: {name} is in {w.unit}, other nodes report {t['unit']}")
            t["nodes"] += 1
            t["rate"] += rate or 0.0
            if w.energy.average_w is None:
                t["watts_complete"] = False
            else:
                t["average_w"] += w.energy.average_w
        nodes.append({"file": str(path), "integrity": raw["integrity"]["digest"],
                      "host": result.environment.host, "device": result.device.model_dump(),
                      "complete": result.complete, "created_utc": result.created_utc,
                      "workloads": rows, "environment": result.environment.model_dump(mode="json")})
    for t in totals.values():
        if not t.pop("watts_complete"):
            t["average_w"] = None
        t["work_per_joule"] = t["rate"] / t["average_w"] if t["average_w"] else None
    fleet: dict[str, Any] = {"fleet_schema_version": FLEET_SCHEMA_VERSION, "created_utc": utc_now(),
                             "nodes": nodes, "totals": list(totals.values())}
    fleet["integrity"] = {"algorithm": "sha256", "digest": io.digest_of(fleet)}
    return fleet
