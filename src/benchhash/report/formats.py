"""`benchhash report`: one row per file and workload phase, as a table, Markdown, CSV or a single
self-contained HTML page with charts (PNG embedded as data URIs, so it reads without a network)."""

from __future__ import annotations

import base64
import csv
import html
import io as stdio
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchhash.errors import BenchhashError
from benchhash.fleet.model import FleetResult
from benchhash.fleet.report import devices_text
from benchhash.report.table import rows as table_rows
from benchhash.report.units import short_unit, si
from benchhash.results.model import Result, cap_of
from benchhash.results.model import label as phase_label

Item = tuple[str, Result | FleetResult]     # (file as shown, what it holds)

log = logging.getLogger(__name__)

FORMATS = ("table", "md", "csv", "html")
COLUMNS = ("file", "workload", "device", "rate", "watts", "per_joule", "method", "warnings")
HEADERS = ("file", "workload", "device", "rate ± MAD", "avg W", "work / J", "energy method", "warnings")


def _fleet_rows(path: str, f: FleetResult) -> list[dict[str, str]]:
    """A fleet file's phases as report rows: the fleet's figures, its notes as warnings."""
    return [{"file": path, "workload": f"{p.label} (fleet)", "device": devices_text(f, p.ranks),
             "rate": si(p.rate, p.rate_unit), "watts": si(p.average_w, "W"),
             "per_joule": si(p.work_per_joule, f"{p.unit}/J"), "method": f"fleet: {p.rate_method}",
             "warnings": "; ".join(f.notes) or "-"} for p in f.phases]


def report_rows(results: list[Item]) -> list[dict[str, str]]:
    out = []
    for path, result in results:
        if isinstance(result, FleetResult):
            out += _fleet_rows(path, result)
            continue
        body, _ = table_rows(result)
        texts = ["; ".join(w.validity.warnings) or "-" for w in result.workloads]
        texts += [f"{f.error}: {f.message}" for f in result.failures]
        for row, text in zip(body, texts, strict=True):
            out.append({"file": path, **row, "warnings": text})
    return out


def markdown(rows: list[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "" if x is None else repr(x)


def csv_text(results: list[Item]) -> str:
    """Numbers unformatted, for spreadsheets (a fleet's phases with energy_method 'fleet: ...')."""
    buf = stdio.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "workload", "phase", "device", "unit", "rate_median", "rate_mad", "trials",
                "average_w", "work_per_joule", "energy_method", "valid", "warnings", "power_limit_w"])
    for path, result in results:
        if isinstance(result, FleetResult):
            for p in result.phases:
                w.writerow([path, p.workload, p.phase, devices_text(result, p.ranks), p.unit, _num(p.rate), "",
                            len(p.trials), _num(p.average_w), _num(p.work_per_joule),
                            f"fleet: {p.rate_method}", result.complete, "; ".join(result.notes),
                            _num(cap_of(p.params))])
            continue
        for x in result.workloads:
            s = x.stats.rate
            w.writerow([path, x.workload, x.phase, x.device, x.unit,
                        "" if s is None else repr(s.median), "" if s is None else repr(s.mad),
                        len(x.trials), "" if x.energy.average_w is None else repr(x.energy.average_w),
                        "" if x.efficiency.work_per_joule is None else repr(x.efficiency.work_per_joule),
                        x.energy.method, x.validity.valid, "; ".join(x.validity.warnings), _num(x.power_limit_w)])
    return buf.getvalue()


def _png(fig: Any) -> str:
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


MEASURED, REFERENCE = "#3b6ea5", "#b0b0b0"


