"""What verify says of a file (a Verdict), and the rule every command that acts on files follows
with it (require): a file that fails is refused, and one that proves less than it claims is
refused unless the command is told to take it on its word."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from benchhash.errors import InputError

log = logging.getLogger(__name__)
CLAIMED = "seconds, joules, watts, clocks, the device, the host and the time are as reported"
#: How the commands that act on results are told to take one that proves less than it claims.
ALLOW = "--allow-unverified"


@dataclass
class Verdict:
    """What verify found for one file."""

    path: str
    status: str = "OK"                      # OK | FAIL | SKIP
    problems: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    signer: str = "unsigned"
    #: what the file claims but does not prove (it may still be OK: a file older than the rule)
    unproven: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def require(v: Verdict, what: str = "", allow_unverified: bool = False, even_failing: bool = False,
            quiet: bool = False) -> Verdict:
    """The verdict of a file a command acts on (compare, merge, econ, sign): one that fails is
    an InputError naming its first problem (unless ``even_failing`` and ``allow_unverified``:
    compare may set a failing file beside another, saying so); one that proves less than it
    claims is too, unless ``allow_unverified``, when it is said on stderr (unless ``quiet``: sign
    vouches for claims, proven or not) and returned."""
    if v.problems and not (even_failing and allow_unverified):
        raise InputError(f"{v.path} fails verify ({v.problems[0]}){what}; `benchhash verify` says more")
    if (v.problems or v.unproven) and not allow_unverified:
        raise InputError(f"{v.path} does not prove what it claims ({v.unproven[0]}){what}; give {ALLOW} to use "
                         "it anyway, on its word")
    if (v.problems or v.unproven) and not quiet:
        log.warning("%s is used on its word (%s): %s", v.path, ALLOW, (v.problems or v.unproven)[0])
    return v
