"""`econ --decision` (issue 26 item 2), checked by hand: a 2-year toy site for each path, then
each piece of the finance on its own (the tax shield, debt service, the build delay, residual
values), IRR and payback, the break-evens, the JSON and the text."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from benchhash.econ import decision, finance, market, paths, uses
from benchhash.econ.finance import Asset, Finance, Stream
from benchhash.econ.report import EconRequest, econ_json
from conftest import Cli

#: A 2-year toy: one facility MW, owned machines that are sunk, no growth and no halving within
#: the horizon, flat GPU prices, a 6-month build, no ramp, no tax, no debt.
TOY = ("horizon_years=2", "block_height=1050000", "btc_usd=120000", "difficulty_growth_per_year=0",
       "power_usd_per_mwh=20", "site_facility_mw=1", "asics_owned_mw=1", "asic_resale_usd_per_th=0",
       "asic_refresh_years=4", "conversion_build_months=6", "ai_ramp_months=0", "gpu_life_years=1",
       "gpu_price_decline_per_year=0", "gpu_usd_per_hour=2", "gpu_utilisation=0.5", "gpu_usd_per_hour_1y=1.5",
       "gpu_utilisation_contract=1", "gpu_contract_prepayment_share=0", "capex_ai_usd_per_it_mw=6000000",
       "colocation_usd_per_it_mw_year=1200000", "colocation_escalator_per_year=0", "colocation_lease_years=2",
       "residual_gpu_share=0.1", "residual_building_share=0.3", "tax_rate=0", "debt_share=0", "mullet_ai_share=0.5",
       "discount_rate_mining=0.12", "discount_rate_gpu_on_demand=0.15", "discount_rate_gpu_contract=0.1",
       "discount_rate_lease=0.08")
N = 24


def toy(*more: str) -> market.Market:
    return market.apply_sets(market.with_device_prices(market.load(), "S21"), [*TOY, *more])


def setting() -> decision.Setting:
    return decision.Setting(market.Asic.of("S21", market.asics()["S21"]))


def pv(flows: list[float], rate: float) -> float:
    """By hand: each month's flow at its end, (1 + r)^-((t + 1) / 12)."""
    return sum(cf / (1 + rate) ** ((t + 1) / 12) for t, cf in enumerate(flows))


def row(m: market.Market, use: str) -> uses.Use:
    ctx = decision.context(m, setting())
    return {"mining": ctx.rows.mining, "on_demand": ctx.rows.on_demand, "contract": ctx.rows.contract,
            "lease": ctx.rows.lease}[use]  # type: ignore[return-value]


# --- the 2-year toy, path by path ----------------------------------------------------------------
def mining_by_hand(m: market.Market, mw: float) -> list[float]:
    r = row(m, "mining")
    margin = (r.revenue_now_usd_per_year - r.power_now_usd_per_year - r.opex_now_usd_per_year) * mw / 12
    assert margin > 0                                         # the toy's fleet runs all 24 months
    return [margin] * N


def test_keep_mining_by_hand() -> None:
    m = toy()
    got = decision.evaluate(m, setting())["keep_mining"]
    assert got.npv_usd == pytest.approx(pv(mining_by_hand(m, 1.0), 0.12), rel=1e-12)
    assert got.to_json()["peak_capital_usd"] == 0 and got.to_json()["payback_years"] == 0.0


def hall_by_hand(m: market.Market, mw: float) -> tuple[list[float], float]:
    """The conversion: capex / 6 in each of months 0-5; the hall sold for 30 % at the horizon."""
    cost = 6e6 * mw / m["pue_ai"]
    flows = [-cost / 6 if t < 6 else 0.0 for t in range(N)]
    flows[-1] += 0.3 * cost
    return flows, cost


@pytest.mark.parametrize(("path", "use", "rate"), [("gpu_cloud_on_demand", "on_demand", 0.15),
                                                    ("gpu_cloud_contract", "contract", 0.1)])
