// SHA-256d nonce scan for Bitcoin block headers (benchhash).
//
// Loaded at run time through CuPy RawModule (NVRTC); also compiled for the host with
// -DBENCHHASH_HOST_HARNESS so that tests on a machine without a GPU run this same code.
//
// Per header the host computes once (benchhash/sha256d/primitives.py, PRE_LAYOUT):
//   the midstate of bytes 0..63, the first three rounds of the second block (they do not depend
//   on the nonce), W16/W17 and partial sums of W18, W19 and round 3.
// Per nonce the kernel then runs rounds 3..63 of the first hash and rounds 0..60 of the second,
// whose padding, length and initial state are literals the compiler folds. After round 60 the
// last state word H7 is known; almost every nonce is rejected there (early reject) and only the
// survivors finish the hash and compare all 256 bits with the threshold.
//
// Results: every nonce with hash <= threshold goes to out[9*slot] = {nonce, H0..H7} through an
// atomic counter. The counter keeps counting past `capacity`, so the host sees an overflow and
// can scan that range again with a larger buffer; nothing is dropped silently.

typedef unsigned int u32;
typedef unsigned long long u64;

// Which compiler, which pass. NVRTC and nvcc define __CUDACC__, and __CUDA_ARCH__ in the device
// pass. HIP's compilers (hipcc; hiprtc, which CuPy's ROCm build uses for RawModule) define __HIP__
// or __HIPCC__, and __HIP_DEVICE_COMPILE__ in the device pass, never __CUDA_ARCH__; the checks
// below say so anyway, so that PTX (inline asm) and NVIDIA-only intrinsics are only ever
// compiled for an NVIDIA GPU and HIP always takes the plain-C path.
//   BH_GPU        a GPU compile of either vendor (device code, the kernel entry point)
//   BH_NV_DEVICE  the NVIDIA device pass: PTX, __funnelshift_r, __byte_perm
//   BH_DEVICE     a device pass of either vendor: atomics
#if defined(__CUDACC__) || defined(__HIP__) || defined(__HIPCC__) || defined(__HIPCC_RTC__)
#define BH_GPU 1
#endif
#if defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__) && !defined(__HIP_PLATFORM_AMD__)
#define BH_NV_DEVICE 1
#endif
#if defined(BH_NV_DEVICE) || defined(__HIP_DEVICE_COMPILE__)
#define BH_DEVICE 1
#endif

#if defined(BH_GPU)
#define BH_INLINE __host__ __device__ __forceinline__
#else
#define BH_INLINE static inline
#endif
#if defined(BH_NV_DEVICE)
#define BH_ROTR(x, n) __funnelshift_r((x), (x), (n))
#define BH_BSWAP(x) __byte_perm((x), 0u, 0x0123u)
#else
#define BH_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define BH_BSWAP(x) ((((x) & 0xffu) << 24) | (((x) & 0xff00u) << 8) | (((x) >> 8) & 0xff00u) | ((x) >> 24))
#endif

