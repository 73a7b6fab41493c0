"""The report's charts and economics sections: every figure the HTML page embeds passes the audit
in chart_audit.py (in place of comparing screenshots), and the page shows the market inputs it
used, the measured device's mining row with its loss, the claim's verdicts, and J/TH."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest

from benchhash.econ import plots
from benchhash.econ.answer import Econ
from benchhash.report import charts, formats
from benchhash.results import io
from benchhash.results.fleet import FleetResult
from benchhash.results.model import Result
from benchhash.units import j_per_th, per_joule, usd
from chart_audit import problems
from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]
H100_SHA = ROOT / "results" / "nvidia-h100-80gb-hbm3" / "vm-20261123T104614Z.json"
SWEEP = ROOT / "results" / "power-caps" / "sweep-20261123T111331Z.json"
GOLDEN = ROOT / "tests" / "data" / "golden" / "cpu-replay.json"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def page_data() -> tuple[list[Any], Econ, list[float]]:
    """The published H100 run, its power-limit sweep and a CPU run, priced as the report prices them."""
    results: list[tuple[str, Result | FleetResult]] = [(str(f), io.load(f)[0]) for f in (H100_SHA, SWEEP, GOLDEN)]
    econ, prices = formats._econ(results, formats.Options(allow_unverified=True))   # v3 files, priced on their word
    assert econ is not None and prices is not None
    return results, econ, prices


def test_units_in_miners_terms() -> None:
    assert j_per_th(15.8e6) == "63,300 J/TH"             # the H100, against an S21's 17.5
    assert j_per_th(1e12 / 17.5) == "17.5 J/TH" and j_per_th(None) == "-"
    assert per_joule(15.8e6, "hash/J") == "15.8 MH/J (63,300 J/TH)"
    assert per_joule(9.89, "token/J") == "9.89 tok/J"
    assert usd(64.3) == "64.3 $" and usd(-442_309.7) == "-0.44 M$" and usd(0.0) == "0.00 M$"


def test_tick_labels_carry_the_unit_with_one_prefix() -> None:
    ticks = plots.UnitTicks("H/s")
    ticks.set_locs([0.0, 2e9, 4e9, 6e9])
    assert [ticks(x) for x in ticks.ticks] == ["0 GH/s", "2 GH/s", "4 GH/s", "6 GH/s"]
    ticks.set_locs([0.0, 2.5e5, 5e5, 7.5e5, 1e6])
    assert ticks(7.5e5) == "0.75 MH/s" and ticks(0.0) == "0.00 MH/s"
    money = plots.UnitTicks("$")
    money.set_locs([-2e5, -1e5, 0.0, 1e5])
    assert [money(x) for x in money.ticks] == ["-200 k$", "-100 k$", "0 k$", "100 k$"]
    hours = plots.UnitTicks("h", prefixed=False)
    hours.set_locs([0.0, 2000.0, 4000.0])
    assert hours(4000.0) == "4,000 h"


def test_uses_orders_of_magnitude_apart_get_their_own_panels() -> None:
    peaks = {"ai_rental": 9.5e5, "mining_flexible": 2e4, "colocation_lease": 1.1e5, "mining_flat": 1.6e5}
    assert plots.scale_groups(peaks) == [["mining_flexible", "colocation_lease", "mining_flat"], ["ai_rental"]]
    assert plots.scale_groups({"a": 1.0, "b": 9.0}) == [["a", "b"]]


def test_bars_are_linear_from_zero_and_log_only_when_asked() -> None:
    values = [28.5e6, 6.81e9]                          # the 1:239 that log drew as 1:8
    fig = plots.bar_panels("Throughput", ["cpu", "gpu"], [("", values, "H/s", ["a", "b"])])
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0 and problems(fig) == []
    widths = [p.get_width() for p in ax.patches]
    assert widths[1] / widths[0] == pytest.approx(239, rel=0.01)
    logged = plots.bar_panels("Throughput", ["cpu", "gpu"], [("", values, "H/s", ["a", "b"])], log=True)
    assert logged.axes[0].get_xscale() == "log" and "log scale" in logged.axes[0].get_title()


def test_the_audit_catches_what_the_old_charts_did() -> None:
    fig, ax = plt.subplots()
    ax.bar([1, 2], [9e5, 1.5e4])
    ax.set_yscale("symlog", linthresh=1e4)
    ax.set_title("sha256d scan as device_mining")
    ax.legend(["a"], loc="center")
    found = problems(fig)
    assert any("symlog" in p for p in found) and any("internal name" in p for p in found)
    assert any("legend" in p for p in found)
    fig, ax = plt.subplots()
    ax.plot([200, 400, 700], [275e3, 270e3, 271e3])            # a 2 % difference as a deep V
    ax.set_title("llm decode")
    assert any("not zero" in p for p in problems(fig)) and any("without a unit" in p for p in problems(fig))
    fig, ax = plt.subplots()
    ax.barh([0, 1], [4.5e9, 6.8e9])
    ax.set_xlim(4e9, 7e9)
    assert any("offset" in p for p in problems(fig)) and any("not from zero" in p for p in problems(fig))


def test_every_chart_of_the_page_is_honest(page_data: tuple[list[Any], Econ, list[float]]) -> None:
    results, econ, prices = page_data
    figures = charts.figures(results, econ, prices)
    titles = [t for t, _ in figures]
    for needle in ("Throughput in H/s", "Work per joule in H/J and J/TH", "Revenue and margin per facility MW-year",
                   "Rate vs watts", "Work per joule vs power limit", "Revenue per facility MW vs power limit",
                   "Price duration", "Margin by month", "hours on by month"):
        assert any(needle in t for t in titles), (needle, titles)
    for title, fig in figures:
        assert problems(fig) == [], title
    margin = next(fig for t, fig in figures if t.startswith("Margin by month"))
    assert len([ax for ax in margin.findobj(plt.Axes) if ax.get_title()]) >= 2     # AI and mining apart


def test_the_measured_h100_mining_row_is_drawn_with_its_loss(
        page_data: tuple[list[Any], Econ, list[float]]) -> None:
    _, econ, _ = page_data
    (title, fig), = charts._by_use(econ)
    revenue_ax, margin_ax = fig.axes[:2]
    labels = [t.get_text() for t in revenue_ax.get_yticklabels()]
    row = next(i for i, label in enumerate(labels) if label.startswith("mining, NVIDIA H100"))
    assert margin_ax.patches[row].get_width() == pytest.approx(-442_309, rel=0.01)     # today, per MW-year
    assert margin_ax.patches[row].get_facecolor()[:3] == pytest.approx((0xC0 / 255, 0x39 / 255, 0x2B / 255))


def test_the_page_shows_inputs_uses_claim_and_j_per_th(
        page_data: tuple[list[Any], Econ, list[float]]) -> None:
    results, econ, prices = page_data
    page = formats.html_page(results[:1], econ, prices)
    for needle in ("Market inputs: ", "btc_usd", "Each use of one facility MW", "mining, NVIDIA H100 80GB HBM3 "
                   "(measured)", "run today, it would lose", "Claim: 10 MW of AI", "on revenue, GPU cloud:",
                   "Break-evens", "15.8 MH/J (63,500 J/TH)"):
        assert needle in page, needle
    assert page.index("Market inputs: ") < page.index("market inputs as listed above")
    assert not plt.get_fignums()                            # every figure closed once embedded


def test_report_prices_with_market_and_set_as_econ_does(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "r.html"
    r = cli("report", str(H100_SHA), "--format", "html", "--out", str(out),
            "--set", "btc_usd=90000", "--set", "power_usd_per_mwh=30")
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert "changed by --set: btc_usd, power_usd_per_mwh" in page and "2026-06-26 + --set" in page
    # the value it replaced beside it where economics records it
    assert re.search(r'<tr class="set"><td>btc_usd</td><td class="n">(60,000 → )?90,000</td>', page)
    for args, needle in ((["--set", "btc_usdd=1", "--format", "html"], "unknown market input 'btc_usdd'"),
                         (["--market", "1999-01-01", "--format", "html"], "unknown market"),
                         (["--set", "btc_usd=90000"], "are for --format html")):
        r = cli("report", str(GOLDEN), *args, "--out", str(tmp_path / "x.html"))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr


def test_markdown_and_csv_give_j_per_th_beside_h_per_j(cli: Cli) -> None:
    md = cli("report", str(H100_SHA), "--format", "md").stdout
    assert "15.8 MH/J (63,500 J/TH)" in md
    header, row = cli("report", str(H100_SHA), "--format", "csv").stdout.splitlines()[:2]
    cols = dict(zip(header.split(","), row.split(","), strict=False))
    assert 63_000 < float(cols["joules_per_terahash"]) < 64_000
