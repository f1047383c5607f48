/*
 * AVX2 + FMA + F16C kernels: the norm/quant rows (two 8-wide registers
 * stand for the 16 canonical lanes of the sum of squares) and an f32 FMA
 * GEMM on panels of 16 channels (fp8 decoded in registers as in
 * kernels_avx512.c). Tails go through a zero-padded 16-element block, so
 * they follow the canonical order too.
 */
#include <immintrin.h>
#include <string.h>

#include "cpu_isa.h"
#include "cpu_kernels.h"
#include "kernels_f32_panel.h"

#define INL static inline __attribute__((always_inline))
#define NR 16
#define MR 6

INL __m256 load8(fp8f_dtype t, const void *p, int64_t c) {
    switch (t) {
    case FP8F_BF16: {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + c));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    case FP8F_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + c)));
    default:
        return _mm256_loadu_ps((const float *)p + c);
    }
}

INL __m256i bf16_bits8(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i r = _mm256_add_epi32(
        u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                            _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
    __m256i qn = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_srli_epi32(_mm256_blendv_epi8(r, qn, nan), 16);
}

INL __m256 round8(fp8f_dtype t, __m256 v) {
    switch (t) {
    case FP8F_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(bf16_bits8(v), 16));
    case FP8F_F16:
        return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    default:
        return v;
    }
}

INL void store8(fp8f_dtype t, void *p, int64_t c, __m256 v) {
    switch (t) {
    case FP8F_BF16: {
        __m256i b = bf16_bits8(v);
        __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
        _mm_storeu_si128((__m128i *)((uint16_t *)p + c), w);
        break;
    }
    case FP8F_F16:
        _mm_storeu_si128((__m128i *)((uint16_t *)p + c),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        break;
    default:
        _mm256_storeu_ps((float *)p + c, v);
        break;
    }
}

/* A tail of `left` < 16 elements copied into a zero-padded block. */
INL const void *pad16(fp8f_dtype t, const void *p, int64_t c, int64_t left, void *buf) {
    const size_t es = fp8f_dtype_size(t);
    memset(buf, 0, 16 * 4);
    memcpy(buf, (const char *)p + (size_t)c * es, (size_t)left * es);
    return buf;
}

static float row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
        const int64_t left = n - c;
        float xb[16], rb[16];
        const void *xp = x, *rp = r;
        int64_t cc = c;
        if (left < 16) {
            xp = pad16(xt, x, c, left, xb);
            if (r)
                rp = pad16(rt, r, c, left, rb);
            cc = 0;
        }
        __m256 h0 = load8(xt, xp, cc), h1 = load8(xt, xp, cc + 8);
        if (r) {
            h0 = round8(rt, _mm256_add_ps(h0, load8(rt, rp, cc)));
            h1 = round8(rt, _mm256_add_ps(h1, load8(rt, rp, cc + 8)));
            if (left >= 16) {
                store8(rt, r, c, h0);
                store8(rt, r, c + 8, h1);
            } else {
                store8(rt, rb, 0, h0);
                store8(rt, rb, 8, h1);
                memcpy((char *)r + (size_t)c * fp8f_dtype_size(rt), rb,
                       (size_t)left * fp8f_dtype_size(rt));
            }
        }
        acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(h0, h0));
        acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(h1, h1));
    }
    __m256 a = _mm256_add_ps(acc0, acc1); /* lanes j + (j + 8) */
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}

INL __m256 absmax8(__m256 amax, __m256 v) {
    __m256 a = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    return _mm256_max_ps(a, amax); /* NaN in a: amax */
}

INL float hmax8(__m256 v) {
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}

static float row_norm(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt, float inv_rms,
                      float *y, int64_t n) {
    const __m256 inv = _mm256_set1_ps(inv_rms);
    __m256 amax = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(load8(ht, h, c), inv), load8(wt, w, c));
        _mm256_storeu_ps(y + c, v);
        amax = absmax8(amax, v);
    }
    float m = hmax8(amax);
    for (; c < n; c++) {
        float v = fp8f_load_float(ht, h, c) * inv_rms;
        v = v * fp8f_load_float(wt, w, c);
        y[c] = v;
        m = fmaxf(m, fabsf(v));
    }
    return m;
}

static float row_amax(const void *x, fp8f_dtype xt, float *y, int64_t n) {
    __m256 amax = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 v = load8(xt, x, c);
        if (y)
            _mm256_storeu_ps(y + c, v);
        amax = absmax8(amax, v);
    }
    float m = hmax8(amax);
    for (; c < n; c++) {
        float v = fp8f_load_float(xt, x, c);
        if (y)
            y[c] = v;
        m = fmaxf(m, fabsf(v));
    }
    return m;
}

INL __m256i encode8(__m256 v, int fnuz) {
    const int bias = fnuz ? 8 : 7;
    __m256i bits = _mm256_castps_si256(v);
    __m256i abits = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
    /* to nearest even, the exponent rebiased in the same add (as encode16) */
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(abits, 20), _mm256_set1_epi32(1));
    __m256i round_rebias = _mm256_set1_epi32(0x7ffff - ((127 - bias) << 23));
    __m256i code_n =
        _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(abits, round_rebias), odd), 20);
    __m256i code_s = _mm256_cvtps_epi32(
        _mm256_mul_ps(_mm256_castsi256_ps(abits), _mm256_set1_ps(fnuz ? 1024.0f : 512.0f)));
    /* abits >= 0 as signed (sign cleared): signed compares are exact */
    __m256i normal = _mm256_cmpgt_epi32(abits, _mm256_set1_epi32(((127 + 1 - bias) << 23) - 1));
    __m256i code = _mm256_blendv_epi8(code_s, code_n, normal);
    code = _mm256_min_epi32(code, _mm256_set1_epi32(fnuz ? 0x7f : 0x7e));
    __m256i nan = _mm256_cmpgt_epi32(abits, _mm256_set1_epi32(0x7f800000));
    __m256i sign = _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80));
    __m256i res = _mm256_or_si256(code, sign);
    if (fnuz) {
        __m256i zero = _mm256_cmpeq_epi32(code, _mm256_setzero_si256());
        res = _mm256_andnot_si256(zero, res);
        res = _mm256_blendv_epi8(res, _mm256_set1_epi32(0x80), nan);
    } else {
        res = _mm256_blendv_epi8(res, _mm256_or_si256(sign, _mm256_set1_epi32(0x7f)), nan);
    }
    return res;
}

