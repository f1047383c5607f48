/*
 * The scalar codecs of lib/fp8_codec.h (internal, header-only), tested
 * exhaustively against the independent reference of tests/ref.c: all 256
 * fp8 codes of both types, every rounding boundary, saturation, NaN,
 * subnormals, the fn <-> fnuz weight bit conversions, and all 65536 bf16
 * and f16 codes with their round-to-nearest-even boundaries.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp8_codec.h"
#include "ref.h"
#include "testutil.h"

static const fp8f_dtype fp8_types[2] = {FP8F_E4M3FN, FP8F_E4M3FNUZ};

static int max_mag(fp8f_dtype t) { return t == FP8F_E4M3FNUZ ? 0x7f : 0x7e; }

/* The same value, NaN matching NaN and the sign of zero compared. */
static int same_value(double a, double b) {
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

/* The reference encoding: the exhaustive nearest-code search, and the
 * suites' fast bisection, which must agree with it everywhere. */
static uint8_t ref_enc(fp8f_dtype t, double v) {
    uint8_t slow = ref_fp8_encode_search(t, v), fast = ref_fp8_encode(t, v);
    if (isnan(v))
        TU_REQUIRE(ref_fp8_is_nan(t, slow) && ref_fp8_is_nan(t, fast), "NaN encodes");
    else
        TU_REQUIRE(slow == fast, "%s: search(%.17g) = 0x%02x but bisection 0x%02x",
                   ref_dtype_name(t), v, slow, fast);
    return slow;
}

/* ---- fp8 ------------------------------------------------------------------------ */

START_TEST(fp8_max_values) {
    ck_assert_float_eq(fp8f_fp8_max(FP8F_E4M3FN), 448.0f);
    ck_assert_float_eq(fp8f_fp8_max(FP8F_E4M3FNUZ), 240.0f);
    ck_assert_float_eq(FP8F_E4M3FN_MAX, 448.0f);
    ck_assert_float_eq(FP8F_E4M3FNUZ_MAX, 240.0f);
    /* the reference formula agrees with the documented constants */
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FN, 0x7e), 448.0);
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FNUZ, 0x7f), 240.0);
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FN, 0x38), 1.0);
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FNUZ, 0x40), 1.0);
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FN, 0x01), ldexp(1.0, -9));
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FNUZ, 0x01), ldexp(1.0, -10));
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FN, 0x08), ldexp(1.0, -6));
    ck_assert_double_eq(ref_fp8_decode(FP8F_E4M3FNUZ, 0x08), ldexp(1.0, -7));
}
END_TEST

START_TEST(fp8_decode_all_codes) {
    const fp8f_dtype t = fp8_types[_i];
    int nans = 0;
    for (int c = 0; c < 256; c++) {
        float got = t == FP8F_E4M3FN ? fp8f_decode_e4m3fn((uint8_t)c)
                                     : fp8f_decode_e4m3fnuz((uint8_t)c);
        double want = ref_fp8_decode(t, (uint8_t)c);
        TU_REQUIRE(same_value(got, want), "%s decode(0x%02x) = %.9g, want %.9g",
                      ref_dtype_name(t), c, (double)got, want);
        TU_REQUIRE(same_value(fp8f_decode_fp8(t, (uint8_t)c), want),
                      "%s fp8f_decode_fp8(0x%02x) differs", ref_dtype_name(t), c);
        nans += isnan(got) != 0;
    }
    /* fn: 0x7f and 0xff are NaN; fnuz: only 0x80 */
    ck_assert_int_eq(nans, t == FP8F_E4M3FN ? 2 : 1);
    if (t == FP8F_E4M3FN) {
        ck_assert(isnan(fp8f_decode_e4m3fn(0x7f)) && isnan(fp8f_decode_e4m3fn(0xff)));
        ck_assert(fp8f_decode_e4m3fn(0x80) == 0.0f && signbit(fp8f_decode_e4m3fn(0x80)));
    } else {
        ck_assert(isnan(fp8f_decode_e4m3fnuz(0x80)));
        ck_assert_float_eq(fp8f_decode_e4m3fnuz(0xff), -240.0f);
    }
}
END_TEST

