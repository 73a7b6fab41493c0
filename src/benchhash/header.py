"""Deprecated location: the block header tools live in benchhash.sha256d.header now."""

from __future__ import annotations

import warnings

from benchhash.sha256d.header import *  # noqa: F403
from benchhash.sha256d.header import __all__  # noqa: F401

warnings.warn("benchhash.header moved to benchhash.sha256d.header; the old name will go",
              DeprecationWarning, stacklevel=2)
