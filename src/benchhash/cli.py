"""The `benchhash` command: thin wrappers that parse, call and print. Every BenchhashError and
usage error becomes one line on stderr and exit code 2; Ctrl-C exits 130."""

from __future__ import annotations

import json
import sys
import threading
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from benchhash.errors import BenchhashError, InputError
from benchhash.header import BlockHeader, parse_hex

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="SHA-256d and AI workloads on one GPU: rate, energy, revenue per MW.")
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"benchhash: error: {message}", file=sys.stderr)
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


@app.command()
def scan(
    header: Annotated[str, typer.Option("--header", help="80-byte block header, 160 hex digits")],
    start: Annotated[str, typer.Option(help="first nonce")] = "0",
    count: Annotated[str, typer.Option(help="number of nonces (default: to the end of 2^32)")] = "",
    target: Annotated[str | None, typer.Option(help="full 256-bit target, hex")] = None,
    bits: Annotated[str | None, typer.Option(help="compact target (nBits), hex")] = None,
    share_bits: Annotated[int | None, typer.Option(help="also report shares: hashes with at least K leading zero bits")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:I | reference")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: every core)")] = None,
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
        from benchhash.header import bits_to_target
        tgt = bits_to_target(int.from_bytes(parse_hex(bits, what="--bits", length=4), "big"))
    backend = make_backend(device, threads)
    bar = _progress_bar(n, not as_json and n >= 1 << 24 and err.is_terminal)
    stop = threading.Event()
    report = None
    if bar is not None:
        bar.start()
        task = bar.add_task("scan", total=n, rate="")
        report = lambda k: bar.update(task, advance=k)  # noqa: E731
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
    out.print(f"[bold]{result.backend}[/] on {result.device}")
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


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """CPU, GPUs and the scan backends this machine can run (and why not)."""
    from benchhash.env import backend_status, cpu_info, gpu_info

    cpu = cpu_info()
    gpus, gpu_reason = gpu_info()
    backends = backend_status()
    if as_json:
        print(json.dumps({"cpu": cpu, "gpus": gpus, "gpu_reason": gpu_reason, "backends": backends}))
        return
    flags = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu["flags"].items())
    out.print(f"[bold]CPU[/] {cpu['model']} ({cpu['usable_cores']}/{cpu['logical_cores']} cores usable)")
    out.print(f"    {flags}")
    if gpus:
        for g in gpus:
            mem = g["memory_total_bytes"] / 2**30
            limit = f"{g['power_limit_w']:.0f} W" if g["power_limit_w"] is not None else "n/a"
            out.print(f"[bold]GPU {g['index']}[/] {g['name']} {g['uuid']} driver {g['driver']}, "
                      f"{mem:.1f} GiB, power limit {limit}")
    else:
        out.print(f"[bold]GPU[/] none ({escape(str(gpu_reason))})")
    for name, reason in backends.items():
        out.print(f"backend {name}: " + ("available" if reason is None else f"unavailable - {escape(reason)}"))


class _Bars:
    """runner.Listener drawing two rich bars on stderr (whole run, current stage) with ETAs, or
    one line per stage when stderr is not a terminal."""

    def __init__(self, total_s: float, enabled: bool) -> None:
        import time
        self._time = time.monotonic
        self.enabled = enabled
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                            console=err, transient=True) if enabled else None
        self.total_s = total_s
        self._stage: tuple[Any, float, float] | None = None
        self._run_task: Any = None
        self._t0 = self._time()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> "_Bars":
        if self.bar is not None:
            self.bar.start()
            self._run_task = self.bar.add_task("[bold]run", total=self.total_s)
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        if self.bar is not None:
            self.bar.stop()

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            now = self._time()
            assert self.bar is not None
            self.bar.update(self._run_task, completed=min(now - self._t0, self.total_s))
            if self._stage is not None:
                task, start, seconds = self._stage
                self.bar.update(task, completed=min(now - start, seconds))

    def stage(self, label: str, seconds: float) -> None:
        if self.bar is None:
            print(f"benchhash: {label} ({seconds:g} s)", file=sys.stderr)
            return
        if self._stage is not None:
            self.bar.remove_task(self._stage[0])
        self._stage = (self.bar.add_task(escape(label), total=max(seconds, 1e-3)), self._time(), seconds)

    def finished(self, record: Any) -> None:
        pass


