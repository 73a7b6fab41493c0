"""Deprecated: moved to benchhash.units (the ground floor)."""

from benchhash.moved import alias

alias(__name__)
