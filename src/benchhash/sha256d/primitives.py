"""SHA-256 (FIPS 180-4) constants and a plain-Python compression, plus the per-header
precomputation every fast backend shares.

The precomputation is what mining software does once per header instead of once per nonce:
the midstate of the first 64 bytes, the nonce-independent rounds 0-2 of the second block, the
message-schedule words that do not depend on the nonce, and partial sums for round 3 and for
W18/W19. The CPU and CUDA kernels read the same array (layout in :data:`PRE_LAYOUT`).
"""

from __future__ import annotations

import struct

import numpy as np

from benchhash.errors import InputError
from benchhash.sha256d.header import HEADER_BYTES

MASK = 0xFFFFFFFF

K: tuple[int, ...] = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)
IV: tuple[int, ...] = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)

#: Index of each precomputed word in the array handed to the kernels.
PRE_LAYOUT: dict[str, int] = {
    "midstate": 0,      # 8 words
    "w0": 8, "w1": 9, "w2": 10,  # second block: merkle tail, time, bits (big-endian words)
    "state3": 11,       # a..h after rounds 0-2 of the second block (8 words)
    "w16": 19, "w17": 20,
    "w18_part": 21,     # W18 = w18_part + sigma0(W3)
    "w19_part": 22,     # W19 = w19_part + W3
    "t1_3_part": 23,    # round 3: T1 = t1_3_part + W3
    "t2_3": 24,         # round 3: T2 (nonce-independent)
}
PRE_WORDS = 25


def rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & MASK


def big_sigma0(x: int) -> int:
    return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22)


def big_sigma1(x: int) -> int:
    return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25)


def small_sigma0(x: int) -> int:
    return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)


def small_sigma1(x: int) -> int:
    return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10)


def ch(e: int, f: int, g: int) -> int:
    return g ^ (e & (f ^ g))


def maj(a: int, b: int, c: int) -> int:
    return (a & b) | (c & (a | b))


def schedule(block: bytes) -> list[int]:
    """The 64-word message schedule of one 64-byte block."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        w.append((small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16]) & MASK)
    return w


def round_step(state: tuple[int, ...], k: int, w: int) -> tuple[int, ...]:
    """One SHA-256 round on the working variables (a..h)."""
    a, b, c, d, e, f, g, h = state
    t1 = (h + big_sigma1(e) + ch(e, f, g) + k + w) & MASK
    t2 = (big_sigma0(a) + maj(a, b, c)) & MASK
    return ((t1 + t2) & MASK, a, b, c, (d + t1) & MASK, e, f, g)


def compress(state: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    """The SHA-256 compression function: state (8 words) x 64-byte block -> new state."""
    if len(block) != 64:
        raise ValueError("a SHA-256 block is 64 bytes")
    work = tuple(state)
    for k, w in zip(K, schedule(block), strict=True):
        work = round_step(work, k, w)
    return tuple((s + v) & MASK for s, v in zip(state, work, strict=True))


def precompute(header: bytes) -> np.ndarray:
    """The per-header constants of the nonce scan, as uint32[PRE_WORDS] (see PRE_LAYOUT)."""
    if len(header) != HEADER_BYTES:
        raise InputError(f"header must be {HEADER_BYTES} bytes, got {len(header)}")
    mid = compress(IV, header[:64])
    w0, w1, w2 = struct.unpack(">3I", header[64:76])
    state = mid
    for t, w in enumerate((w0, w1, w2)):
        state = round_step(state, K[t], w)
    # Second block: W3 = nonce, W4 = 0x80000000 (padding), W5..W14 = 0, W15 = 640 (bit length).
    w16 = (small_sigma0(w1) + w0) & MASK                      # sigma1(W14)=0, W9=0
    w17 = (small_sigma1(640) + small_sigma0(w2) + w1) & MASK  # W10=0
    w18_part = (small_sigma1(w16) + w2) & MASK                # + sigma0(W3); W11=0
    w19_part = (small_sigma1(w17) + small_sigma0(0x80000000)) & MASK  # + W3; W12=0
    a, b, c, d, e, f, g, h = state
    t1_3_part = (h + big_sigma1(e) + ch(e, f, g) + K[3]) & MASK
    t2_3 = (big_sigma0(a) + maj(a, b, c)) & MASK
    words = [*mid, w0, w1, w2, *state, w16, w17, w18_part, w19_part, t1_3_part, t2_3]
    assert len(words) == PRE_WORDS
    return np.array(words, dtype=np.uint32)
