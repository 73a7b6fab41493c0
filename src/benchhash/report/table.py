"""The table `benchhash run` ends with (and `report` will reuse): one row per workload phase."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from benchhash.report.units import si
from benchhash.results.model import Result, WorkloadResult


def rate_text(w: WorkloadResult) -> str:
    s = w.stats.rate
    if s is None:
        return "-"
    spread = f" ± {100 * s.mad / s.median:.1f} %" if s.median else ""
    latency = "".join(f", {name} {w.metrics[key]:.3g} ms" for key, name in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"))
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
            "per_joule": si(w.efficiency.work_per_joule, w.efficiency.unit),
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


def run_table(result: Result) -> Group:
    """The table, then the warnings it numbers."""
    table = Table(title="benchhash run" + ("" if result.complete else " (incomplete)"))
    for col, justify in (("workload", "left"), ("device", "left"), ("rate ± MAD", "right"),
                         ("avg W", "right"), ("work / J", "right"), ("energy method", "left"),
                         ("warnings", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    body, notes = rows(result)
    for r in body:
        table.add_row(r["workload"], r["device"], r["rate"], r["watts"], r["per_joule"],
                      r["method"], r["warnings"])
    lines = [Text(f"[{i}] {n}") for i, n in enumerate(notes, 1)]
    if result.config.quick:
        lines.append(Text("a --quick smoke run: short trials, its figures are indicative only"))
    return Group(table, *lines)
