"""Miners' public AI deals (data/deals.json) beside the model's rows: each deal's USD per
IT-MW-year (its value over its base term and IT MW, computed here, not quoted), and where the
model's GPU-cloud and colocation rows fall among them."""

from __future__ import annotations

import statistics
from typing import Any

from benchhash.data import data_json


def deals() -> list[dict[str, Any]]:
    """Every deal with its USD per IT-MW-year."""
    out = []
    for d in data_json("deals.json")["deals"]:
        out.append({**d, "usd_per_it_mw_year": d["usd"] / d["years"] / d["it_mw"]})
    return out


def beside_model(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The deals, and the model's rows in the same unit (revenue per IT-MW-year), with the
    median deal of each structure."""
    ds = deals()
    by: dict[str, list[float]] = {}
    for d in ds:
        by.setdefault(d["structure"], []).append(d["usd_per_it_mw_year"])
    model = [{"use": r["use"], "label": r["label"],
              "revenue_usd_per_it_mw_year": r["revenue_now_usd_per_year"] / r["it_mw"] if r["it_mw"] else None}
             for r in rows if r["use"] in ("ai_rental", "ai_rental_contract", "colocation", "ai_tokens")]
    return {"deals": ds, "median_usd_per_it_mw_year": {k: statistics.median(v) for k, v in by.items()},
            "model": model,
            "note": "deal values are base terms (renewal options not counted) over their years and IT MW; "
                    "the model's rows are revenue per IT MW a year at today's conditions (the table's basis)"}
