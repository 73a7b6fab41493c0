"""One facility MW put to each use: ASIC mining, mining on a measured device, AI rental, AI tokens,
colocation. Revenue, power cost, margin, capex, revenue per $ of capex, payback and NPV per
facility-MW-year, with the figures each row rests on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from benchhash.econ import model
from benchhash.econ.market import Market, systems
from benchhash.errors import InputError

BLOCKS_PER_YEAR = 144 * 365


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


@dataclass
class Use:
    use: str
    label: str
    facility_mw: float
    it_mw: float
    revenue_usd_per_year: float
    power_cost_usd_per_year: float
    margin_usd_per_year: float
    capex_usd: float
    revenue_per_capex_usd: float | None
    payback_years: float | None
    npv_usd: float
    basis: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reference_gpu() -> Measured:
    ref = systems()["reference_gpu"]
    return Measured(source=f"reference figures ({ref['source']})", device=ref["name"],
                    sha256d_hps=ref["sha256d_hps"], sha256d_watts=ref["sha256d_watts"],
                    ai_watts=None, measured=False)


def system_watts_per_gpu(name: str | None = None) -> float:
    s = systems()
    sysname = name or s["reference_gpu"]["system"]
    spec = s["systems"][sysname]
    return spec["system_kw"] * 1000 / spec["gpus"]


def derived(m: Market) -> dict[str, float | None]:
    """Figures computed from the inputs: subsidy, hashprice, years to the next halving."""
    height = int(m["block_height"])
    subsidy = model.subsidy_btc_at_height(height)
    next_halving = (height // 210_000 + 1) * 210_000
    return {
        "subsidy_btc": subsidy,
        "hashprice_usd_per_ph_day": model.hashprice_usd_per_ph_day(
            m["difficulty"], subsidy, m["fee_share"], m["btc_usd"]),
        "network_hashrate_eh_s": model.network_hashrate_hs(m["difficulty"]) / 1e18,
        "years_to_halving": (next_halving - height) / BLOCKS_PER_YEAR,
    }


def _finish(use: str, label: str, m: Market, it_mw: float, revenue: float, power: float,
            capex: float, margins: list[float], basis: dict[str, Any]) -> Use:
    margin = revenue - power
    return Use(use, label, 1.0, it_mw, revenue, power, margin, capex,
               revenue / capex if capex > 0 else None, model.payback_years(capex, margin),
               model.npv_usd(capex, margins, m["discount_rate"]), basis)


def asic_mining(m: Market, asic: str, spec: dict[str, Any]) -> Use:
    d = derived(m)
    j, pue, up = spec["j_per_th"], m["pue_mining"], m["uptime_mining"]
    hp = d["hashprice_usd_per_ph_day"]
    assert hp is not None
    rev = model.mining_revenue_usd_per_year(1.0, j, pue, hp, up, m["pool_fee"])
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"], up)
    th = model.mining_ph_per_facility_mw(j, pue) * 1000
    capex = m["capex_mining_usd_per_mw"] + th * m["asic_usd_per_th"]
    years = int(m["horizon_years"])
    margins = [r - power for r in model.mining_revenues_by_year(
        rev, years, m["difficulty_growth_per_year"], d["years_to_halving"])]
    return _finish("asic_mining", f"ASIC mining, {asic}", m, 1 / pue, rev, power,
                   capex, margins, {"asic": asic, "j_per_th": j, "th_s_per_facility_mw": th,
                                    "hashprice_usd_per_ph_day": hp, "asic_source": spec["source"]})


def device_mining(m: Market, meas: Measured) -> Use:
    if not meas.sha256d_hps or not meas.sha256d_watts:
        raise InputError(f"{meas.source}: no SHA-256d rate with an energy reading to price")
    d = derived(m)
    hp = d["hashprice_usd_per_ph_day"]
    assert hp is not None
    w_all_in = meas.sha256d_watts * m["host_overhead"]
    j = model.j_per_th_from_measurement(meas.sha256d_hps, w_all_in)
    pue, up = m["pue_ai"], m["uptime_mining"]
    rev = model.mining_revenue_usd_per_year(1.0, j, pue, hp, up, m["pool_fee"])
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"], up)
    gpus = model.gpus_per_facility_mw(w_all_in, pue)
    capex = m["capex_ai_usd_per_it_mw"] / pue + gpus * m["gpu_server_usd_per_gpu"]
    years = int(m["horizon_years"])
    margins = [r - power for r in model.mining_revenues_by_year(
        rev, years, m["difficulty_growth_per_year"], d["years_to_halving"])]
    kind = "measured" if meas.measured else "reference"
    return _finish("device_mining", f"mining, {meas.device} ({kind})", m, 1 / pue, rev, power,
                   capex, margins, {"sha256d_hps": meas.sha256d_hps, "device_watts": meas.sha256d_watts,
                                    "watts_all_in": w_all_in, "j_per_th_all_in": j,
                                    "devices_per_facility_mw": gpus, "source": meas.source})


def ai_watts_all_in(m: Market, meas: Measured | None) -> tuple[float, str]:
    """Watts per GPU all-in: measured AI-workload watts x host overhead, else the system spec."""
    if meas is not None and meas.ai_watts:
        return meas.ai_watts * m["host_overhead"], f"measured {meas.ai_watts:.0f} W x host overhead"
    gpu_w = reference_gpu_watts()
    return gpu_w * m["host_overhead"], \
        f"{systems()['reference_gpu']['system']}: {gpu_w:g} W GPU x host overhead {m['host_overhead']:g}"


def reference_gpu_watts() -> float:
    """Board power of the reference GPU, from its system's datasheet entry."""
    s = systems()
    return float(s["systems"][s["reference_gpu"]["system"]]["gpu_w"])


