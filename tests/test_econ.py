"""Market data, overrides, the per-use table, the claim analysis and the `econ` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchhash.econ import claim, market, uses
from benchhash.econ.report import EconRequest, econ_json
from benchhash.errors import InputError
from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"


def test_every_shipped_figure_has_source_date_and_a_range_around_it() -> None:
    for name in market.snapshots():
        m = market.load(name)
        for key, x in m.inputs.items():
            assert x.source and x.date and x.low <= x.value <= x.high, key


def test_asic_table_is_consistent_with_its_own_specs() -> None:
    table = market.asics()
    for model in ("S19j Pro", "S19 XP", "S21", "S21 Pro", "S21 XP", "S21 XP Hydro", "M60S", "M66S"):
        a = table[model]
        assert a["source"] and a["date"]
        assert a["watts"] / a["th_s"] == pytest.approx(a["j_per_th"], rel=0.03), model
    dgx = market.systems()["systems"]["DGX H100"]
    assert dgx["system_kw"] * 1000 / dgx["gpus"] == pytest.approx(1275)


def test_reference_gpu_all_in_watts_is_the_dgx_share() -> None:
    w, why = uses.ai_watts_all_in(market.load(), None)
    assert w == pytest.approx(1275, rel=1e-3) and "DGX H100" in why


def test_set_overrides_value_and_source() -> None:
    base = market.load().inputs["btc_usd"]
    m = market.apply_sets(market.load(), ["btc_usd=200_000", "gpu_usd_per_hour=3"])
    x = m.inputs["btc_usd"]
    assert x.value == 200_000 and x.source == "user override (--set)" and x.origin == "set"
    # the value moved, the relative range stayed
    assert x.low == pytest.approx(200_000 * base.low / base.value)
    assert x.high == pytest.approx(200_000 * base.high / base.value)


@pytest.mark.parametrize(("sets", "needle"), [
    (["btc_usd=-5"], "must not be negative"),
    (["pue_ai=0.9"], "at least 1"),
    (["gpu_utilisation=1.5"], "fraction"),
    (["btc_uds=5"], "did you mean 'btc_usd'"),
    (["btc_usd"], "key=value"),
    (["btc_usd=lots"], "not a number"),
])
def test_bad_sets(sets: list[str], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        market.apply_sets(market.load(), sets)


def test_market_file_merges_over_the_snapshot(tmp_path: Path) -> None:
    f = tmp_path / "mine.json"
    mine = {"power_usd_per_mwh": {"value": 30, "source": "our PPA", "date": "2026-11-01"}}
    f.write_text(json.dumps({"inputs": mine}))
    m = market.load(str(f))
    x, base = m.inputs["power_usd_per_mwh"], market.load().inputs["power_usd_per_mwh"]
    assert x.value == 30 and x.source == "our PPA" and x.origin == "file"
    assert (x.low, x.high) == pytest.approx((30 * base.low / base.value, 30 * base.high / base.value))
    assert m["btc_usd"] == market.load()["btc_usd"]


@pytest.mark.parametrize(("content", "needle"), [
    ("{", "not JSON"),
    ('{"inputs": 3}', "'inputs' object"),
    ('{"inputs": {"btc": {"value": 1}}}', "unknown market input 'btc'"),
    ('{"inputs": {"btc_usd": {"value": -1}}}', "must not be negative"),
    ('{"inputs": {"btc_usd": {"value": 5, "low": 10}}}', "outside its range"),
    ('{"inputs": {"btc_usd": {"value": 5, "colour": "red"}}}', "unknown field"),
])
def test_malformed_market_files(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "m.json"
    f.write_text(content)
    with pytest.raises(InputError, match=needle):
        market.load(str(f))


def _setup(m: market.Market) -> claim.Setup:
    return claim.Setup(10, 100, 17.5, 700, 3.125)


def test_claim_figures_by_hand() -> None:
    m = market.load("2026-01-12")
    s = _setup(m)
    ai, mining = claim.revenues(m.values(), s)
    assert ai == pytest.approx(105.7e6, rel=0.002)            # 10 MW of H100 at 2.50 $/h, 80 %
    # 100 MW of S21: 1000/(17.5*1.05) PH/MW * 100 MW * 39.33 $/PH/day * 365 * 0.97 * 0.98
    assert mining == pytest.approx(100 * 1000 / (17.5 * 1.05) * 39.33 * 365 * 0.97 * 0.98, rel=0.003)
    b = claim.breakevens(m, s)
    assert b.gpu_usd_per_hour is not None and b.btc_usd is not None
    at = m.with_value("gpu_usd_per_hour", b.gpu_usd_per_hour)
    assert claim.ratio(at.values(), s) == pytest.approx(1.0)
    at = m.with_value("btc_usd", b.btc_usd)
    assert claim.ratio(at.values(), s) == pytest.approx(1.0)


def test_tornado_sorted_and_monte_carlo_seeded() -> None:
    m = market.load()
    s = _setup(m)
    t = claim.tornado(m, s)
    assert [r.swing for r in t] == sorted((r.swing or 0.0 for r in t), reverse=True)
    a = claim.monte_carlo(m, s, draws=2000, seed=7)
    assert a == claim.monte_carlo(m, s, draws=2000, seed=7)
    assert a != claim.monte_carlo(m, s, draws=2000, seed=8)
    r = a.revenue
    assert r.p5 is not None and r.p50 is not None and r.p95 is not None
    assert r.p5 <= r.p50 <= r.p95 and 0 <= r.share_claim_holds <= 1
    j = a.to_json()                 # its top-level figures are the revenue ones, as version 1 had them
    assert (j["p5"], j["p50"], j["p95"], j["share_claim_holds"]) == (r.p5, r.p50, r.p95, r.share_claim_holds)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.5, 10), st.floats(0.5, 10), st.floats(10_000, 400_000))
def test_ratio_monotone_in_gpu_price_and_btc_price(p1: float, p2: float, btc: float) -> None:
    m = market.load()
    s = _setup(m)
    v = m.values()
    lo, hi = sorted((p1, p2))
    cheap, dear = (claim.ratio({**v, "gpu_usd_per_hour": p, "btc_usd": btc}, s) for p in (lo, hi))
    now, later = (claim.ratio({**v, "btc_usd": b}, s) for b in (btc, btc * 1.1))
    assert cheap is not None and dear is not None and now is not None and later is not None
    assert cheap <= dear and now >= later


def test_json_holds_every_input_beside_every_output() -> None:
    data = econ_json(EconRequest(sets=("power_usd_per_mwh=50",), asic="S21 XP", claim=True, draws=500))
    assert data["inputs"]["power_usd_per_mwh"]["value"] == 50
    assert all({"value", "unit", "source", "date", "low", "high"} <= set(x) for x in data["inputs"].values())
    kinds = [u["use"] for u in data["uses"]]
    assert kinds == ["asic_mining", "device_mining", "ai_rental", "ai_rental_contract", "colocation"]
    assert any("reference figures" in n for n in data["notes"])
    asic = data["uses"][0]
    # recompute the ASIC row by hand from the inputs in the JSON
    i = {k: v["value"] for k, v in data["inputs"].items()}
    hp = data["derived"]["hashprice_usd_per_ph_day"]
    j = 13.5 * i["asic_efficiency_factor"]
    rev = 1000 / (j * i["pue_mining"]) * hp * 365 * i["uptime_mining"] * (1 - i["pool_fee"])
    assert asic["revenue_now_usd_per_year"] == pytest.approx(rev)
    months = asic["cash_flows"][0]["running_months"]
    assert asic["power_cost_usd_per_year"] == pytest.approx(8760 * i["uptime_mining"] * 50 * months / 12)
    assert asic["capex_usd"] == pytest.approx(i["capex_mining_usd_per_mw"] + asic["basis"]["th_s_per_facility_mw"]
                                              * i["asic_usd_per_th"])
    assert data["claim"]["verdict"] in ("holds", "does not hold")


def test_measured_result_gives_a_device_mining_row() -> None:
    data = econ_json(EconRequest(results=(str(GOLDEN),), draws=100))
    row = next(u for u in data["uses"] if u["use"] == "device_mining")
    assert "(replayed)" in row["label"] and row["basis"]["source"] == str(GOLDEN)
    assert row["basis"]["server_usd_per_device"] == data["inputs"]["cpu_server_usd"]["value"]
    assert [n for n in data["notes"] if "is a CPU: it is not rented by the GPU-hour" in n]
    assert not [u for u in data["uses"] if u["use"].startswith("ai_rental")]


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "btc_usd=-1"], "must not be negative"),
    (["--set", "pue_mining=0.5"], "at least 1"),
    (["--set", "nope=1"], "unknown market input"),
    (["--asic", "S99"], "unknown ASIC"),
    (["--market", "1999-01-01"], "unknown market"),
    (["/nonexistent/result.json"], "no such file"),
    (["--claim", "--ai-mw", "0"], "--ai-mw"),
])
def test_econ_bad_input_one_line_exit_2(args: list[str], needle: str, cli: Cli) -> None:
    proc = cli("econ", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_econ_claim_prints_verdict(cli: Cli) -> None:
    proc = cli("econ", "--claim", "--draws", "1000")
    assert proc.returncode == 0, proc.stderr
    assert "ratio" in proc.stdout and "tornado" in proc.stdout and "Monte Carlo" in proc.stdout


def test_tokens_row_needs_an_energy_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchhash.econ.report as rep
    from benchhash.econ.uses import Decode, Measured
    m = market.load()
    d = Decode("llm decode.b64", 5000.0, 690.0, 64, "8b", 8.03e9)
    meas = Measured("r.json", "NVIDIA H100 80GB HBM3", ai_watts=690.0, tokens_per_second=5000.0, decode=[d])
    row = uses.ai_tokens(m, meas, d, "usd_per_m_tokens_8b", 35000)
    host = (m["host_overhead"] - 1) * 700          # the DGX H100 host's share per GPU, fixed: 575 W
    gpus = 1e6 / ((690.0 + host) * m["pue_ai"])
    tokens = gpus * 5000 * 3600 * 8760 * m["gpu_utilisation"]
    assert row.revenue_now_usd_per_year == pytest.approx(tokens * m["usd_per_m_tokens_8b"] / 1e6)
    no_energy = Measured("r.json", "NVIDIA H100 80GB HBM3", tokens_per_second=5000.0,
                         decode=[Decode("llm decode.b64", 5000.0, None, 64, "8b", 8.03e9)])
    monkeypatch.setattr(rep, "load", lambda p, *_: (no_energy, []))
    data = econ_json(EconRequest(results=("r.json",), draws=10))
    assert "ai_tokens" not in [u["use"] for u in data["uses"]]
    assert any("without an energy reading" in n for n in data["notes"])
