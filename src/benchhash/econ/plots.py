"""Charts of an hourly analysis (`econ --plot FILE`, and `report --format html`): the price-duration
curve with mining's break-even line, each use's margin by month, and mining's hours on by month."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.fsutil import write_output

FORMATS = (".png", ".svg", ".pdf")
USES = ("mining_flexible", "mining_flat", "ai_rental", "colocation_lease")


def _plt() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_path(path: str) -> None:
    if Path(path).suffix.lower() not in FORMATS:
        raise InputError(f"--plot: {path} must end in {', '.join(FORMATS)}")


def price_duration(ax: Any, h: dict[str, Any], prices: list[float]) -> None:
    """Prices sorted from the dearest hour down, with the break-even price mining runs below."""
    ranked = sorted(prices, reverse=True)
    be = h["breakeven_usd_per_mwh"]
    ax.plot(range(1, len(ranked) + 1), ranked, color="#3b6ea5", lw=1.2, label="hourly price")
    ax.axhline(be, color="#c0392b", ls="--", lw=1, label=f"mining break-even {be:.1f} $/MWh")
    ax.fill_between(range(1, len(ranked) + 1), ranked, be, where=[p > be for p in ranked], color="#c0392b",
                    alpha=0.15, label=f"{h['hours_curtailed']:,} h curtailed")
    ax.set_yscale("symlog", linthresh=100)
    ax.set_xlabel("hours of the series, dearest first")
    ax.set_ylabel("USD/MWh (linear below 100, log above)")
    ax.set_title(f"Price duration: {h['series']['label']}")
    ax.legend(fontsize=8)


def monthly_margin(ax: Any, h: dict[str, Any]) -> None:
    keys = [k for k in USES if k in h["uses"]]
    months = [m["month"] for m in h["uses"]["mining_flat"]["monthly"]]
    width = 0.8 / max(len(keys), 1)
    for i, k in enumerate(keys):
        vals = [m["margin_usd"] for m in h["uses"][k]["monthly"]]
        ax.bar([j + i * width for j in range(len(months))], vals, width, label=h["uses"][k]["label"])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(months))], [m[2:] for m in months], rotation=45, fontsize=8)
    ax.set_yscale("symlog", linthresh=1e4)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("USD per facility MW (symlog)")
    ax.set_title("Margin by month, per facility MW")
    ax.legend(fontsize=7)


def hours_on(ax: Any, h: dict[str, Any]) -> None:
    flex = h["uses"]["mining_flexible"]["monthly"]
    months = [m["month"][2:] for m in flex]
    ax.bar(months, [m["hours"] for m in flex], color="#dddddd", label="hours in the month")
    ax.bar(months, [m["hours_on"] for m in flex], color="#3b6ea5", label="price-responsive mining on")
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.set_ylabel("hours")
    ax.set_title("Mining's hours on by month")
    ax.legend(fontsize=8)


def figures(h: dict[str, Any], prices: list[float]) -> list[tuple[str, Any]]:
    """(title, figure) for each chart."""
    plt = _plt()
    out = []
    for title, draw in (("Price duration and mining's break-even", lambda ax: price_duration(ax, h, prices)),
                        ("Margin by month and use", lambda ax: monthly_margin(ax, h)),
                        ("Mining's hours on by month", lambda ax: hours_on(ax, h))):
        fig, ax = plt.subplots(figsize=(9, 4.2))
        draw(ax)
        fig.tight_layout()
        out.append((title, fig))
    return out


def write_hourly_charts(h: dict[str, Any], prices: list[float], path: str) -> None:
    """The three charts stacked in one file; the format follows the extension."""
    check_path(path)
    plt = _plt()
    fig, axes = plt.subplots(3, 1, figsize=(9, 13))
    price_duration(axes[0], h, prices)
    monthly_margin(axes[1], h)
    hours_on(axes[2], h)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lower()[1:], dpi=110)
    plt.close(fig)
    write_output(path, buf.getvalue(), flag="--plot")
