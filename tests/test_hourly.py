"""Hourly prices: series in every layout (two columns, ERCOT's hourly day-ahead and 15-minute
real-time reports with their daylight-saving days), bad series refused by line, dispatch on small
hand-computed series (a spike, a negative price, a PPA with credits, a 4CP interval), the exact
constrained dispatch against brute force, properties, the JSON recomputed by hand, the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchhash.econ import hourly, market, prices, site, uses
from benchhash.econ.prices import PriceSeries
from benchhash.econ.report import EconRequest, econ_json
from benchhash.errors import InputError

T0 = 1672552800 // 3600          # 2023-01-01T06:00Z in hours


def series(p: list[float], start: int = T0) -> PriceSeries:
    return PriceSeries("test", "test", "test", np.arange(start, start + len(p), dtype=np.int64), np.array(p, float))


def write(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


# --- series ------------------------------------------------------------------------------------
def test_the_shipped_default_is_ercot_hb_west_2023_and_matches_its_provenance() -> None:
    s = prices.load()
    assert s.name == "ercot-hb_west-2023-da" and len(s.hours) == 8760 and s.filled_hours == 0
    sm = s.summary()
    assert (round(sm.mean_usd_per_mwh, 2), sm.median_usd_per_mwh, sm.max_usd_per_mwh,
            sm.min_usd_per_mwh, sm.hours_below_zero) == (56.49, 23.22, 4207.43, -9.62, 183)
    months = s.months
    aug = s.usd_per_mwh[months == "2023-08"].mean()
    assert round(float(aug), 2) == 264.67          # the README's Central-time monthly mean
    folder = Path(prices.__file__).parent.parent / "data" / "prices"
    assert "provenance" in s.source and "ERCOT NP4-180-ER" in (folder / "README.md").read_text()


def test_two_column_series_with_offsets_and_naive_times(tmp_path: Path) -> None:
    f = write(tmp_path, "hour_start_utc,price_usd_per_mwh\n2023-01-01T00:00:00Z,1\n2023-01-01T02:00:00+01:00,2\n"
                        "2023-01-01T02:00:00,3\n")
    s = prices.load(str(f))
    assert list(s.usd_per_mwh) == [1, 2, 3] and list(np.diff(s.hours)) == [1, 1]


DAM_HEADER = "Delivery Date,Hour Ending,Repeated Hour Flag,Settlement Point,Settlement Point Price\n"


def _dam(day: str, hours: list[tuple[str, str]], point: str = "HB_WEST") -> str:
    return "".join(f"{day},{h},{flag},{point},{i + 1}\n" for i, (h, flag) in enumerate(hours))


def test_ercot_day_ahead_layout_through_both_daylight_saving_days(tmp_path: Path) -> None:
    spring = [(f"{h:02d}:00", "N") for h in range(1, 25) if h != 3]               # 23 hours
    autumn = [("01:00", "N"), ("02:00", "N"), ("02:00", "Y")] + [(f"{h:02d}:00", "N") for h in range(3, 25)]
    f = write(tmp_path, DAM_HEADER + _dam("03/12/2023", spring) + _dam("03/13/2023", [("01:00", "N")]))
    s = prices.load(str(f))
    assert len(s.hours) == 24 and s.zone == "America/Chicago"
    assert prices._iso(int(s.hours[0])) == "2023-03-12T06:00Z"     # HE01 CST starts at midnight CST
    assert prices._iso(int(s.hours[2])) == "2023-03-12T08:00Z"     # HE04 CDT follows HE02 CST directly
    g = write(tmp_path, DAM_HEADER + _dam("11/05/2023", autumn), "autumn.csv")
    t = prices.load(str(g))
    assert len(t.hours) == 25 and list(np.diff(t.hours)) == [1] * 24
    assert [prices._iso(int(h)) for h in t.hours[1:3]] == ["2023-11-05T06:00Z", "2023-11-05T07:00Z"]
    assert list(t.usd_per_mwh[1:3]) == [2, 3]                      # CDT's copy first, then CST's


def test_ercot_day_ahead_refuses_a_skipped_hour_and_picks_a_settlement_point(tmp_path: Path) -> None:
    bad = write(tmp_path, DAM_HEADER + _dam("03/12/2023", [("01:00", "N"), ("02:00", "N"), ("03:00", "N")]))
    with pytest.raises(InputError, match=r"line 4: hour ending 03:00 does not exist on 2023-03-12"):
        prices.load(str(bad))
    two = write(tmp_path, DAM_HEADER + _dam("01/01/2023", [("01:00", "N")]) +
                _dam("01/01/2023", [("01:00", "N")], point="HB_NORTH"), "two.csv")
    with pytest.raises(InputError, match="2 settlement points .*--settlement-point"):
        prices.load(str(two))
    assert prices.load(str(two), point="HB_NORTH").usd_per_mwh.tolist() == [1.0]


def test_ercot_daily_report_spelling_with_its_dst_flag(tmp_path: Path) -> None:
    body = "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n" + "".join(
        f"11/05/2023,{h},HB_WEST,{i},{flag}\n" for i, (h, flag) in enumerate((("01:00", "N"), ("02:00", "N"),
                                                                              ("02:00", "Y"), ("03:00", "N"))))
    s = prices.load(str(write(tmp_path, body)))
    assert s.usd_per_mwh.tolist() == [0, 1, 2, 3] and list(np.diff(s.hours)) == [1, 1, 1]


RTM_HEADER = ("Delivery Date,Delivery Hour,Delivery Interval,Repeated Hour Flag,Settlement Point Name,"
              "Settlement Point Type,Settlement Point Price\n")


def test_ercot_real_time_layout_is_averaged_to_hours_including_the_repeated_hour(tmp_path: Path) -> None:
    rows = []
    for hour, flag, base in ((1, "N", 0), (2, "N", 10), (2, "Y", 20), (3, "N", 30)):
        rows += [f"11/05/2023,{hour},{i},{flag},LZ_WEST,LZ,{base + i}\n" for i in range(1, 5)]
    s = prices.load(str(write(tmp_path, RTM_HEADER + "".join(rows))))
    assert s.usd_per_mwh.tolist() == [2.5, 12.5, 22.5, 32.5] and list(np.diff(s.hours)) == [1, 1, 1]
    short = write(tmp_path, RTM_HEADER + "".join(rows[:3]), "short.csv")
    with pytest.raises(InputError, match="line 2: the hour has 3 of 4 intervals"):
        prices.load(str(short))


@pytest.mark.parametrize(("body", "needle"), [
    ("2023-01-01T00:00Z,1\nyesterday,2\n", "line 3: time 'yesterday' is not an ISO 8601 time"),
    ("2023-01-01T00:00Z,1\n2023-01-01T01:00Z,cheap\n", "line 3: price 'cheap' is not a number"),
    ("2023-01-01T00:00Z,nan\n", "line 2: price 'nan' is not a finite number"),
    ("2023-01-01T00:00Z,1\n2023-01-01T00:00Z,2\n", "line 3: hour 2023-01-01T00:00Z repeats line 2"),
    ("2023-01-01T01:00Z,1\n2023-01-01T00:00Z,2\n", "line 3: hour 2023-01-01T00:00Z comes after"),
    ("2023-01-01T00:00Z,1\n2023-01-01T03:00Z,4\n", "line 3: gap of 2 hour(s) before 2023-01-01T03:00Z"),
    ("2023-01-01T00:30Z,1\n", "line 2: time '2023-01-01T00:30Z' is not the start of an hour"),
    ("", "no prices in the file"),
])
def test_bad_series_are_refused_with_their_line(tmp_path: Path, body: str, needle: str, cli: Any) -> None:
    f = write(tmp_path, "hour_start_utc,price_usd_per_mwh\n" + body)
    with pytest.raises(InputError) as e:
        prices.load(str(f))
    assert needle in str(e.value)
    r = cli("econ", "--prices", str(f))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr


def test_gaps_are_filled_only_by_an_explicit_policy(tmp_path: Path) -> None:
    f = write(tmp_path, "hour_start_utc,price_usd_per_mwh\n2023-01-01T00:00Z,10\n2023-01-01T03:00Z,40\n")
    assert prices.load(str(f), fill="previous").usd_per_mwh.tolist() == [10, 10, 10, 40]
    s = prices.load(str(f), fill="linear")
    assert s.usd_per_mwh.tolist() == [10, 20, 30, 40] and s.filled_hours == 2 and s.fill == "linear"
    with pytest.raises(InputError, match="--fill must be one of previous, linear"):
        prices.load(str(f), fill="zero")


def test_an_unknown_layout_or_name_is_one_line(tmp_path: Path, cli: Any) -> None:
    r = cli("econ", "--prices", str(write(tmp_path, "time,price\n1,2\n")))
    assert r.returncode == 2 and "none of the layouts" in r.stderr
    r = cli("econ", "--prices", "ercot-2031")
    assert r.returncode == 2 and "no such file or shipped series (ercot-hb_west-2023-da" in r.stderr


# --- dispatch by hand ----------------------------------------------------------------------------
MINE = hourly.Mining(revenue_usd_per_mwh=60.0, uptime=1.0, opex_usd_per_mw_year=0.0)


def test_a_spike_and_a_negative_hour_on_an_index_contract() -> None:
    s = series([10, 1000, -5, 50])
    c = hourly.Contract("index", adder_usd_per_mwh=5.0)
    o = hourly.mining(s, MINE, c, hourly.Flex(), "flex")
    assert o.on.tolist() == [True, False, True, True]               # 50 + 5 <= 60 runs; 1000 does not
    assert o.breakeven_usd_per_mwh == 55.0
    assert o.power_cost.sum() == pytest.approx(15 + 0 + 0 + 55)      # the negative hour costs 0 with its adder
    assert o.margin_usd == pytest.approx(3 * 60 - 70)
    flat = hourly.mining(s, MINE, c, None, "flat")
    assert flat.margin_usd == pytest.approx(4 * 60 - (15 + 1005 + 0 + 55))


def test_a_ppa_pays_its_price_every_hour_and_sells_curtailed_mwh_back() -> None:
    s = series([10, 1000, -5, 50])
    c = hourly.Contract("ppa", ppa_usd_per_mwh=40.0)
    o = hourly.mining(s, MINE, c, hourly.Flex(), "flex")
    assert o.on.tolist() == [True, False, True, True]               # opportunity cost is the hourly price
    assert o.power_cost.sum() == 160 and o.credits.sum() == 1000
    assert o.margin_usd == pytest.approx(3 * 60 - 160 + 1000)
    ai = hourly.firm(s, hourly.Firm("ai", 8760 * 100.0, 0.75, 0.1), c)
    assert ai.credits.sum() == pytest.approx(0.25 * (10 + 1000 - 5 + 50))
    assert ai.margin_usd == pytest.approx(400 - 160 + 0.25 * 1055 - 40)


def test_a_4cp_interval_is_curtailed_and_charged_to_whoever_runs_through_it() -> None:
    s = series([10, 10, 10, 10])
    curtail = site.curtail_hours("2023-01-01T07:15Z/2023-01-01T08:00Z", s)
    assert curtail.tolist() == [False, True, False, False]
    flex = hourly.Flex(curtail=curtail, fourcp_usd_per_mw_year=8760.0)
    o = hourly.mining(s, MINE, hourly.Contract(), flex, "flex")
    hourly.fourcp(o, flex)
    assert o.on.tolist() == [True, False, True, True] and o.transmission_4cp_usd == 0
    ai = hourly.firm(s, hourly.Firm("ai", 0.0, 0.5, 0.0), hourly.Contract())
    hourly.fourcp(ai, flex)
    assert ai.transmission_4cp_usd == pytest.approx(0.5 * 8760 * 4 / 8760)
    with pytest.raises(InputError, match="outside the price series"):
        site.curtail_hours("2030-01-01T00:00Z", s)


def test_uptime_scales_what_an_on_hour_draws_and_earns() -> None:
    s = series([10])
    o = hourly.mining(s, hourly.Mining(60.0, 0.9, 8760.0), hourly.Contract(), hourly.Flex(), "x")
    assert o.draw_mw.tolist() == [0.9] and o.margin_usd == pytest.approx(0.9 * 50 - 1)


def _brute(value: np.ndarray, f: hourly.Flex) -> float:
    best = -np.inf
    for bits in itertools.product([False, True], repeat=len(value)):
        on = np.array(bits)
        if f.curtail is not None and (on & f.curtail).any():
            continue
        runs = [(k, len(list(g))) for k, g in itertools.groupby(on.tolist())]
        inner = runs[1:-1]
        if any(n < (f.min_on_hours if k else f.min_off_hours) for k, n in inner):
            continue
        starts = int(np.count_nonzero(on[1:] & ~on[:-1]))
        best = max(best, float(value[on].sum()) - starts * f.ramp_cost_usd_per_mw)
    return best


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=9), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([0.0, 0.7, 3.0]), st.integers(0, 2**16))
def test_constrained_dispatch_is_the_best_plan(vals: list[float], k_on: int, k_off: int, ramp: float,
                                              seed: int) -> None:
    v = np.array(vals)
    rng = np.random.default_rng(seed)
    f = hourly.Flex(k_on, k_off, ramp, rng.random(len(v)) < 0.2 if seed % 2 else None)
    on = hourly.dispatch(v, f)
    starts = int(np.count_nonzero(on[1:] & ~on[:-1]))
    assert float(v[on].sum()) - starts * ramp == pytest.approx(_brute(v, f))
    if f.curtail is not None:
        assert not (on & f.curtail).any()


def test_unconstrained_dispatch_is_the_hourly_rule() -> None:
    v = np.random.default_rng(3).normal(size=500)
    assert hourly.dispatch(v, hourly.Flex(1, 1, 0.0)).tolist() == (v >= 0).tolist()


# --- properties ------------------------------------------------------------------------------------
price_lists = st.lists(st.floats(-50, 3000, allow_nan=False), min_size=1, max_size=48)
contracts = st.sampled_from([hourly.Contract("index", 7.0), hourly.Contract("ppa", ppa_usd_per_mwh=45.0)])
flexes = st.sampled_from([hourly.Flex(), hourly.Flex(3, 2, 50.0), hourly.Flex(1, 4, 0.0)])


@settings(max_examples=80, deadline=None)
@given(price_lists, contracts, flexes, st.floats(20, 120))
def test_price_responsive_mining_never_earns_less_than_flat(p: list[float], c: hourly.Contract,
                                                            f: hourly.Flex, rev: float) -> None:
    s, m = series(p), hourly.Mining(rev, 0.95, 60_000.0)
    assert hourly.mining(s, m, c, f, "flex").margin_usd >= hourly.mining(s, m, c, None, "flat").margin_usd - 1e-6


@settings(max_examples=80, deadline=None)
@given(price_lists, flexes, st.floats(0, 500), st.floats(20, 120))
def test_raising_every_price_never_raises_a_margin(p: list[float], f: hourly.Flex, up: float, rev: float) -> None:
    lo, hi = series(p), series([x + up for x in p])
    m = hourly.Mining(rev, 0.95, 60_000.0)
    c = hourly.Contract("index", 7.0)
    for run in (lambda s: hourly.mining(s, m, c, f, "f"), lambda s: hourly.mining(s, m, c, None, "flat"),
                lambda s: hourly.firm(s, hourly.Firm("ai", 1e6, 0.8, 0.1), c)):
        assert run(hi).margin_usd <= run(lo).margin_usd + 1e-6
    # under a PPA the price paid is the contract's: raising it never raises a margin either
    cheap, dear = hourly.Contract("ppa", ppa_usd_per_mwh=40.0), hourly.Contract("ppa", ppa_usd_per_mwh=40.0 + up)
    assert hourly.mining(lo, m, dear, f, "f").margin_usd <= hourly.mining(lo, m, cheap, f, "f").margin_usd + 1e-6


# --- the whole analysis --------------------------------------------------------------------------
def test_the_json_echoes_every_input_and_a_figure_recomputes_by_hand() -> None:
    data = econ_json(EconRequest(hourly=site.HourlyRequest()))
    h = data["hourly"]
    i = h["inputs"]
    rev = i["hashprice_usd_per_ph_day"] * (1 - i["pool_fee"]) * i["ph_per_facility_mw"] / 24
    assert rev == pytest.approx(i["revenue_usd_per_mwh"])
    assert i["ph_per_facility_mw"] == pytest.approx(1e6 / (i["j_per_th"] * i["pue_mining"]) / 1e3)
    p = prices.load().usd_per_mwh
    cost = p + i["contract"]["adder_usd_per_mwh"]
    on = rev >= cost
    margin = (i["uptime_mining"] * (rev - cost))[on].sum() - i["opex_mining_usd_per_mw_year"]
    flex = h["uses"]["mining_flexible"]
    assert flex["hours_on"] == int(on.sum()) and flex["margin_usd"] == pytest.approx(margin)
    assert flex["breakeven_usd_per_mwh"] == pytest.approx(rev - i["contract"]["adder_usd_per_mwh"])
    for key in ("hours_on", "energy_mwh", "revenue_usd", "power_cost_usd", "margin_usd"):
        assert key in flex and key + "_per_year" in flex
    ai = h["uses"]["ai_rental"]
    lf = i["ai_load_factor"]
    ai_margin = i["ai_revenue_usd_per_mw_year"]["ai_rental"] * (1 - i["opex_ai_share_of_revenue"]) - (lf * cost).sum()
    assert ai["margin_usd"] == pytest.approx(ai_margin)
    assert h["flexibility_value_usd_per_mw_year"] == pytest.approx(
        flex["margin_usd_per_year"] - h["uses"]["mining_flat"]["margin_usd_per_year"])
    json.dumps(data, allow_nan=False)


def test_the_mullet_site_is_its_parts_and_the_claim_is_retested_on_margin() -> None:
    data = econ_json(EconRequest(hourly=site.HourlyRequest(contract="ppa"), ai_mw=10, mining_mw=100))
    h = data["hourly"]
    u, mu = h["uses"], h["mullet"]["sites"]
    assert mu["mullet"]["margin_usd_per_year"] == pytest.approx(
        10 * u["ai_rental"]["margin_usd_per_year"] + 100 * u["mining_flexible"]["margin_usd_per_year"])
    assert mu["pure_mining_flat"]["margin_usd_per_year"] == pytest.approx(110 * u["mining_flat"]["margin_usd_per_year"])
    assert mu["mullet_soaking_idle_ai_power"]["margin_usd_per_year"] >= mu["mullet"]["margin_usd_per_year"]
    c = h["claim"]
    assert c["gpu_cloud"]["ratio"] == pytest.approx(
        10 * u["ai_rental"]["margin_usd_per_year"] / (100 * u["mining_flexible"]["margin_usd_per_year"]))
    assert set(c) == {"gpu_cloud", "colocation_lease"}


def test_two_devices_rows_are_keyed_apart() -> None:
    m = market.load()
    rows = [uses.colocation(m)]
    for label in ("a", "b"):
        for use in ("ai_rental", "ai_rental_contract"):
            r = uses.colocation(m)
            r.use, r.label = use, f"{use} {label}"
            rows.append(r)
    assert [k for k, _ in site._firms(m, rows)] == ["colocation_lease", "ai_rental", "ai_rental_contract",
                                                    "ai_rental_2", "ai_rental_contract_2"]


def test_cli_hourly_prints_writes_charts_and_refuses_bad_flags(tmp_path: Path, cli: Any) -> None:
    png = tmp_path / "h.png"
    r = cli("econ", "--hourly", "--plot", str(png), "--min-on-hours", "3", "--ramp-cost", "20")
    assert r.returncode == 0, r.stderr
    assert "curtailed" in r.stdout and "mullet" in r.stdout and png.read_bytes()[:4] == b"\x89PNG"
    for args, needle in ((["--plot", str(tmp_path / "h.gif")], "--plot"),
                         (["--hourly", "--contract", "swap"], "--contract must be index or ppa"),
                         (["--hourly", "--min-on-hours", "0"], "--min-on-hours"),
                         (["--hourly", "--min-off-hours", "100000"], "between 1 and 168"),
                         (["--hourly", "--ramp-cost", "nan"], "--ramp-cost must be a finite amount"),
                         (["--4cp", "2023-08-01T20:00Z"], "need --hourly or --prices"),
                         (["--hourly", "--4cp", "noon"], "--4cp: 'noon' is not an ISO 8601 time")):
        r = cli("econ", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, (args, r.stderr)
