"""The command line stays what it is: `benchhash --help` and each command's `--help` list the same
options, arguments, flags, defaults and help texts as tests/data/cli_surface.json records (taken
before the CLI was split into one module per command). A deliberate change to the CLI rewrites
that file: `python tests/test_cli_surface.py > tests/data/cli_surface.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

SURFACE = Path(__file__).parent / "data" / "cli_surface.json"


def _param(p: Any, ctx: Any) -> dict[str, Any]:
    """A parameter as `--help` shows it (its line: names, metavar, help, default) and as it parses."""
    record = p.get_help_record(ctx) if p.param_type_name == "option" else None
    return {"name": p.name, "kind": p.param_type_name, "opts": list(p.opts), "secondary": list(p.secondary_opts),
            "shown": list(record) if record else None, "type": p.display_type(ctx),
            "flag": bool(getattr(p, "is_flag", False)), "multiple": bool(p.multiple), "nargs": p.nargs,
            "required": bool(p.required), "default": repr(p.default), "eager": bool(p.is_eager)}


def _command(c: Any, name: str) -> dict[str, Any]:
    ctx = c.make_context(name, [], resilient_parsing=True)
    return {"help": c.help, "params": [_param(p, ctx) for p in c.params]}


def surface() -> dict[str, Any]:
    """The app's options and, per command, its options and arguments, as click sees them."""
    import typer

    from benchhash.cli import app
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    return {"app": _command(group, "benchhash"),
            "commands": {name: _command(commands[name], name) for name in sorted(commands)}}


def test_every_command_keeps_its_options() -> None:
    before, now = json.loads(SURFACE.read_text()), surface()
    assert sorted(now["commands"]) == sorted(before["commands"])
    assert now["app"] == before["app"]
    for name, was in before["commands"].items():
        assert now["commands"][name] == was, name


@pytest.mark.parametrize("command", [[], ["scan"], ["info"], ["run"], ["schema"], ["econ"], ["report"],
                                     ["compare"], ["merge"], ["verify"], ["sign"]])
def test_help_lists_every_option(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` ends well (no exit code but 0) and names every option the surface records for it."""
    from benchhash.cli import main
    try:
        main([*command, "--help"])
    except SystemExit as done:
        assert done.code in (0, None)
    text = capsys.readouterr().out
    recorded = json.loads(SURFACE.read_text())
    params = recorded["commands"][command[0]]["params"] if command else recorded["app"]["params"]
    for p in params:
        for opt in p["opts"] if p["kind"] == "option" else []:
            assert opt in text, (command, opt)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(surface(), indent=1) + "\n")
