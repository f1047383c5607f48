/*
 * Scalar codecs for the element types fp8fuse handles: fp8 e4m3fn and
 * e4m3fnuz, bf16 and f16, all to and from f32. Header-only so that every
 * backend and the tests share one definition.
 *
 * e4m3fn (OCP): bias 7, max 448 (0x7e), NaN 0x7f/0xff, -0 is 0x80.
 * e4m3fnuz:     bias 8, max 240 (0x7f), NaN 0x80, no negative zero.
 * For the same bits, fnuz means half the fn value (except 0x80 and 0x7f).
 * Encoding rounds to nearest even and saturates to +-max; NaN stays NaN.
 */
#ifndef FP8F_FP8_CODEC_H
#define FP8F_FP8_CODEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fp8fuse.h"

#define FP8F_E4M3FN_MAX 448.0f
#define FP8F_E4M3FNUZ_MAX 240.0f

static inline uint32_t fp8f_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float fp8f_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float fp8f_fp8_max(fp8f_dtype t) {
    return t == FP8F_E4M3FNUZ ? FP8F_E4M3FNUZ_MAX : FP8F_E4M3FN_MAX;
}

/* Magnitude code (7 bits) of |a| for an e4m3 type with exponent `bias`,
 * rounded to nearest even, saturated to `max_code`. `a` is finite, >= 0. */
static inline uint8_t fp8f_e4m3_magnitude(float a, int bias, uint32_t max_code) {
    uint32_t bits = fp8f_f32_bits(a);
    int exp = (int)(bits >> 23) - 127 + bias; /* biased e4m3 exponent */
    uint32_t code;
    if (exp >= 1) {
        uint32_t mant = bits & 0x7fffffu;
        uint32_t keep = mant >> 20, rest = mant & 0xfffffu;
        code = ((uint32_t)exp << 3) + keep;
        if (rest > 0x80000u || (rest == 0x80000u && (keep & 1u)))
            code++; /* a carry into the exponent is the right result */
    } else {
        /* Subnormal range: the code is the value in units of the smallest
         * subnormal, 2^(1 - bias - 3); code 8 is the smallest normal. */
        float t = ldexpf(a, bias + 2), fl = floorf(t), d = t - fl;
        code = (uint32_t)fl;
        if (d > 0.5f || (d == 0.5f && (code & 1u)))
            code++;
    }
    return (uint8_t)(code > max_code ? max_code : code);
}

static inline uint8_t fp8f_encode_e4m3fn(float f) {
    uint8_t sign = (uint8_t)((fp8f_f32_bits(f) >> 24) & 0x80u);
    if (isnan(f))
        return (uint8_t)(sign | 0x7fu);
    if (isinf(f))
        return (uint8_t)(sign | 0x7eu);
    return (uint8_t)(sign | fp8f_e4m3_magnitude(fabsf(f), 7, 0x7eu));
}

static inline uint8_t fp8f_encode_e4m3fnuz(float f) {
    if (isnan(f))
        return 0x80u;
    uint8_t sign = (uint8_t)((fp8f_f32_bits(f) >> 24) & 0x80u);
    uint8_t mag = isinf(f) ? 0x7fu : fp8f_e4m3_magnitude(fabsf(f), 8, 0x7fu);
    return mag == 0 ? 0 : (uint8_t)(sign | mag); /* no negative zero */
}

static inline uint8_t fp8f_encode_fp8(fp8f_dtype t, float f) {
    return t == FP8F_E4M3FNUZ ? fp8f_encode_e4m3fnuz(f) : fp8f_encode_e4m3fn(f);
}

/* Value of a magnitude code for an e4m3 type with exponent `bias`. */
static inline float fp8f_e4m3_value(uint8_t code, int bias) {
    int exp = (code >> 3) & 0xf, mant = code & 7;
    float mag = exp == 0 ? ldexpf((float)mant, 1 - bias - 3)
                         : ldexpf((float)(8 + mant), exp - bias - 3);
    return (code & 0x80u) ? -mag : mag;
}

static inline float fp8f_decode_e4m3fn(uint8_t c) {
    return (c & 0x7fu) == 0x7fu ? NAN : fp8f_e4m3_value(c, 7);
}

static inline float fp8f_decode_e4m3fnuz(uint8_t c) {
    return c == 0x80u ? NAN : fp8f_e4m3_value(c, 8);
}

