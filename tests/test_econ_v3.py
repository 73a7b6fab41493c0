"""Economics v3 (issue 26): the defects an independent recomputation found, each pinned by a test
that failed before its fix: the lease escalator counted once, the host's power fixed under a GPU
cap, mining's zero-margin power price with its opex, no 4CP bill for a landlord who passes power
through, no snapshot that sees a later price, verdicts in words when both sides lose, a --set
that keeps the contract row, token rows on the rental rows' GPU count, the copula's correlation
named for what it is, a margin statistic that does not swing with the seed, a tornado on margin,
and price series whose empty cells are gaps, listed when filled, in Central time by content."""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from benchhash.econ import claim, market, prices, uses
from benchhash.econ.answer import Econ
from benchhash.econ.report import EconRequest, answer, econ_json
from benchhash.econ.site import HourlyRequest
from benchhash.errors import InputError
from benchhash.report import econ as text
from benchhash.report.table import show
from conftest import Cli

TODAY = date(2026, 12, 4)
SWEEP = "results/power-caps/sweep-20261123T111331Z.json"     # a real H100 power-limit sweep


def _text(data: Econ, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    show(text.econ_blocks(data), console)
    return " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def claim_answer() -> Econ:
    return answer(EconRequest(claim=True, draws=2000, today=TODAY))[0]


@pytest.fixture(scope="module")
def claim_data(claim_answer: Econ) -> dict[str, Any]:
    return claim_answer.to_json()


def _row(data: dict[str, Any], use: str) -> dict[str, Any]:
    return next(u for u in data["uses"] if u["use"] == use)


# --- the lease escalator, once -------------------------------------------------------------------
def test_the_deals_rate_is_a_term_average_so_the_first_year_pays_less(claim_data: dict[str, Any]) -> None:
    lease = _row(claim_data, "colocation")
    first = lease["revenue_now_usd_per_year"] / lease["it_mw"]
    # 1.85 M a year on average over 15 years, rising 3 % a year: 1.85 x 15 / sum(1.03^k) = 1.492 M
    assert first == pytest.approx(1.85e6 * 15 / sum(1.03 ** k for k in range(15)))
    assert first / 1e6 == pytest.approx(1.49, abs=0.005)
    assert lease["basis"]["lease_first_year_usd_per_it_mw_year"] == pytest.approx(first)
    # the rents over the term average the deal's figure again (in the projection's own years)
    rents = [y["revenue_usd"] / lease["it_mw"] for y in lease["cash_flows"]]
    assert sum(rents) / len(rents) == pytest.approx(1.85e6, rel=1e-9)
    assert lease["npv_usd"] / 1e6 == pytest.approx(2.36, abs=0.01)
    assert claim_data["claim"]["colocation_lease"]["margin"]["ratio"] == pytest.approx(1.12, abs=0.01)


# --- the host's power under a cap ----------------------------------------------------------------
def test_the_hosts_power_does_not_shrink_with_the_gpus_cap() -> None:
    data = econ_json(EconRequest(results=(SWEEP,), today=TODAY, allow_unverified=True))
    gemm = next(c for c in data["power_caps"][0]["curves"] if c["workload"].startswith("gemm"))
    at = {p["cap_w"]: p for p in gemm["points"]}
    m = market.with_device_prices(market.load())
    host = (m["host_overhead"] - 1) * 700                          # DGX H100: 10,200 / 8 - 700 = 575 W
    assert host == pytest.approx(575, abs=0.1)
    low = at[200.0]
    assert low["devices_per_facility_mw"] == pytest.approx(1e6 / ((low["watts"] + host) * m["pue_ai"]))
    assert low["revenue_usd_per_year"] / 1e6 == pytest.approx(5.04, abs=0.01)       # was 10.32
    assert gemm["best_cap_w"]["revenue_usd_per_year"] in (629.0, 700.0)             # was 486 W


# --- mining's zero-margin power price ------------------------------------------------------------
def test_the_zero_margin_power_price_pays_the_non_power_opex_too(claim_data: dict[str, Any]) -> None:
    b = claim_data["claim"]["breakevens"]["mining_zero_margin_power_usd_per_mwh"]
    assert b == pytest.approx(55.90, abs=0.01)                     # was 62.96, revenue over energy alone
    m = market.with_device_prices(market.load())
    at = m.with_value("power_usd_per_mwh", b)
    asic = uses.asic_mining(at, market.Asic.of("S21", market.asics()["S21"]))
    assert asic.margin_now_usd_per_year == pytest.approx(0.0, abs=1e-6)


# --- 4CP and a lease that passes power through --------------------------------------------------
@pytest.mark.parametrize(("passthrough", "charged"), [(1.0, False), (0.0, True)])
def test_a_landlord_whose_tenant_pays_the_power_pays_no_4cp(passthrough: float, charged: bool) -> None:
    req = HourlyRequest(fourcp="2023-08-15T21:00Z/2023-08-15T22:00Z", fourcp_usd_per_mw_year=48_000)
    h = econ_json(EconRequest(hourly=req, sets=(f"colocation_power_passthrough={passthrough}",),
                              today=TODAY))["hourly"]
    lease = h["uses"]["colocation_lease"]["transmission_4cp_usd"]
    assert (lease > 0) is charged
    assert h["uses"]["mining_flat"]["transmission_4cp_usd"] > 0


# --- no snapshot sees the future -----------------------------------------------------------------
@pytest.mark.parametrize("snapshot", market.snapshots())
def test_every_table_figure_is_dated_on_or_before_its_snapshot(snapshot: str) -> None:
    m = market.with_device_prices(market.load(snapshot))
    for key, x in m.inputs.items():
        if x.origin == "table" and not x.missing:
            assert x.date <= snapshot, (key, x.date)
            assert x.as_of == snapshot


def test_the_january_snapshot_takes_januarys_contract_price_and_asic_price() -> None:
    m = market.with_device_prices(market.load("2026-01-12"))
    one_year = m.inputs["gpu_usd_per_hour_1y"]
    assert one_year.value == pytest.approx(1.63) and one_year.date == "2025-12-01"   # not 1.92 of 2026-05-20
    assert "taken as of 2026-01-12: the figure dated 2026-04-02 is later" in one_year.source
    asic = m.inputs["asic_usd_per_th"]
    assert asic.date == "2025-12-23" and "the figure dated 2026-06-26 is later" in asic.source


def test_a_model_with_no_price_as_old_as_the_snapshot_says_how_to_give_one() -> None:
    with pytest.raises(InputError, match=r"no figure dated on or before 2026-01-12 .*--set asic_usd_per_th"):
        econ_json(EconRequest(market="2026-01-12", asic="S19 XP", today=TODAY))
    data = econ_json(EconRequest(market="2026-01-12", asic="S19 XP", sets=("asic_usd_per_th=4",), today=TODAY))
    assert _row(data, "asic_mining")["basis"]["asic_usd_per_th"] == 4


# --- verdicts in words ---------------------------------------------------------------------------
def test_when_both_lose_the_verdict_says_so() -> None:
    assert claim.judge(-1e6, -2e6).in_words == "holds only in that AI loses less: both lose money, mining more"
    assert claim.judge(-3e6, -2e6).in_words == "does not hold: both lose money, AI more"
    assert claim.judge(1e6, -2e6).in_words == "holds: mining loses money, AI earns"
    assert claim.judge(-1e6, 0.0).in_words == "does not hold: AI loses money, mining earns nothing"


# --- --set gpu_usd_per_hour keeps the contract row -----------------------------------------------
def test_setting_the_on_demand_price_keeps_the_contract_row() -> None:
    data = econ_json(EconRequest(sets=("gpu_usd_per_hour=3.1",), today=TODAY))
    rent, contract = _row(data, "ai_rental"), _row(data, "ai_rental_contract")
    assert rent["basis"]["usd_per_gpu_hour"] == 3.1
    assert contract["basis"]["usd_per_gpu_hour"] == data["inputs"]["gpu_usd_per_hour_1y"]["value"] == 2.35
    assert "not moved by it" in rent["basis"]["price_basis"]


# --- token rows on the rental rows' GPUs ---------------------------------------------------------
def test_token_rows_count_the_gpus_the_rental_rows_count() -> None:
    m = market.with_device_prices(market.load())
    d = uses.Decode("llm decode.b64", 5000.0, 631.0, 64, "8b", 8.03e9)
    meas = uses.Measured("r.json", "NVIDIA H100 80GB HBM3", ai_watts=690.0, decode=[d])
    p = uses.price(m, meas)
    assert isinstance(p, uses.Price)
    tokens, rental = uses.ai_tokens(m, meas, d, "usd_per_m_tokens_8b", p.server_usd), uses.ai_rental(m, meas, p)
    assert tokens.gpus_per_facility_mw == pytest.approx(rental.gpus_per_facility_mw)
    assert "sized on peak" in tokens.basis_of(uses.TokensBasis).watts_basis


# --- the correlation, named ----------------------------------------------------------------------
def test_the_copulas_correlation_is_not_called_a_rank_correlation(claim_data: dict[str, Any],
                                                                 claim_answer: Econ) -> None:
    x = claim_data["inputs"]["btc_difficulty_correlation"]
    assert "rank correlation of the draws" not in x["unit"] and x["unit"].startswith("correlation of the normal scores")
    mc = claim_data["claim"]["gpu_cloud"]["monte_carlo"]
    assert mc["btc_difficulty_normal_score_correlation"] == 0.6
    assert mc["btc_difficulty_spearman_theoretical"] == pytest.approx(6 / math.pi * math.asin(0.3))
    assert mc["btc_difficulty_spearman_of_draws"] == pytest.approx(0.58, abs=0.03)
    assert "normal-score correlation 0.6 (Gaussian copula): Spearman rank correlation 0.58" in _text(claim_answer)


# --- a margin statistic that does not swing with the seed ----------------------------------------
def test_the_margin_is_summarised_by_a_difference_stable_across_seeds() -> None:
    m = market.with_device_prices(market.load())
    s = claim.Setup(10, 100, 17.5, 700, 3.125)
    a, b = (claim.monte_carlo(m, s, 4000, seed, "colocation_lease").to_json()["margin"] for seed in (0, 1))
    for key in ("difference_p5_usd", "difference_p50_usd", "difference_p95_usd"):
        assert a[key] == pytest.approx(b[key], abs=0.05 * abs(a["difference_p95_usd"] - a["difference_p5_usd"]))
    assert "difference" in a["statistic"]


# --- a tornado on margin -------------------------------------------------------------------------
def test_each_reading_has_a_tornado_on_margin_as_a_difference(claim_data: dict[str, Any],
                                                             claim_answer: Econ) -> None:
    m = market.with_device_prices(market.load())
    s = claim.Setup(10, 100, 17.5, 700, 3.125, rated_w=700)
    for reading in ("gpu_cloud", "colocation_lease"):
        t = claim_data["claim"][reading]["tornado_margin"]
        assert [r["swing_usd"] for r in t] == sorted((r["swing_usd"] for r in t), reverse=True)
        power = next(r for r in t if r["input"] == "power_usd_per_mwh")
        v = {**m.values(), "power_usd_per_mwh": power["low"]}
        ai, mine = claim.READINGS[reading](v, s), claim.mining(v, s)
        assert power["difference_at_low_usd"] == pytest.approx(ai.margin - mine.margin)
        ends = (power["difference_at_low_usd"], power["difference_at_high_usd"])
        assert power["verdict_flips"] == ((ends[0] >= 0) != (ends[1] >= 0))
    out = _text(claim_answer, 160)
    assert "tornado (GPU cloud, margin)" in out and "tornado (colocation lease, margin)" in out
    assert "# tornado on margin colocation_lease" in text.csv_text(claim_answer)


# --- hourly: empty cells are gaps; every gap filled is said; ERCOT's months by content -----------
def _series(tmp_path: Path, body: str, name: str = "west.csv") -> Path:
    f = tmp_path / name
    f.write_text("hour_start_utc,price_usd_per_mwh\n" + body)
    return f


def _hours(start: int, prices_: list[str]) -> str:
    return "".join(f"{prices._iso(start + i)},{p}\n" for i, p in enumerate(prices_))


def test_empty_cells_are_gaps_refused_with_their_count_and_the_first(tmp_path: Path, cli: Cli) -> None:
    start = 19358 * 24                                         # 2023-01-01T00:00Z
    f = _series(tmp_path, _hours(start, ["10", "", "", "40", "50", "", "70"]))
    r = cli("econ", "--prices", str(f))
    assert r.returncode == 2
    assert "2 gap(s), 3 hour(s) with no price" in r.stderr
    assert "line 3: gap of 2 hour(s) from 2023-01-01T01:00Z" in r.stderr
    s = prices.load(str(f), fill="linear")
    assert s.usd_per_mwh.tolist() == [10, 20, 30, 40, 50, 60, 70] and s.filled_hours == 3
    assert [(g.hours, g.empty) for g in s.gaps] == [(2, True), (1, True)]


def test_an_ercot_real_time_hour_with_an_empty_interval_is_a_gap(tmp_path: Path) -> None:
    header = ("Delivery Date,Delivery Hour,Delivery Interval,Repeated Hour Flag,Settlement Point Name,"
              "Settlement Point Type,Settlement Point Price\n")
    rows = [f"01/02/2024,{h},{i},N,LZ_WEST,LZ,{'' if (h, i) == (2, 3) else 10 * h}\n"
            for h in (1, 2, 3) for i in range(1, 5)]
    f = tmp_path / "rt.csv"
    f.write_text(header + "".join(rows))
    with pytest.raises(InputError, match="1 gap"):
        prices.load(str(f))
    assert prices.load(str(f), fill="linear").usd_per_mwh.tolist() == [10, 20, 30]


def test_every_filled_gap_is_reported_with_its_length(tmp_path: Path) -> None:
    start = 19358 * 24 + 6                                     # midnight Central, 2023-01-01
    body = _hours(start, ["30"] * 100) + _hours(start + 269, ["35"] * 100)
    f = _series(tmp_path, body)
    typed = answer(EconRequest(hourly=HourlyRequest(prices=str(f), fill="previous"), today=TODAY))[0]
    data = typed.to_json()
    assert data["hourly"]["series"]["gaps_filled"] == [
        {"from_utc": prices._iso(start + 100), "hours": 169, "line": 102, "empty_cells": False}]
    assert f"filled 1 gap(s), 169 h in all, by --fill previous: 169 h from {prices._iso(start + 100)}" in _text(typed)


def test_ercot_content_is_grouped_in_central_time_whatever_the_files_name(tmp_path: Path) -> None:
    start = 19358 * 24 + 6 + 30 * 24                           # 2023-01-31T06:00Z, midnight Central
    s = prices.load(str(_series(tmp_path, _hours(start, ["1"] * 48), "hub_prices_2023.csv")))
    assert s.zone == "America/Chicago"
    # 2023-02-01T03:00Z is 21:00 on January 31 in Central time
    assert s.months[21] == "2023-01" and s.months[24] == "2023-02"
    utc = prices.load(str(_series(tmp_path, _hours(start - 6, ["1"] * 48), "other.csv")))
    assert utc.zone == "UTC" and utc.months[27] == "2023-02"


# --- deals (item 3) ------------------------------------------------------------------------------
def test_the_missing_deals_with_their_derivation_and_labels() -> None:
    from benchhash.econ import deals
    by = {(d.miner, d.partner.split(" ")[0]): d.to_json() for d in deals.deals()}
    riot = by[("Riot Platforms", "AMD")]
    assert riot["usd_per_it_mw_year"] == pytest.approx(311e6 / 10 / 25) and riot["date"] == "2026-01-16"
    assert riot["derivation"] == "311 M$ / 10 y / 25 MW = 1.244 M$"
    galaxy = by[("Galaxy", "CoreWeave")]
    assert galaxy["usd"] == 15e9 and galaxy["usd_per_it_mw_year"] == pytest.approx(1e9 / 526)
    hyper = by[("Hyperscale Data", "a")]
    assert hyper["label"] == "services included" and hyper["usd_per_it_mw_year"] == pytest.approx(6e6)
    wulf = next(d for d in deals.deals() if d.row.get("aggregate"))
    assert wulf.usd_per_it_mw_year is None and "0.981-2.452 M$ a year, no single rate" in wulf.derivation
    for d in deals.deals():
        assert d.row["source"] and d.date and d.derivation


def test_the_deals_median_leaves_out_services_and_aggregates_and_later_deals() -> None:
    now = econ_json(EconRequest(deals=True, today=TODAY))["deals"]
    plain = [d["usd_per_it_mw_year"] for d in now["deals"] if d["structure"] == "colocation" and not d["label"]]
    assert now["median_usd_per_it_mw_year"]["colocation"] == pytest.approx(sorted(plain)[len(plain) // 2])
    assert now["median_usd_per_it_mw_year"]["colocation"] == pytest.approx(1.85e6, rel=0.01)
    old = econ_json(EconRequest(market="2026-01-12", deals=True, today=TODAY))["deals"]
    assert all(d["date"] <= "2026-01-12" for d in old["deals"]) and old["later_deals_left_out"] == 4
    lease = next(r for r in now["model"] if r["use"] == "colocation")
    assert lease["term_average_usd_per_it_mw_year"] == 1.85e6
