"""Charts (matplotlib figures; `econ --plot FILE` and `report --format html` draw them), drawn so
that the picture says what the numbers say:

- bars on linear axes that start at zero (a log axis only when asked for, and then said in the
  title); no symlog: money whose scales differ by orders of magnitude gets separate panels;
- line charts start at zero too, unless a panel says it is zoomed and where it was cut;
- tick labels carry their unit with one SI prefix per axis ('2.5 GH/s', '900 k$'), never an
  offset such as '1e7'; titles in words; legends beside the axes, never over the data."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.ticker import Formatter, MaxNLocator

from benchhash.errors import InputError
from benchhash.fsutil import write_output
from benchhash.units import j_per_th, prefix_of, si

if TYPE_CHECKING:
    from benchhash.econ.site import Hourly

FORMATS = (".png", ".svg", ".pdf")
MEASURED, REFERENCE, LOSS = "#3b6ea5", "#b0b0b0", "#c0392b"
#: uses whose largest figures differ by more than this factor are drawn in separate panels
SCALE_RATIO = 10.0


def _plt() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_path(path: str) -> None:
    if Path(path).suffix.lower() not in FORMATS:
        raise InputError(f"--plot: {path} must end in {', '.join(FORMATS)}")


def unique(labels: list[str]) -> list[str]:
    """Labels made distinct (' #2', ' #3' on repeats), so that no two bars or legend entries share one."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


class UnitTicks(Formatter):
    """Tick labels with the unit and one SI prefix for the whole axis, chosen from its largest
    tick ('0 GH/s', '2.5 GH/s', '5.0 GH/s'), so no axis shows a bare '1e7' offset; on a log
    axis each tick its own prefix. prefixed=False keeps plain numbers ('2,000 h', '300 W')."""

    def __init__(self, unit: str, prefixed: bool = True) -> None:
        self.unit, self.prefixed = unit, prefixed
        self.ticks: list[float] = []

    def set_locs(self, locs: Sequence[float]) -> None:
        self.ticks = list(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        if getattr(self.axis, "get_scale", lambda: "linear")() == "log":
            return si(x, self.unit)
        ticks = self.ticks or [x]
        factor, prefix = prefix_of(max(abs(v) for v in ticks)) if self.prefixed else (1.0, "")
        step = min((abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False) if b != a), default=0.0) / factor
        decimals = next((d for d in range(4) if abs(round(step, d) - step) <= 1e-9 * step), 4) if step else 0
        return f"{x / factor + 0.0:,.{decimals}f} {prefix}{self.unit}".strip()


