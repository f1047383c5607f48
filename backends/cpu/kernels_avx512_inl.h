/* Inline AVX-512 (F/BW/DQ/VL) helpers shared by kernels_avx512.c and
 * kernels_avx512bf16.c (both compiled with at least those flags). */
#ifndef FP8F_KERNELS_AVX512_INL_H
#define FP8F_KERNELS_AVX512_INL_H

#include <immintrin.h>

#include "cpu_isa.h"
#include "cpu_kernels.h"

#define AVX512_INLINE static inline __attribute__((always_inline))

/* The AVX-512 rows (kernels_avx512.c), which the bf16 tables use too. */
float fp8f_cpu_avx512_row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n);
float fp8f_cpu_avx512_row_norm(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                               float inv_rms, float *y, int64_t n);
float fp8f_cpu_avx512_row_amax(const void *x, fp8f_dtype xt, float *y, int64_t n);
void fp8f_cpu_avx512_row_encode(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                                int stream);
void fp8f_cpu_avx512_row_encode_div(const float *y, int64_t n, float scale, fp8f_dtype fp8,
                                    uint8_t *q, int stream);
void fp8f_cpu_avx512_store_fence(void);
void fp8f_cpu_avx512_row_norm_store(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                                    float inv_rms, void *out, fp8f_dtype ot, int64_t n);

AVX512_INLINE __mmask16 tail_mask16(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* 16 elements of a float dtype (masked lanes 0). */
AVX512_INLINE __m512 load16(fp8f_dtype t, const void *p, int64_t c, __mmask16 m) {
    switch (t) {
    case FP8F_BF16: {
        __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + c);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    case FP8F_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + c));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)p + c);
    }
}

/* v rounded to bf16 as fp8f_f32_to_bf16 rounds (to nearest even; a NaN
 * quieted), the bf16 in the high half of each lane and junk in the low. */
AVX512_INLINE __m512i bf16_rounded(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i r = _mm512_add_epi32(
        u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                            _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __m512i qn = _mm512_or_si512(u, _mm512_set1_epi32(0x400000));
    return _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), qn);
}

/* f32 -> bf16 bits in the low half of each lane, as fp8f_f32_to_bf16. */
AVX512_INLINE __m512i bf16_bits(__m512 v) { return _mm512_srli_epi32(bf16_rounded(v), 16); }

/* v rounded to bf16, in the high half of each lane and the low half zero:
 * as a float, the rounded value. */
AVX512_INLINE __m512i bf16_round_high(__m512 v) {
    return _mm512_and_si512(bf16_rounded(v), _mm512_set1_epi32((int)0xffff0000u));
}

/* 32 bf16 in element order from the even and odd elements rounded into
 * the high halves of their lanes (bf16_round_high): each lane of the
 * result is the odd one's high half and the even one's shifted down. */
AVX512_INLINE __m512i bf16_interleave_high(__m512i even_high, __m512i odd_high) {
    return _mm512_or_si512(odd_high, _mm512_srli_epi32(even_high, 16));
}

/* v rounded to dtype t, as an f32 again (fp8f_round_to). */
AVX512_INLINE __m512 round16(fp8f_dtype t, __m512 v) {
    switch (t) {
    case FP8F_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(bf16_bits(v), 16));
    case FP8F_F16:
        return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    default:
        return v;
    }
}