// a + b on the FMA pipe (IMAD a*1+b) instead of the integer ALU pipe, which the rotates and
// LOP3s already fill: the two pipes then share the work of a round.
// The multiplier lives in constant memory so that ptxas cannot see it is 1 and turn the IMAD
// back into an IADD3.
#if defined(BH_GPU)
__constant__ u32 bh_one = 1u;
#endif
// -DBH_PLAIN_ADDS leaves every add to the compiler (most land on the ALU pipe): the variant a
// GPU measures against, to keep the IMAD routing only if it is faster on the hardware.
#if defined(BH_NV_DEVICE) && !defined(BH_PLAIN_ADDS)
BH_INLINE u32 bh_mad_one(u32 a, u32 b) {
    u32 r;
    asm("mad.lo.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(bh_one), "r"(b));
    return r;
}
#define bh_add_fma(a, b) bh_mad_one((a), (b))
// x + k for a literal k, also on the FMA pipe: 1 * k + x with the 1 in a register that ptxas
// cannot see through (IMAD R, R_one, imm, R), where an IADD3 with an immediate would take the
// ALU pipe.
BH_INLINE u32 bh_addk_fma(u32 x, u32 k) {
    u32 r;
    asm("mad.lo.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(bh_one), "r"(k), "r"(x));
    return r;
}
#else
#define bh_add_fma(a, b) ((a) + (b))
#define bh_addk_fma(x, k) ((x) + (k))
#endif
// The message schedule's adds: routed like the round adds, unless -DBH_SCHED_PLAIN_ADDS leaves
// just these to the compiler (the schedule then runs on the ALU pipe, the rounds share both).
#if defined(BH_SCHED_PLAIN_ADDS)
#define bh_add_sched(a, b) ((a) + (b))
#else
#define bh_add_sched(a, b) bh_add_fma((a), (b))
#endif
// Nonces each thread hashes side by side (-DBH_NONCES=2: two independent dependency chains
// interleaved round by round, more instruction-level parallelism for more registers).
#ifndef BH_NONCES
#define BH_NONCES 1
#endif

// Forms that ptxas maps onto one LOP3 each.
#define BH_CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define BH_MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))
#define BH_S0(a) (BH_ROTR(a, 2) ^ BH_ROTR(a, 13) ^ BH_ROTR(a, 22))
#define BH_S1(e) (BH_ROTR(e, 6) ^ BH_ROTR(e, 11) ^ BH_ROTR(e, 25))
#define BH_s0(x) (BH_ROTR(x, 7) ^ BH_ROTR(x, 18) ^ ((x) >> 3))
#define BH_s1(x) (BH_ROTR(x, 17) ^ BH_ROTR(x, 19) ^ ((x) >> 10))

// Precomputed words (must match PRE_LAYOUT in primitives.py).
#define PRE_MID 0
#define PRE_W0 8
#define PRE_W1 9
#define PRE_W2 10
#define PRE_STATE3 11
#define PRE_W16 19
#define PRE_W17 20
#define PRE_W18_PART 21
#define PRE_W19_PART 22
#define PRE_T1_3_PART 23
#define PRE_T2_3 24
#define PRE_WORDS 25
// Two more words each thread derives once from the 25 (not part of the host layout): the
// nonce-independent terms of W31 and W32, sigma0(W16) + W15 and sigma0(W17) + W16, which the
// schedule would otherwise recompute for every nonce.
#define PRE_C31 25
#define PRE_C32 26
#define PRE_LOCAL 27

// pre (PRE_WORDS, from the host) -> p (PRE_LOCAL), once per thread.
BH_INLINE void bh_extend(const u32* pre, u32 p[PRE_LOCAL]) {
#pragma unroll
    for (int i = 0; i < PRE_WORDS; ++i) p[i] = pre[i];
    p[PRE_C31] = BH_s0(p[PRE_W16]) + 640u;
    p[PRE_C32] = BH_s0(p[PRE_W17]) + p[PRE_W16];
}

// The K constants as literals, so that the fully unrolled rounds fold them into immediates.
#define BH_KL(t) ( \
    (t) == 0 ? 0x428a2f98u : (t) == 1 ? 0x71374491u : (t) == 2 ? 0xb5c0fbcfu : (t) == 3 ? 0xe9b5dba5u : \
    (t) == 4 ? 0x3956c25bu : (t) == 5 ? 0x59f111f1u : (t) == 6 ? 0x923f82a4u : (t) == 7 ? 0xab1c5ed5u : \
    (t) == 8 ? 0xd807aa98u : (t) == 9 ? 0x12835b01u : (t) == 10 ? 0x243185beu : (t) == 11 ? 0x550c7dc3u : \
    (t) == 12 ? 0x72be5d74u : (t) == 13 ? 0x80deb1feu : (t) == 14 ? 0x9bdc06a7u : (t) == 15 ? 0xc19bf174u : \
    (t) == 16 ? 0xe49b69c1u : (t) == 17 ? 0xefbe4786u : (t) == 18 ? 0x0fc19dc6u : (t) == 19 ? 0x240ca1ccu : \
    (t) == 20 ? 0x2de92c6fu : (t) == 21 ? 0x4a7484aau : (t) == 22 ? 0x5cb0a9dcu : (t) == 23 ? 0x76f988dau : \
    (t) == 24 ? 0x983e5152u : (t) == 25 ? 0xa831c66du : (t) == 26 ? 0xb00327c8u : (t) == 27 ? 0xbf597fc7u : \
    (t) == 28 ? 0xc6e00bf3u : (t) == 29 ? 0xd5a79147u : (t) == 30 ? 0x06ca6351u : (t) == 31 ? 0x14292967u : \
    (t) == 32 ? 0x27b70a85u : (t) == 33 ? 0x2e1b2138u : (t) == 34 ? 0x4d2c6dfcu : (t) == 35 ? 0x53380d13u : \
    (t) == 36 ? 0x650a7354u : (t) == 37 ? 0x766a0abbu : (t) == 38 ? 0x81c2c92eu : (t) == 39 ? 0x92722c85u : \
    (t) == 40 ? 0xa2bfe8a1u : (t) == 41 ? 0xa81a664bu : (t) == 42 ? 0xc24b8b70u : (t) == 43 ? 0xc76c51a3u : \
    (t) == 44 ? 0xd192e819u : (t) == 45 ? 0xd6990624u : (t) == 46 ? 0xf40e3585u : (t) == 47 ? 0x106aa070u : \
    (t) == 48 ? 0x19a4c116u : (t) == 49 ? 0x1e376c08u : (t) == 50 ? 0x2748774cu : (t) == 51 ? 0x34b0bcb5u : \
    (t) == 52 ? 0x391c0cb3u : (t) == 53 ? 0x4ed8aa4au : (t) == 54 ? 0x5b9cca4fu : (t) == 55 ? 0x682e6ff3u : \
    (t) == 56 ? 0x748f82eeu : (t) == 57 ? 0x78a5636fu : (t) == 58 ? 0x84c87814u : (t) == 59 ? 0x8cc70208u : \
    (t) == 60 ? 0x90befffau : (t) == 61 ? 0xa4506cebu : (t) == 62 ? 0xbef9a3f7u : 0xc67178f2u)

// One round on s[0..7] = a..h, rotating names instead of moving values (the arrays live in
// registers once the loops are unrolled).
// wlit: w is a literal here (padding or length words), so a plain add lets it fold.
#define BH_ROUND(s, k, w, wlit)                                               \
    do {                                                                      \
        u32 hw_ = (wlit) ? s[7] + (w) : bh_add_fma(s[7], (w));                \
        u32 t1_ = bh_add_fma(hw_, bh_add_fma(BH_S1(s[4]), bh_addk_fma(BH_CH(s[4], s[5], s[6]), (k)))); \
        u32 a_ = bh_add_fma(bh_add_fma(t1_, BH_MAJ(s[0], s[1], s[2])), BH_S0(s[0])); \
        s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = bh_add_fma(s[3], t1_);             \
        s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = a_;                    \
    } while (0)

#define BH_SCHED(w, t) bh_add_sched(bh_add_sched(w[(t) - 16], BH_s1(w[(t) - 2])), bh_add_sched(w[(t) - 7], BH_s0(w[(t) - 15])))

// The plain SHA-256 compression function: state (8 words) x block (16 big-endian words).
BH_INLINE void sha256_compress(u32 state[8], const u32 block[16]) {
    u32 w[64];
    u32 s[8];
#pragma unroll
    for (int t = 0; t < 16; ++t) w[t] = block[t];
#pragma unroll
    for (int t = 16; t < 64; ++t) w[t] = BH_SCHED(w, t);
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = state[i];
#pragma unroll
    for (int t = 0; t < 64; ++t) BH_ROUND(s, BH_KL(t), w[t], false);
#pragma unroll
    for (int i = 0; i < 8; ++i) state[i] = state[i] + s[i];
}

// Full SHA-256d of the header with this nonce, the slow path for early-reject survivors.
BH_INLINE void sha256d_full(const u32* pre, u32 nonce, u32 out[8]) {
    u32 block[16] = {pre[PRE_W0], pre[PRE_W1], pre[PRE_W2], BH_BSWAP(nonce), 0x80000000u,
                     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 640u};
    u32 first[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) first[i] = pre[PRE_MID + i];
    sha256_compress(first, block);
    u32 block2[16] = {first[0], first[1], first[2], first[3], first[4], first[5], first[6],
                      first[7], 0x80000000u, 0, 0, 0, 0, 0, 0, 256u};
    u32 iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    sha256_compress(iv, block2);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = iv[i];
}

// The hash read as a little-endian 256-bit integer is <= thr (thr: most significant word first).
BH_INLINE bool bh_at_most(const u32 h[8], const u32* thr) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        u32 v = BH_BSWAP(h[7 - k]);
        if (v != thr[k]) return v < thr[k];
    }
    return true;
}

