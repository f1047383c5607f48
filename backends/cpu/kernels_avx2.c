/*
 * AVX2 + FMA + F16C kernels: the norm/quant rows (four 8-wide registers
 * stand for the 32 canonical lanes of the sum of squares) and an f32 FMA
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
#define NP_MAX 4 /* panels per micro-kernel call, at most */

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

/* ---- dtype instantiation ----
 *
 * Each row function runs its loop in a copy made for constant dtypes (one
 * branch per row), so that load8/store8's switch folds away. With the
 * dtypes as variables gcc kept the switches inside the loops: 2.53 us for
 * row_add_ss on a bf16 row of 5120 on the Zen 2 EPYC. Mixed dtypes, which
 * no model uses, keep the switches. */
#define WITH_DTYPE(t, T, stmt)                                                                     \
    do {                                                                                           \
        if ((t) == FP8F_BF16) {                                                                    \
            const fp8f_dtype T = FP8F_BF16;                                                        \
            stmt;                                                                                  \
        } else if ((t) == FP8F_F16) {                                                              \
            const fp8f_dtype T = FP8F_F16;                                                         \
            stmt;                                                                                  \
        } else {                                                                                   \
            const fp8f_dtype T = FP8F_F32;                                                         \
            stmt;                                                                                  \
        }                                                                                          \
    } while (0)

/* The 32 canonical lanes of the sum of squares (cpu_isa.h) in four
 * registers: q[0] lanes 0-7, q[1] 8-15, q[2] 16-23, q[3] 24-31. A block of
 * 16 elements in order at c adds to q[0], q[1] or, when c mod 32 = 16,
 * q[2], q[3]. */
struct squares8 {
    __m256 q[4];
};

/* The canonical fold (fold_lanes in kernels_generic.c): j + (j + 16), then
 * + 8, + 4, + 2, + 1. */
INL float fold_squares8(const struct squares8 *s) {
    const __m256 lo = _mm256_add_ps(s->q[0], s->q[2]), hi = _mm256_add_ps(s->q[1], s->q[3]);
    __m256 a = _mm256_add_ps(lo, hi); /* lanes j + (j + 8) */
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}

/* The same fold from the lanes as add16_bf16 leaves them: e[k] holds the
 * even lanes of the block half k (lanes 16 k + 0, 2, .., 14) and o[k] the
 * odd ones. */
INL float fold_squares8_even_odd(const __m256 e[2], const __m256 o[2]) {
    const __m256 even = _mm256_add_ps(e[0], e[1]), odd = _mm256_add_ps(o[0], o[1]); /* + 16 */
    __m128 ev = _mm_add_ps(_mm256_castps256_ps128(even), _mm256_extractf128_ps(even, 1));
    __m128 od = _mm_add_ps(_mm256_castps256_ps128(odd), _mm256_extractf128_ps(odd, 1));
    ev = _mm_add_ps(ev, _mm_movehl_ps(ev, ev));     /* lanes 0 and 2 */
    od = _mm_add_ps(od, _mm_movehl_ps(od, od));     /* lanes 1 and 3 */
    ev = _mm_add_ss(ev, _mm_shuffle_ps(ev, ev, 1)); /* lane 0 */
    od = _mm_add_ss(od, _mm_shuffle_ps(od, od, 1)); /* lane 1 */
    return _mm_cvtss_f32(_mm_add_ss(ev, od));
}

INL float add_ss_body(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    struct squares8 sq = {{_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                           _mm256_setzero_ps()}};
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
        const int k = (int)(c >> 3) & 2; /* q[0], q[1] or q[2], q[3] */
        sq.q[k] = _mm256_fmadd_ps(h0, h0, sq.q[k]);
        sq.q[k + 1] = _mm256_fmadd_ps(h1, h1, sq.q[k + 1]);
    }
    return fold_squares8(&sq);
}