static void row_encode(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q) {
    const __m256 s = _mm256_set1_ps(scale);
    const int fnuz = fp8 == FP8F_E4M3FNUZ;
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256i a = encode8(_mm256_div_ps(_mm256_loadu_ps(y + c), s), fnuz);
        __m256i b = encode8(_mm256_div_ps(_mm256_loadu_ps(y + c + 8), s), fnuz);
        __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128((__m128i *)(q + c), bytes);
    }
    for (; c < n; c++)
        q[c] = cpu_encode_fp8_fast(fp8, y[c] / scale);
}

static void row_norm_store(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                           float inv_rms, void *out, fp8f_dtype ot, int64_t n) {
    const __m256 inv = _mm256_set1_ps(inv_rms);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8)
        store8(ot, out, c,
               _mm256_mul_ps(_mm256_mul_ps(load8(ht, h, c), inv), load8(wt, w, c)));
    for (; c < n; c++) {
        float v = fp8f_load_float(ht, h, c) * inv_rms;
        fp8f_store_float(ot, out, c, v * fp8f_load_float(wt, w, c));
    }
}

/* ---- GEMM (f32 FMA, 16-channel panels) ---- */

static size_t panel_bytes(int64_t k) { return (size_t)k * NR; }

static void pack_panel(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst) {
    f32_panel_pack(q, n, k, n0, NR, dst);
}

INL __m256 decode8(__m128i codes8) {
    __m256i x = _mm256_slli_epi32(_mm256_cvtepi8_epi32(codes8), 20);
    return _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32((int)0x87f00000u)));
}

INL void epilogue8(const struct cpu_gemm_args *g, int64_t row, int64_t col, __m256 acc) {
    const int64_t left = g->n - col;
    if (left <= 0)
        return;
    acc = _mm256_mul_ps(acc, _mm256_set1_ps(65536.0f));
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(acc, _mm256_set1_ps(g->sa[row])),
                             _mm256_loadu_ps(g->sw + col));
    if (g->bias)
        v = _mm256_add_ps(v, _mm256_loadu_ps(g->bias + col));
    void *orow =
        (char *)g->out + (size_t)row * (size_t)g->out_stride * fp8f_dtype_size(g->out_dtype);
    if (left >= 8) {
        store8(g->out_dtype, orow, col, v);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        for (int64_t j = 0; j < left; j++)
            fp8f_store_float(g->out_dtype, orow, col + j, tmp[j]);
    }
}

INL void micro(const struct cpu_gemm_args *g, int64_t m0, int mr, const uint8_t *wp, int64_t n0) {
    __m256 acc[MR][2];
    const float *a[MR];
    const size_t astr = g->a_stride / 4;
    _Pragma("GCC unroll 16")
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        a[i] = (const float *)g->a + (size_t)(m0 + (i < mr ? i : 0)) * astr;
    }
    for (int64_t kk = 0; kk < g->k; kk++) {
        const __m128i c = _mm_loadu_si128((const __m128i *)(wp + kk * NR));
        const __m256 w0 = decode8(c), w1 = decode8(_mm_unpackhi_epi64(c, c));
        _Pragma("GCC unroll 16")
        for (int i = 0; i < MR; i++)
            if (i < mr) {
                const __m256 av = _mm256_broadcast_ss(a[i] + kk);
                acc[i][0] = _mm256_fmadd_ps(av, w0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(av, w1, acc[i][1]);
            }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < mr; i++) {
        epilogue8(g, m0 + i, n0, acc[i][0]);
        epilogue8(g, m0 + i, n0 + 8, acc[i][1]);
    }
}

static void gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                       int64_t p1, void *scratch) {
    (void)scratch;
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t *wp = g->w + (size_t)p * panel_bytes(g->k);
        for (int64_t i = m0; i < m1; i += MR) {
            switch (m1 - i >= MR ? MR : (int)(m1 - i)) {
            case 1: micro(g, i, 1, wp, p * NR); break;
            case 2: micro(g, i, 2, wp, p * NR); break;
            case 3: micro(g, i, 3, wp, p * NR); break;
            case 4: micro(g, i, 4, wp, p * NR); break;
            case 5: micro(g, i, 5, wp, p * NR); break;
            default: micro(g, i, 6, wp, p * NR); break;
            }
        }
    }
}

const struct cpu_kernels cpu_kernels_avx2 = {
    .name = "avx2",
    .gemm_name = "avx2 f32 fma (fp8 decoded in registers, 16-channel panels)",
    .row_add_ss = row_add_ss,
    .row_norm = row_norm,
    .row_amax = row_amax,
    .row_encode = row_encode,
    .row_norm_store = row_norm_store,
    .nr = NR,
    .panel_bytes = panel_bytes,
    .pack_panel = pack_panel,
    .a_row_bytes = f32_a_row_bytes,
    .prep_a = f32_prep_a,
    .scratch_bytes = f32_scratch_bytes,
    .gemm_block = gemm_block,
};
