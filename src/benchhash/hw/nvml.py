"""NVML access: every NVML error mapped to a benchhash exception with a message a person can act
on, and a session (init ... shutdown) for the readers of GPU facts (hw.gpus, the NVML meter)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from benchhash.errors import MeterError

T = TypeVar("T")


class NvmlError(MeterError):
    """An NVML call failed; ``code`` is NVML's return code."""

    hint = ""

    def __init__(self, what: str, code: int | None, detail: str) -> None:
        self.what, self.code, self.detail = what, code, detail
        text = f"NVML {what} failed: {detail}"
        super().__init__(text + (f" ({self.hint})" if self.hint else ""))


class NvmlUninitialized(NvmlError):
    hint = "NVML was not initialised; this is a benchhash bug"


class NvmlInvalidArgument(NvmlError):
    hint = "bad device index or argument"


class NvmlNotSupported(NvmlError):
    hint = "this GPU or driver does not offer that reading"


class NvmlNoPermission(NvmlError):
    hint = "run with enough privileges, or ask the administrator"


class NvmlNotFound(NvmlError):
    hint = "no such GPU"


class NvmlDriverNotLoaded(NvmlError):
    hint = "the NVIDIA kernel driver is not loaded"


class NvmlTimeout(NvmlError):
    hint = "the driver did not answer in time"


class NvmlLibraryNotFound(NvmlError):
    hint = "libnvidia-ml.so was not found; install the NVIDIA driver"


class NvmlFunctionNotFound(NvmlError):
    hint = "the installed driver is older than this NVML call"


class NvmlGpuLost(NvmlError):
    hint = "the GPU fell off the bus or stopped responding; check dmesg and reset it"


class NvmlDriverMismatch(NvmlError):
    hint = "the NVML library and the kernel driver versions differ; reboot or reinstall"


class NvmlUnknown(NvmlError):
    hint = "unexpected NVML error"


#: NVML's constant names -> the exception each maps to (names, not numbers, so new
#: nvidia-ml-py releases keep working).
_BY_NAME: dict[str, type[NvmlError]] = {
    "NVML_ERROR_UNINITIALIZED": NvmlUninitialized,
    "NVML_ERROR_INVALID_ARGUMENT": NvmlInvalidArgument,
    "NVML_ERROR_NOT_SUPPORTED": NvmlNotSupported,
    "NVML_ERROR_NO_PERMISSION": NvmlNoPermission,
    "NVML_ERROR_NOT_FOUND": NvmlNotFound,
    "NVML_ERROR_GPU_NOT_FOUND": NvmlNotFound,
    "NVML_ERROR_DRIVER_NOT_LOADED": NvmlDriverNotLoaded,
    "NVML_ERROR_TIMEOUT": NvmlTimeout,
    "NVML_ERROR_LIBRARY_NOT_FOUND": NvmlLibraryNotFound,
    "NVML_ERROR_FUNCTION_NOT_FOUND": NvmlFunctionNotFound,
    "NVML_ERROR_GPU_IS_LOST": NvmlGpuLost,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": NvmlDriverMismatch,
}


def error_class(nvml: Any, code: int | None) -> type[NvmlError]:
    """The benchhash exception for an NVML return code."""
    for name, cls in _BY_NAME.items():
        if getattr(nvml, name, object()) == code:
            return cls
    return NvmlUnknown


def call(nvml: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
    """Call an NVML function, turning its NVMLError into the matching benchhash exception."""
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        raise error_class(nvml, code)(what, code, str(exc)) from None


def import_pynvml() -> Any:
    """The ``pynvml`` module of nvidia-ml-py, or a MeterError saying it is missing."""
    try:
        import pynvml
    except ImportError as exc:
        raise MeterError(f"NVML readings need nvidia-ml-py ({exc})") from None
    return pynvml


def text(value: Any) -> str:
    """An NVML string (bytes in older nvidia-ml-py releases) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """The pynvml module, initialised for the block and shut down after (NVML counts nested
    init/shutdown pairs). MeterError when NVML cannot be used at all."""
    nv = import_pynvml()
    call(nv, "init", nv.nvmlInit)
    try:
        yield nv
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down is best effort
            pass