START_TEST(fp8_roundtrip_all_codes) {
    const fp8f_dtype t = fp8_types[_i];
    for (int c = 0; c < 256; c++) {
        if (ref_fp8_is_nan(t, (uint8_t)c))
            continue;
        float v = (float)ref_fp8_decode(t, (uint8_t)c);
        uint8_t got = fp8f_encode_fp8(t, v);
        TU_REQUIRE(got == c, "%s encode(decode(0x%02x) = %g) = 0x%02x", ref_dtype_name(t), c,
                      (double)v, got);
        TU_REQUIRE(got == ref_enc(t, v), "reference encode(%g)", (double)v);
    }
    /* zero: fn keeps -0 as 0x80, fnuz has no negative zero */
    ck_assert_int_eq(fp8f_encode_e4m3fn(0.0f), 0x00);
    ck_assert_int_eq(fp8f_encode_e4m3fn(-0.0f), 0x80);
    ck_assert_int_eq(fp8f_encode_e4m3fnuz(0.0f), 0x00);
    ck_assert_int_eq(fp8f_encode_e4m3fnuz(-0.0f), 0x00);
    ck_assert_int_eq(fp8f_encode_e4m3fnuz(-1e-30f), 0x00);
    ck_assert_int_eq(ref_enc(FP8F_E4M3FNUZ, -0.0), 0x00);
}
END_TEST

/* Midpoints between adjacent codes go to the even code; the next float
 * above / below goes to the nearer one. Both signs, all pairs. */
START_TEST(fp8_rounding_boundaries) {
    const fp8f_dtype t = fp8_types[_i];
    int checked = 0;
    for (int sign = 0; sign <= 0x80; sign += 0x80) {
        for (int m = 0; m < max_mag(t); m++) {
            uint8_t lo = (uint8_t)(sign | m), hi = (uint8_t)(sign | (m + 1));
            if (t == FP8F_E4M3FNUZ && lo == 0x80)
                lo = 0x00; /* fnuz's zero */
            double a = ref_fp8_decode(t, lo), b = ref_fp8_decode(t, hi);
            float mid = (float)((a + b) / 2.0);
            TU_REQUIRE((double)mid == (a + b) / 2.0, "midpoint not exact in f32");
            uint8_t even = (m & 1) ? hi : lo;
            uint8_t got = fp8f_encode_fp8(t, mid);
            TU_REQUIRE(got == even, "%s encode(midpoint %g of 0x%02x,0x%02x) = 0x%02x, want 0x%02x",
                          ref_dtype_name(t), (double)mid, lo, hi, got, even);
            TU_REQUIRE(ref_enc(t, mid) == even, "reference midpoint %g", (double)mid);
            float away = nextafterf(mid, sign ? -INFINITY : INFINITY);
            float toward = nextafterf(mid, 0.0f);
            got = fp8f_encode_fp8(t, away);
            TU_REQUIRE(got == hi, "%s encode(%.9g just past the midpoint) = 0x%02x, want 0x%02x",
                          ref_dtype_name(t), (double)away, got, hi);
            got = fp8f_encode_fp8(t, toward);
            uint8_t want_toward = lo;
            if (t == FP8F_E4M3FN && sign && m == 0)
                want_toward = 0x80; /* -tiny rounds to -0 in fn */
            TU_REQUIRE(got == want_toward,
                          "%s encode(%.9g just before the midpoint) = 0x%02x, want 0x%02x",
                          ref_dtype_name(t), (double)toward, got, want_toward);
            TU_REQUIRE(ref_enc(t, toward) == want_toward, "reference %g", (double)toward);
            checked++;
        }
    }
    ck_assert_int_eq(checked, 2 * max_mag(t));
}
END_TEST

START_TEST(fp8_saturation) {
    const fp8f_dtype t = fp8_types[_i];
    const float fmax = fp8f_fp8_max(t);
    const uint8_t maxc = (uint8_t)max_mag(t);
    const float big[] = {nextafterf(fmax, INFINITY), fmax * 1.03125f, fmax * 1.0625f,
                         fmax * 1.5f,                fmax * 2.0f,      1e6f,
                         1e30f,                      FLT_MAX,          INFINITY};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        TU_REQUIRE(fp8f_encode_fp8(t, big[i]) == maxc, "%s encode(%g) = 0x%02x, want max",
                      ref_dtype_name(t), (double)big[i], fp8f_encode_fp8(t, big[i]));
        TU_REQUIRE(fp8f_encode_fp8(t, -big[i]) == (0x80 | maxc),
                      "%s encode(%g) = 0x%02x, want -max", ref_dtype_name(t), -(double)big[i],
                      fp8f_encode_fp8(t, -big[i]));
        ck_assert_int_eq(ref_enc(t, big[i]), maxc);
        ck_assert_int_eq(ref_enc(t, -big[i]), 0x80 | maxc);
        ck_assert(!isnan(fp8f_decode_fp8(t, fp8f_encode_fp8(t, big[i]))));
    }
    /* halfway between max and the next e4m3 value must not become NaN */
    ck_assert_int_eq(fp8f_encode_e4m3fn(464.0f), 0x7e);
    ck_assert_int_eq(fp8f_encode_e4m3fnuz(248.0f), 0x7f);
    ck_assert_int_eq(fp8f_encode_e4m3fn(-464.0f), 0xfe);
    ck_assert_int_eq(fp8f_encode_e4m3fnuz(-248.0f), 0xff);
}
END_TEST

