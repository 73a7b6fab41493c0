"""SHA-256d shares as a result file stores them from schema 6: packed (header index, nonce) pairs.

A share is the pair (j, n): the j-th header of the phase's proof with nonce n. The hash is not
stored (verify recomputes it, and it must meet the share target). The encoding, named
``delta-leb128-base64``:

1. each pair as the integer ``key = j * 2**32 + n``;
2. the keys sorted ascending, each strictly greater than the one before (a share twice cannot be
   written);
3. the first key as is, each later one as its difference from the one before;
4. each of those as an unsigned LEB128 varint (7 bits a byte, least significant first, the high
   bit set on every byte but the last; no needless 0x80 bytes);
5. the bytes in base64 (RFC 4648, standard alphabet, padded).

In the JSON: ``{"encoding": "delta-leb128-base64", "count": N, "data": "..."}``. A trial's
shares are spaced about 2**share_bits nonces apart (exponentially), so a share takes 3 to 4
bytes at a 22-bit target: the published H100 file's 10,157 shares take 3.6 bytes each, 4.8 in
base64 (48.7 kB), where the listed form took 153 bytes each. One set of shares has exactly one
encoding: unpack refuses anything pack would not have written."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from benchhash.results.model import Model

ENCODING: Literal["delta-leb128-base64"] = "delta-leb128-base64"
NONCE_BITS = 32
NONCE_MASK = (1 << NONCE_BITS) - 1
#: A header index fits in 31 bits (2**31 headers of 2**32 nonces is far beyond any run).
MAX_KEY = (1 << (31 + NONCE_BITS)) - 1


class PackedShares(Model):
    """A trial's shares, packed (see the module's docstring for the encoding)."""

    encoding: Literal["delta-leb128-base64"] = Field(description="sorted keys j*2^32+n, delta, LEB128, base64")
    count: int = Field(ge=0, description="how many shares")
    data: str = Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$", description="base64 of the varints")


class SharesError(ValueError):
    """Packed shares that are not in the one form pack writes."""


def key(header: int, nonce: int) -> int:
    """header << 32 | nonce; a ValueError for a negative header or a nonce past 32 bits."""
    if header < 0 or not 0 <= nonce <= NONCE_MASK:
        raise ValueError(f"no share ({header}, {nonce}): a header index >= 0 and a 32-bit nonce")
    return (header << NONCE_BITS) | nonce


def _varints(keys: list[int]) -> bytes:
    out = bytearray()
    prev = 0
    for k in keys:
        v = k - prev
        prev = k
        while v > 0x7F:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def pack_keys(keys: Iterable[int]) -> PackedShares:
    """Keys (header << 32 | nonce) packed; a ValueError for a key twice or out of range."""
    ordered = sorted(keys)
    if ordered and not 0 <= ordered[0] <= ordered[-1] <= MAX_KEY:
        raise ValueError("a share key out of range (a header index past 2^31, or a nonce past 2^32)")
    if any(a == b for a, b in zip(ordered, ordered[1:], strict=False)):
        raise ValueError("the same share twice")
    return PackedShares(encoding=ENCODING, count=len(ordered),
                        data=base64.b64encode(_varints(ordered)).decode("ascii"))


def pack(pairs: Iterable[tuple[int, int]]) -> PackedShares:
    """(header index, nonce) pairs packed."""
    return pack_keys(key(j, n) for j, n in pairs)


def _decode_varints(raw: bytes) -> list[int]:
    keys: list[int] = []
    value = shift = prev = 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise SharesError("a varint longer than 9 bytes")
            continue
        if byte == 0 and shift:
            raise SharesError("a varint with a needless trailing zero byte")
        if value == 0 and keys:
            raise SharesError("a share twice (a difference of 0)")
        prev += value
        keys.append(prev)
        value = shift = 0
    if shift:
        raise SharesError("the data ends inside a varint")
    return keys


def unpack_keys(packed: PackedShares) -> list[int]:
    """The sorted keys (header << 32 | nonce); a SharesError naming what is wrong otherwise."""
    try:
        raw = base64.b64decode(packed.data, validate=True)
    except binascii.Error as exc:
        raise SharesError(f"data is not base64 ({exc})") from None
    keys = _decode_varints(raw)
    if len(keys) != packed.count:
        raise SharesError(f"count says {packed.count} shares, data holds {len(keys)}")
    if keys and keys[-1] > MAX_KEY:
        raise SharesError("a share key out of range (a header index past 2^31)")
    if base64.b64encode(raw).decode("ascii") != packed.data:
        raise SharesError("base64 not in its canonical form")
    return keys


def unpack(packed: PackedShares) -> list[tuple[int, int]]:
    """The (header index, nonce) pairs, sorted."""
    return [(k >> NONCE_BITS, k & NONCE_MASK) for k in unpack_keys(packed)]


def packed_copy(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a result file's JSON with every trial's listed shares (schema 5 and before)
    packed as schema 6 writes them, and schema_version 6; not resealed. For measuring what a
    file weighs and costs to check as schema 6 (scripts/bench_verify.py, bench_fleet_scale.py):
    a file whose proof follows an older seed rule does not verify as schema 6."""
    d = copy.deepcopy(raw)
    d["schema_version"] = 6
    for w in d["workloads"]:
        for t in w["trials"]:
            if isinstance(t.get("proof"), dict) and "shares" in t["proof"]:
                pairs = [(s["header"], s["nonce"]) for s in t["proof"].pop("shares")]
                t["proof"]["packed_shares"] = pack(pairs).model_dump(mode="json")
    return d
