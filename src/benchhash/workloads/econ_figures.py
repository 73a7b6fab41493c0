"""What economics takes from a measured phase: one typed value, which each workload gives
(``Workload.econ_figures``) and econ/ reads by attribute. A figure that does not apply to the
phase, or was not measured, is None (never 0). Nothing here is stored in a result file: it is
derived from one each time economics prices it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class EconFigures:
    """A phase's figures as economics prices them (one device's, or a fleet's per device).

    Mining (SHA-256d): ``hashes_per_second`` and the watts of that work, ``hashing_watts``.
    AI work (matmul, prefill, decode, serve): ``ai_watts``, the phase's average watts. A decode
    phase adds ``tokens_per_second``, its ``batch`` (rows) and the model's size in parameters
    (``model_params``, which decides the price class of its tokens). A serve phase gives its
    output tokens per second (prefill inside its windows) as ``served_tokens_per_second``, its
    ``served_concurrency`` (requests in flight) and the p99 of its requests' TPOT in ms
    (``served_tpot_ms_p99``), with ``model_params`` as decode does."""

    hashes_per_second: float | None = None
    hashing_watts: float | None = None
    ai_watts: float | None = None
    tokens_per_second: float | None = None
    batch: int | None = None
    model_params: float | None = None
    served_tokens_per_second: float | None = None
    served_concurrency: int | None = None
    served_tpot_ms_p99: float | None = None

    def with_slowest(self, tpot_ms_p99: float | None) -> EconFigures:
        """A fleet's phase: its latencies are its slowest device's (``slowest_tpot_ms_p99``), not
        a sum over devices; None where some device has none."""
        return replace(self, served_tpot_ms_p99=tpot_ms_p99)


def slowest_tpot_ms_p99(per_device: Sequence[EconFigures]) -> float | None:
    """The p99 TPOT of a fleet's slowest device: a fleet meets a TPOT objective when each of its
    devices does, and its pooled p99 is at most the largest of its devices' p99s. None when there
    are no devices, or a device has no p99 TPOT."""
    tpots = [f.served_tpot_ms_p99 for f in per_device]
    known = [t for t in tpots if t is not None]
    return max(known) if known and len(known) == len(tpots) else None


#: the figures counted in whole units (a dict from before EconFigures gave them as floats)
COUNTS = ("batch", "served_concurrency")


def figures_of(value: EconFigures | Mapping[str, float], workload: str) -> EconFigures:
    """What a workload's econ_figures gave, as EconFigures. A plug-in written before it returned
    one may return the dict of its keys (hashes_per_second, ai_watts, ...): read, with a
    DeprecationWarning, until the next minor release after 0.1.0; a key EconFigures has no field for
    is left out, as economics never read one."""
    if isinstance(value, EconFigures):
        return value
    warnings.warn(f"workload {workload!r}: econ_figures returned a dict; return "
                  "benchhash.workloads.econ_figures.EconFigures instead (dicts are read until the next minor "
                  "release)", DeprecationWarning, stacklevel=2)
    names = {f.name for f in fields(EconFigures)}
    given = {k: (int(v) if k in COUNTS else float(v)) for k, v in value.items() if k in names and v is not None}
    return EconFigures(**given)  # type: ignore[arg-type]
