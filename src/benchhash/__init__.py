"""benchhash: SHA-256d and AI workloads measured side by side on one GPU, per joule and per MW."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("benchhash")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
