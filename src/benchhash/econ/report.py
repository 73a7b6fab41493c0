"""`benchhash econ`: assemble every input used and every output into one JSON-ready dict, and
print it as tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchhash.econ import claim as claims
from benchhash.econ import market as markets
from benchhash.econ import uses
from benchhash.econ.measured import from_result
from benchhash.errors import InputError
from benchhash.report.units import musd

FACILITY_NOTE = ("per facility MW-year: facility MW is what the site draws; IT MW = facility MW / "
                 "PUE reaches the machines")


def _asic(name: str) -> dict[str, Any]:
    table = markets.asics()
    match = {k.lower(): k for k in table}.get(name.strip().lower())
    if match is None:
        raise InputError(f"unknown ASIC {name!r}; known: {', '.join(table)}")
    return {"name": match, **table[match]}


@dataclass(frozen=True)
class EconRequest:
    """What `benchhash econ` is asked (its flags), with the command's defaults."""

    results: tuple[str, ...] = ()
    market: str | None = None
    sets: tuple[str, ...] = ()
    asic: str = "S21"
    claim: bool = False
    ai_mw: float = 10.0
    mining_mw: float = 100.0
    draws: int = 10_000
    seed: int = 0


def econ_json(req: EconRequest) -> dict[str, Any]:
    results, market, sets, asic, claim = list(req.results), req.market, list(req.sets), req.asic, req.claim
    ai_mw, mining_mw, draws, seed = req.ai_mw, req.mining_mw, req.draws, req.seed
    if not 0 < ai_mw < math.inf or not 0 < mining_mw < math.inf:
        raise InputError("--ai-mw and --mining-mw must be positive and finite")
    if not 1 <= draws <= 1_000_000:
        raise InputError(f"--draws must be between 1 and 1000000, got {draws}")
    if not 0 <= seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2^63 - 1, got {seed}")
    if market is not None and (market == "live" or market.startswith("live:")):
        from benchhash.econ.live import DEFAULT_URL, live_market
        base = market.split(":", 1)[1] if ":" in market else DEFAULT_URL
        m = markets.apply_sets(live_market(base), sets)
    else:
        m = markets.apply_sets(markets.load(market), sets)
    spec = _asic(asic)
    measured = [from_result(p) for p in results]
    notes: list[str] = []
    if not measured:
        notes.append("no result file given: GPU rows use reference figures from the data "
                     "(" + uses.systems()["reference_gpu"]["source"] + ")")
    rows = [uses.asic_mining(m, spec["name"], spec)]
    for meas in measured or [uses.reference_gpu()]:
        if meas.sha256d_hps and meas.sha256d_watts:
            rows.append(uses.device_mining(m, meas))
        elif meas.measured:
            notes.append(f"{meas.source}: no SHA-256d energy reading, so no mining row for {meas.device}")
    ai_meas = next((x for x in measured if x.ai_watts), None)
    rows.append(uses.ai_rental(m, ai_meas))
    for meas in measured:
        if meas.tokens_per_second and meas.ai_watts:
            rows.append(uses.ai_tokens(m, meas))
        elif meas.tokens_per_second:
            notes.append(f"{meas.source}: llm ran without an energy reading, so tokens per MW "
                         f"cannot be priced for {meas.device}")
    rows.append(uses.colocation(m))
    out: dict[str, Any] = {
        "market": m.name,
        "note": FACILITY_NOTE,
        "notes": notes,
        "inputs": {k: x.to_json() for k, x in m.inputs.items()},
        "asic": spec,
        "measured": [vars(x) for x in measured],
        "derived": uses.derived(m),
        "uses": [r.to_json() for r in rows],
    }
    if claim:
        d = uses.derived(m)
        setup = claims.Setup(ai_mw, mining_mw, spec["j_per_th"],
                             ai_meas.ai_watts if ai_meas and ai_meas.ai_watts else uses.reference_gpu_watts(),
                             float(d["subsidy_btc"] or 0))
        ai, mining = claims.revenues(m.values(), setup)
        ratio = ai / mining
        torn = claims.tornado(m, setup)
        out["claim"] = {
            "statement": f"{ai_mw:g} MW of AI (GPUs rented by the hour) earns what {mining_mw:g} MW "
                         f"of Bitcoin mining ({spec['name']}) earns (facility MW, revenue)",
            "ai_revenue_usd_per_year": ai,
            "mining_revenue_usd_per_year": mining,
            "ratio": ratio,
            "verdict": "holds" if ratio >= 1 else "does not hold",
            "decided_by": torn[0]["input"],
            "breakevens": claims.breakevens(m, setup),
            "tornado": torn,
            "monte_carlo": claims.monte_carlo(m, setup, draws, seed),
        }
    return out


def print_econ(data: dict[str, Any], out: Console) -> None:
    d = data["derived"]
    out.print(f"[bold]market[/] {escape(data['market'])}: hashprice "
              f"{d['hashprice_usd_per_ph_day']:.2f} $/PH/day, subsidy {d['subsidy_btc']:g} BTC, "
              f"network {d['network_hashrate_eh_s']:.0f} EH/s, next halving in {d['years_to_halving']:.1f} y")
    for n in data["notes"]:
        out.print(f"[yellow]note[/] {escape(n)}")
    t = Table(title=escape(data["note"]))
    for col in ("use", "IT MW", "revenue/y", "power/y", "margin/y", "capex", "rev/$capex",
                "payback", "NPV"):
        t.add_column(col, justify="left" if col == "use" else "right", overflow="fold")
    for r in data["uses"]:
        t.add_row(escape(r["label"]), f"{r['it_mw']:.2f}", musd(r["revenue_usd_per_year"]),
                  musd(r["power_cost_usd_per_year"]), musd(r["margin_usd_per_year"]),
                  musd(r["capex_usd"]),
                  "-" if r["revenue_per_capex_usd"] is None else f"{r['revenue_per_capex_usd']:.3f}",
                  "never" if r["payback_years"] is None else f"{r['payback_years']:.1f} y",
                  musd(r["npv_usd"]))
    out.print(t)
    c = data.get("claim")
    if not c:
        return
    out.print(f"[bold]claim[/] {escape(c['statement'])}")
    out.print(f"  AI {musd(c['ai_revenue_usd_per_year'])}/y vs mining {musd(c['mining_revenue_usd_per_year'])}/y"
              f" -> ratio {c['ratio']:.2f}: [bold]{c['verdict']}[/]; decided most by {c['decided_by']}")
    b = c["breakevens"]
    out.print(f"  break-evens: {b['gpu_usd_per_hour']:.2f} $/GPU-hour, BTC {b['btc_usd']:,.0f} $, "
              f"mining's zero-margin power price {b['mining_zero_margin_power_usd_per_mwh']:.0f} $/MWh")
    tt = Table(title="tornado: each input alone at the ends of its range")
    for col in ("input", "low", "high", "ratio at low", "ratio at high", "swing"):
        tt.add_column(col, justify="left" if col == "input" else "right")
    for r in c["tornado"]:
        tt.add_row(r["input"], f"{r['low']:g}", f"{r['high']:g}", f"{r['ratio_at_low']:.2f}",
                   f"{r['ratio_at_high']:.2f}", f"{r['swing']:.2f}")
    out.print(tt)
    mc = c["monte_carlo"]
    out.print(f"  Monte Carlo ({mc['draws']:,} draws, seed {mc['seed']}): ratio p5 {mc['p5']:.2f}, "
              f"p50 {mc['p50']:.2f}, p95 {mc['p95']:.2f}; the claim holds in "
              f"{100 * mc['share_claim_holds']:.0f} % of draws")
