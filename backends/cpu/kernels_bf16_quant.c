/*
 * Per-token quantization of bf16 rows through a per-row table of codes
 * (AVX-512 VBMI): part of the avx512bf16 table, and so of the amx one.
 * Compiled with the avx512bf16 flags.
 *
 * A bf16 x with exponent bits e >= 1 and significand bits i is
 * (128 + i) * 2^(e - 134). For a row's scale s, fl(x / s) = fl((128 + i) /
 * s) * 2^(e - 134) exactly wherever both quotients are normal floats
 * (scaling by a power of two commutes with rounding there), and rounding
 * it to e4m3 keeps the same 3 significand bits whatever e. So in the fp8
 * normal range the code of x is code(fl((128 + i) / s)) + 8 (e - 134):
 * 128 divisions a row build the table (fp8f_cpu_bf16_codes_prepare), and an
 * element costs a byte lookup (vpermi2b) and a few 16-bit integer
 * operations instead of a division. (The quotients of 16-bit inputs sit on
 * fp8 ties so often that the reciprocal encode would divide most blocks:
 * see quant_encoder in cpu_norm_quant.c.) A 64-element block with a lane
 * below the fp8 normal range (x not zero), an Inf or a NaN is divided
 * exactly instead, as is the row's tail of fewer than 64 elements.
 */
#include "kernels_bf16.h"

/* The NaN-ignoring max |x| of a bf16 row, on the bits: magnitudes of bf16
 * values order as their bits, and NaNs are the bits above Inf's (0x7f80).
 * Each magnitude plus 0x7f, as a signed 16-bit number, keeps that order
 * for non-NaNs and makes every NaN negative, so one signed max per vector
 * ignores them with no mask register: a 5120-element row in L1 took 177 ns
 * with a compare mask and a masked max, 68 ns so (Zen 5, one thread). */
float fp8f_cpu_bf16_row_amax(const uint16_t *x, int64_t n) {
    const __m512i magnitude = _mm512_set1_epi16(0x7fff), lift = _mm512_set1_epi16(0x7f);
    __m512i m0 = lift, m1 = lift; /* |x| = 0 */
    int64_t c = 0;
    for (; c + 64 <= n; c += 64) {
        const __m512i a = _mm512_and_si512(_mm512_loadu_si512(x + c), magnitude);
        const __m512i b = _mm512_and_si512(_mm512_loadu_si512(x + c + 32), magnitude);
        m0 = _mm512_max_epi16(m0, _mm512_add_epi16(a, lift));
        m1 = _mm512_max_epi16(m1, _mm512_add_epi16(b, lift));
    }
    for (; c < n; c += 32) { /* masked-off lanes load 0 */
        const __mmask32 m = n - c >= 32 ? 0xffffffffu : (__mmask32)((1u << (n - c)) - 1u);
        const __m512i a = _mm512_and_si512(_mm512_maskz_loadu_epi16(m, x + c), magnitude);
        m0 = _mm512_max_epi16(m0, _mm512_add_epi16(a, lift));
    }
    const __m512i m = _mm512_max_epi16(m0, m1);
    __m256i h = _mm256_max_epi16(_mm512_castsi512_si256(m), _mm512_extracti64x4_epi64(m, 1));
    __m128i q = _mm_max_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    q = _mm_max_epi16(q, _mm_srli_si128(q, 8));
    q = _mm_max_epi16(q, _mm_srli_si128(q, 4));
    q = _mm_max_epi16(q, _mm_srli_si128(q, 2));
    return fp8f_bf16_to_f32((uint16_t)(_mm_extract_epi16(q, 0) - 0x7f));
}

int fp8f_cpu_bf16_codes_prepare(float scale, fp8f_dtype fp8, struct cpu_bf16_codes *t) {
    const int bias = fp8 == FP8F_E4M3FNUZ ? 8 : 7;
    const __m512 s = _mm512_set1_ps(scale);
    const __m512 lane = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i code[8];
    for (int v = 0; v < 8; v++) {
        const __m512 significand = _mm512_add_ps(_mm512_set1_ps(128.0f + 16.0f * (float)v), lane);
        const __m512i b = _mm512_castps_si512(_mm512_div_ps(significand, s));
        const __m512i e = _mm512_srli_epi32(b, 23); /* quotients are positive */
        /* a zero, subnormal, infinite or NaN quotient (s not a normal
         * positive float in range): no table */
        if (_mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()) |
            _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(255)))
            return 0;
        code[v] = normal_code16(b, bias); /* encode16's, not clamped */
    }
    /* The quotients rise with i and stay within a factor of 2 (255 / 128),
     * so the codes rise by 0 to 9 from code[0]'s first lane: bytes. */
    const int32_t first = _mm_cvtsi128_si32(_mm512_castsi512_si128(code[0]));
    for (int v = 0; v < 8; v++)
        _mm_storeu_si128((__m128i *)(t->step + 16 * v),
                         _mm512_cvtepi32_epi8(_mm512_sub_epi32(code[v], _mm512_set1_epi32(first))));
    t->base = first - 8 * 134;
    t->scale = scale;
    t->fp8 = fp8;
    return 1;
}

