"""The `benchhash` command: thin wrappers that parse, call and print, one module per command on
the app of cli/app.py; cli/main.py maps every failure to one line on stderr and an exit code
(bad input: 2, Ctrl-C: 130)."""

from __future__ import annotations

from benchhash.cli import compare, econ, info, merge, report, run, scan, schema, sign, verify
from benchhash.cli.app import app, command, err, fail, out, parse_int, printable, progress
from benchhash.cli.logs import setup_logging
from benchhash.cli.main import GLOBAL_FLAGS, hoist_global_flags, main
from benchhash.cli.run import next_step
from benchhash.cli.scan import _progress_lines

#: the commands, in the order `benchhash --help` lists them; each runs inside app.stoppable()
COMMANDS = (scan.scan, info.info, run.run, schema.schema, econ.econ, report.report, compare.compare, merge.merge,
            verify.verify, sign.sign)
for _command in COMMANDS:
    app.command()(command(_command))

__all__ = ["COMMANDS", "GLOBAL_FLAGS", "_progress_lines", "app", "err", "fail", "hoist_global_flags", "main",
           "next_step", "out", "parse_int", "printable", "progress", "setup_logging"]
