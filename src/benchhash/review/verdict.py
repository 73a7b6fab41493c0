"""What verify says of a file (a Verdict), and the rule every command that acts on files follows
with it (require): a file that fails is refused, and one that proves less than it claims is
refused unless the command is told to take it on its word."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from benchhash.errors import InputError

log = logging.getLogger(__name__)
CLAIMED = "seconds, joules, watts, clocks, the device, the host and the time are as reported"
#: How the commands that act on results are told to take one that proves less than it claims.
ALLOW = "--allow-unverified"


class Trust(StrEnum):
    """Who vouches for a file's claims."""

    NOT_READ = "not read"       # the file was not read far enough to say
    UNSIGNED = "unsigned"
    INVALID = "invalid"         # a signature that does not check out
    KEY = "key"                 # signed, and no trusted-keys list was given to say by whom
    TRUSTED = "trusted"         # signed by a key the trusted-keys list names
    UNTRUSTED = "untrusted"     # signed by a key the list does not trust (then)
    FLEET = "fleet"             # a fleet file, which is never signed (its rank files may be)


@dataclass(frozen=True)
class Signer:
    """A file's signer as verify found it (as text: the verdict's ``signer``)."""

    trust: Trust = Trust.NOT_READ
    fingerprint: str | None = None
    names: tuple[str, ...] = ()

    @property
    def vouched(self) -> bool:
        """A trusted key signed it: its claims are someone's."""
        return self.trust is Trust.TRUSTED

    def __str__(self) -> str:
        return {Trust.NOT_READ: "unsigned",
                Trust.UNSIGNED: "unsigned: the claims are nobody's in particular",
                Trust.INVALID: "signature invalid",
                Trust.KEY: f"signed by key {self.fingerprint} (no trusted-keys list given)",
                Trust.TRUSTED: f"signed by {', '.join(self.names)} (trusted key {self.fingerprint})",
                Trust.UNTRUSTED: "signed by an untrusted key",
                Trust.FLEET: "a fleet file is not signed; its rank files may be"}[self.trust]


@dataclass
class Verdict:
    """What verify found for one file."""

    path: str
    status: str = "OK"                      # OK | FAIL | SKIP
    problems: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    signer: Signer = field(default_factory=Signer)
    #: what the file claims but does not prove (it may still be OK: a file older than the rule)
    unproven: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["signer"] = str(self.signer)
        return out


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