START_TEST(fp8_nan) {
    const fp8f_dtype t = fp8_types[_i];
    const float nans[] = {NAN, -NAN, fp8f_bits_f32(0x7fc00001u), fp8f_bits_f32(0xff800001u)};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint8_t c = fp8f_encode_fp8(t, nans[i]);
        TU_REQUIRE(ref_fp8_is_nan(t, c), "%s encode(NaN #%zu) = 0x%02x, not a NaN code",
                      ref_dtype_name(t), i, c);
        ck_assert(isnan(fp8f_decode_fp8(t, c)));
    }
    if (t == FP8F_E4M3FNUZ)
        ck_assert_int_eq(fp8f_encode_e4m3fnuz(NAN), 0x80);
}
END_TEST

START_TEST(fp8_subnormals) {
    const fp8f_dtype t = fp8_types[_i];
    const int bias = t == FP8F_E4M3FNUZ ? 8 : 7;
    const double tiny = ldexp(1.0, 1 - bias - 3); /* smallest subnormal */
    for (int m = 1; m < 8; m++) {
        float v = (float)(m * tiny);
        ck_assert_int_eq(fp8f_encode_fp8(t, v), m);
        ck_assert_double_eq(fp8f_decode_fp8(t, (uint8_t)m), m * tiny);
    }
    /* below half the smallest subnormal: zero; exactly half: zero (even);
     * just above half: the smallest subnormal */
    ck_assert_int_eq(fp8f_encode_fp8(t, (float)(0.25 * tiny)), 0);
    ck_assert_int_eq(fp8f_encode_fp8(t, (float)(0.5 * tiny)), 0);
    ck_assert_int_eq(fp8f_encode_fp8(t, nextafterf((float)(0.5 * tiny), 1.0f)), 1);
    ck_assert_int_eq(fp8f_encode_fp8(t, (float)(1.5 * tiny)), 2);
    ck_assert_int_eq(fp8f_encode_fp8(t, (float)(2.5 * tiny)), 2);
    ck_assert_int_eq(fp8f_encode_fp8(t, (float)(7.5 * tiny)), 8); /* carries into the normals */
    ck_assert_int_eq(fp8f_encode_fp8(t, FLT_MIN), t == FP8F_E4M3FN ? 0x00 : 0x00);
    ck_assert_int_eq(fp8f_encode_fp8(t, 1e-45f), 0); /* f32 subnormal input */
    ck_assert_int_eq(fp8f_encode_fp8(t, -1e-45f), t == FP8F_E4M3FN ? 0x80 : 0x00);
    /* random values in and around the subnormal range vs the reference */
    tu_rng rng;
    tu_rng_seed(&rng, 11 + (uint64_t)_i);
    for (int i = 0; i < 20000; i++) {
        float v = (float)tu_rng_range(&rng, -10.0 * tiny, 10.0 * tiny);
        uint8_t got = fp8f_encode_fp8(t, v), want = ref_enc(t, v);
        TU_REQUIRE(got == want, "%s encode(%.9g) = 0x%02x, reference 0x%02x",
                      ref_dtype_name(t), (double)v, got, want);
    }
}
END_TEST

/* Random f32 values over the whole exponent range and random bit patterns
 * against the reference's nearest-code search. */