@app.command()
def run(
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:I")] = "auto",
    workloads: Annotated[str | None, typer.Option(help="comma-separated, e.g. sha256d (default: all for the device)")] = None,
    duration: Annotated[float | None, typer.Option(help="seconds per trial (default 10; --quick 2)")] = None,
    trials: Annotated[int | None, typer.Option(help="trials per workload (default 3)")] = None,
    warmup: Annotated[float | None, typer.Option(help="most seconds of warm-up (default 10; --quick 1)")] = None,
    idle: Annotated[float | None, typer.Option(help="seconds of idle-power baseline first (default 0)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="short trials: a smoke run in under a minute")] = False,
    out_path: Annotated[str | None, typer.Option("--out", help="folder or .json file (default results/<device>/<host>-<UTC>.json)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result JSON on stdout")] = False,
    notes: Annotated[str | None, typer.Option(help="free text stored in the result")] = None,
    meter: Annotated[str, typer.Option(help="auto | nvml | rapl | null | replay:FILE")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for sha256d on the CPU (default: every core)")] = None,
) -> None:
    """Measure each workload's rate and energy (warm-up, trials, statistics) and write a result."""
    from benchhash import session
    from benchhash.report.table import run_table
    from benchhash.results.io import dumps, seal

    req = session.Request(device=device, workloads=workloads, duration_s=duration, trials=trials,
                          warmup_s=warmup, idle_s=idle, quick=quick, out=out_path, notes=notes,
                          meter=meter, threads=threads, command_line=tuple(sys.argv))
    cfg = req.config()
    phases = len(workloads.split(",")) if workloads else 1
    with _Bars(session.plan_seconds(cfg, phases), err.is_terminal and not as_json) as bars:
        outcome = session.run(req, bars)
    if as_json:
        print(dumps(seal(outcome.result)), end="")
    else:
        out.print(run_table(outcome.result))
    print(f"benchhash: result written to {outcome.path}"
          + ("" if outcome.result.complete else " (incomplete)"), file=sys.stderr)
    _reraise(outcome.error)


def _reraise(error: BaseException | None) -> None:
    """End the command as the error that stopped a run would have: Ctrl-C -> 130, a
    BenchhashError -> one line and 2, anything else is a bug and keeps its traceback."""
    if error is None:
        return
    if isinstance(error, KeyboardInterrupt):
        print("benchhash: interrupted", file=sys.stderr)
        raise SystemExit(130)
    if isinstance(error, BenchhashError):
        fail(str(error))
    raise error


@app.command()
def schema(out_file: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None) -> None:
    """The JSON Schema of result files (what results/schema/ holds)."""
    from benchhash.fsutil import write_atomic
    from benchhash.results.export import schema_text

    text = schema_text()
    if out_file:
        write_atomic(out_file, text)
    else:
        print(text, end="")


@app.command()
def econ(
    results: Annotated[list[str] | None, typer.Argument(help="result files (default: reference GPU figures)")] = None,
    market: Annotated[str | None, typer.Option(help="snapshot name or market .json (merged over the default)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override one input: key=value (repeatable)")] = None,
    asic: Annotated[str, typer.Option(help="reference ASIC for mining rows")] = "S21",
    claim: Annotated[bool, typer.Option("--claim", help="test 'AI MW earns what mining MW earns'")] = False,
    ai_mw: Annotated[float, typer.Option(help="facility MW of AI in the claim")] = 10.0,
    mining_mw: Annotated[float, typer.Option(help="facility MW of mining in the claim")] = 100.0,
    draws: Annotated[int, typer.Option(help="Monte Carlo draws for --claim")] = 10_000,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="inputs (value, unit, source, date) and outputs as JSON")] = False,
) -> None:
    """Revenue, cost, margin, capex and payback per facility MW-year for each use of the power."""
    from benchhash.econ.report import econ_json, print_econ

    data = econ_json(results or [], market, set_ or [], asic, claim, ai_mw, mining_mw, draws, seed)
    if as_json:
        print(json.dumps(data, indent=1))
    else:
        print_econ(data, out)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, mapping every expected failure to one line."""
    try:
        code = app(args=argv, standalone_mode=False)
    except BenchhashError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("benchhash: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(0) from None
    except Exception as exc:
        # Typer's usage errors (bad flag, missing option) and its Exit/Abort come from click,
        # which newer Typer releases vendor; they are recognised by shape, not by class.
        kind = type(exc).__name__
        if kind == "Abort":
            print("benchhash: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        if kind == "Exit" or (hasattr(exc, "exit_code") and not hasattr(exc, "format_message")):
            raise SystemExit(getattr(exc, "exit_code", 0)) from None
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            fail(" ".join(exc.format_message().split()))
        raise
    # Typer (non-standalone) turns Ctrl-C inside a command into a returned exit code 130.
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        if code == 130:
            print("benchhash: interrupted", file=sys.stderr)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