def legend_beside(ax: Any) -> None:
    """The legend to the right of the axes, off the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def j_per_th_axis(ax: Any) -> None:
    """A right-hand axis that reads the hashes-per-joule ticks in J/TH, miners' unit (J/TH =
    10^12 / H/J: the same points, labelled the other way)."""
    twin = ax.twinx()
    twin.set_ylim(ax.get_ylim())
    low, high = ax.get_ylim()
    twin.set_yticks([t for t in ax.get_yticks() if low <= t <= high])
    twin.set_yticklabels([j_per_th(t) if t > 0 else "" for t in twin.get_yticks()], fontsize=7)
    twin.set_ylabel("the same in J/TH", fontsize=8)


def _value_axis_from_zero(ax: Any, values: Sequence[float], horizontal: bool) -> None:
    """The value axis of bars spans zero: from zero when nothing is negative."""
    lo, hi = min(0.0, *values), max(0.0, *values)
    pad = (0.25 if horizontal else 0.12) * ((hi - lo) or 1.0)      # room for the value printed at a bar
    limits = (lo - pad if lo < 0 else 0.0, hi + pad if hi > 0 else 0.0)
    (ax.set_xlim if horizontal else ax.set_ylim)(*limits)


def bar_panels(title: str, labels: list[str], panels: list[tuple[str, list[float], str, list[str]]],
               colors: list[str] | str = MEASURED, log: bool = False) -> Any:
    """Horizontal bars, one row per label, one panel per (heading, values, unit, value texts):
    each value printed at its bar, losses drawn in red. log=True (asked for) draws a log axis,
    said in the title."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(9.5 + 3.5 * (len(panels) - 1), 1.0 + 0.42 * max(len(labels), 1)),
                             sharey=True, squeeze=False, layout="constrained")
    for ax, (heading, values, unit, texts) in zip(axes[0], panels, strict=True):
        shade = [LOSS if v < 0 else c for v, c in zip(values, colors if isinstance(colors, list)
                                                         else [colors] * len(values), strict=True)]
        bars = ax.barh(range(len(labels)), values, color=shade)
        ax.bar_label(bars, labels=texts, padding=3, fontsize=8)
        if log and min(values, default=0) > 0:
            ax.set_xscale("log")
            heading += " (log scale)"
        else:
            _value_axis_from_zero(ax, values, horizontal=True)
            ax.axvline(0, color="black", lw=0.6)
            ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(UnitTicks(unit))
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(heading, fontsize=9)
    axes[0][0].set_yticks(range(len(labels)), labels, fontsize=9)
    axes[0][0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    return fig


def _annotate(ax: Any, xs: list[float], ys: list[float], unit: str) -> None:
    """Each point's value above it, skipping a point that would print over the last one printed."""
    width = (max(xs) - min(xs)) or 1.0
    height = (max(ys) - min(0.0, *ys)) or 1.0
    last: tuple[float, float] | None = None
    for x, y in zip(xs, ys, strict=True):
        if last is not None and abs(x - last[0]) < 0.08 * width and abs(y - last[1]) < 0.06 * height:
            continue
        ax.annotate(si(y, unit), (x, y), textcoords="offset points", xytext=(0, 5), fontsize=7, ha="center")
        last = (x, y)


Panel = tuple[str, list[float], list[float], str, str]      # (heading, x, y, x unit, y unit)


def small_multiples(title: str, panels: list[Panel], y_label: str = "") -> Any:
    """One small line chart per panel, side by side, each from zero on its own scale: the phases
    of a sweep count different work (hashes, FLOP, tokens) and never share an axis. A panel of
    hashes per joule reads the same ticks in J/TH on its right."""
    plt = _plt()
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False, layout="constrained")
    for ax, (heading, xs, ys, x_unit, y_unit) in zip(axes.flat, panels, strict=False):
        ax.plot(xs, ys, marker="o", color=MEASURED)
        _annotate(ax, xs, ys, y_unit)
        lo, hi = min(0.0, *ys), max(0.0, *ys)
        ax.set_ylim(lo * 1.15, hi * 1.15 or 1.0)
        ax.xaxis.set_major_formatter(UnitTicks(x_unit, prefixed=False))
        ax.yaxis.set_major_formatter(UnitTicks(y_unit))
        ax.tick_params(labelsize=8)
        ax.set_title(heading, fontsize=9)
        ax.set_ylabel(y_label, fontsize=8)
        ax.grid(alpha=0.3)
        if y_unit == "H/J":
            j_per_th_axis(ax)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def _zoom_top(ranked: list[float], breakeven: float) -> float:
    """Where the zoomed price panel is cut: above the break-even and most hours, at a round price."""
    top = max(2.0 * breakeven, ranked[len(ranked) // 50] if ranked else 0.0, 1.0)
    step = 10 ** math.floor(math.log10(top))
    return math.ceil(top / step) * step


def price_duration(fig: Any, h: Hourly, prices: list[float]) -> None:
    """Prices sorted from the dearest hour down, with the break-even price mining runs below: every
    hour on a linear axis, and beside it the same curve zoomed to the prices most hours have."""
    ranked = sorted(prices, reverse=True)
    be = h.breakeven_usd_per_mwh or 0.0
    hours = range(1, len(ranked) + 1)
    cut = _zoom_top(ranked, be)
    above = sum(p > cut for p in ranked)
    floor = min(0.0, *ranked) if ranked else 0.0
    for ax, zoomed in zip(fig.subplots(1, 2), (False, True), strict=True):
        ax.plot(hours, ranked, color=MEASURED, lw=1.2, label="hourly price")
        ax.axhline(be, color=LOSS, ls="--", lw=1, label=f"mining break-even {be:.1f} $/MWh")
        ax.fill_between(hours, ranked, be, where=[p > be for p in ranked], color=LOSS, alpha=0.15,
                        label=f"{h.hours_curtailed:,} h curtailed")
        ax.set_ylim(floor, cut if zoomed else None)
        ax.xaxis.set_major_formatter(UnitTicks("h", prefixed=False))
        ax.yaxis.set_major_formatter(UnitTicks("$/MWh", prefixed=False))
        ax.tick_params(labelsize=8)
        ax.set_xlabel("hours of the series, dearest first", fontsize=8)
        ax.set_title(f"zoomed: cut at {cut:,.0f} $/MWh, the {above:,} dearest hours run off the top" if zoomed
                     else f"every hour (up to {max(ranked, default=0):,.0f} $/MWh)", fontsize=9)
    legend_beside(ax)
    fig.suptitle(f"Price duration: {h.series.label}", fontsize=10)


def scale_groups(peaks: dict[str, float], ratio: float = SCALE_RATIO) -> list[list[str]]:
    """Keys grouped so that within a group the largest peak is at most `ratio` times the smallest:
    what one linear axis can show without flattening the small ones to nothing."""
    groups: list[list[str]] = []
    for key in sorted(peaks, key=lambda k: peaks[k]):
        if groups and peaks[key] <= ratio * max(peaks[groups[-1][0]], 1.0):
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


def _peaks(h: Hourly) -> dict[str, float]:
    """Each use's largest monthly margin, gain or loss."""
    return {k: max(abs(m.margin_usd) for m in u.monthly) for k, u in h.uses.items()}


def monthly_margin(fig: Any, h: Hourly) -> None:
    """Each use's margin by month, one panel per scale (AI's ~1 M$ a month beside mining's ~20 k$
    would flatten mining to a line), bars from zero on linear axes."""
    uses = h.uses
    peaks = _peaks(h)
    groups = [sorted(g, key=list(uses).index) for g in reversed(scale_groups(peaks))]
    for ax, keys in zip(fig.subplots(len(groups), 1, squeeze=False)[:, 0], groups, strict=True):
        months = [m.month for m in uses[keys[0]].monthly]
        width = 0.8 / len(keys)
        for i, (k, label) in enumerate(zip(keys, unique([uses[k].label for k in keys]), strict=True)):
            ax.bar([j + i * width for j in range(len(months))], [m.margin_usd for m in uses[k].monthly],
                   width, label=label)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(months))], [m[2:] for m in months], fontsize=8)
        _value_axis_from_zero(ax, [m.margin_usd for k in keys for m in uses[k].monthly], horizontal=False)
        ax.axhline(0, color="black", lw=0.6)
        ax.yaxis.set_major_formatter(UnitTicks("$"))
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(f"up to {si(max(peaks[k] for k in keys), '$')} a month", fontsize=9)
        legend_beside(ax)
    fig.suptitle("Margin by month, per facility MW" + (" (each panel on its own scale: uses a factor of "
                                                        f"{SCALE_RATIO:g} or more apart are drawn apart)"
                                                        if len(groups) > 1 else ""), fontsize=10)


