"""The GPU catalogue (data/gpus.json): one entry per part holding its names, memory, board power,
dense peaks per dtype, bandwidth, prices, reference system, tuned SHA-256d launch, sources and
dates, and the one lookup of a device name in it. Adding a GPU is adding one entry.

A device is matched to its part by exact name (see ``normalise``), never by substring: an 'NVIDIA
H200 NVL' or a GH200 is not an H200 SXM. Where names collide the device's memory, then its power
limit, picks the part; a name that stays ambiguous, like an unknown one, matches nothing rather
than a wrong part. Peaks (workloads.peaks), prices and system watts (econ) and launches
(sha256d.cuda) are all read through here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from benchhash.data import data_json

Entry = tuple[str, dict[str, Any]]
FILE = "gpus.json"

#: How far the memory NVML reports (in GiB) may sit from an entry's memory_gb and still be it.
MEMORY_TOLERANCE = 0.10

_LABEL = re.compile(r"\s*\((?:cuda|cpu)(?::\d+)?\)$")   # ' (cuda:0)', as fleet and bench files print it
_MIG = re.compile(r"\s+mig(?:\s+\S+)?$")                 # ' MIG 3g.40gb' (see hw/device.py)


@cache
def catalogue() -> dict[str, Any]:
    """The whole file: descriptions, the reference GPU, the parts, the names priced as a part."""
    return dict(data_json(FILE))


def table() -> dict[str, Any]:
    """Part key -> its entry."""
    return dict(catalogue()["gpus"])


def normalise(name: str) -> str:
    """A device name as the catalogue compares it: lower case, single spaces, without the
    'NVIDIA ' prefix, a MIG profile suffix or a device label suffix."""
    n = " ".join(name.lower().split())
    n = _MIG.sub("", _LABEL.sub("", n))
    return n.removeprefix("nvidia ")


def names(key: str, entry: dict[str, Any]) -> set[str]:
    """The normalised names an entry answers to: its NVML names, its aliases and its key."""
    return {normalise(n) for n in (key, *entry["nvml_names"], *entry.get("aliases", ()))}


def candidates(device_name: str) -> list[str]:
    """Keys of every entry that names this device exactly."""
    want = normalise(device_name)
    return [key for key, entry in table().items() if want in names(key, entry)]


def _memory_fits(entry: dict[str, Any], memory_bytes: int) -> bool:
    return abs(memory_bytes / 2**30 - entry["memory_gb"]) <= MEMORY_TOLERANCE * entry["memory_gb"]


def _power_fits(entry: dict[str, Any], watts: float) -> bool:
    low, high = entry.get("power_range_w", (entry["board_power_w"], entry["board_power_w"]))
    return bool(low <= watts <= high)


def lookup(device_name: str, memory_bytes: int | None = None, power_limit_w: float | None = None) -> Entry | None:
    """(key, entry) of the part this device name is; where several parts share the name, the one
    its memory (bytes, as NVML reports it), then its power limit, fits. None when unknown or
    still ambiguous."""
    parts = table()
    keys = candidates(device_name)
    if len(keys) > 1 and memory_bytes:
        keys = [k for k in keys if _memory_fits(parts[k], memory_bytes)]
    if len(keys) > 1 and power_limit_w:
        keys = [k for k in keys if _power_fits(parts[k], power_limit_w)]
    return (keys[0], parts[keys[0]]) if len(keys) == 1 else None


# --- prices and systems, as econ reads them --------------------------------------------------------
def prices_of(key: str) -> dict[str, Any] | None:
    """A part's price row: its own, or the part's it is priced at (prices_of); None: no price."""
    entry = table()[key]
    return entry.get("prices") or (table()[entry["prices_of"]]["prices"] if "prices_of" in entry else None)


def price_model(device_name: str) -> str | None:
    """The price row (its model name, as econ shows it) a device name is priced at: the row of
    every part the name can be, when they share one (an A100 name that its memory would settle
    is an A100 either way), or the row of a name priced as a part (``priced_as``); else None."""
    keys = candidates(device_name) or [a["part"] for n, a in catalogue()["priced_as"].items()
                                       if normalise(n) == normalise(device_name)]
    rows = {None if (row := prices_of(k)) is None else row["model"] for k in keys}
    return rows.pop() if len(rows) == 1 else None


def price_table() -> dict[str, Any]:
    """Every price row in the shape econ reads (description, the reference's model, the rows by
    model), as data/gpu_prices.json held them before the catalogue."""
    rows = {e["prices"]["model"]: {k: v for k, v in e["prices"].items() if k != "model"}
            for e in table().values() if "prices" in e}
    return {"description": catalogue()["prices_description"], "reference": catalogue()["reference"]["name"],
            "models": rows}


def system_table() -> dict[str, Any]:
    """Every reference system and the reference GPU's figures in the shape econ reads, as
    data/systems.json held them before the catalogue."""
    found = {e["system"]["name"]: {"gpu": k, **{f: v for f, v in e["system"].items() if f != "name"}}
             for k, e in table().items() if "system" in e}
    return {"description": catalogue()["systems_description"], "systems": found,
            "reference_gpu": dict(catalogue()["reference"])}


# --- the SHA-256d kernel's launches ----------------------------------------------------------------
@dataclass(frozen=True)
class TunedLaunch:
    """The kernel launch measured fastest on a part, for every NVIDIA GPU of its compute
    capability: threads per block, waves per launch, the kernel variant (sha256d.cuda.VARIANTS)."""

    part: str
    compute_capability: str
    threads: int
    waves: int
    variant: str
    source: str
    date: str


def tuned_launches() -> dict[str, TunedLaunch]:
    """Compute capability -> its tuned launch (one per capability: the file is refused else)."""
    out: dict[str, TunedLaunch] = {}
    for key, entry in table().items():
        if "tuned_launch" in entry:
            t = TunedLaunch(part=key, **entry["tuned_launch"])
            if t.compute_capability in out:
                raise ValueError(f"{FILE}: two tuned launches for compute capability {t.compute_capability}")
            out[t.compute_capability] = t
    return out
