"""Packed SHA-256d shares (results/shares.py): the one encoding of a set of (header, nonce)
pairs, every other form refused with its reason, and its size on a realistic trial."""

from __future__ import annotations

import base64
import random

import pytest

from benchhash.results.shares import MAX_KEY, PackedShares, SharesError, key, pack, pack_keys, unpack, unpack_keys


def _packed(raw: bytes, count: int) -> PackedShares:
    return PackedShares(encoding="delta-leb128-base64", count=count, data=base64.b64encode(raw).decode())


def test_round_trip_sorted_whatever_the_order() -> None:
    rng = random.Random(7)
    pairs = {(rng.randrange(40), rng.randrange(1 << 32)) for _ in range(5000)} | {(0, 0), (39, (1 << 32) - 1)}
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    packed = pack(shuffled)
    assert packed.count == len(pairs) and unpack(packed) == sorted(pairs)
    assert pack(sorted(pairs)) == packed                       # one set, one encoding
    assert unpack(pack([])) == [] and pack([]).data == ""


def test_the_documented_bytes() -> None:
    """Keys 5 and 2**32 + 300: deltas 5 and 2**32 + 295, as LEB128 varints, in base64."""
    packed = pack([(1, 300), (0, 5)])
    delta = (1 << 32) + 295
    varint = bytes([(delta >> (7 * i) & 0x7F) | (0x80 if i < 4 else 0) for i in range(5)])
    assert base64.b64decode(packed.data) == bytes([5]) + varint
    assert key(1, 300) == (1 << 32) + 300


@pytest.mark.parametrize(("raw", "count", "says"), [
    (bytes([5, 0]), 2, "a share twice"),
    (bytes([0x85, 0x00]), 1, "needless trailing zero"),
    (bytes([0x85]), 1, "ends inside a varint"),
    (bytes([0xFF] * 10 + [1]), 1, "longer than 9 bytes"),
    (bytes([5, 6]), 3, "count says 3 shares, data holds 2"),
    (bytes([0xFF] * 8 + [0x7F, 1]), 2, "out of range"),
])
def test_every_other_form_is_refused(raw: bytes, count: int, says: str) -> None:
    with pytest.raises(SharesError, match=says):
        unpack_keys(_packed(raw, count))


def test_non_canonical_base64_is_refused() -> None:
    good = pack([(0, 1)])                     # one byte: "AQ=="
    with pytest.raises(SharesError, match="canonical"):
        unpack(PackedShares(encoding="delta-leb128-base64", count=1, data="AR=="))   # same byte, stray bits
    with pytest.raises(SharesError, match="not base64"):
        unpack(good.model_copy(update={"data": "AQ="}))


def test_pack_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="twice"):
        pack([(0, 1), (0, 1)])
    with pytest.raises(ValueError, match="out of range"):
        pack([(1 << 31, 0)])
    with pytest.raises(ValueError, match="32-bit nonce"):
        pack([(0, 1 << 32)])
    assert unpack_keys(pack_keys([MAX_KEY])) == [MAX_KEY]


def test_an_h100_trial_packs_in_about_four_bytes_a_share() -> None:
    """An H100 trial: 14 GH on 4 headers at a 22-bit target, about 3,400 shares (the listed
    form took 153 bytes each, indented)."""
    rng = random.Random(30)
    pairs = [(j, n) for j in range(4) for n in range(0, 1 << 32, 1 << 22) if rng.random() < 0.83]
    packed = pack((j, (n + rng.randrange(1 << 22)) & 0xFFFFFFFF) for j, n in pairs)
    raw = base64.b64decode(packed.data)
    assert 3000 < packed.count < 3800 and len(raw) / packed.count < 4.1 and len(packed.data) / packed.count < 5.5
