"""The `benchhash` command: thin wrappers that parse, call and print. Every BenchhashError and
usage error becomes one line on stderr and exit code 2; Ctrl-C exits 130."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from benchhash.errors import BenchhashError, FleetBroken, InputError
from benchhash.sha256d.header import BlockHeader, parse_hex

log = logging.getLogger("benchhash.cli")
#: exit code of an internal error (EX_SOFTWARE)
INTERNAL = 70
#: what a run or command is doing and where its output went (shown unless --quiet)
progress = logging.getLogger("benchhash.progress")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="SHA-256d and AI workloads on one GPU: rate, energy, revenue per MW.")


def _version(value: bool) -> None:
    if value:
        from benchhash import __version__
        print(f"benchhash {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="more detail on stderr (before or after the command)")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="errors only on stderr (before or after the command)")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """SHA-256d and AI workloads on one GPU: rate, energy, revenue per MW."""
    if verbose and quiet:
        raise InputError("give --verbose or --quiet, not both")
    setup_logging(1 if verbose else -1 if quiet else 0)
out = Console()
err = Console(stderr=True)


def printable(text: str) -> str:
    """Text any stream can take: bytes that were not UTF-8 in an argument (lone surrogates) are
    shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"benchhash: error: {printable(message)}", file=sys.stderr)
    raise SystemExit(code)


