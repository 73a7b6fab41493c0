"""The consistency checks `verify` runs on a result: everything that follows from the trials must
follow from them (statistics, energies, efficiencies, summaries), the file must say what it is
(complete means every trial of every phase is there), times must be possible, telemetry must fit
the windows it claims (however few its samples), each trial's wall-clock stamps must agree with
its seconds and lie within the run, the validity and warnings must be the ones its trials give,
and no rate may exceed what the device can do. Each check returns the problems it found, worded
for a person; [] when it holds."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from benchhash.results.build import derived_warnings
from benchhash.results.model import Result, Stats, Trial, WorkloadResult, label
from benchhash.stats import summarize
from benchhash.units import parse_utc, si, utc_stamp
from benchhash.workloads import known

REL_TOL = 1e-9
#: a meter window (and a trial's wall-clock stamps) enclose its trial's window, with
#: synchronisation on both sides: milliseconds in every published file
METER_SLACK_S = 0.25
METER_RATIO = 1.1
#: a polling meter samples once per interval (starved threads on a busy machine may miss some):
#: a window holds at least this share of the samples it should
MIN_SAMPLE_SHARE = 0.25
#: a polled power mean and the window's average power: a counter and instant power agree within
#: a few percent; more than this apart, one of them was edited
POWER_RATIO = 1.5
#: created_utc and finished_utc are to the second
CLOCK_SLACK_S = 2.0
#: clocks of honest machines disagree by seconds; a time more than a day ahead is not a clock
FUTURE_S = 86_400
EARLIEST = "2020-01-01T00:00:00Z"


def close(a: float | None, b: float | None, rel: float = REL_TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def _stats_problems(name: str, what: str, stored: Stats | None, values: list[float | None]) -> list[str]:
    if not values or any(v is None for v in values):
        return [] if stored is None else [f"{name}: stats.{what} given, but not every trial has one"]
    again = summarize([v for v in values if v is not None])
    if stored is None:
        return [f"{name}: stats.{what} missing although every trial has one"]
    for field in ("n", "median", "mad", "mean", "stdev", "min", "max"):
        if not close(getattr(stored, field), getattr(again, field)):
            return [f"{name}: stats.{what}.{field} {getattr(stored, field)!r} does not follow "
                    f"from the trials ({getattr(again, field)!r})"]
    return []


def trial_problems(name: str, t: Trial, interval_s: float | None) -> list[str]:
    """A trial's own figures against each other."""
    where, e = f"{name} trial {t.index}", t.energy
    out = []
    if not close(t.rate, t.work / t.seconds):
        out.append(f"{where}: rate {t.rate:.6g} is not work/seconds ({t.work / t.seconds:.6g})")
    if e.energy_j is not None and not close(e.average_w, e.energy_j / e.seconds if e.seconds else None):
        out.append(f"{where}: average_w is not energy_j / seconds")
    if e.energy_j is None and e.average_w is not None:
        out.append(f"{where}: average_w without energy_j")
    if t.work_per_joule is not None and not close(t.work_per_joule, t.work / e.energy_j if e.energy_j else None):
        out.append(f"{where}: work_per_joule is not work/energy_j")
    if not t.seconds * (1 - 1e-6) - 1e-3 <= e.seconds <= t.seconds * METER_RATIO + METER_SLACK_S:
        out.append(f"{where}: the meter window ({e.seconds:.4g} s) does not enclose the trial ({t.seconds:.4g} s)")
    return out + _counter_problems(where, t) + _telemetry_problems(where, t, interval_s) + _stamp_problems(where, t)


def _stamp_problems(where: str, t: Trial) -> list[str]:
    """The wall clock when the window opened and closed against the trial's seconds."""
    if t.started_unix_s is None or t.ended_unix_s is None:
        return []
    window = t.ended_unix_s - t.started_unix_s
    if t.seconds * (1 - 1e-6) - METER_SLACK_S <= window <= t.seconds * METER_RATIO + METER_SLACK_S:
        return []
    return [f"{where}: its window opened and closed {window:.4g} s apart on the wall clock, but the trial "
            f"claims {t.seconds:.4g} s (the seconds were edited?)"]


def _counter_problems(where: str, t: Trial) -> list[str]:
    e = t.energy
    out = []
    if e.counter_energy_j is not None and "counter" in e.method and not close(e.energy_j, e.counter_energy_j):
        out.append(f"{where}: energy_j is not the counter's energy although the counter is the method")
    if e.method.endswith("polling") and e.polled_energy_j is not None and not close(e.energy_j, e.polled_energy_j):
        out.append(f"{where}: energy_j is not the polled energy although polling is the method")
    if e.gap_pct is not None:
        want = 100 * (e.polled_energy_j - e.counter_energy_j) / e.counter_energy_j \
            if e.polled_energy_j is not None and e.counter_energy_j else None
        if not close(e.gap_pct, want, 1e-6):
            out.append(f"{where}: gap_pct does not follow from the counter and polled energies")
    return out


