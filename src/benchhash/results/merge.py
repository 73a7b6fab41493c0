"""`benchhash merge FILE... -o FLEET.json`: node results into one fleet file. Each node keeps its
full provenance and its file's integrity digest; totals add rates and watts per workload phase
across nodes (work per joule of the fleet = total rate / total watts). A file that fails
verify, the same file twice, or two files of the same host and start time are refused."""

from __future__ import annotations

from typing import Any

from benchhash.errors import InputError
from benchhash.results import io
from benchhash.results.build import utc_now
from benchhash.results.model import Result
from benchhash.results.verify import load_verified

FLEET_SCHEMA_VERSION = 1


def node_rows(result: Result) -> list[dict[str, Any]]:
    """A node's row per phase, as the fleet file records it."""
    return [{"workload": w.label, "unit": w.unit,
             "rate": w.stats.rate.median if w.stats.rate else None,
             "average_w": w.energy.average_w, "work_per_joule": w.efficiency.work_per_joule,
             "valid": w.validity.valid} for w in result.workloads]


def _add(totals: dict[str, dict[str, Any]], row: dict[str, Any], path: str) -> None:
    t = totals.setdefault(row["workload"], {"workload": row["workload"], "unit": row["unit"],
                                            "nodes": 0, "rate": 0.0, "average_w": 0.0, "watts_complete": True})
    if t["unit"] != row["unit"]:
        raise InputError(f"{path}: {row['workload']} is in {row['unit']}, other nodes report {t['unit']}")
    t["nodes"] += 1
    t["rate"] += row["rate"] or 0.0
    if row["average_w"] is None:
        t["watts_complete"] = False
    else:
        t["average_w"] += row["average_w"]


def merge(paths: list[str]) -> dict[str, Any]:
    if len(paths) < 1:
        raise InputError("merge needs at least one result file")
    nodes = []
    totals: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for path in paths:
        result, raw = load_verified(path)
        digest = raw["integrity"]["digest"]
        for key, what in ((digest, "the same file as"), (f"{result.environment.host}@{result.created_utc}",
                                                          "the same host and start time as")):
            if key in seen:
                raise InputError(f"{path} is {what} {seen[key]}: a node counts once")
            seen[key] = path
        rows = node_rows(result)
        for row in rows:
            _add(totals, row, path)
        nodes.append({"file": str(path), "integrity": digest, "run_id": result.run_id,
                      "host": result.environment.host, "device": result.device.model_dump(mode="json"),
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
