"""The workload interface the runner drives. A workload sets up on a device and offers one or
more phases (SHA-256d has one; an LLM has prefill and decode); each phase declares its unit of
work and runs for a requested window, reporting the work it did.

A workload declares its options as a typed model (``Options``: each field is the CLI flag of
that name), and answers what is special about it: the models its proofs follow, the checks
`verify` runs on its results, the figures economics takes from them. Nothing outside
workloads/ tests a workload by name."""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from benchhash.errors import InputError
from benchhash.results.build import Window
from benchhash.results.model import Binding, Device
from benchhash.workloads.econ_figures import EconFigures

if TYPE_CHECKING:
    from benchhash.results.model import Result, WorkloadResult


@dataclass(frozen=True)
class RunContext:
    """What makes a run this run, and this rank of it: its random id, start time, host and
    device (with its PCI bus id), its fleet rank and local rank, and the meter it reads. Evidence
    a workload keeps (SHA-256d shares) is derived from it, so it cannot be moved to another file,
    serve another rank, or be relabelled as another meter's."""

    run_id: str
    created_utc: str
    host: str
    device: str
    pci_bus_id: str | None = None
    rank: int | None = None
    local_rank: int | None = None
    meter: str = ""

    def seed(self, label: str) -> bytes:
        """16 bytes unique to this run, rank, meter and phase (see SEED_RULE)."""
        parts = (self.pci_bus_id or "", _text(self.rank), _text(self.local_rank), self.meter)
        return _seed(("benchhash-seed-v2", self.run_id, self.created_utc, self.host, self.device, *parts, label))

    def seed_v1(self, label: str) -> bytes:
        """The seed of files before v5 (SEED_RULE_V1: without rank, bus id or meter)."""
        return _seed(("benchhash-seed", self.run_id, self.created_utc, self.host, self.device, label))

    def binding(self, label: str) -> Binding:
        return Binding(seed=self.seed(label).hex(), rule=SEED_RULE)

    @classmethod
    def of(cls, result: Result) -> RunContext:
        """The context a result file says it was measured in (verify derives seeds from it)."""
        fleet, meter = result.fleet, result.environment.meter.get("name")
        return cls(result.run_id or "", result.created_utc, result.environment.host, result.device.name,
                   result.device.pci_bus_id, fleet.rank if fleet else None, fleet.local_rank if fleet else None,
                   meter if isinstance(meter, str) else "")


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _seed(parts: tuple[str, ...]) -> bytes:
    return hashlib.sha256("|".join(parts).encode("utf-8")).digest()[:16]


SEED_RULE = ("seed = SHA-256(UTF-8 of 'benchhash-seed-v2|' run_id '|' created_utc '|' environment.host "
             "'|' device.name '|' device.pci_bus_id '|' fleet.rank '|' fleet.local_rank '|' "
             "environment.meter.name '|' phase label)[:16], an absent value as the empty string")
#: The rule of files before v5: ranks of one fleet on one host, and a relabelled meter, got the
#: same seed.
SEED_RULE_V1 = ("seed = SHA-256(UTF-8 of 'benchhash-seed|' run_id '|' created_utc '|' environment.host "
                "'|' device.name '|' phase label)[:16]")


class Options(BaseModel):
    """A workload's options. Each field is the CLI flag of the same name (gemm_size is
    --gemm-size); None means not given (the workload's own default), 0 and False are values."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> Self:
        """The options among ``flags`` (every flag of the command), validated; a bad value is
        an InputError naming the flag."""
        values = {k: v for k, v in flags.items() if k in cls.model_fields and v is not None}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise flag_error(exc) from None

    def recorded(self) -> dict[str, Any]:
        """What the result's config.options keeps of these (given values and defaults)."""
        return self.model_dump(mode="json", exclude_none=True)


def flag_error(exc: ValidationError) -> InputError:
    """An option's validation error as one line naming its flag (--gemm-size: ...)."""
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else ""
    return InputError(msg if not flag or flag in msg else f"{flag}: {msg}")


class Phase(ABC):
    """One measured activity of a workload, e.g. 'scan' or 'decode.b16'."""

    name: str = "run"
    unit: str = "op"    # singular: hash, FLOP, token

    @abstractmethod
    def run(self, seconds: float, stop: threading.Event, trial: int | None) -> Window:
        """Work for about ``seconds`` (or until ``stop``); ``trial`` is None during warm-up."""

    def compile(self) -> bool:
        """Compile, capture, load or allocate what the phase needs (torch.compile, CUDA graphs,
        a kernel's first load), before warm-up and outside every energy window; the runner
        records its duration as ``compile_s``. Returns False when there was nothing to do."""
        return False

    def close(self) -> None:
        """Release what the phase holds (buffers, graphs, global flags) after its trials, also
        when it failed."""

    def notes(self) -> list[str]:
        """What a reader of this phase's figures must know (e.g. it ran eager because compiling
        failed); shown among the phase's warnings."""
        return []

    def prepare(self, rate_estimate: float | None, trial_seconds: float) -> None:
        """Called after warm-up with its last rate (None when there was none)."""

    def rebind(self, label: str) -> None:
        """The phase is measured again as a phase of its own, under this label (at another power
        limit): a phase whose proofs are bound to its label starts them afresh under it."""

    def params(self) -> dict[str, Any]:
        """Parameters that decide whether two results of this phase are comparable."""
        return {}

    def summary(self, windows: list[Window]) -> dict[str, Any]:
        """Phase-level figures derived from its trials (e.g. % of peak, MFU, MBU, J/token need
        energy too: build.py adds per-joule figures); {} when there are none."""
        return {}

    def proof_context(self) -> dict[str, Any] | None:
        """Phase-wide evidence (e.g. SHA-256d headers and share target), after the trials."""
        return None


