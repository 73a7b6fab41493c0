"""Files: atomic writes (a temporary file in the same folder, fsync'd, then renamed into place,
so a reader never sees half a file; a write that fails leaves nothing behind, and the temporary
file of a writer killed outright, which nothing can remove as it dies, is removed by the next
run that writes into that folder), and strict JSON reads of regular files whose every failure is
one line naming the file."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import stat
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


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


#: A temporary file's name says which file it becomes and which process on which host writes it:
#: .NAME.HOST.PID.RANDOM.tmp
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _temporary(target: Path) -> tuple[int, str]:
    return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{_host()}.{os.getpid()}.", suffix=".tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_leftovers(folder: str | Path) -> list[Path]:
    """Remove the temporary files that writers on this host left in ``folder`` when they were
    killed (their process is gone); those of live writers, or of other hosts sharing the folder,
    stay. Returns what was removed; a folder that cannot be listed removes nothing."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    for p in entries:
        m = _TEMPORARY.match(p.name)
        if m is None or m["host"] != _host() or _alive(int(m["pid"])):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(target)
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
    fd, tmp = _temporary(target)
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


#: The most bytes benchhash reads from one file: a result with every share of long trials is a
#: few MB, a year of 15-minute prices well under 10 MB; /dev/zero or a runaway file is refused.
MAX_READ_BYTES = 256 * 2**20


def read_bytes(path: str | Path, what: str, error: type[BenchhashError] = InputError,
               limit: int = MAX_READ_BYTES) -> bytes:
    """A regular file's bytes, at most ``limit``: a FIFO, a device or a folder is refused at once
    (opened without blocking, then checked), and every failure is one line naming the file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"cannot read {what} {p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {what} {p}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"cannot read {what} {p}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            # a buffer of the file's size, not of the limit (read(n) allocates n at once: 256 MiB
            # a file, whatever its size); what a growing file added since fstat is read after
            data = fh.read(min(limit, st.st_size) + 1)
            if st.st_size < len(data) <= limit:
                data += fh.read(limit + 1 - len(data))
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {os_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"cannot read {what} {p}: larger than benchhash reads ({limit:,} bytes)")
    return data


def read_text(path: str | Path, what: str, error: type[BenchhashError] = InputError) -> str:
    """read_bytes as UTF-8 text; bytes that are not UTF-8 are one line, not a crash."""
    try:
        return read_bytes(path, what, error).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what} {path}: not UTF-8 text (byte {exc.start})") from None


def read_json(path: str | Path, what: str, error: type[BenchhashError] = InputError) -> Any:
    """Decode a JSON file strictly (parse_json); unreadable or malformed -> ``error``, one line."""
    return parse_json(read_text(path, what, error), f"{what} {path}", error)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is beyond a float's range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are each given once: with a key twice, readers that keep the first
    and those that keep the last would see different files."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:60]!r} appears twice in one object")
        out[key] = value
    return out


def parse_json(text: str, where: str, error: type[BenchhashError] = InputError) -> Any:
    """Strict JSON: no NaN or Infinity, no number beyond a float's range, no key twice in an
    object, no lone surrogates, no integers beyond Python's digit limit, no nesting too deep to
    walk; each refused with one line naming the problem."""
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise error(f"{where} is nested too deeply to read") from None
    except ValueError as exc:          # NaN/Infinity, 1e999, a key twice, an integer over the digit limit
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
