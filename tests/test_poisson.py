"""The exact Poisson interval without scipy: benchhash.stats computes the chi-square quantiles
as Gamma quantiles from the regularized incomplete gamma (math.lgamma, series and continued
fraction, safeguarded Newton); here it is held to scipy's at many points."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from benchhash.stats import gamma_quantile, gamma_tails, poisson_interval

chi2 = pytest.importorskip("scipy.stats").chi2
special = pytest.importorskip("scipy.special")

COUNTS = [*range(0, 120), 127, 128, 255, 500, 999, 1000, 1001, 2047, 2048, 4095, 4096, 6663, 10_157,
          30_000, 100_000]
CONFIDENCES = [0.5, 0.9, 0.95, 0.99, 0.999, 0.9999]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_poisson_interval_agrees_with_scipy(confidence: float) -> None:
    alpha = 1 - confidence
    for k in COUNTS:
        lo, hi = poisson_interval(k, confidence)
        want_lo = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k) / 2)
        want_hi = float(chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2)
        assert (lo == 0.0) if k == 0 else _rel(lo, want_lo) < 1e-9, (k, confidence, lo, want_lo)
        assert _rel(hi, want_hi) < 1e-9, (k, confidence, hi, want_hi)
        assert lo < k + 1 and hi > k            # the interval holds its count


@pytest.mark.parametrize("a", [0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 33.3, 250.0, 4096.0])
def test_gamma_quantile_and_tails_agree_with_scipy(a: float) -> None:
    for prob in (1e-9, 1e-4, 0.0005, 0.01, 0.3, 0.5, 0.7, 0.99, 0.9995, 1 - 1e-7):
        x = gamma_quantile(a, prob)
        assert _rel(x, float(chi2.ppf(prob, 2 * a) / 2)) < 1e-9, (a, prob)
        p, q = gamma_tails(a, x)
        assert _rel(p, float(special.gammainc(a, x))) < 1e-9 and _rel(q, float(special.gammaincc(a, x))) < 1e-9


def test_closed_forms() -> None:
    """Gamma(1) is the exponential: its quantiles are -log(1 - p)."""
    for prob in (1e-6, 0.0005, 0.5, 0.9995):
        assert _rel(gamma_quantile(1.0, prob), -math.log1p(-prob)) < 1e-12
    assert poisson_interval(0) == (0.0, pytest.approx(-math.log(0.0005), rel=1e-12))


def test_bad_arguments_are_refused() -> None:
    for a, prob in ((0.0, 0.5), (-1.0, 0.5), (1.0, 0.0), (1.0, 1.0), (1.0, math.nan)):
        with pytest.raises(ValueError, match="gamma_quantile needs"):
            gamma_quantile(a, prob)


def test_verify_does_not_import_scipy() -> None:
    """The Poisson bound was most of verify's start (importing scipy.stats): reading and
    checking a SHA-256d proof imports no scipy."""
    code = ("import sys; from benchhash.stats import poisson_interval; poisson_interval(10); "
            "import benchhash.review.verify; print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
