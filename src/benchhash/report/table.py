"""The table `benchhash run` ends with (and `report` will reuse): one row per workload phase; and
grids and lines that read at any width, as a table, one block per row, or Markdown (econ's text)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from benchhash.results.model import Result, WorkloadResult
from benchhash.units import per_joule, si

#: The latencies a rate cell shows beside it, where a phase has them (files before the serve
#: phase called prefill's back-to-back time ttft_ms; a serve phase has percentiles).
LATENCIES = (("prefill_latency_ms", "prefill"), ("ttft_ms", "TTFT"), ("ttft_ms_p50", "TTFT p50"),
             ("tpot_ms", "TPOT"), ("tpot_ms_p50", "TPOT p50"))


def rate_text(w: WorkloadResult) -> str:
    s = w.stats.rate
    if s is None:
        return "-"
    spread = f" ± {100 * s.mad / s.median:.1f} %" if s.median else ""
    latency = "".join(f", {name} {w.metrics[key]:.3g} ms" for key, name in LATENCIES
                      if isinstance(w.metrics.get(key), int | float))
    return si(s.median, w.rate_unit) + spread + latency


def rows(result: Result) -> tuple[list[dict[str, str]], list[str]]:
    """Table rows and the numbered warnings they refer to (long text stays out of cells)."""
    out, notes = [], []

    def ref(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return str(notes.index(text) + 1)

    for w in result.workloads:
        refs = [ref(text) for text in w.validity.warnings]
        out.append({
            "workload": w.label,
            "device": w.device,
            "rate": rate_text(w),
            "watts": si(w.energy.average_w, "W"),
            "per_joule": per_joule(w.efficiency.work_per_joule, w.efficiency.unit),
            "method": w.energy.method,
            "warnings": ",".join(refs) or "-",
        })
    for f in result.failures:
        out.append({
            "workload": f.label,
            "device": "-", "rate": f"failed ({f.stage})", "watts": "-", "per_joule": "-",
            "method": "-", "warnings": ref(f"{f.error}: {f.message}"),
        })
    return out, notes


RUN_COLUMNS = ("workload", "device", "rate", "watts", "per_joule", "method", "warnings")
RUN_HEADERS = ("workload", "device", "rate ± MAD", "avg W", "work / J", "energy method", "warnings")


def run_table(result: Result) -> Fit:
    """The table (a block per phase where the console is too narrow for it), then the warnings
    it numbers."""
    body, notes = rows(result)
    grid = Grid("benchhash run" + ("" if result.complete else " (incomplete)"), list(RUN_HEADERS),
                [[r[c] for c in RUN_COLUMNS] for r in body], text_columns=2)
    lines = [Line(f"[{i}] {n}") for i, n in enumerate(notes, 1)]
    if result.config.quick:
        lines.append(Line("a --quick smoke run: short trials, its figures are indicative only"))
    return Fit([grid, *lines])


# --- tables and lines for any width (econ's text, Markdown) ------------------------------------
#: The narrowest the first column of a table may be wrapped to (between words only).
FIRST_MIN = 12


@dataclass
class Grid:
    """A table as a person reads it: a title, headers and rows of text cells, the first column
    naming the row. Shown as a table where every cell fits whole (the first column may wrap
    between words), else as one block per row of 'header: value' pairs: no word is ever split."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    text_columns: int = 1             # the leading columns that hold words (left-justified)


@dataclass
class Line:
    """A line of prose: kind 'text', 'heading', 'note' or 'warning'; indent in steps of two spaces."""

    text: str
    kind: str = "text"
    indent: int = 0


@dataclass
class Items:
    """A lead and its items, packed onto lines of the console's width with no item split
    ('lead: a; b; c', continued one step further in)."""

    lead: str
    items: list[str]
    indent: int = 1


Block = Grid | Line | Items


def _widths(g: Grid, width: int) -> list[int] | None:
    """Each column's width for a table that fits ``width`` without splitting a word (headers and
    the first column may wrap between words); None if there is none."""
    cols = [[r[i] for r in g.rows] for i in range(len(g.headers))]
    words = [max(len(w) for w in h.split()) for h in g.headers]
    natural = [max([len(g.headers[0])] + [len(c) for c in cols[0]])]
    natural += [max([words[i]] + [len(c) for c in col]) for i, col in enumerate(cols) if i]
    room = width - (3 * len(cols) + 1) - sum(natural[1:])
    if room >= natural[0]:
        return _widen(natural, g.headers, room - natural[0])
    least = max([min(FIRST_MIN, natural[0]), words[0]] + [len(w) for c in cols[0] for w in c.split()])
    return [room, *natural[1:]] if room >= least else None


