"""`benchhash run`: measure the workloads and write a result (alone or as a fleet's rank)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from benchhash.cli.app import ARGV, err, fail, interrupted, log, out, progress
from benchhash.errors import BenchhashError, FleetBroken, InputError


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
    opt: Annotated[list[str] | None, typer.Option(
        "--opt", metavar="WORKLOAD.NAME=VALUE",
        help="a workload's option (repeatable), e.g. gemm.size=4096 or llm.kv_span=full; plug-in workloads "
             "take theirs this way; the workload flags above are aliases; each workload's options: benchhash info"
    )] = None,
) -> None:
    """Measure each workload's rate and energy (warm-up, trials, statistics) and write a result;
    under torchrun, srun or a PyTorchJob (or with --all-gpus) as one rank of a fleet."""
    from benchhash import session
    from benchhash.hw.power import Levels
    from benchhash.workloads.options import parse_settings

    if all_gpus:
        _all_gpus(device)
    if not 1 <= fleet_timeout <= 86_400:
        raise InputError(f"--fleet-timeout must be between 1 and 86400 s, got {fleet_timeout:g}")
    aliases = {"threads": threads, "cpu_kernel": cpu_kernel, "gemm_dtypes": gemm_dtypes, "gemm_size": gemm_size,
               "gemm_sweep": gemm_sweep, "llm_preset": llm_preset, "llm_batches": llm_batches,
               "no_compile": no_compile, "llm_phases": llm_phases, "serve_lengths": serve_lengths,
               "serve_concurrency": serve_concurrency, "serve_rate": serve_rate, "serve_slo_ms": serve_slo_ms}
    req = session.Request(device=device, workloads=workloads, duration_s=duration, trials=trials,
                          warmup_s=warmup, idle_s=idle, quick=quick, out=out_path, notes=notes,
                          meter=meter, command_line=tuple(sys.argv), force=force,
                          fleet_timeout_s=fleet_timeout,
                          power_limits=None if power_limits is None else Levels.parse(power_limits),
                          flags=aliases, settings=parse_settings(opt))
    _end(_measure(req, as_json, sign_with))


def _all_gpus(device: str) -> None:
    """--all-gpus: this command again as one rank per GPU of this node; ends with their exit code."""
    from benchhash.fleet.launch import run_all, strip_flag
    from benchhash.fleet.ranks import from_env
    if from_env() is not None:
        raise InputError("--all-gpus starts its own ranks: not under torchrun or srun")
    if device.strip().lower() == "cpu" or device.strip().lower().startswith("cuda:"):
        raise InputError(f"--all-gpus takes every GPU, one per rank: not with --device {device}")
    raise SystemExit(run_all(strip_flag(ARGV, "--all-gpus")))


def _measure(req: Any, as_json: bool, sign_with: str | None) -> Any:
    """The run (alone, or as this process's rank of a fleet) with its progress on stderr, and
    its answer on stdout; the session's Outcome."""
    from benchhash import session
    from benchhash.fleet.ranks import from_env
    from benchhash.report.progress import RunProgress
    from benchhash.results.sign import load_key
    cfg = req.config()
    key = load_key(sign_with) if sign_with else None       # a bad key is said before the run
    rank = from_env()
    bars_on = err.is_terminal and not as_json and rank is None
    with RunProgress(err, session.plan_seconds(cfg, 1), bars_on) as bars:
        if rank is None:
            outcome = session.run(req, bars, key)
        else:
            from benchhash.fleet.run import run_rank
            outcome = run_rank(req, rank, bars, key)
    _show_run(outcome, as_json, rank is None or rank.rank == 0, rank is None)
    return outcome


def _end(outcome: Any) -> None:
    """Where the result went, the next command, and the exit code: 0, or 1 when a phase failed
    or the file went elsewhere; a stop or an error ends as it would have (_reraise)."""
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
        interrupted(error)
    if isinstance(error, FleetBroken):
        log.error("%s; this rank's measurements are in its file", error)
        raise SystemExit(1)
    if isinstance(error, BenchhashError):
        fail(str(error))
    raise error