def _telemetry_problems(where: str, t: Trial, interval_s: float | None) -> list[str]:
    """Polled telemetry against its window: as many samples as the interval allows (no more,
    and not far fewer), and a polled mean that agrees with the window's average power however
    few samples there are (each window has its two edge samples)."""
    tel, e = t.telemetry, t.energy
    if tel is None:
        return []
    out = []
    if interval_s and tel.samples > e.seconds / interval_s + 3:
        out.append(f"{where}: {tel.samples} power samples cannot fit in {e.seconds:.3g} s at "
                   f"one per {interval_s:g} s (the seconds were shortened?)")
    if interval_s and tel.samples < max(2.0, MIN_SAMPLE_SHARE * e.seconds / interval_s):
        out.append(f"{where}: {tel.samples} power samples in {e.seconds:.3g} s at one per {interval_s:g} s: "
                   "far fewer than the meter takes (samples removed, or the seconds lengthened?)")
    if tel.samples >= 2 and tel.power_w_mean and e.average_w:
        ratio = e.average_w / tel.power_w_mean
        if not 1 / POWER_RATIO <= ratio <= POWER_RATIO:
            out.append(f"{where}: average power {e.average_w:.4g} W but polled power averaged "
                       f"{tel.power_w_mean:.4g} W (seconds or joules edited?)")
    return out


def phase_problems(w: WorkloadResult, interval_s: float | None) -> list[str]:
    """A phase's trials, and its summaries against its trials."""
    name = w.label
    out: list[str] = []
    for t in w.trials:
        out += trial_problems(name, t, interval_s)
    out += _stats_problems(name, "rate", w.stats.rate, [t.rate for t in w.trials])
    out += _stats_problems(name, "work_per_joule", w.stats.work_per_joule, [t.work_per_joule for t in w.trials])
    out += _stats_problems(name, "power_w", w.stats.power_w, [t.energy.average_w for t in w.trials])
    return out + _summary_problems(w)


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(sum(v or 0.0 for v in values))


def _summary_problems(w: WorkloadResult) -> list[str]:
    name, s = w.label, w.energy
    energies = [t.energy for t in w.trials]
    out = []
    for field in ("energy_j", "counter_energy_j", "polled_energy_j"):
        if w.trials and not close(getattr(s, field), _sum([getattr(e, field) for e in energies]), 1e-9):
            out.append(f"{name}: energy.{field} is not the sum over the trials")
    meter_s = sum(e.seconds for e in energies)
    if s.energy_j is not None and meter_s > 0 and not close(s.average_w, s.energy_j / meter_s):
        out.append(f"{name}: energy.average_w is not energy_j over the trials' seconds")
    median = w.stats.work_per_joule.median if w.stats.work_per_joule else None
    if not close(w.efficiency.work_per_joule, median):
        out.append(f"{name}: efficiency.work_per_joule is not the median over the trials")
    if not close(w.efficiency.joules_per_unit, 1 / median if median else None):
        out.append(f"{name}: efficiency.joules_per_unit is not 1 / work_per_joule")
    return out


def time_problems(r: Result) -> list[str]:
    """Times that cannot be: backwards, in the future, less wall time than the trials took, or
    trial windows outside the run or out of order."""
    created, finished = parse_utc(r.created_utc), parse_utc(r.finished_utc)
    out = []
    if r.created_utc < EARLIEST:
        out.append(f"created_utc {r.created_utc} is before benchhash existed")
    if finished < created:
        out.append(f"finished_utc {r.finished_utc} is before created_utc {r.created_utc}")
    if (finished - datetime.now(UTC)).total_seconds() > FUTURE_S:
        out.append(f"finished_utc {r.finished_utc} is in the future")
    measured = sum(sum(t.seconds for t in w.trials) + (w.warmup.seconds if w.warmup else 0.0)
                   + (w.compile_s or 0.0) for w in r.workloads)
    wall = (finished - created).total_seconds()
    if measured > wall + CLOCK_SLACK_S:
        out.append(f"the trials, warm-ups and compile steps took {measured:.1f} s but the run "
                   f"lasted {wall:.0f} s (created to finished)")
    return out + _window_problems(r, created.timestamp(), finished.timestamp())


def _window_problems(r: Result, created: float, finished: float) -> list[str]:
    """Each stamped trial window inside the run (created to finished, on the wall clock) and
    after the one before it."""
    out = []
    for w in r.workloads:
        last = None
        for t in w.trials:
            if t.started_unix_s is None or t.ended_unix_s is None:
                continue
            if not created - CLOCK_SLACK_S <= t.started_unix_s <= t.ended_unix_s <= finished + CLOCK_SLACK_S:
                out.append(f"{w.label} trial {t.index}: its window ({utc_stamp(t.started_unix_s)} to "
                           f"{utc_stamp(t.ended_unix_s)}) is not within the run ({r.created_utc} to {r.finished_utc})")
            elif last is not None and t.started_unix_s < last - METER_SLACK_S:
                out.append(f"{w.label} trial {t.index}: its window opened before the trial before it closed")
            last = t.ended_unix_s
    return out