/* x + r for 16 bf16 values, rounded to bf16 and stored back into r; adds
 * the squares of the sums to even / odd (lanes as fold_squares8_even_odd
 * has them). Read as 32-bit lanes, a pair of bf16 values is already two
 * f32s but for the other's bits: the odd one is the lane with its low half
 * cleared, the even one the lane shifted up by 16. No unpacking, and one
 * blend puts the rounded pairs back (a row of 5120 took 0.93-0.96 instead
 * of 1.02-1.03 us with unpack/pack on the Zen 2 EPYC). The rounding needs
 * no NaN case: a NaN sum of two bf16 values has its quiet bit set and 16
 * zero low bits, so the round-to-nearest-even add leaves it what
 * fp8f_f32_to_bf16 makes. */
INL void add16_bf16(const uint16_t *x, uint16_t *r, __m256 *even, __m256 *odd) {
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u), one = _mm256_set1_epi32(1),
                  half = _mm256_set1_epi32(0x7fff);
    const __m256i xv = _mm256_loadu_si256((const __m256i *)x),
                  rv = _mm256_loadu_si256((const __m256i *)r);
    __m256i s[2];
    s[0] = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(_mm256_slli_epi32(xv, 16)),
                                             _mm256_castsi256_ps(_mm256_slli_epi32(rv, 16))));
    s[1] = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(_mm256_and_si256(xv, high)),
                                             _mm256_castsi256_ps(_mm256_and_si256(rv, high))));
    for (int i = 0; i < 2; i++) /* to nearest even: + 0x7fff + the kept part's lsb */
        s[i] = _mm256_add_epi32(
            s[i], _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(s[i], 16), one), half));
    _mm256_storeu_si256((__m256i *)r, _mm256_blend_epi16(_mm256_srli_epi32(s[0], 16), s[1], 0xAA));
    const __m256 h0 = _mm256_castsi256_ps(_mm256_and_si256(s[0], high)),
                 h1 = _mm256_castsi256_ps(_mm256_and_si256(s[1], high));
    *even = _mm256_fmadd_ps(h0, h0, *even);
    *odd = _mm256_fmadd_ps(h1, h1, *odd);
}

/* bf16 x and residual, the models' case: whole blocks of 16 through
 * add16_bf16, two at a time (the halves of a canonical 32-lane block), the
 * tail through a zero-padded block (zeros add nothing to the squares and
 * are not stored). */
static float add_ss_bf16(const uint16_t *x, uint16_t *r, int64_t n) {
    __m256 e[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()},
           o[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        add16_bf16(x + c, r + c, &e[0], &o[0]);
        add16_bf16(x + c + 16, r + c + 16, &e[1], &o[1]);
    }
    if (c + 16 <= n) {
        add16_bf16(x + c, r + c, &e[0], &o[0]);
        c += 16;
    }
    if (c < n) {
        const int k = (int)(c >> 4) & 1;
        uint16_t xb[16] = {0}, rb[16] = {0};
        memcpy(xb, x + c, (size_t)(n - c) * 2);
        memcpy(rb, r + c, (size_t)(n - c) * 2);
        add16_bf16(xb, rb, &e[k], &o[k]);
        memcpy(r + c, rb, (size_t)(n - c) * 2);
    }
    return fold_squares8_even_odd(e, o);
}

static float row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    if (!r)
        WITH_DTYPE(xt, T, return add_ss_body(x, T, NULL, T, n));
    if (xt == FP8F_BF16 && rt == FP8F_BF16)
        return add_ss_bf16(x, r, n);
    if (xt == rt)
        WITH_DTYPE(xt, T, return add_ss_body(x, T, r, T, n));
    return add_ss_body(x, xt, r, rt, n);
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

INL float norm_body(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt, float inv_rms,
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
        m = cpu_max_abs(m, v);
    }
    return m;
}

static float row_norm(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt, float inv_rms,
                      float *y, int64_t n) {
    if (ht == wt)
        WITH_DTYPE(ht, T, return norm_body(h, T, w, T, inv_rms, y, n));
    return norm_body(h, ht, w, wt, inv_rms, y, n);
}

INL float amax_body(const void *x, fp8f_dtype xt, float *y, int64_t n) {
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
        m = cpu_max_abs(m, v);
    }
    return m;
}

