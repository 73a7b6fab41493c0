"""One facility MW put to each use: ASIC mining, mining on a measured device, renting GPUs by
the hour (on demand, and on 1-year contracts), selling tokens, leasing the hall (colocation).
Each row's money figures come from one projection (cashflow.py): first-year revenue, power,
non-power opex and margin; capex; payback and NPV over the use's own horizon.

A device is rented out only at its own model's price (the GPU catalogue, data/gpus.json, or the user's
--set gpu_usd_per_hour); a CPU is never rented by the GPU-hour; tokens are priced by the model
class of the preset that produced them: from the served figures where the file has serve phases
(the fastest within the p99 TPOT objective token_tpot_objective_ms, at its J per output token
with prefill), with the decode-only row beside it, else from decode alone, labelled as such."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from benchhash.econ import cashflow, model
from benchhash.econ import market as markets
from benchhash.econ.jsonable import dump_fields, optional
from benchhash.econ.market import Asic, Market, gpu_prices, systems
from benchhash.hw import catalogue
from benchhash.workloads.econ_figures import EconFigures

BLOCKS_PER_YEAR = 144 * 365
SMALL_MODEL_MIN, LARGE_MODEL_MIN = 0.5e9, 15e9      # parameters: below: no price; above: the 70B class


@dataclass
class Decode:
    """One measured decode phase, as economics prices it."""

    phase: str
    tokens_per_second: float
    watts: float | None                 # the phase's own average watts (None: not metered)
    batch: int | None = None
    preset: str | None = None
    model_params: float | None = None

    @classmethod
    def of(cls, phase: str, figures: EconFigures, params: dict[str, Any],
           tokens_per_second: float, watts: float | None) -> Decode:
        """A decode phase from what its workload gives economics (econ_figures) and its params."""
        preset = params.get("preset")
        return cls(phase, tokens_per_second, watts, figures.batch, preset if isinstance(preset, str) else None,
                   figures.model_params)

    @property
    def joules_per_token(self) -> float | None:
        return self.watts / self.tokens_per_second if self.watts and self.tokens_per_second else None


@dataclass
class Served(Decode):
    """One measured serve phase, as economics prices it: output tokens per second with the
    requests' prefills inside its windows (so its watts over its rate are J per output token
    with prefill), at a concurrency, with the p99 of its requests' TPOT."""

    concurrency: int | None = None
    tpot_ms_p99: float | None = None

    @classmethod
    def of(cls, phase: str, figures: EconFigures, params: dict[str, Any],
           tokens_per_second: float, watts: float | None) -> Served:
        """A serve phase from what its workload gives economics (econ_figures: served_*)."""
        d = Decode.of(phase, figures, params, tokens_per_second, watts)
        return cls(d.phase, d.tokens_per_second, d.watts, None, d.preset, d.model_params,
                   figures.served_concurrency, figures.served_tpot_ms_p99)


@dataclass
class Measured:
    """What a result file says about one device (None where it has no figure)."""

    source: str
    device: str
    sha256d_hps: float | None = None
    sha256d_watts: float | None = None
    ai_watts: float | None = None
    tokens_per_second: float | None = None
    measured: bool = True
    kind: str = "cuda"                  # cpu | cuda
    decode: list[Decode] = field(default_factory=list)
    fleet: str | None = None            # 'fleet of N, per device' for a fleet file
    served: list[Served] = field(default_factory=list)
    energy: str = "measured"            # measured | replayed (a replayed trace: no hardware was measured)
    unverified: str | None = None       # what the file does not prove, when priced on its word


@dataclass(frozen=True)
class AsicBasis:
    """What the ASIC mining row is priced from: the ASIC, its J/TH (x asic_efficiency_factor), the
    TH/s a facility MW holds, the hashprice, the ASIC price per TH and its source."""

    asic: str
    j_per_th: float
    th_s_per_facility_mw: float
    hashprice_usd_per_ph_day: float
    asic_usd_per_th: float
    asic_source: str


