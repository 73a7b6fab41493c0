"""`benchhash econ`: the economics of each use of a facility MW."""

from __future__ import annotations

from typing import Annotated

import typer

from benchhash.cli.app import out, progress
from benchhash.cli.options import AllowOption, MarketOption, SetOption
from benchhash.errors import InputError


def econ(
    results: Annotated[list[str] | None, typer.Argument(help="result files (default: reference GPU figures)")] = None,
    market: MarketOption = None,
    set_: SetOption = None,
    inputs: Annotated[bool, typer.Option(
        "--inputs", help="list every input --set takes (value, unit, allowed range, source, date) and stop")] = False,
    asic: Annotated[str, typer.Option(help="reference ASIC for mining rows")] = "S21",
    claim: Annotated[bool, typer.Option("--claim", help="test 'AI MW earns what mining MW earns'")] = False,
    decision: Annotated[bool, typer.Option(
        "--decision", help="an existing mining site's choice: keep mining, GPU cloud, lease, mullet (NPV, IRR, "
                           "payback, capital, break-evens, tornado; its inputs: econ --inputs)")] = False,
    ai_mw: Annotated[float, typer.Option(help="facility MW of AI in the claim")] = 10.0,
    mining_mw: Annotated[float, typer.Option(help="facility MW of mining in the claim")] = 100.0,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws for --claim")] = 10_000,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed")] = 0,
    fmt: Annotated[str, typer.Option(
        "--format", help="table (fits the terminal) | md | csv | json (every input and output)")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    deals: Annotated[bool, typer.Option(
        "--deals", help="miners' public AI deals beside the model's rows")] = False,
    hourly: Annotated[bool, typer.Option(
        "--hourly", help="dispatch each use hour by hour over a price series (default: ERCOT HB_WEST 2023)")] = False,
    prices: Annotated[str | None, typer.Option(
        help="hourly price series: a CSV (hour_start_utc,price_usd_per_mwh or ERCOT's layouts) or a shipped "
             "name; implies --hourly")] = None,
    fill: Annotated[str | None, typer.Option(help="fill gaps in the series: previous | linear")] = None,
    settlement_point: Annotated[str | None, typer.Option(
        help="ERCOT layouts: the settlement point to read (e.g. HB_WEST)")] = None,
    contract: Annotated[str, typer.Option(
        help="index (hourly price + power_adder_usd_per_mwh) | ppa (power_usd_per_mwh fixed, unused MWh sold back)")
    ] = "index",
    min_on_hours: Annotated[int, typer.Option(help="price-responsive mining: minimum hours on once started")] = 1,
    min_off_hours: Annotated[int, typer.Option(help="price-responsive mining: minimum hours off once stopped")] = 1,
    ramp_cost: Annotated[float, typer.Option(help="price-responsive mining: USD per MW per restart")] = 0.0,
    fourcp: Annotated[str | None, typer.Option(
        "--4cp", help="intervals to curtail mining in (ISO hours or start/end, comma list or file)")] = None,
    fourcp_charge: Annotated[float | None, typer.Option(
        "--4cp-charge", help="transmission charge, USD per MW-year of load in the --4cp intervals")] = None,
    plot: Annotated[str | None, typer.Option(
        help="write the hourly charts (price duration, monthly margin, hours on) to this .png/.svg/.pdf")] = None,
    allow_unverified: AllowOption = False,
) -> None:
    """Revenue, cost, margin, capex, payback and NPV per facility MW for each use of the power;
    --claim tests 'AI MW earns what mining MW earns' in both readings (GPU cloud, lease);
    --hourly dispatches each use over a real hourly price series (curtailment, PPA credits, mullet site).
    The inputs the figures turn on are printed above them; every input --set takes, with its unit,
    allowed range, source and date: benchhash econ --inputs."""
    from benchhash.econ.report import EconRequest, answer, market_of
    from benchhash.econ.site import HourlyRequest
    from benchhash.report import econ as text

    if as_json and fmt not in ("table", "json"):
        raise InputError(f"--json is --format json: give one of them, not --json with --format {fmt}")
    fmt = "json" if as_json else fmt
    if fmt not in text.FORMATS:
        raise InputError(f"--format must be one of {', '.join(text.FORMATS)}, got {fmt!r}")
    if inputs:
        text.emit(market_of(EconRequest(market=market, sets=tuple(set_ or ()), asic=asic)), fmt, out, inputs=True)
        return
    hour_req = None
    if plot:
        from benchhash.econ.plots import check_path
        check_path(plot)
    if hourly or prices or plot:
        hour_req = HourlyRequest(prices, fill, settlement_point, contract, min_on_hours, min_off_hours,
                                 ramp_cost, fourcp, fourcp_charge)
    elif fill or settlement_point or fourcp or fourcp_charge is not None:
        raise InputError("--fill, --settlement-point, --4cp and --4cp-charge need --hourly or --prices")
    data, series = answer(EconRequest(results=tuple(results or ()), market=market, sets=tuple(set_ or ()),
                                         asic=asic, claim=claim, ai_mw=ai_mw, mining_mw=mining_mw,
                                         draws=draws, seed=seed, deals=deals, hourly=hour_req, decision=decision,
                                         allow_unverified=allow_unverified))
    if plot and series is not None:
        from benchhash.econ.plots import write_hourly_charts
        write_hourly_charts(data.hourly, series.usd_per_mwh.tolist(), plot)
        progress.info("hourly charts written to %s", plot)
    text.emit(data, fmt, out)