static float row_amax(const void *x, fp8f_dtype xt, float *y, int64_t n) {
    WITH_DTYPE(xt, T, return amax_body(x, T, y, n));
}

/* ---- the fp8 encode ---- */

/* Codes (one per 32-bit lane) of the f32 values v, exactly as
 * cpu_encode_fp8_fast: the slow but general form, for any input. */
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

INL void store16_codes(uint8_t *q, __m256i a, __m256i b) {
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
    _mm_storeu_si128((__m128i *)q,
                     _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
}

/* The 16-bit encode's constants, made once per row and hidden from the
 * optimizer (pin): otherwise gcc rebuilds several of them with a broadcast
 * in every iteration, and broadcasts share the shuffle unit that the
 * packing needs (the encode took 1.9 instead of 1.4 us a row). */
struct enc16_consts {
    __m256 scale, recip;
    __m256i eight, mid_mask, mid, low_mask, one, mag_mask, min_normal, nan_above, zero,
        rebias, max_code, sign_bit, order;
};

#define PIN(v) __asm__("" : "+x"(v))

INL struct enc16_consts enc16_consts(float scale, int fnuz) {
    const int bias = fnuz ? 8 : 7;
    struct enc16_consts k = {
        .scale = _mm256_set1_ps(scale),
        .recip = _mm256_set1_ps(1.0f / scale),
        .eight = _mm256_set1_epi32(8),
        .mid_mask = _mm256_set1_epi32(0xffff0),
        .mid = _mm256_set1_epi32(0x80000),
        .low_mask = _mm256_set1_epi32(0xffff),
        .one = _mm256_set1_epi16(1),
        .mag_mask = _mm256_set1_epi16(0x7fff),
        .min_normal = _mm256_set1_epi16((short)((127 + 1 - bias) << 7)),
        .nan_above = _mm256_set1_epi16(0x7f80),
        .zero = _mm256_setzero_si256(),
        .rebias = _mm256_set1_epi16((short)(((127 - bias) << 7) - 8)),
        .max_code = _mm256_set1_epi16(fnuz ? 0x7f : 0x7e),
        .sign_bit = _mm256_set1_epi16(0x80),
        .order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
    };
    PIN(k.scale);
    PIN(k.recip);
    PIN(k.eight);
    PIN(k.mid_mask);
    PIN(k.mid);
    PIN(k.low_mask);
    PIN(k.one);
    PIN(k.mag_mask);
    PIN(k.min_normal);
    PIN(k.nan_above);
    PIN(k.zero);
    PIN(k.rebias);
    PIN(k.max_code);
    PIN(k.sign_bit);
    PIN(k.order);
    return k;
}

/* Lanes of t (as bits) whose low 20 bits lie within [0x80000 - 8,
 * 0x80000 + 7]: bits 4-19 of t + 8 are 0x8000. */
INL __m256i near_boundary(const struct enc16_consts *k, __m256i t) {
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_add_epi32(t, k->eight), k->mid_mask),
                              k->mid);
}

/* Bits 16-31 of the f32 values a and b (sign, exponent, 7 mantissa bits)
 * in 16-bit lanes, in the order [a 0-3, b 0-3 | a 4-7, b 4-7]. */
INL __m256i top16(__m256i a, __m256i b) {
    return _mm256_packus_epi32(_mm256_srli_epi32(a, 16), _mm256_srli_epi32(b, 16));
}

/* The same with bit 0 set where any of bits 0-15 is (a sticky bit: with it
 * the rounding at bit 4 needs no other of those bits). */
INL __m256i top16_sticky(const struct enc16_consts *k, __m256i a, __m256i b) {
    const __m256i low = _mm256_packus_epi32(_mm256_and_si256(a, k->low_mask),
                                            _mm256_and_si256(b, k->low_mask));
    return _mm256_or_si256(top16(a, b), _mm256_min_epu16(low, k->one));
}