// Fast path: H7 of SHA-256d(header with nonce) for L nonces at once, from the precomputed
// words. Every step runs for each lane before the next step, so the lanes' independent chains
// interleave; L = 1 is the plain one-nonce path.
template <int L>
BH_INLINE void sha256d_h7(const u32 p[PRE_LOCAL], const u32 nonce[L], u32 h7[L]) {
    u32 w[L][64];
    u32 s[L][8];
#pragma unroll
    for (int j = 0; j < L; ++j) {
        w[j][0] = p[PRE_W0]; w[j][1] = p[PRE_W1]; w[j][2] = p[PRE_W2]; w[j][3] = BH_BSWAP(nonce[j]);
        w[j][4] = 0x80000000u;
#pragma unroll
        for (int t = 5; t < 15; ++t) w[j][t] = 0u;
        w[j][15] = 640u;
        w[j][16] = p[PRE_W16];
        w[j][17] = p[PRE_W17];
        w[j][18] = p[PRE_W18_PART] + BH_s0(w[j][3]);
        w[j][19] = p[PRE_W19_PART] + w[j][3];
    }
#pragma unroll
    for (int t = 20; t < 31; ++t) {
#pragma unroll
        for (int j = 0; j < L; ++j) w[j][t] = BH_SCHED(w[j], t);
    }
#pragma unroll
    for (int j = 0; j < L; ++j) {
        w[j][31] = bh_add_sched(p[PRE_C31], BH_s1(w[j][29]) + w[j][24]);
        w[j][32] = bh_add_sched(p[PRE_C32], BH_s1(w[j][30]) + w[j][25]);
    }
#pragma unroll
    for (int t = 33; t < 64; ++t) {
#pragma unroll
        for (int j = 0; j < L; ++j) w[j][t] = BH_SCHED(w[j], t);
    }
    // Round 3 from its nonce-independent parts; rounds 0..2 were done on the host.
#pragma unroll
    for (int j = 0; j < L; ++j) {
        u32 t1 = p[PRE_T1_3_PART] + w[j][3];
        s[j][0] = t1 + p[PRE_T2_3];
        s[j][1] = p[PRE_STATE3 + 0]; s[j][2] = p[PRE_STATE3 + 1]; s[j][3] = p[PRE_STATE3 + 2];
        s[j][4] = p[PRE_STATE3 + 3] + t1;
        s[j][5] = p[PRE_STATE3 + 4]; s[j][6] = p[PRE_STATE3 + 5]; s[j][7] = p[PRE_STATE3 + 6];
    }
#pragma unroll
    for (int t = 4; t < 64; ++t) {
#pragma unroll
        for (int j = 0; j < L; ++j) BH_ROUND(s[j], BH_KL(t), w[j][t], t < 16);
    }

    // Second hash: 32 digest bytes, padding and length are literals; initial state is the IV.
#pragma unroll
    for (int j = 0; j < L; ++j) {
#pragma unroll
        for (int i = 0; i < 8; ++i) w[j][i] = bh_add_fma(p[PRE_MID + i], s[j][i]);
        w[j][8] = 0x80000000u;
#pragma unroll
        for (int t = 9; t < 15; ++t) w[j][t] = 0u;
        w[j][15] = 256u;
    }
#pragma unroll
    for (int t = 16; t < 61; ++t) {
#pragma unroll
        for (int j = 0; j < L; ++j) w[j][t] = BH_SCHED(w[j], t);
    }
#pragma unroll
    for (int j = 0; j < L; ++j) {
        s[j][0] = 0x6a09e667u; s[j][1] = 0xbb67ae85u; s[j][2] = 0x3c6ef372u; s[j][3] = 0xa54ff53au;
        s[j][4] = 0x510e527fu; s[j][5] = 0x9b05688cu; s[j][6] = 0x1f83d9abu; s[j][7] = 0x5be0cd19u;
    }
#pragma unroll
    for (int t = 0; t < 61; ++t) {
#pragma unroll
        for (int j = 0; j < L; ++j) BH_ROUND(s[j], BH_KL(t), w[j][t], t >= 8 && t < 16);
    }
    // e after round 60 is h after round 63.
#pragma unroll
    for (int j = 0; j < L; ++j) h7[j] = s[j][4] + 0x5be0cd19u;
}

