"""Deprecated: moved to benchhash.report.decision (issue 29, structure v3)."""

from benchhash.moved import alias

alias(__name__)
