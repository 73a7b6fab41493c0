"""Where a result goes: `results/<device>/<host>-<UTC time>.json` unless --out says otherwise."""

from __future__ import annotations

import os
import re
from pathlib import Path

from benchhash.errors import InputError
from benchhash.fsutil import clean_leftovers, create_new, os_reason, write_atomic


def slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'; '(R)', '(TM)', 'CPU @ 2.1GHz' dropped."""
    text = re.sub(r"\((r|tm|c)\)", " ", name.lower())
    text = re.sub(r"\bcpu\s*@.*$", " ", text)
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "device"


def file_name(host: str, utc_stamp: str) -> str:
    """host + compact UTC time, e.g. 'node7-20261121T101500Z.json'."""
    stamp = utc_stamp.replace("-", "").replace(":", "")
    return f"{slug(host)}-{stamp}.json"


def _check_writable_dir(folder: Path, flag: str) -> None:
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"{flag}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{flag}: cannot write under {probe} (permission denied)")


def output_path(out: str | None, device_name: str, host: str, utc_stamp: str,
                flag: str = "--out") -> Path:
    """The file to write. ``out``: None (default layout under ./results), a path ending in .json
    (that file), or a folder (the default name inside it): one that exists, or a name without a
    suffix. Anything else (``--out foo.txt``) is refused rather than made a folder."""
    name = file_name(host, utc_stamp)
    if out is None:
        path = Path("results") / slug(device_name) / name
    else:
        if not out.strip():
            raise InputError(f"{flag} is empty")
        p = Path(out).expanduser()
        if p.suffix.lower() == ".json" and p.is_dir():
            raise InputError(f"{flag}: {p} is a folder; a result is written to a file ending in .json")
        if p.suffix and p.suffix.lower() != ".json" and not p.is_dir():
            raise InputError(f"{flag}: {p} is neither a .json file nor a folder: give NAME.json, or a "
                             "folder (one that exists, when its name has a dot)")
        path = p if p.suffix.lower() == ".json" else p / name
    _check_writable_dir(path.parent, flag)
    if path.is_dir():
        raise InputError(f"{flag}: {path} is a folder")
    return path


def named_by_user(out: str | None) -> bool:
    """Whether --out names the file itself (a .json path), rather than a folder or nothing."""
    return out is not None and Path(out).expanduser().suffix.lower() == ".json" \
        and not Path(out).expanduser().is_dir()


def claim(path: Path, text: str, *, named: bool, force: bool, flag: str = "--out") -> Path:
    """Take a result's name before the run, writing ``text`` (a first checkpoint) there. A name
    the user gave is never overwritten without ``force``; a name benchhash chose gets -1, -2...
    when taken, so two runs in the same second into one folder keep two files. Temporary files
    that killed writers left in the folder go first."""
    clean_leftovers(path.parent)
    try:
        if named:
            if force:
                write_atomic(path, text)
                return path
            if create_new(path, text):
                return path
            raise InputError(f"{flag}: {path} exists; give --force to overwrite it, or another name")
        for n in range(1000):
            candidate = path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")
            if create_new(candidate, text):
                return candidate
    except OSError as exc:
        raise InputError(f"{flag}: cannot write {path}: {os_reason(exc)}") from None
    raise InputError(f"{flag}: no free name like {path} (1000 taken)")
