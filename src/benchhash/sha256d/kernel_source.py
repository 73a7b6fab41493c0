"""Where the CUDA C source lives: inside the installed package (wheel), or kernels/ of a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

KERNEL_NAME = "sha256d.cu"


def kernel_path(name: str = KERNEL_NAME) -> Path:
    """Path of a kernel source file; the wheel ships kernels/ as benchhash/kernels/."""
    packaged = resources.files("benchhash").joinpath("kernels", name)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "kernels" / name
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"kernel source {name} not found in the package nor in {checkout.parent}")
