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


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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
    return parse_json(text, f"{what} {p}", error)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, where: str, error: type[BenchhashError] = InputError) -> Any:
    """Strict JSON: no NaN or Infinity, no lone surrogates, no integers beyond Python's digit
    limit, no nesting too deep to walk; each refused with one line naming the problem."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise error(f"{where} is nested too deeply to read") from None
    except ValueError as exc:          # NaN/Infinity, or an integer over the 4300-digit limit
        raise error(f"{where} is not JSON benchhash reads: {' '.join(str(exc).split())[:120]}") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{where} holds a lone surrogate (\\ud800..\\udfff): not text") from None
    except (RecursionError, ValueError):
        raise error(f"{where} is nested too deeply to read") from None
    return data


def clean_text(text: str) -> str:
    """Command-line text as UTF-8 can hold it: bytes that were not UTF-8 (surrogate-escaped by
    Python) become U+FFFD instead of breaking the file that records them."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_output(path: str | Path, text: str | bytes, flag: str = "--out") -> Path:
    """write_atomic for a file the user named: a folder, a file's child, /proc or a read-only
    place is one InputError naming the flag and the reason."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{flag}: {p} is a folder")
    file_above = next((a for a in p.parents if a.exists() and not a.is_dir()), None)
    if file_above is not None:
        raise InputError(f"{flag}: {file_above} is a file, not a folder")
    try:
        return write_atomic(p, text)
    except OSError as exc:
        raise InputError(f"{flag}: cannot write {p}: {os_reason(exc)}") from None


def print_json(data: Any, out: str | Path | None = None, indent: int = 1) -> None:
    """Print ``data`` as JSON and, when ``out`` is given, also write it there atomically (what
    the benchmark scripts do with their reports)."""
    text = json.dumps(data, indent=indent)
    print(text)
    if out:
        write_atomic(out, text + "\n")
