"""What `benchhash econ` answers, as typed values: the market (its snapshot, inputs and the
reference GPU's price bands: `econ --inputs`), and the whole answer (each use per facility MW, the
power-cap sweeps, deals, the claim, the hourly site, the decision) that the printers in report/
read by attribute. ``to_json`` is the JSON edge: the dict `econ --json` writes, with the keys,
nesting and numbers it has always had."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchhash.econ.jsonable import dump, dump_fields
from benchhash.econ.market import Asic, Input
from benchhash.econ.uses import Derived, Measured, PriceBand, Use

if TYPE_CHECKING:
    from benchhash.econ.caps import Curve
    from benchhash.econ.claim import Claim
    from benchhash.econ.deals import Deals
    from benchhash.econ.decision import Decision
    from benchhash.econ.site import Hourly


@dataclass(frozen=True)
class Snapshot:
    """The shipped snapshot under the market, and its age in days on ``today`` (ISO date)."""

    name: str
    today: str
    age_days: int


@dataclass(frozen=True)
class MarketView:
    """The market asked for: its name, its snapshot and age, the warning when it is stale, every
    input, and the reference GPU's price bands (`econ --inputs`)."""

    market: str
    snapshot: Snapshot
    warnings: list[str]
    inputs: dict[str, Input]
    gpu_price_spread: list[PriceBand]

    def to_json(self) -> dict[str, Any]:
        return dump_fields(self)


@dataclass(frozen=True)
class Sweep:
    """A file's power-limit sweep, priced: each phase's curve across its caps."""

    source: str
    device: str
    curves: list[Curve]


@dataclass(frozen=True)
class Econ(MarketView):
    """The whole answer of `benchhash econ`: the market, the notes, the ASIC, what each file
    measured, the derived figures and each use per facility MW; with the power-cap sweeps where
    a file holds one, and the deals, claim, hourly site and decision where asked."""

    note: str
    notes: list[str]
    asic: Asic
    measured: list[Measured]
    derived: Derived
    uses: list[Use]
    power_caps: list[Sweep]
    deals: Deals | None = None
    claim: Claim | None = None
    hourly: Hourly | None = None
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        out = dump_fields(self)
        if not self.power_caps:
            del out["power_caps"]
        for key in ("deals", "claim", "hourly", "decision"):
            if out[key] is None:
                del out[key]
        return out


__all__ = ["Asic", "Econ", "MarketView", "PriceBand", "Snapshot", "Sweep", "dump"]