def completeness_problems(r: Result) -> list[str]:
    """What the file says it is: complete means every trial of every phase is there."""
    out = []
    for w in r.workloads:
        indexes = [t.index for t in w.trials]
        if indexes != list(range(len(indexes))):
            out.append(f"{w.label}: trial indexes {indexes} are not 0..{len(indexes) - 1}")
        if len(w.trials) > r.config.trials:
            out.append(f"{w.label}: {len(w.trials)} trials, more than the {r.config.trials} configured")
        if w.complete and len(w.trials) != r.config.trials:
            out.append(f"{w.label}: marked complete with {len(w.trials)} of {r.config.trials} trials")
    if r.complete:
        if not r.workloads or not any(w.trials for w in r.workloads):
            out.append("marked complete, but it holds no measured phase")
        if r.failures or r.stopped:
            out.append("marked complete, but it records failures or a stop")
        out += [f"{w.label}: phase not complete in a file marked complete" for w in r.workloads if not w.complete]
        missing = set(r.config.workloads) - {w.workload for w in r.workloads}
        if missing:
            out.append(f"marked complete, but configured workload(s) {sorted(missing)} have no phase")
    return out


def known_problems(r: Result) -> list[str]:
    """Workloads and phases benchhash knows, and each workload's own checks."""
    out = []
    for w in r.workloads:
        workload = known(w.workload)
        if workload is None:
            out.append(f"{w.label}: {w.workload!r} is not a workload benchhash knows")
            continue
        pattern = workload.phase_names()
        if pattern is not None and not re.fullmatch(pattern, w.phase):
            out.append(f"{w.label}: {w.phase!r} is not a phase of {w.workload}")
        out += workload.check_result(w, r)
        bound = workload.max_rate(w, r)
        if bound is not None and w.trials and max(t.rate for t in w.trials) > bound[0]:
            out.append(f"{w.label}: {si(max(t.rate for t in w.trials), w.rate_unit)} is more than "
                       f"this device can do ({si(bound[0], w.rate_unit)}: {bound[1]})")
    return out


def validity_problems(r: Result) -> list[str]:
    """A phase's validity is its completeness, and (from v5, whose warnings this benchhash
    writes) every warning its trials give is among its warnings: none can be taken out."""
    out = []
    for w in r.workloads:
        if w.validity.valid != (w.complete and bool(w.trials)):
            out.append(f"{w.label}: validity.valid is {w.validity.valid}, but the phase is "
                       f"{'complete' if w.complete else 'incomplete'} with {len(w.trials)} trial(s)")
        if r.stored_version < 5:
            continue
        metered = not any(t.energy.energy_j and t.work_per_joule is None for t in w.trials)
        want = derived_warnings(w.trials, r.config, w.complete, metered, w.warmup, w.load)
        missing = [x for x in want if x not in w.validity.warnings]
        if missing:
            out.append(f"{w.label}: the warning {missing[0]!r} follows from its trials but is not among its warnings")
    return out


def interval_of(r: Result) -> float | None:
    value: Any = r.environment.meter.get("interval_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def cap_problems(r: Result) -> list[str]:
    """Power limits: each phase's (and failure's) among the run's, only on a GPU, and each phase
    once per limit (a phase is itself by workload, phase and limit)."""
    out = []
    listed = set(r.config.power_limits_w)
    caps = [(w.label, w.power_limit_w) for w in r.workloads if w.power_limit_w is not None]
    caps += [(f.label, f.power_limit_w) for f in r.failures if f.power_limit_w is not None]
    out += [f"{name}: power limit {w:g} W is not one of the run's ({sorted(listed) or 'none'})"
            for name, w in caps if w not in listed]
    if (caps or listed) and r.device.kind != "cuda":
        out.append(f"power limits on a {r.device.kind} device: only a GPU's limit can be set")
    keys = [w.key for w in r.workloads]
    out += [f"{label(*k)}: the same phase at the same power limit appears {keys.count(k)} times"
            for k in dict.fromkeys(keys) if keys.count(k) > 1]
    return out


def result_problems(r: Result) -> list[str]:
    """Every consistency problem of a parsed result."""
    out = time_problems(r) + completeness_problems(r) + known_problems(r) + cap_problems(r) + validity_problems(r)
    interval = interval_of(r)
    for w in r.workloads:
        out += phase_problems(w, interval)
    if r.idle is not None and r.idle.energy_j is not None and r.idle.seconds > 0 \
            and not close(r.idle.average_w, r.idle.energy_j / r.idle.seconds):
        out.append("idle: average_w is not energy_j / seconds")
    return out
