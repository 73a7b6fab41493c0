"""The result, as pydantic models: one model per concept, used by the run as it goes (a meter's
reading, a trial, a phase, a failure) and by everything that reads a result file (verify,
compare, merge, report, econ). The JSON Schema in results/schema/ is generated from these
(`benchhash schema`), and a test keeps the two in step.

``schema_version`` changes when the file's shape changes; ``methodology_version`` when the way of
measuring changes (warm-up rule, what a trial is, what a unit of work counts), so that
comparisons can refuse apples to oranges even between files of the same shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from benchhash.errors import InputError
from benchhash.units import parse_utc

SCHEMA_VERSION: Literal[6] = 6
METHODOLOGY_VERSION = 4
#: A failure's message is cut to this many characters (compiler logs can be megabytes).
MAX_MESSAGE = 600
#: Shorter trials measure timer and launch overheads, not the work.
MIN_DURATION_S = 0.01

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
HeaderHex = Annotated[str, Field(pattern=r"^[0-9a-f]{160}$")]


def _real_time(value: str) -> str:
    """A UTC stamp that is a time of the calendar (no February 30, no month 13)."""
    parse_utc(value)
    return value


UtcTime = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"),
                    AfterValidator(_real_time)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- statistics and energy -----------------------------------------------------------------------
class Stats(Model):
    """Over the trials of one phase (raw samples are in ``trials``)."""

    n: int = Field(ge=1)
    median: Finite
    mad: NonNeg
    mean: Finite
    stdev: NonNeg | None
    min: Finite
    max: Finite


class Telemetry(Model):
    samples: int = Field(ge=0)
    power_w_mean: NonNeg | None = None
    power_w_max: NonNeg | None = None
    sm_clock_mhz_median: NonNeg | None = None
    sm_clock_mhz_min: NonNeg | None = None
    temperature_c_first: Finite | None = None
    temperature_c_last: Finite | None = None
    temperature_c_max: Finite | None = None
    throttle_share: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}


class Energy(Model):
    """One window's energy. ``energy_j`` is null (never 0) when nothing could measure it."""

    seconds: NonNeg
    energy_j: NonNeg | None
    average_w: NonNeg | None
    method: str
    reason: str | None = None
    counter_energy_j: NonNeg | None = None
    polled_energy_j: NonNeg | None = None
    gap_pct: Finite | None = None
    domains_j: dict[str, NonNeg | None] = {}
    warnings: list[str] = []


class Reading(Model):
    """What a meter read over one window: its energy and the telemetry polled meanwhile (a trial
    stores the two side by side)."""

    energy: Energy
    telemetry: Telemetry | None = None


# --- trials and phases -------------------------------------------------------------------------
class Trial(Model):
    index: int = Field(ge=0)
    work: NonNeg
    seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    rate: NonNeg
    work_per_joule: NonNeg | None
    energy: Energy
    telemetry: Telemetry | None = None
    metrics: dict[str, Any] = Field(default={}, description="workload-specific figures of this trial")
    proof: dict[str, Any] | None = Field(
        default=None, description="evidence of the work, per workload (sha256d: Sha256dTrialProof)")
    started_unix_s: Finite | None = Field(default=None, description="wall clock when the window opened")
    ended_unix_s: Finite | None = Field(default=None, description="wall clock when the window closed")
    started_fleet_s: Finite | None = Field(
        default=None, description="in a fleet: when the window opened on rank 0's clock (offset measured "
                                  "over the process group, no NTP needed)")


class WarmupWindow(Model):
    seconds: NonNeg
    rate: NonNeg
    power_w: NonNeg | None


class Warmup(Model):
    max_s: NonNeg
    seconds: NonNeg
    settled: bool
    windows: list[WarmupWindow]


class PhaseStats(Model):
    rate: Stats | None
    work_per_joule: Stats | None
    power_w: Stats | None


class EnergySummary(Model):
    """Summed over the trials."""

    energy_j: NonNeg | None
    average_w: NonNeg | None
    method: str
    reason: str | None
    counter_energy_j: NonNeg | None
    polled_energy_j: NonNeg | None
    gap_pct: Finite | None


class Efficiency(Model):
    work_per_joule: NonNeg | None = Field(description="median over trials")
    joules_per_unit: NonNeg | None
    unit: str = Field(description="e.g. hash/J")