def hours_on(fig: Any, h: Hourly) -> None:
    flex = h.uses["mining_flexible"].monthly
    months = [m.month[2:] for m in flex]
    ax = fig.subplots()
    ax.bar(months, [m.hours for m in flex], color="#dddddd", label="hours in the month")
    ax.bar(months, [m.hours_on for m in flex], color=MEASURED, label="price-responsive mining on")
    ax.set_ylim(0, 1.1 * max((m.hours for m in flex), default=1))
    ax.yaxis.set_major_formatter(UnitTicks("h", prefixed=False))
    ax.tick_params(labelsize=8)
    ax.set_title("Mining's hours on by month", fontsize=10)
    legend_beside(ax)


def _hourly_parts(h: Hourly, prices: list[float]) -> list[tuple[str, Callable[[Any], None], float]]:
    """(title, draw on a figure, height in inches) per hourly chart."""
    panels = len(scale_groups(_peaks(h)))
    return [("Price duration and mining's break-even", lambda f: price_duration(f, h, prices), 4.2),
            ("Margin by month and use", lambda f: monthly_margin(f, h), 0.6 + 3.0 * panels),
            ("Mining's hours on by month", lambda f: hours_on(f, h), 3.8)]


def figures(h: Hourly, prices: list[float]) -> list[tuple[str, Any]]:
    """(title, figure) for each hourly chart."""
    plt = _plt()
    out = []
    for title, draw, height in _hourly_parts(h, prices):
        fig = plt.figure(figsize=(11, height), layout="constrained")
        draw(fig)
        out.append((title, fig))
    return out


def write_hourly_charts(h: Hourly | None, prices: list[float], path: str) -> None:
    """The hourly charts stacked in one file (``h``: the answer's hourly analysis, which a price
    series always comes with); the format follows the extension."""
    check_path(path)
    if h is None:
        raise InputError("no hourly analysis to chart: give --hourly or --prices")
    plt = _plt()
    parts = _hourly_parts(h, prices)
    fig = plt.figure(figsize=(11, sum(height for _, _, height in parts)), layout="constrained")
    for sub, (_, draw, _) in zip(fig.subfigures(len(parts), 1, height_ratios=[p[2] for p in parts]), parts,
                                 strict=True):
        draw(sub)
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lower()[1:], dpi=110)
    plt.close(fig)
    write_output(path, buf.getvalue(), flag="--plot")