AVX512_INLINE void store16(fp8f_dtype t, void *p, int64_t c, __m512 v, __mmask16 m) {
    switch (t) {
    case FP8F_BF16:
        _mm256_mask_storeu_epi16((uint16_t *)p + c, m, _mm512_cvtepi32_epi16(bf16_bits(v)));
        break;
    case FP8F_F16:
        _mm256_mask_storeu_epi16((uint16_t *)p + c, m,
                                 _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        break;
    default:
        _mm512_mask_storeu_ps((float *)p + c, m, v);
        break;
    }
}

/* The even and odd elements of 32 bf16 as f32: each 32-bit lane holds two
 * bf16, the even one in its low half (shifted up, it is the f32) and the
 * odd one in its high half (the lane with the low half cleared). One
 * instruction each, against an extract, a zero-extension and a shift per
 * 16 elements in order. */
AVX512_INLINE __m512 bf16_even(__m512i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
AVX512_INLINE __m512 bf16_odd(__m512i v) {
    return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
}

/* amax and |v| lane by lane, the larger, for v a product: where v is NaN
 * it is a quiet one (arithmetic quiets a signaling NaN), which vrangeps
 * passes over as vmaxps does, so NaN lanes keep amax. One instruction for
 * the and + max of |v| (max |y| of the norm pass). */
AVX512_INLINE __m512 max_abs_of_product(__m512 amax, __m512 v) {
    return _mm512_range_ps(amax, v, 0x0b); /* |larger magnitude|, sign cleared */
}
AVX512_INLINE __m512 mask_max_abs_of_product(__m512 amax, __mmask16 m, __m512 v) {
    return _mm512_mask_range_ps(amax, m, amax, v, 0x0b);
}

/* The sum of squares in the canonical order (cpu_isa.h: 32 lanes, lane j
 * taking elements j mod 32 in order) is kept in two registers, lo (lanes
 * 0-15) and hi (16-31), which a run of whole 16-element blocks in order
 * fills alternately, starting with lo at a multiple of 32. */
struct squares {
    __m512 lo, hi;
};

/* 32 elements read even/odd (he, ho: the even and odd elements as f32)
 * from a multiple of 32: lane i of he is canonical lane 2i, of ho 2i + 1,
 * so their squares go to two accumulators of their own, with no shuffle
 * (squares_from_even_odd puts them in canonical order once, at the end). */
AVX512_INLINE void squares_even_odd(__m512 *even, __m512 *odd, __m512 he, __m512 ho) {
    *even = _mm512_fmadd_ps(he, he, *even);
    *odd = _mm512_fmadd_ps(ho, ho, *odd);
}
AVX512_INLINE struct squares squares_from_even_odd(__m512 even, __m512 odd) {
    /* canonical lane 2i: even lane i; 2i + 1: odd lane i */
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const struct squares s = {_mm512_permutex2var_ps(even, lo, odd),
                              _mm512_permutex2var_ps(even, hi, odd)};
    return s;
}

/* The squares of the 16 elements at c (h; lanes past the row's end 0) in
 * order. */
AVX512_INLINE void squares16(struct squares *s, int64_t c, __m512 h) {
    if (c & 16)
        s->hi = _mm512_fmadd_ps(h, h, s->hi);
    else
        s->lo = _mm512_fmadd_ps(h, h, s->lo);
}

/* The canonical fold of 32 lanes: j + (j + 16), + 8, + 4, + 2, + 1. */
AVX512_INLINE float fold_squares(struct squares s) {
    const __m512 acc = _mm512_add_ps(s.lo, s.hi);
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(acc),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}

/* The fp8 normal-range code of positive f32 bits abits, not clamped: the
 * 3 significand bits rounded to nearest even (a carry moves into the
 * exponent), the exponent rebiased in the same add. Below the normal
 * range it goes on down, negative: code - 8 per binade. */
AVX512_INLINE __m512i normal_code16(__m512i abits, int bias) {
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(abits, 20), _mm512_set1_epi32(1));
    const __m512i round_rebias = _mm512_set1_epi32(0x7ffff - ((127 - bias) << 23));
    return _mm512_srai_epi32(_mm512_add_epi32(_mm512_add_epi32(abits, round_rebias), odd), 20);
}

/* 16 fp8 codes (in 32-bit lanes) of v, exactly as fp8f_encode_fp8. Normal
 * codes round the f32 bits (to nearest even, the exponent rebiased in the
 * same add), subnormal ones are |v| * 2^(bias + 2) rounded by cvtps2dq;
 * the row is ALU-bound, so the sign goes in with one ternary-logic op
 * (encode 497 -> 444 ns per 5120-element row on Zen 5, in L1). */
AVX512_INLINE __m512i encode16(__m512 v, int fnuz) {
    const int bias = fnuz ? 8 : 7;
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i abits = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
    const __m512i code_n = normal_code16(abits, bias);
    const __m512i code_s = _mm512_cvtps_epi32(
        _mm512_mul_ps(_mm512_castsi512_ps(abits), _mm512_set1_ps(fnuz ? 1024.0f : 512.0f)));
    const __mmask16 normal =
        _mm512_cmpge_epu32_mask(abits, _mm512_set1_epi32((127 + 1 - bias) << 23));
    __m512i code = _mm512_mask_mov_epi32(code_s, normal, code_n);
    code = _mm512_min_epu32(code, _mm512_set1_epi32(fnuz ? 0x7f : 0x7e));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(abits, _mm512_set1_epi32(0x7f800000));
    /* code | (bits >> 24 & 0x80) */
    __m512i res = _mm512_ternarylogic_epi32(code, _mm512_srli_epi32(bits, 24),
                                            _mm512_set1_epi32(0x80), 0xf8);
    if (fnuz) {
        res = _mm512_maskz_mov_epi32(_mm512_test_epi32_mask(code, code), res);
        res = _mm512_mask_mov_epi32(res, nan, _mm512_set1_epi32(0x80));
    } else {
        res = _mm512_mask_or_epi32(res, nan, res, _mm512_set1_epi32(0x7f));
    }
    return res;
}

/* The 16 codes of y / scale from the products t = y * (1 / scale), half
 * up, each in the top byte of its lane (sign in bit 31, the code below it;
 * the low bytes junk), for the lanes that keep *ok set: *ok is ANDed with
 * the lanes where the code is certainly the exact quotient's (encode16 of
 * y / scale), so a caller that chains it through a block and finds it all
 * ones has the block's codes, and divides the block otherwise. t is within
 * 3 ulps of the quotient rounded to f32, so a lane is certain where t is
 * 0, or in the fp8 normal range below the first value that rounds past the
 * fp8 max (464 for e4m3fn, 248 for e4m3fnuz) with its low 20 bits not
 * within 8 of 0x80000 (every rounding boundary of the normal range has
 * them). The fp8 subnormal range, saturating lanes, Infs and NaNs are left
 * to the division (rare in a row scaled to its own max), which spares the
 * clamps; zeros are not (sums of bf16 values cancel to 0 often enough:
 * in 18 % of the blocks of fp8fuse-bench's uniform rows). Two masked
 * compares chain the test with no mask arithmetic, and the code goes to
 * the top byte with one shift and takes the sign in the same ternary-logic
 * op: 14 vector and mask ops per 16 values before, 9 now. On the Xeon (two
 * 512-bit ALU ports) add+norm+quant at M = 1 took 2.2 -> 1.8-2.0 us; Zen 5,
 * which seems to issue one mask-producing compare a cycle (three per 16
 * values before and now), runs the encode as fast as before. */
AVX512_INLINE __m512i encode16_reciprocal(__m512 t, int fnuz, __mmask16 *ok) {
    const int bias = fnuz ? 8 : 7;
    const uint32_t normal_min = (uint32_t)(127 + 1 - bias) << 23;
    const uint32_t saturating = fnuz ? 0x43780000u /* 248 */ : 0x43e80000u /* 464 */;
    const __m512i bits = _mm512_castps_si512(t);
    const __m512i abits = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nonzero = _mm512_test_epi32_mask(abits, abits);
    /* the distance into the normal range (0 for a zero) */
    const __m512i above_min =
        _mm512_maskz_sub_epi32(nonzero, abits, _mm512_set1_epi32((int)normal_min));
    *ok = _mm512_mask_cmplt_epu32_mask(*ok, above_min,
                                       _mm512_set1_epi32((int)(saturating - normal_min)));
    /* abits rebiased (code 8 at normal_min) and rounded half up, plus 8:
     * bits 20 and up are the code wherever the 8 does not carry into
     * them, i.e. wherever the low 20 bits of abits are not within 8 of
     * 0x80000; there, and only there, the low 20 bits of the sum are below
     * 16 (a zero's are 8: not near) */
    const __m512i rounded = _mm512_add_epi32(above_min, _mm512_set1_epi32((8 << 20) + 0x80000 + 8));
    *ok = _mm512_mask_test_epi32_mask(*ok, rounded, _mm512_set1_epi32(0xffff0));
    /* the code (at most 0x7f in a certain lane; 0 for a zero) in bits
     * 24-30, the sign in 31: (rounded << 4) | (bits & sign), and for fnuz
     * no sign on a zero */
    const __m512i code = _mm512_maskz_slli_epi32(nonzero, rounded, 4);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    return fnuz ? _mm512_maskz_ternarylogic_epi32(nonzero, code, bits, sign, 0xf8)
                : _mm512_ternarylogic_epi32(code, bits, sign, 0xf8);
}

/* The GEMM epilogue of 16 columns of one row: ((acc * post) * sa) * sw
 * (+ bias), stored in the output dtype; `post` undoes a power-of-two
 * pre-scaling of the operands (exact). */
AVX512_INLINE void epilogue16(const struct cpu_gemm_args *g, int64_t row, int64_t col,
                              __m512 acc, float post) {
    const int64_t left = g->n - col;
    if (left <= 0)
        return;
    const __mmask16 m = tail_mask16(left);
    if (post != 1.0f)
        acc = _mm512_mul_ps(acc, _mm512_set1_ps(post));
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(acc, _mm512_set1_ps(g->sa[row])),
                             _mm512_loadu_ps(g->sw + col));
    if (g->bias)
        v = _mm512_add_ps(v, _mm512_loadu_ps(g->bias + col));
    void *orow = (char *)g->out + (size_t)row * (size_t)g->out_stride * fp8f_dtype_size(g->out_dtype);
    store16(g->out_dtype, orow, col, v, m);
}