static inline float fp8f_decode_fp8(fp8f_dtype t, uint8_t c) {
    return t == FP8F_E4M3FNUZ ? fp8f_decode_e4m3fnuz(c) : fp8f_decode_e4m3fn(c);
}

/* ---- 16-bit floats ---- */

static inline float fp8f_bf16_to_f32(uint16_t h) { return fp8f_bits_f32((uint32_t)h << 16); }

static inline uint16_t fp8f_f32_to_bf16(float f) {
    uint32_t u = fp8f_f32_bits(f);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN, sign kept */
    u += 0x7fffu + ((u >> 16) & 1u);          /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static inline float fp8f_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    float mag;
    if (exp == 0x1f)
        mag = mant ? NAN : INFINITY;
    else if (exp == 0)
        mag = ldexpf((float)mant, -24);
    else
        mag = ldexpf((float)(mant | 0x400u), exp - 25);
    return fp8f_bits_f32(fp8f_f32_bits(mag) | sign);
}

static inline uint16_t fp8f_f32_to_f16(float f) {
    uint32_t u = fp8f_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    float a = fabsf(f);
    if (isnan(f))
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) /* rounds past the largest finite (65504) */
        return (uint16_t)(sign | 0x7c00u);
    uint32_t ab = fp8f_f32_bits(a);
    int exp = (int)(ab >> 23) - 127;
    uint32_t code;
    if (exp >= -14) { /* normal: keep 10 of 23 mantissa bits */
        uint32_t mant = ab & 0x7fffffu, keep = mant >> 13, rest = mant & 0x1fffu;
        code = ((uint32_t)(exp + 15) << 10) + keep;
        if (rest > 0x1000u || (rest == 0x1000u && (keep & 1u)))
            code++;
    } else { /* subnormal: units of 2^-24 */
        float t = ldexpf(a, 24), fl = floorf(t), d = t - fl;
        code = (uint32_t)fl;
        if (d > 0.5f || (d == 0.5f && (code & 1u)))
            code++;
    }
    return (uint16_t)(sign | code);
}

/* ---- typed element access for the float roles (BF16, F16, F32) ---- */

static inline size_t fp8f_dtype_size(fp8f_dtype t) {
    switch (t) {
    case FP8F_F32:
        return 4;
    case FP8F_BF16:
    case FP8F_F16:
        return 2;
    default:
        return 1;
    }
}

static inline float fp8f_load_float(fp8f_dtype t, const void *base, int64_t i) {
    switch (t) {
    case FP8F_BF16:
        return fp8f_bf16_to_f32(((const uint16_t *)base)[i]);
    case FP8F_F16:
        return fp8f_f16_to_f32(((const uint16_t *)base)[i]);
    default:
        return ((const float *)base)[i];
    }
}

/* Rounds f to dtype t and returns the value it now has, in f32. */
static inline float fp8f_round_to(fp8f_dtype t, float f) {
    switch (t) {
    case FP8F_BF16:
        return fp8f_bf16_to_f32(fp8f_f32_to_bf16(f));
    case FP8F_F16:
        return fp8f_f16_to_f32(fp8f_f32_to_f16(f));
    default:
        return f;
    }
}

static inline void fp8f_store_float(fp8f_dtype t, void *base, int64_t i, float f) {
    switch (t) {
    case FP8F_BF16:
        ((uint16_t *)base)[i] = fp8f_f32_to_bf16(f);
        break;
    case FP8F_F16:
        ((uint16_t *)base)[i] = fp8f_f32_to_f16(f);
        break;
    default:
        ((float *)base)[i] = f;
        break;
    }
}

/* ---- weight conversion between the two fp8 types (bits kept) ---- */

/* e4m3fn bits -> e4m3fnuz bits meaning half the value: the weight's scale
 * is doubled alongside. fn's -0 (0x80, NaN in fnuz) becomes 0; NaN stays NaN. */
static inline uint8_t fp8f_fn_bits_to_fnuz(uint8_t c) {
    if (c == 0x80u)
        return 0;
    return (c & 0x7fu) == 0x7fu ? 0x80u : c;
}

/* e4m3fnuz bits -> e4m3fn bits meaning twice the value (scale halved).
 * Returns -1 for +-240 (0x7f/0xff), which would be +-480 in e4m3fn. */
static inline int fp8f_fnuz_bits_to_fn(uint8_t c) {
    if (c == 0x80u)
        return 0x7f; /* NaN */
    return (c & 0x7fu) == 0x7fu ? -1 : c;
}

#endif /* FP8F_FP8_CODEC_H */