// A survivor of the early reject: hashed in full and stored if it qualifies.
BH_INLINE void bh_survivor(const u32 p[PRE_LOCAL], const u32* thr, u32 nonce, u32* count,
                           u32 capacity, u32* out) {
    u32 h[8];
    sha256d_full(p, nonce, h);
    if (!bh_at_most(h, thr)) return;
#if defined(BH_DEVICE)
    u32 slot = atomicAdd(count, 1u);
#else
    u32 slot = (*count)++;
#endif
    if (slot < capacity) {
        out[9 * slot] = nonce;
#pragma unroll
        for (int i = 0; i < 8; ++i) out[9 * slot + 1 + i] = h[i];
    }
}

// Nonces first, first + step, ... (k of them, k <= BH_NONCES) through the fast path; the few
// whose H7 does not exceed top (= thr[0]) go on to the full check.
BH_INLINE void bh_scan_group(const u32 p[PRE_LOCAL], u32 top, const u32* thr, u32 first, u32 step,
                             u32 k, u32* count, u32 capacity, u32* out) {
    u32 nonce[BH_NONCES], h7[BH_NONCES];
#pragma unroll
    for (int j = 0; j < BH_NONCES; ++j) nonce[j] = first + (u32)j * step;
    sha256d_h7<BH_NONCES>(p, nonce, h7);
#pragma unroll
    for (int j = 0; j < BH_NONCES; ++j) {
        if ((u32)j < k && BH_BSWAP(h7[j]) <= top) bh_survivor(p, thr, nonce[j], count, capacity, out);
    }
}