class Validity(Model):
    valid: bool
    warnings: list[str]


Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
#: Other processes' share of all CPUs' time at which a phase ran on a shared machine: a phase
#: bound by the CPU loses about that share of its rate, and 5 % is compare's default regression
#: threshold, so from there the load alone could make a regression compare fails on.
BUSY_SHARE = 0.05


class Load(Model):
    """How busy the machine was around one phase (a rate measured while others took the CPUs
    is not the device's alone); null where the system does not say (not Linux, no /proc)."""

    cpus: int | None = Field(default=None, ge=1, description="logical CPUs the shares are of")
    load_avg_1m_before: NonNeg | None = Field(
        default=None, description="1-minute load average as the phase began (before its compile)")
    load_avg_1m_after: NonNeg | None = Field(default=None, description="... as its last trial ended")
    own_cpu_share: Share | None = Field(
        default=None, description="this process's share of all CPUs' time during the trials")
    others_cpu_share: Share | None = Field(
        default=None, description="everything else's share of all CPUs' time during the trials: other "
                                  "processes, the kernel and, in a VM, other guests (steal)")
    reason: str | None = Field(default=None, description="why a reading is null")

    @property
    def shared(self) -> str | None:
        """Said when others took BUSY_SHARE or more of the CPUs during the trials, else None."""
        if self.others_cpu_share is None or self.others_cpu_share < BUSY_SHARE:
            return None
        avg = (f"; load average {self.load_avg_1m_before:.1f} before, {self.load_avg_1m_after:.1f} after"
               if self.load_avg_1m_before is not None and self.load_avg_1m_after is not None else "")
        return (f"the machine was shared: other processes used {100 * self.others_cpu_share:.0f} % of its "
                f"{self.cpus or '?'} CPUs' time during the trials{avg}; a rate that needs the CPU may be "
                "lower by about as much")


class Binding(Model):
    """What ties a phase to its run (from v5): a seed that follows from the file by a rule anyone
    can redo (the run id, start time, host, device, its PCI bus id, the fleet rank and local rank,
    the meter and the phase's label). SHA-256d's headers come from it, so its shares belong to
    this run, rank and meter; for the other workloads it names the run, device and meter a phase
    was measured in, so a phase moved from another file or relabelled fails."""

    seed: str = Field(pattern=r"^[0-9a-f]{32}$")
    rule: str = Field(description="how the seed follows from the file")


def label(workload: str, phase: str | None, power_limit_w: float | None = None) -> str:
    """How a phase is named to a person: 'gemm bf16', 'llm decode.b16', 'sha256d scan', and at a
    power cap 'gemm bf16 @300W'."""
    name = workload if phase in (None, "", "run") else f"{workload} {phase}"
    return name if power_limit_w is None else f"{name} @{power_limit_w:g}W"


#: The params key of the power limit a phase ran at (`run --power-limits`); absent: untouched.
POWER_LIMIT = "power_limit_w"


def cap_of(params: dict[str, Any]) -> float | None:
    """The power limit in a phase's params (None: the GPU's limit was not changed)."""
    value = params.get(POWER_LIMIT)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class WorkloadResult(Model):
    workload: str
    phase: str
    unit: str
    rate_unit: str
    device: str
    backend: str | None
    params: dict[str, Any]
    complete: bool
    warmup: Warmup | None
    trials: list[Trial]
    stats: PhaseStats
    energy: EnergySummary
    efficiency: Efficiency
    validity: Validity
    metrics: dict[str, Any] = Field(
        default={}, description="workload-specific figures of the phase (e.g. pct_of_peak, mfu, mbu)")
    proof: dict[str, Any] | None = Field(
        default=None, description="phase-wide evidence, per workload (sha256d: Sha256dProof)")
    compile_s: NonNeg | None = Field(
        default=None, description="seconds of the phase's own compile/capture step before warm-up "
                                  "(torch.compile, CUDA graphs, kernel load); never inside a trial")
    load: Load | None = Field(default=None, description="how busy the machine was (null in files before v4)")
    binding: Binding | None = Field(default=None, description="what ties the phase to this run (null in files "
                                                              "before v5)")

    @property
    def power_limit_w(self) -> float | None:
        """The power limit the phase ran at (part of its identity), None when not changed."""
        return cap_of(self.params)

    @property
    def key(self) -> tuple[str, str, float | None]:
        """What makes a phase itself: compare, merge and economics pair phases by it."""
        return (self.workload, self.phase, self.power_limit_w)

    @property
    def label(self) -> str:
        return label(self.workload, self.phase, self.power_limit_w)