/* Lanes (16-bit) in the fp8 subnormal range but not 0, or NaN. */
INL __m256i out_of_range(const struct enc16_consts *k, __m256i mag) {
    const __m256i tiny = _mm256_and_si256(_mm256_cmpgt_epi16(k->min_normal, mag),
                                          _mm256_cmpgt_epi16(mag, k->zero));
    return _mm256_or_si256(tiny, _mm256_cmpgt_epi16(mag, k->nan_above));
}

/* Codes of lanes out_of_range passed, from mag + round (8: half up, for
 * lanes that are not a tie; or 7 + the code's lsb: to nearest even, with
 * the sticky bit) rebiased over 16, the unsigned subtraction saturating to
 * 0 below the normal range (only 0 and f32 values under 2^-16 get there),
 * clamped, signed. As cpu_encode_fp8_fast's normal range, on 16 bits. */
INL __m256i code16(const struct enc16_consts *k, __m256i top, __m256i mag, int nearest_even,
                   int fnuz) {
    if (nearest_even) /* mag + 7 + lsb = (mag + lsb - 1) + 8, saturating at 0 */
        mag = _mm256_subs_epu16(
            _mm256_add_epi16(mag, _mm256_and_si256(_mm256_srli_epi16(mag, 4), k->one)), k->one);
    __m256i code = _mm256_min_epi16(_mm256_srli_epi16(_mm256_subs_epu16(mag, k->rebias), 4),
                                    k->max_code);
    const __m256i sign = _mm256_and_si256(_mm256_srli_epi16(top, 8), k->sign_bit);
    if (fnuz) /* no -0 */
        return _mm256_or_si256(code,
                               _mm256_andnot_si256(_mm256_cmpeq_epi16(code, k->zero), sign));
    return _mm256_or_si256(code, sign);
}

/* The 32 codes from the top 16 bits of their quotients. */
INL void store32_codes(const struct enc16_consts *k, __m256i top_a, __m256i mag_a,
                       __m256i top_b, __m256i mag_b, int nearest_even, int fnuz, uint8_t *q) {
    /* bytes in dwords [t0 0-3, t1 0-3, t2 0-3, t3 0-3 | the same of 4-7] */
    const __m256i codes = _mm256_packus_epi16(code16(k, top_a, mag_a, nearest_even, fnuz),
                                              code16(k, top_b, mag_b, nearest_even, fnuz));
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(codes, k->order));
}

/* The 32 codes of y / scale from the products with the reciprocal
 * t ~ y / scale, or 0 (nothing written) where one of them might differ from
 * the code of the exact quotient, as DESIGN.md defines it.
 *
 * t is within 3 ulps of the quotient rounded to f32, so the two codes can
 * differ only when an fp8 rounding boundary lies between them: in the
 * normal range every boundary has low 20 bits 0x80000, so a lane near one
 * fails, as does a lane in the fp8 subnormal range (but not 0) or a NaN.
 * The lanes that pass are not ties, so they round half up. */
INL int encode32_fast(const struct enc16_consts *k, const float *y, int fnuz, uint8_t *q) {
    __m256i t[4];
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++)
        t[i] = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(y + 8 * i), k->recip));
    __m256i bad = _mm256_or_si256(_mm256_or_si256(near_boundary(k, t[0]), near_boundary(k, t[1])),
                                  _mm256_or_si256(near_boundary(k, t[2]), near_boundary(k, t[3])));
    const __m256i top_a = top16(t[0], t[1]), top_b = top16(t[2], t[3]);
    const __m256i mag_a = _mm256_and_si256(top_a, k->mag_mask),
                  mag_b = _mm256_and_si256(top_b, k->mag_mask);
    bad = _mm256_or_si256(bad, _mm256_or_si256(out_of_range(k, mag_a), out_of_range(k, mag_b)));
    if (!_mm256_testz_si256(bad, bad))
        return 0;
    store32_codes(k, top_a, mag_a, top_b, mag_b, 0, fnuz, q);
    return 1;
}

/* The 32 codes of y / scale where encode32_fast declined: the exact
 * quotients (near a boundary the products can differ from them) through
 * the same 16-bit encode, rounding to nearest even; in the fp8 subnormal
 * range or at a NaN, through encode8. Out of line, so that the fast loop
 * keeps its registers. */
