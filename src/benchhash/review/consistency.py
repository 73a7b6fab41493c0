"""What a result says of itself must agree with itself, and with the rules of the schema it
claims: the device with the machine the environment recorded (the CPU's model, the GPUs NVML
saw, the catalogue's SMs), the meter with every energy method, the units with the workload's,
each phase with its run (its binding, from v5), and names without invisible or control
characters. What cannot be established this way (a GPU NVML never saw, a part the catalogue does
not know, a phase from before binding) is said as unproven: verify reports it, and the commands
that price, merge or compare refuse the file unless told to accept it."""

from __future__ import annotations

import unicodedata

from benchhash.results.model import METHODOLOGY_VERSION, Gpu, Result
from benchhash.workloads import known
from benchhash.workloads.base import RunContext
from benchhash.workloads.peaks import catalogue_entry, device_sms

#: The meters that read a GPU (meters.gpu: named after the vendor's library).
GPU_METERS = ("nvml", "amdsmi")
#: Each meter and the energy methods its windows can give.
METHODS: dict[str, frozenset[str]] = {
    "null": frozenset({"none"}),
    "replay": frozenset({"replay", "none"}),
    "rapl": frozenset({"rapl", "none"}),
    **{m: frozenset({f"{m}-energy-counter", f"{m}-power-polling", f"{m}-power-polling-1s-average",
                     f"{m}-power-polling-average", "none"}) for m in GPU_METERS},
}
#: Character categories no name of a device, host, workload, phase or unit holds: controls,
#: format characters (zero-width spaces and joiners, direction marks), private use, surrogates.
HIDDEN = ("Cc", "Cf", "Co", "Cs")


def hidden_character(text: str) -> str | None:
    """'U+200B' for the first invisible or control character in ``text``; None when there is none."""
    return next((f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in HIDDEN), None)


def text_problems(r: Result) -> list[str]:
    """Names that look like others on screen but are not (a zero-width space, a direction mark)."""
    fields = [("device.name", r.device.name), ("environment.host", r.environment.host)]
    for w in r.workloads:
        fields += [(f"{w.label!r} {k}", v) for k, v in (("workload", w.workload), ("phase", w.phase),
                                                        ("unit", w.unit), ("device", w.device),
                                                        ("backend", w.backend or ""))]
    return [f"{where} holds an invisible or control character ({char}): names are plain text"
            for where, text in fields if (char := hidden_character(text)) is not None]


def unit_problems(r: Result) -> list[str]:
    """Each phase in its workload's unit (a lookalike unit is another unit)."""
    out = []
    for w in r.workloads:
        cls = known(w.workload)
        if cls is not None and cls.unit is not None and w.unit != cls.unit:
            out.append(f"{w.label}: unit {w.unit!r} is not {w.workload}'s ({cls.unit!r})")
        elif w.rate_unit != f"{w.unit}/s" or w.efficiency.unit != f"{w.unit}/J":
            out.append(f"{w.label}: rate unit {w.rate_unit!r} and efficiency unit {w.efficiency.unit!r} are not "
                       f"{w.unit}/s and {w.unit}/J")
    return out


def _bus(pci: str | None) -> str | None:
    """A PCI bus id without its domain's width ('00000000:00:06.0' and '0000:00:06.0' are one)."""
    return None if pci is None else pci.lower().split(":", 1)[-1]


def _is(g: Gpu, r: Result) -> bool:
    d = r.device
    same_bus = _bus(g.pci_bus_id) == _bus(d.pci_bus_id) if g.pci_bus_id and d.pci_bus_id else g.index == d.index
    return same_bus and g.name is not None and d.name.startswith(g.name)


def device_problems(r: Result) -> list[str]:
    """The device against what the environment recorded of the machine, and each phase's
    device against the file's."""
    d, env = r.device, r.environment
    out = []
    if d.kind == "cpu" and env.cpu.model and d.name != env.cpu.model:
        out.append(f"the device {d.name!r} is not the CPU the environment recorded ({env.cpu.model!r})")
    if d.kind == "cuda" and env.gpus and not any(_is(g, r) for g in env.gpus):
        out.append(f"the device {d.name!r} ({d.pci_bus_id}) is none of the GPUs NVML recorded "
                   f"({', '.join(f'{g.name} {g.pci_bus_id}' for g in env.gpus)})")
    sms = device_sms(d) if d.kind == "cuda" else None
    if sms is not None and not d.is_mig and d.sm_count is not None and d.sm_count != sms:
        out.append(f"the device has {d.sm_count} SMs, but a {d.name} has {sms}")
    if env.cpu.usable_cores and env.cpu.logical_cores and env.cpu.usable_cores > env.cpu.logical_cores:
        out.append(f"{env.cpu.usable_cores} usable CPU cores of {env.cpu.logical_cores}")
    return out + _phase_device_problems(r)