class Failure(Model):
    """A workload or phase that could not run or stopped with an error; the run went on."""

    workload: str
    phase: str | None = Field(description="null when the workload failed before its phases")
    stage: str = Field(description="create | setup | fleet | compile | power limit | warmup | trial | summary | "
                                   "proof | teardown | build")
    error: str = Field(description="the exception's type")
    message: str
    power_limit_w: NonNeg | None = Field(
        default=None, description="the power limit the phase was at (run --power-limits); null: untouched")

    @classmethod
    def of(cls, workload: str, phase: str | None, stage: str, exc: BaseException,
           power_limit_w: float | None = None) -> Failure:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return cls(workload=workload, phase=phase, stage=stage, error=type(exc).__name__,
                   message=text[:MAX_MESSAGE], power_limit_w=power_limit_w)

    @property
    def label(self) -> str:
        return label(self.workload, self.phase, self.power_limit_w)


# --- environment -------------------------------------------------------------------------------
class Git(Model):
    commit: str | None
    dirty: bool | None
    reason: str | None = None


class Cpu(Model):
    model: str | None
    arch: str | None
    logical_cores: int | None
    usable_cores: int | None
    flags: dict[str, bool]


class PowerLimits(Model):
    current_w: NonNeg | None = None
    default_w: NonNeg | None = None
    enforced_w: NonNeg | None = None
    min_w: NonNeg | None = None
    max_w: NonNeg | None = None


class Clocks(Model):
    sm_mhz: NonNeg | None = None
    memory_mhz: NonNeg | None = None
    graphics_mhz: NonNeg | None = None


class Modes(Model):
    current: bool | None = None
    pending: bool | None = None


class Temperatures(Model):
    before: Finite | None = None
    after: Finite | None = None
    max: Finite | None = None


class Throttle(Model):
    union: list[str] = []
    share: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}


class Gpu(Model):
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    vbios: str | None = None
    driver: str | None = None
    cuda_driver_version: str | None = None
    memory_total_bytes: int | None = None
    power_limits: PowerLimits = PowerLimits()
    persistence_mode: bool | None = None
    mig_mode: Modes = Modes()
    ecc_mode: Modes = Modes()
    clocks_current: Clocks = Clocks()
    clocks_max: Clocks = Clocks()
    clocks_application: Clocks = Clocks()
    temperature_c: Temperatures = Temperatures()
    throttle: Throttle = Throttle()
    measured: bool = False
    unavailable: dict[str, str] = Field(default={}, description="field -> why NVML gave none")


class Environment(Model):
    host: str
    os: str
    python: str
    packages: dict[str, str | None]
    git: Git
    command_line: list[str]
    notes: str | None
    cpu: Cpu
    gpus: list[Gpu]
    gpu_reason: str | None
    meter: dict[str, Any]