def _widen(widths: list[int], headers: list[str], spare: int) -> list[int]:
    """Spare columns given to headers that would wrap, those needing least first, so fewest do."""
    out = list(widths)
    for i in sorted(range(len(headers)), key=lambda i: len(headers[i]) - out[i]):
        grow = min(spare, max(0, len(headers[i]) - out[i]))
        out[i] += grow
        spare -= grow
    return out


def _table(g: Grid, widths: list[int]) -> Table:
    """Cells as plain Text: a '[' in a warning or a path is shown, never read as markup."""
    table = Table()
    for i, (h, w) in enumerate(zip(g.headers, widths, strict=True)):
        table.add_column(Text(textwrap.fill(h, w)), width=w, no_wrap=True,
                         justify="left" if i < g.text_columns else "right")
    for r in g.rows:
        table.add_row(Text(textwrap.fill(r[0], widths[0], break_long_words=False)), *map(Text, r[1:]))
    return table


def pack(items: list[str], width: int, first: str, more: str, sep: str) -> list[str]:
    """Items on lines of at most ``width`` (the first line starting with ``first``, the others with
    ``more``), ``sep`` between them, none split (one longer than a line stands alone)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(sep) + len(item) <= width:
            lines[-1] += sep + item
        else:
            lines.append((more if lines else first) + item)
    return lines


def vertical(g: Grid, width: int) -> list[str]:
    """One block per row: its name, then 'header: value' pairs packed to the width."""
    out = []
    for r in g.rows:
        out.append(r[0])
        out += pack([f"{h}: {v}" for h, v in zip(g.headers[1:], r[1:], strict=True)], width, "  ", "  ", "  ")
    return out


_STYLES = {"heading": "bold", "note": "yellow", "warning": "bold yellow"}


def _prose(line: Line) -> str:
    head = f"{line.kind}: " if line.kind in ("note", "warning") else ""
    return "  " * line.indent + head + line.text


def show(blocks: list[Block], console: Console) -> None:
    """Lines and grids on a console of any width: tables where they fit, blocks where they do not."""
    console.print(Fit(blocks))


class Fit:
    """Blocks as a rich renderable, laid out for the width they are given when printed."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for b in self.blocks:
            yield from _render(b, options.max_width)


def _render(b: Block, width: int) -> Iterator[Text | Table]:
    if isinstance(b, Line):
        yield _say("  " * b.indent + _prose(Line(b.text, b.kind)), width, _STYLES.get(b.kind, ""))
        return
    if isinstance(b, Items):
        lead = [f"{b.lead}: {b.items[0]}" if b.items else b.lead, *b.items[1:]]
        for text in pack(lead, width, "  " * b.indent, "  " * (b.indent + 1), "; "):
            yield _say(text, width)
        return
    yield _say(b.title, width, "bold")
    widths = _widths(b, width)
    if widths is not None:
        yield _table(b, widths)
        return
    for text in vertical(b, width):
        yield _say(text, width, "" if text.startswith(" ") else "bold")


def _say(text: str, width: int, style: str = "") -> Text:
    """A line wrapped between words to the width, continued one step further in."""
    indent = " " * (len(text) - len(text.lstrip()))
    return Text(textwrap.fill(text, width, subsequent_indent=indent + "  ", break_long_words=False,
                              break_on_hyphens=False), style=style)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(blocks: list[Block]) -> str:
    """The same as Markdown: tables as pipe tables, indented lines as list items."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Grid):
            out += ["", f"**{_md_cell(b.title)}**", "", "| " + " | ".join(map(_md_cell, b.headers)) + " |",
                    "|" + "".join("---|" if i < b.text_columns else "--:|" for i in range(len(b.headers)))]
            out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in b.rows]
            out.append("")
        elif isinstance(b, Items):
            out.append("  " * (b.indent - 1) + f"- {b.lead}: " + "; ".join(b.items))
        elif b.kind == "heading":
            out += ["", f"### {b.text}", ""]
        elif b.indent:
            out.append("  " * (b.indent - 1) + "- " + _prose(Line(b.text, b.kind)))
        else:
            out += ["", f"> **{b.kind}**: {b.text}" if b.kind in ("note", "warning") else b.text, ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out).strip("\n")) + "\n"
