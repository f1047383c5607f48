/*
 * The weight-streaming PTPC GEMM of the HIP backend (decode sizes):
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]),
 * for a few tokens against a large weight, where the time is the time to
 * read each weight byte once.
 *
 * Shape of the work:
 * - a block owns 16 x NT weight rows and 8 x MT tokens; its STREAM_WARPS
 *   warps split K between them (warp w takes the 64-byte K steps w, w + 8,
 *   ...) so that even a short N (5120) puts enough loads in flight;
 * - per K step a lane loads 16 bytes of two weight rows (g and g + 8 of each
 *   16-row tile) and 16 bytes of its token's activation row, and the warp
 *   multiplies on the matrix cores: the weight tile is the 16 x 32 "A"
 *   operand of mma.m16n8k32 (e4m3), the 8 tokens the 32 x 8 "B" operand
 *   (on sm_90, which has no fp8 mma.sync, a single token group does by
 *   hand what ptxas would: f16 mmas, each weight word converted once).
 *   The dot product does not depend on the order of K, so a lane's 16
 *   contiguous bytes are split into the two k32 halves of the instruction
 *   (bytes 0-7 feed the first mma, 8-15 the second), and weights and
 *   activations use the same order; up to 16 tokens a ring of register
 *   stages keeps more steps in flight (hip_gemm_stream_ring_kernel), its
 *   activations copied through shared memory where registers are short;
 * - each mma starts from zero and is added to f32 accumulators in the SIMT
 *   units (the matrix cores' fp8 accumulation keeps fewer bits than f32);
 * - the warps' partial sums meet in shared memory, added in a fixed order,
 *   and the epilogue applies sa[m] * sw[n] and the bias like the tiled
 *   kernel (hip_gemm.hip), rounding by rounding.
 *
 * Weights come from hip_weight_create padded with zeros to whole 64-byte K
 * steps and to whole 32-row tiles, so weight loads need no guard;
 * activations are the caller's: loaded 16 bytes at a time where aligned,
 * byte by byte (zero past K) otherwise.
 *
 * This is an NVIDIA fast path (mma on e4m3 needs sm_89 or later): on AMD
 * and older NVIDIA GPUs hip_gemm_stream_supported() says no and the tiled
 * kernel runs. The kernel body is compiled only where the instruction
 * exists; the host checks, once per context, that the loaded binary has it.
 */
#include "hip_device.h"
#include "hip_internal.h"

#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define FP8F_STREAM_MMA 1
#if __CUDA_ARCH__ == 900 /* Hopper: no fp8 mma.sync in hardware (mma_step_f16) */
#define FP8F_STREAM_MMA_F16 1
#endif
#endif

#define STREAM_WARPS 8
#define STREAM_KSTEP 64 /* bytes of K per warp step: 2 x mma k32 */
/* Steps per warp whose weight lines are prefetched into L2 while the
 * previous kernel finishes (about a fifth of GLM-4.7's K = 5120). */
#define STREAM_PREFETCH_STEPS 2

typedef uint4 stream_vec; /* 16 fp8 codes */

/* Activation rows that 16-byte vector loads can read: an aligned base and
 * row stride (the host picks the kernel by it, the kernel its loads). */
static __host__ __device__ inline bool act_rows_16b(const struct hip_gemm_args &g) {
    return (uintptr_t)g.qa % 16u == 0 && g.lda % 16 == 0;
}

#if defined(FP8F_STREAM_MMA)
/* d = A (16 x 32, rows g / g+8) * B (32 x 8, column g), from zero. */
static __device__ __forceinline__ void mma_e4m3_k32(float d[4], uint32_t a0, uint32_t a1,
                                                    uint32_t a2, uint32_t a3, uint32_t b0,
                                                    uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %10, %10, %10};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(0.0f));
}

