"""Turn what the runner recorded (runner.RunRecord) and the provenance into a Result v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from benchhash import __version__
from benchhash.device import Device
from benchhash.meters.base import Reading, Telemetry
from pydantic import ValidationError

from benchhash.results.schema import (
    METHODOLOGY_VERSION, PROOF_MODELS, SCHEMA_VERSION, Result, WorkloadResult,
)
from benchhash.runner import Failure, PhaseRecord, RunConfig, RunRecord
from benchhash.stats import stability_warnings, summarize

#: Clock-event reasons that mean the clocks were held back by power or heat.
LIMITING = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
            "hw_power_brake_slowdown")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def energy_json(r: Reading) -> dict[str, Any]:
    return {"seconds": r.seconds, "energy_j": r.energy_j, "average_w": r.average_w,
            "method": r.method, "reason": r.reason, "counter_energy_j": r.counter_energy_j,
            "polled_energy_j": r.polled_energy_j, "gap_pct": r.gap_pct,
            "domains_j": dict(r.domains_j), "warnings": list(r.warnings)}


def _telemetry(t: Telemetry | None) -> dict[str, Any] | None:
    return None if t is None else t.to_json()


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


def check_proofs(rec: PhaseRecord) -> None:
    """A workload's proofs must match the model registered for it (a bug otherwise)."""
    models = PROOF_MODELS.get(rec.workload)
    if models is None:
        return
    if rec.proof is not None:
        models[0].model_validate(rec.proof)
    for t in rec.trials:
        if t.window.proof is not None:
            models[1].model_validate(t.window.proof)


def _drop_proofs(rec: PhaseRecord) -> None:
    """A proof that does not validate is no proof: keep the measurements, drop the evidence."""
    rec.proof = None
    for t in rec.trials:
        t.window.proof = None


def phase_json(rec: PhaseRecord, cfg: RunConfig) -> dict[str, Any]:
    trials = []
    for t in rec.trials:
        e = t.energy
        wpj = t.window.work / e.energy_j if e.energy_j and rec.metered else None
        trials.append({"index": t.index, "work": t.window.work, "seconds": t.window.seconds,
                       "rate": t.window.rate, "work_per_joule": wpj, "energy": energy_json(e),
                       "telemetry": _telemetry(e.telemetry), "metrics": dict(t.window.metrics),
                       "proof": t.window.proof})
    rates = [t["rate"] for t in trials]
    wpjs = [t["work_per_joule"] for t in trials]
    watts = [t["energy"]["average_w"] for t in trials]
    readings = [t.energy for t in rec.trials]
    energy_j = _sum([r.energy_j for r in readings])
    meter_s = sum(r.seconds for r in readings)
    counter = _sum([r.counter_energy_j for r in readings])
    polled = _sum([r.polled_energy_j for r in readings])
    methods = sorted({r.method for r in readings})
    stats = {
        "rate": summarize(rates).to_json() if rates else None,
        "work_per_joule": summarize(wpjs).to_json() if wpjs and None not in wpjs else None,  # type: ignore[arg-type]
        "power_w": summarize(watts).to_json() if watts and None not in watts else None,  # type: ignore[arg-type]
    }
    warnings: list[str] = list(dict.fromkeys(rec.notes))
    if not rec.metered:
        warnings.append("the meter read another device than the one doing this work: "
                        "no per-joule figures")
    if not rec.complete:
        warnings.append(f"incomplete: {len(trials)} of {cfg.trials} trial(s) finished")
    if rates:
        warnings += stability_warnings(summarize(rates), [t["seconds"] for t in trials])
    if rec.warmup is not None and rec.warmup.windows and not rec.warmup.settled:
        warnings.append(f"warm-up did not settle within {rec.warmup.max_s:g} s")
    if readings and energy_j is None:
        reason = next((r.reason for r in readings if r.energy_j is None), None)
        warnings.append(f"no energy reading: {reason}")
    for r in readings:
        warnings += [w for w in r.warnings if w not in warnings]
    limited: dict[str, float] = {}
    for r in readings:
        for name, share in (r.telemetry.throttle_share if r.telemetry else {}).items():
            if name in LIMITING:
                limited[name] = max(limited.get(name, 0.0), share)
    if limited:
        warnings.append("clocks limited: " + ", ".join(
            f"{k} in up to {100 * v:.0f} % of samples" for k, v in sorted(limited.items())))
    med_wpj = stats["work_per_joule"]["median"] if stats["work_per_joule"] else None
    return {
        "workload": rec.workload, "phase": rec.phase, "unit": rec.unit,
        "rate_unit": f"{rec.unit}/s", "device": rec.device, "backend": rec.backend,
        "params": rec.params, "complete": rec.complete,
        "warmup": None if rec.warmup is None else {
            "max_s": rec.warmup.max_s, "seconds": rec.warmup.seconds,
            "settled": rec.warmup.settled, "windows": rec.warmup.windows},
        "trials": trials,
        "stats": stats,
        "energy": {
            "energy_j": energy_j,
            "average_w": energy_j / meter_s if energy_j is not None and meter_s > 0 else None,
            "method": methods[0] if len(methods) == 1 else ("mixed: " + ", ".join(methods) if methods else "none"),
            "reason": next((r.reason for r in readings if r.reason), None),
            "counter_energy_j": counter, "polled_energy_j": polled,
            "gap_pct": 100 * (polled - counter) / counter if counter and polled is not None else None,
        },
        "efficiency": {"work_per_joule": med_wpj,
                       "joules_per_unit": 1 / med_wpj if med_wpj else None,
                       "unit": f"{rec.unit}/J"},
        "validity": {"valid": rec.complete and bool(trials), "warnings": warnings},
        "metrics": dict(rec.metrics),
        "proof": rec.proof,
        "compile_s": rec.compile_s,
    }