@dataclass(frozen=True)
class DeviceMiningBasis:
    """Mining on a measured device: its rate, its watts and all-in watts (host included), its J/TH
    all-in, the devices a facility MW holds, the server price per device and the file."""

    sha256d_hps: float
    device_watts: float
    watts_all_in: float
    j_per_th_all_in: float
    devices_per_facility_mw: float
    server_usd_per_device: float
    source: str


@dataclass(frozen=True)
class RentalBasis:
    """Renting GPUs by the hour: watts per GPU all-in and why, the GPUs a facility MW holds, the
    price per GPU-hour, utilisation, the price row and its basis, the server price per GPU; and
    for a capped GPU, the share of the priced GPU's work its hour does (``work_share``)."""

    watts_per_gpu_all_in: float
    watts_basis: str
    gpus_per_facility_mw: float
    usd_per_gpu_hour: float
    utilisation: float
    gpu_model: str
    price_basis: str
    server_usd_per_gpu: float
    work_share: float | None = optional()


@dataclass(frozen=True)
class ServedBasis:
    """A tokens row priced from a serve phase: its concurrency, its p99 TPOT, the objective it is
    judged against (and the input that sets it) and whether it meets it."""

    concurrency: int | None
    tpot_ms_p99: float | None
    tpot_objective_ms: float
    tpot_objective_input: str
    objective_met: bool


@dataclass(frozen=True)
class TokensBasis:
    """Selling tokens: the phase's rate per GPU and J per token, the GPUs a facility MW holds, the
    batch, preset and model size, tokens a year, the price input and price, watts per GPU all-in
    and why, the file and phase; priced from a serve phase (``served``) or from decode alone."""

    tokens_per_second_per_gpu: float
    joules_per_token: float | None
    gpus_per_facility_mw: float
    batch: int | None
    preset: str | None
    model_params: float | None
    tokens_per_year: float
    price_input: str
    usd_per_m_tokens: float
    watts_per_gpu_all_in: float
    watts_basis: str
    source: str
    phase: str
    joules_per_token_basis: str
    served: ServedBasis | None = None

    @property
    def priced_from(self) -> str:
        return "decode" if self.served is None else "serve"

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in dump_fields(self).items() if k != "served"} | {"priced_from": self.priced_from}
        return out | (dump_fields(self.served) if self.served is not None else {})


@dataclass(frozen=True)
class LeaseBasis:
    """Leasing the hall: the lease's term average and first-year rent per IT MW-year, its term,
    its escalator, and how the first year follows from the average."""

    lease_usd_per_it_mw_year: float
    lease_first_year_usd_per_it_mw_year: float
    lease_term_years: int
    escalator_per_year: float
    lease_basis: str


Basis = AsicBasis | DeviceMiningBasis | RentalBasis | TokensBasis | LeaseBasis
B = TypeVar("B", AsicBasis, DeviceMiningBasis, RentalBasis, TokensBasis, LeaseBasis)


@dataclass
class Use:
    use: str
    label: str
    facility_mw: float
    it_mw: float
    revenue_usd_per_year: float          # first year (from the projection)
    power_cost_usd_per_year: float
    margin_usd_per_year: float           # after power and non-power opex
    capex_usd: float
    revenue_per_capex_usd: float | None
    payback_years: float | None
    npv_usd: float
    basis: Basis
    opex_usd_per_year: float = 0.0
    horizon_years: int = 0
    payback: str = ""
    lifetime_revenue_per_capex_usd: float | None = None
    switched_off_year: float | None = None
    revenue_now_usd_per_year: float = 0.0     # at today's conditions, whether or not it would run
    margin_now_usd_per_year: float = 0.0      # the same, after power and non-power opex (may be < 0)
    power_now_usd_per_year: float = 0.0       # today's power and non-power opex, running all year
    opex_now_usd_per_year: float = 0.0
    cash_flows: list[cashflow.Year] = field(default_factory=list)

    def basis_of(self, kind: type[B]) -> B:
        """The row's basis, as the kind of row it is (asked of another kind: a bug, said)."""
        if not isinstance(self.basis, kind):
            raise TypeError(f"the {self.use} row's basis is a {type(self.basis).__name__}, not a {kind.__name__}")
        return self.basis

    @property
    def gpus_per_facility_mw(self) -> float | None:
        """The devices one facility MW holds, as the row counts them (None: a row of no devices)."""
        b = self.basis
        if isinstance(b, DeviceMiningBasis):
            return b.devices_per_facility_mw
        return b.gpus_per_facility_mw if isinstance(b, RentalBasis | TokensBasis) else None

    def to_json(self) -> dict[str, Any]:
        return dump_fields(self)


