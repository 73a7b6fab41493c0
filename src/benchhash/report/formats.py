"""`benchhash report`: one row per file and workload phase, as a table, Markdown, CSV or a single
self-contained HTML page with the economics and charts (report/html.py). Hashing efficiency reads
in H/J and, beside it, in miners' J/TH."""

from __future__ import annotations

import base64
import csv
import io as stdio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from benchhash.errors import BenchhashError
from benchhash.report.table import Fit, Grid, Line
from benchhash.report.table import rows as table_rows
from benchhash.results.fleet import FleetResult, devices_text
from benchhash.results.model import Result, cap_of
from benchhash.units import per_joule, si

if TYPE_CHECKING:
    from benchhash.econ.answer import Econ

Item = tuple[str, Result | FleetResult]     # (file as shown, what it holds)

log = logging.getLogger(__name__)

FORMATS = ("table", "md", "csv", "html")
COLUMNS = ("file", "workload", "device", "rate", "watts", "per_joule", "method", "warnings")
HEADERS = ("file", "workload", "device", "rate ± MAD", "avg W", "work / J", "energy method", "warnings")


def _fleet_rows(path: str, f: FleetResult) -> list[dict[str, str]]:
    """A fleet file's phases as report rows: the fleet's figures, its notes as warnings."""
    return [{"file": path, "workload": f"{p.label} (fleet)", "device": devices_text(f, p.ranks),
             "rate": si(p.rate, p.rate_unit), "watts": si(p.average_w, "W"),
             "per_joule": per_joule(p.work_per_joule, f"{p.unit}/J"), "method": f"fleet: {p.rate_method}",
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
        for row, w in zip(out[len(out) - len(body):], result.workloads, strict=False):
            row["per_joule"] = per_joule(w.efficiency.work_per_joule, w.efficiency.unit)
    return out


def markdown(rows: list[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "" if x is None else repr(x)


def _j_per_th(hashes_per_joule: float | None, unit: str) -> str:
    """Joules per terahash, the miners' figure, for a hashing phase ('' for other work)."""
    return repr(1e12 / hashes_per_joule) if unit == "hash" and hashes_per_joule else ""


def csv_text(results: list[Item]) -> str:
    """Numbers unformatted, for spreadsheets (a fleet's phases with energy_method 'fleet: ...')."""
    buf = stdio.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "workload", "phase", "device", "unit", "rate_median", "rate_mad", "trials",
                "average_w", "work_per_joule", "joules_per_terahash", "energy_method", "valid", "warnings",
                "power_limit_w"])
    for path, result in results:
        if isinstance(result, FleetResult):
            for p in result.phases:
                w.writerow([path, p.workload, p.phase, devices_text(result, p.ranks), p.unit, _num(p.rate), "",
                            len(p.trials), _num(p.average_w), _num(p.work_per_joule),
                            _j_per_th(p.work_per_joule, p.unit), f"fleet: {p.rate_method}", result.complete,
                            "; ".join(result.notes), _num(cap_of(p.params))])
            continue
        for x in result.workloads:
            s = x.stats.rate
            w.writerow([path, x.workload, x.phase, x.device, x.unit,
                        "" if s is None else repr(s.median), "" if s is None else repr(s.mad),
                        len(x.trials), "" if x.energy.average_w is None else repr(x.energy.average_w),
                        _num(x.efficiency.work_per_joule), _j_per_th(x.efficiency.work_per_joule, x.unit),
                        x.energy.method, x.validity.valid, "; ".join(x.validity.warnings), _num(x.power_limit_w)])
    return buf.getvalue()


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()

def html_page(results: list[Item], econ: Econ | None, prices: list[float] | None = None,
              log: bool = False) -> str:
    from benchhash.report import charts, html
    rows = [[html.esc(r[c]) for c in COLUMNS] for r in report_rows(results)]
    return html.page(html.table(HEADERS, rows), [(t, _png(fig)) for t, fig in charts.measured(results, log)],
                     econ, [(t, _png(fig)) for t, fig in charts.priced(econ, prices)] if econ else [])


def rich_table(results: list[Item]) -> Fit:
    """The report's rows as a table where they fit the console, else one block per row (the
    workload first, its file among its fields), warnings numbered under it: no word or path is
    split across lines."""
    order = (1, 0, *range(2, len(COLUMNS)))           # the workload names a row; the file is a field
    notes: list[str] = []
    rows = []
    for r in report_rows(results):
        said = [] if r["warnings"] == "-" else [w.strip() for w in r["warnings"].split("; ")]
        notes += [w for w in said if w not in notes]
        r = {**r, "warnings": ",".join(str(notes.index(w) + 1) for w in said) or "-"}
        rows.append([r[COLUMNS[i]] for i in order])
    grid = Grid("benchhash report", [HEADERS[i] for i in order], rows, text_columns=3)
    return Fit([grid, *(Line(f"[{i}] {n}") for i, n in enumerate(notes, 1))])


@dataclass(frozen=True)
class Options:
    """What the HTML page's economics are priced with (`report --market/--set`, as `econ` takes
    them) and whether its measured bars are drawn on log axes (`--log-scale`)."""

    market: str | None = None
    sets: tuple[str, ...] = ()
    log_scale: bool = False
    allow_unverified: bool = False          # price files that prove less than they claim, on their word

    @property
    def priced(self) -> bool:
        """The user asked for a market: economics that fail are an error, not a note."""
        return self.market is not None or bool(self.sets)


def _econ(results: list[Item], opts: Options) -> tuple[Econ | None, list[float] | None]:
    """Every use per facility MW, the claim and the hourly analysis for the HTML page, with the
    hourly prices; (None, None), said, when economics cannot price the files and no market was
    asked for."""
    from benchhash.econ.report import EconRequest, answer
    from benchhash.econ.site import HourlyRequest
    from benchhash.report.charts import file_of
    req = EconRequest(results=tuple(file_of(f) for f, _ in results), market=opts.market, sets=opts.sets,
                      claim=True, hourly=HourlyRequest(), allow_unverified=opts.allow_unverified)
    try:
        data, series = answer(req)
    except BenchhashError as exc:
        if opts.priced:
            raise
        log.warning("note: no economics in the report (%s)", exc)
        return None, None
    return data, None if series is None else series.usd_per_mwh.tolist()


def render(fmt: str, results: list[Item], opts: Options | None = None) -> str:
    """The report as text in one of FORMATS (the table as plain text, 160 columns)."""
    if fmt == "md":
        return markdown(report_rows(results))
    if fmt == "csv":
        return csv_text(results)
    if fmt == "html":
        opts = opts or Options()
        return html_page(results, *_econ(results, opts), log=opts.log_scale)
    console = Console(file=stdio.StringIO(), record=True, width=160)
    console.print(rich_table(results))
    return console.export_text()
