"""`benchhash compare REF NEW`: per workload phase the ratio of medians and whether the change is
real. Welch's t-test on the raw trial rates (as pyperf does; it works from 2 trials a side), with
Mann-Whitney U beside it once both sides have 4 or more trials. Different methodology, workload
version, device model, unit or parameters make a pair incomparable rather than better or worse; a different
kernel or launch shape (``params.launch``) is said beside the verdict, and so is a side measured
on a busy machine (its phase's ``load``): a difference found there may be the load's.

It fails closed: both files must verify and prove what they claim (or be taken on their word with
--allow-unverified, said in every row), names are compared as NFKC normalises them (a name with
an invisible or control character is refused), and a phase of REF that cannot be compared is
its own exit code (INCOMPARABLE), never a pass."""

from __future__ import annotations

import math
import statistics
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.results import io
from benchhash.results.build import WORKLOAD_VERSION
from benchhash.results.model import Result, WorkloadResult, label
from benchhash.review.consistency import text_problems
from benchhash.review.result import verify_result
from benchhash.review.verdict import require
from benchhash.units import si

ALPHA = 0.05
#: compare's exit code when a phase of REF could not be compared
INCOMPARABLE = 3


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
    busy: str | None = None  # which side ran on a machine others were using, and how much
    unverified: str | None = None  # a side taken on its word (--allow-unverified), and why

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def norm(text: str) -> str:
    """A name as compare matches it: NFKC (fullwidth and compatibility forms are their plain
    letters), case and runs of spaces aside."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _key(w: WorkloadResult) -> tuple[str, str, float | None]:
    return norm(w.workload), norm(w.phase), w.power_limit_w


def load(path: str | Path, allow_unverified: bool) -> tuple[Result, str | None]:
    """A side of the comparison: a result that verifies and proves what it claims, or one taken
    on its word (allow_unverified), with why; a name with hidden characters is always refused."""
    result, raw = io.load(path)
    hidden = text_problems(result)
    if hidden:
        raise InputError(f"{path}: {hidden[0]}; compare refuses it")
    v = require(verify_result(raw, str(path)), ": compare refuses it", allow_unverified, even_failing=True)
    said = v.problems or v.unproven
    return result, f"{path} compared on its word ({said[0]})" if said else None


def compared(ref: str | Path, new: str | Path, allow_unverified: bool = False) -> list[Row]:
    """The rows of `benchhash compare REF NEW`."""
    (a, why_a), (b, why_b) = load(ref, allow_unverified), load(new, allow_unverified)
    rows = compare(a, b)
    said = "; ".join(w for w in (why_a, why_b) if w) or None
    for r in rows:
        r.unverified = said
    return rows


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
    """Why the pair measured different things (REF -> NEW), or None."""
    if ref.methodology_version != new.methodology_version:
        return (f"another methodology (version {ref.methodology_version} -> {new.methodology_version}): "
                "measure the reference again with this benchhash to compare")
    va, vb = r.params.get(WORKLOAD_VERSION), n.params.get(WORKLOAD_VERSION)
    if va != vb:
        return (f"another version of workload {r.workload} ({_said(va)} -> {_said(vb)}): what its phases "
                "measure changed between them")
    if norm(r.device) != norm(n.device):
        return f"another device ({r.device} -> {n.device})"
    if norm(r.unit) != norm(n.unit):
        return f"another unit of work ({r.unit} -> {n.unit})"
    if _identity(r.params) != _identity(n.params):
        return f"other parameters ({changes(_identity(r.params), _identity(n.params))})"
    return None


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A parameter as 'key: words' pairs, nested keys joined by dots ({'launch': {'kernel': 'simd'}}
    -> {'launch.kernel': 'simd'})."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, list | tuple):
        return {prefix.rstrip("."): " x ".join(str(v) for v in value)}
    return {prefix.rstrip("."): "none" if value is None else str(value)}


def changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """What differs between two parameter sets, in words: 'threads 2 -> 64, kernel simd -> sha-ni'."""
    fa, fb = _flat(a or {}), _flat(b or {})
    return ", ".join(f"{k} {fa.get(k, 'not recorded')} -> {fb.get(k, 'not recorded')}"
                     for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k))


def _said(version: Any) -> str:
    return "not recorded" if version is None else str(version)


def _identity(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that make the work itself; ``launch`` (CPU kernel, GPU launch shape) is how
    the same work was run, which is what a before/after of a kernel compares; the workload's
    version is compared on its own."""
    return {k: v for k, v in params.items() if k not in ("launch", WORKLOAD_VERSION)}


