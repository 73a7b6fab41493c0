"""Files: atomic writes (a temporary file in the same folder, fsync'd, then renamed into place,
so a reader never sees half a file and an interrupted write leaves nothing behind), and JSON
reads whose every failure is one line naming the file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchhash.errors import BenchhashError, InputError


def cache_dir() -> Path:
    """benchhash's cache: compiled kernels, and results that could not be written where asked
    (BENCHHASH_CACHE_DIR overrides; else $XDG_CACHE_HOME/benchhash or ~/.cache/benchhash)."""
    env = os.environ.get("BENCHHASH_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "benchhash"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def create_new(path: str | Path, text: str) -> bool:
    """Write ``text`` to ``path`` only if no file is there yet, atomically (a hard link of a
    finished temporary file, so the name appears with its whole content). False if it exists."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:              # a filesystem without hard links: exclusive open instead
            try:
                with open(target, "x", encoding="utf-8") as fh:
                    fh.write(text)
            except FileExistsError:
                return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def os_reason(exc: OSError) -> str:
    """'No space left on device', 'Permission denied', ...: the part of an OSError a person reads."""
    return exc.strerror or str(exc)


def read_json(path: str | Path, what: str, error: type[BenchhashError] = InputError) -> Any:
    """Decode a JSON file; unreadable or malformed -> ``error`` with a one-line message."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"cannot read {what} {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"cannot read {what} {p}: {reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {p} is not JSON: {exc.msg} at line {exc.lineno}") from None


def print_json(data: Any, out: str | Path | None = None, indent: int = 1) -> None:
    """Print ``data`` as JSON and, when ``out`` is given, also write it there atomically (what
    the benchmark scripts do with their reports)."""
    text = json.dumps(data, indent=indent)
    print(text)
    if out:
        write_atomic(out, text + "\n")
