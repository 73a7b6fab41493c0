"""Statistics over per-trial samples, kept beside the raw samples so anyone can recompute them.

Median and MAD (median absolute deviation, unscaled) are the headline figures because a noisy
machine produces outliers; mean and sample standard deviation sit beside them, as pyperf does.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

#: Warn when the trials' standard deviation exceeds this share of their mean.
UNSTABLE_REL_STDEV = 0.05
#: Warn when a trial is shorter than this (clock resolution, boost transients, counter steps).
MIN_TRIAL_S = 5.0


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    mad: float
    mean: float
    stdev: float | None
    min: float
    max: float

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


def summarize(samples: Sequence[float]) -> Summary:
    """Median, MAD, mean, stdev (None below two samples), min, max of a non-empty sequence."""
    if not samples:
        raise ValueError("no samples to summarize")
    values = [float(x) for x in samples]
    med = statistics.median(values)
    return Summary(
        n=len(values),
        median=med,
        mad=statistics.median(abs(x - med) for x in values),
        mean=statistics.fmean(values),
        stdev=statistics.stdev(values) if len(values) > 1 else None,
        min=min(values),
        max=max(values),
    )


def stability_warnings(rate: Summary, trial_seconds: Sequence[float], *,
                       rel_stdev: float = UNSTABLE_REL_STDEV,
                       min_trial_s: float = MIN_TRIAL_S) -> list[str]:
    """pyperf-style warnings about a set of trials; empty when nothing looks off."""
    warnings: list[str] = []
    if rate.n < 3:
        warnings.append(f"only {rate.n} trial(s): too few to judge stability (use 3 or more)")
    if rate.stdev is not None and rate.mean > 0 and rate.stdev > rel_stdev * rate.mean:
        warnings.append(f"unstable: stdev is {100 * rate.stdev / rate.mean:.1f} % of the mean "
                        f"(more than {100 * rel_stdev:.0f} %)")
    short = [s for s in trial_seconds if s < min_trial_s]
    if short:
        warnings.append(f"{len(short)} trial(s) shorter than {min_trial_s:g} s "
                        f"(shortest {min(short):.2f} s)")
    return warnings


#: Confidence of the Poisson interval a count of shares implies.
CONFIDENCE = 0.999


def poisson_interval(k: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count k."""
    from scipy.stats import chi2
    alpha = 1 - confidence
    lower = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k) / 2)
    upper = float(chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2)
    return lower, upper
