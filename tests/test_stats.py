"""Statistics and stability warnings, checked against hand-computed figures."""

from __future__ import annotations

import pytest

from benchhash.stats import stability_warnings, summarize


def test_summary_by_hand() -> None:
    s = summarize([10.0, 12.0, 11.0, 30.0])
    assert s.n == 4 and s.median == 11.5 and s.mean == 15.75
    assert s.mad == pytest.approx(1.0)      # |x - 11.5| = 1.5, 0.5, 0.5, 18.5 -> median 1.0
    assert s.stdev == pytest.approx(9.5350, abs=1e-4)
    assert (s.min, s.max) == (10.0, 30.0)


def test_single_sample_has_no_stdev_and_empty_is_refused() -> None:
    assert summarize([3.0]).stdev is None
    with pytest.raises(ValueError):
        summarize([])


def test_warnings() -> None:
    steady = summarize([100.0, 101.0, 99.0])
    assert stability_warnings(steady, [10, 10, 10]) == []
    noisy = summarize([100.0, 130.0, 70.0])
    assert any("unstable" in w for w in stability_warnings(noisy, [10, 10, 10]))
    assert any("shorter than 5 s" in w for w in stability_warnings(steady, [10, 2, 10]))
    assert any("too few" in w for w in stability_warnings(summarize([1.0, 1.0]), [10, 10]))
