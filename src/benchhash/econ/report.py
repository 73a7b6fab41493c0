"""`benchhash econ`: assemble every input used and every output into one JSON-ready dict, and
print it as tables."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchhash.econ import caps, uses
from benchhash.econ import claim as claims
from benchhash.econ import deals as deals_mod
from benchhash.econ import market as markets
from benchhash.econ.measured import load
from benchhash.econ.prices import PriceSeries
from benchhash.econ.site import HourlyRequest
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
    deals: bool = False
    hourly: HourlyRequest | None = None      # dispatch over an hourly price series


def _checked(req: EconRequest) -> None:
    if not 0 < req.ai_mw < math.inf or not 0 < req.mining_mw < math.inf:
        raise InputError("--ai-mw and --mining-mw must be positive and finite")
    if not 1 <= req.draws <= 1_000_000:
        raise InputError(f"--draws must be between 1 and 1000000, got {req.draws}")
    if not 0 <= req.seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2^63 - 1, got {req.seed}")


def _market(req: EconRequest, asic: str) -> markets.Market:
    market = req.market
    if market is not None and (market == "live" or market.startswith("live:")):
        from benchhash.econ.live import DEFAULT_URL, live_market
        base = market.split(":", 1)[1] if ":" in market else DEFAULT_URL
        m = live_market(base)
    else:
        m = markets.load(market)
    return markets.apply_sets(markets.with_device_prices(m, asic), list(req.sets))


def _device_rows(m: markets.Market, meas: uses.Measured, notes: list[str]) -> list[uses.Use]:
    """The rows one device earns: mining on it, renting it (on demand, on contracts), its tokens."""
    rows = []
    if meas.sha256d_hps and meas.sha256d_watts:
        rows.append(uses.device_mining(m, meas))
    elif meas.measured:
        notes.append(f"{meas.source}: no SHA-256d energy reading, so no mining row for {meas.device}")
    p = uses.price(m, meas)
    if isinstance(p, str):
        notes.append(f"{meas.source}: {p}" if meas.measured else p)
    elif meas.ai_watts or not meas.measured:
        rows.append(uses.ai_rental(m, meas, p))
        if p.contract_1y is not None:
            rows.append(uses.ai_rental_contract(m, meas, p))
    elif meas.measured:
        notes.append(f"{meas.source}: no AI workload with an energy reading, so no rental row for {meas.device}")
    rows += _token_rows(m, meas, p, notes)
    return rows


def _token_rows(m: markets.Market, meas: uses.Measured, p: uses.Price | str, notes: list[str]) -> list[uses.Use]:
    if not meas.decode:
        return []
    best = uses.best_decode(meas)
    if best is None:
        notes.append(f"{meas.source}: llm ran without an energy reading, so tokens per MW "
                     f"cannot be priced for {meas.device}")
        return []
    key = uses.token_price_key(best)
    if key is None:
        notes.append(f"{meas.source}: the {best.preset or 'measured'} model is too small to sell tokens of "
                     "(no price class); run --llm-preset 8b (or 1b, 3b, 70b)")
        return []
    server = m["cpu_server_usd"] if meas.kind == "cpu" else (p.server_usd if isinstance(p, uses.Price)
                                                             else m["gpu_server_usd_per_gpu"])
    return [uses.ai_tokens(m, meas, best, key, server)]


def _claim_device(m: markets.Market, measured: list[uses.Measured]) -> tuple[uses.Measured | None, uses.Price | None]:
    """The measured GPU the claim is about: one with AI watts and a rental price of its own."""
    for meas in measured:
        p = uses.price(m, meas)
        if meas.ai_watts and isinstance(p, uses.Price):
            return meas, p
    return None, None


def econ_json(req: EconRequest) -> dict[str, Any]:
    return econ_data(req)[0]


def econ_data(req: EconRequest) -> tuple[dict[str, Any], PriceSeries | None]:
    """Every input and output as JSON, and the hourly price series it used (for charts)."""
    _checked(req)
    spec = _asic(req.asic)
    m = _market(req, spec["name"])
    loaded = [load(p) for p in req.results]
    measured = [meas for meas, _ in loaded]
    notes: list[str] = []
    sweeps = [{"source": meas.source, "device": meas.device,
               "curves": [c.to_json() for c in caps.curves(m, meas, phases)]}
              for meas, phases in loaded if caps.is_sweep(phases)]
    notes += [f"{s['source']}: a power-limit sweep; the rows below take each phase at its highest cap, "
              "the power-cap tables every cap" for s in sweeps]
    if not measured:
        notes.append("no result file given: GPU rows use reference figures from the data "
                     "(" + uses.systems()["reference_gpu"]["source"] + ")")
    rows = [uses.asic_mining(m, spec["name"], spec)]
    for meas in measured or [uses.reference_gpu()]:
        rows += _device_rows(m, meas, notes)
    rows.append(uses.colocation(m))
    out: dict[str, Any] = {
        "market": m.name,
        "note": FACILITY_NOTE,
        "notes": notes,
        "inputs": {k: x.to_json() for k, x in m.inputs.items()},
        "asic": spec,
        "measured": [asdict(x) for x in measured],
        "derived": uses.derived(m),
        "uses": [r.to_json() for r in rows],
    }
    if sweeps:
        out["power_caps"] = sweeps
    if req.deals:
        out["deals"] = deals_mod.beside_model(out["uses"])
    if req.claim:
        out["claim"] = claim_json(m, spec, req, measured, rows, notes)
    series = None
    if req.hourly is not None:
        from benchhash.econ import prices, site
        h = req.hourly
        series = prices.load(h.prices, h.fill, h.point)
        out["hourly"] = site.analyse(series, m, spec, rows, h, req.ai_mw, req.mining_mw)
    return out, series


def _npv_judgement(rows: list[uses.Use], use: str, ai_mw: float, mining_npv: float) -> dict[str, Any]:
    row = next((r for r in rows if r.use == use), None)
    if row is None:
        return claims.no_row()
    out = claims.judge(row.npv_usd * ai_mw, mining_npv)
    out.update(ai_revenue_per_capex=row.lifetime_revenue_per_capex_usd, horizon_years=row.horizon_years)
    return out


def claim_json(m: markets.Market, spec: dict[str, Any], req: EconRequest, measured: list[uses.Measured],
               rows: list[uses.Use], notes: list[str]) -> dict[str, Any]:
    """Both readings of the claim, on revenue, margin and return on capital."""
    d = uses.derived(m)
    meas, p = _claim_device(m, measured)
    if measured and meas is None:
        notes.append("the claim uses the reference H100: no measured GPU has AI watts and a rental price")
    m_claim = m.with_value("gpu_usd_per_hour", p.on_demand) if p is not None else m
    gpu = meas.device if meas is not None else uses.reference_gpu().device
    setup = claims.Setup(req.ai_mw, req.mining_mw, spec["j_per_th"],
                         meas.ai_watts if meas is not None and meas.ai_watts else uses.reference_gpu_watts(),
                         float(d["subsidy_btc"] or 0))
    v = m_claim.values()
    asic_row = rows[0]
    mining_npv = asic_row.npv_usd * req.mining_mw
    readings: dict[str, Any] = {}
    for name in ("gpu_cloud", "colocation_lease"):
        ai, mine = claims.READINGS[name](v, setup), claims.mining(v, setup)
        torn = claims.tornado(m_claim, setup, name)
        readings[name] = {
            "label": claims.READING_LABELS[name],
            "revenue": claims.judge(ai.revenue, mine.revenue),
            "margin": claims.judge(ai.margin, mine.margin),
            "return_on_capital": _npv_judgement(rows, "ai_rental" if name == "gpu_cloud" else "colocation",
                                                req.ai_mw, mining_npv),
            "decided_by": torn[0]["input"], "tornado": torn,
            "monte_carlo": claims.monte_carlo(m_claim, setup, req.draws, req.seed, name),
        }
    gc = readings["gpu_cloud"]
    words = []
    measures = (("revenue", "revenue"), ("margin", "margin"), ("return_on_capital", "return on capital (NPV)"))
    for measure, what in measures:
        words.append(f"on {what}, GPU cloud: {gc[measure]['in_words']}; colocation lease: "
                     f"{readings['colocation_lease'][measure]['in_words']}")
    return {
        "statement": f"{req.ai_mw:g} MW of AI ({gpu}) earns what {req.mining_mw:g} MW of Bitcoin mining "
                     f"({spec['name']}) earns (facility MW)",
        "basis": "revenue and margin at today's conditions; return on capital = NPV of each use over its own "
                 "horizon (ASIC life, GPU life, lease term), scaled to the claim's MW",
        "verdicts": words, **readings,
        # the GPU-cloud reading on revenue under the names version 1 of this JSON used
        "ai_revenue_usd_per_year": gc["revenue"]["ai_usd"], "mining_revenue_usd_per_year": gc["revenue"]["mining_usd"],
        "ratio": gc["revenue"]["ratio"], "verdict": gc["revenue"]["verdict"], "decided_by": gc["decided_by"],
        "breakevens": claims.breakevens(m_claim, setup), "tornado": gc["tornado"], "monte_carlo": gc["monte_carlo"],
    }


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def print_econ(data: dict[str, Any], out: Console) -> None:
    d = data["derived"]
    out.print(f"[bold]market[/] {escape(data['market'])}: hashprice "
              f"{d['hashprice_usd_per_ph_day']:.2f} $/PH/day, subsidy {d['subsidy_btc']:g} BTC, "
              f"network {d['network_hashrate_eh_s']:.0f} EH/s, next halving in {d['years_to_halving']:.1f} y")
    for n in data["notes"]:
        out.print(f"[yellow]note[/] {escape(n)}")
    t = Table(title=escape(data["note"]) + "; first-year figures, payback and NPV over each use's horizon")
    for col in ("use", "IT MW", "revenue/y", "power/y", "opex/y", "margin/y", "capex", "rev/$capex",
                "payback", "NPV"):
        t.add_column(col, justify="left" if col == "use" else "right", overflow="fold")
    for r in data["uses"]:
        t.add_row(escape(r["label"]), f"{r['it_mw']:.2f}", musd(r["revenue_usd_per_year"]),
                  musd(r["power_cost_usd_per_year"]), musd(r["opex_usd_per_year"]), musd(r["margin_usd_per_year"]),
                  musd(r["capex_usd"]),
                  "-" if r["revenue_per_capex_usd"] is None else f"{r['revenue_per_capex_usd']:.3f}",
                  r["payback"] + ("" if r["switched_off_year"] is None
                                  else f" (off in y{int(r['switched_off_year']) + 1})"),
                  f"{musd(r['npv_usd'])} / {r['horizon_years']} y")
    out.print(t)
    for sweep in data.get("power_caps", []):
        print_caps(sweep, out)
    if "deals" in data:
        _print_deals(data["deals"], out)
    if "hourly" in data:
        print_hourly(data["hourly"], out)
    c = data.get("claim")
    if not c:
        return
    out.print(f"[bold]claim[/] {escape(c['statement'])}")
    for line in c["verdicts"]:
        out.print(f"  {escape(line)}")
    for name in ("gpu_cloud", "colocation_lease"):
        r = c[name]
        out.print(f"  [bold]{r['label']}[/]: revenue {musd(r['revenue']['ai_usd'])}/y vs mining "
                  f"{musd(r['revenue']['mining_usd'])}/y; decided most by {r['decided_by']}")
        mc = r["monte_carlo"]
        rev = mc["revenue"]
        out.print(f"    Monte Carlo ({mc['draws']:,} draws, seed {mc['seed']}): revenue ratio "
                  f"p5 {_ratio(rev['p5'])}, p50 {_ratio(rev['p50'])}, p95 {_ratio(rev['p95'])}; the claim holds in "
                  f"{100 * rev['share_claim_holds']:.0f} % of draws on revenue, "
                  f"{100 * mc['margin']['share_claim_holds']:.0f} % on margin")
    b = c["breakevens"]
    out.print("  break-evens: " + ", ".join(
        text for text in (
            None if b["gpu_usd_per_hour"] is None else f"{b['gpu_usd_per_hour']:.2f} $/GPU-hour",
            f"lease {musd(b['colocation_usd_per_it_mw_year'])}/IT-MW-y",
            None if b["btc_usd"] is None else f"BTC {b['btc_usd']:,.0f} $ (GPU cloud)",
            None if b["btc_usd_colocation"] is None else f"BTC {b['btc_usd_colocation']:,.0f} $ (lease)",
            None if b["mining_zero_margin_power_usd_per_mwh"] is None
            else f"mining's zero-margin power price {b['mining_zero_margin_power_usd_per_mwh']:.0f} $/MWh")
        if text))
    for name in ("gpu_cloud", "colocation_lease"):
        out.print(_tornado_table(c[name]))


_METRIC_NAMES = {"revenue_usd_per_year": "revenue", "margin_usd_per_year": "margin", "npv_usd": "NPV"}


def print_caps(sweep: dict[str, Any], out: Console) -> None:
    """Per phase of a power-limit sweep: each cap's rate, watts and work per joule, and per facility
    MW the GPUs it fits, revenue, margin and NPV; the best cap for each, marked."""
    from benchhash.report.units import si
    for c in sweep["curves"]:
        best = c["best_cap_w"]
        how = {"device_mining": "mining", "ai_tokens": "tokens", "ai_rental": "GPU rental, priced by work done"}
        t = Table(title=f"power caps: {escape(c['workload'])} on {escape(sweep['device'])}, per facility MW"
                        + (f" ({how.get(c['priced_as'], c['priced_as'])})" if c["priced_as"] else ""))
        for col in ("cap", "rate", "watts", f"{c['unit']}/J", "GPUs/MW", "revenue/y", "margin/y", "NPV", "best for"):
            t.add_column(col, justify="right")
        for p in c["points"]:
            t.add_row(f"{p['cap_w']:g} W", si(p["rate"], f"{c['unit']}/s"), si(p["watts"], "W"),
                      si(p["work_per_joule"], f"{c['unit']}/J"),
                      "-" if p["devices_per_facility_mw"] is None else f"{p['devices_per_facility_mw']:,.0f}",
                      musd(p["revenue_usd_per_year"]) if p["revenue_usd_per_year"] is not None else "-",
                      musd(p["margin_usd_per_year"]) if p["margin_usd_per_year"] is not None else "-",
                      musd(p["npv_usd"]) if p["npv_usd"] is not None else "-",
                      ", ".join(_METRIC_NAMES[k] for k, w in best.items() if w == p["cap_w"]) or "")
        out.print(t)
        if c["why_not_priced"]:
            out.print(f"  [yellow]not priced[/]: {escape(c['why_not_priced'])}")


def _tornado_table(reading: dict[str, Any]) -> Table:
    tt = Table(title=f"tornado ({reading['label']}, revenue): each input alone at the ends of its range")
    for col in ("input", "low", "high", "ratio at low", "ratio at high", "swing"):
        tt.add_column(col, justify="left" if col == "input" else "right")
    for r in reading["tornado"]:
        tt.add_row(r["input"], f"{r['low']:g}", f"{r['high']:g}", _ratio(r["ratio_at_low"]),
                   _ratio(r["ratio_at_high"]), _ratio(r["swing"]))
    return tt

def _print_deals(deals: dict[str, Any], out: Console) -> None:
    t = Table(title="miners' public AI deals (USD per IT-MW-year = value / years / IT MW; base terms)")
    for col in ("miner", "partner", "structure", "value", "years", "IT MW", "per IT-MW-y", "date"):
        t.add_column(col, justify="left" if col in ("miner", "partner", "structure", "date") else "right",
                     overflow="fold")
    for x in sorted(deals["deals"], key=lambda x: -x["usd_per_it_mw_year"]):
        t.add_row(escape(x["miner"]), escape(x["partner"]), x["structure"], musd(x["usd"]), f"{x['years']:g}",
                  f"{x['it_mw']:g}", musd(x["usd_per_it_mw_year"]), x["date"])
    for r in deals["model"]:
        if r["revenue_usd_per_it_mw_year"] is not None:
            t.add_row("[italic]model[/]", escape(r["label"]), r["use"], "-", "-", "-",
                      musd(r["revenue_usd_per_it_mw_year"]), "-")
    out.print(t)
    med = deals["median_usd_per_it_mw_year"]
    out.print("  median deal: " + ", ".join(f"{k} {musd(v)}/IT-MW-y" for k, v in sorted(med.items())))


def print_hourly(h: dict[str, Any], out: Console) -> None:
    """Each use over the price series, the flexibility value, the mullet site, the claim on margin."""
    sr, i = h["series"], h["inputs"]
    c = i["contract"]
    terms = (f"index: hourly price + {c['adder_usd_per_mwh']:.2f} $/MWh" if c["kind"] == "index"
             else f"PPA at {c['ppa_usd_per_mwh']:.2f} $/MWh, unused MWh sold back at the hourly price")
    out.print(f"[bold]hourly[/] {escape(sr['label'])}: {sr['hours']:,} h from {sr['first_hour_utc']}, mean "
              f"{sr['mean_usd_per_mwh']:.2f} $/MWh, max {sr['max_usd_per_mwh']:,.0f}; contract {terms}")
    out.print(f"  mining earns {i['revenue_usd_per_mwh']:.2f} $ per facility MWh (hashprice "
              f"{i['hashprice_usd_per_ph_day']:.2f} $/PH/day, {i['j_per_th']:.1f} J/TH, PUE {i['pue_mining']:g}); "
              f"it runs at or below {h['breakeven_usd_per_mwh']:.2f} $/MWh: {h['hours_curtailed']:,} h curtailed; "
              f"flexibility is worth {musd(h['flexibility_value_usd_per_mw_year'])} per MW-year")
    t = Table(title="per facility MW-year over the series (credits: unused contract MWh sold back)")
    for col in ("use", "hours on", "MWh", "revenue", "power", "credits", "opex", "margin"):
        t.add_column(col, justify="left" if col == "use" else "right")
    for u in h["uses"].values():
        t.add_row(escape(u["label"]), f"{u['hours_on']:,}", f"{u['energy_mwh_per_year']:,.0f}",
                  musd(u["revenue_usd_per_year"]), musd(u["power_cost_usd_per_year"]),
                  musd(u["credits_usd_per_year"]), musd(u["opex_usd_per_year"]), musd(u["margin_usd_per_year"]))
    out.print(t)
    _print_mullet(h["mullet"], out)
    for name, r in h["claim"].items():
        flat = r.get("against_flat_mining", {}).get("in_words", "-")
        out.print(f"  claim on margin, hourly, {name.replace('_', ' ')}: {r['in_words']} "
                  f"(against flat mining: {flat})")


def _print_mullet(mu: dict[str, Any], out: Console) -> None:
    if "sites" not in mu:
        out.print(f"  mullet site: {escape(mu['note'])}")
        return
    t = Table(title=f"sites of {mu['ai_mw'] + mu['mining_mw']:g} facility MW: {mu['ai_mw']:g} MW AI in front, "
                    f"{mu['mining_mw']:g} MW mining behind, against pure sites")
    for col in ("site", "revenue/y", "power/y", "credits/y", "margin/y", "MWh/y"):
        t.add_column(col, justify="left" if col == "site" else "right")
    for name, s in mu["sites"].items():
        t.add_row(name.replace("_", " "), musd(s["revenue_usd_per_year"]), musd(s["power_cost_usd_per_year"]),
                  musd(s["credits_usd_per_year"]), musd(s["margin_usd_per_year"]), f"{s['energy_mwh_per_year']:,.0f}")
    out.print(t)