START_TEST(fp8_random_vs_reference) {
    const fp8f_dtype t = fp8_types[_i];
    tu_rng rng;
    tu_rng_seed(&rng, 101 + (uint64_t)_i);
    for (int i = 0; i < 40000; i++) {
        float v;
        if (i & 1) {
            v = fp8f_bits_f32((uint32_t)tu_rng_next(&rng));
        } else {
            v = (float)ldexp(tu_rng_range(&rng, -2.0, 2.0), tu_rng_int(&rng, 30) - 20);
        }
        uint8_t got = fp8f_encode_fp8(t, v), want = ref_enc(t, v);
        if (isnan(v)) {
            TU_REQUIRE(ref_fp8_is_nan(t, got), "encode(NaN) = 0x%02x", got);
            continue;
        }
        TU_REQUIRE(got == want, "%s encode(%.9g) = 0x%02x, reference 0x%02x",
                      ref_dtype_name(t), (double)v, got, want);
    }
}
END_TEST

/* e4m3fn bits -> e4m3fnuz bits: the value halves (the scale doubles), fn's
 * -0 (0x80) becomes 0 and fn NaN stays NaN. */
START_TEST(fp8_fn_to_fnuz_all_codes) {
    for (int c = 0; c < 256; c++) {
        uint8_t z = fp8f_fn_bits_to_fnuz((uint8_t)c);
        double fn = ref_fp8_decode(FP8F_E4M3FN, (uint8_t)c);
        double fnuz = ref_fp8_decode(FP8F_E4M3FNUZ, z);
        if (isnan(fn)) {
            TU_REQUIRE(isnan(fnuz), "fn NaN 0x%02x -> 0x%02x is not NaN in fnuz", c, z);
            continue;
        }
        TU_REQUIRE(!isnan(fnuz), "fn 0x%02x (%g) -> fnuz 0x%02x is NaN", c, fn, z);
        TU_REQUIRE(fnuz * 2.0 == fn, "fn 0x%02x (%g) -> fnuz 0x%02x (%g): x2 is not the value",
                      c, fn, z, fnuz);
    }
    ck_assert_int_eq(fp8f_fn_bits_to_fnuz(0x80), 0x00);
    ck_assert_int_eq(fp8f_fn_bits_to_fnuz(0x7e), 0x7e);
}
END_TEST

/* e4m3fnuz bits -> e4m3fn bits: the value doubles (scale halved); +-240
 * (0x7f/0xff) has no fn code and is refused; fnuz NaN becomes fn NaN. */
START_TEST(fp8_fnuz_to_fn_all_codes) {
    int refused = 0;
    for (int c = 0; c < 256; c++) {
        int f = fp8f_fnuz_bits_to_fn((uint8_t)c);
        double fnuz = ref_fp8_decode(FP8F_E4M3FNUZ, (uint8_t)c);
        if ((c & 0x7f) == 0x7f) {
            TU_REQUIRE(f == -1, "fnuz 0x%02x (%g) must be refused, got 0x%02x", c, fnuz, f);
            refused++;
            continue;
        }
        TU_REQUIRE(f >= 0 && f < 256, "fnuz 0x%02x refused", c);
        double fn = ref_fp8_decode(FP8F_E4M3FN, (uint8_t)f);
        if (isnan(fnuz)) {
            TU_REQUIRE(isnan(fn), "fnuz NaN -> fn 0x%02x is not NaN", f);
            continue;
        }
        TU_REQUIRE(fn * 0.5 == fnuz, "fnuz 0x%02x (%g) -> fn 0x%02x (%g): x0.5 is not the value",
                      c, fnuz, f, fn);
    }
    ck_assert_int_eq(refused, 2);
}
END_TEST

/* ---- bf16 / f16 -------------------------------------------------------------------- */

typedef struct {
    const char *name;
    fp8f_dtype t;
    float (*decode)(uint16_t);
    uint16_t (*encode)(float);
    double (*ref_value)(uint16_t);
    uint16_t exp_mask;
} half_type;

static const half_type halves[2] = {
    {"bf16", FP8F_BF16, fp8f_bf16_to_f32, fp8f_f32_to_bf16, ref_bf16_value, 0x7f80},
    {"f16", FP8F_F16, fp8f_f16_to_f32, fp8f_f32_to_f16, ref_f16_value, 0x7c00},
};

static int half_is_nan(const half_type *h, uint16_t b) {
    return (b & h->exp_mask) == h->exp_mask && (b & ~h->exp_mask & 0x7fff) != 0;
}

