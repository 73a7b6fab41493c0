"""GPU power limits through the GPU's own library (hw.gpu: NVML, AMD SMI), for
`run --power-limits`: the levels asked for, parsed and clamped to the device's constraints;
setting each in turn; and the original limit put back whatever happens: at the end, on Ctrl-C or
SIGTERM, after an exception, and after a kill -9 on the next start, from a small record written
to the cache folder before the first change.

A record names its host, GPU (PCI bus id, vendor), the limit to put back, and the process that
changed it (pid, its start time and the boot): the limit of a dead process's record is put back;
a live process's record means another run is changing that GPU's limit, and a second one is
refused."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from benchhash.errors import BenchhashError, InputError, hold_signals
from benchhash.fsutil import cache_dir, os_reason, write_atomic
from benchhash.hw.gpu import GPU, GpuError, Limits, NoPermission, NotSupported
from benchhash.hw.gpus import open_gpu, vendor_of
from benchhash.results.model import Device

__all__ = ["Caps", "Capped", "Levels", "Limits", "PowerLimitError", "Record", "capped", "recover"]

log = logging.getLogger(__name__)

SWEEP = "sweep"
#: `--power-limits sweep`: this many levels from the device's maximum down to its minimum.
SWEEP_STEPS = 8
MAX_LEVELS = 32
#: seconds to wait after a change before the phase's warm-up (the warm-up then waits for the
#: rate and power to settle, as it does at any limit)
SETTLE_S = 2.0
ENFORCE_WAIT_S = 1.0    # after settling, how long the enforced limit may take to show the one set
ENFORCE_POLL_S = 0.05
NEEDS = ("changing a GPU's power limit needs root (or the CAP_SYS_ADMIN capability) on a whole "
         "GPU with power management")


class PowerLimitError(BenchhashError):
    """A power limit cannot be read, set or put back; the message says what is needed."""


# --- what the user asked for -------------------------------------------------------------------
@dataclass(frozen=True)
class Levels:
    """`--power-limits` as typed, parsed once where the command line is read: the watts to
    measure every phase at, in order (None: the GPU's default limit, 'max'), or a sweep of
    SWEEP_STEPS levels from the device's maximum down. resolve() turns it into the GPU's watts;
    those go to the file (config.power_limits_w, each phase's params.power_limit_w and a
    failure's power_limit_w)."""

    watts: tuple[float | None, ...] = ()
    sweep: bool = False

    @classmethod
    def parse(cls, text: str) -> Levels:
        """'300,400,max' -> 300 W, 400 W and the default; 'sweep' -> a sweep; else a one-line
        InputError."""
        t = text.strip().lower()
        if t == SWEEP:
            return cls(sweep=True)
        parts = [p.strip().removesuffix("w").strip() for p in t.split(",")]
        if not t or any(not p for p in parts):
            raise InputError(f"--power-limits {text!r}: give watts separated by commas (e.g. 300,400,max) or 'sweep'")
        if len(parts) > MAX_LEVELS:
            raise InputError(f"--power-limits takes at most {MAX_LEVELS} levels, got {len(parts)}")
        return cls(watts=tuple(_watts(p) for p in parts))

    def __str__(self) -> str:
        return SWEEP if self.sweep else ",".join("max" if w is None else f"{w:g}" for w in self.watts)

    def resolve(self, lim: Limits) -> tuple[list[float], list[str]]:
        """The levels to measure at, in watts, each within the device's constraints, in the
        order given (a sweep: from the maximum down, so that a cut-short sweep still has the
        uncapped end); and what was changed on the way (clamped, repeated), to be said."""
        notes: list[str] = []
        if self.sweep:
            step = (lim.max_w - lim.min_w) / (SWEEP_STEPS - 1)
            wanted: list[float] = [round(lim.max_w - i * step) for i in range(SWEEP_STEPS)]
        else:
            wanted = []
            for w in self.watts:
                if w is None:
                    wanted.append(lim.default_w)
                elif w < lim.min_w or w > lim.max_w:
                    edge = lim.min_w if w < lim.min_w else lim.max_w
                    notes.append(f"{w:g} W is outside this GPU's {lim.min_w:g}-{lim.max_w:g} W: measured at {edge:g} W")
                    wanted.append(edge)
                else:
                    wanted.append(float(w))
        levels = [float(min(max(w, lim.min_w), lim.max_w)) for w in wanted]
        unique = list(dict.fromkeys(levels))
        if len(unique) < len(levels):
            notes.append("a level given twice (after clamping) is measured once")
        return unique, notes


def _watts(part: str) -> float | None:
    """One level of --power-limits: a positive number of watts, or max/default (None)."""
    if part in ("max", "default"):
        return None
    try:
        w = float(part)
    except ValueError:
        raise InputError(f"--power-limits: {part!r} is not a number of watts, 'max' or 'sweep'") from None
    if not math.isfinite(w) or w <= 0:
        raise InputError(f"--power-limits: {part!r} must be a positive number of watts")
    return w


# --- the record that outlives a killed run -------------------------------------------------------
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass(frozen=True)
class Record:
    host: str
    pci_bus_id: str
    original_w: float
    set_w: float | None
    pid: int
    pid_started: str | None
    boot_id: str | None
    uuid: str | None = None
    vendor: str | None = None          # None in records from before AMD: NVIDIA's tried first

    def alive(self) -> bool:
        """Whether the process that wrote this record still runs (on this boot)."""
        if self.boot_id and _boot_id() and self.boot_id != _boot_id():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass                               # another user's process: it exists
        started = _started(self.pid)
        return self.pid_started is None or started is None or started == self.pid_started

    def rebooted(self) -> bool:
        """The machine restarted since: the driver has put the default limit back itself."""
        return bool(self.boot_id and _boot_id() and self.boot_id != _boot_id())


def records_dir() -> Path:
    return cache_dir() / "power-limits"


def record_path(host: str, bus: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{host}_{bus}")
    return records_dir() / f"{safe}.json"


def records(host: str | None = None) -> list[tuple[Path, Record | None]]:
    """The records left in the cache (None for one that cannot be read), this host's only
    when a host is given (a cache on a shared home is seen by every node)."""
    folder = records_dir()
    if not folder.is_dir():
        return []
    out: list[tuple[Path, Record | None]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            rec: Record | None = Record(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            rec = None
        if host is None or rec is None or rec.host == host:
            out.append((path, rec))
    return out


def _save(rec: Record) -> Path:
    path = record_path(rec.host, rec.pci_bus_id)
    try:
        return write_atomic(path, json.dumps(asdict(rec), indent=1) + "\n")
    except OSError as exc:
        raise PowerLimitError(f"cannot record the GPU's original power limit in {path} ({os_reason(exc)}): "
                              "without it a killed run could leave the limit changed, so none is changed") from None


# --- one GPU's limit -----------------------------------------------------------------------------
def restore(gpu: GPU, path: Path, rec: Record) -> bool:
    """Put the record's limit back and drop the record; on failure keep it (said) for the next
    start. Signals wait meanwhile: a second Ctrl-C must not leave the GPU capped."""
    with hold_signals() as held:
        try:
            gpu.set_power_limit(rec.original_w)
        except GpuError as exc:
            log.error("could not put GPU %s's power limit back to %g W (%s); the record %s stays and the "
                      "next `benchhash run` tries again (or: nvidia-smi -i %s -pl %g)",
                      rec.pci_bus_id, rec.original_w, exc, path, rec.pci_bus_id, rec.original_w)
            ok = False
        else:
            path.unlink(missing_ok=True)
            ok = True
    if held.error is not None:
        raise held.error
    return ok


def recover(host: str | None = None) -> list[str]:
    """Put back the limits that killed runs on this host left changed (a record whose process is
    gone); what was done, as sentences. Records of running processes are left alone."""
    host = host or socket.gethostname()
    done: list[str] = []
    stale = [(p, r) for p, r in records(host) if r is None or not r.alive()]
    if not stale:
        return done
    for path, rec in stale:
        if rec is None:
            log.warning("unreadable power-limit record %s: left as it is (remove it by hand)", path)
            continue
        if rec.rebooted():
            path.unlink(missing_ok=True)
            done.append(f"GPU {rec.pci_bus_id}: the machine restarted since pid {rec.pid} capped it; record dropped")
            continue
        try:
            with open_gpu(pci_bus_id=rec.pci_bus_id, vendor=rec.vendor) as gpu:
                ok = restore(gpu, path, rec)
        except BenchhashError as exc:          # the library missing or refusing: said, the record stays
            log.error("cannot put GPU %s's power limit back to %g W (%s); the record %s stays",
                      rec.pci_bus_id, rec.original_w, exc, path)
            continue
        if ok:
            done.append(f"GPU {rec.pci_bus_id}: power limit put back to {rec.original_w:g} W "
                        f"(left at {rec.set_w:g} W by benchhash pid {rec.pid}, which did not finish)"
                        if rec.set_w is not None else
                        f"GPU {rec.pci_bus_id}: power limit put back to {rec.original_w:g} W (pid {rec.pid})")
    for line in done:
        log.warning("%s", line)
    return done


# --- a run's limits ------------------------------------------------------------------------------
class Caps:
    """The limits a run measures each phase at. This base changes nothing: one level, None (the
    GPU's limit as it is)."""

    levels: list[float | None] = [None]

    def apply(self, watts: float | None) -> None:
        """Set the level (None: leave the limit as it is)."""

    def enforced_w(self, watts: float | None) -> float | None:
        """The limit in force after `apply` and the settling time (None: nothing set)."""
        return None

    def settle_s(self, watts: float | None) -> float:
        return 0.0


class Capped(Caps):
    """The levels of one GPU, set through its library; every change is first noted in the record."""

    def __init__(self, gpu: GPU, path: Path, rec: Record, levels: list[float]) -> None:
        self.gpu, self.path, self.rec = gpu, path, rec
        self.levels = list(levels)

    def apply(self, watts: float | None) -> None:
        if watts is None:
            return
        if watts != self.rec.set_w:
            self.rec = Record(**{**asdict(self.rec), "set_w": watts})
            _save(self.rec)
        try:
            self.gpu.set_power_limit(watts)
        except GpuError as exc:
            raise PowerLimitError(f"cannot set GPU {self.rec.pci_bus_id}'s power limit to {watts:g} W: {exc}") from None

    def enforced_w(self, watts: float | None) -> float | None:
        if watts is None:
            return None
        deadline = time.monotonic() + ENFORCE_WAIT_S
        try:
            while abs((enforced := self.gpu.enforced_power_limit_w()) - watts) > 1 and time.monotonic() < deadline:
                time.sleep(ENFORCE_POLL_S)          # the driver has not applied it yet, or never will
        except GpuError as exc:       # the limit was set; only the reading back failed: said
            log.warning("cannot read GPU %s's enforced power limit: %s", self.rec.pci_bus_id, exc)
            return None
        if abs(enforced - watts) > 1:
            log.warning("asked for a %g W power limit, %s enforces %g W", watts, self.gpu.library, enforced)
        log.info("power limit %g W (enforced %g W)", watts, enforced)
        return enforced

    def settle_s(self, watts: float | None) -> float:
        return SETTLE_S if watts is not None else 0.0


def _refusal(device: Device) -> str | None:
    if device.kind != "cuda":
        return (f"--power-limits needs a GPU with power management; this run measures a CPU ({device.name}): "
                "run on a GPU (--device cuda)")
    if device.mig_profile is not None:
        return (f"--power-limits needs a whole GPU: {device.name} is a MIG slice, whose power limit is the "
                "whole card's. Run on the GPU with MIG mode off")
    if not device.pci_bus_id:
        return f"--power-limits: no PCI bus id for {device.name}, so its library cannot find the GPU to cap"
    return None


def _probe(gpu: GPU) -> Limits:
    """The limits, and a set to the current value (changes nothing) to learn up front whether
    this process may change them."""
    try:
        lim = gpu.power_limits()
        gpu.set_power_limit(lim.current_w)
    except NoPermission:
        raise PowerLimitError(f"--power-limits: {gpu.library} refused (no permission); {NEEDS}") from None
    except NotSupported:
        raise PowerLimitError(f"--power-limits: this GPU or driver does not let {gpu.library} change its power "
                              f"limit; {NEEDS}") from None
    except GpuError as exc:
        raise PowerLimitError(f"--power-limits: {exc}") from None
    return lim


def _owner(host: str, bus: str) -> Record | None:
    """The record a crashed run left for this GPU (its original limit is the one to keep); a
    live run's record means this GPU is already being capped: refused."""
    for path, rec in records(host):
        if rec is None or rec.pci_bus_id != bus:
            continue
        if rec.alive() and rec.pid != os.getpid():
            raise PowerLimitError(f"another benchhash run (pid {rec.pid}) is changing GPU {bus}'s power limit "
                                  f"(record {path}); wait for it to end")
        return rec
    return None


def _start(gpu: GPU, device: Device, asked: Levels) -> Capped:
    """The checks, the levels and the record, before the first change."""
    assert device.pci_bus_id is not None
    host = socket.gethostname()
    lim = _probe(gpu)
    levels, notes = asked.resolve(lim)
    for n in notes:
        log.warning("--power-limits: %s", n)
    left = _owner(host, device.pci_bus_id)
    rec = Record(host=host, pci_bus_id=device.pci_bus_id,
                 original_w=left.original_w if left is not None else lim.current_w, set_w=None,
                 pid=os.getpid(), pid_started=_started(os.getpid()), boot_id=_boot_id(), uuid=gpu.uuid(),
                 vendor=gpu.vendor)
    return Capped(gpu, _save(rec), rec, levels)


@contextlib.contextmanager
def capped(device: Device, asked: Levels | None) -> Iterator[Caps]:
    """The run's limits for the block, and the original limit back after it, however the block
    ends. ``asked`` is --power-limits (None: no change, nothing checked). Everything that would
    stop a sweep is checked on entry, before anything runs."""
    if asked is None:
        yield Caps()
        return
    why = _refusal(device)
    if why:
        raise PowerLimitError(why)
    with contextlib.ExitStack() as stack:
        try:
            gpu = stack.enter_context(open_gpu(device.index, device.pci_bus_id, vendor_of(device)))
        except BenchhashError as exc:
            raise PowerLimitError(f"--power-limits: {exc}") from None
        caps = _start(gpu, device, asked)
        try:
            yield caps
        finally:
            restore(caps.gpu, caps.path, caps.rec)
