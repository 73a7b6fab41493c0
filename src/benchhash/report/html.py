"""`report --format html`: one self-contained page (charts as PNG data URIs, so it reads without a
network). The run table first; then, where economics could price the files, the market inputs
that every figure below uses (what --set changed marked), each use per facility MW in the first
year and today (a use switched off says what it would lose), the claim's verdicts, and the
charts of money. The charts of what was measured follow the run table."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

from benchhash.econ.answer import Econ, MarketView
from benchhash.econ.claim import Claim
from benchhash.econ.market import Input
from benchhash.econ.uses import Use
from benchhash.units import usd

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:0.5em 0}"
         "td,th{border:1px solid #ccc;padding:4px 8px;font-size:90%;vertical-align:top}td.n{text-align:right;"
         "white-space:nowrap}tr.set td{background:#fff6d5}.loss{color:#b03a2e}.src{font-size:75%;color:#555}"
         "td.d{white-space:nowrap}img{max-width:100%}p.note{color:#444}")


def esc(text: object) -> str:
    return html.escape(str(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
          row_class: Sequence[str] | None = None, nowrap: int | None = None) -> str:
    """An HTML table of already escaped cells; the columns in `numeric` right-aligned, the
    column `nowrap` kept on one line."""
    right = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="n">{c}</td>' if j in right else
                                           f'<td class="d">{c}</td>' if j == nowrap else f"<td>{c}</td>"
                                           for j, c in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def money(value: float | None) -> str:
    """M$ with two decimals (a small amount with its own prefix), a loss in red."""
    text = esc(usd(value))
    return f'<span class="loss">{text}</span>' if value is not None and value < 0 else text


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


ORIGIN = {"snapshot": "snapshot", "table": "device table", "file": "your market file", "set": "--set",
          "live": "live API"}


def _number(v: float | None) -> str:
    """An input's figure; a missing one (not finite: no table figure as old as the snapshot) 'none'."""
    return "none" if v is None or not math.isfinite(v) else number(v)


def _value(x: Input) -> str:
    """An input's value, and the value it replaced where the user gave it ('60,000 → 90,000')."""
    old = x.replaced
    return esc(_number(x.value) if old is None else f"{_number(old)} → {_number(x.value)}")


def _snapshot(econ: MarketView) -> str:
    """The snapshot's age and any warning that it is stale."""
    snap = econ.snapshot
    age = f"Snapshot {esc(snap.name)}, {snap.age_days} days old on {esc(snap.today)}. "
    return age + "".join(f'<span class="loss">warning: {esc(w)}</span> ' for w in econ.warnings)


def inputs_section(econ: MarketView) -> str:
    """Every market input with its value, unit, date, range and source; --set ones first, marked."""
    items = sorted(econ.inputs.items(), key=lambda kv: kv[1].origin != "set")
    changed = [k for k, x in items if x.origin == "set"]
    rows = [[esc(k), _value(x), esc(x.unit), esc(x.date),
             esc(f"{_number(x.low)} to {_number(x.high)}"), esc(ORIGIN.get(x.origin, x.origin)),
             f'<span class="src">{esc(x.source)}</span>'] for k, x in items]
    said = (f"; changed by --set: {esc(', '.join(changed))} (marked)" if changed else "; nothing changed by --set")
    return (f"<h2>Market inputs: {esc(econ.market)}</h2><p class=\"note\">{_snapshot(econ)}Every figure "
            f"below uses these values{said}. The range is what the claim's tornado and Monte Carlo sweep.</p>"
            + table(("input", "value", "unit", "date", "range", "from", "source"), rows, (1,),
                    ["set" if x.origin == "set" else "" for _, x in items], nowrap=3))


def _payback(u: Use) -> str:
    """Payback, and for a use the projection switches off, from when, and what it loses today."""
    text = esc(u.payback)
    if u.switched_off_year is not None:
        text += f"; switched off from year {int(u.switched_off_year) + 1}, when it stops paying"
    if u.margin_now_usd_per_year < 0:
        text += f"; run today, it would lose {money(-u.margin_now_usd_per_year)} a year"
    return text


