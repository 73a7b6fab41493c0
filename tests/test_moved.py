"""Modules that moved keep their old import path for a while: the old name is the new module
(what is patched on one is patched on the other), with a DeprecationWarning naming the new
path."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from benchhash.moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_is_the_new_module_with_a_warning(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert sys.modules[old] is sys.modules[new]


def test_the_readme_names_every_moved_module() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("### Moved modules"):]
    for old in MOVED:
        package, _, name = old.rpartition(".")
        assert f"`{old}`" in table or f"`.{name}`" in table and f"`{package}." in table, old


def test_the_header_shim_is_gone() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("benchhash.header")