def test_gpu_cloud_by_hand(path: str, use: str, rate: float) -> None:
    m = toy()
    r = row(m, use)
    flows, _ = hall_by_hand(m, 1.0)
    b = r.basis_of(uses.RentalBasis)
    gpus = b.gpus_per_facility_mw * b.server_usd_per_gpu
    operating = (r.revenue_now_usd_per_year * (1 - m["opex_ai_share_of_revenue"]) - r.power_now_usd_per_year) / 12
    for t in range(6, N):
        flows[t] += operating
    flows[5] -= gpus                      # generation 1, bought in the build's last month, runs months 6-17
    flows[17] += 0.1 * gpus - gpus        # sold for 10 % at the end of its year; generation 2 bought
    flows[23] += (0.1 + 0.9 * 0.5) * gpus  # generation 2, half its life gone at the horizon: straight line
    got = decision.evaluate(m, setting())[path]
    assert got.npv_usd == pytest.approx(pv(flows, rate), rel=1e-12)
    assert got.to_json()["peak_capital_usd"] == pytest.approx(-min(np.cumsum(flows)), rel=1e-12)


def lease_by_hand(m: market.Market, mw: float) -> list[float]:
    flows, _ = hall_by_hand(m, mw)
    rent = 1.2e6 * mw / m["pue_ai"]       # no escalator: the first year pays the term average
    for t in range(6, N):
        flows[t] += rent * (1 - m["opex_colocation_share_of_revenue"]) / 12   # the tenant pays the power
    return flows


def test_lease_by_hand() -> None:
    m = toy()
    got = decision.evaluate(m, setting())["lease"].to_json()
    assert got["npv_usd"] == pytest.approx(pv(lease_by_hand(m, 1.0), 0.08), rel=1e-12)
    ebitda = 1.2e6 / m["pue_ai"] * 0.9
    assert got["first_year_ebitda_usd"] == pytest.approx(ebitda)
    assert got["first_year_ebitda_margin"] == pytest.approx(0.9)


def test_the_mullet_is_its_mining_half_and_its_lease_half_each_at_its_rate() -> None:
    m = toy()
    got = decision.evaluate(m, setting())["mullet"]
    assert got.npv_usd == pytest.approx(pv(mining_by_hand(m, 0.5), 0.12) + pv(lease_by_hand(m, 0.5), 0.08), rel=1e-12)
    assert [g.stream.discount_rate for g in got.ledgers] == [0.12, 0.08]


# --- each piece on its own -----------------------------------------------------------------------
def flat(value: float = 100.0) -> np.ndarray:
    return np.full(N, value)


def test_the_tax_shield_by_hand() -> None:
    # 100 a month of EBITDA; a 1,200 asset depreciated over one year from the month after it is bought
    s = Stream("t", 0.0, flat(), flat(0.0), flat(0.0), assets=[Asset("gpu", 0, 1200.0)])
    g = finance.ledger(s, Finance(tax_rate=0.25, life_years={"gpu": 1.0}))
    assert g.depreciation.tolist() == [0.0] + [100.0] * 12 + [0.0] * 11
    assert g.tax.tolist() == [25.0] + [0.0] * 12 + [25.0] * 11      # the shield: 25 a month for a year
    assert g.equity_cf.tolist() == [100 - 25 - 1200] + [100.0] * 12 + [75.0] * 11


def test_debt_service_by_hand() -> None:
    # 600 of a 1,200 purchase borrowed at 12 % (1 % a month), repaid level over a year from month 1
    s = Stream("d", 0.0, flat(0.0), flat(0.0), flat(0.0), assets=[Asset("gpu", 0, 1200.0)])
    g = finance.ledger(s, Finance(life_years={"gpu": 5.0}, debt_share=0.5, debt_rate=0.12, debt_term_years=1))
    payment = 600 * 0.01 / (1 - 1.01 ** -12)
    assert g.draws[0] == 600 and g.interest[1] == pytest.approx(6.0) and g.principal[1] == pytest.approx(payment - 6)
    assert (g.interest + g.principal)[1:13] == pytest.approx([payment] * 12)
    assert g.principal.sum() == pytest.approx(600) and not g.principal[13:].any()
    assert g.equity_cf[0] == pytest.approx(-600)          # the equity's share of the purchase