@dataclass(frozen=True)
class PhaseFigures:
    """A measured phase as economics sees it: its rate and the watts of that work (None when
    the work was not metered), from one result or per device of a fleet, with the phase's own
    metrics where its workload's econ_figures reads one (a serve phase's p99 TPOT; a fleet file
    keeps none: economics asks the rank files beside it and takes the slowest device's)."""

    phase: str
    rate: float | None
    average_w: float | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, w: WorkloadResult) -> PhaseFigures:
        metered = w.efficiency.work_per_joule is not None
        return cls(w.phase, w.stats.rate.median if w.stats.rate else None,
                   w.energy.average_w if metered else None, dict(w.params), dict(w.metrics))


class Workload(ABC):
    """Registered by name in workloads/__init__.py; the runner knows only this interface."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: The unit of work of its phases (singular: hash, FLOP, token); verify refuses a phase in
    #: another (a lookalike unit is another unit). None: its phases say.
    unit: ClassVar[str | None] = None
    #: Part of a plain `benchhash run` on devices of these kinds.
    default_on: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    #: The options this workload takes.
    options_model: ClassVar[type[Options]] = Options
    #: The version of what its phases measure: moved when the work a phase does, or how its unit
    #: is counted, changes so that rates before and after differ for that reason alone. Each
    #: phase records it (params.workload_version), and `compare` refuses a pair of two versions.
    version: ClassVar[int | str] = 1
    #: (phase-wide, per-trial) models its proofs of work follow, when it keeps any.
    proof_models: ClassVar[tuple[type[BaseModel], type[BaseModel]] | None] = None

    def __init__(self, device: Device, options: Options | None = None) -> None:
        self.device = device
        self.options = options if options is not None else self.options_model()
        #: set by the session before setup(); None when driven directly (tests, scripts)
        self.context: RunContext | None = None

    @classmethod
    def check_result(cls, w: WorkloadResult, result: Result) -> list[str]:
        """What `verify` finds wrong with a phase of this workload (in ``result``) beyond what
        holds for every workload (e.g. SHA-256d shares that do not re-hash); [] when nothing."""
        return []

    @classmethod
    def proven(cls, w: WorkloadResult, result: Result) -> list[str]:
        """What a phase's evidence proves, in words, once check_result found nothing wrong."""
        return []

    @classmethod
    def unproven(cls, w: WorkloadResult, result: Result) -> list[str]:
        """What a phase claims that its evidence cannot show (in a file from before the rules
        that would), in words: verify says it, and the commands that price, merge or compare
        refuse the file unless told to accept it. A phase from before v5 is not bound to its run."""
        if result.stored_version >= 5:
            return []
        return [f"{w.label}: not bound to its run (schema {result.stored_version}, before v5): it could have been "
                "moved from another file"]

    @classmethod
    def evidence(cls, w: WorkloadResult) -> set[tuple[str, int]]:
        """The units of a phase's evidence (SHA-256d: its shares, by header and nonce): none may
        serve two ranks of a fleet or two merged files. Empty when it keeps none."""
        return set()

    @classmethod
    def phase_names(cls) -> str | None:
        """A regular expression every phase name of this workload matches (verify refuses
        others); None: any name."""
        return None

    @classmethod
    def max_rate(cls, w: WorkloadResult, result: Result) -> tuple[float, str] | None:
        """The most work per second this phase could do on the device the file names, with
        why (verify refuses more); None when there is no bound to give."""
        return None

    @classmethod
    def econ_figures(cls, f: PhaseFigures) -> EconFigures:
        """What economics takes from a measured phase of this workload (one device's, or a
        fleet's per device): those of EconFigures' figures that apply; none by default."""
        return EconFigures()

    def expected_phases(self) -> int:
        """How many phases setup() will create (for progress estimates)."""
        return 1

    @abstractmethod
    def setup(self) -> None:
        """Allocate, compile, load: everything that must not be timed."""

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The phases to measure, in order (valid after setup)."""

    def synchronize(self) -> None:
        """Wait until the device has finished queued work (before each energy reading)."""

    def backend(self) -> str | None:
        """What executes the work (e.g. 'cpu', 'cuda', 'torch'), for the result."""
        return None

    def device_name(self) -> str:
        return self.device.name

    def notes(self) -> list[str]:
        """What a reader of every phase of this workload must know (e.g. it fell back to the
        CPU, with the reason)."""
        if self.device.is_mig and self.metered():
            return [f"MIG instance {self.device.mig_profile}: energy and power are the whole "
                    "card's (every instance on it), so per-joule figures understate this "
                    "instance's efficiency; peaks are scaled to its share"]
        return []

    def metered(self) -> bool:
        """Whether the run's meter reads the device this workload's work runs on (False e.g.
        when sha256d fell back to the CPU on a GPU run: per-joule figures would be wrong)."""
        return True

    def teardown(self) -> None:
        """Release what setup() took."""