def uses_section(econ: Econ) -> str:
    """Each use per facility MW: first-year and today's revenue and margin, payback, NPV."""
    rows = [[esc(u.label), f"{u.it_mw:.2f}", money(u.revenue_usd_per_year), money(u.margin_usd_per_year),
             money(u.revenue_now_usd_per_year), money(u.margin_now_usd_per_year), _payback(u),
             f"{money(u.npv_usd)} / {u.horizon_years} y"] for u in econ.uses]
    notes = "".join(f'<p class="note">note: {esc(n)}</p>' for n in econ.notes)
    return (f"<h2>Each use of one facility MW</h2><p class=\"note\">{esc(econ.note)}. First year: the "
            "projection's year 1 (a use that would lose money is switched off and earns 0); today: at the "
            "inputs above, running whether or not it pays (the basis of the claim below).</p>" + notes
            + table(("use", "IT MW", "revenue/y, year 1", "margin/y, year 1", "revenue/y, today",
                     "margin/y, today", "payback", "NPV / horizon"), rows, range(1, 6)))


MEASURES = (("revenue", "revenue per year"), ("margin", "margin per year"),
            ("return_on_capital", "return on capital (NPV)"))
BREAKEVENS = {"gpu_usd_per_hour": ("GPU-hour price at which GPU cloud's revenue equals mining's", "$/GPU-hour"),
              "colocation_usd_per_it_mw_year": ("lease price at which the lease's revenue equals mining's",
                                                "$/IT-MW-year"),
              "btc_usd": ("BTC price at which mining's revenue equals GPU cloud's", "$"),
              "btc_usd_colocation": ("BTC price at which mining's revenue equals the lease's", "$"),
              "mining_zero_margin_power_usd_per_mwh": ("power price at which mining's margin is zero", "$/MWh")}


def _readings(c: Claim) -> str:
    rows = []
    for r in (c.gpu_cloud, c.colocation_lease):
        for key, what in MEASURES:
            j = r.on(key)
            rows.append([esc(r.label), esc(what), money(j.ai_usd), money(j.mining_usd),
                         "-" if j.ratio is None else f"{j.ratio:.2f}", esc(j.in_words)])
    return table(("reading", "measure", "AI", "mining", "AI / mining", "verdict"), rows, (2, 3, 4))


def _monte_carlo(c: Claim) -> str:
    lines = []
    for r in (c.gpu_cloud, c.colocation_lease):
        mc = r.monte_carlo
        lines.append(f"{esc(r.label)}: decided most by {esc(r.decided_by)}; the claim holds in "
                     f"{100 * mc.revenue.share_claim_holds:.0f} % of {mc.draws:,} draws on revenue, "
                     f"{100 * mc.margin.share_claim_holds:.0f} % on margin (Monte Carlo over the input "
                     "ranges above)")
    return "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"


def claim_section(econ: Econ) -> str:
    """The claim: its statement, verdicts per reading and measure, what decides it, break-evens."""
    c = econ.claim
    if c is None:
        return ""
    verdicts = "".join(f"<li>{esc(v)}</li>" for v in c.verdicts)
    b = c.breakevens
    given = {"gpu_usd_per_hour": b.gpu_usd_per_hour, "colocation_usd_per_it_mw_year": b.colocation_usd_per_it_mw_year,
             "btc_usd": b.btc_usd, "btc_usd_colocation": b.btc_usd_colocation,
             "mining_zero_margin_power_usd_per_mwh": b.mining_zero_margin_power_usd_per_mwh}
    evens = [[esc(what), esc(number(v)), esc(unit)] for k, (what, unit) in BREAKEVENS.items()
             if (v := given[k]) is not None]
    return (f"<h2>Claim: {esc(c.statement)}</h2><p class=\"note\">Basis: {esc(c.basis)}. Revenue and margin "
            "are the 'today' columns above times the claim's MW.</p>"
            f"<ul>{verdicts}</ul>" + _readings(c) + _monte_carlo(c)
            + "<h3>Break-evens</h3>" + table(("what", "value", "unit"), evens, (1,)))


def _charts(charts: list[tuple[str, str]]) -> str:
    return "".join(f'<h2>{esc(t)}</h2><img class="chart" alt="{esc(t)}" src="data:image/png;base64,{d}">'
                   for t, d in charts)


def page(run_table: str, measured: list[tuple[str, str]], econ: Econ | None,
         priced: list[tuple[str, str]]) -> str:
    """The page: the run table and the charts of what was measured, then (when economics priced
    the files) the market inputs, each use, the claim and the charts of money. Charts are (title,
    base64 PNG)."""
    sections = [inputs_section(econ), uses_section(econ), claim_section(econ)] if econ else []
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>benchhash report</title>"
            f"<style>{STYLE}</style></head><body><h1>benchhash report</h1>{run_table}{_charts(measured)}"
            f"{''.join(sections)}{_charts(priced)}</body></html>\n")
