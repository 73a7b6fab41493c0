"""Writes the unrolled Python source of the CPU nonce kernel that numba compiles.

Why generate: LLVM vectorises a loop over nonces only when its body is straight-line code on
scalars. Written out round by round, with every word that is known when the code is generated
(padding, lengths, the second hash's initial state) folded into a literal, the body is one long
basic block: the loop vectoriser maps it onto AVX2/AVX-512 lanes, rotates become VPROLD and
Ch/Maj become VPTERNLOGD. Every intermediate is cut back to uint32 (numba widens integer
arithmetic to 64 bits otherwise, which halves the lanes).

The emitted function computes, for nonces start..start+n-1, the last state word H7 of the
double hash (rounds 61-63 of the second hash are not needed for it: early reject).
"""

from __future__ import annotations

from collections.abc import Callable

from benchhash.sha256d.primitives import (
    IV,
    MASK,
    PRE_LAYOUT,
    K,
    big_sigma0,
    big_sigma1,
    ch,
    maj,
    small_sigma0,
    small_sigma1,
)

Word = int | str  # a literal known at generation time, or the name of a uint32 variable


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def assign(self, expr: str, hint: str) -> str:
        self.count += 1
        name = f"{hint}_{self.count}"
        self.lines.append(f"{name} = u32({expr})")
        return name

    def add(self, *terms: Word, hint: str) -> Word:
        const = sum(t for t in terms if isinstance(t, int)) & MASK
        names = [t for t in terms if isinstance(t, str)]
        if not names:
            return const
        parts = names + ([str(const)] if const else [])
        if len(parts) == 1:
            return parts[0]
        return self.assign(" + ".join(parts), hint)


def _rot(x: str, n: int) -> str:
    return f"((({x}) >> {n}) | (({x}) << {32 - n}))"


def _fn(x: Word, const_fn: Callable[[int], int], rots: tuple[int, int, int], shift: bool) -> str | int:
    if isinstance(x, int):
        return const_fn(x)
    third = f"(({x}) >> {rots[2]})" if shift else _rot(x, rots[2])
    return f"({_rot(x, rots[0])} ^ {_rot(x, rots[1])} ^ {third})"


def _s0(x: Word) -> Word:
    return _fn(x, small_sigma0, (7, 18, 3), True)


def _s1(x: Word) -> Word:
    return _fn(x, small_sigma1, (17, 19, 10), True)


def _S0(x: Word) -> Word:
    return _fn(x, big_sigma0, (2, 13, 22), False)


def _S1(x: Word) -> Word:
    return _fn(x, big_sigma1, (6, 11, 25), False)


def _ch(e: Word, f: Word, g: Word) -> Word:
    if all(isinstance(v, int) for v in (e, f, g)):
        return ch(e, f, g)  # type: ignore[arg-type]
    return f"(({g}) ^ (({e}) & (({f}) ^ ({g}))))"


def _maj(a: Word, b: Word, c: Word) -> Word:
    if all(isinstance(v, int) for v in (a, b, c)):
        return maj(a, b, c)  # type: ignore[arg-type]
    return f"((({a}) & ({b})) | (({c}) & (({a}) | ({b}))))"


def _term(em: _Emitter, value: Word, hint: str) -> Word:
    """Materialise an expression string as a uint32 variable; literals pass through."""
    if isinstance(value, int) or value.isidentifier():
        return value
    return em.assign(value, hint)


def _schedule(em: _Emitter, w: list[Word], upto: int) -> None:
    for t in range(len(w), upto):
        w.append(em.add(_term(em, _s1(w[t - 2]), "s1"), w[t - 7],
                        _term(em, _s0(w[t - 15]), "s0"), w[t - 16], hint=f"w{t}"))


