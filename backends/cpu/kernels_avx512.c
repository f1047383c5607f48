/*
 * AVX-512 (F/BW/DQ/VL) kernels: the norm/quant rows (also used by the
 * AVX-512 BF16 table) and an f32 FMA GEMM. Compiled with -mavx512f
 * -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c; called only where
 * cpu_isa.c found them.
 *
 * GEMM: panels of 32 output channels, per k the 32 codes of the panel's
 * channels. fp8 -> f32 in registers without a table: the code's 7 magnitude
 * bits shifted into an f32's exponent and mantissa give the value times
 * 2^-(127 - bias) (subnormal codes become f32 denormals, which FMA handles
 * exactly with MXCSR.DAZ clear: f32_gemm_keeping_denormals); the activation is pre-scaled by 2^(127 - bias - 16) and the
 * epilogue multiplies by 2^16 (powers of two: exact).
 */
#include "kernels_avx512_inl.h"
#include "kernels_f32_panel.h"

#define NR 32
#define MR 8

float fp8f_cpu_avx512_row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    struct squares sq = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t c = 0;
    /* full blocks with a constant mask (plain loads and stores), then the tail */
#define ADD_SS_BODY(M)                                                                         \
    {                                                                                          \
        __m512 h = load16(xt, x, c, M);                                                        \
        if (r) {                                                                               \
            h = round16(rt, _mm512_add_ps(h, load16(rt, r, c, M)));                            \
            store16(rt, r, c, h, M);                                                           \
        }                                                                                      \
        squares16(&sq, c, h);                                                                  \
    }
    if (r && xt == FP8F_BF16 && rt == FP8F_BF16) {
        /* specialized: 32 elements read even/odd (squares_even_odd), each
         * sum rounded once in integer arithmetic with the bf16 left in the
         * high half, which is both the rounded f32 and, the even one
         * shifted down, half of the stored lane (440 -> 310 ns a row of
         * 5120 on Zen 5, in L1, against widening 16 at a time in order) */
        const uint16_t *xs = (const uint16_t *)x;
        uint16_t *rs = (uint16_t *)r;
        __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
        for (; c + 32 <= n; c += 32) {
            const __m512i xv = _mm512_loadu_si512(xs + c), rv = _mm512_loadu_si512(rs + c);
            const __m512i he = bf16_round_high(_mm512_add_ps(bf16_even(xv), bf16_even(rv)));
            const __m512i ho = bf16_round_high(_mm512_add_ps(bf16_odd(xv), bf16_odd(rv)));
            _mm512_storeu_si512(rs + c, bf16_interleave_high(he, ho));
            squares_even_odd(&even, &odd, _mm512_castsi512_ps(he), _mm512_castsi512_ps(ho));
        }
        sq = squares_from_even_odd(even, odd);
    }
    for (; c + 16 <= n; c += 16) {
        const __mmask16 full = 0xffff;
        ADD_SS_BODY(full)
    }
    if (c < n) {
        const __mmask16 m = tail_mask16(n - c);
        ADD_SS_BODY(m)
    }
#undef ADD_SS_BODY
    return fold_squares(sq);
}

float fp8f_cpu_avx512_row_norm(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                               float inv_rms, float *y, int64_t n) {
    const __m512 inv = _mm512_set1_ps(inv_rms);
    __m512 amax = _mm512_setzero_ps();
    int64_t c = 0;
#define NORM_BODY(M)                                                                           \
    {                                                                                          \
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(load16(ht, h, c, M), inv), load16(wt, w, c, M)); \
        _mm512_mask_storeu_ps(y + c, M, v);                                                    \
        amax = mask_max_abs_of_product(amax, M, v);                                            \
    }
    if (ht == FP8F_BF16 && wt == FP8F_BF16) {
        for (; c + 16 <= n; c += 16) {
            const __mmask16 full = 0xffff;
            const fp8f_dtype ht = FP8F_BF16, wt = FP8F_BF16; /* specialized */
            NORM_BODY(full)
        }
    }
    for (; c + 16 <= n; c += 16) {
        const __mmask16 full = 0xffff;
        NORM_BODY(full)
    }
    if (c < n) {
        const __mmask16 m = tail_mask16(n - c);
        NORM_BODY(m)
    }