class Device(Model):
    """The device a run measures: the CPU, a GPU (found by CuPy or torch; NVML finds the same
    GPU by its PCI bus id) or a MIG instance of one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cpu", "cuda"]
    index: int = Field(default=0, ge=0)
    label: str = Field(default="", description="cpu or cuda:I")
    name: str = "cpu"
    pci_bus_id: str | None = None
    sm_count: int | None = Field(default=None, description="streaming multiprocessors (cuda)")
    memory_bytes: int | None = None
    mig_profile: str | None = Field(default=None, description="e.g. 3g.40gb on a MIG instance")
    explicit: bool = Field(default=False, exclude=True,
                           description="asked for by name (--device cuda), not found by auto")

    @model_validator(mode="after")
    def _label(self) -> Device:
        want = "cpu" if self.kind == "cpu" else f"cuda:{self.index}"
        if not self.label:
            object.__setattr__(self, "label", want)
        return self

    @property
    def is_mig(self) -> bool:
        return self.mig_profile is not None


class Config(Model):
    """What a run was asked to do. The runner reads the timing fields; ``check`` says, as a
    user-facing error, what is out of range."""

    device: str = "auto"
    workloads: list[str] = []
    duration_s: NonNeg = 10.0
    trials: int = Field(default=3, ge=1)
    warmup_s: NonNeg = Field(default=10.0, description="upper bound; warm-up ends once settled")
    idle_s: NonNeg = 0.0
    quick: bool = False
    meter: str = "auto"
    options: dict[str, Any] = {}
    power_limits_w: list[NonNeg] = Field(
        default=[], description="the GPU power limits each phase was measured at, in order "
                                "(run --power-limits, clamped to the device); empty: the limit was not changed")

    @classmethod
    def for_run(cls, **values: Any) -> Config:
        """A config from what the user gave, each value out of range refused with the flag's
        name (before pydantic would refuse it less helpfully)."""
        duration = values.get("duration_s", 10.0)
        trials = values.get("trials", 3)
        warmup = values.get("warmup_s", 10.0)
        idle = values.get("idle_s", 0.0)
        if not MIN_DURATION_S <= duration <= 86_400:
            raise InputError(f"--duration must be between {MIN_DURATION_S:g} and 86400 s, got {duration:g}")
        if not 1 <= trials <= 1000:
            raise InputError(f"--trials must be between 1 and 1000, got {trials}")
        if not 0 <= warmup <= 3600:
            raise InputError(f"--warmup must be between 0 and 3600 s, got {warmup:g}")
        if not 0 <= idle <= 3600:
            raise InputError(f"--idle must be between 0 and 3600 s, got {idle:g}")
        return cls(**values)


class Idle(Model):
    """Measured before the workloads, recorded beside them, never subtracted from them."""

    seconds: NonNeg
    energy_j: NonNeg | None
    average_w: NonNeg | None
    method: str
    reason: str | None
    telemetry: Telemetry | None = None


class FleetRank(Model):
    """This file's place in a fleet run: every rank measured the same plan in lockstep."""

    run_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="shared by every rank of the fleet")
    rank: int = Field(ge=0)
    world_size: int = Field(ge=1)
    local_rank: int = Field(ge=0)
    node_rank: int = Field(ge=0)
    launcher: str = Field(description="torchrun | slurm | benchhash (--all-gpus)")
    clock_offset_s: Finite = Field(description="this rank's monotonic clock minus rank 0's")
    clock_rtt_s: NonNeg = Field(description="round trip of the best offset probe (its uncertainty)")
    node_meter: bool = Field(description="this rank reads the node-level (CPU) energy for its node")


class Integrity(Model):
    """SHA-256 of the canonical JSON of the file without its integrity and signature fields:
    it shows that nothing was edited since, not who wrote it (anyone can recompute it)."""

    algorithm: Literal["sha256"] = "sha256"
    canonical: Literal["json-sorted-keys-compact-utf8"] = "json-sorted-keys-compact-utf8"
    scope: Literal["whole file without the integrity and signature fields",
                   "whole file without the integrity field"] = \
        "whole file without the integrity and signature fields"
    digest: Hex64


class Signature(Model):
    """An Ed25519 signature (an OpenSSH key) over the integrity digest: what makes the file's
    claims (seconds, joules, device, host) attributable to whoever holds the key."""

    algorithm: Literal["ssh-ed25519"] = "ssh-ed25519"
    public_key: str = Field(description="OpenSSH public key line: ssh-ed25519 AAAA... [comment]")
    fingerprint: str = Field(pattern=r"^SHA256:[A-Za-z0-9+/]+$", description="as ssh-keygen -l shows it")
    message: Literal["benchhash-result-signature-v1 + integrity digest (hex)",
                     "integrity digest (hex) + ' ' + signed_utc"] = "integrity digest (hex) + ' ' + signed_utc"
    signature: str = Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$", description="base64")
    signed_utc: UtcTime


class Result(Model):
    schema_version: Literal[6]
    methodology_version: int = Field(ge=1)
    benchhash_version: str
    run_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{32}$",
        description="random per run; SHA-256d proofs are bound to it (null in migrated v1 files)")
    created_utc: UtcTime
    finished_utc: UtcTime
    complete: bool
    stopped: str | None = Field(description="why the run ended early; null when it did not")
    device: Device
    environment: Environment
    config: Config
    idle: Idle | None
    workloads: list[WorkloadResult]
    failures: list[Failure] = Field(
        default=[], description="what failed; each failure stays with its workload or phase")
    fleet: FleetRank | None = Field(default=None, description="set when this run was one rank of a fleet")
    integrity: Integrity | None = None
    signature: Signature | None = None
    _stored_version: int = PrivateAttr(default=SCHEMA_VERSION)

    @property
    def stored_version(self) -> int:
        """The schema version the file was written in (files of older ones are migrated when
        read): what it could hold, and which of verify's rules bind it."""
        return self._stored_version
