"""What a fleet file proves (`benchhash verify FLEET.json`): only its rank files prove it. Its
digest and its own arithmetic (the medians of the per-trial sums it lists) are checked, then
every rank file beside it is verified on its own, its digest must be the one the fleet recorded
and its run id the fleet's, no two ranks may hold the same work (the same SHA-256d shares: one
rank's file copied as another's, or ranks that scanned the same nonces), and the whole fleet
file is rebuilt from them and compared field by field. A rank file that is not there leaves the
fleet's rows for it only the fleet's word: a failure, or with --allow-unverified an unproven
claim that econ, merge and compare refuse unless told the same.

Each rank file is checked in a worker process (review/pool.py), which sends back its verdict,
digest and summary, and the headers its shares were found under: only two files that share a
header are read again here to count the shares they hold in common, so memory stays flat in the
number of ranks.

Fleet files of version 1 (merge's before fleet runs) are read as they were written: their
digest, their totals against their node rows, and each node row against its file, which must be
beside it and verify."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from benchhash.errors import BenchhashError, InputError
from benchhash.results import io, sign
from benchhash.results.fleet import FleetResult, RankSummary, parse, parse_v1
from benchhash.results.fleet_build import fleet_of, summary
from benchhash.review.checks import close
from benchhash.review.evidence import shared_work
from benchhash.review.pool import Checked, Pool, check_file
from benchhash.review.verdict import ALLOW, CLAIMED, Signer, Trust, Verdict
from benchhash.units import duration
from benchhash.workloads.sha256d_proof import sampled


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


def _members(f: FleetResult, base: Path, trusted: list[sign.Signer] | None, v: Verdict,
             pool: Pool) -> tuple[list[Checked], list[int]]:
    """The rank files beside the fleet file, each verified in a worker (what one does not prove
    is the fleet's unproven too); (those that are the files the fleet recorded, ranks whose file
    is absent)."""
    present = [row for row in f.ranks if (base / row.file).is_file()]
    absent = [row.rank for row in f.ranks if not (base / row.file).is_file()]
    members = []
    one = partial(check_file, trusted=trusted, sample=sampled())
    checked = pool.map(one, [(str(base / r.file), r.file) for r in present])
    for row, c in zip(present, checked, strict=True):
        if not c.read:
            v.problems += [f"rank {row.rank}: {p}" for p in c.verdict.problems]
            continue
        if c.digest != row.digest:
            v.problems.append(f"rank {row.rank}: {row.file} is not the file the fleet recorded (its digest differs)")
            continue
        v.problems += [f"rank {row.rank}: {p}" for p in c.verdict.problems]
        v.unproven += [f"rank {row.rank}: {p}" for p in c.verdict.unproven]
        members.append(c)
    return members, absent


def _summaries(members: list[Checked]) -> list[RankSummary]:
    return [m.summary for m in members if m.summary is not None]


def _run_problems(f: FleetResult, members: list[RankSummary]) -> list[str]:
    """A lockstep fleet's rank files are of its run: their run id is the fleet's."""
    if not f.lockstep:
        return []
    return [f"{m.file}: its run id {m.fleet.run_id if m.fleet else None} is not the fleet's {f.run_id}"
            for m in members if m.fleet is None or m.fleet.run_id != f.run_id or m.run_id != f.run_id]


def overlaps(members: list[Checked]) -> list[tuple[str, str, int]]:
    """(a, b, how many shares) for each two files that hold the same work. Files whose headers
    differ hold no share in common; the few that share a header are read again and compared
    share by share."""
    first: dict[str, int] = {}
    pairs: set[tuple[int, int]] = set()
    for i, m in enumerate(members):
        for h in m.headers:
            j = first.setdefault(h, i)
            if j != i:
                pairs.add((j, i))
    out = []
    for i, j in sorted(pairs):
        a, b = members[i], members[j]
        named = [(x.summary.file if x.summary else x.path, io.load(x.path)[0]) for x in (a, b)]
        out += shared_work(named)
    return out


def _shared(members: list[Checked], v: Verdict) -> None:
    """No work counted twice. Files from before v5 seeded every rank of a host alike (their
    ranks scanned the same nonces): there the fleet's sum is unproven, not forged."""
    old = any(m.stored_version < 5 for m in members)
    twice = overlaps(members)
    if len(members) > 1 and not twice:
        v.proven.append(f"no share is held by two of its {len(members)} rank files: each rank's work is counted once")
    for a, b, n in twice:
        said = f"{a} and {b} hold {n:,} of the same shares: the same nonces scanned twice, counted twice"
        if old:
            v.unproven.append(said + " (files from before v5, whose ranks of one host shared a seed): the "
                              "fleet's sum is not the work done")
        else:
            v.problems.append(said + " (a rank's file copied as another's?)")


