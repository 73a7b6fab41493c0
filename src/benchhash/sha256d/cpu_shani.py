"""The SHA-NI kernel of the CPU backend: H7 of the double hash per nonce through the x86 SHA
extensions (``sha256rnds2``, ``sha256msg1``, ``sha256msg2``), written as LLVM IR by a numba
intrinsic, so no C compiler is needed on the user's side.

``h7_block_shani(pre, start, n, out)`` has the meaning of the generated vector kernel's
``h7_block``: ``out[i]`` = H7 of nonce ``start + i`` (mod 2^32). One call runs a loop over the
nonces, ``LANES`` independent nonces per iteration, each step emitted for every lane in turn so
that the SHA unit always has work while a ``sha256rnds2`` waits on its predecessor.

State layout of the instructions (dword 0 first): ABEF = <F, E, B, A>, CDGH = <H, G, D, C>.
``sha256rnds2(cdgh, abef, wk)`` runs two rounds with the message+constant words in dwords 0 and 1
of ``wk`` and returns the new ABEF; the new CDGH is the old ABEF. Words known when the IR is
written (padding, lengths, the second hash's IV, round constants) are folded here in Python,
so the instructions that remain are the ones that depend on the header or the nonce.

Only call it on a CPU with the SHA extensions: LLVM cannot lower these intrinsics elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from benchhash.sha256d.primitives import IV, MASK, PRE_LAYOUT, K, small_sigma0, small_sigma1

LANES = 2                       # nonces in flight per loop iteration (3 and 4 measured no faster: spills)
I32 = ir.IntType(32)
V4 = ir.VectorType(I32, 4)

Const: TypeAlias = tuple[int, int, int, int]
Lane: TypeAlias = Any            # one nonce's 4-word vector: a Const (known now) or an IR value
Vec: TypeAlias = Any             # across every lane: a shared Const, or a list of IR values per lane


def _const_msg1(a: Const, b: Const) -> Const:
    x = (*a, b[0])
    return tuple((x[i] + small_sigma0(x[i + 1])) & MASK for i in range(4))  # type: ignore[return-value]


def _const_msg2(a: Const, b: Const) -> Const:
    w16 = (a[0] + small_sigma1(b[2])) & MASK
    w17 = (a[1] + small_sigma1(b[3])) & MASK
    return (w16, w17, (a[2] + small_sigma1(w16)) & MASK, (a[3] + small_sigma1(w17)) & MASK)


class _Emit:
    """Emits SHA-NI vector operations for ``lanes`` nonces at once, folding constants."""

    def __init__(self, builder: ir.IRBuilder, lanes: int) -> None:
        self.b = builder
        self.lanes = lanes
        module = builder.module
        fn3 = ir.FunctionType(V4, [V4, V4, V4])
        fn2 = ir.FunctionType(V4, [V4, V4])
        self._rnds2 = cgutils.get_or_insert_function(module, fn3, "llvm.x86.sha256rnds2")
        self._msg1 = cgutils.get_or_insert_function(module, fn2, "llvm.x86.sha256msg1")
        self._msg2 = cgutils.get_or_insert_function(module, fn2, "llvm.x86.sha256msg2")

    @staticmethod
    def value(v: Lane) -> ir.Value:
        return ir.Constant(V4, [ir.Constant(I32, x) for x in v]) if isinstance(v, tuple) else v

    def _each(self, args: Sequence[Vec], const: Callable[..., Const] | None,
              emit: Callable[..., ir.Value]) -> Vec:
        if const is not None and all(isinstance(a, tuple) for a in args):
            return const(*args)
        per_lane = [[a if isinstance(a, tuple) else a[i] for a in args] for i in range(self.lanes)]
        return [emit(*(self.value(x) for x in lane)) for lane in per_lane]

    def add(self, a: Vec, b: Vec) -> Vec:
        return self._each((a, b), lambda x, y: tuple((p + q) & MASK for p, q in zip(x, y, strict=True)),
                          self.b.add)

    def msg1(self, a: Vec, b: Vec) -> Vec:
        return self._each((a, b), _const_msg1, lambda x, y: self.b.call(self._msg1, [x, y]))

    def msg2(self, a: Vec, b: Vec) -> Vec:
        return self._each((a, b), _const_msg2, lambda x, y: self.b.call(self._msg2, [x, y]))

    def shuffle(self, a: Vec, b: Vec, mask: tuple[int, ...]) -> Vec:
        def const(x: Const, y: Const) -> Const:
            both = (*x, *y)
            return tuple(both[m] for m in mask)  # type: ignore[return-value]
        picks = self.value(mask)
        return self._each((a, b), const, lambda x, y: self.b.shuffle_vector(x, y, picks))

    def rnds2(self, cdgh: Vec, abef: Vec, wk: Vec) -> Vec:
        return self._each((cdgh, abef, wk), None, lambda c, a, w: self.b.call(self._rnds2, [c, a, w]))

    def extract(self, v: Vec, index: int) -> list[ir.Value]:
        assert not isinstance(v, tuple)
        return [self.b.extract_element(x, ir.Constant(I32, index)) for x in v]


def _next_words(em: _Emit, m: list[Vec]) -> Vec:
    """W[t..t+3] from the four vectors before it (m[-4] = W[t-16..t-13] ... m[-1] = W[t-4..t-1])."""
    tail = em.shuffle(m[-2], m[-1], (1, 2, 3, 4))          # W[t-7..t-4]
    return em.msg2(em.add(em.msg1(m[-4], m[-3]), tail), m[-1])


def _rounds(em: _Emit, abef: Vec, cdgh: Vec, m: list[Vec], first: int, last: int) -> tuple[Vec, Vec]:
    """Rounds ``first``..``last`` (both even-aligned pairs: first even, last odd), extending the
    schedule ``m`` (4 words per entry) as it goes. Returns (ABEF, CDGH) after round ``last``."""
    for pair in range(first // 2, last // 2 + 1):
        group, half = divmod(pair, 2)
        while len(m) <= group:
            m.append(_next_words(em, m))
        kw = em.add(m[group], tuple(K[4 * group:4 * group + 4]))
        if half:
            kw = em.shuffle(kw, kw, (2, 3, 0, 1))
        abef, cdgh = em.rnds2(cdgh, abef, kw), abef
    return abef, cdgh


def _rotr(b: ir.IRBuilder, x: ir.Value, n: int) -> ir.Value:
    return b.or_(b.lshr(x, ir.Constant(I32, n)), b.shl(x, ir.Constant(I32, 32 - n)))


def _small_sigma0(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.xor(b.xor(_rotr(b, x, 7), _rotr(b, x, 18)), b.lshr(x, ir.Constant(I32, 3)))


def _small_sigma1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.xor(b.xor(_rotr(b, x, 17), _rotr(b, x, 19)), b.lshr(x, ir.Constant(I32, 10)))


def _round60_e(em: _Emit, abef: Vec, cdgh: Vec, w60: list[ir.Value]) -> list[ir.Value]:
    """e after round 60 from the state after round 59, on the scalar ALUs: one round's T1 + d
    instead of a whole ``sha256rnds2`` pair, of which round 61 would be thrown away."""
    b = em.b
    f, e, d, h, g = (em.extract(abef, 0), em.extract(abef, 1), em.extract(cdgh, 2),
                     em.extract(cdgh, 0), em.extract(cdgh, 1))
    out = []
    for i in range(em.lanes):
        s1 = b.xor(b.xor(_rotr(b, e[i], 6), _rotr(b, e[i], 11)), _rotr(b, e[i], 25))
        ch = b.xor(g[i], b.and_(e[i], b.xor(f[i], g[i])))
        t = b.add(b.add(h[i], ir.Constant(I32, K[60])), w60[i])
        out.append(b.add(d[i], b.add(b.add(t, s1), ch)))
    return out


def _lane_values(em: _Emit, x: ir.Value, pre: dict[str, ir.Value]) -> list[ir.Value]:
    """H7 of the double hash for nonces x, x+1, ... (one per lane), from the loop-invariant
    values in ``pre``."""
    b = em.b
    bswap = b.module.declare_intrinsic("llvm.bswap", [I32])
    w3 = [b.call(bswap, [b.add(x, ir.Constant(I32, lane))]) for lane in range(em.lanes)]
    # First hash, second block: W = w0 w1 w2 nonce 0x80000000 0 ... 0 640. Rounds 0-2 are
    # precomputed and round 3 adds the nonce to two words: T1 = t1_3_part + W3, a = T1 + T2,
    # e = d + T1; ABEF after it is <st4, st3 + T1, st0, T2 + T1>.
    t1 = [b.add(pre["t1_3_part"], w) for w in w3]
    zero = _Emit.value((0, 0, 0, 0))
    spread = _Emit.value((4, 0, 4, 0))                                        # <0, T1, 0, T1>
    both = [b.shuffle_vector(b.insert_element(zero, t, ir.Constant(I32, 0)), zero, spread) for t in t1]
    abef3 = [b.add(pre["abef3"], v) for v in both]
    m0 = [b.insert_element(pre["m0"], w, ir.Constant(I32, 3)) for w in w3]
    # W16, W17 do not depend on the nonce; W18 = w18_part + s0(W3), W19 = w19_part + W3 on the
    # scalar ALUs, which saves the one sha256msg2 (two cycles of the SHA unit) of this group.
    m4 = [b.insert_element(b.insert_element(pre["w16_17"], b.add(pre["w18_part"], _small_sigma0(b, w)),
                                            ir.Constant(I32, 2)),
                           b.add(pre["w19_part"], w), ir.Constant(I32, 3)) for w in w3]
    m: list[Vec] = [m0, (0x80000000, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 640), m4]
    abef, cdgh = _rounds(em, abef3, [pre["cdgh3"]] * em.lanes, m, 4, 63)
    abef = em.add(abef, [pre["abef_mid"]] * em.lanes)
    cdgh = em.add(cdgh, [pre["cdgh_mid"]] * em.lanes)
    # Second hash: the 8 digest words, padding and length. H7 = h after round 63 = e after 60.
    digest = [em.shuffle(abef, cdgh, (3, 2, 7, 6)), em.shuffle(abef, cdgh, (1, 0, 5, 4))]
    m2: list[Vec] = [*digest, (0x80000000, 0, 0, 0), (0, 0, 0, 256)]
    iv_abef: Const = (IV[5], IV[4], IV[1], IV[0])
    iv_cdgh: Const = (IV[7], IV[6], IV[3], IV[2])
    abef, cdgh = _rounds(em, iv_abef, iv_cdgh, m2, 0, 59)
    # W60 alone (not W60..W63 through sha256msg2): W44 + s0(W45) + W53 from the vector ops,
    # s1(W58) on the scalar ALUs.
    part = em.extract(em.add(em.msg1(m2[11], m2[12]), em.shuffle(m2[13], m2[14], (1, 2, 3, 4))), 0)
    w60 = [b.add(p, _small_sigma1(b, w)) for p, w in zip(part, em.extract(m2[14], 2), strict=True)]
    e60 = _round60_e(em, abef, cdgh, w60)
    return [b.add(e, ir.Constant(I32, IV[7])) for e in e60]


def _invariants(builder: ir.IRBuilder, pre_ptr: ir.Value) -> dict[str, ir.Value]:
    """Loop-invariant values: the midstate in ABEF/CDGH order, the state after rounds 0-2 of the
    second block in that order (with T2 of round 3 in place of A), round 3's T1 without the
    nonce, and <w0, w1, w2, 0> (the nonce goes in dword 3)."""
    def word(name: str, offset: int = 0) -> ir.Value:
        return builder.load(builder.gep(pre_ptr, [ir.Constant(ir.IntType(64), PRE_LAYOUT[name] + offset)]))

    def vec(words: Sequence[ir.Value]) -> ir.Value:
        v: ir.Value = ir.Constant(V4, None)
        for i, w in enumerate(words):
            v = builder.insert_element(v, w, ir.Constant(I32, i))
        return v

    mid = [word("midstate", i) for i in range(8)]
    st = [word("state3", i) for i in range(8)]
    return {"abef_mid": vec([mid[5], mid[4], mid[1], mid[0]]),
            "cdgh_mid": vec([mid[7], mid[6], mid[3], mid[2]]),
            "abef3": vec([st[4], st[3], st[0], word("t2_3")]),
            "cdgh3": vec([st[6], st[5], st[2], st[1]]),
            "t1_3_part": word("t1_3_part"),
            "w18_part": word("w18_part"), "w19_part": word("w19_part"),
            "w16_17": vec([word("w16"), word("w17")]),
            "m0": vec([word("w0"), word("w1"), word("w2"), ir.Constant(I32, 0)])}


def _emit_loop(builder: ir.IRBuilder, pre_ptr: ir.Value, start: ir.Value,
               lo: ir.Value, hi: ir.Value, out_ptr: ir.Value, lanes: int) -> None:
    em = _Emit(builder, lanes)
    inv = _invariants(builder, pre_ptr)
    step = ir.Constant(lo.type, lanes)
    with cgutils.for_range_slice(builder, lo, hi, step, intp=lo.type) as (i, _):
        x = builder.trunc(builder.add(start, i), I32)
        for lane, h7 in enumerate(_lane_values(em, x, inv)):
            at = builder.add(i, ir.Constant(i.type, lane))
            builder.store(h7, builder.gep(out_ptr, [at]))


def make_h7_block(lanes: int = LANES) -> Any:
    """The intrinsic ``h7(pre, start, n, out)``: out[i] = H7 of nonce start+i for i < n (pre:
    uint32[::1] from ``precompute``), ``lanes`` nonces per loop iteration and a 1-lane tail."""
    if lanes < 1:
        raise ValueError("lanes must be at least 1")

    def typer(typingctx: Any, pre: Any, start: Any, n: Any, out: Any) -> Any:
        def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
            pre_arr = context.make_array(signature.args[0])(context, builder, args[0])
            out_arr = context.make_array(signature.args[3])(context, builder, args[3])
            start_v, n_v = args[1], args[2]
            whole = builder.mul(builder.sdiv(n_v, ir.Constant(n_v.type, lanes)), ir.Constant(n_v.type, lanes))
            _emit_loop(builder, pre_arr.data, start_v, ir.Constant(n_v.type, 0), whole, out_arr.data, lanes)
            if lanes > 1:
                _emit_loop(builder, pre_arr.data, start_v, whole, n_v, out_arr.data, 1)
            return context.get_dummy_value()

        return types.void(pre, start, n, out), codegen

    typer.__name__ = f"h7_block_shani_x{lanes}"
    return intrinsic(typer)


h7_block_shani = make_h7_block(LANES)
