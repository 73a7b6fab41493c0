"""A power-limit sweep priced: revenue, margin and NPV per facility MW at each cap, checked against
figures computed by hand from the market inputs, and the best cap for each; then a sweep file
from a real run, through verify, `econ` and `report`."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from benchhash.econ import caps, uses
from benchhash.econ import market as markets
from benchhash.hw.cpu import cpu_name
from benchhash.meters.replay import ReplayMeter
from benchhash.results import io
from benchhash.results.build import build
from benchhash.results.model import Config, Device, Gpu
from benchhash.review.verify import verdict
from benchhash.runner import Runner
from benchhash.workloads import create
from benchhash.workloads.base import PhaseFigures, RunContext
from test_power import Levels
from test_runner import ENV

H100 = Device(kind="cuda", name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:1B:00.0")
SETS = ["horizon_years=3", "discount_rate=0", "token_price_decline_per_year=0", "gpu_server_usd_per_gpu=15000"]
#: cap W -> (tokens/s, measured W): the decode of an 8B model at batch 64, made up
DECODE = {700.0: (5000.0, 690.0), 500.0: (4700.0, 495.0), 300.0: (3300.0, 298.0)}


def decode_phases() -> list[caps.Phase]:
    params = {"preset": "8b", "batch": 64}
    return [caps.Phase("llm", "decode.b64", "token", cap, PhaseFigures("decode.b64", tps, w, dict(params)))
            for cap, (tps, w) in DECODE.items()]


def by_hand(m: markets.Market, tps: float, watts: float) -> dict[str, float]:
    """One facility MW of GPUs at this cap, from the inputs alone: GPUs = 1 MW / ((watts + the
    host's fixed share, (host overhead - 1) x 700 W) x PUE); tokens a year = GPUs x tokens/s x
    3600 x 8760 x utilisation; revenue at the 8B price; margin after the revenue share of opex
    and the MW's power bill; capex = the hall's IT MW share plus the GPUs; NPV over 3 flat,
    undiscounted years."""
    gpus = 1e6 / ((watts + (m["host_overhead"] - 1) * 700) * m["pue_ai"])
    revenue = gpus * tps * 3600 * 8760 * m["gpu_utilisation"] * m["usd_per_m_tokens_8b"] / 1e6
    margin = revenue * (1 - m["opex_ai_share_of_revenue"]) - 8760 * m["power_usd_per_mwh"]
    capex = m["capex_ai_usd_per_it_mw"] / m["pue_ai"] + gpus * 15000
    return {"gpus": gpus, "revenue": revenue, "margin": margin, "npv": 3 * margin - capex}


def test_a_decode_sweep_priced_as_computed_by_hand() -> None:
    m = markets.apply_sets(markets.load(None), SETS)
    (curve,) = caps.curves(m, uses.Measured("sweep.json", H100.name), decode_phases())
    assert curve.priced_as == "ai_tokens" and [p.cap_w for p in curve.points] == [700.0, 500.0, 300.0]
    hand = {cap: by_hand(m, tps, w) for cap, (tps, w) in DECODE.items()}
    for p in curve.points:
        h = hand[p.cap_w]
        assert p.work_per_joule == pytest.approx(DECODE[p.cap_w][0] / DECODE[p.cap_w][1])
        assert p.devices_per_facility_mw == pytest.approx(h["gpus"], rel=1e-12)
        assert p.revenue_usd_per_year == pytest.approx(h["revenue"], rel=1e-9)
        assert p.margin_usd_per_year == pytest.approx(h["margin"], rel=1e-9)
        assert p.npv_usd == pytest.approx(h["npv"], rel=1e-9)
    # tokens per GPU joule peak at 300 W, but the host's 575 W per GPU does not shrink with the
    # cap: tokens per all-in joule, so revenue and margin, peak at 500 W, and so does NPV
    assert max(hand, key=lambda c: hand[c]["revenue"]) == 500.0 == curve.best_cap_w["revenue_usd_per_year"]
    assert max(hand, key=lambda c: hand[c]["margin"]) == 500.0 == curve.best_cap_w["margin_usd_per_year"]
    assert max(hand, key=lambda c: hand[c]["npv"]) == 500.0 == curve.best_cap_w["npv_usd"]


def test_mining_revenue_per_mw_follows_hashes_per_joule_and_rental_follows_work() -> None:
    m = markets.apply_sets(markets.load(None), SETS)
    meas = uses.Measured("sweep.json", H100.name)
    hashing = [caps.Phase("sha256d", "scan", "hash", cap, PhaseFigures("scan", r, w, {"backend": "cuda"}))
               for cap, r, w in ((700.0, 10e9, 690.0), (400.0, 8e9, 395.0))]
    gemm = [caps.Phase("gemm", "bf16", "flop", cap, PhaseFigures("bf16", r, w, {"dtype": "bf16"}))
            for cap, r, w in ((700.0, 7e14, 690.0), (400.0, 5e14, 395.0))]
    mine, rent = caps.curves(m, meas, hashing + gemm)
    a, b = mine.points
    assert mine.priced_as == "device_mining"
    assert a.revenue_usd_per_year is not None and b.revenue_usd_per_year is not None
    # the host's share per GPU (575 W) does not shrink with the cap: hashes per all-in joule
    host = (m["host_overhead"] - 1) * 700
    per_joule = {w: r / (w + host) for r, w in ((10e9, 690), (8e9, 395))}
    assert b.revenue_usd_per_year / a.revenue_usd_per_year == pytest.approx(per_joule[395] / per_joule[690])
    # a capped GPU-hour sells for the work it does: revenue per MW scales with FLOP per all-in joule
    a, b = rent.points
    assert rent.priced_as == "ai_rental" and a.revenue_usd_per_year is not None and b.revenue_usd_per_year is not None
    per_joule = {w: r / (w + host) for r, w in ((7e14, 690), (5e14, 395))}
    assert b.revenue_usd_per_year / a.revenue_usd_per_year == pytest.approx(per_joule[395] / per_joule[690])


def test_a_phase_without_energy_is_listed_not_priced() -> None:
    m = markets.load(None)
    phases = [caps.Phase("gemm", "bf16", "flop", cap, PhaseFigures("bf16", 1e14, None, {})) for cap in (300.0, 200.0)]
    (curve,) = caps.curves(m, uses.Measured("x", H100.name), phases)
    assert curve.priced_as is None and curve.why_not_priced and all(p.npv_usd is None for p in curve.points)
    assert curve.best_cap_w == {"revenue_usd_per_year": None, "margin_usd_per_year": None, "npv_usd": None}


class MeteredLevels(Levels):
    """Levels whose meter reads the cap's power (the replay trace follows the cap)."""

    def __init__(self, levels: list[float | None], meter: ReplayMeter) -> None:
        super().__init__(levels)
        self.meter = meter

    def apply(self, watts: float | None) -> None:
        assert watts is not None
        self.meter.trace, self.meter._i = [{"power_w": watts * 0.95}], 0
        super().apply(watts)


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sha256d run on this CPU at three 'caps', its power from a replayed trace that
    follows the cap, filed as a GPU sweep (the GPU cannot be capped here): its environment
    records the GPU and this CPU, and its phases are bound to the replay meter, so it verifies."""
    ctx = RunContext(secrets.token_hex(16), "2026-11-23T00:00:00Z", "test", H100.name, H100.pci_bus_id,
                     meter="replay")
    work = create("sha256d", Device(kind="cpu"))
    work.context = ctx
    cfg = Config(device="cuda", workloads=["sha256d"], duration_s=0.3, trials=2, warmup_s=0,
                 power_limits_w=[600.0, 400.0, 250.0])
    with ReplayMeter([{"power_w": 600.0}], interval_s=0.02) as meter:
        levels = MeteredLevels([600.0, 400.0, 250.0], meter)
        out = Runner(meter, cfg, caps=levels).run([work])
    assert out.complete, out.failures
    cpu = ENV.cpu.model_copy(update={"model": cpu_name(), "logical_cores": os.cpu_count(), "usable_cores": None})
    env = ENV.model_copy(update={"cpu": cpu, "meter": meter.describe(), "gpu_reason": None, "gpus": [
        Gpu(index=0, name=H100.name, pci_bus_id=H100.pci_bus_id, measured=True)]})
    result = build(device=H100, config=cfg, env=env, created_utc=ctx.created_utc, phases=out.phases,
                   failures=out.failures, idle=None, complete=out.complete, stopped=None, run_id=ctx.run_id)
    path = tmp_path_factory.mktemp("sweep") / "sweep.json"
    io.write(result, path)
    return path


def test_a_sweep_file_verifies_and_econ_names_the_best_cap(sweep_file: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert verdict(sweep_file).problems == []
    r = cli("econ", str(sweep_file), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    (sweep,) = data["power_caps"]
    (curve,) = sweep["curves"]
    points = curve["points"]
    assert curve["workload"] == "sha256d scan" and [p["cap_w"] for p in points] == [600.0, 400.0, 250.0]
    best = max(points, key=lambda p: p["revenue_usd_per_year"])["cap_w"]
    assert curve["best_cap_w"]["revenue_usd_per_year"] == best
    assert any("power-limit sweep" in n for n in data["notes"])
    # the yearly rows take the phase at its highest cap
    (mining,) = [u for u in data["uses"] if u["use"] == "device_mining"]
    assert mining["basis"]["device_watts"] == pytest.approx(points[0]["watts"])
    text = cli("econ", str(sweep_file)).stdout
    assert "power caps" in text and "250 W" in text


def test_the_yearly_row_and_its_cap_read_the_same_margin(sweep_file: Path) -> None:
    """The mining row of the table and the sweep's highest cap are one measurement on one basis
    (today's conditions): the same margin, a loss shown as a loss in both."""
    from benchhash.econ.report import EconRequest, econ_json
    from benchhash.report.econ import m3
    data = econ_json(EconRequest(results=(str(sweep_file),), draws=1))
    (mining,) = [u for u in data["uses"] if u["use"] == "device_mining"]
    top = data["power_caps"][0]["curves"][0]["points"][0]
    assert mining["margin_now_usd_per_year"] == pytest.approx(top["margin_usd_per_year"])
    assert m3(mining["margin_now_usd_per_year"]) == m3(top["margin_usd_per_year"])


def test_report_draws_the_sweep(sweep_file: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.html"
    r = cli("report", str(sweep_file), "--format", "html", "--out", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    for title in ("Rate vs watts across power limits", "Work per joule vs power limit",
                  "Revenue per facility MW vs power limit"):
        assert title in page
    csv = cli("report", str(sweep_file), "--format", "csv").stdout.splitlines()
    assert csv[0].endswith(",power_limit_w")
    assert {line.rsplit(",", 1)[1] for line in csv[1:]} == {"600.0", "400.0", "250.0"}


def test_an_edited_cap_fails_verify(sweep_file: Path, tmp_path: Path) -> None:
    raw = io.read_json(sweep_file)
    raw["workloads"][1]["params"]["power_limit_w"] = 600.0      # two phases now claim 600 W
    raw["integrity"]["digest"] = io.digest_of(raw)              # re-sealed by the forger
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(raw))
    problems = verdict(forged).problems
    assert any("appears 2 times" in p for p in problems)
    raw["workloads"][1]["params"]["power_limit_w"] = 450.0
    raw["integrity"]["digest"] = io.digest_of(raw)
    forged.write_text(json.dumps(raw))
    assert any("450 W is not one of the run's" in p for p in verdict(forged).problems)