#if defined(FP8F_STREAM_MMA_F16)
/* Word j (0-3) of 16 codes. */
static __device__ __forceinline__ uint32_t word(stream_vec v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* Four e4m3 codes (bytes 0-3) as two f16x2: bytes 0-1 and bytes 2-3. */
static __device__ __forceinline__ void e4m3x4_to_f16x2x2(uint32_t codes, uint32_t &b01,
                                                          uint32_t &b23) {
    asm("{\n.reg .b16 lo, hi;\nmov.b32 {lo, hi}, %2;\n"
        "cvt.rn.f16x2.e4m3x2 %0, lo;\ncvt.rn.f16x2.e4m3x2 %1, hi;\n}"
        : "=r"(b01), "=r"(b23)
        : "r"(codes));
}

/* d = A (16 x 16 f16, rows g / g+8) * B (16 x 8 f16, column g) + c. */
static __device__ __forceinline__ void mma_f16_k16(float d[4], const uint32_t a[4],
                                                   const uint32_t b[2], const float c[4]) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]),
          "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
#endif

/* Weights are read once: their loads bypass L1, so that the activations,
 * which every block reads again, stay there, and ask L2 for whole 256-byte
 * blocks (a block's 8 warps read 512 consecutive bytes of each row). The
 * activations ask L1 to keep them. Measured on the H200 against plain
 * ld.global.nc (NOTES.md): qkv M = 1 / 16 27.8 / 33.5 -> 26.8 / 31.5 us,
 * o_proj M = 16 30.8 -> 28.5 us. */
static __device__ __forceinline__ stream_vec load_weight16(const uint8_t *p) {
    stream_vec v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

static __device__ __forceinline__ stream_vec load_act16_aligned(const uint8_t *p) {
    stream_vec v;
    asm volatile("ld.global.nc.L1::evict_last.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

/* 16 activation codes k..k+15 of one token row, zeros past k_total. */
static __device__ __forceinline__ stream_vec load_act16(const uint8_t *row, int64_t k,
                                                        int64_t k_total, bool vec_ok) {
    if (vec_ok && k + 16 <= k_total)
        return load_act16_aligned(row + k);
    uint32_t w[4] = {0u, 0u, 0u, 0u};
#pragma unroll
    for (int i = 0; i < 16; i++)
        if (k + i < k_total)
            w[i >> 2] |= (uint32_t)row[k + i] << (8 * (i & 3));
    return make_uint4(w[0], w[1], w[2], w[3]);
}

static __device__ __forceinline__ void fp8f_prefetch_l2(const void *p) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

/* 16 bytes from global to shared memory without passing through registers
 * (cp.async, sm_80+), kept in L1 like the activations' register loads;
 * zeros where !valid. A thread waits for its own copies with
 * cp_async_wait<N>(): all but the N most recent groups have landed. */
static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
    const unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem),
                 "r"(valid ? 16 : 0)
                 : "memory");
}
static __device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N> static __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

/* The end of every streaming kernel: the warps' partial sums meet in shared
 * memory and are added in a fixed order (warp 0 first), and the epilogue
 * applies sa[m] * sw[n] and the bias like the tiled kernel (hip_gemm.hip),
 * rounding by rounding. Accumulator r of a lane: weight row g (r < 2) or
 * g + 8 (r >= 2) of the 16-row tile, token 2 * tq + (r & 1) of the group. */
template <int NT, int MT>
static __device__ __forceinline__ void stream_epilogue(const struct hip_gemm_args &g,
                                                       float (*red)[NT * MT * 4 * 32],
                                                       const float (&acc)[NT][MT][4], int64_t n0,
                                                       int64_t m0) {
    constexpr int PARTS = NT * MT * 4 * 32;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                red[warp][((nt * MT + mt) * 4 + r) * 32 + lane] = acc[nt][mt][r];
    __syncthreads();

    const size_t osz = g.out_dt == FP8F_F32 ? 4 : 2;
    for (int i = threadIdx.x; i < PARTS; i += STREAM_WARPS * 32) {
        const int ln = i & 31, r = (i >> 5) & 3, tile = i >> 7;
        const int nt = tile / MT, mt = tile % MT;
        const int64_t n = n0 + nt * 16 + (ln >> 2) + (r >= 2 ? 8 : 0);
        const int64_t m = m0 + mt * 8 + 2 * (ln & 3) + (r & 1);
        if (n >= g.n || m >= g.m)
            continue;
        float v = red[0][i];
#pragma unroll
        for (int w = 1; w < STREAM_WARPS; w++)
            v += red[w][i];
        v = fp8f_mul_rn(fp8f_mul_rn(v, g.sa[m]), g.sw[n]);
        if (g.bias)
            v = fp8f_add_rn(v, g.bias[n]);
        store_any(g.out_dt, (char *)g.out + (size_t)m * (size_t)g.ldo * osz, n, v);
    }
}

