"""The revenue formulas against hand-computed figures, and their monotonicity."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchhash.econ import model
from benchhash.errors import InputError


def test_hashprice_matches_hand_computation() -> None:
    # 86,400e15 / (148.26e12 * 2^32) * 3.125 / (1 - 0.0055) * 91,132 = 38.85 $/PH/day
    hp = model.hashprice_usd_per_ph_day(148.26e12, 3.125, 0.0055, 91_132)
    assert hp == pytest.approx(38.85, rel=0.005)


def test_network_hashrate() -> None:
    assert model.network_hashrate_hs(1.0) == pytest.approx(2 ** 32 / 600)


def test_100_mw_of_s21() -> None:
    rev = model.mining_revenue_usd_per_year(100, 17.5, 1.05, 39.53, uptime=0.97, pool_fee=0.02)
    assert rev == pytest.approx(74.6e6, rel=0.002)


def test_10_mw_of_h100_rental() -> None:
    rev = model.rental_revenue_usd_per_year(10, 1275, 1.3, 2.50, 0.80)
    assert rev == pytest.approx(105.7e6, rel=0.002)


def test_breakeven_rental_price() -> None:
    mining = model.mining_revenue_usd_per_year(100, 17.5, 1.05, 39.53, uptime=0.97, pool_fee=0.02)
    price = model.breakeven_usd_per_gpu_hour(mining, 10, 1275, 1.3, 0.80)
    assert price == pytest.approx(1.77, abs=0.01)
    assert model.rental_revenue_usd_per_year(10, 1275, 1.3, price, 0.80) == pytest.approx(mining)


def test_subsidy_schedule() -> None:
    assert model.subsidy_btc_at_height(840_000) == 3.125
    assert model.subsidy_btc_at_height(839_999) == 6.25
    assert model.subsidy_btc_at_height(1_050_000) == 1.5625


def _ratio(usd_per_gpu_hour: float, btc_usd: float) -> float:
    hp = model.hashprice_usd_per_ph_day(148.26e12, 3.125, 0.0055, btc_usd)
    mining = model.mining_revenue_usd_per_year(100, 17.5, 1.05, hp, 0.97, 0.02)
    return model.rental_revenue_usd_per_year(10, 1275, 1.3, usd_per_gpu_hour, 0.8) / mining


@given(st.floats(0.1, 20), st.floats(0.1, 20), st.floats(1_000, 500_000))
def test_ratio_rises_with_gpu_price(p1: float, p2: float, btc: float) -> None:
    lo, hi = sorted((p1, p2))
    assert _ratio(lo, btc) <= _ratio(hi, btc)


@given(st.floats(1_000, 500_000), st.floats(1_000, 500_000), st.floats(0.1, 20))
def test_ratio_falls_with_btc_price(b1: float, b2: float, price: float) -> None:
    lo, hi = sorted((b1, b2))
    assert _ratio(price, lo) >= _ratio(price, hi)


@pytest.mark.parametrize("call", [
    lambda: model.hashprice_usd_per_ph_day(1e12, 3.125, 0.01, -5),
    lambda: model.mining_ph_per_facility_mw(17.5, 0.9),
    lambda: model.gpus_per_facility_mw(1275, 0.99),
    lambda: model.rental_revenue_usd_per_year(10, 1275, 1.3, -1, 0.8),
    lambda: model.rental_revenue_usd_per_year(10, 1275, 1.3, 2.5, 1.5),
    lambda: model.hashprice_usd_per_ph_day(1e12, 3.125, 1.0, 90_000),
])
def test_bad_inputs_raise(call: Callable[[], object]) -> None:
    with pytest.raises(InputError):
        call()
