"""Work counted twice: the evidence of two ranks of a fleet, or of two merged files, must not
overlap (the same SHA-256d shares: one rank's file copied as another's, or ranks that scanned the
same nonces). What a phase's evidence is, is asked of its workload."""

from __future__ import annotations

from collections import Counter

from benchhash.results.model import Result
from benchhash.workloads import known


def shared_work(named: list[tuple[str, Result]]) -> list[tuple[str, str, int]]:
    """(a, b, how many) for each two of these results whose evidence overlaps (the same SHA-256d
    shares): work done once and counted twice, a rank's file copied as another's."""
    first: dict[tuple[str, int], str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for name, result in named:
        for w in result.workloads:
            cls = known(w.workload)
            for key in cls.evidence(w) if cls is not None else set():
                if first.setdefault(key, name) != name:
                    counts[(first[key], name)] += 1
    return [(a, b, n) for (a, b), n in counts.items()]
