"""Economics v2: the defects of the first model, each with a test that failed on it; hand-computed
cash flows (a use that never pays back, a lease with an escalator, mining that shuts off in year
k); GPUs priced by their own model and CPUs never; tokens by model class at their own joules per
token; both readings of the claim on three measures; ranges that move with their values; deals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchhash.econ import cashflow, claim, deals, market, model, uses
from benchhash.econ.report import EconRequest, econ_json
from benchhash.econ.uses import Decode, Measured
from benchhash.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "tests" / "data" / "replay_h100.json"


# --- defects -----------------------------------------------------------------------------------
@pytest.mark.parametrize("setting", ["pool_fee=1", "uptime_mining=0"])
def test_a_mining_side_that_earns_nothing_is_said_not_divided_by(setting: str, cli: Any) -> None:
    r = cli("econ", "--claim", "--draws", "200", "--set", setting)
    assert r.returncode == 0, r.stderr
    assert "mining earns nothing" in r.stdout and "Traceback" not in r.stderr
    data = econ_json(EconRequest(claim=True, draws=50, sets=(setting,)))
    c = data["claim"]
    assert c["ratio"] is None and c["verdict"] == "holds" and c["breakevens"]["btc_usd"] is None
    json.dumps(data, allow_nan=False)                  # no NaN or Infinity in the JSON


def _cpu_gemm_result(tmp_path: Path, cli: Any) -> Path:
    out = tmp_path / "cpu-gemm.json"
    r = cli("run", "--device", "cpu", "--workloads", "gemm", "--gemm-size", "256", "--duration", "0.2",
            "--trials", "1", "--warmup", "0", "--meter", f"replay:{REPLAY}", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_a_cpu_result_is_never_priced_as_a_gpu(tmp_path: Path, cli: Any) -> None:
    f = _cpu_gemm_result(tmp_path, cli)
    data = econ_json(EconRequest(results=(str(f),), claim=True, draws=100))
    assert not [u for u in data["uses"] if u["use"].startswith(("ai_rental", "ai_tokens"))]
    assert any("is a CPU: it is not rented by the GPU-hour" in n for n in data["notes"])
    reference = econ_json(EconRequest(claim=True, draws=100))
    assert data["claim"]["ratio"] == pytest.approx(reference["claim"]["ratio"])   # the claim is the H100's
    assert any("the claim uses the reference H100" in n for n in data["notes"])


@pytest.mark.parametrize(("device", "model_name"), [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H200", "H200"),
    ("NVIDIA B200", "B200"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA L40S", "L40S"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("AMD Instinct MI300X", None), ("Tesla T4", None),
])
def test_each_gpu_model_has_its_own_price_and_no_other(device: str, model_name: str | None) -> None:
    assert uses.gpu_model(device) == model_name
    m = market.with_device_prices(market.load())
    p = uses.price(m, Measured("r.json", device, ai_watts=500.0))
    if model_name is None:
        assert isinstance(p, str) and "--set gpu_usd_per_hour=" in p
        given = market.apply_sets(m, ["gpu_usd_per_hour=1.7"])
        q = uses.price(given, Measured("r.json", device, ai_watts=500.0))
        assert isinstance(q, uses.Price) and q.on_demand == 1.7 and q.contract_1y is None
    else:
        row = market.gpu_prices()["models"][model_name]
        assert isinstance(p, uses.Price) and p.on_demand == row["on_demand"]["value"]
        assert p.contract_1y == row["contract_1y"]["value"]


def test_every_gpu_price_is_dated_sourced_and_inside_its_range() -> None:
    table = market.gpu_prices()
    assert set(table["models"]) == {"H100 SXM", "H100 PCIe", "H200", "B200", "A100", "L40S", "RTX 4090"}
    for name, row in table["models"].items():
        for term in ("on_demand", "contract_1y", "server_usd_per_gpu"):
            x = row[term]
            assert x["source"] and x["date"] and x["low"] <= x["value"] <= x["high"], (name, term)
        assert row["contract_1y"]["value"] <= row["on_demand"]["value"] * 1.05, name


def test_tokens_are_priced_by_model_class_at_their_own_joules_per_token() -> None:
    m = market.with_device_prices(market.load())
    tiny = Decode("llm decode.b64", 9000.0, 300.0, 64, "tiny", 4.1e6)
    small = Decode("llm decode.b64", 5000.0, 600.0, 64, "8b", 8.03e9)
    large = Decode("llm decode.b64", 900.0, 690.0, 64, "70b", 70.6e9)
    assert [uses.token_price_key(d) for d in (tiny, small, large)] == \
        [None, "usd_per_m_tokens_8b", "usd_per_m_tokens_70b"]
    # two decode phases: the one with fewer joules per token is priced, with its own watts
    b1 = Decode("llm decode.b1", 100.0, 400.0, 1, "8b", 8.03e9)
    meas = Measured("r.json", "NVIDIA H100 80GB HBM3", ai_watts=700.0, decode=[b1, small])
    best = uses.best_decode(meas)
    assert best is small and best.joules_per_token == pytest.approx(0.12)
    row = uses.ai_tokens(m, meas, small, "usd_per_m_tokens_8b", 35000)
    # the hall is sized on the GPU's peak (700 W, as the rental rows), plus the host's fixed 575 W;
    # each GPU decodes at the phase's own rate (its 600 W give its joules per token)
    host = (m["host_overhead"] - 1) * 700
    gpus = 1e6 / ((700.0 + host) * m["pue_ai"])
    assert row.basis_of(uses.TokensBasis).watts_per_gpu_all_in == pytest.approx(700.0 + host)
    rental = uses.ai_rental(m, meas, uses.Price("H100 SXM", 2.0, None, 35000, "test"))
    assert row.gpus_per_facility_mw == pytest.approx(rental.gpus_per_facility_mw)
    assert row.revenue_now_usd_per_year == pytest.approx(
        gpus * 5000 * 3600 * 8760 * m["gpu_utilisation"] * m["usd_per_m_tokens_8b"] / 1e6)
    large_row = uses.ai_tokens(m, meas, large, "usd_per_m_tokens_70b", 35000)
    assert large_row.basis_of(uses.TokensBasis).usd_per_m_tokens == m["usd_per_m_tokens_70b"]


def test_a_tiny_model_gets_no_token_price(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.econ.report as rep
    tiny = Decode("llm decode.b16", 9000.0, 300.0, 16, "tiny", 4.1e6)
    monkeypatch.setattr(rep, "load", lambda p, *_: (Measured("r.json", "NVIDIA H100 80GB HBM3",
                                                         ai_watts=300.0, decode=[tiny]), []))
    data = econ_json(EconRequest(results=("r.json",), draws=10))
    assert "ai_tokens" not in [u["use"] for u in data["uses"]]
    assert any("too small to sell tokens of" in n for n in data["notes"])


def test_whole_inputs_are_refused_when_not_whole() -> None:
    for setting in ("horizon_years=5.5", "block_height=931000.5", "asic_life_years=0"):
        with pytest.raises(InputError):
            market.apply_sets(market.load(), [setting])


def test_system_kw_decides_the_reference_gpus_all_in_watts(monkeypatch: pytest.MonkeyPatch) -> None:
    import copy
    real = market.systems()
    bigger = copy.deepcopy(real)
    bigger["systems"]["DGX H100"]["system_kw"] = 12.75          # 1,594 W per GPU instead of 1,275
    monkeypatch.setattr(uses, "systems", lambda: bigger)
    w, why = uses.ai_watts_all_in(market.load(), None)
    assert w == pytest.approx(12_750 / 8) and "DGX H100" in why


def test_a_market_file_and_set_give_the_same_range_for_the_same_value(tmp_path: Path) -> None:
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"inputs": {"btc_usd": {"value": 150_000, "source": "x", "date": "2026-11-01"}}}))
    by_file = market.load(str(f)).inputs["btc_usd"]
    by_set = market.apply_sets(market.load(), ["btc_usd=150000"]).inputs["btc_usd"]
    assert (by_file.low, by_file.high) == pytest.approx((by_set.low, by_set.high))
    assert by_file.low < 150_000 < by_file.high                  # not collapsed to a point
    a = econ_json(EconRequest(market=str(f), claim=True, draws=400))["claim"]["monte_carlo"]["share_claim_holds"]
    b = econ_json(EconRequest(sets=("btc_usd=150000",), claim=True, draws=400))["claim"]["monte_carlo"]
    assert a == b["share_claim_holds"]
    given_range = {"btc_usd": {"value": 150_000, "low": 149_000, "high": 151_000, "source": "x", "date": "d"}}
    f.write_text(json.dumps({"inputs": given_range}))
    assert (market.load(str(f)).inputs["btc_usd"].low, market.load(str(f)).inputs["btc_usd"].high) == \
        (149_000, 151_000)                                       # a file's own range is kept


# --- cash flows by hand ------------------------------------------------------------------------
def test_a_use_that_never_pays_back_says_so_and_its_npv_agrees() -> None:
    # 1 M$ a year of margin falling 40 % a year: 1 + 0.6 + 0.36 + ... < 2.5 M$ of capex in 4 years
    p = cashflow.Projection(years=4, revenue_usd_per_year=1e6, power_usd_per_year=0, capex_usd=2.5e6,
                            discount_rate=0.0, revenue_multiplier=cashflow.declining(0.4))
    out = cashflow.project(p)
    total = sum(y.margin_usd for y in out.years)
    assert total == pytest.approx(sum(1e6 * 0.6 ** ((m + 0.5) / 12) / 12 for m in range(48)))
    assert total < 2.5e6 and out.payback_years is None and out.payback_text(4) == "none within 4 y"
    assert out.npv_usd == pytest.approx(total - 2.5e6) and out.npv_usd < 0
    # the first version's payback (capex / first-year margin) would have said 2.5 / 0.77 = 3.2 y


def test_growth_is_felt_within_the_year() -> None:
    p = cashflow.Projection(years=1, revenue_usd_per_year=12e6, power_usd_per_year=0, capex_usd=0,
                            discount_rate=0, revenue_multiplier=cashflow.declining(0.2))
    year = cashflow.project(p).first_year
    assert year.revenue_usd == pytest.approx(sum(1e6 * 0.8 ** ((m + 0.5) / 12) for m in range(12)))
    assert year.revenue_usd < 12e6 * 0.9                       # not a step at the anniversary


def test_a_lease_with_an_escalator_by_hand() -> None:
    p = cashflow.Projection(years=3, revenue_usd_per_year=1.0e6, power_usd_per_year=0.0, capex_usd=2.0e6,
                            discount_rate=0.10, revenue_multiplier=cashflow.escalating(0.03),
                            opex_share_of_revenue=0.1)
    out = cashflow.project(p)
    assert [y.revenue_usd for y in out.years] == pytest.approx([1.0e6, 1.03e6, 1.0609e6])
    assert [y.margin_usd for y in out.years] == pytest.approx([0.9e6, 0.927e6, 0.95481e6])
    monthly = [0.9e6 / 12] * 12 + [0.927e6 / 12] * 12 + [0.95481e6 / 12] * 12
    npv = -2.0e6 + sum(c / 1.1 ** ((i + 1) / 12) for i, c in enumerate(monthly))
    assert out.npv_usd == pytest.approx(npv)
    # payback: 0.9 M$ in year 1, 1.827 M$ after year 2, 2.0 M$ reached 2.24 months into year 3
    assert out.payback_years == pytest.approx(2 + (2.0e6 - 1.827e6) / (0.95481e6 / 12) / 12)


def test_mining_shuts_off_in_the_year_its_margin_turns_negative() -> None:
    # revenue 1 M$ falling with 50 %/y difficulty growth; power 0.5 M$: margin < 0 once
    # 1.5^-t < 0.5, i.e. t > ln 2 / ln 1.5 = 1.71 years (month 21, in year 2)
    mult = cashflow.mining_multiplier(0.5, None, 0.0)
    p = cashflow.Projection(years=4, revenue_usd_per_year=1e6, power_usd_per_year=0.5e6, capex_usd=0,
                            discount_rate=0, revenue_multiplier=mult, can_switch_off=True)
    out = cashflow.project(p)
    first_bad = next(m for m in range(48) if 1e6 * 1.5 ** -((m + 0.5) / 12) < 0.5e6)
    assert out.switched_off_year == pytest.approx(first_bad / 12)
    assert out.switched_off_year is not None and int(out.switched_off_year) == 1      # in year 2
    assert [y.running_months for y in out.years] == [12, first_bad - 12, 0, 0]
    assert all(y.margin_usd >= 0 for y in out.years)            # it never ran at a loss


def test_halvings_halve_the_subsidy_and_keep_the_fees() -> None:
    mult = cashflow.mining_multiplier(0.0, 1.0, 0.1)
    assert mult(0.5) == pytest.approx(1.0)
    assert mult(1.5) == pytest.approx(0.9 / 2 + 0.1)


def test_each_use_has_its_own_horizon(monkeypatch: pytest.MonkeyPatch) -> None:
    data = econ_json(EconRequest(draws=1))
    h = {u["use"]: u["horizon_years"] for u in data["uses"]}
    i = {k: v["value"] for k, v in data["inputs"].items()}
    assert h["asic_mining"] == min(i["asic_life_years"], i["horizon_years"])
    assert h["ai_rental"] == min(i["gpu_life_years"], i["horizon_years"])
    assert h["colocation"] == min(i["colocation_lease_years"], i["horizon_years"])
    capped = econ_json(EconRequest(draws=1, sets=("horizon_years=3",)))
    assert {u["horizon_years"] for u in capped["uses"]} == {3}


def test_non_power_opex_is_in_the_margin() -> None:
    data = econ_json(EconRequest(draws=1, sets=("gpu_price_decline_per_year=0",)))
    row = next(u for u in data["uses"] if u["use"] == "ai_rental")
    share = data["inputs"]["opex_ai_share_of_revenue"]["value"]
    assert row["opex_usd_per_year"] == pytest.approx(share * row["revenue_usd_per_year"])
    assert row["margin_usd_per_year"] == pytest.approx(
        row["revenue_usd_per_year"] * (1 - share) - row["power_cost_usd_per_year"])


def test_asic_price_per_model_and_its_override() -> None:
    rows = {}
    for name in ("S19j Pro", "S21 XP Hydro"):
        data = econ_json(EconRequest(asic=name, draws=1))
        rows[name] = data["uses"][0]
        assert data["inputs"]["asic_usd_per_th"]["value"] == market.asics()[name]["usd_per_th"]["value"]
    assert rows["S19j Pro"]["basis"]["asic_usd_per_th"] < rows["S21 XP Hydro"]["basis"]["asic_usd_per_th"]
    given = econ_json(EconRequest(asic="S21", draws=1, sets=("asic_usd_per_th=5",)))
    assert given["uses"][0]["basis"]["asic_usd_per_th"] == 5


# --- the claim, both readings --------------------------------------------------------------------
def test_the_claim_in_both_readings_on_three_measures() -> None:
    c = econ_json(EconRequest(claim=True, draws=500))["claim"]
    for reading in ("gpu_cloud", "colocation_lease"):
        for measure in ("revenue", "margin", "return_on_capital"):
            r = c[reading][measure]
            assert r["verdict"] in ("holds", "does not hold") and r["in_words"]
            if r["ratio"] is not None:
                assert r["ratio"] == pytest.approx(r["ai_usd"] / r["mining_usd"])
                assert r["holds"] == (r["ratio"] >= 1)
    assert c["gpu_cloud"]["revenue"]["ratio"] == c["ratio"]           # the version-1 keys still hold
    assert len(c["verdicts"]) == 3 and c["verdicts"][0].startswith("on revenue, GPU cloud: ")
    # the shipped snapshot: renting GPUs out-earns 10x the mining MW; leasing the hall does not
    assert c["gpu_cloud"]["revenue"]["holds"] and not c["colocation_lease"]["revenue"]["holds"]
    assert c["colocation_lease"]["revenue"]["ratio"] < 0.5


def test_lease_reading_by_hand() -> None:
    m = market.with_device_prices(market.load())
    v = m.values()
    s = claim.Setup(10, 100, 17.5, 700, 3.125)
    lease = claim.colocation_lease(v, s)
    # the deals' rate is a term average: the first year pays average x n / sum((1 + e)^k, k < n)
    n, e = int(v["colocation_lease_years"]), v["colocation_escalator_per_year"]
    first = v["colocation_usd_per_it_mw_year"] * n / sum((1 + e) ** k for k in range(n))
    assert lease.revenue == pytest.approx(first * 10 / v["pue_ai"])
    assert claim.ratio(v, s, "colocation_lease") == pytest.approx(lease.revenue / claim.mining(v, s).revenue)


def test_fleet_efficiency_is_uncertain_and_btc_and_difficulty_move_together() -> None:
    m = market.with_device_prices(market.load())
    s = claim.Setup(10, 100, 17.5, 700, 3.125)
    assert "asic_efficiency_factor" in [r.input for r in claim.tornado(m, s)]
    d = claim.draws_of(m, ("btc_usd", "difficulty", "pue_ai"), 20_000, seed=3)
    from scipy.stats import spearmanr
    rho = m["btc_difficulty_correlation"]
    assert spearmanr(d["btc_usd"], d["difficulty"]).statistic == pytest.approx(6 / math.pi * math.asin(rho / 2),
                                                                                abs=0.03)
    assert abs(spearmanr(d["btc_usd"], d["pue_ai"]).statistic) < 0.03
    for key in ("btc_usd", "difficulty"):
        x = m.inputs[key]
        assert x.low <= float(np.min(d[key])) and float(np.max(d[key])) <= x.high


# --- market data -------------------------------------------------------------------------------
def test_the_january_difficulty_is_the_one_set_on_january_8() -> None:
    m = market.load("2026-01-12")
    assert m["difficulty"] == 146.47e12 and m.inputs["difficulty"].date == "2026-01-08"
    assert uses.derived(m).hashprice_usd_per_ph_day == pytest.approx(39.33, abs=0.01)


def test_the_newest_snapshot_is_the_default_and_every_input_is_sourced() -> None:
    names = market.snapshots()
    assert market.default_snapshot() == names[-1] == "2026-06-26"
    m = market.load()
    assert m.name == "2026-06-26"
    for key, x in m.inputs.items():
        assert x.source and x.date and x.low <= x.value <= x.high, key
    assert m.inputs["gpu_usd_per_hour"].origin == "table"


def test_old_market_files_with_moved_inputs_still_load(tmp_path: Path) -> None:
    f = tmp_path / "old.json"
    f.write_text(json.dumps({"inputs": {"asic_usd_per_th": {"value": 12, "source": "quote", "date": "2026-01-01"},
                                        "gpu_server_usd_per_gpu": {"value": 30000, "source": "q", "date": "d"}}}))
    data = econ_json(EconRequest(market=str(f), draws=1))
    assert data["uses"][0]["basis"]["asic_usd_per_th"] == 12
    assert data["inputs"]["gpu_server_usd_per_gpu"]["value"] == 30000


# --- deals ---------------------------------------------------------------------------------------
def test_deals_are_sourced_and_their_rate_is_computed_not_quoted(cli: Any) -> None:
    ds = deals.deals()
    assert len(ds) >= 8
    for d in ds:
        assert d.row["source"] and d.date and d.structure in ("gpu_cloud", "colocation")
        if d.usd_per_it_mw_year is not None:            # an aggregate across terms has no single rate
            assert d.years is not None
            assert d.usd_per_it_mw_year == pytest.approx(d.usd / d.years / d.it_mw)
    iren = next(d for d in ds if d.miner == "IREN")
    assert iren.usd_per_it_mw_year == pytest.approx(9.7e6)
    data = econ_json(EconRequest(deals=True, draws=1))
    assert data["deals"]["median_usd_per_it_mw_year"]["colocation"] == pytest.approx(1.85e6, rel=0.01)
    assert {r["use"] for r in data["deals"]["model"]} >= {"ai_rental", "colocation"}
    r = cli("econ", "--deals")
    assert r.returncode == 0 and "IREN" in r.stdout and "median deal" in r.stdout


def test_model_formulas_still_refuse_nonsense() -> None:
    with pytest.raises(InputError):
        cashflow.project(cashflow.Projection(years=0, revenue_usd_per_year=1, power_usd_per_year=0,
                                             capex_usd=0, discount_rate=0))
    with pytest.raises(InputError):
        cashflow.mining_multiplier(-1.5, None, 0.0)
    assert model.subsidy_factor(3.0, 1.0) == 0.5 and model.subsidy_factor(5.0, 1.0) == 0.25
