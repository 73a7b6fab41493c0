"""FIPS 180-4 vectors through the compression code the fast CPU kernel is generated from."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from benchhash.sha256d.cpu import kernel_module
from benchhash.sha256d.primitives import IV, compress, precompute
from conftest import FIPS_VECTORS, sha256_blocks


def _digest_numba(message: bytes) -> str:
    mod = kernel_module()
    state = np.array(IV, dtype=np.uint32)
    out = np.empty(8, np.uint32)
    for block in sha256_blocks(message):
        mod.compress(state, np.frombuffer(block, dtype=">u4").astype(np.uint32), out)
        state = out.copy()
    return struct.pack(">8I", *map(int, state)).hex()


def _digest_python(message: bytes) -> str:
    state = IV
    for block in sha256_blocks(message):
        state = compress(state, block)
    return struct.pack(">8I", *state).hex()


@pytest.mark.parametrize(("message", "expected"), FIPS_VECTORS, ids=lambda v: str(len(v)))
def test_fips_vectors_cpu_kernel_compress(message: bytes, expected: str) -> None:
    assert _digest_numba(message) == expected


@pytest.mark.parametrize(("message", "expected"), FIPS_VECTORS[:4], ids=lambda v: str(len(v)))
def test_fips_vectors_python_compress(message: bytes, expected: str) -> None:
    assert _digest_python(message) == expected == hashlib.sha256(message).hexdigest()


def test_precompute_midstate_matches_compress() -> None:
    header = bytes(range(80))
    pre = precompute(header)
    assert tuple(int(x) for x in pre[:8]) == compress(IV, header[:64])