def test_a_loan_outlasting_the_horizon_is_repaid_at_it() -> None:
    s = Stream("d", 0.0, flat(0.0), flat(0.0), flat(0.0), assets=[Asset("gpu", 0, 1000.0)])
    g = finance.ledger(s, Finance(debt_share=1.0, debt_rate=0.0, debt_term_years=10))
    assert g.principal[1:23] == pytest.approx([1000 / 120] * 22)
    assert g.principal[23] == pytest.approx(1000 - 22 * 1000 / 120)       # its payment and the rest


def test_the_build_delays_the_use_and_stops_the_mining_of_its_halls() -> None:
    m = toy("conversion_build_months=9")
    ctx = decision.context(m, setting())
    lease = paths.lease_stream(ctx, 1.0, 1.0)
    assert not lease.revenue[:9].any() and lease.revenue[9:].all()
    assert [a.month for a in lease.assets if a.kind == "building"] == list(range(9))
    assert paths.lost_in_build(ctx, 1.0) == pytest.approx(sum(mining_by_hand(m, 1.0)[:9]))
    quick = decision.evaluate(toy("conversion_build_months=3"), setting())["lease"].npv_usd
    assert decision.evaluate(m, setting())["lease"].npv_usd < quick


def test_residual_values_by_hand() -> None:
    # a 1,000 asset bought in month 0 and sold in month 23 for 400: book 1,000 - 23/60 x 1,000
    s = Stream("r", 0.0, flat(0.0), flat(0.0), flat(0.0), assets=[Asset("building", 0, 1000.0, 23, 400.0)])
    g = finance.ledger(s, Finance(tax_rate=0.2, life_years={"building": 5.0}))
    book = 1000 - 23 * 1000 / 60
    assert g.sales[23] == 400 and g.gains[23] == pytest.approx(400 - book)
    assert g.equity_cf[23] == pytest.approx(400 - 0.2 * (400 - book - 1000 / 60))
    m = toy("residual_building_share=0.5")
    lo, hi = (decision.evaluate(x, setting())["lease"].npv_usd for x in (toy(), m))
    cost = 6e6 / m["pue_ai"]
    assert hi - lo == pytest.approx(0.2 * cost / 1.08 ** 2, rel=1e-12)    # no tax in the toy


def test_an_asic_fleet_is_replaced_only_when_its_next_life_pays() -> None:
    m = toy("asic_refresh_years=1", "asic_life_years=1", "asic_usd_per_th=1")
    ctx = decision.context(m, setting())
    s = paths.mining_stream(ctx, 1.0, 1.0)
    assert [a.month for a in s.assets] == [12] and "replaced in month 13" in s.notes[0]
    dear = paths.mining_stream(decision.context(toy("asic_refresh_years=1", "asic_usd_per_th=500"), setting()),
                               1.0, 1.0)
    assert not dear.assets and not dear.revenue[12:].any() and "mining stops" in dear.notes[0]


def test_owned_machines_sold_when_their_halls_convert() -> None:
    m = toy("asic_resale_usd_per_th=3")
    th = decision.context(m, setting()).th_per_mw
    sold, sunk = (decision.evaluate(x, setting())["lease"].npv_usd for x in (m, toy()))
    assert sold - sunk == pytest.approx(3 * th / 1.08 ** (1 / 12), rel=1e-12)


# --- IRR, payback ---------------------------------------------------------------------------------
def test_irr_by_brentq_and_payback() -> None:
    cf = np.zeros(24)
    cf[0], cf[12] = -100.0, 110.0
    # -100 at the end of month 1, +110 a year later: 10 % a year
    assert finance.irr(cf) == pytest.approx(0.10, abs=1e-9)
    assert finance.irr(np.full(12, 5.0)) is None
    assert finance.payback_years(cf) == pytest.approx(12 / 12 + 100 / 110 / 12)
    assert finance.payback_years(-np.ones(5)) is None and finance.payback_years(np.ones(5)) == 0.0


# --- the answer ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def decided() -> dict[str, Any]:
    return econ_json(EconRequest(decision=True))


