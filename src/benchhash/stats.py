"""Statistics over per-trial samples, kept beside the raw samples so anyone can recompute them.

Median and MAD (median absolute deviation, unscaled) are the headline figures because a noisy
machine produces outliers; mean and sample standard deviation sit beside them, as pyperf does.
"""

from __future__ import annotations

import math
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
#: Relative precision of gamma_quantile (scipy's chi2.ppf agrees to about 1e-12).
_REL_EPS = 1e-14
_TINY = 1e-300


def _log_prefactor(a: float, x: float) -> float:
    """log(x^a e^-x / Gamma(a)), the factor both expansions of the incomplete gamma share."""
    return a * math.log(x) - x - math.lgamma(a)


def _p_series(a: float, x: float) -> float:
    """P(a, x) by its power series (converges fast for x < a + 1)."""
    term = total = 1.0 / a
    n = a
    while abs(term) > abs(total) * 1e-17:
        n += 1.0
        term *= x / n
        total += term
    return total * math.exp(_log_prefactor(a, x))


def _q_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction, modified Lentz (converges fast for x > a + 1)."""
    b = x + 1.0 - a
    c, d = 1.0 / _TINY, 1.0 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            return h * math.exp(_log_prefactor(a, x))


def gamma_tails(a: float, x: float) -> tuple[float, float]:
    """(P(a, x), Q(a, x)): the regularized lower and upper incomplete gamma functions, the
    smaller of the two to full relative precision."""
    if x <= 0:
        return 0.0, 1.0
    if x < a + 1.0:
        p = _p_series(a, x)
        return p, 1.0 - p
    q = _q_fraction(a, x)
    return 1.0 - q, q


def _tail_log(a: float, x: float, lower: bool) -> float:
    p, q = gamma_tails(a, x)
    return math.log(max(p if lower else q, _TINY))


def gamma_quantile(a: float, prob: float) -> float:
    """x with P(a, x) = prob: the quantile of a Gamma(a, 1) variable (chi2.ppf(prob, 2a) / 2),
    without scipy. Safeguarded Newton on the log of the smaller tail, from Wilson-Hilferty."""
    if not (a > 0 and 0 < prob < 1):
        raise ValueError(f"gamma_quantile needs a > 0 and 0 < prob < 1, got a={a!r}, prob={prob!r}")
    lower = prob < 0.5
    goal = math.log(prob if lower else 1.0 - prob)
    z = statistics.NormalDist().inv_cdf(prob)
    guess = a * (1 - 1 / (9 * a) + z / (3 * math.sqrt(a))) ** 3
    x = guess if guess > 0 else a * prob ** (1 / a)
    if x == 0.0:
        return 0.0                                # below the least float (tiny a, tiny prob)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        f = _tail_log(a, x, lower) - goal        # increasing in x for the lower tail
        if (f < 0) == lower:
            lo = x
        else:
            hi = x
        if f == 0:
            return x
        p, q = gamma_tails(a, x)
        density = math.exp(_log_prefactor(a, x) - math.log(x))
        slope = density / max(p if lower else q, _TINY) * (1 if lower else -1)
        step = f / slope if slope else math.inf
        nxt = x - step
        if not lo < nxt < hi:                     # Newton left the bracket: bisect instead
            nxt = (lo + hi) / 2 if math.isfinite(hi) else max(2 * x, x + 1.0)
        if abs(nxt - x) <= _REL_EPS * x:
            return nxt
        x = nxt
    return x


def poisson_interval(k: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count k: the chi-square quantiles
    chi2.ppf(alpha/2, 2k)/2 and chi2.ppf(1 - alpha/2, 2k + 2)/2, computed as Gamma quantiles
    (no scipy: importing scipy.stats took most of verify's start)."""
    alpha = 1 - confidence
    lower = 0.0 if k == 0 else gamma_quantile(k, alpha / 2)
    upper = gamma_quantile(k + 1, 1 - alpha / 2)
    return lower, upper