/* As mma.e4m3 in the instruction set. */
template <int NT, int MT>
static __device__ __forceinline__ void mma_step_e4m3(float (&acc)[NT][MT][4],
                                                     const stream_vec (&w)[NT][2],
                                                     const stream_vec (&a)[MT]) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            const stream_vec lo = w[nt][0], hi = w[nt][1], v = a[mt];
            float d0[4], d1[4];
            mma_e4m3_k32(d0, lo.x, hi.x, lo.y, hi.y, v.x, v.y); /* bytes 0-7 */
            mma_e4m3_k32(d1, lo.z, hi.z, lo.w, hi.w, v.z, v.w); /* bytes 8-15 */
#pragma unroll
            for (int r = 0; r < 4; r++) {
                acc[nt][mt][r] += d0[r];
                acc[nt][mt][r] += d1[r];
            }
        }
}

#if defined(FP8F_STREAM_MMA_F16)
/* The same sums, bit for bit, with mma.e4m3 lowered by hand the way ptxas
 * lowers it on sm_90, which has no fp8 mma.sync: each k32 half is two
 * chained mma.m16n8k16 on f16 operands (e4m3 values are exact in f16), the
 * first over bytes 0-1 of the half's two 4-byte words, the second over
 * bytes 2-3. By hand, the zero accumulator mma.e4m3 is given costs nothing
 * (ptxas adds it with an FADD per result, four per mma). Measured on the
 * H200, same run (NOTES.md): GEMM up to 8 tokens 1-2.5 % faster on qkv and
 * gate_up, 0-1 % on o_proj; with two token groups (16 tokens) qkv ran 1 %
 * slower and its decode step 2 %, so more than one group keeps
 * mma_step_e4m3. */
template <int NT, int MT>
static __device__ __forceinline__ void mma_step_f16(float (&acc)[NT][MT][4],
                                                    const stream_vec (&w)[NT][2],
                                                    const stream_vec (&a)[MT]) {
#pragma unroll
    for (int pair = 0; pair < 2; pair++) {
        const int j0 = 2 * pair, j1 = 2 * pair + 1;
        uint32_t af[MT][2][2]; /* [group][half: bytes 0-1, 2-3][word j0, j1] */
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            e4m3x4_to_f16x2x2(word(a[mt], j0), af[mt][0][0], af[mt][1][0]);
            e4m3x4_to_f16x2x2(word(a[mt], j1), af[mt][0][1], af[mt][1][1]);
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            /* [half][A register: row g word j0, row g + 8 j0, row g j1, g + 8 j1] */
            uint32_t wf[2][4];
            e4m3x4_to_f16x2x2(word(w[nt][0], j0), wf[0][0], wf[1][0]);
            e4m3x4_to_f16x2x2(word(w[nt][1], j0), wf[0][1], wf[1][1]);
            e4m3x4_to_f16x2x2(word(w[nt][0], j1), wf[0][2], wf[1][2]);
            e4m3x4_to_f16x2x2(word(w[nt][1], j1), wf[0][3], wf[1][3]);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const float zero[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                float p[4];
                mma_f16_k16(p, wf[0], af[mt][0], zero);
                mma_f16_k16(p, wf[1], af[mt][1], p);
#pragma unroll
                for (int r = 0; r < 4; r++)
                    acc[nt][mt][r] += p[r];
            }
        }
    }
}
#endif

/* One 64-byte K step: acc[nt][mt][...] += NT 16-row weight tiles (w[nt]:
 * rows g and g + 8, 16 bytes each) times MT token groups (a[mt]: token g).
 * Bytes 0-7 and 8-15 of a lane feed the two k32 halves of mma.m16n8k32;
 * each half's sum starts from zero and is added to the f32 accumulators in
 * the SIMT units (the matrix cores' accumulation keeps fewer bits than f32
 * rounding). */