def phase_result(rec: PhaseRecord, cfg: RunConfig, failures: list[Failure]) -> WorkloadResult | None:
    """The phase as a validated model. A proof that does not validate is dropped (and recorded
    as a failure); a phase that still cannot be built becomes a failure: what the other phases
    measured is never lost to it."""
    try:
        check_proofs(rec)
    except ValidationError as exc:
        failures.append(Failure.of(rec.workload, rec.phase, "proof", exc))
        rec.notes.append("its proof of work was malformed and was dropped (a benchhash bug)")
        _drop_proofs(rec)
    try:
        return WorkloadResult.model_validate(phase_json(rec, cfg))
    except Exception as exc:  # noqa: BLE001 - e.g. a NaN rate from a broken workload
        failures.append(Failure.of(rec.workload, rec.phase, "build", exc))
        return None


def _same_pci(a: str | None, b: str | None) -> bool:
    def key(s: str) -> tuple[int, ...] | None:
        try:
            dom, bus, rest = s.lower().split(":")
            dev, fn = rest.split(".")
            return int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)
        except ValueError:
            return None
    return a is not None and b is not None and key(a) is not None and key(a) == key(b)


def finish_gpus(before: list[dict[str, Any]], after: list[dict[str, Any]], device: Device,
                session: Telemetry | None) -> list[dict[str, Any]]:
    """GPU provenance with temperatures after the run and the measured GPU's throttle record."""
    out = []
    for g in before:
        g = dict(g)
        later = next((x for x in after if x["index"] == g["index"]), None)
        temps = dict(g["temperature_c"])
        temps["after"] = later["temperature_c"]["before"] if later else None
        seen = [v for v in (temps["before"], temps["after"]) if v is not None]
        measured = device.kind == "cuda" and (_same_pci(g.get("pci_bus_id"), device.pci_bus_id)
                                              or (device.pci_bus_id is None and g["index"] == device.index))
        g["measured"] = measured
        if measured and session is not None:
            if session.temperature_c_max is not None:
                seen.append(session.temperature_c_max)
            g["throttle"] = {"union": sorted(session.throttle_share),
                             "share": dict(session.throttle_share)}
        temps["max"] = max(seen) if seen else None
        g["temperature_c"] = temps
        out.append(g)
    return out


def build(record: RunRecord, *, device: Device, config: RunConfig, config_json: dict[str, Any],
          env: dict[str, Any], created_utc: str) -> Result:
    failures = list(record.failures)
    failed = {(f.workload, f.phase) for f in failures}
    kept = [r for r in record.phases if r.trials or (r.workload, r.phase) not in failed]
    phases = [p for p in (phase_result(r, config, failures) for r in kept) if p is not None]
    idle = None
    if record.idle is not None:
        r = record.idle
        idle = {"seconds": r.seconds, "energy_j": r.energy_j, "average_w": r.average_w,
                "method": r.method, "reason": r.reason, "telemetry": _telemetry(r.telemetry)}
    return Result.model_validate({
        "schema_version": SCHEMA_VERSION,
        "methodology_version": METHODOLOGY_VERSION,
        "benchhash_version": __version__,
        "created_utc": created_utc,
        "finished_utc": utc_now(),
        "complete": record.complete and all(p.complete for p in record.phases) and not failures,
        "stopped": record.stopped,
        "device": {"kind": device.kind, "index": device.index, "label": device.label,
                   "name": device.name},
        "environment": env,
        "config": config_json,
        "idle": idle,
        "workloads": phases,
        "failures": [f.to_json() for f in failures],
    })