START_TEST(half_all_codes_roundtrip) {
    const half_type *h = &halves[_i];
    for (uint32_t b = 0; b < 65536; b++) {
        float v = h->decode((uint16_t)b);
        double want = h->ref_value((uint16_t)b);
        TU_REQUIRE(same_value(v, want), "%s decode(0x%04x) = %.9g, want %.9g", h->name,
                      (unsigned)b, (double)v, want);
        uint16_t back = h->encode(v);
        if (half_is_nan(h, (uint16_t)b)) {
            TU_REQUIRE(half_is_nan(h, back), "%s NaN 0x%04x -> 0x%04x", h->name,
                          (unsigned)b, back);
            continue;
        }
        TU_REQUIRE(back == b, "%s encode(decode(0x%04x)) = 0x%04x", h->name, (unsigned)b,
                      back);
        /* the library's load / round_to agree */
        TU_REQUIRE(same_value(fp8f_round_to(h->t, v), v), "%s round_to(%g)", h->name, (double)v);
    }
}
END_TEST

/* Midpoints between adjacent finite codes round to the even code, and the
 * floats next to them to the nearer code; the midpoint above the largest
 * finite value goes to Inf. */
START_TEST(half_rne_boundaries) {
    const half_type *h = &halves[_i];
    const uint16_t inf = h->exp_mask;
    for (uint32_t s = 0; s <= 0x8000; s += 0x8000) {
        for (uint32_t m = 0; m < inf; m++) {
            uint16_t lo = (uint16_t)(s | m), hi = (uint16_t)(s | (m + 1));
            double a = h->ref_value(lo);
            /* above the largest finite value: where the next code would be */
            double b = hi == (s | inf) ? a + (a - h->ref_value((uint16_t)(lo - 1)))
                                       : h->ref_value(hi);
            float mid = (float)((a + b) / 2.0);
            TU_REQUIRE((double)mid == (a + b) / 2.0, "%s midpoint of 0x%04x not exact", h->name, lo);
            uint16_t even = (m & 1) ? hi : lo;
            uint16_t got = h->encode(mid);
            if (got != even)
                ck_abort_msg("%s encode(midpoint %.9g of 0x%04x,0x%04x) = 0x%04x, want 0x%04x",
                             h->name, (double)mid, lo, hi, got, even);
            float away = nextafterf(mid, s ? -INFINITY : INFINITY);
            float toward = nextafterf(mid, 0.0f);
            got = h->encode(away);
            if (got != hi)
                ck_abort_msg("%s encode(%.9g) = 0x%04x, want 0x%04x", h->name, (double)away, got,
                             hi);
            got = h->encode(toward);
            if (got != lo)
                ck_abort_msg("%s encode(%.9g) = 0x%04x, want 0x%04x", h->name, (double)toward,
                             got, lo);
        }
    }
    /* explicit anchors */
    if (h->t == FP8F_F16) {
        ck_assert_uint_eq(fp8f_f32_to_f16(65504.0f), 0x7bff);
        ck_assert_uint_eq(fp8f_f32_to_f16(65519.99f), 0x7bff);
        ck_assert_uint_eq(fp8f_f32_to_f16(65520.0f), 0x7c00);
        ck_assert_uint_eq(fp8f_f32_to_f16(-65520.0f), 0xfc00);
        ck_assert_uint_eq(fp8f_f32_to_f16(1e10f), 0x7c00);
        ck_assert_uint_eq(fp8f_f32_to_f16(INFINITY), 0x7c00);
        ck_assert_uint_eq(fp8f_f32_to_f16(0x1p-24f), 0x0001);
        ck_assert_uint_eq(fp8f_f32_to_f16(0x1p-25f), 0x0000);       /* tie to even: 0 */
        ck_assert_uint_eq(fp8f_f32_to_f16(0x1.8p-24f), 0x0002);     /* tie to even: 2 */
        ck_assert_uint_eq(fp8f_f32_to_f16(-0.0f), 0x8000);
    } else {
        ck_assert_uint_eq(fp8f_f32_to_bf16(1.0f), 0x3f80);
        ck_assert_uint_eq(fp8f_f32_to_bf16(fp8f_bits_f32(0x3f808000u)), 0x3f80); /* tie, even */
        ck_assert_uint_eq(fp8f_f32_to_bf16(fp8f_bits_f32(0x3f818000u)), 0x3f82); /* tie, even */
        ck_assert_uint_eq(fp8f_f32_to_bf16(fp8f_bits_f32(0x3f808001u)), 0x3f81);
        ck_assert_uint_eq(fp8f_f32_to_bf16(FLT_MAX), 0x7f80); /* rounds past the largest */
        ck_assert_uint_eq(fp8f_f32_to_bf16(INFINITY), 0x7f80);
        ck_assert_uint_eq(fp8f_f32_to_bf16(-0.0f), 0x8000);
    }
}
END_TEST

