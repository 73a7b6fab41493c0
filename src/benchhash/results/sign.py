"""Signing result files with the SSH keys people already have (Ed25519, OpenSSH format).

The signature is an SSHSIG (the format of `ssh-keygen -Y sign`, namespace 'benchhash-result')
over the file's integrity digest and the time it was signed (``signed_utc``: a key's
valid-after and valid-before in a trusted list are judged by it, so it is signed too), so it can
also be checked without benchhash:

    printf '%s %s' DIGEST SIGNED_UTC | ssh-keygen -Y verify -f allowed_signers -I ID -n benchhash-result -s SIG

Signatures made before the time was signed (message V1: the digest alone) still check, but their
time is only claimed: a key whose trust has a time window does not vouch for them.

The digest shows the file was not edited; the signature says who vouches for it: seconds,
joules, the device and the host are claims, and a signature makes them attributable to a
publisher. Keys and signatures go through `cryptography`; this module only frames the bytes."""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchhash.errors import InputError
from benchhash.fsutil import read_bytes, read_text
from benchhash.results.model import Signature
from benchhash.units import utc_now

NAMESPACE = "benchhash-result"
HASH = "sha512"
PASSPHRASE_ENV = "BENCHHASH_KEY_PASSPHRASE"
ALGORITHM = "ssh-ed25519"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise InputError(f"signing needs the cryptography package ({exc}); pip install cryptography") from None
    return serialization, ed25519


def _string(data: bytes) -> bytes:
    """An SSH wire-format string: uint32 length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def _strings(blob: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(blob):
        if i + 4 > len(blob):
            raise ValueError("truncated")
        (n,) = struct.unpack(">I", blob[i:i + 4])
        if i + 4 + n > len(blob):
            raise ValueError("truncated")
        out.append(blob[i + 4:i + 4 + n])
        i += 4 + n
    return out


def _signed_data(message: bytes) -> bytes:
    return (b"SSHSIG" + _string(NAMESPACE.encode()) + _string(b"") + _string(HASH.encode())
            + _string(hashlib.sha512(message).digest()))


def fingerprint(public_blob: bytes) -> str:
    """SHA256:... as `ssh-keygen -l` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_blob).digest()).decode().rstrip("=")


#: The message of signatures over the digest alone (before signed_utc was signed too).
V1 = "benchhash-result-signature-v1 + integrity digest (hex)"


def message(digest: str, signed_utc: str | None = None) -> bytes:
    """What is signed: the integrity digest as hex text, a space and the signing time (V1
    signatures: the digest alone)."""
    return (digest if signed_utc is None else f"{digest} {signed_utc}").encode("ascii")


def _message_of(sig: Signature, digest: str) -> bytes:
    return message(digest, None if sig.message == V1 else sig.signed_utc)


def load_key(path: str | Path) -> Any:
    """An Ed25519 private key in OpenSSH format; a passphrase comes from BENCHHASH_KEY_PASSPHRASE."""
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import UnsupportedAlgorithm
    p = Path(path).expanduser()
    data = read_bytes(p, "key")
    secret = os.environ.get(PASSPHRASE_ENV)
    key = None
    for password in ([secret.encode()] if secret else []) + [None]:
        try:
            key = serialization.load_ssh_private_key(data, password=password)
            break
        except UnsupportedAlgorithm as exc:
            raise InputError(f"key {p}: {exc} (encrypted OpenSSH keys need the bcrypt package)") from None
        except TypeError:            # a passphrase for a plain key (try without), or none for a locked one
            continue
        except ValueError as exc:
            if password is not None and "checksum" in str(exc).lower():   # a wrong passphrase
                raise InputError(f"key {p}: wrong passphrase in {PASSPHRASE_ENV}, or a damaged key") from None
            raise InputError(f"key {p} is not an OpenSSH private key ({exc})") from None
    if key is None:
        raise InputError(f"key {p} is encrypted: put its passphrase in {PASSPHRASE_ENV}")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"key {p} is a {type(key).__name__.replace('PrivateKey', '')} key; "
                         "benchhash signs with Ed25519 keys only (ssh-keygen -t ed25519)")
    return key


def sign_digest(key: Any, digest: str) -> Signature:
    """The SSHSIG of a result's digest with an Ed25519 private key."""
    serialization, _ = _crypto()
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    public_blob = base64.b64decode(line.split()[1])
    now = utc_now()
    raw = key.sign(_signed_data(message(digest, now)))
    blob = (b"SSHSIG" + struct.pack(">I", 1) + _string(public_blob) + _string(NAMESPACE.encode())
            + _string(b"") + _string(HASH.encode()) + _string(_string(ALGORITHM.encode()) + _string(raw)))
    return Signature(public_key=line.decode(), fingerprint=fingerprint(public_blob),
                     signature=base64.b64encode(blob).decode(), signed_utc=now)


