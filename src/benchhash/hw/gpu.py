"""A GPU as the device layer sees it, whatever its vendor: one interface (name, bus id, memory,
energy counter, instant power, clocks, temperature, throttle reasons, power limits and setting
them, MIG), one implementation per vendor's library (hw.nvml: NVIDIA through NVML, the only
place pynvml is imported; hw.amd: AMD through AMD SMI). hw.gpus picks the implementation.

A reading the GPU does not give raises the vendor's own exception (a GpuError; the kinds that
callers act on are also NotSupported and NoPermission), never a zero."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from benchhash.errors import MeterError


class GpuError(MeterError):
    """A call into a GPU vendor's library failed; each vendor subclasses it per error code."""


class LibraryError(GpuError):
    """A vendor library's call failed: ``code`` is the library's return code, ``hint`` what to
    do about it (set per error class)."""

    library = "?"
    hint = ""

    def __init__(self, what: str, code: int | None, detail: str) -> None:
        self.what, self.code, self.detail = what, code, detail
        text = f"{self.library} {what} failed: {detail}"
        super().__init__(text + (f" ({self.hint})" if self.hint else ""))


E = TypeVar("E", bound=LibraryError)


def error_class(constants: Any, code: int | None, by_name: dict[str, type[E]], unknown: type[E]) -> type[E]:
    """The exception for a library's return code, by the names of its constants (names, not
    numbers, so that new releases of the library keep working)."""
    for name, cls in by_name.items():
        if getattr(constants, name, object()) == code:
            return cls
    return unknown


class LibraryMissing(GpuError):
    """The vendor's library is not installed here (a machine without that vendor's GPUs)."""


class NotSupported(GpuError):
    """This GPU or driver does not offer that reading or setting."""


class NoPermission(GpuError):
    """This process may not do that (setting a power limit needs root)."""


class FunctionNotFound(GpuError):
    """The installed driver is older than the call."""


@dataclass(frozen=True)
class Limits:
    """A GPU's power-limit constraints and settings, in watts."""

    min_w: float
    max_w: float
    default_w: float
    current_w: float


class GPU(ABC):
    """One GPU, open until close(). ``meter`` names the energy meter that measures it (the
    --meter name), ``method`` the library as files name it (e.g. 'nvml-energy-counter')."""

    vendor: ClassVar[str]
    meter: ClassVar[str]
    library: ClassVar[str]

    index: int
    pci_bus_id: str | None

    @abstractmethod
    def __init__(self, index: int = 0, pci_bus_id: str | None = None) -> None:
        """Open the GPU at this bus id (else this index among the library's GPUs)."""

    @abstractmethod
    def name(self) -> str:
        """The device name as the vendor's library gives it."""

    @abstractmethod
    def bus_id(self) -> str | None:
        """The PCI bus id, as the library spells it."""

    @abstractmethod
    def memory_bytes(self) -> int | None:
        """Total device memory."""

    @abstractmethod
    def uuid(self) -> str | None:
        """A stable id of the card (None where the library gives none)."""

    @abstractmethod
    def energy_j(self) -> float:
        """The energy counter in joules (monotonic since the driver loaded)."""

    @abstractmethod
    def power_w(self) -> float:
        """Power now, in watts (the most instant reading the library offers)."""

    @abstractmethod
    def sm_clock_mhz(self) -> float:
        """The compute (SM, GFX) clock now."""

    @abstractmethod
    def temperature_c(self) -> float:
        """The GPU's temperature now."""

    @abstractmethod
    def throttle_reasons(self) -> int:
        """Clock-event reasons as NVML's bit mask (meters.base.THROTTLE_REASONS)."""

    @abstractmethod
    def power_limits(self) -> Limits:
        """The power limit, its default and its constraints."""

    @abstractmethod
    def set_power_limit(self, watts: float) -> None:
        """Ask for a power limit (needs root); the driver applies it a moment later."""

    @abstractmethod
    def enforced_power_limit_w(self) -> float:
        """The limit in force now (the lowest of every limit that applies)."""

    @abstractmethod
    def mig_mode(self) -> bool | None:
        """Whether the card is split into MIG instances (False: a vendor without MIG)."""

    def polled_method(self) -> str:
        """The method name of energy integrated from polled power."""
        return f"{self.meter}-power-polling"

    def describe(self) -> dict[str, Any]:
        """What is particular to this vendor's readings, for the meter's description."""
        return {}

    def notes(self) -> list[str]:
        """What changed in how the GPU is read mid-run (a fallback), to be said."""
        return []

    def close(self) -> None:
        """Release the library (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Fields:
    """Reads a record's fields one at a time: a field the library refuses is None, with the
    reason under ``gaps[key]``, and the others are still read."""

    def __init__(self) -> None:
        self.gaps: dict[str, str] = {}

    def get(self, key: str, fn: Callable[[], Any], conv: Callable[[Any], Any] = lambda v: v) -> Any:
        try:
            return conv(fn())
        except GpuError as exc:
            self.gaps[key] = str(exc)
            return None
