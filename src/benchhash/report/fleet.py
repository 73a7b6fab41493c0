"""What a person sees of a fleet: per phase the ranks, the fleet's rate and watts (median over
trials of the per-trial sums) and its work per joule, and how closely the windows lined up."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from benchhash.errors import ResultFileError
from benchhash.results.fleet import FleetResult, devices_text
from benchhash.review.load import load
from benchhash.units import duration, si


def fleet_table(path: str | Path) -> Group:
    f = load(path)
    if not isinstance(f, FleetResult):
        raise ResultFileError(f"{path}: a result file, not a fleet file")
    title = f"benchhash fleet: {len(f.ranks)} of {f.world_size} rank(s)" + ("" if f.complete else " (incomplete)")
    t = Table(title=title)
    for col in ("phase", "devices", "fleet rate", "fleet W", "work / J", "window spread"):
        t.add_column(col, justify="left" if col in ("phase", "devices") else "right")
    for p in f.phases:
        spreads = [x.start_spread_s for x in p.trials if x.start_spread_s is not None]
        t.add_row(p.label, devices_text(f, p.ranks), si(p.rate, p.rate_unit), si(p.average_w, "W"),
                  si(p.work_per_joule, f"{p.unit}/J"),
                  duration(max(spreads)) if spreads else "-")
    return Group(t, *[Text(n) for n in f.notes])