def _bars(title: str, labels: list[str], values: list[float], xlabel: str,
          colors: list[str] | None = None, log_ok: bool = True) -> str:
    """One horizontal bar per label (labels are unique), each value printed at its bar."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8.5, 0.8 + 0.42 * max(len(labels), 1)))
    bars = ax.barh(range(len(labels)), values, color=colors or MEASURED)
    ax.set_yticks(range(len(labels)), labels)
    if log_ok and values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_xscale("log")
    ax.bar_label(bars, labels=[si(v) for v in values], padding=3, fontsize=8)
    ax.margins(x=0.15)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    data = _png(fig)
    plt.close(fig)
    return data


def _small_multiples(title: str, panels: list[tuple[str, list[float], list[float], str, str]]) -> str:
    """One small chart per panel (name, x, y, x label, y label), side by side: the phases of a
    sweep count different work (hashes, FLOP, tokens) and never share an axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, xs, ys, xlabel, ylabel) in zip(axes.flat, panels, strict=False):
        ax.plot(xs, ys, marker="o", color=MEASURED)
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(si(y), (x, y), textcoords="offset points", xytext=(0, 5), fontsize=7, ha="center")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def _sweep_charts(results: list[Item], econ: dict[str, Any] | None) -> list[tuple[str, str]]:
    """For files that hold a power-limit sweep: rate vs watts, work per joule vs cap, and (when
    economics priced it) revenue per facility MW vs cap, per phase."""
    from benchhash.econ.caps import phases_of, sweeps
    rate_w, per_j = [], []
    for name, result in results:
        for (workload, phase), highest_first in sweeps(phases_of(result)).items():
            members = highest_first[::-1]
            title = f"{phase_label(workload, phase)} ({Path(name).name})"
            unit = members[0].unit
            pts = [(ph.figures.average_w, ph.figures.rate, ph.cap_w or 0.0) for ph in members]   # all capped
            metered = [(w, r, c) for w, r, c in pts if w and r is not None]
            if metered:
                rate_w.append((title, [w for w, _, _ in metered], [r for _, r, _ in metered], "W", f"{unit}/s"))
                per_j.append((title, [c for _, _, c in metered], [r / w for w, r, _ in metered],
                              "power limit (W)", f"{unit}/J"))
    charts = []
    if rate_w:
        t = "Rate vs watts across power limits (median of trials, measured watts)"
        charts.append((t, _small_multiples(t, rate_w)))
        t = "Work per joule vs power limit"
        charts.append((t, _small_multiples(t, per_j)))
    money = []
    for sweep in (econ or {}).get("power_caps", []):
        for c in sweep["curves"]:
            priced = [(p["cap_w"], p["revenue_usd_per_year"]) for p in sorted(c["points"], key=lambda p: p["cap_w"])
                      if p["revenue_usd_per_year"] is not None]
            if priced:
                money.append((f"{c['workload']} as {c['priced_as']}", [a for a, _ in priced], [b for _, b in priced],
                              "power limit (W)", "USD per facility MW-year"))
    if money:
        t = f"Revenue per facility MW vs power limit (market {econ['market'] if econ else ''}; today's conditions)"
        charts.append((t, _small_multiples(t, money)))
    return charts


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct (' #2', ' #3' on repeats), so that no two results share a bar."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _points(results: list[Item]) -> list[tuple[str, float | None, str, float | None, str]]:
    """(label, rate, rate unit, work per joule, its unit) per phase of every file."""
    out = []
    for path, r in results:
        name = Path(path.split(" (FAILS VERIFY")[0]).name
        if isinstance(r, FleetResult):
            out += [(f"{name}: {p.label} @ {devices_text(r, p.ranks)[:32]}", p.rate, p.rate_unit,
                     p.work_per_joule, f"{p.unit}/J") for p in r.phases]
            continue
        out += [(f"{name}: {w.label} @ {w.device[:32]}", w.stats.rate.median if w.stats.rate else None,
                 w.rate_unit, w.efficiency.work_per_joule, w.efficiency.unit) for w in r.workloads]
    return out