START_TEST(half_random_vs_reference) {
    const half_type *h = &halves[_i];
    tu_rng rng;
    tu_rng_seed(&rng, 7 + (uint64_t)_i);
    for (int i = 0; i < 100000; i++) {
        float v = i & 1 ? fp8f_bits_f32((uint32_t)tu_rng_next(&rng))
                        : (float)ldexp(tu_rng_range(&rng, -2.0, 2.0), tu_rng_int(&rng, 60) - 30);
        uint16_t got = h->encode(v);
        if (isnan(v)) {
            TU_REQUIRE(half_is_nan(h, got), "%s encode(NaN) = 0x%04x", h->name, got);
            continue;
        }
        uint16_t want = h->t == FP8F_BF16 ? ref_bf16_bits(v) : ref_f16_bits(v);
        TU_REQUIRE(got == want, "%s encode(%.9g) = 0x%04x, reference 0x%04x", h->name,
                      (double)v, got, want);
        TU_REQUIRE(same_value(fp8f_round_to(h->t, v), ref_round(h->t, v)), "%s round_to(%.9g)",
                   h->name, (double)v);
    }
}
END_TEST

/* The library's typed element access (used by every CPU kernel). */
START_TEST(float_load_store) {
    const fp8f_dtype types[3] = {FP8F_F32, FP8F_BF16, FP8F_F16};
    tu_rng rng;
    tu_rng_seed(&rng, 3);
    for (int ti = 0; ti < 3; ti++) {
        unsigned char buf[64];
        memset(buf, 0xA5, sizeof buf);
        for (int i = 0; i < 1000; i++) {
            float v = (float)(tu_rng_normal(&rng) * 100.0);
            fp8f_store_float(types[ti], buf, 3, v);
            float back = fp8f_load_float(types[ti], buf, 3);
            TU_REQUIRE(same_value(back, ref_round(types[ti], v)),
                          "%s store/load(%.9g) = %.9g, want %.9g", ref_dtype_name(types[ti]),
                          (double)v, (double)back, ref_round(types[ti], v));
        }
        /* only element 3 was written */
        size_t es = ref_dtype_size(types[ti]);
        for (size_t b = 0; b < sizeof buf; b++)
            if (b < 3 * es || b >= 4 * es)
                ck_assert_uint_eq(buf[b], 0xA5);
        ck_assert_uint_eq(fp8f_dtype_size(types[ti]), es);
    }
    ck_assert_uint_eq(fp8f_dtype_size(FP8F_E4M3FN), 1);
    ck_assert_uint_eq(fp8f_dtype_size(FP8F_E4M3FNUZ), 1);
}
END_TEST

static Suite *codec_suite(void) {
    Suite *s = suite_create("codec");
    TCase *tc = tu_tcase("fp8");
    tcase_add_test(tc, fp8_max_values);
    tcase_add_loop_test(tc, fp8_decode_all_codes, 0, 2);
    tcase_add_loop_test(tc, fp8_roundtrip_all_codes, 0, 2);
    tcase_add_loop_test(tc, fp8_rounding_boundaries, 0, 2);
    tcase_add_loop_test(tc, fp8_saturation, 0, 2);
    tcase_add_loop_test(tc, fp8_nan, 0, 2);
    tcase_add_loop_test(tc, fp8_subnormals, 0, 2);
    tcase_add_loop_test(tc, fp8_random_vs_reference, 0, 2);
    tcase_add_test(tc, fp8_fn_to_fnuz_all_codes);
    tcase_add_test(tc, fp8_fnuz_to_fn_all_codes);
    suite_add_tcase(s, tc);
    tc = tu_tcase("half");
    tcase_add_loop_test(tc, half_all_codes_roundtrip, 0, 2);
    tcase_add_loop_test(tc, half_rne_boundaries, 0, 2);
    tcase_add_loop_test(tc, half_random_vs_reference, 0, 2);
    tcase_add_test(tc, float_load_store);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(codec_suite()); }