static __attribute__((noinline, cold)) void encode32_exact(const struct enc16_consts *k,
                                                           const float *y, int fnuz, uint8_t *q) {
    __m256i t[4];
    for (int i = 0; i < 4; i++)
        t[i] = _mm256_castps_si256(_mm256_div_ps(_mm256_loadu_ps(y + 8 * i), k->scale));
    const __m256i top_a = top16_sticky(k, t[0], t[1]), top_b = top16_sticky(k, t[2], t[3]);
    const __m256i mag_a = _mm256_and_si256(top_a, k->mag_mask),
                  mag_b = _mm256_and_si256(top_b, k->mag_mask);
    const __m256i bad = _mm256_or_si256(out_of_range(k, mag_a), out_of_range(k, mag_b));
    if (_mm256_testz_si256(bad, bad)) {
        store32_codes(k, top_a, mag_a, top_b, mag_b, 1, fnuz, q);
        return;
    }
    for (int i = 0; i < 4; i += 2)
        store16_codes(q + 8 * i, encode8(_mm256_castsi256_ps(t[i]), fnuz),
                      encode8(_mm256_castsi256_ps(t[i + 1]), fnuz));
}

/* The 32-bit encode of every lane after a division (encode8) held the
 * encode to 2.1 us a row of 5120 on the Zen 2 EPYC, whose divider takes a
 * vector every 7-8 cycles. encode32_fast multiplies by the reciprocal and
 * encodes 16 lanes at a time in 16 bits: 0.9 us; only the blocks it
 * declines are divided. */
INL void encode_body(const float *y, int64_t n, float scale, int fnuz, uint8_t *q) {
    const struct enc16_consts k = enc16_consts(scale, fnuz);
    int64_t c = 0;
    for (; c + 32 <= n; c += 32)
        if (__builtin_expect(!encode32_fast(&k, y + c, fnuz, q + c), 0))
            encode32_exact(&k, y + c, fnuz, q + c);
    const fp8f_dtype fp8 = fnuz ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    for (; c < n; c++)
        q[c] = cpu_encode_fp8_fast(fp8, y[c] / scale);
}

static void row_encode(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                       int stream) {
    (void)stream; /* plain stores only: not measured on an AVX2 machine */
    if (fp8 == FP8F_E4M3FNUZ)
        encode_body(y, n, scale, 1, q);
    else
        encode_body(y, n, scale, 0, q);
}