def _ai_capex(m: Market, gpus: float) -> float:
    return m["capex_ai_usd_per_it_mw"] / m["pue_ai"] + gpus * m["gpu_server_usd_per_gpu"]


def ai_rental(m: Market, meas: Measured | None = None) -> Use:
    w, why = ai_watts_all_in(m, meas)
    pue = m["pue_ai"]
    rev = model.rental_revenue_usd_per_year(1.0, w, pue, m["gpu_usd_per_hour"], m["gpu_utilisation"])
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"])
    gpus = model.gpus_per_facility_mw(w, pue)
    years = int(m["horizon_years"])
    margins = [r - power for r in model.declining_by_year(rev, years, m["gpu_price_decline_per_year"])]
    return _finish("ai_rental", "AI rental (GPU-hours)", m, 1 / pue, rev, power,
                   _ai_capex(m, gpus), margins,
                   {"watts_per_gpu_all_in": w, "watts_basis": why, "gpus_per_facility_mw": gpus})


def ai_tokens(m: Market, meas: Measured, price_key: str = "usd_per_m_tokens_8b") -> Use:
    if not meas.tokens_per_second:
        raise InputError(f"{meas.source}: no llm decode rate to price")
    w, why = ai_watts_all_in(m, meas)
    pue = m["pue_ai"]
    gpus = model.gpus_per_facility_mw(w, pue)
    tokens = gpus * meas.tokens_per_second * 3600 * model.HOURS_PER_YEAR * m["gpu_utilisation"]
    rev = tokens * m[price_key] / 1e6
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"])
    years = int(m["horizon_years"])
    margins = [r - power for r in model.declining_by_year(rev, years, m["gpu_price_decline_per_year"])]
    return _finish("ai_tokens", f"AI tokens, {meas.device}", m, 1 / pue, rev, power,
                   _ai_capex(m, gpus), margins,
                   {"tokens_per_second_per_gpu": meas.tokens_per_second, "tokens_per_year": tokens,
                    "price_input": price_key, "watts_per_gpu_all_in": w, "watts_basis": why})


def colocation(m: Market) -> Use:
    it_mw = 1 / m["pue_ai"]
    rev = m["colocation_usd_per_it_mw_year"] * it_mw
    power = model.power_cost_usd_per_year(1.0, m["power_usd_per_mwh"]) * (1 - m["colocation_power_passthrough"])
    capex = m["capex_ai_usd_per_it_mw"] * it_mw
    margins = [rev - power] * int(m["horizon_years"])
    return _finish("colocation", "colocation lease", m, it_mw, rev, power, capex, margins,
                   {"lease_usd_per_it_mw_year": m["colocation_usd_per_it_mw_year"]})