def _rounds(em: _Emitter, state: list[Word], w: list[Word], first: int, last: int) -> list[Word]:
    """Rounds first..last inclusive; returns the new (a..h)."""
    a, b, c, d, e, f, g, h = state
    for t in range(first, last + 1):
        _schedule(em, w, t + 1)  # each word just before its round keeps few of them live
        t1 = em.add(h, _term(em, _S1(e), "S1"), _term(em, _ch(e, f, g), "ch"), K[t], w[t], hint="t1")
        t2 = em.add(_term(em, _S0(a), "S0"), _term(em, _maj(a, b, c), "mj"), hint="t2")
        new_e = em.add(d, t1, hint="e")
        new_a = em.add(t1, t2, hint="a")
        a, b, c, d, e, f, g, h = new_a, a, b, c, new_e, e, f, g
    return [a, b, c, d, e, f, g, h]


def compress_source(name: str = "compress") -> str:
    """Python source of ``name(state, block, out)``: one SHA-256 compression, unrolled the same
    way as the scan kernel (state: uint32[8], block: uint32[16] big-endian words, out: uint32[8])."""
    em = _Emitter()
    prologue = [f"s{i} = u32(state[{i}])" for i in range(8)]
    prologue += [f"b{i} = u32(block[{i}])" for i in range(16)]
    w: list[Word] = [f"b{i}" for i in range(16)]
    state = _rounds(em, [f"s{i}" for i in range(8)], w, 0, 63)
    outs = [em.add(f"s{i}", state[i], hint=f"o{i}") for i in range(8)]
    body = "\n".join("    " + line for line in prologue + em.lines)
    stores = "\n".join(f"    out[{i}] = {v}" for i, v in enumerate(outs))
    return f"def {name}(state, block, out):\n{body}\n{stores}\n"


def kernel_source(name: str = "h7_block") -> str:
    """Python source of ``name(pre, start, n, out)``: out[i] = H7 of nonce start+i (mod 2^32)."""
    em = _Emitter()
    p = PRE_LAYOUT
    mid = [f"m{i}" for i in range(8)]
    prologue = [f"m{i} = u32(pre[{p['midstate'] + i}])" for i in range(8)]
    prologue += [f"st{i} = u32(pre[{p['state3'] + i}])" for i in range(8)]
    for key in ("w0", "w1", "w2", "w16", "w17", "w18_part", "w19_part", "t1_3_part", "t2_3"):
        prologue.append(f"{key} = u32(pre[{p[key]}])")

    # First hash, second block. W3 is the nonce as a big-endian word (the header stores it LE).
    em.lines.append("x = u32(start + i)")
    em.lines.append("w3 = u32(((x & 255) << 24) | ((x & 65280) << 8) | ((x >> 8) & 65280) | (x >> 24))")
    w: list[Word] = ["w0", "w1", "w2", "w3", 0x80000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 640,
                     "w16", "w17"]
    w.append(em.add("w18_part", _term(em, _s0("w3"), "s0"), hint="w18"))
    w.append(em.add("w19_part", "w3", hint="w19"))
    t1 = em.add("t1_3_part", "w3", hint="t1")
    st = [f"st{i}" for i in range(8)]
    state = [em.add(t1, "t2_3", hint="a"), st[0], st[1], st[2], em.add(st[3], t1, hint="e"),
             st[4], st[5], st[6]]
    state = _rounds(em, state, w, 4, 63)
    digest = [em.add(mid[i], state[i], hint=f"d{i}") for i in range(8)]

    # Second hash: one block of 32 digest bytes, padding and length folded in as literals.
    w2: list[Word] = [*digest, 0x80000000, 0, 0, 0, 0, 0, 0, 256]
    state2 = _rounds(em, list(IV), w2, 0, 60)
    h7 = em.add(state2[4], IV[7], hint="h7")  # e after round 60 becomes h after round 63

    body = "\n".join("        " + line for line in em.lines)
    head = "\n".join("    " + line for line in prologue)
    return (f"def {name}(pre, start, n, out):\n{head}\n"
            f"    for i in range(n):\n{body}\n        out[i] = {h7}\n")
