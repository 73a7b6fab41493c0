"""The loop around the generated CPU kernel: early reject on H7, then the full hash and an exact
256-bit comparison for the few nonces that pass.

These functions are plain Python on purpose: :mod:`benchhash.sha256d.cpu` copies their source
beside the generated ``h7_block`` and ``compress`` into one module that numba compiles and
caches. They name those two as globals, so this file is not imported on its own at run time.
"""

# ruff: noqa: F821  (h7_block, compress and u32 are defined in the generated module)
from __future__ import annotations

import numpy as np

BLOCK = 4096  # nonces per call of the vector kernel: its H7 buffer stays in L1/L2


def bswap32(x):
    return u32(((x & 255) << 24) | ((x & 65280) << 8) | ((x >> 8) & 65280) | (x >> 24))


def full_hash(pre, nonce, out):
    """out[0..7] = SHA-256d state words of the header with this nonce (pre: precomputed words)."""
    block = np.zeros(16, np.uint32)
    block[0] = pre[8]
    block[1] = pre[9]
    block[2] = pre[10]
    block[3] = bswap32(u32(nonce))
    block[4] = u32(0x80000000)
    block[15] = u32(640)
    first = np.empty(8, np.uint32)
    compress(pre[0:8], block, first)
    block2 = np.zeros(16, np.uint32)
    block2[0:8] = first
    block2[8] = u32(0x80000000)
    block2[15] = u32(256)
    iv = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                   0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint32)
    compress(iv, block2, out)


def at_most(words, thr):
    """The hash (state words, internal order) read as a little-endian integer is <= thr
    (thr: uint32[8], most significant word first)."""
    for k in range(8):
        v = bswap32(words[7 - k])
        if v < thr[k]:
            return True
        if v > thr[k]:
            return False
    return True


def scan_chunk(pre, start, n, thr, out_nonces, out_words):
    """Scan nonces start..start+n-1; store each whose hash <= thr. Returns how many qualified,
    which may exceed the buffer's length (then only the first len(out_nonces) are stored)."""
    h7 = np.empty(BLOCK, np.uint32)
    words = np.empty(8, np.uint32)
    found = 0
    cap = out_nonces.shape[0]
    top = thr[0]
    done = 0
    while done < n:
        m = min(BLOCK, n - done)
        h7_block(pre, start + done, m, h7)
        for i in range(m):
            if bswap32(h7[i]) <= top:
                nonce = start + done + i
                full_hash(pre, nonce, words)
                if at_most(words, thr):
                    if found < cap:
                        out_nonces[found] = nonce
                        out_words[found, :] = words
                    found += 1
        done += m
    return found
