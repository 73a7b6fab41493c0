"""`benchhash scan`: nonces of a header, searched for hashes at or below a target."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from benchhash.cli.app import err, out, parse_int, progress
from benchhash.errors import InputError
from benchhash.sha256d.header import BlockHeader, parse_hex


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
