"""Old import paths of modules that moved (issue 29, structure v3). Each old module is one call
of `alias`, so that `import benchhash.report.units` still works, and is the module at its new
path (patching one patches the other), with a DeprecationWarning that names the new path. They
go in a later release (README: "Moved modules"); nothing in benchhash imports them, which
tests/test_layers.py checks."""

from __future__ import annotations

import importlib
import sys
import warnings

#: old module -> where it lives now
MOVED = {
    "benchhash.econ.decision_text": "benchhash.report.decision",
    "benchhash.econ.figures": "benchhash.units",
    "benchhash.econ.text": "benchhash.report.econ",
    "benchhash.fleet.build": "benchhash.results.fleet_build",
    "benchhash.fleet.model": "benchhash.results.fleet",
    "benchhash.fleet.report": "benchhash.report.fleet",
    "benchhash.fleet.verify": "benchhash.review.fleet",
    "benchhash.report.units": "benchhash.units",
    "benchhash.results.checks": "benchhash.review.checks",
    "benchhash.results.compare": "benchhash.review.compare",
    "benchhash.results.consistency": "benchhash.review.consistency",
    "benchhash.results.export": "benchhash.review.export",
    "benchhash.results.merge": "benchhash.review.merge",
    "benchhash.results.verify": "benchhash.review.verify",
}


def alias(old: str) -> None:
    """Make the module being imported as ``old`` the module it moved to, said as a warning."""
    new = MOVED[old]
    warnings.warn(f"{old} moved to {new}; the old name will go", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
