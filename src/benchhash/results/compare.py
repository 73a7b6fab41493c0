"""`benchhash compare REF NEW`: per workload phase the ratio of medians and whether the change is
real. Welch's t-test on the raw trial rates (as pyperf does; it works from 2 trials a side), with
Mann-Whitney U beside it once both sides have 4 or more trials. Different methodology, device
model, unit or parameters make a pair incomparable rather than better or worse; a different
kernel or launch shape (``params.launch``) is said beside the verdict."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from benchhash.results.model import Result, WorkloadResult, label

ALPHA = 0.05


@dataclass
class Row:
    workload: str
    unit: str
    ref_median: float | None
    new_median: float | None
    ratio: float | None
    p_value: float | None
    mann_whitney_p: float | None
    mark: str               # better | worse | not significant | incomparable | missing
    reason: str | None = None
    note: str | None = None  # comparable, but said: e.g. a different kernel or launch shape

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key(w: WorkloadResult) -> tuple[str, str, float | None]:
    return w.key


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p of Welch's t-test; 0 or 1 when both sides have no spread."""
    if len(a) < 2 or len(b) < 2:
        return None
    if statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0:
        return 1.0 if statistics.fmean(a) == statistics.fmean(b) else 0.0
    from scipy.stats import ttest_ind
    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def mann_whitney_p(a: list[float], b: list[float]) -> float | None:
    if len(a) < 4 or len(b) < 4:
        return None
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def incomparable(ref: Result, new: Result, r: WorkloadResult, n: WorkloadResult) -> str | None:
    if ref.methodology_version != new.methodology_version:
        return f"methodology version {ref.methodology_version} vs {new.methodology_version}"
    if r.device != n.device:
        return f"device {r.device!r} vs {n.device!r}"
    if r.unit != n.unit:
        return f"unit {r.unit} vs {n.unit}"
    if _identity(r.params) != _identity(n.params):
        return f"parameters {_identity(r.params)} vs {_identity(n.params)}"
    return None


def _identity(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that make the work itself; ``launch`` (CPU kernel, GPU launch shape) is how
    the same work was run, which is what a before/after of a kernel compares."""
    return {k: v for k, v in params.items() if k != "launch"}


def launch_note(r: WorkloadResult, n: WorkloadResult) -> str | None:
    a, b = r.params.get("launch"), n.params.get("launch")
    return None if a == b else f"launch {a or 'not recorded'} vs {b or 'not recorded'}"


def compare(ref: Result, new: Result) -> list[Row]:
    rows = []
    refs = {_key(w): w for w in ref.workloads}
    news = {_key(w): w for w in new.workloads}
    for key in list(refs) + [k for k in news if k not in refs]:
        name = label(*key)
        r, n = refs.get(key), news.get(key)
        if r is None or n is None:
            w = r or n
            assert w is not None
            rows.append(Row(name, w.unit, None, None, None, None, None, "missing",
                            "only in " + ("REF" if n is None else "NEW")))
            continue
        a, b = [t.rate for t in r.trials], [t.rate for t in n.trials]
        rm = statistics.median(a) if a else None
        nm = statistics.median(b) if b else None
        ratio = nm / rm if rm and nm is not None else None
        why = incomparable(ref, new, r, n)
        p, mw = welch_p(a, b), mann_whitney_p(a, b)
        if why:
            mark = "incomparable"
        elif p is None or ratio is None:
            mark, why = "not significant", "too few trials to test"
        elif p < ALPHA and (mw is None or mw < ALPHA):
            mark = "better" if ratio > 1 else "worse"
        else:
            mark = "not significant"
        rows.append(Row(name, r.unit, rm, nm, ratio, p, mw, mark, why, launch_note(r, n)))
    return rows


def regressions(rows: list[Row], threshold_pct: float) -> list[Row]:
    """Significant slow-downs larger than the threshold."""
    return [r for r in rows if r.mark == "worse" and r.ratio is not None
            and (1 - r.ratio) * 100 > threshold_pct]


def _p(p: float | None) -> str:
    return "no test" if p is None else ("p < 0.001" if p < 0.001 else f"p = {p:.3g}")


def sentence(r: Row) -> str:
    """A row as a person reads it: both medians, the change, the p-value and the verdict."""
    return _verdict(r) + (f" [{r.note}]" if r.note else "")


def _verdict(r: Row) -> str:
    from benchhash.report.units import si
    unit = f"{r.unit}/s"
    if r.mark == "missing":
        return f"{r.workload}: {r.reason}"
    medians = f"{si(r.ref_median, unit)} -> {si(r.new_median, unit)}"
    change = "" if r.ratio is None else f" ({100 * (r.ratio - 1):+.1f} %)"
    if r.mark == "incomparable":
        return f"{r.workload}: {medians}{change}; incomparable: {r.reason}"
    if r.mark in ("better", "worse"):
        word = "faster" if r.mark == "better" else "slower"
        return (f"{r.workload}: {medians}{change}, {_p(r.p_value)}: {r.mark}, "
                f"{abs(100 * ((r.ratio or 1) - 1)):.1f} % {word} and significant")
    why = r.reason or "the difference is within the trials' noise"
    return f"{r.workload}: {medians}{change}, {_p(r.p_value)}: not significant ({why})"