def check(sig: Signature, digest: str) -> str | None:
    """None when ``sig`` is a valid SSHSIG of ``digest`` (and its signing time) by the key it
    names, else why not."""
    _, ed25519 = _crypto()
    try:
        blob = base64.b64decode(sig.signature, validate=True)
        if blob[:6] != b"SSHSIG" or struct.unpack(">I", blob[6:10])[0] != 1:
            return "the signature is not an SSHSIG (version 1)"
        public_blob, namespace, _reserved, hash_alg, wrapped = _strings(blob[10:])
        kind, raw = _strings(wrapped)
        key_kind, key_bytes = _strings(public_blob)
    except (ValueError, struct.error):
        return "the signature is malformed"
    if namespace.decode(errors="replace") != NAMESPACE or hash_alg != HASH.encode():
        return f"the signature is for namespace {namespace!r} with {hash_alg!r}, not a benchhash result"
    if kind != ALGORITHM.encode() or key_kind != ALGORITHM.encode():
        return "only ssh-ed25519 signatures are accepted"
    if fingerprint(public_blob) != sig.fingerprint or sig.public_key.split()[1:2] != [
            base64.b64encode(public_blob).decode()]:
        return "the signature's key is not the public key the file names"
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key_bytes).verify(raw, _signed_data(_message_of(sig, digest)))
    except Exception:  # noqa: BLE001 - cryptography's InvalidSignature, or a bad key
        return "the signature does not match this file's content (edited after signing?)"
    return None


@dataclass(frozen=True)
class Signer:
    principals: tuple[str, ...]
    key: str                     # base64 of the public key blob
    namespaces: tuple[str, ...] | None
    valid_after: str | None
    valid_before: str | None


def _ssh_time(text: str) -> str:
    """YYYYMMDD[HHMM[SS]][Z] as a sortable UTC stamp like the result's."""
    digits = text.rstrip("Zz")
    digits = (digits + "000000")[:14] if len(digits) in (8, 12, 14) else "0" * 14
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}Z"


def _signer(line: str) -> Signer | None:
    tokens = shlex.split(line, comments=False, posix=True)
    kinds = [i for i, t in enumerate(tokens) if t.startswith(("ssh-", "ecdsa-", "sk-"))]
    if len(tokens) < 3 or not kinds or kinds[0] < 1 or kinds[0] + 1 >= len(tokens):
        return None
    i = kinds[0]
    options: dict[str, str | None] = {}
    for opt in ",".join(tokens[1:i]).split(","):
        if opt:
            name, _, value = opt.partition("=")
            options[name.lower()] = value.strip('"') if value else None
    if "cert-authority" in options or tokens[i] != ALGORITHM:
        return None
    spaces, after, before = (options.get(k) for k in ("namespaces", "valid-after", "valid-before"))
    return Signer(principals=tuple(tokens[0].split(",")), key=tokens[i + 1],
                  namespaces=tuple(spaces.split(",")) if spaces else None,
                  valid_after=_ssh_time(after) if after else None,
                  valid_before=_ssh_time(before) if before else None)


def allowed_signers(path: str | Path) -> list[Signer]:
    """The Ed25519 entries of an ssh-keygen allowed_signers file."""
    p = Path(path).expanduser()
    text = read_text(p, "trusted keys")
    signers = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            s = _signer(line)
        except ValueError as exc:
            raise InputError(f"{p} line {n}: {exc}") from None
        if s is not None:
            signers.append(s)
    return signers


def who(sig: Signature, signers: list[Signer]) -> list[str]:
    """The principals the trusted list gives this signature's key (for this namespace, at the
    time it was signed); [] when the key is not trusted. A V1 signature's time is not signed: a
    key trusted only for a time window does not vouch for it."""
    key = (sig.public_key.split() + ["", ""])[1]
    names: list[str] = []
    for s in signers:
        if s.key != key or (s.namespaces is not None and NAMESPACE not in s.namespaces):
            continue
        if sig.message == V1 and (s.valid_after or s.valid_before):
            continue
        if (s.valid_after and sig.signed_utc < s.valid_after) or (s.valid_before and sig.signed_utc > s.valid_before):
            continue
        names += [p for p in s.principals if p not in names]
    return names