def launch_note(r: WorkloadResult, n: WorkloadResult) -> str | None:
    a, b = r.params.get("launch"), n.params.get("launch")
    return None if a == b else f"another launch: {changes(a, b)}"


def busy_note(r: WorkloadResult, n: WorkloadResult) -> str | None:
    """Which side ran on a shared machine (its phase's load says so), in words; None: neither."""
    sides = [(name, w.load.others_cpu_share) for name, w in (("REF", r), ("NEW", n))
             if w.load is not None and w.load.shared and w.load.others_cpu_share is not None]
    if not sides:
        return None
    names = " and ".join(name for name, _ in sides)
    shares = " and ".join(f"{100 * share:.0f} %" for _, share in sides)
    return (f"{names} ran on a busy machine (other processes took {shares} of the CPUs' time "
            "during the trials)")


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
        rows.append(Row(name, r.unit, rm, nm, ratio, p, mw, mark, why, launch_note(r, n), busy_note(r, n)))
    return rows


def regressions(rows: list[Row], threshold_pct: float) -> list[Row]:
    """Significant slow-downs larger than the threshold."""
    return [r for r in rows if r.mark == "worse" and r.ratio is not None
            and (1 - r.ratio) * 100 > threshold_pct]


def _p(name: str, p: float | None) -> str | None:
    return None if p is None else f"{name} p < 0.001" if p < 0.001 else f"{name} p = {p:.2g}"


def _tests(r: Row) -> str:
    said = [t for t in (_p("Welch", r.p_value), _p("Mann-Whitney", r.mann_whitney_p)) if t]
    return ", ".join(said) or "no test"


def _change(r: Row) -> str:
    """'NEW is 4.1 % faster than REF', from the ratio of the medians."""
    if r.ratio is None:
        return "no rate to compare"
    if r.ratio == 1:
        return "NEW is as fast as REF"
    word = "faster" if r.ratio > 1 else "slower"
    return f"NEW is {abs(100 * (r.ratio - 1)):.1f} % {word} than REF"


def _verdict(r: Row) -> str:
    """'significant (Welch p = 0.002)', with what may explain the change: a busy machine."""
    if r.mark not in ("better", "worse"):
        noise = r.reason or "within the trials' noise"
        return f"not significant ({_tests(r)}: {noise})" + ("" if r.busy is None else f"; {r.busy}")
    busy = "" if r.busy is None else f", but {r.busy}: the difference may be the load's"
    return f"significant ({_tests(r)}){busy}"


def sentence(r: Row) -> str:
    """A row as a person reads it: the change in words, whether it is significant and by what
    test, what could explain it (a busy machine, another launch), then both medians."""
    if r.mark == "missing":
        return f"{r.workload}: {r.reason}"
    medians = f"REF {si(r.ref_median, f'{r.unit}/s')}, NEW {si(r.new_median, f'{r.unit}/s')}"
    if r.mark == "incomparable":
        return f"{r.workload}: not compared, {r.reason} ({medians})"
    note = "" if r.note is None else f"; {r.note}"
    word = "" if r.unverified is None else f"; UNVERIFIED: {r.unverified}"
    return f"{r.workload}: {_change(r)}, {_verdict(r)}{note}{word} ({medians})"