def _absent(f: FleetResult, absent: list[int], accept: bool, v: Verdict) -> None:
    if not absent:
        return
    ranks = ", ".join(map(str, absent))
    what = ("no rank file is beside it: the fleet proves nothing" if len(absent) == len(f.ranks) else
            f"rank(s) {ranks}: no file beside it: their rows are only the fleet file's word")
    if accept:
        v.unproven.append(what)
    else:
        v.problems.append(f"{v.path}: {what} (put the rank files beside it, or give {ALLOW} to take its word)")


def _rebuilt(f: FleetResult, members: list[RankSummary], raw: dict[str, Any], v: Verdict) -> None:
    """The fleet file rebuilt from its rank files' summaries, compared field by field (version 2)."""
    try:
        diff = _difference(fleet_of(members, f.created_utc), f, raw)
    except InputError as exc:
        diff = str(exc)
    if diff:
        v.problems.append(f"{v.path}: {diff} does not follow from the rank files beside it")
    else:
        v.proven.append(f"every row and figure rebuilt from the {len(members)} rank file(s) beside it, "
                        "each of which verifies on its own")


def verify_fleet(raw: dict[str, Any], where: str, trusted: list[sign.Signer] | None = None,
                 accept_claims: bool = False, pool: Pool | None = None) -> Verdict:
    """The verdict on a fleet file; its rank files are checked by ``pool``'s workers (a pool of
    every core when none is given)."""
    if pool is None:
        with Pool() as own:
            return verify_fleet(raw, where, trusted, accept_claims, own)
    v = Verdict(where, signer=Signer(Trust.FLEET))
    try:
        f = parse(raw, where)
    except BenchhashError as exc:
        return Verdict(where, "FAIL", [str(exc)])
    stored = raw.get("integrity")
    if not isinstance(stored, dict) or stored.get("digest") != io.digest_of(raw):
        return Verdict(where, "FAIL", [f"{where}: fleet integrity digest mismatch (edited after it was written)"])
    v1 = raw.get("fleet_schema_version") == 1
    v.problems += [f"{where}: {p}" for p in (_v1_problems(raw, where) if v1 else internal_problems(f))]
    checked, absent = _members(f, Path(where).parent, trusted, v, pool)
    members = _summaries(checked)
    v.problems += _run_problems(f, members) + (_v1_member_problems(raw, checked, where) if v1 else [])
    _shared(checked, v)
    _absent(f, absent, accept_claims, v)
    v.proven = ["fleet digest", "the fleet's totals follow from its node rows" if v1 else
                "the fleet's rates and watts are the medians of the per-trial sums it lists", *v.proven]
    if members and not absent and not v.problems and not v1:
        _rebuilt(f, members, raw, v)
    v.status = "FAIL" if v.problems else "OK"
    v.claimed = [CLAIMED] + _window_claims(f, members)
    if not f.complete and not v1:
        v.claimed.append("an incomplete fleet" + (f": rank(s) {', '.join(map(str, f.missing))} left no file"
                                                  if f.missing else ""))
    return v


def _window_claims(f: FleetResult, members: list[RankSummary]) -> list[str]:
    spreads = [t.start_spread_s for p in f.phases for t in p.trials if t.start_spread_s is not None]
    if not spreads:
        return []
    rtts = [m.fleet.clock_rtt_s for m in members if m.fleet is not None]
    known = f"; each rank's clock known to within ±{duration(max(rtts) / 2)}" if rtts else ""
    return [f"trial windows opened within {duration(max(spreads))} of each other "
            f"(on rank 0's clock, as each rank recorded it{known})"]


# --- version 1 -------------------------------------------------------------------------------
def _v1_member_problems(raw: dict[str, Any], members: list[Checked], where: str) -> list[str]:
    """Each node row against its node's file."""
    rows = {n["file"]: n.get("workloads") for n in raw.get("nodes", []) if isinstance(n, dict)}
    return [f"{where}: member {m.summary.file}: the fleet's rows for it do not match the file"
            for m in members if m.summary is not None and m.v1_rows != rows.get(m.summary.file)]


def _v1_problems(raw: dict[str, Any], where: str) -> list[str]:
    """The totals of a version 1 fleet file against its node rows."""
    f = parse_v1(raw, where)
    sums: dict[str, tuple[int, float, float | None]] = {}
    for node in f.nodes:
        for row in node.workloads:
            n, rate, watts = sums.get(row.workload, (0, 0.0, 0.0))
            sums[row.workload] = (n + 1, rate + (row.rate or 0.0),
                                  None if watts is None or row.average_w is None else watts + row.average_w)
    out = []
    for total in f.totals:
        n, rate, watts = sums.get(total.workload, (0, 0.0, None))
        if n != total.nodes or not close(rate, total.rate, 1e-9) or not close(watts, total.average_w, 1e-9):
            out.append(f"fleet total for {total.workload!r} does not follow from its nodes")
    return out
