"""Diagnostics as 'benchhash: ...' lines on stderr (logging under 'benchhash')."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and redirections swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _RankFormatter(logging.Formatter):
    """'benchhash: ...', or 'benchhash[rank R]: ...' in a fleet, where the ranks share a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        rank = os.environ.get("RANK") if "WORLD_SIZE" in os.environ else None
        return f"benchhash{'' if rank is None else f'[rank {rank}]'}: {record.getMessage()}"


def setup_logging(verbosity: int = 0) -> None:
    """Diagnostics (logging under 'benchhash') as 'benchhash: ...' lines on stderr: warnings
    and the run's stage lines by default; -v adds debug detail, --quiet leaves errors only."""
    logger = logging.getLogger("benchhash")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_RankFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel({-1: logging.ERROR, 0: logging.WARNING}.get(verbosity, logging.DEBUG))
    logging.getLogger("benchhash.progress").setLevel(
        {-1: logging.ERROR, 0: logging.INFO}.get(verbosity, logging.DEBUG))