#undef NORM_BODY
    return _mm512_reduce_max_ps(amax);
}

float fp8f_cpu_avx512_row_amax(const void *x, fp8f_dtype xt, float *y, int64_t n) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    __m512 amax = _mm512_setzero_ps();
    int64_t c = 0;
    /* full blocks with a constant mask (plain loads and stores: masked ones
     * in the loop ran 1.8x slower on Zen 5), then the tail */
#define AMAX_BODY(M)                                                                           \
    {                                                                                          \
        __m512 v = load16(xt, x, c, M);                                                        \
        if (y)                                                                                 \
            _mm512_mask_storeu_ps(y + c, M, v);                                                \
        __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), absmask));     \
        amax = _mm512_mask_max_ps(amax, M, a, amax); /* NaN lanes keep amax */                 \
    }
    if (xt == FP8F_BF16) {
        for (; c + 16 <= n; c += 16) {
            const __mmask16 full = 0xffff;
            const fp8f_dtype xt = FP8F_BF16; /* specialized */
            AMAX_BODY(full)
        }
    }
    for (; c + 16 <= n; c += 16) {
        const __mmask16 full = 0xffff;
        AMAX_BODY(full)
    }
    if (c < n) {
        const __mmask16 m = tail_mask16(n - c);
        AMAX_BODY(m)
    }
#undef AMAX_BODY
    return _mm512_reduce_max_ps(amax);
}

void fp8f_cpu_avx512_store_fence(void) { _mm_sfence(); }

void fp8f_cpu_avx512_row_encode(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                                int stream) {
    encode_row_reciprocal(y, n, scale, fp8 == FP8F_E4M3FNUZ, q, stream, CODES_IN_ORDER);
}

void fp8f_cpu_avx512_row_encode_div(const float *y, int64_t n, float scale, fp8f_dtype fp8,
                                    uint8_t *q, int stream) {
    const __m512 s = _mm512_set1_ps(scale);
    const int fnuz = fp8 == FP8F_E4M3FNUZ;
    int64_t c = 0;
    for (; c + 64 <= n; c += 64)
        encode64_div(y + c, s, fnuz, q + c, stream, CODES_IN_ORDER);
    encode_tail_div(y, c, n, s, fnuz, q);
}

void fp8f_cpu_avx512_row_norm_store(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                                    float inv_rms, void *out, fp8f_dtype ot, int64_t n) {
    const __m512 inv = _mm512_set1_ps(inv_rms);
    int64_t c = 0;
    /* full blocks with a constant mask (plain loads and stores: masked ones
     * in the loop ran 1.8x slower on Zen 5), then the tail */
#define NORM_STORE_BODY(M)                                                                     \
    {                                                                                          \
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(load16(ht, h, c, M), inv), load16(wt, w, c, M)); \
        store16(ot, out, c, v, M);                                                             \
    }
    if (ht == FP8F_BF16 && wt == FP8F_BF16 && ot == FP8F_BF16) {
        for (; c + 16 <= n; c += 16) {
            const __mmask16 full = 0xffff;
            const fp8f_dtype ht = FP8F_BF16, wt = FP8F_BF16, ot = FP8F_BF16; /* specialized */
            NORM_STORE_BODY(full)
        }
    }
    for (; c + 16 <= n; c += 16) {
        const __mmask16 full = 0xffff;
        NORM_STORE_BODY(full)
    }
    if (c < n) {
        const __mmask16 m = tail_mask16(n - c);
        NORM_STORE_BODY(m)
    }
#undef NORM_STORE_BODY
}