def _per_unit(pairs: list[tuple[str, float | None, str]]) -> dict[str, list[tuple[str, float]]]:
    """(label, value) per unit: hashes, FLOPs and tokens never share an axis."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for label, v, unit in pairs:
        if v:
            groups.setdefault(short_unit(unit), []).append((label, v))
    return groups


def _charts(results: list[Item], econ: dict[str, Any] | None,
            prices: list[float] | None = None) -> list[tuple[str, str]]:
    charts: list[tuple[str, str]] = []
    points = _points(results)
    rates = _per_unit([(label, rate, unit) for label, rate, unit, _, _ in points])
    per_j = _per_unit([(label, wpj, unit) for label, _, _, wpj, unit in points])
    for kind, groups in (("Throughput", rates), ("Work per joule", per_j)):
        for unit, pairs in groups.items():
            title = f"{kind} in {unit} (median of trials)"
            charts.append((title, _bars(title, _unique([a for a, _ in pairs]), [b for _, b in pairs], unit)))
    if econ:
        uses = [(u["label"], u["revenue_usd_per_year"]) for u in econ["uses"] if u["revenue_usd_per_year"] > 0]
        colors = [REFERENCE if "(reference)" in a else MEASURED for a, _ in uses]
        title = f"Revenue per facility MW-year by use (market {econ['market']}; grey: reference figures)"
        charts.append((title, _bars(title, _unique([a for a, _ in uses]), [b for _, b in uses],
                                    "USD per facility MW-year", colors, log_ok=False)))
    charts += _sweep_charts(results, econ)
    if econ and "hourly" in econ and prices is not None:
        charts += _hourly_charts(econ["hourly"], prices)
    return charts


def _hourly_charts(h: dict[str, Any], prices: list[float]) -> list[tuple[str, str]]:
    """The hourly analysis' charts over its price series (said in each title)."""
    import matplotlib.pyplot as plt

    from benchhash.econ import plots
    out = []
    for title, fig in plots.figures(h, prices):
        out.append((f"{title} ({h['series']['label']}, market inputs as above)", _png(fig)))
        plt.close(fig)
    return out


def html_page(results: list[Item], econ: dict[str, Any] | None, prices: list[float] | None = None) -> str:
    rows = report_rows(results)
    charts = _charts(results, econ, prices)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(r[c])}</td>" for c in COLUMNS) + "</tr>"
                   for r in rows)
    figs = "".join(f'<h2>{html.escape(t)}</h2><img class="chart" alt="{html.escape(t)}" '
                   f'src="data:image/png;base64,{d}">' for t, d in charts)
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>benchhash report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;font-size:90%}img{max-width:100%}</style></head><body>"
            f"<h1>benchhash report</h1><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"{figs}</body></html>\n")


def rich_table(results: list[Item]) -> Table:
    t = Table(title="benchhash report")
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for r in report_rows(results):
        t.add_row(*(escape(r[c]) for c in COLUMNS))
    return t


def _econ(results: list[Item]) -> tuple[dict[str, Any] | None, list[float] | None]:
    """Revenue per MW and the hourly analysis for the HTML page's charts, with the hourly prices;
    (None, None), said, when economics cannot price them."""
    from benchhash.econ.report import EconRequest, econ_data
    from benchhash.econ.site import HourlyRequest
    try:
        data, series = econ_data(EconRequest(results=tuple(f for f, _ in results), draws=1, hourly=HourlyRequest()))
    except BenchhashError as exc:
        log.warning("note: no revenue chart (%s)", exc)
        return None, None
    return data, None if series is None else series.usd_per_mwh.tolist()


def render(fmt: str, results: list[Item]) -> str:
    """The report as text in one of FORMATS (the table as plain text, 160 columns)."""
    if fmt == "md":
        return markdown(report_rows(results))
    if fmt == "csv":
        return csv_text(results)
    if fmt == "html":
        return html_page(results, *_econ(results))
    console = Console(file=stdio.StringIO(), record=True, width=160)
    console.print(rich_table(results))
    return console.export_text()
