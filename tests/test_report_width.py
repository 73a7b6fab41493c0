"""The run table and the report table at any width: a table where every cell fits whole, else a
block per row; no word, number or path is ever split across lines."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pytest
from rich.console import Console

from benchhash.report import formats
from benchhash.report.table import RUN_COLUMNS, rows, run_table
from benchhash.results import io
from benchhash.results.fleet import FleetResult
from benchhash.results.model import Result

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "results" / "nvidia-h200" / "vm-20261204T164152Z.json",
         ROOT / "results" / "amd-epyc" / "vm-20261123T051527Z.json"]


def _render(renderable: object, width: int) -> list[str]:
    console = Console(file=stdio.StringIO(), width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def _cells_whole(lines: list[str], cells: list[str], width: int) -> None:
    text = "\n".join(lines)
    for cell in cells:
        for word in cell.split():
            assert word in text, f"{word!r} is split across lines"
    assert all(len(line) <= width for line in lines)


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_run_table_never_splits_a_word(width: int) -> None:
    result, _ = io.load(FILES[0])
    body, _ = rows(result)
    lines = _render(run_table(result), width)
    _cells_whole(lines, [r[c] for r in body for c in RUN_COLUMNS], width)
    assert "(62,100 J/TH)" in "\n".join(lines)                     # J/TH beside H/J


@pytest.mark.parametrize("width", [80, 200])
def test_the_report_table_keeps_paths_whole_and_numbers_its_warnings(width: int) -> None:
    items: list[tuple[str, Result | FleetResult]] = [(str(p.relative_to(ROOT)), io.load(p)[0]) for p in FILES]
    lines = _render(formats.rich_table(items), width)
    text = "\n".join(lines)
    for path, _ in items:
        assert path in text                                          # one piece, on one line
    assert "[1] " in text and "sw_power_cap" in text                 # long warnings as numbered notes
    if width == 200:
        assert any(line.startswith("┃ workload") for line in lines)     # wide enough: a table
    else:
        assert not any("┃" in line for line in lines)                     # too narrow: a block per row