template <int NT, int MT>
static __device__ __forceinline__ void mma_step(float (&acc)[NT][MT][4],
                                                const stream_vec (&w)[NT][2],
                                                const stream_vec (&a)[MT]) {
#if defined(FP8F_STREAM_MMA_F16)
    if constexpr (MT == 1) {
        mma_step_f16<NT, MT>(acc, w, a);
        return;
    }
#endif
    mma_step_e4m3<NT, MT>(acc, w, a);
}
#endif

/* A lane's operands of DEPTH K steps (s, s + STREAM_WARPS, ...). */
template <int NT, int MT, int DEPTH> struct stream_stage {
    stream_vec w[DEPTH][NT][2]; /* rows g and g + 8 of each 16-row tile */
    stream_vec a[DEPTH][MT];    /* token g of each 8-token group */
};

template <int NT, int MT, int DEPTH>
__global__ void __launch_bounds__(STREAM_WARPS * 32)
    hip_gemm_stream_kernel(struct hip_gemm_args g) {
#if defined(FP8F_STREAM_MMA)
    constexpr int PARTS = NT * MT * 4 * 32; /* accumulators of one warp */
    __shared__ float red[STREAM_WARPS][PARTS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gq = lane >> 2, tq = lane & 3;
    /* x: the token chunk, so that the blocks reading one weight tile run
     * side by side and all but the first find it in L2 */
    const int64_t n0 = (int64_t)blockIdx.y * (16 * NT);
    const int64_t m0 = g.m_base + (int64_t)blockIdx.x * (8 * MT);
    const bool vec_ok = act_rows_16b(g);

    const uint8_t *wrow[NT][2];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        wrow[nt][0] = g.qw + (n0 + nt * 16 + gq) * g.ldw + 16 * tq;
        wrow[nt][1] = wrow[nt][0] + 8 * g.ldw;
    }
    const uint8_t *arow[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        const int64_t tok = m0 + mt * 8 + gq;
        arow[mt] = tok < g.m ? g.qa + tok * g.lda : nullptr;
    }

    float acc[NT][MT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                acc[nt][mt][r] = 0.0f;

    const int64_t steps = (g.k + STREAM_KSTEP - 1) / STREAM_KSTEP;
    /* Steps past the end load zeros: they add nothing. */
    auto load_w = [&](stream_stage<NT, MT, DEPTH> &st, int64_t s0) {
#pragma unroll
        for (int d = 0; d < DEPTH; d++) {
            const int64_t s = s0 + (int64_t)d * STREAM_WARPS, kb = s * STREAM_KSTEP;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    st.w[d][nt][h] = s < steps
                                         ? load_weight16(wrow[nt][h] + kb)
                                         : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    auto load_a = [&](stream_stage<NT, MT, DEPTH> &st, int64_t s0) {
#pragma unroll
        for (int d = 0; d < DEPTH; d++) {
            const int64_t s = s0 + (int64_t)d * STREAM_WARPS, kb = s * STREAM_KSTEP;
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                st.a[d][mt] = s < steps && arow[mt]
                                  ? load_act16(arow[mt], kb + 16 * tq, g.k, vec_ok)
                                  : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    /* The next few steps' weight lines into L2 (one lane of four covers a
     * row's 64 bytes), so that HBM is busy before the activations exist. */
    auto prefetch_w = [&](int64_t s0) {
        if (tq != 0)
            return;
#pragma unroll
        for (int p = 0; p < STREAM_PREFETCH_STEPS; p++) {
            const int64_t s = s0 + (int64_t)p * STREAM_WARPS;
            if (s < steps)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int h = 0; h < 2; h++)
                        fp8f_prefetch_l2(wrow[nt][h] + s * STREAM_KSTEP);
        }
    };
    auto compute = [&](const stream_stage<NT, MT, DEPTH> &st) {
#pragma unroll
        for (int d = 0; d < DEPTH; d++)
            mma_step<NT, MT>(acc, st.w[d], st.a[d]);
    };

    /* Two stages of DEPTH steps in flight per warp: the next stage loads
     * while this one multiplies. */
    constexpr int64_t STAGE = (int64_t)STREAM_WARPS * DEPTH;
    stream_stage<NT, MT, DEPTH> cur{}, nxt{};
    int64_t s = warp;
    /* The weight does not depend on the kernel before this one (a norm +
     * quant launched with PDL): its first stages load while that finishes;
     * activations, scales and the output wait for it. */
    load_w(cur, s);
    prefetch_w(s + STAGE);
    fp8f_wait_for_prerequisites();
    load_a(cur, s);
    for (; s < steps; s += STAGE) {
        if (s + STAGE < steps) {
            load_w(nxt, s + STAGE);
            load_a(nxt, s + STAGE);
        }
        compute(cur);
        cur = nxt;
    }

    stream_epilogue<NT, MT>(g, red, acc, n0, m0);
#else
    (void)g; /* never launched: hip_gemm_stream_supported() said no */
#endif
}

/* Up to 16 tokens with 16-byte aligned activation rows and K a multiple of
 * the 64-byte step (every GLM-4.7 decode shape): the same products in the
 * same order as hip_gemm_stream_kernel, scheduled as a ring of RING
 * one-step stages, so that RING - 1 steps are in flight while one
 * multiplies, and addressed through row pointers advanced by whole steps
 * (loads at pointer + offset), which costs fewer registers than the
 * two-stage kernel's 64-bit addresses: with RING = 3, 114 instead of 128
 * registers (32 weight rows, 8 tokens). Measured on the H200 (NOTES.md):
 * qkv M = 1 / 8 26.97 / 27.44 -> 24.83 / 25.70 us.
 *
 * ACT_ASYNC: the activations' ring is in shared memory, filled by cp.async
 * (each lane copies the 16 bytes per token group it will multiply, so a
 * lane waits only for its own copies), and a stage's activations are read
 * into registers just before its mma. Sixteen tokens need it: with the
 * activations in registers three stages spill or drop to one block per
 * SM; here the 32-row tile takes 128 registers (two blocks per SM) and
 * the 16-row one 80 (three). With 16 weight rows it pays at 8 tokens too.
 * Same run, GEMM alone, µs: o_proj M = 1 / 8 / 16 23.78 / 24.19 / 28.78
 * (registers; two-stage kernel at 16) -> 22.29 / 23.06 / 25.79, qkv M = 16
 * 31.97 -> 31.42; with 32 rows and 8 tokens it is slower (qkv M = 1 24.96
 * -> 25.65), so that tile keeps its activations in registers. */
#define STREAM_RING 3

template <int NT, int MT, int RING, bool ACT_ASYNC>
__global__ void __launch_bounds__(STREAM_WARPS * 32, ACT_ASYNC ? (NT == 1 ? 3 : 2) : 1)
    hip_gemm_stream_ring_kernel(struct hip_gemm_args g) {
#if defined(FP8F_STREAM_MMA)
    __shared__ float red[STREAM_WARPS][NT * MT * 4 * 32];
    constexpr int ABUF_WARPS = ACT_ASYNC ? STREAM_WARPS : 1, ABUF_SLOTS = ACT_ASYNC ? RING : 1;
    __shared__ stream_vec abuf[ABUF_WARPS][ABUF_SLOTS][MT][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gq = lane >> 2, tq = lane & 3;
    const int64_t n0 = (int64_t)blockIdx.y * (16 * NT);
    const int64_t m0 = g.m_base + (int64_t)blockIdx.x * (8 * MT);
    /* this warp's steps are warp, warp + 8, ...: step j of the warp is
     * SSTEP * j bytes past its first */
    constexpr int SSTEP = STREAM_WARPS * STREAM_KSTEP;
    const uint8_t *wp = g.qw + (n0 + gq) * g.ldw + 16 * tq + warp * STREAM_KSTEP;
    const int64_t rows8 = 8 * g.ldw; /* weight rows g, g + 8, g + 16, g + 24 */
    const uint8_t *ap[MT];
    bool token_ok[MT];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        const int64_t tok = m0 + mt * 8 + gq;
        token_ok[mt] = tok < g.m;
        ap[mt] = g.qa + (token_ok[mt] ? tok : m0) * g.lda + 16 * tq + warp * STREAM_KSTEP;
    }
    const int64_t steps = g.k / STREAM_KSTEP;
    const int my_steps =
        (int)(steps > warp ? (steps - warp + STREAM_WARPS - 1) / STREAM_WARPS : 0);

    float acc[NT][MT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                acc[nt][mt][r] = 0.0f;
    /* a: the ring's activations, or (ACT_ASYNC) the stage's, read from abuf */
    constexpr int AREGS = ACT_ASYNC ? 1 : RING;
    stream_vec w[RING][NT][2], a[AREGS][MT];
    /* steps past the warp's last load zeros: they add nothing */
    auto load_w = [&](int slot, int j) {
        const uint8_t *p = wp + (int64_t)j * SSTEP;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                w[slot][nt][h] = j < my_steps ? load_weight16(p + (2 * nt + h) * rows8)
                                              : make_uint4(0u, 0u, 0u, 0u);
    };
    /* one cp.async group per step, empty past the warp's last */
    auto load_a = [&](int slot, int j) {
        if constexpr (ACT_ASYNC) {
            if (j < my_steps)
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
                    cp_async16(&abuf[warp][slot][mt][lane], ap[mt] + (int64_t)j * SSTEP,
                               token_ok[mt]);
            cp_async_commit();
        } else {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                a[slot][mt] = j < my_steps && token_ok[mt]
                                  ? load_act16_aligned(ap[mt] + (int64_t)j * SSTEP)
                                  : make_uint4(0u, 0u, 0u, 0u);
        }
    };
    /* the slot's step is the oldest of the RING groups in flight */
    auto compute = [&](int slot) {
        const int as = ACT_ASYNC ? 0 : slot; /* where the stage's activations are */
        if constexpr (ACT_ASYNC) {
            cp_async_wait<RING - 1>();
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                a[0][mt] = abuf[warp][slot][mt][lane];
        }
        mma_step<NT, MT>(acc, w[slot], a[as]);
    };

    /* as in the two-stage kernel, the first weights load before the wait
     * for the kernel this one may overlap (PDL) */
#pragma unroll
    for (int i = 0; i < RING - 1; i++)
        load_w(i, i);
    fp8f_wait_for_prerequisites();
#pragma unroll
    for (int i = 0; i < RING - 1; i++)
        load_a(i, i);
    /* slot i of round j holds step j + i; before it multiplies, the slot
     * the step before it used is refilled with step j + i + RING - 1 */
    for (int j = 0; j < my_steps; j += RING) {
#pragma unroll
        for (int i = 0; i < RING; i++) {
            const int refill = (i + RING - 1) % RING;
            load_w(refill, j + i + RING - 1);
            load_a(refill, j + i + RING - 1);
            if (j + i < my_steps)
                compute(i);
        }
    }
    stream_epilogue<NT, MT>(g, red, acc, n0, m0);
#else
    (void)g; /* never launched: hip_gemm_stream_supported() said no */
#endif
}

int hip_gemm_stream_supported(void) {
#if defined(FP8F_GPU_NVIDIA)
    /* The binary the runtime picked for this device must have been compiled
     * for sm_89+ (PTX and SASS): an older target compiles the body out. */
    cudaFuncAttributes fa;
    if (cudaFuncGetAttributes(&fa, hip_gemm_stream_kernel<1, 1, 2>) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return fa.ptxVersion >= 89 && fa.binaryVersion >= 89;
#else
    return 0;
#endif
}

/* One launch of kernel on the context's stream, with programmatic
 * dependent launch where asked (the kernel may then start while the one
 * before it runs; see the kernels). */
template <typename Kernel>
static hipError_t launch_on(Kernel kernel, dim3 grid, struct hip_gemm_args g, int pdl,
                            hipStream_t s) {
#if defined(FP8F_GPU_NVIDIA)
    if (pdl) {
        cudaLaunchAttribute attr;
        attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr.val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = grid;
        cfg.blockDim = dim3(STREAM_WARPS * 32);
        cfg.stream = s;
        cfg.attrs = &attr;
        cfg.numAttrs = 1;
        return cudaLaunchKernelEx(&cfg, kernel, g);
    }
#endif
    (void)pdl;
    kernel<<<grid, STREAM_WARPS * 32, 0, s>>>(g);
    return hipGetLastError();
}

/* Up to 16 tokens: the ring kernel where it applies (ring: 16-byte aligned
 * activation rows and K a multiple of the step; activations through
 * shared memory except for 32 rows x 8 tokens). Otherwise two steps a
 * stage up to 8 tokens, one above (the registers two would take cost more
 * occupancy than the extra loads in flight gain, measured). */
template <int NT, int MT>
static hipError_t launch(struct hip_gemm_args g, int64_t rows, bool ring, int pdl,
                         hipStream_t s) {
    const dim3 grid((unsigned)((rows + 8 * MT - 1) / (8 * MT)),
                    (unsigned)((g.n + 16 * NT - 1) / (16 * NT)));
    if constexpr (MT <= 2) {
        constexpr bool act_async = !(NT == 2 && MT == 1);
        if (ring)
            return launch_on(hip_gemm_stream_ring_kernel<NT, MT, STREAM_RING, act_async>, grid,
                             g, pdl, s);
    }
    constexpr int DEPTH = MT == 1 ? 2 : 1;
    return launch_on(hip_gemm_stream_kernel<NT, MT, DEPTH>, grid, g, pdl, s);
}

/* Tokens per block: 8, 16 or 32 (larger M goes in chunks, side by side on
 * one weight tile), 16 up to 64 tokens where the ring applies (its 16-token
 * blocks beat the two-stage kernel's 32-token ones there: o_proj M = 32 /
 * 64 38.1 / 72.7 against 52.6 / 83.8 us, qkv 47.9 / 83.2 against 54.7 /
 * 88.9), or st->stream_tokens where set. Rows per block: 16 for
 * 16-token blocks of the ring kernel (three blocks per SM: qkv / gate_up
 * M = 16 31.4 / 47.2 -> 30.9 / 45.8 us against 32 rows, same run), else
 * 32, or 16 where 32 would give fewer than two blocks per SM; or
 * st->stream_rows. */
hipError_t hip_launch_gemm_stream(const struct hip_gemm_args *args, const struct hip_state *st) {
    const int64_t tokens = st->stream_tokens ? st->stream_tokens : args->m;
    const bool ring = args->k % STREAM_KSTEP == 0 && act_rows_16b(*args);
    const bool ring16 = ring && !st->stream_tokens && tokens <= 64; /* see above */
    const int mt = tokens <= 8 ? 1 : tokens <= 16 || ring16 ? 2 : 4;
    const int sm_count = st->sm_count, pdl = st->pdl;
    const hipStream_t s = st->stream;
    const int64_t chunks = (args->m + 8 * mt - 1) / (8 * mt);
    const int nt = st->stream_rows                              ? st->stream_rows / 16
                   : mt == 2 && ring                            ? 1
                   : (args->n + 31) / 32 * chunks < 2 * sm_count ? 1
                                                                : 2;
    const int64_t max_rows = (int64_t)0x7fffffff / 32 * 8 * mt; /* grid.x limit */
    struct hip_gemm_args g = *args;
    for (g.m_base = 0; g.m_base < args->m; g.m_base += max_rows) {
        const int64_t rows = args->m - g.m_base < max_rows ? args->m - g.m_base : max_rows;
        hipError_t e;
        switch (nt * 10 + mt) {
        case 11: e = launch<1, 1>(g, rows, ring, pdl, s); break;
        case 12: e = launch<1, 2>(g, rows, ring, pdl, s); break;
        case 14: e = launch<1, 4>(g, rows, ring, pdl, s); break;
        case 21: e = launch<2, 1>(g, rows, ring, pdl, s); break;
        case 22: e = launch<2, 2>(g, rows, ring, pdl, s); break;
        default: e = launch<2, 4>(g, rows, ring, pdl, s); break;
        }
        if (e != hipSuccess)
            return e;
    }
    return hipSuccess;
}