/* ---- encode rows of y (f32) into fp8 codes ---- */

/* Where the 64 codes of store_codes64 go. In order: y held elements
 * c..c+63 as they are. Even/odd (kernels compiled with AVX512_VBMI only):
 * y held each 32 elements as their 16 even ones, then their 16 odd ones
 * (fp8f_cpu_bf16_row_norm_eo), and the codes are interleaved back. */
enum code_order { CODES_IN_ORDER = 0, CODES_EVEN_ODD = 1 };

/* 64 codes at q, written around the caches where stream says so and q is
 * on a line boundary (a whole line: no read for ownership). */
AVX512_INLINE void store64(uint8_t *q, __m512i codes, int stream) {
    if (stream && ((uintptr_t)q & 63) == 0)
        _mm512_stream_si512((void *)q, codes);
    else
        _mm512_storeu_si512(q, codes);
}

/* 64 codes, one per 32-bit lane of a, b, d, e (in its low byte), stored in
 * element order at q. The in-lane packs leave 128-bit lane l of the result
 * holding codes 4 x 4 from each vector's lane l (bytes 16 l + 4 v + i: lane
 * element 4 l + i of vector v = a, b, d, e); one permute puts them in
 * order. Codes are 0..255: the saturating packs keep them. */
AVX512_INLINE void store_codes64(uint8_t *q, __m512i a, __m512i b, __m512i d, __m512i e,
                                 int stream, enum code_order order) {
    const __m512i packed =
        _mm512_packus_epi16(_mm512_packus_epi32(a, b), _mm512_packus_epi32(d, e));
    __m512i codes;
#ifdef __AVX512VBMI__
    if (order == CODES_EVEN_ODD) {
        /* element j of the 64: vector a (even j < 32), b (odd j < 32), d, e
         * (the same from 32), lane element (j % 32) / 2 */
        const __m512i even_odd = _mm512_set_epi8(
            63, 59, 62, 58, 61, 57, 60, 56, 47, 43, 46, 42, 45, 41, 44, 40, 31, 27, 30, 26, 29, 25,
            28, 24, 15, 11, 14, 10, 13, 9, 12, 8, 55, 51, 54, 50, 53, 49, 52, 48, 39, 35, 38, 34,
            37, 33, 36, 32, 23, 19, 22, 18, 21, 17, 20, 16, 7, 3, 6, 2, 5, 1, 4, 0);
        codes = _mm512_permutexvar_epi8(even_odd, packed);
    } else
#endif
    {
        (void)order;
        const __m512i in_order =
            _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
        codes = _mm512_permutexvar_epi32(in_order, packed);
    }
    store64(q, codes, stream);
}

