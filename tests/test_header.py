from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchhash.errors import InputError
from benchhash.sha256d.header import (
    DIFF1_TARGET,
    GENESIS,
    BlockHeader,
    bits_to_target,
    difficulty,
    share_target,
    target_to_bits,
)

GENESIS_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f61"
    "7fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")


def test_genesis_round_trip_and_hash() -> None:
    assert GENESIS.hex() == GENESIS_HEX
    assert BlockHeader.from_hex(GENESIS_HEX) == GENESIS
    assert GENESIS.hash_hex() == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def test_block_125552_from_fields() -> None:
    # A well-known worked example (Bitcoin wiki, "Block hashing algorithm").
    h = BlockHeader(1, "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81",
                    "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3",
                    1305998791, 0x1A44B9F2, 2504433986)
    assert h.hash_hex() == "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
    assert int.from_bytes(h.hash(), "little") <= h.target


def test_bits_and_difficulty() -> None:
    assert bits_to_target(0x1D00FFFF) == DIFF1_TARGET
    assert difficulty(DIFF1_TARGET) == 1.0
    assert bits_to_target(0x1A44B9F2) == 0x44B9F2 << (8 * 23)
    assert target_to_bits(bits_to_target(0x17034219)) == 0x17034219
    assert share_target(32) == (1 << 224) - 1


@given(st.integers(min_value=1, max_value=(1 << 255)))
def test_target_to_bits_rounds_down_and_round_trips(target: int) -> None:
    bits = target_to_bits(target)
    expanded = bits_to_target(bits)
    assert expanded <= target
    assert target_to_bits(expanded) == bits
    assert target.bit_length() - expanded.bit_length() <= 1


@pytest.mark.parametrize("text", ["zz", "00" * 79, "00" * 81, "0x" + "g" * 160])
def test_bad_header_hex(text: str) -> None:
    with pytest.raises(InputError):
        BlockHeader.from_hex(text)


def test_bad_bits() -> None:
    with pytest.raises(InputError):
        bits_to_target(0x04923456)  # sign bit set
    with pytest.raises(InputError):
        bits_to_target(0xFF123456)  # far above 2^256
