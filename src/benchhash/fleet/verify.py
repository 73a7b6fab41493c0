"""`benchhash verify FLEET.json`: the fleet file's digest and its own arithmetic (the medians of
the per-trial sums it lists), then, with the rank files beside it, every rank file verified on
its own, its digest the one the fleet recorded, and the whole fleet file rebuilt from them and
compared field by field. A rank file that is not there is said plainly: its row is then only
the fleet file's word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchhash.errors import BenchhashError, InputError
from benchhash.fleet.build import Member, fleet_from, summary
from benchhash.fleet.model import FleetResult, parse
from benchhash.report.units import duration
from benchhash.results import io, sign
from benchhash.results.checks import close
from benchhash.results.verify import CLAIMED, Verdict, verify_result


def _phase_problems(f: FleetResult) -> list[str]:
    out = []
    for p in f.phases:
        if not f.lockstep:
            if p.trials:
                out.append(f"{p.label}: per-trial sums in a fleet that did not run in lockstep")
            continue
        if any(t.ranks > len(p.ranks) for t in p.trials):
            out.append(f"{p.label}: a trial counts more ranks than the phase has")
        rate, watts = summary(p.trials, len(p.ranks))
        wpj = rate / watts if rate is not None and watts else None
        for what, mine, stored in (("rate", rate, p.rate), ("watts", watts, p.average_w),
                                   ("work per joule", wpj, p.work_per_joule)):
            if not close(mine, stored, 1e-9):
                out.append(f"{p.label}: the fleet {what} is not the median of its per-trial sums")
    return out


def internal_problems(f: FleetResult) -> list[str]:
    """What the fleet file alone shows to be wrong."""
    ranks = [r.rank for r in f.ranks]
    out = []
    if len(set(ranks)) != len(ranks):
        out.append("a rank appears twice")
    if set(f.missing) & set(ranks) or any(r >= f.world_size for r in ranks + f.missing):
        out.append("the missing ranks and the ranks present do not fit the world size")
    if f.complete != (f.lockstep and not f.missing and all(r.complete for r in f.ranks)):
        out.append(f"marked {'complete' if f.complete else 'incomplete'}, but its ranks say otherwise")
    if any(not set(p.ranks) <= set(ranks) for p in f.phases):
        out.append("a phase names a rank the fleet does not have")
    return out + _phase_problems(f)


def _difference(mine: FleetResult, stored: FleetResult, raw: dict[str, Any]) -> str | None:
    """The first field where the fleet rebuilt from the rank files differs from the stored one.
    A phase field the stored file does not hold (``params``, which fleet files written before it
    was added lack) claims nothing, so nothing is compared for it."""
    skip = {"integrity", "benchhash_version"}
    a, b = mine.model_dump(mode="json", exclude=skip), stored.model_dump(mode="json", exclude=skip)
    held = [set(p) for p in raw.get("phases", [])]
    for key in a:
        if key == "phases" and len(a[key]) == len(b[key]) == len(held):
            for pa, pb, keys in zip(a[key], b[key], held, strict=True):
                bad = next((k for k in pa if k in keys and pa[k] != pb.get(k)), None)
                if bad:
                    return f"{pb.get('label')}: {bad}"
        elif a[key] != b.get(key):
            return key
    return None


def _members(f: FleetResult, base: Path, trusted: list[sign.Signer] | None,
             v: Verdict) -> tuple[list[Member], list[int]]:
    """The rank files beside the fleet file, each verified; (members, ranks whose file is absent)."""
    members, absent = [], []
    for row in f.ranks:
        path = base / row.file
        if not path.is_file():
            absent.append(row.rank)
            continue
        try:
            result, raw = io.load(path)
        except BenchhashError as exc:
            v.problems.append(f"rank {row.rank}: {exc}")
            continue
        if raw.get("integrity", {}).get("digest") != row.digest:
            v.problems.append(f"rank {row.rank}: {row.file} is not the file the fleet recorded (its digest differs)")
            continue
        mv = verify_result(raw, str(path), trusted)
        v.problems += [f"rank {row.rank}: {p}" for p in mv.problems]
        members.append(Member(row.file, result, row.digest))
    return members, absent


def verify_fleet(raw: dict[str, Any], where: str, trusted: list[sign.Signer] | None = None) -> Verdict:
    v = Verdict(where, signer="a fleet file is not signed; its rank files may be")
    try:
        f = parse(raw, where)
    except BenchhashError as exc:
        return Verdict(where, "FAIL", [str(exc)])
    stored = raw.get("integrity")
    if not isinstance(stored, dict) or stored.get("digest") != io.digest_of(raw):
        return Verdict(where, "FAIL", [f"{where}: fleet integrity digest mismatch (edited after it was written)"])
    v.problems += [f"{where}: {p}" for p in internal_problems(f)]
    members, absent = _members(f, Path(where).parent, trusted, v)
    if members and not absent and not v.problems:
        try:
            diff = _difference(fleet_from(members, f.created_utc), f, raw)
        except InputError as exc:
            diff = str(exc)
        if diff:
            v.problems.append(f"{where}: {diff} does not follow from the rank files beside it")
    v.status = "FAIL" if v.problems else "OK"
    v.proven = ["fleet digest", "the fleet's rates and watts are the medians of the per-trial sums it lists"]
    if members and not absent:
        v.proven.append(f"every row and figure rebuilt from the {len(members)} rank file(s) beside it, "
                        "each of which verifies on its own")
    v.claimed = [CLAIMED]
    spreads = [t.start_spread_s for p in f.phases for t in p.trials if t.start_spread_s is not None]
    if spreads:
        rtts = [m.result.fleet.clock_rtt_s for m in members if m.result.fleet is not None]
        known = f"; each rank's clock known to within ±{duration(max(rtts) / 2)}" if rtts else ""
        v.claimed.append(f"trial windows opened within {duration(max(spreads))} of each other "
                         f"(on rank 0's clock, as each rank recorded it{known})")
    if absent:
        v.claimed.append(f"rank(s) {', '.join(map(str, absent))}: no file beside it; their rows are the "
                         "fleet file's word")
    if not f.complete:
        v.claimed.append("an incomplete fleet" + (f": rank(s) {', '.join(map(str, f.missing))} left no file"
                                                  if f.missing else ""))
    return v