/* ---- GEMM (f32 FMA) ---- */

static size_t panel_bytes(int64_t k) { return (size_t)k * NR; }

static void pack_panel(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst) {
    f32_panel_pack(q, n, k, n0, NR, dst);
}

/* 16 codes -> their values times 2^-(127 - bias). */
AVX512_INLINE __m512 decode16(__m128i codes) {
    __m512i x = _mm512_slli_epi32(_mm512_cvtepi8_epi32(codes), 20);
    return _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32((int)0x87f00000u)));
}

AVX512_INLINE void micro(const struct cpu_gemm_args *g, int64_t m0, int mr, const uint8_t *wp,
                         int64_t n0) {
    __m512 acc[MR][2];
    const float *a[MR];
    const size_t astr = g->a_stride / 4;
    _Pragma("GCC unroll 16")
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        a[i] = (const float *)g->a + (size_t)(m0 + (i < mr ? i : 0)) * astr;
    }
    for (int64_t kk = 0; kk < g->k; kk++) {
        if (kk % 2 == 0) /* one line holds 2 k */
            cpu_prefetch_ahead(wp + kk * NR);
        const __m512 w0 = decode16(_mm_loadu_si128((const __m128i *)(wp + kk * NR)));
        const __m512 w1 = decode16(_mm_loadu_si128((const __m128i *)(wp + kk * NR + 16)));
        _Pragma("GCC unroll 16")
        for (int i = 0; i < MR; i++)
            if (i < mr) {
                const __m512 av = _mm512_set1_ps(a[i][kk]);
                acc[i][0] = _mm512_fmadd_ps(av, w0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(av, w1, acc[i][1]);
            }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < mr; i++) {
        epilogue16(g, m0 + i, n0, acc[i][0], 65536.0f);
        epilogue16(g, m0 + i, n0 + 16, acc[i][1], 65536.0f);
    }
}

#define MICRO_CASE(r)                                                                          \
    case r:                                                                                    \
        micro(g, i, r, wp, p * NR);                                                            \
        break;

static void gemm_block_decoded(const struct cpu_gemm_args *g, int64_t m0, int64_t m1,
                               int64_t p0, int64_t p1, void *scratch) {
    (void)scratch;
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t *wp = g->w + (size_t)p * panel_bytes(g->k);
        for (int64_t i = m0; i < m1; i += MR) {
            switch (m1 - i >= MR ? MR : (int)(m1 - i)) {
                MICRO_CASE(1)
                MICRO_CASE(2)
                MICRO_CASE(3)
                MICRO_CASE(4)
                MICRO_CASE(5)
                MICRO_CASE(6)
                MICRO_CASE(7)
                MICRO_CASE(8)
            }
        }
    }
}

static void gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                       int64_t p1, void *scratch) {
    f32_gemm_keeping_denormals(gemm_block_decoded, g, m0, m1, p0, p1, scratch);
}

const struct cpu_kernels fp8f_cpu_kernels_avx512 = {
    .name = "avx512",
    .gemm_name = "avx512 f32 fma (fp8 decoded in registers, 32-channel panels)",
    .row_add_ss = fp8f_cpu_avx512_row_add_ss,
    .row_norm = fp8f_cpu_avx512_row_norm,
    .row_amax = fp8f_cpu_avx512_row_amax,
    .row_encode = fp8f_cpu_avx512_row_encode,
    .row_encode_div = fp8f_cpu_avx512_row_encode_div,
    .store_fence = fp8f_cpu_avx512_store_fence,
    .row_norm_store = fp8f_cpu_avx512_row_norm_store,
    .nr = NR,
    .split_panels = 2, /* 64 channels */
    .panel_bytes = panel_bytes,
    .pack_panel = pack_panel,
    .a_row_bytes = f32_a_row_bytes,
    .prep_a = f32_prep_a,
    .scratch_bytes = f32_scratch_bytes,
    .gemm_block = gemm_block,
};