/* The codes of 32 bf16 (one per 16-bit lane) from the table, and in the
 * sign bit of each lane of *redo whether the table cannot give it: below
 * the fp8 normal range but not zero, Inf, NaN. Vector arithmetic only, no
 * mask registers (slow on Zen 5). */
AVX512_INLINE __m512i codes32(__m512i v, __m512i step0, __m512i step1, __m512i base,
                              __m512i max_code, int fnuz, __m512i *redo) {
    const __m512i a = _mm512_and_si512(v, _mm512_set1_epi16(0x7fff));
    /* step[i]: the low byte of each lane indexes with its 7 significand
     * bits; the high bytes are zeroed */
    const __m512i step =
        _mm512_maskz_permutex2var_epi8(0x5555555555555555ull, step0, v, step1);
    const __m512i exp8 = _mm512_and_si512(_mm512_srli_epi16(a, 4), _mm512_set1_epi16(0x07f8));
    const __m512i code = _mm512_add_epi16(_mm512_add_epi16(step, exp8), base);
    /* sign bits: (code < 8 and the exponent not 0) or |x| >= Inf (a + 0x80
     * reaches 0x8000) */
    *redo = _mm512_ternarylogic_epi32(_mm512_sub_epi16(code, _mm512_set1_epi16(8)),
                                      _mm512_sub_epi16(_mm512_setzero_si512(), exp8),
                                      _mm512_add_epi16(a, _mm512_set1_epi16(0x80)),
                                      0xea); /* (A & B) | C */
    /* saturate; a zero exponent (x zero or subnormal) leaves code below
     * base + 9 < 0: code 0 */
    const __m512i mag =
        _mm512_min_epi16(_mm512_max_epi16(code, _mm512_setzero_si512()), max_code);
    /* mag | (v >> 8 & 0x80): the sign, as encode16; fnuz: not on 0 */
    const __m512i sign = _mm512_srli_epi16(v, 8);
    if (fnuz)
        return _mm512_or_si512(mag, _mm512_ternarylogic_epi32(
                                        sign, _mm512_add_epi16(mag, _mm512_set1_epi16(0x7f)),
                                        _mm512_set1_epi16(0x80), 0x80));
    return _mm512_ternarylogic_epi32(mag, sign, _mm512_set1_epi16(0x80), 0xf8);
}

void fp8f_cpu_bf16_row_encode_table(const uint16_t *x, int64_t n, const struct cpu_bf16_codes *t,
                                    uint8_t *q, int stream) {
    const int fnuz = t->fp8 == FP8F_E4M3FNUZ;
    const __m512i step0 = _mm512_loadu_si512(t->step), step1 = _mm512_loadu_si512(t->step + 64);
    const __m512i base = _mm512_set1_epi16((short)t->base);
    const __m512i max_code = _mm512_set1_epi16(fnuz ? 0x7f : 0x7e);
    const __m512 s = _mm512_set1_ps(t->scale); /* for the blocks divided */
    /* byte j of the 64 codes: the low byte of lane j of the first 32, then
     * of the second */
    const __m512i low_bytes = _mm512_set_epi8(
        126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94, 92, 90,
        88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48, 46, 44,
        42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int64_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __m512i redo_a, redo_b;
        const __m512i a = codes32(_mm512_loadu_si512(x + c), step0, step1, base, max_code, fnuz,
                                  &redo_a);
        const __m512i b = codes32(_mm512_loadu_si512(x + c + 32), step0, step1, base, max_code,
                                  fnuz, &redo_b);
        if (__builtin_expect(_mm512_movepi16_mask(_mm512_or_si512(redo_a, redo_b)) != 0, 0)) {
            encode_tail_div_of(FP8F_BF16, x, c, c + 64, s, fnuz, q);
            continue;
        }
        const __m512i codes = _mm512_permutex2var_epi8(a, low_bytes, b);
        if (stream && ((uintptr_t)(q + c) & 63) == 0)
            _mm512_stream_si512((void *)(q + c), codes);
        else
            _mm512_storeu_si512(q + c, codes);
    }
    encode_tail_div_of(FP8F_BF16, x, c, n, s, fnuz, q);
}