INL void norm_store_body(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
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

static void row_norm_store(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                           float inv_rms, void *out, fp8f_dtype ot, int64_t n) {
    if (ht == wt && ht == ot)
        WITH_DTYPE(ht, T, return norm_store_body(h, T, w, T, inv_rms, out, T, n));
    norm_store_body(h, ht, w, wt, inv_rms, out, ot, n);
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

/* The 8 codes at p, read by the sign extension itself (vpmovsxbd with a
 * memory operand: no separate load and unpack). */
INL __m256 decode8_at(const uint8_t *p) {
    return decode8(_mm_loadl_epi64((const __m128i *)p));
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

/* mr rows x np panels (np * 16 channels), K whole: each product in the
 * same order whatever mr and np, so a row's output does not depend on the
 * rows or panels beside it. */
INL void micro(const struct cpu_gemm_args *g, int64_t m0, int mr, const uint8_t *wp, int np,
               int64_t n0) {
    __m256 acc[MR][2 * NP_MAX];
    const float *a[MR];
    const size_t astr = g->a_stride / 4, pb = panel_bytes(g->k);
    _Pragma("GCC unroll 16")
    for (int i = 0; i < MR; i++) {
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 2 * NP_MAX; j++)
            acc[i][j] = _mm256_setzero_ps();
        a[i] = (const float *)g->a + (size_t)(m0 + (i < mr ? i : 0)) * astr;
    }
    for (int64_t kk = 0; kk < g->k; kk++) {
        _Pragma("GCC unroll 16")
        for (int j = 0; j < np; j++) {
            const uint8_t *c = wp + j * pb + kk * NR;
            if (kk % 4 == 0) /* one line holds 4 k */
                cpu_prefetch_ahead(c);
            const __m256 w0 = decode8_at(c), w1 = decode8_at(c + 8);
            _Pragma("GCC unroll 16")
            for (int i = 0; i < MR; i++)
                if (i < mr) {
                    const __m256 av = _mm256_broadcast_ss(a[i] + kk);
                    acc[i][2 * j] = _mm256_fmadd_ps(av, w0, acc[i][2 * j]);
                    acc[i][2 * j + 1] = _mm256_fmadd_ps(av, w1, acc[i][2 * j + 1]);
                }
        }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 2 * np; j++)
            epilogue8(g, m0 + i, n0 + 8 * j, acc[i][j]);
}

/* Panels side by side for few rows: one row's two accumulators per panel
 * would wait on the FMA latency every k (M = 1 took 1.9 ms for 6144 x 5120
 * on the Zen 2 EPYC, twice its weight read); with 4 panels at 1 row, 2 at
 * 2-3, eight or more chains are in flight. */
static int panels_for_rows(int mr) { return mr == 1 ? 4 : mr <= 3 ? 2 : 1; }

INL void micro_rows(const struct cpu_gemm_args *g, int64_t m0, int mr, const uint8_t *wp, int np,
                    int64_t n0) {
    switch (mr) {
    case 1:
        switch (np) {
        case 1: micro(g, m0, 1, wp, 1, n0); break;
        case 2: micro(g, m0, 1, wp, 2, n0); break;
        case 3: micro(g, m0, 1, wp, 3, n0); break;
        default: micro(g, m0, 1, wp, 4, n0); break;
        }
        break;
    case 2: np == 1 ? micro(g, m0, 2, wp, 1, n0) : micro(g, m0, 2, wp, 2, n0); break;
    case 3: np == 1 ? micro(g, m0, 3, wp, 1, n0) : micro(g, m0, 3, wp, 2, n0); break;
    case 4: micro(g, m0, 4, wp, 1, n0); break;
    case 5: micro(g, m0, 5, wp, 1, n0); break;
    default: micro(g, m0, 6, wp, 1, n0); break;
    }
}

static void gemm_block_decoded(const struct cpu_gemm_args *g, int64_t m0, int64_t m1,
                               int64_t p0, int64_t p1, void *scratch) {
    (void)scratch;
    /* panels taken together: a block of up to 3 rows (one row group)
     * streams its panels side by side; a larger one has a full group of MR
     * rows first, so it takes one panel at a time for every group */
    const int step = panels_for_rows(m1 - m0 >= MR ? MR : (int)(m1 - m0));
    for (int64_t p = p0; p < p1; p += step) {
        const int np = p1 - p < step ? (int)(p1 - p) : step;
        const uint8_t *wp = g->w + (size_t)p * panel_bytes(g->k);
        for (int64_t i = m0; i < m1; i += MR)
            micro_rows(g, i, m1 - i >= MR ? MR : (int)(m1 - i), wp, np, p * NR);
    }
}

static void gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                       int64_t p1, void *scratch) {
    f32_gemm_keeping_denormals(gemm_block_decoded, g, m0, m1, p0, p1, scratch);
}

const struct cpu_kernels fp8f_cpu_kernels_avx2 = {
    .name = "avx2",
    .gemm_name = "avx2 f32 fma (fp8 decoded in registers, 16-channel panels)",
    .row_add_ss = row_add_ss,
    .row_norm = row_norm,
    .row_amax = row_amax,
    .row_encode = row_encode,
    .row_norm_store = row_norm_store,
    .nr = NR,
    .split_panels = 4, /* 64 channels: micro_rows takes up to 4 panels side by side */
    .panel_bytes = panel_bytes,
    .pack_panel = pack_panel,
    .a_row_bytes = f32_a_row_bytes,
    .prep_a = f32_prep_a,
    .scratch_bytes = f32_scratch_bytes,
    .gemm_block = gemm_block,
};
