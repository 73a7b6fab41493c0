"""Reading and writing result files: canonical JSON, the integrity digest, atomic writes,
schema versions (newer refused, older migrated), one-line errors for anything malformed."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchhash import fsutil
from benchhash.errors import ResultFileError
from benchhash.fsutil import write_atomic
from benchhash.results.model import SCHEMA_VERSION, Integrity, Result


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added per-phase ``compile_s`` and the run's ``failures`` (a v1 run had none recorded:
    a failure stopped it)."""
    out = copy.deepcopy(data)
    out["schema_version"] = 2
    out.setdefault("failures", [])
    for w in out.get("workloads") or []:
        if isinstance(w, dict):
            w.setdefault("compile_s", None)
    return out


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v3 added power limits (`run --power-limits`): the config's list and a failure's limit.
    A v2 run never changed the limit, so both are empty."""
    out = copy.deepcopy(data)
    out["schema_version"] = 3
    if isinstance(out.get("config"), dict):
        out["config"].setdefault("power_limits_w", [])
    for f in out.get("failures") or []:
        if isinstance(f, dict):
            f.setdefault("power_limit_w", None)
    return out


def _with_phase_field(data: dict[str, Any], version: int, key: str) -> dict[str, Any]:
    """``data`` as ``version``, every phase given ``key`` as null (what the older run had not)."""
    out = copy.deepcopy(data)
    out["schema_version"] = version
    for w in out.get("workloads") or []:
        if isinstance(w, dict):
            w.setdefault(key, None)
    return out


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """v4 added each phase's ``load`` (load average, CPU shares); a v3 run did not read it."""
    return _with_phase_field(data, 4, "load")


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """v5 binds each phase to its run (``binding``: a seed from the run id, host, device, PCI bus
    id, fleet rank, meter and label); a v4 run bound only SHA-256d's proof, by an older rule."""
    return _with_phase_field(data, 5, "binding")


def _v5_to_v6(data: dict[str, Any]) -> dict[str, Any]:
    """v6 stores a trial's SHA-256d shares packed (``proof.packed_shares``: results/shares.py)
    without their hashes. The proof is the workload's to read, by the version the file was
    written in (a v5 file's listed shares and hashes are checked as listed), so only the
    version changes here."""
    out = dict(data)
    out["schema_version"] = 6
    return out


#: from-version -> function turning a file of that version into the next one (asv-style).
#: The integrity digest always covers the file as stored, before any migration.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6}

#: What each version added, as paths into the file ([] for each item of a list). A file that
#: claims an older version holds none of what came later: claiming an old version to escape a
#: newer rule needs a file that looks old. (A signature may be added to a file of any version.)
ADDED: dict[int, tuple[str, ...]] = {
    2: ("run_id", "fleet", "failures", "device.pci_bus_id", "device.sm_count", "device.memory_bytes",
        "device.mig_profile", "workloads[].compile_s", "workloads[].proof.seed_rule",
        "workloads[].trials[].started_unix_s", "workloads[].trials[].ended_unix_s",
        "workloads[].trials[].started_fleet_s"),
    3: ("config.power_limits_w", "failures[].power_limit_w", "workloads[].params.power_limit_w"),
    4: ("workloads[].load",),
    5: ("workloads[].binding",),
    6: ("workloads[].trials[].proof.packed_shares",),
}


def _holds(data: Any, path: list[str]) -> bool:
    """Whether ``data`` has something at ``path`` (a list step: in any of its items)."""
    if not path:
        return True
    head, rest = path[0], path[1:]
    if head.endswith("[]"):
        items = data.get(head[:-2]) if isinstance(data, dict) else None
        return isinstance(items, list) and any(_holds(item, rest) for item in items)
    return isinstance(data, dict) and head in data and _holds(data[head], rest)


def anachronisms(data: dict[str, Any]) -> list[str]:
    """What a file holds that came after the schema version it claims (a newer file relabelled
    old, to escape the rules that bind newer files): [] for a file that looks its age."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return []
    return [f"it claims schema {version} but holds {path}, which schema {since} added: a newer file "
            "relabelled old" for since, paths in sorted(ADDED.items()) if since > version
            for path in paths if _holds(data, path.split("."))]


def canonical_bytes(data: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the byte string the integrity digest covers."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


#: What the digest leaves out: itself, and the signature made over it afterwards.
UNSEALED = ("integrity", "signature")


def digest_of(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``data`` without its integrity and signature fields."""
    body = {k: v for k, v in data.items() if k not in UNSEALED}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def seal(result: Result) -> dict[str, Any]:
    """The result as a JSON-ready dict with its integrity digest filled in (a signature, if
    any, is kept: it covers the digest, which sealing the same content does not change)."""
    data = result.model_dump(mode="json", exclude={"integrity"})
    if data.get("signature") is None:
        data.pop("signature", None)
    data["integrity"] = Integrity(digest=digest_of(data)).model_dump(mode="json")
    return data


#: Set to 1 to have every result and fleet file written indented (for reading by eye).
PRETTY_ENV = "BENCHHASH_PRETTY"


def dumps(data: dict[str, Any], pretty: bool | None = None) -> str:
    """A file's text: compact JSON (no whitespace) and a newline; indented when ``pretty`` (by
    default: when the environment sets BENCHHASH_PRETTY=1). The digest and a signature cover
    the canonical form, never the whitespace, so either form of a file verifies."""
    if pretty is None:
        pretty = os.environ.get(PRETTY_ENV, "") not in ("", "0")
    if pretty:
        return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


def write(result: Result, path: str | Path) -> Path:
    """Seal and write atomically; returns the path written."""
    return write_atomic(path, dumps(seal(result)))


def integrity_problem(data: dict[str, Any]) -> str | None:
    """None when the stored digest matches the content, else what is wrong."""
    stored = data.get("integrity")
    if not isinstance(stored, dict) or "digest" not in stored:
        return "no integrity digest"
    actual = digest_of(data)
    if stored["digest"] != actual:
        return f"integrity digest mismatch: file says {str(stored['digest'])[:16]}…, content hashes to {actual[:16]}…"
    return None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = exc.error_count() - 1
    return f"{loc}: {err['msg']}" + (f" (and {more} more problem(s))" if more else "")


def migrate(data: dict[str, Any], where: str) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultFileError(f"{where}: no integer schema_version; not a benchhash result file")
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{where}: schema_version {version} is newer than this benchhash reads "
            f"(up to {SCHEMA_VERSION}); upgrade benchhash")
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ResultFileError(f"{where}: schema_version {version} is not one benchhash knows")
        data = step(data)
        version = data["schema_version"]
    return data


def parse(data: Any, where: str = "result") -> Result:
    """Validate a decoded JSON document as a result (after migrating older versions)."""
    if not isinstance(data, dict):
        raise ResultFileError(f"{where}: a result file is a JSON object")
    version = data.get("schema_version")
    data = migrate(data, where)
    try:
        result = Result.model_validate(data)
    except ValidationError as exc:
        raise ResultFileError(f"{where}: {_first_error(exc)}") from None
    result._stored_version = version if isinstance(version, int) else SCHEMA_VERSION
    return result


def read_json(path: str | Path) -> dict[str, Any]:
    data = fsutil.read_json(path, "result file", ResultFileError)
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: a result file is a JSON object")
    return data


def load(path: str | Path) -> tuple[Result, dict[str, Any]]:
    """(validated model, raw dict as stored). Integrity is checked by verify, not here, so that
    an edited file can still be read and reported on."""
    raw = read_json(path)
    return parse(raw, str(path)), raw