// One thread's share of a launch: nonces start + i, start + i + stride, ... (per_thread of them,
// within n), BH_NONCES at a time. Lanes past either bound are hashed but never reported.
BH_INLINE void bh_thread_scan(const u32 p[PRE_LOCAL], u32 top, const u32* thr, u32 start, u32 n,
                              u32 per_thread, u64 stride, u64 i, u32* count, u32 capacity, u32* out) {
    for (u32 k = 0; k < per_thread; k += BH_NONCES, i += BH_NONCES * stride) {
        if (i >= n) return;
        u32 lanes = 1;
#pragma unroll
        for (int j = 1; j < BH_NONCES; ++j) lanes += (i + (u64)j * stride < n && k + (u32)j < per_thread);
        bh_scan_group(p, top, thr, start + (u32)i, (u32)stride, lanes, count, capacity, out);
    }
}

#if defined(BH_GPU)
// Threads per block the kernel is built for (the launch must match): -DBH_THREADS=N, and
// optionally the fewest blocks per SM its registers must allow: -DBH_MIN_BLOCKS=M.
#ifndef BH_THREADS
#define BH_THREADS 256
#endif
#if defined(BH_MIN_BLOCKS)
#define BH_BOUNDS __launch_bounds__(BH_THREADS, BH_MIN_BLOCKS)
#else
#define BH_BOUNDS __launch_bounds__(BH_THREADS)
#endif
extern "C" __global__ void BH_BOUNDS
sha256d_scan(const u32* __restrict__ pre, const u32* __restrict__ thr, u32 start, u32 n,
             u32 per_thread, u32* __restrict__ count, u32 capacity, u32* __restrict__ out) {
    u32 p[PRE_LOCAL];
    bh_extend(pre, p);
    const u64 stride = (u64)gridDim.x * blockDim.x;
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    bh_thread_scan(p, thr[0], thr, start, n, per_thread, stride, i, count, capacity, out);
}
#endif

#if defined(BENCHHASH_HOST_HARNESS)
// Host entry points for tests: the same functions, run on the CPU.
extern "C" void bh_host_compress(u32 state[8], const u32 block[16]) { sha256_compress(state, block); }

extern "C" u32 bh_host_scan(const u32* pre, const u32* thr, u32 start, u32 n, u32 capacity,
                            u32* out) {
    u32 count = 0;
    u32 p[PRE_LOCAL];
    bh_extend(pre, p);
    for (u64 i = 0; i < n; i += BH_NONCES) {
        u32 k = (u32)(n - i < BH_NONCES ? n - i : BH_NONCES);
        bh_scan_group(p, thr[0], thr, start + (u32)i, 1u, k, &count, capacity, out);
    }
    return count;
}

// A whole launch of `threads` threads in all (blocks x threads per block), one thread after
// another: the device's loop and lane bounds, checked on the host.
extern "C" u32 bh_host_grid_scan(const u32* pre, const u32* thr, u32 start, u32 n, u32 per_thread,
                                 u32 threads, u32 capacity, u32* out) {
    u32 count = 0;
    u32 p[PRE_LOCAL];
    bh_extend(pre, p);
    for (u64 i = 0; i < threads; ++i)
        bh_thread_scan(p, thr[0], thr, start, n, per_thread, threads, i, &count, capacity, out);
    return count;
}
#endif
