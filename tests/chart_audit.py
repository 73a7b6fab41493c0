"""What a reader of a chart would be misled by, read off the matplotlib figure itself (the checks
that stand in for comparing screenshots pixel by pixel): a log or symlog axis the title does not
announce, an offset such as '1e7' beside the ticks, a numeric tick label without its unit, bars
whose value axis does not start at zero, a line chart cut above zero that does not say it is
zoomed, an internal name (snake_case) in a title or legend, a legend over any axes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer

INTERNAL = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")       # device_mining, btc_usd (not HB_WEST)
BARE = re.compile(r"[−+-]?[\d,]*\.?\d+(e[+-]?\d+)?")       # a number and nothing else ('23-01' is a month)


def _axis_problems(ax: Any, name: str, axis: Any) -> list[str]:
    out = []
    scale = axis.get_scale()
    if scale != "linear" and not (scale == "log" and "log" in ax.get_title()):
        out.append(f"{name} axis is {scale} and the title {ax.get_title()!r} does not say so")
    if axis.get_offset_text().get_text():
        out.append(f"{name} axis has an offset {axis.get_offset_text().get_text()!r}")
    bare = [t.get_text() for t in axis.get_ticklabels() if BARE.fullmatch(t.get_text())]
    if bare:
        out.append(f"{name} tick labels without a unit: {bare}")
    return out


def _bar_problems(ax: Any) -> list[str]:
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    if not bars:
        return []
    horizontal = bars[0].orientation == "horizontal"
    low, high = ax.get_xlim() if horizontal else ax.get_ylim()
    if (ax.get_xscale() if horizontal else ax.get_yscale()) != "linear":
        return []
    values = [float(v) for c in bars for v in np.asarray(c.datavalues, dtype=float).ravel()]
    if low > 0 or high < 0 or (min(values) >= 0 and low != 0):
        return [f"bars in {ax.get_title()!r} on an axis from {low:g} to {high:g}, not from zero"]
    return []


def _line_problems(ax: Any) -> list[str]:
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    low, high = ax.get_ylim()
    if lines and not ax.containers and low > 0 and "zoom" not in ax.get_title():
        return [f"lines in {ax.get_title()!r} start at {low:g}, not zero, and the title does not say zoomed"]
    return []


def _texts(fig: Any) -> list[str]:
    out = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text()
                                             and a.__class__.__name__ == "Text")]
    return [t for t in out if INTERNAL.search(t)]


def problems(fig: Any) -> list[str]:
    """Every way the figure misleads; [] for an honest one."""
    fig.canvas.draw()
    axes = [ax for ax in fig.findobj(Axes) if ax.get_visible() and ax.axison]
    out = []
    for ax in axes:
        out += _axis_problems(ax, "x", ax.xaxis) + _axis_problems(ax, "y", ax.yaxis)
        out += _bar_problems(ax) + _line_problems(ax)
        legend = ax.get_legend()
        if legend is not None:
            box = legend.get_window_extent()
            out += [f"the legend of {ax.get_title()!r} lies over the axes of {other.get_title()!r}"
                    for other in axes if box.overlaps(other.get_window_extent())]
    out += [f"an internal name in {t!r}" for t in _texts(fig)]
    return out