/* The same for codes in the top byte of each lane (encode16_reciprocal).
 * With AVX512_VBMI two byte gathers (each from two vectors) and a blend
 * pick them out in the order asked: 3 shuffles per 64 codes against 4
 * shifts and 4 shuffles. */
AVX512_INLINE void store_top_codes64(uint8_t *q, __m512i a, __m512i b, __m512i d, __m512i e,
                                     int stream, enum code_order order) {
#ifdef __AVX512VBMI__
    /* byte j (and j + 32) of the gather of (v0, v1): the top byte of
     * v0's lane j (in order: j < 16) or (j - 16) of v1's, or, even/odd:
     * of lane j / 2 of v0 (even j) or v1 (odd j) */
    const __m512i gather =
        order == CODES_EVEN_ODD
            ? _mm512_set_epi8(127, 63, 123, 59, 119, 55, 115, 51, 111, 47, 107, 43, 103, 39, 99,
                              35, 95, 31, 91, 27, 87, 23, 83, 19, 79, 15, 75, 11, 71, 7, 67, 3,
                              127, 63, 123, 59, 119, 55, 115, 51, 111, 47, 107, 43, 103, 39, 99,
                              35, 95, 31, 91, 27, 87, 23, 83, 19, 79, 15, 75, 11, 71, 7, 67, 3)
            : _mm512_set_epi8(127, 123, 119, 115, 111, 107, 103, 99, 95, 91, 87, 83, 79, 75, 71,
                              67, 63, 59, 55, 51, 47, 43, 39, 35, 31, 27, 23, 19, 15, 11, 7, 3,
                              127, 123, 119, 115, 111, 107, 103, 99, 95, 91, 87, 83, 79, 75, 71,
                              67, 63, 59, 55, 51, 47, 43, 39, 35, 31, 27, 23, 19, 15, 11, 7, 3);
    const __m512i first = _mm512_permutex2var_epi8(a, gather, b);
    const __m512i second = _mm512_permutex2var_epi8(d, gather, e);
    store64(q, _mm512_mask_blend_epi8(0xffffffff00000000ull, first, second), stream);
#else
    store_codes64(q, _mm512_srli_epi32(a, 24), _mm512_srli_epi32(b, 24), _mm512_srli_epi32(d, 24),
                  _mm512_srli_epi32(e, 24), stream, order);
#endif
}