def test_every_path_in_json_with_its_yearly_cash_flows(decided: dict[str, Any]) -> None:
    d = decided["decision"]
    assert [p["name"] for p in d["paths"]] == list(paths.PATHS)
    for p in d["paths"]:
        for key in ("name", "npv_usd", "irr", "payback_years", "peak_capital_usd", "equity_needed_usd",
                    "first_year_ebitda_usd", "first_year_ebitda_margin", "cash_flows"):
            assert key in p, key
        assert len(p["cash_flows"]) == 15
        assert sum(y["equity_pv_usd"] for y in p["cash_flows"]) == pytest.approx(p["npv_usd"], rel=1e-9)
    assert d["best"] == d["ranking"][0] and d["verdict"].startswith("best: ")
    assert "utilisation: on-demand GPU cloud" in d["verdict"]


def test_a_break_even_is_where_two_paths_are_worth_the_same(decided: dict[str, Any]) -> None:
    m = market.with_device_prices(market.load())
    found = [(b["input"], side, b[side]) for b in decided["decision"]["breakevens"] for side in ("below", "above")
             if b[side] is not None and b["input"] != "conversion_build_months"]
    assert found
    for key, _, f in found:
        at = decision.npvs(m.with_value(key, f["at"]), setting())
        lead = decided["decision"]["best"]
        assert at[lead] == pytest.approx(at[f["leader"]], rel=1e-6, abs=1e3)


def test_the_tornado_moves_each_input_to_its_ends(decided: dict[str, Any]) -> None:
    t = decided["decision"]["tornado"]
    assert [r["swing_usd"] for r in t] == sorted((r["swing_usd"] for r in t), reverse=True)
    m = market.with_device_prices(market.load())
    r = next(r for r in t if r["input"] == "conversion_build_months")
    assert r["npv_at_high_usd"] == pytest.approx(
        decision.npvs(m.with_value("conversion_build_months", r["high"]), setting())[decided["decision"]["best"]])


def test_the_decisions_inputs_are_set_keys_with_sources(cli: Cli) -> None:
    r = cli("econ", "--inputs", "--format", "json")
    inputs = json.loads(r.stdout)["inputs"]
    for key in market.decision_defaults():
        x = inputs[key]
        assert x["source"] and x["date"] and x["unit"] and x["allowed"], key
    assert market.allowed("debt_share").problem(0.99) is not None


def test_decision_in_text_and_json(cli: Cli) -> None:
    r = cli("econ", "--decision", "--set", "conversion_build_months=18", "--set", "debt_share=0.6")
    out = " ".join(r.stdout.split())
    assert r.returncode == 0 and "verdict: best:" in out and "break-evens at which the ranking flips" in out
    assert "tornado on NPV" in out and "GPU-hour prices used" in out and "18-month build" in out
    j = json.loads(cli("econ", "--decision", "--json").stdout)
    assert {p["name"] for p in j["decision"]["paths"]} == set(paths.PATHS)


@pytest.mark.parametrize("contract", ["index", "ppa"])
def test_price_responsive_mining_matches_the_hourly_dispatch(contract: str) -> None:
    from benchhash.econ import prices
    from benchhash.econ.site import HourlyRequest
    data = econ_json(EconRequest(decision=True, hourly=HourlyRequest(contract=contract)))
    flexible = data["hourly"]["uses"]["mining_flexible"]
    m = market.with_device_prices(market.load())
    st = decision.Setting(market.Asic.of("S21", market.asics()["S21"]), series=prices.load(None), contract=contract)
    mining = decision.context(m, st).rows.hourly_mining
    assert mining is not None
    revenue, power = mining(1.0)
    assert revenue == pytest.approx(flexible["revenue_usd_per_year"], rel=1e-9)
    assert power == pytest.approx(flexible["power_cost_usd_per_year"] - flexible["credits_usd_per_year"], rel=1e-9)
    assert data["decision"]["site"]["mining_hourly"] == data["hourly"]["series"]["label"]
    # the AI halls are firm: they pay the series' mean plus the adder (index) or the PPA's price
    firm = data["hourly"]["series"]["mean_usd_per_mwh"] + m["power_adder_usd_per_mwh"] if contract == "index" \
        else m["power_usd_per_mwh"]
    assert data["decision"]["site"]["ai_power_usd_per_mwh"] == pytest.approx(firm)
