"""Revenue per MW, as plain functions on plain numbers with units in their names.

Facility MW (what the site draws from the grid) and IT MW (what reaches the computers) are kept
apart: facility = IT x PUE. Every function documents which one it takes.
"""

from __future__ import annotations

from benchhash.errors import InputError

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365
HOURS_PER_YEAR = 8_760
BLOCK_INTERVAL_S = 600
TWO_32 = 2 ** 32
PH = 1e15


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InputError(f"{name} must be positive, got {value}")


def _non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise InputError(f"{name} must not be negative, got {value}")


def _fraction(name: str, value: float, *, allow_one: bool = True) -> None:
    if not (0 <= value <= 1 if allow_one else 0 <= value < 1):
        raise InputError(f"{name} must be a fraction in [0, 1{']' if allow_one else ')'}, got {value}")


def _pue(pue: float) -> None:
    if not pue >= 1:
        raise InputError(f"PUE must be at least 1, got {pue}")


def network_hashrate_hs(difficulty: float) -> float:
    """Expected network hashrate (H/s) implied by a difficulty: D x 2^32 / 600 s."""
    _positive("difficulty", difficulty)
    return difficulty * TWO_32 / BLOCK_INTERVAL_S


def hashprice_usd_per_ph_day(difficulty: float, subsidy_btc: float, fee_share: float,
                             btc_usd: float) -> float:
    """Expected revenue of 1 PH/s for one day, in USD.

    Blocks found per day by 1 PH/s = 86,400 x 10^15 / (D x 2^32); each pays the subsidy plus
    fees, where fee_share is the fees' share of the whole block reward (so reward = subsidy /
    (1 - fee_share)).
    """
    _positive("difficulty", difficulty)
    _positive("BTC price", btc_usd)
    _non_negative("subsidy", subsidy_btc)
    _fraction("fee share", fee_share, allow_one=False)
    blocks_per_day = SECONDS_PER_DAY * PH / (difficulty * TWO_32)
    return blocks_per_day * subsidy_btc / (1 - fee_share) * btc_usd


def subsidy_btc_at_height(height: int) -> float:
    """Block subsidy: 50 BTC halving every 210,000 blocks (3.125 BTC from April 2024)."""
    if height < 0:
        raise InputError(f"block height must not be negative, got {height}")
    halvings = height // 210_000
    return 0.0 if halvings >= 64 else 50.0 / (2 ** halvings)


def mining_ph_per_facility_mw(j_per_th: float, pue: float) -> float:
    """PH/s that one facility MW runs: 1000 / (J/TH x PUE)."""
    _positive("J/TH", j_per_th)
    _pue(pue)
    return 1000.0 / (j_per_th * pue)


def mining_revenue_usd_per_year(facility_mw: float, j_per_th: float, pue: float,
                                hashprice_usd_ph_day: float, uptime: float = 1.0,
                                pool_fee: float = 0.0) -> float:
    """Yearly mining revenue of a site of facility_mw (facility MW, PUE included)."""
    _positive("facility MW", facility_mw)
    _fraction("uptime", uptime)
    _fraction("pool fee", pool_fee)
    _non_negative("hashprice", hashprice_usd_ph_day)
    ph = facility_mw * mining_ph_per_facility_mw(j_per_th, pue)
    return ph * hashprice_usd_ph_day * DAYS_PER_YEAR * uptime * (1 - pool_fee)


def j_per_th_from_measurement(hashes_per_second: float, watts: float) -> float:
    """A measured device's efficiency (J/TH) from its rate and average power."""
    _positive("hash rate", hashes_per_second)
    _positive("power", watts)
    return watts / (hashes_per_second / 1e12)


def host_watts(host_overhead: float, rated_gpu_w: float) -> float:
    """The host's share of a GPU server's power per GPU, fixed whatever the GPU draws: the
    system's all-in over rated GPU watts (host_overhead) less the GPU, times the rated watts."""
    if not host_overhead >= 1:
        raise InputError(f"host overhead must be at least 1, got {host_overhead}")
    return (host_overhead - 1) * rated_gpu_w


def first_year_rent(term_average: float, escalator: float, years: int) -> float:
    """The first year's rent of a lease that averages ``term_average`` a year over ``years`` while
    stepping up by ``escalator`` at each anniversary: term_average x years / sum((1 + e)^k)."""
    if not isinstance(years, int) or years < 1:
        raise InputError(f"a lease term must be a whole number of years of at least 1, got {years}")
    return term_average * years / sum((1 + escalator) ** k for k in range(years))


def gpus_per_facility_mw(watts_per_gpu_all_in: float, pue: float) -> float:
    """GPUs that one facility MW powers; watts_per_gpu_all_in includes the host's share."""
    _positive("watts per GPU", watts_per_gpu_all_in)
    _pue(pue)
    return 1e6 / (watts_per_gpu_all_in * pue)


def rental_revenue_usd_per_year(facility_mw: float, watts_per_gpu_all_in: float, pue: float,
                                usd_per_gpu_hour: float, utilisation: float) -> float:
    """Yearly revenue of renting GPUs by the hour on a site of facility_mw."""
    _positive("facility MW", facility_mw)
    _non_negative("GPU-hour price", usd_per_gpu_hour)
    _fraction("utilisation", utilisation)
    gpus = facility_mw * gpus_per_facility_mw(watts_per_gpu_all_in, pue)
    return gpus * HOURS_PER_YEAR * utilisation * usd_per_gpu_hour


def breakeven_usd_per_gpu_hour(mining_usd_per_year: float, ai_facility_mw: float,
                               watts_per_gpu_all_in: float, pue: float, utilisation: float) -> float:
    """The rental price at which ai_facility_mw of GPUs earns mining_usd_per_year."""
    per_dollar = rental_revenue_usd_per_year(ai_facility_mw, watts_per_gpu_all_in, pue, 1.0, utilisation)
    if per_dollar <= 0:
        raise InputError("utilisation must be positive for a break-even price")
    return mining_usd_per_year / per_dollar


def power_cost_usd_per_year(facility_mw: float, usd_per_mwh: float, uptime: float = 1.0) -> float:
    """Energy bill of a site drawing facility_mw (facility MW) for the share of hours it runs."""
    _non_negative("facility MW", facility_mw)
    _non_negative("power price", usd_per_mwh)
    _fraction("uptime", uptime)
    return facility_mw * HOURS_PER_YEAR * uptime * usd_per_mwh


YEARS_PER_HALVING = 210_000 * BLOCK_INTERVAL_S / (SECONDS_PER_DAY * DAYS_PER_YEAR)


def subsidy_factor(t_years: float, years_to_halving: float | None) -> float:
    """Subsidy at time t relative to now: halved at the next halving and every ~4 years after."""
    if years_to_halving is None or t_years < years_to_halving:
        return 1.0
    return 0.5 ** (1 + int((t_years - years_to_halving) // YEARS_PER_HALVING))
