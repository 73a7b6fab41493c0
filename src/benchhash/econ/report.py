"""`benchhash econ`: assemble every input used and every output into one JSON-ready dict (its
text, Markdown and CSV: econ.text)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from benchhash.econ import caps, uses
from benchhash.econ import claim as claims
from benchhash.econ import deals as deals_mod
from benchhash.econ import market as markets
from benchhash.econ.answer import Econ, MarketView, Snapshot, Sweep
from benchhash.econ.market import Asic
from benchhash.econ.measured import load
from benchhash.econ.prices import PriceSeries
from benchhash.econ.site import HourlyRequest
from benchhash.errors import InputError

if TYPE_CHECKING:
    from benchhash.econ.decision import Decision

FACILITY_NOTE = ("per facility MW-year: facility MW is what the site draws; IT MW = facility MW / "
                 "PUE reaches the machines")


def _asic(name: str) -> Asic:
    table = markets.asics()
    match = {k.lower(): k for k in table}.get(name.strip().lower())
    if match is None:
        raise InputError(f"unknown ASIC {name!r}; known: {', '.join(table)}")
    return Asic.of(match, table[match])


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
    today: date | None = None                # the snapshot's age is counted to this day (default: today)
    decision: bool = False                   # the existing mining site's decision (econ --decision)
    allow_unverified: bool = False           # price files that prove less than they claim, said so


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
    """The tokens row: from the served figures where the file has serve phases (the fastest
    within token_tpot_objective_ms; when none is within it, the nearest, labelled as missing the
    objective, since its served figure, prefill included, is still the truer price of a token
    than decode alone), with the decode-only row beside it; else from decode, labelled as such."""
    if not meas.decode and not meas.served:
        return []
    objective = m["token_tpot_objective_ms"]
    served, best = uses.best_served(meas, objective), uses.best_decode(meas)
    if meas.served and served is None:
        notes.append(f"{meas.source}: no serve phase has both an energy reading and a p99 TPOT (a fleet's "
                     "comes from the rank files beside it), so tokens are priced from decode alone")
    elif served is not None and not (served.tpot_ms_p99 or 0.0) <= objective:
        notes.append(f"{meas.source}: no serve phase's p99 TPOT is within {objective:g} ms "
                     f"(token_tpot_objective_ms); the tokens row prices {served.phase}, the nearest "
                     f"({uses.served_text(served, objective)}), and says so")
    chosen: list[uses.Decode] = [d for d in (served, best) if d is not None]
    if not chosen:
        notes.append(f"{meas.source}: llm ran without an energy reading, so tokens per MW "
                     f"cannot be priced for {meas.device}")
        return []
    if uses.token_price_key(chosen[0]) is None:
        notes.append(f"{meas.source}: the {chosen[0].preset or 'measured'} model is too small to sell tokens of "
                     "(no price class); run --llm-preset 8b (or 1b, 3b, 70b)")
        return []
    server = m["cpu_server_usd"] if meas.kind == "cpu" else (p.server_usd if isinstance(p, uses.Price)
                                                             else m["gpu_server_usd_per_gpu"])
    rows = []
    for d in chosen:
        key = uses.token_price_key(d)
        if key is not None:
            beside = d is best and served is not None
            rows.append(uses.ai_tokens(m, meas, d, key, server, use="ai_tokens_decode" if beside else "ai_tokens"))
    return rows


def _claim_device(m: markets.Market, measured: list[uses.Measured]) -> tuple[uses.Measured | None, uses.Price | None]:
    """The measured GPU the claim is about: one with AI watts and a rental price of its own."""
    for meas in measured:
        p = uses.price(m, meas)
        if meas.ai_watts and isinstance(p, uses.Price):
            return meas, p
    return None, None


def econ_json(req: EconRequest) -> dict[str, Any]:
    """The answer as `econ --json` writes it."""
    return answer(req)[0].to_json()


def market_of(req: EconRequest) -> MarketView:
    """The market asked for (its snapshot, --market, --set, --asic), without the rest."""
    _checked(req)
    return market_view(_market(req, _asic(req.asic).name), req.today)


def inputs_json(req: EconRequest) -> dict[str, Any]:
    """The market asked for as JSON (`econ --inputs --json` adds each input's allowed range)."""
    return market_of(req).to_json()


def market_view(m: markets.Market, today: date | None) -> MarketView:
    """The market's name, its snapshot and age (on ``today``, default the real date), the warning
    when it is stale, every input and the reference GPU's price bands."""
    snap = snapshot(m, today or date.today())
    return MarketView(m.name, snap, stale(m, snap), dict(m.inputs), uses.price_spread(m))


def econ_data(req: EconRequest) -> tuple[dict[str, Any], PriceSeries | None]:
    """Every input and output as JSON, and the hourly price series it used (for charts)."""
    out, series = answer(req)
    return out.to_json(), series


def answer(req: EconRequest) -> tuple[Econ, PriceSeries | None]:
    """Every input and output, and the hourly price series it used (for charts)."""
    _checked(req)
    spec = _asic(req.asic)
    m = _market(req, spec.name)
    loaded = [load(p, req.allow_unverified) for p in req.results]
    measured = [meas for meas, _ in loaded]
    notes: list[str] = [f"{meas.source} is priced on its word (--allow-unverified): {meas.unverified}"
                        for meas in measured if meas.unverified]
    sweeps = [Sweep(meas.source, meas.device, caps.curves(m, meas, phases))
              for meas, phases in loaded if caps.is_sweep(phases)]
    notes += [f"{s.source}: a power-limit sweep; the rows below take each phase at its highest cap, "
              "the power-cap tables every cap" for s in sweeps]
    if not measured:
        notes.append("no result file given: GPU rows use reference figures from the data "
                     "(" + uses.systems()["reference_gpu"]["source"] + ")")
    rows = [uses.asic_mining(m, spec)]
    for meas in measured or [uses.reference_gpu()]:
        rows += _device_rows(m, meas, notes)
    rows.append(uses.colocation(m))
    view = market_view(m, req.today)
    deals = deals_mod.beside_model(rows, m.snapshot or None) if req.deals else None
    claim = claim_of(m, spec, req, measured, rows, notes) if req.claim else None
    series, hourly = None, None
    if req.hourly is not None:
        from benchhash.econ import prices, site
        h = req.hourly
        series = prices.load(h.prices, h.fill, h.point)
        hourly = site.analyse(series, m, spec, rows, h, req.ai_mw, req.mining_mw)
    decision = decision_of(m, spec, measured, req.hourly, series, notes) if req.decision else None
    return Econ(view.market, view.snapshot, view.warnings, view.inputs, view.gpu_price_spread, FACILITY_NOTE, notes,
                spec, measured, uses.derived(m), rows, sweeps, deals, claim, hourly, decision), series


def decision_of(m: markets.Market, spec: Asic, measured: list[uses.Measured],
                h: HourlyRequest | None, series: PriceSeries | None, notes: list[str]) -> Decision:
    """The existing site's decision, on the measured GPU where one has AI watts and a price (its
    prices then stand for the market's GPU-hour prices), else the reference system; mining
    price-responsive over the hourly series when one is given."""
    from benchhash.econ import decision, site
    meas, p = _claim_device(m, measured)
    if measured and meas is None:
        notes.append("the decision uses the reference H100 system: no measured GPU has AI watts and a rental price")
    if p is not None:
        m = m.with_value("gpu_usd_per_hour", p.on_demand)
        m = m.with_value("gpu_usd_per_hour_1y", p.contract_1y) if p.contract_1y is not None else m
    curtail = site.curtail_hours(h.fourcp, series) if h is not None and h.fourcp and series is not None else None
    st = decision.Setting(spec, meas, p.server_usd if p is not None else None, series,
                          h.contract if h is not None else "index", curtail)
    return decision.decide(m, st)


STALE_DAYS = 30


def snapshot(m: markets.Market, today: date) -> Snapshot:
    """The shipped snapshot under the market, and its age in days on ``today``."""
    return Snapshot(m.snapshot, today.isoformat(), (today - date.fromisoformat(m.snapshot)).days)


def stale(m: markets.Market, snap: Snapshot) -> list[str]:
    """A warning, saying how to bring it up to date, when the snapshot is older than STALE_DAYS."""
    age = snap.age_days
    if age <= STALE_DAYS:
        return []
    live = any(x.origin == "live" for x in m.inputs.values())
    how = ("the live API gave the Bitcoin figures; give the others (power, GPU and lease prices) with "
           if live else "bring the BTC price, difficulty, block height and fee share up to date with "
           "--market live (mempool.space), and the others with ")
    return [f"the market snapshot {snap.name} is {age} days old (more than {STALE_DAYS}): {how}--set key=value "
            "or --market FILE (every input, with its own date: benchhash econ --inputs)"]


def _npv_judgement(rows: list[uses.Use], use: str, ai_mw: float, mining_npv: float) -> claims.Judgement:
    row = next((r for r in rows if r.use == use), None)
    if row is None:
        return claims.no_row()
    return claims.judge(row.npv_usd * ai_mw, mining_npv).on_capital(row.lifetime_revenue_per_capex_usd,
                                                                    row.horizon_years)


def _row_label(rows: list[uses.Use], use: str) -> str | None:
    return next((r.label for r in rows if r.use == use), None)


def _unreconciled(rows: list[uses.Use], revenue: claims.Judgement, s: claims.Setup, host_overhead: float) -> list[str]:
    """A note when the claim's GPU-cloud revenue per MW is not its table row's (the two take a
    GPU's all-in watts from different figures), so that the difference is said, not found."""
    row = next((r for r in rows if r.use == "ai_rental"), None)
    per_mw = (revenue.ai_usd or 0.0) / s.ai_mw
    if row is None or math.isclose(per_mw, row.revenue_now_usd_per_year, rel_tol=1e-3):
        return []
    all_in = s.watts_all_in({"host_overhead": host_overhead})
    basis = row.basis_of(uses.RentalBasis)
    return [f"the claim's GPU-cloud revenue per MW ({per_mw / 1e6:.3f} M$) is not its table row's "
            f"({row.revenue_now_usd_per_year / 1e6:.3f} M$, {row.label}): the claim takes {s.gpu_w:.0f} W + host "
            f"{all_in - s.gpu_w:.0f} W ((host overhead {host_overhead:g} - 1) x rated {s.rated_w or s.gpu_w:.0f} W) = "
            f"{all_in:.0f} W per GPU all-in, the row "
            f"{basis.watts_per_gpu_all_in:.0f} W ({basis.watts_basis})"]


def _reading(m: markets.Market, setup: claims.Setup, req: EconRequest, name: str, rows: list[uses.Use],
             mining_npv: float) -> claims.Reading:
    """One reading of the claim on its three measures, with its tornados and Monte Carlo."""
    v = m.values()
    ai, mine = claims.READINGS[name](v, setup), claims.mining(v, setup)
    torn = claims.tornado(m, setup, name)
    return claims.Reading(
        label=claims.READING_LABELS[name], revenue=claims.judge(ai.revenue, mine.revenue),
        margin=claims.judge(ai.margin, mine.margin),
        return_on_capital=_npv_judgement(rows, "ai_rental" if name == "gpu_cloud" else "colocation", req.ai_mw,
                                         mining_npv),
        decided_by=torn[0].input, tornado=torn, tornado_margin=claims.tornado_margin(m, setup, name),
        monte_carlo=claims.monte_carlo(m, setup, req.draws, req.seed, name))


def claim_of(m: markets.Market, spec: Asic, req: EconRequest, measured: list[uses.Measured],
             rows: list[uses.Use], notes: list[str]) -> claims.Claim:
    """Both readings of the claim, on revenue, margin and return on capital."""
    d = uses.derived(m)
    meas, p = _claim_device(m, measured)
    if measured and meas is None:
        notes.append("the claim uses the reference H100: no measured GPU has AI watts and a rental price")
    m_claim = m.with_value("gpu_usd_per_hour", p.on_demand) if p is not None else m
    gpu = meas.device if meas is not None else uses.reference_gpu().device
    setup = claims.Setup(req.ai_mw, req.mining_mw, spec.j_per_th,
                         meas.ai_watts if meas is not None and meas.ai_watts else uses.reference_gpu_watts(),
                         float(d.subsidy_btc or 0), rated_w=uses.reference_gpu_watts())
    asic_row = rows[0]
    mining_npv = asic_row.npv_usd * req.mining_mw
    gc, lease = (_reading(m_claim, setup, req, name, rows, mining_npv) for name in ("gpu_cloud", "colocation_lease"))
    notes += _unreconciled(rows, gc.revenue, setup, m_claim.values()["host_overhead"])
    measures = (("revenue", "revenue"), ("margin", "margin"), ("return_on_capital", "return on capital (NPV)"))
    words = [f"on {what}, GPU cloud: {gc.on(measure).in_words}; colocation lease: {lease.on(measure).in_words}"
             for measure, what in measures]
    return claims.Claim(
        statement=f"{req.ai_mw:g} MW of AI ({gpu}) earns what {req.mining_mw:g} MW of Bitcoin mining "
                  f"({spec.name}) earns (facility MW)",
        basis="revenue and margin at today's conditions; return on capital = NPV of each use over its own "
              "horizon (ASIC life, GPU life, lease term), scaled to the claim's MW",
        verdicts=words, gpu_cloud=gc, colocation_lease=lease, ai_mw=req.ai_mw, mining_mw=req.mining_mw,
        rows=claims.ClaimRows(asic_row.label, _row_label(rows, "ai_rental"), _row_label(rows, "colocation")),
        breakevens=claims.breakevens(m_claim, setup))
