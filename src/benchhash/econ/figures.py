"""Deprecated: moved to benchhash.units (num: a figure as typed)."""

from benchhash.moved import alias

alias(__name__)