def _phase_device_problems(r: Result) -> list[str]:
    d, cpu, cores = r.device, r.environment.cpu.model, r.environment.cpu.logical_cores
    out = []
    for w in r.workloads:
        if not w.device.startswith(d.name) and not (cpu and w.device.startswith(cpu)):
            out.append(f"{w.label}: it ran on {w.device!r}, which is neither this file's device nor its CPU")
        if d.kind == "cuda" and (w.backend or "").endswith("+cpu"):
            out.append(f"{w.label}: {w.backend} is a CPU-only build, which cannot run on {d.name}")
        if w.load is not None and w.load.cpus and cores and w.load.cpus != cores:
            out.append(f"{w.label}: its load counts {w.load.cpus} CPUs, the environment {cores}")
    return out


def meter_problems(r: Result) -> list[str]:
    """Every energy method one the recorded meter gives (a replayed trace is not NVML's)."""
    name = r.environment.meter.get("name")
    methods = METHODS.get(str(name))
    if methods is None:
        return []              # said as unproven: a meter whose methods benchhash does not know
    out = [] if name not in GPU_METERS or r.device.kind == "cuda" else [
        f"a GPU's meter ({name}) on a CPU device: it reads GPUs"]
    seen = {t.energy.method for w in r.workloads for t in w.trials} | ({r.idle.method} if r.idle else set())
    return out + [f"energy method {m!r} is not one the {name} meter gives ({', '.join(sorted(methods))})"
                  for m in sorted(seen - methods)]


def binding_problems(r: Result) -> list[str]:
    """Binding cannot be switched off: every run since schema 3 (and every fleet rank) has a run
    id; from v5 every phase is bound to the run by its seed (SEED_RULE)."""
    out = []
    if r.run_id is None and (r.stored_version >= 3 or r.fleet is not None):
        return [f"no run id, but every run of schema {r.stored_version} has one: the binding was taken out"]
    if r.fleet is not None and r.fleet.run_id != r.run_id:
        out.append(f"the fleet's run id {r.fleet.run_id} is not the file's {r.run_id}")
    if r.stored_version >= 5:
        ctx = RunContext.of(r)
        out += [f"{w.label}: not bound to this run (its seed does not follow from this file's run id, time, host, "
                "device, rank and meter: moved from another file, or relabelled)"
                for w in r.workloads if w.binding != ctx.binding(w.label)]
    if r.methodology_version > METHODOLOGY_VERSION:
        out.append(f"methodology version {r.methodology_version} is newer than this benchhash knows "
                   f"({METHODOLOGY_VERSION})")
    return out


def claim_problems(r: Result) -> list[str]:
    """Every check of this module."""
    return text_problems(r) + unit_problems(r) + device_problems(r) + meter_problems(r) + binding_problems(r)


def unproven(r: Result) -> list[str]:
    """What the file claims but nothing in it establishes: a GPU NVML never saw, a GPU with no
    rate bound (a part the catalogue does not know), phases from before binding."""
    out = []
    if r.device.kind == "cuda" and not r.environment.gpus:
        out.append(f"the device {r.device.name} is only claimed: NVML recorded no GPU "
                   f"({r.environment.gpu_reason or 'no reason given'})")
    meter = r.environment.meter.get("name")
    if r.stored_version >= 2 and str(meter) not in METHODS:
        out.append(f"energy from the meter {meter!r}, which this benchhash does not know ({', '.join(METHODS)}): "
                   "its methods are not checked")
    if r.device.kind == "cuda" and catalogue_entry(r.device) is None:
        out.append(f"{r.device.name} is a part benchhash's catalogue does not know: no rate on it is bounded")
    for w in r.workloads:
        cls = known(w.workload)
        out += cls.unproven(w, r) if cls is not None else []
    return out
