"""Deprecated: moved to benchhash.results.fleet_build (issue 29, structure v3)."""

from benchhash.moved import alias

alias(__name__)