/* The codes of the 64 quotients y[0..64) / scale, each by a true division. */
AVX512_INLINE void encode64_div(const float *y, __m512 s, int fnuz, uint8_t *q, int stream,
                                enum code_order order) {
    store_codes64(q, encode16(_mm512_div_ps(_mm512_loadu_ps(y), s), fnuz),
                  encode16(_mm512_div_ps(_mm512_loadu_ps(y + 16), s), fnuz),
                  encode16(_mm512_div_ps(_mm512_loadu_ps(y + 32), s), fnuz),
                  encode16(_mm512_div_ps(_mm512_loadu_ps(y + 48), s), fnuz), stream, order);
}

/* The codes of elements [c, n) of a row of type t (in order), 16 at a time,
 * each by a true division. */
AVX512_INLINE void encode_tail_div_of(fp8f_dtype t, const void *y, int64_t c, int64_t n, __m512 s,
                                      int fnuz, uint8_t *q) {
    for (; c < n; c += 16) {
        const __mmask16 m = tail_mask16(n - c);
        __m512i a = encode16(_mm512_div_ps(load16(t, y, c, m), s), fnuz);
        _mm512_mask_cvtepi32_storeu_epi8(q + c, m, a);
    }
}

/* The tail of an f32 row: elements [c, n), divided. */
AVX512_INLINE void encode_tail_div(const float *y, int64_t c, int64_t n, __m512 s, int fnuz,
                                   uint8_t *q) {
    encode_tail_div_of(FP8F_F32, y, c, n, s, fnuz, q);
}

/* q[c] = encode(y[c] / scale) for a row whose full 64-element blocks are in
 * `order` (its tail in order), from the reciprocal's products; a block
 * where a lane needs the exact quotient is divided. fnuz must be a
 * constant here (encode_row_reciprocal makes it one): a run-time one left
 * GCC choosing and broadcasting the constants in the loop (EPYC, a
 * 5120-element row in L1: 420 against 314 ns). */
AVX512_INLINE void encode_row_reciprocal_of(const float *y, int64_t n, float scale, int fnuz,
                                            uint8_t *q, int stream, enum code_order order) {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512 recip = _mm512_set1_ps(1.0f / scale);
    int64_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __mmask16 ok = 0xffff; /* lanes whose codes so far are certain */
        const __m512i a = encode16_reciprocal(_mm512_mul_ps(_mm512_loadu_ps(y + c), recip), fnuz, &ok);
        const __m512i b =
            encode16_reciprocal(_mm512_mul_ps(_mm512_loadu_ps(y + c + 16), recip), fnuz, &ok);
        const __m512i d =
            encode16_reciprocal(_mm512_mul_ps(_mm512_loadu_ps(y + c + 32), recip), fnuz, &ok);
        const __m512i e =
            encode16_reciprocal(_mm512_mul_ps(_mm512_loadu_ps(y + c + 48), recip), fnuz, &ok);
        if (__builtin_expect(ok == 0xffff, 1))
            store_top_codes64(q + c, a, b, d, e, stream, order);
        else
            encode64_div(y + c, s, fnuz, q + c, stream, order);
    }
    encode_tail_div(y, c, n, s, fnuz, q);
}

AVX512_INLINE void encode_row_reciprocal(const float *y, int64_t n, float scale, int fnuz,
                                         uint8_t *q, int stream, enum code_order order) {
    if (fnuz)
        encode_row_reciprocal_of(y, n, scale, 1, q, stream, order);
    else
        encode_row_reciprocal_of(y, n, scale, 0, q, stream, order);
}

#endif