def reference_gpu() -> Measured:
    ref = systems()["reference_gpu"]
    return Measured(source=f"reference figures ({ref['source']})", device=ref["name"],
                    sha256d_hps=ref["sha256d_hps"], sha256d_watts=ref["sha256d_watts"],
                    ai_watts=None, measured=False)


def system_watts_per_gpu(name: str | None = None) -> float:
    """All-in watts per GPU of a system (host, network, fans included): its datasheet maximum
    divided by its GPUs."""
    s = systems()
    spec = s["systems"][name or s["reference_gpu"]["system"]]
    return float(spec["system_kw"]) * 1000 / float(spec["gpus"])


def reference_gpu_watts() -> float:
    """Board power of the reference GPU, from its system's datasheet entry."""
    s = systems()
    return float(s["systems"][s["reference_gpu"]["system"]]["gpu_w"])


def host_watts_per_gpu(m: Market) -> float:
    """The host's share of a GPU server's power per GPU (CPUs, memory, network, fans): fixed,
    whatever the GPU draws or is capped at: (host_overhead - 1) x the reference system's rated
    GPU watts (DGX H100: 10,200 W / 8 - 700 W = 575 W)."""
    return model.host_watts(m["host_overhead"], reference_gpu_watts())


@dataclass(frozen=True)
class Derived:
    """Figures computed from the inputs: the block subsidy (BTC), the hashprice (USD per PH/s a
    day), the network's hashrate (EH/s) and the years to the next halving."""

    subsidy_btc: float
    hashprice_usd_per_ph_day: float
    network_hashrate_eh_s: float
    years_to_halving: float


