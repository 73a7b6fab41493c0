"""Deprecated: moved to benchhash.report.econ (issue 29, structure v3)."""

from benchhash.moved import alias

alias(__name__)
