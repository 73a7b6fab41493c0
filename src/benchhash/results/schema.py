"""Result file, schema version 1, as pydantic models. The JSON Schema in results/schema/ is
generated from these (`benchhash schema`), and a test keeps the two in step.

``schema_version`` changes when the file's shape changes; ``methodology_version`` when the way of
measuring changes (warm-up rule, what a trial is, what a unit of work counts), so that
comparisons can refuse apples to oranges even between files of the same shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2
METHODOLOGY_VERSION = 1

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
HeaderHex = Annotated[str, Field(pattern=r"^[0-9a-f]{160}$")]
UtcTime = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]
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


# --- SHA-256d proof of work (validated by verify and when a sha256d result is built) ----------
class Share(Model):
    header: int = Field(ge=0, description="index into proof.headers")
    nonce: int = Field(ge=0, lt=1 << 32)
    hash: Hex64 = Field(description="block hash, display order")


class Sha256dTrialProof(Model):
    ranges: list[Annotated[list[int], Field(min_length=3, max_length=3)]] = Field(
        description="[header index, first nonce, count] scanned in this trial")
    shares: list[Share]


class Sha256dProof(Model):
    share_bits: int = Field(ge=1, le=256)
    share_target: Hex64
    seed: str = Field(pattern=r"^[0-9a-f]+$")
    header_rule: str
    headers: list[HeaderHex]


#: workload -> (phase-wide proof model, per-trial proof model), for workloads that keep proofs.
PROOF_MODELS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "sha256d": (Sha256dProof, Sha256dTrialProof),
}


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


class Failure(Model):
    """A workload or phase that could not run or stopped with an error; the run went on."""

    workload: str
    phase: str | None = Field(description="null when the workload failed before its phases")
    stage: str = Field(description="create | setup | compile | warmup | trial | summary | proof | "
                                   "teardown | build")
    error: str = Field(description="the exception's type")
    message: str


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


class DeviceInfo(Model):
    kind: Literal["cpu", "cuda"]
    index: int = Field(ge=0)
    label: str
    name: str


class Config(Model):
    device: str
    workloads: list[str]
    duration_s: NonNeg
    trials: int = Field(ge=1)
    warmup_s: NonNeg
    idle_s: NonNeg
    quick: bool
    meter: str
    options: dict[str, Any] = {}


class Idle(Model):
    """Measured before the workloads, recorded beside them, never subtracted from them."""

    seconds: NonNeg
    energy_j: NonNeg | None
    average_w: NonNeg | None
    method: str
    reason: str | None
    telemetry: Telemetry | None = None


class Integrity(Model):
    algorithm: Literal["sha256"] = "sha256"
    canonical: Literal["json-sorted-keys-compact-utf8"] = "json-sorted-keys-compact-utf8"
    scope: Literal["whole file without the integrity field"] = "whole file without the integrity field"
    digest: Hex64


class Result(Model):
    schema_version: Literal[2]
    methodology_version: int = Field(ge=1)
    benchhash_version: str
    created_utc: UtcTime
    finished_utc: UtcTime
    complete: bool
    stopped: str | None = Field(description="why the run ended early; null when it did not")
    device: DeviceInfo
    environment: Environment
    config: Config
    idle: Idle | None
    workloads: list[WorkloadResult]
    failures: list[Failure] = Field(
        default=[], description="what failed; each failure stays with its workload or phase")
    integrity: Integrity | None = None