def derived(m: Market) -> Derived:
    """Figures computed from the inputs: subsidy, hashprice, years to the next halving."""
    height = int(m["block_height"])
    subsidy = model.subsidy_btc_at_height(height)
    next_halving = (height // 210_000 + 1) * 210_000
    return Derived(
        subsidy_btc=subsidy,
        hashprice_usd_per_ph_day=model.hashprice_usd_per_ph_day(m["difficulty"], subsidy, m["fee_share"],
                                                                m["btc_usd"]),
        network_hashrate_eh_s=model.network_hashrate_hs(m["difficulty"]) / 1e18,
        years_to_halving=(next_halving - height) / BLOCKS_PER_YEAR)


def horizon(m: Market, life_key: str) -> int:
    """A use's horizon: its own life or term, up to horizon_years."""
    return int(min(m[life_key], m["horizon_years"]))


def _row(use: str, label: str, it_mw: float, p: cashflow.Projection, basis: Basis) -> Use:
    out = cashflow.project(p)
    first = out.first_year
    lifetime = sum(y.revenue_usd for y in out.years)
    capex = p.capex_usd
    opex_now = p.revenue_usd_per_year * p.opex_share_of_revenue + p.opex_fixed_usd_per_year
    return Use(use, label, 1.0, it_mw, first.revenue_usd, first.power_usd, first.margin_usd, capex,
               first.revenue_usd / capex if capex > 0 else None, out.payback_years, out.npv_usd, basis,
               opex_usd_per_year=first.opex_usd, horizon_years=p.years, payback=out.payback_text(p.years),
               lifetime_revenue_per_capex_usd=lifetime / capex if capex > 0 else None,
               switched_off_year=out.switched_off_year, revenue_now_usd_per_year=p.revenue_usd_per_year,
               margin_now_usd_per_year=p.revenue_usd_per_year - p.power_usd_per_year - opex_now,
               power_now_usd_per_year=p.power_usd_per_year, opex_now_usd_per_year=opex_now,
               cash_flows=list(out.years))


def _mining_projection(m: Market, revenue: float, power: float, capex: float, life_key: str) -> cashflow.Projection:
    d = derived(m)
    return cashflow.Projection(
        years=horizon(m, life_key), revenue_usd_per_year=revenue, power_usd_per_year=power, capex_usd=capex,
        discount_rate=m["discount_rate"],
        revenue_multiplier=cashflow.mining_multiplier(m["difficulty_growth_per_year"], d.years_to_halving,
                                                      m["fee_share"]),
        opex_fixed_usd_per_year=m["opex_mining_usd_per_mw_year"], can_switch_off=True)


def asic_mining(m: Market, spec: Asic) -> Use:
    hp = derived(m).hashprice_usd_per_ph_day
    j = spec.j_per_th * m["asic_efficiency_factor"]
    pue, up = m["pue_mining"], m["uptime_mining"]
    rev = model.mining_revenue_usd_per_year(1.0, j, pue, hp, up, m["pool_fee"])
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"], up)
    th = model.mining_ph_per_facility_mw(j, pue) * 1000
    capex = m["capex_mining_usd_per_mw"] + th * m["asic_usd_per_th"]
    asic = spec.name
    return _row("asic_mining", f"ASIC mining, {asic}", 1 / pue,
                _mining_projection(m, rev, power, capex, "asic_life_years"),
                AsicBasis(asic, j, th, hp, m["asic_usd_per_th"], spec.source))


# --- devices and their prices ------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    model: str
    on_demand: float
    contract_1y: float | None
    server_usd: float
    why: str


def gpu_model(device: str) -> str | None:
    """The price row (model) a device name is priced at, by the catalogue's exact-name lookup;
    a fleet of several names ('4 x A, 4 x B') only where every name has the same row."""
    models = {catalogue.price_model(re.sub(r"^\d+ x ", "", part.strip())) for part in device.split(", ")}
    return models.pop() if len(models) == 1 else None


def price(m: Market, meas: Measured) -> Price | str:
    """The device's rental prices, or why it has none. On demand and on 1-year contracts each come
    from the user (--set, a file) where given, else from the device's model: the reference model
    through its market inputs, another model from its row as of the snapshot's date. Giving one
    term does not remove the other (said in the price's basis)."""
    if meas.kind == "cpu":
        return f"{meas.device} is a CPU: it is not rented by the GPU-hour"
    found = gpu_model(meas.device)
    user, user_1y = m.inputs["gpu_usd_per_hour"], m.inputs["gpu_usd_per_hour_1y"]
    if found is None and not user.given:
        return (f"no rental price for {meas.device} in {catalogue.FILE}: give one with "
                "--set gpu_usd_per_hour=... (USD per GPU-hour)")
    on_demand, why = _term(m, found, "on_demand", "gpu_usd_per_hour")
    if on_demand is None:
        return f"no on-demand price for {meas.device}: {why}; give one with --set gpu_usd_per_hour=..."
    one_year, why_1y = _term(m, found, "contract_1y", "gpu_usd_per_hour_1y")
    if user.given and not user_1y.given:
        why += (f"; the 1-year contract price is not moved by it ({why_1y}; --set gpu_usd_per_hour_1y=... moves it)"
                if one_year is not None else f"; no 1-year contract price ({why_1y})")
    return Price(found or meas.device, on_demand, one_year, _server(m, found), why)


@dataclass(frozen=True)
class PriceBand:
    """A band of the reference GPU's GPU-hour price, by kind of seller and term (USD/GPU-hour)."""

    basis: str
    term: str
    low: float
    high: float
    date: str
    source: str


SPREAD_FRESH_DAYS = 90


def price_spread(m: Market) -> list[PriceBand]:
    """The reference GPU's price by kind of seller and term (its catalogue entry's 'spread'), as of the
    snapshot's date: per term, the bands dated within SPREAD_FRESH_DAYS of its newest band."""
    table = gpu_prices()
    day = m.snapshot or markets.default_snapshot()
    bands = [dict(b) for b in table["models"][table["reference"]].get("spread", []) if str(b["date"]) <= day]
    newest: dict[str, date] = {}
    for b in bands:
        newest[b["term"]] = max(newest.get(b["term"], date.min), date.fromisoformat(str(b["date"])))
    return [PriceBand(**b) for b in bands
            if (newest[b["term"]] - date.fromisoformat(str(b["date"]))).days <= SPREAD_FRESH_DAYS]


def _term(m: Market, found: str | None, term: str, key: str) -> tuple[float | None, str]:
    """One term's price (None with why when there is none): the user's, the reference model's
    market input, or the model's table row as of the snapshot's date."""
    x = m.inputs[key]
    table = gpu_prices()
    if x.given or found == table["reference"]:
        label = "given" if x.given else found
        return (None if x.missing else x.value), f"{label}: {x.source}"
    if found is None:
        return None, f"none known for {term.replace('_', ' ')}"
    chosen, _ = markets.dated(table["models"][found][term], m.snapshot or markets.default_snapshot())
    if chosen is None:
        return None, f"{found}: no {term} price dated on or before {m.snapshot}"
    return float(chosen["value"]), f"{found}: {chosen['source']}"


def _server(m: Market, found: str | None) -> float:
    """Capex per device: the user's, the model's server price, else the reference's (said)."""
    given = m.inputs.get("gpu_server_usd_per_gpu")
    if given is not None and given.given:
        return given.value
    table = gpu_prices()
    if found is None or found == table["reference"]:
        return m["gpu_server_usd_per_gpu"]
    chosen, _ = markets.dated(table["models"][found]["server_usd_per_gpu"], m.snapshot or markets.default_snapshot())
    return m["gpu_server_usd_per_gpu"] if chosen is None else float(chosen["value"])


def ai_watts_all_in(m: Market, meas: Measured | None, watts: float | None = None) -> tuple[float, str]:
    """Watts per GPU all-in: measured watts plus the host's fixed share, else the reference
    system's maximum per GPU (its system_kw / gpus)."""
    w = watts if watts else (meas.ai_watts if meas is not None else None)
    if w:
        host = host_watts_per_gpu(m)
        energy = meas.energy if meas is not None else "measured"
        return w + host, (f"{energy} {w:.0f} W + host {host:.0f} W per GPU ((host overhead "
                          f"{m['host_overhead']:g} - 1) x rated {reference_gpu_watts():.0f} W)")
    ref = systems()["reference_gpu"]["system"]
    return system_watts_per_gpu(), f"{ref}: system maximum {system_watts_per_gpu():g} W per GPU, all-in"


def _ai_capex(m: Market, devices: float, server_usd: float) -> float:
    return m["capex_ai_usd_per_it_mw"] / m["pue_ai"] + devices * server_usd


def device_mining(m: Market, meas: Measured) -> Use:
    if not meas.sha256d_hps or not meas.sha256d_watts:
        from benchhash.errors import InputError
        raise InputError(f"{meas.source}: no SHA-256d rate with an energy reading to price")
    hp = derived(m).hashprice_usd_per_ph_day
    w_all_in = meas.sha256d_watts + host_watts_per_gpu(m)
    j = model.j_per_th_from_measurement(meas.sha256d_hps, w_all_in)
    pue, up = m["pue_ai"], m["uptime_mining"]
    rev = model.mining_revenue_usd_per_year(1.0, j, pue, hp, up, m["pool_fee"])
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"], up)
    devices = model.gpus_per_facility_mw(w_all_in, pue)
    server = m["cpu_server_usd"] if meas.kind == "cpu" else _server(m, gpu_model(meas.device))
    capex = m["capex_ai_usd_per_it_mw"] / pue + devices * server
    kind = meas.energy if meas.measured else "reference"
    return _row("device_mining", f"mining, {meas.device} ({kind})", 1 / pue,
                _mining_projection(m, rev, power, capex, "gpu_life_years"),
                DeviceMiningBasis(meas.sha256d_hps, meas.sha256d_watts, w_all_in, j, devices, server, meas.source))


def _rental(m: Market, meas: Measured | None, p: Price, contract: bool, work_share: float = 1.0) -> Use:
    """``work_share``: the work a GPU-hour does here relative to the GPU as priced (a power-capped
    GPU's hour sells for that share of the price)."""
    w, why = ai_watts_all_in(m, meas)
    pue = m["pue_ai"]
    usd_h = (p.contract_1y if contract and p.contract_1y is not None else p.on_demand) * work_share
    util = m["gpu_utilisation_contract" if contract else "gpu_utilisation"]
    rev = model.rental_revenue_usd_per_year(1.0, w, pue, usd_h, util)
    gpus = model.gpus_per_facility_mw(w, pue)
    proj = cashflow.Projection(
        years=horizon(m, "gpu_life_years"), revenue_usd_per_year=rev,
        power_usd_per_year=model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"]),
        capex_usd=_ai_capex(m, gpus, p.server_usd), discount_rate=m["discount_rate"],
        revenue_multiplier=cashflow.declining(m["gpu_price_decline_per_year"], yearly_steps=contract),
        opex_share_of_revenue=m["opex_ai_share_of_revenue"])
    device = "" if meas is None or not meas.measured else f", {meas.device}"
    return _row("ai_rental_contract" if contract else "ai_rental",
                f"AI rental ({'1-year contracts' if contract else 'GPU-hours on demand'}{device})", 1 / pue, proj,
                RentalBasis(w, why, gpus, usd_h, util, p.model, p.why, p.server_usd,
                            None if work_share == 1.0 else work_share))


def ai_rental(m: Market, meas: Measured | None, p: Price, work_share: float = 1.0) -> Use:
    return _rental(m, meas, p, contract=False, work_share=work_share)


def ai_rental_contract(m: Market, meas: Measured | None, p: Price) -> Use:
    return _rental(m, meas, p, contract=True)


def token_price_key(d: Decode) -> str | None:
    """The market input that prices this model's tokens: the small (8B) or large (70B) class;
    None for a model too small to sell (the tiny preset)."""
    if d.model_params is None or d.model_params < SMALL_MODEL_MIN:
        return None
    return "usd_per_m_tokens_70b" if d.model_params >= LARGE_MODEL_MIN else "usd_per_m_tokens_8b"


def best_decode(meas: Measured) -> Decode | None:
    """The metered decode phase with the fewest joules per token (the largest batch, usually)."""
    metered = [d for d in meas.decode if d.joules_per_token is not None]
    return min(metered, key=lambda d: d.joules_per_token or 0.0) if metered else None


def best_served(meas: Measured, objective_ms: float) -> Served | None:
    """The serve phase the tokens row is priced from: among the metered serve phases whose p99
    TPOT is known, the one with the most output tokens per second whose p99 TPOT is within the
    objective; when none is, the one nearest it (the lowest p99 TPOT), which the row labels as
    missing the objective. None when no metered serve phase has a p99 TPOT."""
    judged = [s for s in meas.served if s.joules_per_token is not None and s.tpot_ms_p99 is not None]
    within = [s for s in judged if (s.tpot_ms_p99 or 0.0) <= objective_ms]
    if within:
        return max(within, key=lambda s: s.tokens_per_second)
    return min(judged, key=lambda s: (s.tpot_ms_p99 or 0.0, -s.tokens_per_second)) if judged else None


def _ms(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def served_text(s: Served, objective_ms: float) -> str:
    """'served at concurrency 64, p99 TPOT 38 ms within 100 ms', or '... missing the objective
    of 100 ms'."""
    at = f"served at concurrency {s.concurrency}" if s.concurrency is not None else "served"
    if s.tpot_ms_p99 is None:
        return f"{at}, p99 TPOT unknown (objective {objective_ms:g} ms)"
    how = (f"within {objective_ms:g} ms" if s.tpot_ms_p99 <= objective_ms
           else f"missing the objective of {objective_ms:g} ms")
    return f"{at}, p99 TPOT {_ms(s.tpot_ms_p99)} ms {how}"


DECODE_ONLY = "decode only (no prefill)"


def peak_ai_watts(meas: Measured, d: Decode, cap_w: float | None = None) -> float | None:
    """The watts a hall of this GPU is provisioned for: its peak AI draw (the most any AI phase
    drew, as the rental rows take it), at most its cap; the decode's own watts when no other AI
    phase was measured. The decode's watts still give its joules per token."""
    peak = max(meas.ai_watts or 0.0, d.watts or 0.0) or None
    return min(peak, cap_w) if peak is not None and cap_w is not None else peak


def ai_tokens(m: Market, meas: Measured, d: Decode, price_key: str, server_usd: float,
              cap_w: float | None = None, use: str = "ai_tokens") -> Use:
    """Tokens one facility MW sells: the hall sized on the GPU's peak watts (the rental rows'
    basis, so both rows count the same GPUs), each GPU producing tokens at the phase's measured
    rate: a serve phase's output tokens per second (its J per output token with prefill; judged
    against token_tpot_objective_ms, said in the label), or a decode phase's (decode only, no
    prefill, said in the label)."""
    peak = peak_ai_watts(meas, d, cap_w)
    w, why = ai_watts_all_in(m, meas, peak)
    served = isinstance(d, Served)
    per = "J per output token with prefill" if served else "J per token, decode only"
    why = f"sized on peak AI watts, as the rental rows: {why}; {d.phase} draws {d.watts or 0:.0f} W (its {per})"
    pue = m["pue_ai"]
    gpus = model.gpus_per_facility_mw(w, pue)
    tokens = gpus * d.tokens_per_second * 3600 * model.HOURS_PER_YEAR * m["gpu_utilisation"]
    rev = tokens * m[price_key] / 1e6
    proj = cashflow.Projection(
        years=horizon(m, "gpu_life_years"), revenue_usd_per_year=rev,
        power_usd_per_year=model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"]),
        capex_usd=_ai_capex(m, gpus, server_usd), discount_rate=m["discount_rate"],
        revenue_multiplier=cashflow.declining(m["token_price_decline_per_year"]),
        opex_share_of_revenue=m["opex_ai_share_of_revenue"])
    what = f"{d.preset} " if d.preset else ""
    served_basis = None
    if isinstance(d, Served):
        objective = m["token_tpot_objective_ms"]
        how = served_text(d, objective)
        served_basis = ServedBasis(d.concurrency, d.tpot_ms_p99, objective, "token_tpot_objective_ms",
                                   d.tpot_ms_p99 is not None and d.tpot_ms_p99 <= objective)
    else:
        how = DECODE_ONLY
    return _row(use, f"AI tokens, {meas.device}, {what}{d.phase}, {how}", 1 / pue, proj,
                TokensBasis(d.tokens_per_second, d.joules_per_token, gpus, d.batch, d.preset, d.model_params, tokens,
                            price_key, m[price_key], w, why, meas.source, d.phase, per, served_basis))


def lease_first_year_usd_per_it_mw(m: Market) -> float:
    """The first year's rent: deals quote a value over the base term, so
    colocation_usd_per_it_mw_year is a term average over colocation_lease_years; with the
    escalator on top, the first year pays less than the average (1.85 M over 15 years at 3 %:
    1.49 M)."""
    return model.first_year_rent(m["colocation_usd_per_it_mw_year"], m["colocation_escalator_per_year"],
                                 int(m["colocation_lease_years"]))


def colocation(m: Market) -> Use:
    it_mw = 1 / m["pue_ai"]
    first = lease_first_year_usd_per_it_mw(m)
    rev = first * it_mw
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"]) * (1 - m["colocation_power_passthrough"])
    proj = cashflow.Projection(
        years=horizon(m, "colocation_lease_years"), revenue_usd_per_year=rev, power_usd_per_year=power,
        capex_usd=m["capex_ai_usd_per_it_mw"] * it_mw, discount_rate=m["discount_rate"],
        revenue_multiplier=cashflow.escalating(m["colocation_escalator_per_year"]),
        opex_share_of_revenue=m["opex_colocation_share_of_revenue"])
    return _row("colocation", "colocation lease", it_mw, proj,
                LeaseBasis(m["colocation_usd_per_it_mw_year"], first, int(m["colocation_lease_years"]),
                           m["colocation_escalator_per_year"],
                           "colocation_usd_per_it_mw_year is the term average (as deals quote it); the first "
                           "year's rent is that average less the escalator's growth over the term"))
