"""`benchhash econ` as a person reads it (issue 25): the assumptions in plain sight, one basis for
the table and the verdicts, disagreements explained, tables that read at any width, formats."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from rich.console import Console

from benchhash.econ import market
from benchhash.econ.answer import Econ
from benchhash.econ.caps import CapPoint
from benchhash.econ.report import EconRequest, answer, econ_json
from benchhash.econ.site import HourlyRequest
from benchhash.report import econ as text
from benchhash.report.table import Grid, show
from conftest import Cli

TODAY = date(2026, 12, 4)          # the snapshot 2026-06-26 is then 161 days old


def _text(data: Econ, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    show(text.econ_blocks(data), console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _answer(req: EconRequest) -> Econ:
    return answer(req)[0]


@pytest.fixture(scope="module")
def claim_answer() -> Econ:
    return _answer(EconRequest(claim=True, draws=200, today=TODAY))


@pytest.fixture(scope="module")
def claim_data(claim_answer: Econ) -> dict[str, Any]:
    return claim_answer.to_json()


# --- 1. assumptions in plain sight ---------------------------------------------------------------
def test_every_input_has_a_unit_and_an_allowed_range_in_one_table() -> None:
    for name in market.snapshots():
        m = market.load(name)
        assert set(m.inputs) <= set(market.ALLOWED), set(m.inputs) - set(market.ALLOWED)
        for key, x in m.inputs.items():
            assert x.unit, key
            assert market.allowed(key).problem(x.value) is None, key


def test_allowed_refuses_what_it_says() -> None:
    assert market.allowed("pool_fee").problem(1.5) == "is a fraction in [0, 1]"
    assert market.allowed("difficulty_growth_per_year").problem(-1) == "must be above -1"
    assert market.allowed("horizon_years").problem(5.5) == "must be a whole number in [1, 100]"
    assert market.allowed("horizon_years").clamp(0.2) == 1.0


def test_set_is_echoed_old_to_new_with_its_unit() -> None:
    typed = _answer(EconRequest(sets=("power_usd_per_mwh=30", "btc_usd=90000", "pool_fee=0.03"), today=TODAY))
    data, out = typed.to_json(), _text(typed)
    assert "--set power_usd_per_mwh: 45 → 30 USD/MWh" in out
    assert "--set btc_usd: 60,000 → 90,000 USD/BTC" in out
    assert "--set pool_fee: 2 → 3 %" in out
    assert data["inputs"]["btc_usd"]["replaced"] == 60_000


def test_the_deciding_inputs_are_printed_with_value_unit_and_date(claim_data: dict[str, Any],
                                                                 claim_answer: Econ) -> None:
    out = " ".join(_text(claim_answer, 200).split())
    for key, shown in (("btc_usd", "btc_usd 60,000 USD/BTC"), ("power_usd_per_mwh", "power_usd_per_mwh 45 USD/MWh"),
                       ("gpu_usd_per_hour", "gpu_usd_per_hour 2.95 USD/GPU-hour"),
                       ("discount_rate", "discount_rate 0.1 per year"), ("pue_ai", "pue_ai 1.3 facility W / IT W")):
        assert shown in out, key
        day = claim_data["inputs"][key]["date"]
        assert re.search(rf"{day}: [^\n]*{re.escape(shown)}", _text(claim_answer, 1000)), key
    assert "ASIC S21 17.5 J/TH" in out


def test_a_stale_snapshot_is_said_with_how_to_update_it() -> None:
    old_answer = _answer(EconRequest(today=TODAY))
    old = old_answer.to_json()
    assert old["snapshot"] == {"name": "2026-06-26", "today": "2026-12-04", "age_days": 161}
    (warning,) = old["warnings"]
    assert "161 days old" in warning and "--market live" in warning and "--set" in warning
    assert "warning: the market snapshot 2026-06-26 is 161 days old" in " ".join(_text(old_answer).split())
    fresh = _answer(EconRequest(today=date(2026, 7, 10)))
    assert fresh.snapshot.age_days == 14 and fresh.warnings == []
    assert "warning" not in _text(fresh)


def test_inputs_lists_every_set_key_with_unit_range_and_source(cli: Cli) -> None:
    r = cli("econ", "--inputs", "--format", "json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["inputs"]
    m = market.with_device_prices(market.load())
    assert set(listed) == set(m.inputs)
    for key, x in listed.items():
        assert x["unit"] and x["source"] and x["date"] and x["allowed"], key
    table = cli("econ", "--inputs").stdout
    flat = " ".join(table.split())
    for key, x in m.inputs.items():
        assert re.search(rf"^{key}$|^│ {key} ", table, re.M), key
        assert x.unit in flat and " ".join(x.source.split())[:40] in flat, key
    assert "--inputs" in cli("econ", "--help").stdout


# --- 2. one basis ----------------------------------------------------------------------------------
def _block(out: str, label: str) -> str:
    """The vertical block of the row named ``label`` (its name, then its indented lines)."""
    lines = out.splitlines()
    start = lines.index(label)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return " ".join(" ".join(lines[start:end]).split())


CLAIM_LINE = re.compile(r"(\w+): ([\d.]+) × (-?[\d.]+) = (-?[\d,.]+) M\$(?:/y)? against ([\d.]+) × (-?[\d.]+) = "
                        r"(-?[\d,.]+) M\$")
COLUMN = {"revenue": "revenue M$/y", "margin": "margin M$/y", "NPV": "NPV M$"}


def test_each_figure_of_a_verdict_is_a_table_figure_times_its_mw(claim_data: dict[str, Any],
                                                                claim_answer: Econ) -> None:
    out = " ".join(_text(claim_answer).split())
    found = CLAIM_LINE.findall(out)
    assert len(found) == 6                    # two readings x revenue, margin, NPV
    rows = claim_data["claim"]["rows"]
    table = _text(claim_answer)
    for i, (what, ai_mw, ai_per, ai_total, mining_mw, mining_per, mining_total) in enumerate(found):
        ai_row = rows["gpu_cloud" if i < 3 else "colocation_lease"]
        assert f"{COLUMN[what]}: {ai_per} " in _block(table, ai_row) + " ", (what, ai_row)
        assert f"{COLUMN[what]}: {mining_per} " in _block(table, rows["mining"]) + " ", what
        assert float(ai_mw) * float(ai_per) == pytest.approx(float(ai_total.replace(",", "")), abs=0.006 * 10)
        assert float(mining_mw) * float(mining_per) == pytest.approx(float(mining_total.replace(",", "")),
                                                                     abs=0.0006 * 100)


def test_the_claim_and_the_table_share_todays_basis(claim_data: dict[str, Any]) -> None:
    c = claim_data["claim"]
    by_label = {u["label"]: u for u in claim_data["uses"]}
    ai, mining = by_label[c["rows"]["gpu_cloud"]], by_label[c["rows"]["mining"]]
    assert c["gpu_cloud"]["revenue"]["ai_usd"] == pytest.approx(10 * ai["revenue_now_usd_per_year"], rel=1e-4)
    assert c["gpu_cloud"]["margin"]["mining_usd"] == pytest.approx(100 * mining["margin_now_usd_per_year"])
    assert not [n for n in claim_data["notes"] if "is not its table row's" in n]


def test_a_claim_that_does_not_reconcile_says_why() -> None:
    data = econ_json(EconRequest(claim=True, draws=20, sets=("host_overhead=2",), today=TODAY))
    assert any("is not its table row's" in n and "host overhead 2" in n and "+ host 700 W" in n
               for n in data["notes"])


def test_a_loss_is_shown_as_a_loss_and_a_switch_off_says_when(claim_data: dict[str, Any],
                                                              claim_answer: Econ) -> None:
    gpu_mining = next(u for u in claim_data["uses"] if u["use"] == "device_mining")
    assert gpu_mining["margin_now_usd_per_year"] < 0 and gpu_mining["switched_off_year"] == 0
    out = " ".join(_text(claim_answer).split())
    loss = f"{-gpu_mining['margin_now_usd_per_year'] / 1e6:.3f}"
    assert f"margin M$/y: -{loss}" in out
    assert f"would lose {loss} M$ a year per MW today: it is switched off from the start" in out
    assert re.search(r"ASIC mining, S21 earns 0\.\d{3} M\$ a year per MW today; its margin turns negative in month "
                     r"\d+ \(year \d\)", out)


def _point(cap: float, revenue: float, margin: float, npv: float) -> CapPoint:
    return CapPoint(cap, 1e9, cap, 1e9 / cap, 1000, revenue, margin, npv)


def test_no_best_cap_is_marked_among_ties() -> None:
    points = [_point(700, 2_600, -441_600, -41e6), _point(400, 2_700, -441_700, -40e6),
              _point(200, 3_600, -441_800, -40e6)]
    said = text.best_caps(points)
    assert "revenue 200 W (0.004)" in said
    assert "margin: a tie at -0.442 (every cap)" in said
    assert "NPV: a tie at -40.000 (400 W, 200 W)" in said


# --- 3. disagreements explained --------------------------------------------------------------------
def test_when_hourly_and_static_verdicts_differ_one_line_says_why() -> None:
    typed = _answer(EconRequest(claim=True, draws=20, hourly=HourlyRequest(), today=TODAY))
    data = typed.to_json()
    h = data["hourly"]["claim"]["colocation_lease"]
    static = data["claim"]["colocation_lease"]["margin"]
    assert h["static"]["ratio"] == pytest.approx(static["ratio"]) and h["static"]["holds"] != h["holds"]
    out = " ".join(_text(typed, 120).split())
    why = out[out.index("why the hourly and static verdicts differ"):]
    assert "flat 45.00 $/MWh (power_usd_per_mwh)" in why and "ai_load_factor" in why
    assert "+ 8.00 $/MWh adder" in why and "series' hourly price (mean" in why
    agree = _answer(EconRequest(hourly=HourlyRequest(), sets=("colocation_usd_per_it_mw_year=9e6",), today=TODAY))
    assert agree.hourly is not None
    assert all(r.static is not None and r.static.holds == r.verdict.holds for r in agree.hourly.claim.values())
    assert "verdicts differ" not in _text(agree)


# --- 4. tables for any width, formats --------------------------------------------------------------
def _split_words(out: str, words: set[str]) -> list[tuple[str, str]]:
    """(word, fragment) for each known word cut in two: a fragment of it ending one line and the
    rest of it on the next (as 'reven' / 'ue/y' in a column too narrow for 'revenue/y')."""
    lines = [re.findall(r"[\w/$%.()-]+", line) for line in out.splitlines()]
    cut = []
    for here, below in zip(lines, lines[1:], strict=False):
        for t in here:
            cut += [(w, t) for w in words if w != t and w.startswith(t) and w[len(t):] in below]
    return cut


def test_no_word_is_split_at_80_columns_when_piped() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "benchhash", "econ", "--claim", "--draws", "100"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    data = econ_json(EconRequest(claim=True, draws=100))
    words = {w for u in data["uses"] for w in u["label"].split()}
    words |= {"revenue", "revenue/y", "margin", "margin/y", "payback", "horizon", "capex", "power/y", "opex/y"}
    words |= {r["input"] for r in data["claim"]["gpu_cloud"]["tornado"]}
    assert _split_words(out, words) == []
    for u in data["uses"]:
        assert u["label"] in out.splitlines(), u["label"]       # a block per use, its name whole


def test_a_grid_is_a_table_where_it_fits_and_blocks_where_it_does_not() -> None:
    g = Grid("t", ["name", "first figure", "second"], [["a long name here", "1.000", "2"], ["b", "30.5", "4"]])
    wide, narrow = Console(file=io.StringIO(), width=60), Console(file=io.StringIO(), width=24)
    show([g], wide)
    show([g], narrow)
    table = wide.file.getvalue()  # type: ignore[attr-defined]
    assert "┃ name" in table and "a long name here" in table and "first figure" in table
    blocks = narrow.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert blocks == ["t", "a long name here", "  first figure: 1.000", "  second: 2", "b", "  first figure: 30.5",
                      "  second: 4"]


def test_format_csv_parses_and_holds_the_json_figures(cli: Cli, claim_data: dict[str, Any]) -> None:
    r = cli("econ", "--claim", "--draws", "200", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    start = rows.index(["# uses per facility MW"])
    header = rows[start + 1]
    body = rows[start + 2:rows.index([], start)]
    assert len(body) == len(claim_data["uses"]) and all(len(b) == len(header) for b in body)
    col = header.index("revenue_now_usd_per_year")
    assert [float(b[col]) for b in body] == pytest.approx([u["revenue_now_usd_per_year"] for u in claim_data["uses"]])
    assert ["# claim"] in rows and ["# inputs"] in rows


def test_json_stays_and_md_is_markdown(cli: Cli) -> None:
    old, new = cli("econ", "--json"), cli("econ", "--format", "json")
    assert old.returncode == new.returncode == 0
    a, b = json.loads(old.stdout), json.loads(new.stdout)
    assert a == b and {"market", "notes", "inputs", "asic", "measured", "derived", "uses"} <= set(a)
    md = cli("econ", "--format", "md").stdout
    assert "| use | IT MW | revenue M$/y |" in md and "|---|--:|" in md
    bad = cli("econ", "--json", "--format", "csv")
    assert bad.returncode == 2 and "--json is --format json" in bad.stderr
    assert cli("econ", "--format", "xml").returncode == 2