def parse_int(text: str, flag: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise InputError(f"{flag} must be an integer, got {text!r}") from None


def _progress_bar(total: int, enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(TextColumn("[bold]scan"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err,
                    transient=True)


def _progress_lines(total: int, every_s: float = 5.0) -> Callable[[int], None]:
    """A scan's progress as a line on stderr every few seconds (not a terminal: no bar)."""
    import time
    t0 = last = time.monotonic()
    done = 0

    def report(k: int) -> None:
        nonlocal done, last
        done += k
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            progress.info("scanned %s of %s nonces (%.1f %%), %.2f MH/s", f"{done:,}", f"{total:,}",
                          100 * done / total, done / (now - t0) / 1e6)
    return report


@app.command()
def scan(
    header: Annotated[str, typer.Option("--header", help="80-byte block header, 160 hex digits")],
    start: Annotated[str, typer.Option(help="first nonce")] = "0",
    count: Annotated[str, typer.Option(help="number of nonces (default: to the end of 2^32)")] = "",
    target: Annotated[str | None, typer.Option(help="full 256-bit target, hex")] = None,
    bits: Annotated[str | None, typer.Option(help="compact target (nBits), hex")] = None,
    share_bits: Annotated[int | None, typer.Option(
        help="also report shares: hashes with at least K leading zero bits")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:I | reference")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: every core)")] = None,
    cpu_kernel: Annotated[str, typer.Option(
        help="CPU kernel: auto (the faster on this CPU, measured) | simd | sha-ni")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Scan nonces [start, start+count) of a header for hashes at or below the target."""
    from benchhash.sha256d.scan import check_range, make_backend
    from benchhash.sha256d.scan import scan as run_scan

    parsed = BlockHeader.from_hex(header)
    first = parse_int(start, "--start")
    n = parse_int(count, "--count") if count else (1 << 32) - first
    check_range(first, n)
    if target is not None and bits is not None:
        raise InputError("give --target or --bits, not both")
    tgt: int | None = None
    if target is not None:
        tgt = int.from_bytes(parse_hex(target, what="--target"), "big")
        if tgt >= 1 << 256:
            raise InputError("--target is wider than 256 bits")
    elif bits is not None:
        from benchhash.sha256d.header import bits_to_target
        tgt = bits_to_target(int.from_bytes(parse_hex(bits, what="--bits", length=4), "big"))
    backend = make_backend(device, threads, cpu_kernel)
    bar = _progress_bar(n, not as_json and n >= 1 << 24 and err.is_terminal)
    stop = threading.Event()
    report = None
    if bar is not None:
        bar.start()
        task = bar.add_task("scan", total=n, rate="")
        report = lambda k: bar.update(task, advance=k)  # noqa: E731
    elif n >= 1 << 24:
        report = _progress_lines(n)
    try:
        result = run_scan(parsed, first, n, target=tgt, share_bits=share_bits, backend=backend,
                          progress=report, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        if bar is not None:
            bar.stop()
    if as_json:
        print(json.dumps(result.to_json()))
        return
    rate = result.hashes_per_second
    kernel = (result.launch or {}).get("kernel")
    out.print(f"[bold]{result.backend}[/]" + (f" ({kernel} kernel)" if kernel else "") + f" on {result.device}")
    out.print(f"scanned {result.scanned:,} nonces [{first:,}, {first + n:,}) in {result.seconds:.3f} s"
              + (f" = {rate / 1e6:,.2f} MH/s" if rate else ""))
    out.print(f"target {result.target:064x}")
    # Plain lines, not a table: a 64-digit hash must never be cut to fit a narrow terminal.
    for kind, rows in (("hit", result.hits), ("share", result.shares[:20])):
        for h in rows:
            print(f"{kind:<6} {h.nonce:>10}  {h.hash}")
    if len(result.shares) > 20:
        print(f"... {len(result.shares) - 20} more share(s); --json lists them all")
    out.print(f"{len(result.hits)} hit(s)" + (f", {len(result.shares)} share(s)" if share_bits is not None else ""))


def _gpu_line(g: dict[str, Any]) -> str:
    mem = g.get("memory_total_bytes")
    limit = (g.get("power_limits") or {}).get("enforced_w")
    parts = [g.get("name") or "unknown name", g.get("uuid") or "",
             f"driver {g.get('driver') or 'n/a'}",
             f"{mem / 2**30:.1f} GiB" if mem is not None else "memory n/a",
             f"power limit {limit:.0f} W" if limit is not None else "power limit n/a"]
    lim = g.get("power_limits") or {}
    if lim.get("current_w") is not None and lim.get("default_w") is not None \
            and abs(lim["current_w"] - lim["default_w"]) > 0.5:
        parts.append(f"(CHANGED from its default {lim['default_w']:.0f} W)")
    if (g.get("mig_mode") or {}).get("current"):
        parts.append("MIG mode on")
    return f"[bold]GPU {g['index']}[/] " + escape(" ".join(p for p in parts if p))


def _record_json(path: Any, rec: Any) -> dict[str, Any]:
    """A power-limit record as `info` shows it: what it holds, and what happens to it."""
    if rec is None:
        return {"file": str(path), "text": f"{path}: unreadable record (remove it by hand)"}
    running = rec.alive()
    state = (f"benchhash pid {rec.pid} is running and puts it back when it ends" if running else
             f"benchhash pid {rec.pid} did not finish; the next `benchhash run` puts it back")
    at = f"at {rec.set_w:g} W, " if rec.set_w is not None else ""
    return {"file": str(path), "running": running, **rec.__dict__,
            "text": f"GPU {rec.pci_bus_id}: {at}original {rec.original_w:g} W; {state} ({path})"}


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """CPU, GPUs and the scan backends this machine can run (and why not)."""
    from benchhash.hw.backends import cuda_probe_steps, status
    from benchhash.hw.cpu import cpu as cpu_info
    from benchhash.hw.gpus import gpus as gpu_info
    from benchhash.hw.power import records
    from benchhash.meters import energy_here

    cpu = cpu_info()
    found, gpu_reason = gpu_info()
    left = [_record_json(path, rec) for path, rec in records(socket.gethostname())]
    gpus = [g.model_dump(mode="json") for g in found]
    backends = status()
    probe = cuda_probe_steps()
    energy = energy_here([g.index for g in found])
    if as_json:
        print(json.dumps({"cpu": cpu.model_dump(mode="json"), "gpus": gpus, "gpu_reason": gpu_reason,
                          "backends": backends, "cuda_probe": probe, "power_limit_records": left,
                          "energy": [{"device": d, "how": h, "measurable": ok} for d, h, ok in energy]}))
        return
    flags = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu.flags.items())
    out.print(f"[bold]CPU[/] {escape(str(cpu.model))} ({cpu.usable_cores}/{cpu.logical_cores} cores usable)")
    out.print(f"    {flags}")
    for g in gpus:
        out.print(_gpu_line(g))
        for key, why in sorted(g.get("unavailable", {}).items()):
            out.print(f"    {escape(key)}: unavailable ({escape(why)})")
    if not gpus:
        out.print(f"[bold]GPU[/] none ({escape(str(gpu_reason))})")
    for r in left:
        out.print("[bold]power limit left changed[/] " + escape(r["text"]))
    for name, reason in backends.items():
        out.print(f"backend {name}: " + ("available" if reason is None else f"unavailable - {escape(reason)}"))
    if backends.get("cuda") is not None:
        out.print("    cuda probe: " + ", ".join(
            f"{k} {'ok' if v is None else ('not tried' if v == 'not tried' else 'FAILED')}"
            for k, v in probe.items()))
    for where, how, ok in energy:
        out.print(f"[bold]energy[/] {where}: " + (escape(how) if ok else
                  f"none - {escape(how)}: runs here give rates but no per-joule figures, and econ cannot price them"))


@app.command()
def run(
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:I")] = "auto",
    workloads: Annotated[str | None, typer.Option(
        help="comma-separated, e.g. sha256d (default: all for the device)")] = None,
    duration: Annotated[float | None, typer.Option(help="seconds per trial (default 10; --quick 2)")] = None,
    trials: Annotated[int | None, typer.Option(help="trials per workload (default 3)")] = None,
    warmup: Annotated[float | None, typer.Option(help="most seconds of warm-up (default 10; --quick 1)")] = None,
    idle: Annotated[float | None, typer.Option(help="seconds of idle-power baseline first (default 0)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="short trials: a smoke run in under a minute")] = False,
    out_path: Annotated[str | None, typer.Option(
        "--out", help="folder or .json file (default results/<device>/<host>-<UTC>.json)")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the result JSON on stdout (in a fleet: rank 0 prints the fleet file)")] = False,
    notes: Annotated[str | None, typer.Option(help="free text stored in the result")] = None,
    meter: Annotated[str, typer.Option(help="auto | nvml | amdsmi | rapl | null | replay:FILE")] = "auto",
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for sha256d on the CPU (default: every core)")] = None,
    cpu_kernel: Annotated[str | None, typer.Option(
        help="sha256d on the CPU: auto (the faster on this CPU, measured) | simd | sha-ni")] = None,
    gemm_dtypes: Annotated[str | None, typer.Option(
        help="gemm dtypes: fp8,bf16,fp16,tf32,fp32 (default: all the device has; CPU fp32)")] = None,
    gemm_size: Annotated[int | None, typer.Option(help="gemm M=N=K (default 8192 on GPU, 2048 on CPU)")] = None,
    gemm_sweep: Annotated[bool, typer.Option("--gemm-sweep", help="try several shapes and keep the fastest")] = False,
    llm_preset: Annotated[str | None, typer.Option(
        help="llm shape: tiny | 1b | 3b | 8b (default 8b on GPU, tiny on CPU)")] = None,
    llm_batches: Annotated[str | None, typer.Option(help="decode batch sizes, e.g. 1,16,64")] = None,
    llm_phases: Annotated[str | None, typer.Option(
        help="llm phases: prefill,decode,serve (default all on a GPU; prefill,decode on a CPU)")] = None,
    serve_lengths: Annotated[str | None, typer.Option(
        help="serve: tokens in:out per request (default 512:512 on GPU, 64:64 on CPU) or a JSON histogram")] = None,
    serve_concurrency: Annotated[str | None, typer.Option(
        help="serve: requests served at once, one phase each, e.g. 1,16,64")] = None,
    serve_rate: Annotated[float | None, typer.Option(
        help="serve: Poisson arrivals, requests/s (default: closed loop)")] = None,
    serve_slo_ms: Annotated[str | None, typer.Option(help="serve: TPOT objectives in ms (default 50,100,250)")] = None,
    no_compile: Annotated[bool, typer.Option(
        "--no-compile", help="run llm decode eager (no torch.compile / CUDA graphs)")] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite an --out FILE that exists")] = False,
    sign_with: Annotated[str | None, typer.Option(
        "--sign", help="sign the result with this Ed25519 OpenSSH private key")] = None,
    all_gpus: Annotated[bool, typer.Option(
        "--all-gpus", help="one rank per visible GPU of this node, measured together (a fleet)")] = False,
    fleet_timeout: Annotated[float, typer.Option(
        help="in a fleet: seconds a rank may lag at a phase or trial before it is named dead or hung")] = 300.0,
    power_limits: Annotated[str | None, typer.Option(
        help="measure every phase at each GPU power limit: watts, e.g. 300,400,500,max (max: the default "
             "limit), or 'sweep' (8 levels, maximum to minimum); needs root; the limit is put back after")] = None,
) -> None:
    """Measure each workload's rate and energy (warm-up, trials, statistics) and write a result;
    under torchrun, srun or a PyTorchJob (or with --all-gpus) as one rank of a fleet."""
    from benchhash import session
    from benchhash.errors import signals_interrupt
    from benchhash.fleet.ranks import from_env
    from benchhash.report.progress import RunProgress
    from benchhash.results.sign import load_key

    if all_gpus:
        from benchhash.fleet.launch import run_all, strip_flag
        if from_env() is not None:
            raise InputError("--all-gpus starts its own ranks: not under torchrun or srun")
        if device.strip().lower() == "cpu" or device.strip().lower().startswith("cuda:"):
            raise InputError(f"--all-gpus takes every GPU, one per rank: not with --device {device}")
        raise SystemExit(run_all(strip_flag(_ARGV, "--all-gpus")))
    if not 1 <= fleet_timeout <= 86_400:
        raise InputError(f"--fleet-timeout must be between 1 and 86400 s, got {fleet_timeout:g}")
    req = session.Request(device=device, workloads=workloads, duration_s=duration, trials=trials,
                          warmup_s=warmup, idle_s=idle, quick=quick, out=out_path, notes=notes,
                          meter=meter, command_line=tuple(sys.argv), force=force,
                          fleet_timeout_s=fleet_timeout, power_limits=power_limits,
                          flags={"threads": threads, "cpu_kernel": cpu_kernel, "gemm_dtypes": gemm_dtypes,
                                 "gemm_size": gemm_size, "gemm_sweep": gemm_sweep,
                                 "llm_preset": llm_preset, "llm_batches": llm_batches,
                                 "no_compile": no_compile, "llm_phases": llm_phases, "serve_lengths": serve_lengths,
                                 "serve_concurrency": serve_concurrency, "serve_rate": serve_rate,
                                 "serve_slo_ms": serve_slo_ms})
    cfg = req.config()
    key = load_key(sign_with) if sign_with else None       # a bad key is said before the run
    rank = from_env()
    bars_on = err.is_terminal and not as_json and rank is None
    with signals_interrupt(), RunProgress(err, session.plan_seconds(cfg, 1), bars_on) as bars:
        if rank is None:
            outcome = session.run(req, bars, key)
        else:
            from benchhash.fleet.run import run_rank
            outcome = run_rank(req, rank, bars, key)
    _show_run(outcome, as_json, rank is None or rank.rank == 0, rank is None)
    if outcome.fleet_file is not None:
        progress.info("fleet written to %s", outcome.fleet_file)
    if outcome.fallback:
        log.error("%s", outcome.fallback)
    else:
        progress.info("result written to %s%s", outcome.path,
                      "" if outcome.result.complete else " (incomplete)")
        progress.info("%s", next_step(outcome.path, outcome.result))
    _reraise(outcome.error)
    if outcome.fallback:
        raise SystemExit(1)
    failures = outcome.result.failures
    if failures:
        names = ", ".join(dict.fromkeys(f.label for f in failures))
        log.warning("%d failure(s), the rest was measured: %s", len(failures), names)
        raise SystemExit(1)


def next_step(path: Any, result: Any) -> str:
    """The command to type after a run: verify, then econ where the run measured energy to price;
    where it did not, the claim, which needs no hardware."""
    if any(w.energy.energy_j for w in result.workloads):
        return f"next: benchhash verify {path} && benchhash econ {path}"
    return (f"next: benchhash verify {path}; this run measured no energy, so econ cannot price it "
            "(benchhash info says what can measure it here): benchhash econ --claim answers without hardware")


def _show_run(outcome: Any, as_json: bool, first: bool, alone: bool) -> None:
    """A run's answer on stdout: its table (and a fleet's), or with --json the result (a fleet's
    rank 0: the fleet file). When the result itself went to stdout because no file could take
    it, stdout holds that JSON alone and the tables go to stderr."""
    from benchhash.report.table import run_table
    from benchhash.results.io import dumps, seal
    screen = err if outcome.on_stdout else out
    if as_json:
        if outcome.on_stdout:
            return
        text = dumps(seal(outcome.result)) if alone else (
            outcome.fleet_file.read_text() if outcome.fleet_file is not None else "")
        print(text, end="")
        return
    if first:
        screen.print(run_table(outcome.result))
    if outcome.fleet_file is not None:
        from benchhash.report.fleet import fleet_table
        screen.print(fleet_table(outcome.fleet_file))


def _reraise(error: BaseException | None) -> None:
    """End the command as the error that stopped a run would have: Ctrl-C -> 130, a
    BenchhashError -> one line and 2, anything else is a bug and keeps its traceback."""
    if error is None:
        return
    if isinstance(error, KeyboardInterrupt):
        name = getattr(error, "name", "Ctrl-C")
        print("benchhash: interrupted" + ("" if name == "Ctrl-C" else f" ({name})"), file=sys.stderr)
        raise SystemExit(getattr(error, "code", 130))
    if isinstance(error, FleetBroken):
        log.error("%s; this rank's measurements are in its file", error)
        raise SystemExit(1)
    if isinstance(error, BenchhashError):
        fail(str(error))
    raise error


@app.command()
def schema(
    out_file: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None,
    fleet: Annotated[bool, typer.Option("--fleet", help="the schema of fleet files instead")] = False,
) -> None:
    """The JSON Schema of result files, or of fleet files (what results/schema/ holds)."""
    from benchhash.fsutil import write_output
    from benchhash.review.export import schema_text

    text = schema_text(fleet)
    if out_file:
        write_output(out_file, text)
    else:
        print(text, end="")


#: the market economics prices with, as `econ` and `report` take it (one declaration for both)
AllowOption = Annotated[bool, typer.Option(
    "--allow-unverified", help="take files that prove less than they claim (compare: also files that fail verify) "
                               "on their word, said so")]
MarketOption = Annotated[str | None, typer.Option(
    help="snapshot name, market .json (merged over the default), or live[:URL] (mempool.space API)")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="override one input: key=value (repeatable); the keys, units and ranges: econ --inputs")]


@app.command()
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


def _load_all(files: list[str]) -> list[tuple[str, Any]]:
    """Each file with its result or fleet; a file that fails verify, or proves less than it
    claims, is marked so in its name."""
    from benchhash.review.load import read
    from benchhash.review.verify import check
    if not files:
        raise InputError("give at least one result or fleet file")
    out = []
    for f in files:
        loaded = read(f)
        held = loaded.parsed()
        v = check(loaded)
        mark = (f" (FAILS VERIFY: {v.problems[0]})" if v.problems else
                f" (UNPROVEN: {v.unproven[0]})" if v.unproven else "")
        out.append((f + mark, held))
    return out


@app.command()
def report(
    files: Annotated[list[str], typer.Argument(help="result or fleet files")],
    fmt: Annotated[str, typer.Option("--format", help="table | md | csv | html")] = "table",
    out_file: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None,
    market: MarketOption = None,
    set_: SetOption = None,
    log_scale: Annotated[bool, typer.Option(
        "--log-scale", help="html: measured rates and work per joule on log axes (said in the titles)")] = False,
    allow_unverified: AllowOption = False,
) -> None:
    """One row per file and workload: rate, watts, work per joule (and J/TH), energy method,
    warnings; --format html adds the market inputs, each use per facility MW, the claim's verdicts
    and charts, priced with --market and --set as `econ` is."""
    from benchhash.fsutil import write_output
    from benchhash.report import formats

    if fmt not in formats.FORMATS:
        raise InputError(f"--format must be table, md, csv or html, got {fmt!r}")
    opts = formats.Options(market, tuple(set_ or ()), log_scale, allow_unverified)
    if fmt != "html" and (opts.priced or log_scale):
        raise InputError("--market, --set and --log-scale are for --format html (the other formats have no "
                         "economics or charts)")
    results = _load_all(files)
    if fmt == "table" and not out_file:
        out.print(formats.rich_table(results))
        return
    text = formats.render(fmt, results, opts)
    if out_file:
        write_output(out_file, text)
        progress.info("report written to %s", out_file)
    else:
        print(text, end="")


@app.command()
def compare(
    ref: Annotated[str, typer.Argument(help="reference result")],
    new: Annotated[str, typer.Argument(help="new result")],
    threshold: Annotated[float, typer.Option(
        help="fail (exit 1) on a significant slow-down above this many percent")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    allow_unverified: AllowOption = False,
) -> None:
    """NEW against REF per workload, in words: how much faster or slower, whether that is
    significant (Welch's t-test, Mann-Whitney U), and whether either side ran on a busy machine.
    Exit 1 on a significant regression beyond --threshold, 3 when a phase of REF could not be
    compared (another methodology, device, unit or parameters, or missing from NEW): a gate
    fails closed."""
    from benchhash.review.compare import INCOMPARABLE, compared, regressions, sentence

    if not 0 <= threshold <= 100:
        raise InputError(f"--threshold must be between 0 and 100, got {threshold:g}")
    rows = compared(ref, new, allow_unverified)
    if as_json:
        print(json.dumps([r.to_json() for r in rows], indent=1))
    else:
        for r in rows:
            print(printable(sentence(r)))
    bad = regressions(rows, threshold)
    if bad:
        busy = [r.workload for r in bad if r.busy]
        log.warning("%d significant regression(s) beyond %g %%: %s%s", len(bad), threshold,
                    ", ".join(r.workload for r in bad),
                    f" ({', '.join(busy)} measured on a busy machine: measure again on an idle one before "
                    "believing it)" if busy else "")
        raise SystemExit(1)
    closed = [r.workload for r in rows if r.mark == "incomparable" or (r.mark, r.reason) == ("missing", "only in REF")]
    if closed:
        log.warning("not compared: %s (exit %d: a phase of REF that cannot be compared is no pass)",
                    ", ".join(closed), INCOMPARABLE)
        raise SystemExit(INCOMPARABLE)


@app.command()
def merge(
    files: Annotated[list[str], typer.Argument(help="node result files")],
    out_file: Annotated[str, typer.Option("-o", "--out", help="fleet file to write")] = "",
    allow_unverified: AllowOption = False,
) -> None:
    """Rank or node results into one fleet file: a row per file, per phase the fleet's rate and
    watts (per-trial sums for the ranks of one fleet run), and the ranks that are missing."""
    from benchhash.fsutil import write_output
    from benchhash.report.fleet import fleet_table
    from benchhash.results.io import dumps
    from benchhash.review.merge import merge as run_merge

    if not out_file:
        raise InputError("merge needs -o FLEET.json")
    fleet = run_merge(files, out_file, allow_unverified)
    write_output(out_file, dumps(fleet), "-o/--out")
    out.print(fleet_table(out_file))
    progress.info("fleet of %d file(s) written to %s%s", len(fleet["ranks"]), out_file,
                  "" if fleet["complete"] else " (incomplete)")


@app.command()
def verify(
    files: Annotated[list[str], typer.Argument(help="result or fleet files")],
    trusted_keys: Annotated[str | None, typer.Option(
        "--trusted-keys", help="allowed_signers file (ssh-keygen's format): who is trusted to sign")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON verdict per file on stdout")] = False,
    allow_unverified: Annotated[bool, typer.Option(
        "--allow-unverified", help="a fleet file without its rank files: its word as unproven, not failed")] = False,
) -> None:
    """What each file proves, what it claims but does not prove (older files, said as unproven:
    econ, merge and compare refuse them unless given --allow-unverified), and what it only
    claims: schema, digest, signature, consistency, plausibility, every SHA-256d share
    re-hashed. Exit 1 when a file fails (with --trusted-keys: also when its signer is not
    trusted); a file that is not there is bad input, as in every command (one line, exit 2)."""
    from benchhash.results import io
    from benchhash.results.sign import allowed_signers
    from benchhash.review.verify import verdict

    for f in files:
        if not os.path.exists(f):
            io.read_json(f)         # raises the one-line "cannot read result file F: no such file"
    trusted = allowed_signers(trusted_keys) if trusted_keys else None
    verdicts = [verdict(f, trusted, allow_unverified) for f in files]
    if as_json:
        print(json.dumps([v.to_json() for v in verdicts], indent=1))
    for v in verdicts if not as_json else []:
        print(f"{v.status:<4} {v.path}" + (f" ({v.claimed[0]})" if v.status == "SKIP" else ""))
        if v.status == "SKIP":
            continue
        for p in v.problems[:20]:
            print(f"  - {p}")
        if len(v.problems) > 20:
            print(f"  - ... {len(v.problems) - 20} more")
        for line in v.proven:
            print(f"  proven:  {line}")
        for line in v.unproven:
            print(f"  unproven: {line}")
        for line in v.claimed:
            print(f"  claimed: {line}")
    if any(v.status == "FAIL" for v in verdicts):
        raise SystemExit(1)


@app.command()
def sign(
    files: Annotated[list[str], typer.Argument(help="result files to sign (in place)")],
    key: Annotated[str, typer.Option("--key", help="Ed25519 OpenSSH private key (e.g. ~/.ssh/id_ed25519)")],
) -> None:
    """Sign result files with an SSH key: who vouches for their seconds, joules and device.
    A file that fails verify is not signed."""
    from benchhash.fsutil import write_output
    from benchhash.results import io
    from benchhash.results.sign import load_key, sign_digest
    from benchhash.review.verify import require, verify_result

    private = load_key(key)
    for f in files:
        raw = io.read_json(f)           # one that proves less than it claims is signed: its claims are vouched for
        require(verify_result(raw, f), ": only a file that verifies is signed", allow_unverified=True, quiet=True)
        raw["signature"] = sign_digest(private, io.digest_of(raw)).model_dump(mode="json")
        write_output(f, io.dumps(raw), "sign")
        progress.info("signed %s with %s", f, raw["signature"]["fingerprint"])


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and redirections swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _RankFormatter(logging.Formatter):
    """'benchhash: ...', or 'benchhash[rank R]: ...' in a fleet, where the ranks share a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        rank = os.environ.get("RANK") if "WORLD_SIZE" in os.environ else None
        return f"benchhash{'' if rank is None else f'[rank {rank}]'}: {record.getMessage()}"


def setup_logging(verbosity: int = 0) -> None:
    """Diagnostics (logging under 'benchhash') as 'benchhash: ...' lines on stderr: warnings
    and the run's stage lines by default; -v adds debug detail, --quiet leaves errors only."""
    logger = logging.getLogger("benchhash")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_RankFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel({-1: logging.ERROR, 0: logging.WARNING}.get(verbosity, logging.DEBUG))
    logging.getLogger("benchhash.progress").setLevel(
        {-1: logging.ERROR, 0: logging.INFO}.get(verbosity, logging.DEBUG))


_ARGV: list[str] = []      # this invocation's arguments, for --all-gpus to hand to its ranks
#: the app's own options that a person also types after the command (`benchhash run --quick -v`)
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def hoist_global_flags(args: list[str]) -> list[str]:
    """-v/--verbose and -q/--quiet given after the command moved before it, where Typer reads
    them; one that is the value of the command's own option (--notes -v), that the command takes
    itself, or that follows '--', stays where it is."""
    at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    command = None if at is None else getattr(typer.main.get_command(app), "commands", {}).get(args[at])
    if at is None or command is None:
        return list(args)
    options = [p for p in command.params if getattr(p, "param_type_name", "") == "option"]
    own = {o for p in options for o in p.opts}
    takes_value = {o for p in options if not getattr(p, "is_flag", False) and not getattr(p, "count", False)
                   for o in p.opts}
    hoisted: list[str] = []
    kept: list[str] = []
    rest = args[at + 1:]
    i = 0
    while i < len(rest):
        if rest[i] == "--":
            kept += rest[i:]
            break
        step = 2 if rest[i] in takes_value else 1       # an option and its value stay together
        if rest[i] in GLOBAL_FLAGS and rest[i] not in own:
            hoisted.append(rest[i])
        else:
            kept += rest[i:i + step]
        i += step
    return [*args[:at], *hoisted, args[at], *kept]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, mapping every failure to one line on stderr (bad input:
    exit 2; Ctrl-C or a stopping signal: 128 + its number; a benchhash bug: 70, its traceback
    with -v)."""
    setup_logging()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):      # a path or note that was not UTF-8 prints escaped
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    try:
        code = app(args=hoist_global_flags(_ARGV), prog_name="benchhash", standalone_mode=False)
    except BenchhashError as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:
        name = getattr(exc, "name", "Ctrl-C")
        print("benchhash: interrupted" + ("" if name == "Ctrl-C" else f" ({name})"), file=sys.stderr)
        raise SystemExit(getattr(exc, "code", 130)) from None
    except BrokenPipeError:
        raise SystemExit(0) from None
    except RecursionError:
        fail("input nested too deeply")
    except MemoryError:
        fail("out of memory", 1)
    except Exception as exc:
        # Typer's usage errors (bad flag, missing option) and its Exit/Abort come from click,
        # which newer Typer releases vendor; they are recognised by shape, not by class.
        kind = type(exc).__name__
        if kind == "NoArgsIsHelpError":          # a bare `benchhash`: the help is the answer
            raise SystemExit(0) from None
        if kind == "Abort":
            print("benchhash: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        if kind == "Exit" or (hasattr(exc, "exit_code") and not hasattr(exc, "format_message")):
            raise SystemExit(getattr(exc, "exit_code", 0)) from None
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            fail(" ".join(exc.format_message().split()))
        log.debug("internal error", exc_info=exc)
        fail(f"internal error, a benchhash bug: {kind}: {' '.join(str(exc).split())[:300]} "
             "(run with -v for the traceback)", INTERNAL)
    # Typer (non-standalone) turns Ctrl-C inside a command into a returned exit code 130.
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            print("benchhash: interrupted", file=sys.stderr)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
