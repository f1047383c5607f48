/*
 * The tests' double-precision reference (see ref.h). Deliberately written
 * differently from lib/fp8_codec.h: formulas and exhaustive searches, no
 * bit tricks, so that a shared mistake is unlikely.
 */
#include "ref.h"

#include <float.h>
#include <math.h>
#include <string.h>

size_t ref_dtype_size(fp8f_dtype t) {
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

const char *ref_dtype_name(fp8f_dtype t) {
    switch (t) {
    case FP8F_F32:
        return "F32";
    case FP8F_BF16:
        return "BF16";
    case FP8F_F16:
        return "F16";
    case FP8F_E4M3FN:
        return "E4M3FN";
    case FP8F_E4M3FNUZ:
        return "E4M3FNUZ";
    }
    return "?";
}

/* ---- fp8 ------------------------------------------------------------------ */

static int fp8_bias(fp8f_dtype t) { return t == FP8F_E4M3FNUZ ? 8 : 7; }

double ref_fp8_max(fp8f_dtype t) { return t == FP8F_E4M3FNUZ ? 240.0 : 448.0; }

int ref_fp8_is_nan(fp8f_dtype t, uint8_t code) {
    if (t == FP8F_E4M3FNUZ)
        return code == 0x80;
    return (code & 0x7f) == 0x7f;
}

double ref_fp8_decode(fp8f_dtype t, uint8_t code) {
    if (ref_fp8_is_nan(t, code))
        return NAN;
    const int bias = fp8_bias(t);
    const int sign = code >> 7, e = (code >> 3) & 15, m = code & 7;
    double mag;
    if (e == 0)
        mag = (m / 8.0) * pow(2.0, 1 - bias);
    else
        mag = (1.0 + m / 8.0) * pow(2.0, e - bias);
    return sign ? -mag : mag;
}

/* decode() of all 256 codes per type, filled on first use (the search in
 * ref_fp8_encode would otherwise call pow() 256 times per value). */
static const double *decode_table(fp8f_dtype t) {
    static double tables[2][256];
    static int ready[2];
    const int i = t == FP8F_E4M3FNUZ;
    if (!ready[i]) {
        for (int c = 0; c < 256; c++)
            tables[i][c] = ref_fp8_decode(t, (uint8_t)c);
        ready[i] = 1;
    }
    return tables[i];
}

uint8_t ref_fp8_encode_search(fp8f_dtype t, double v) {
    if (isnan(v))
        return t == FP8F_E4M3FNUZ ? 0x80 : (signbit(v) ? 0xff : 0x7f);
    /* Beyond twice the max the nearest code is +-max; clamping keeps the
     * distances below exact (v - 240 and v - 224 would round to the same
     * double for a huge v and tie). */
    if (fabs(v) > 2.0 * ref_fp8_max(t))
        v = copysign(2.0 * ref_fp8_max(t), v);
    const double *values = decode_table(t);
    int best = -1;
    double best_d = INFINITY;
    for (int c = 0; c < 256; c++) {
        if (isnan(values[c]))
            continue;
        double d = fabs(values[c] - v);
        int take = 0;
        if (d < best_d) {
            take = 1;
        } else if (d == best_d) {
            /* A tie: the even code; between +0 and -0 (both even), v's sign. */
            int even_c = (c & 1) == 0, even_b = (best & 1) == 0;
            if (even_c != even_b)
                take = even_c;
            else
                take = ((c & 0x80) != 0) == (signbit(v) != 0);
        }
        if (take) {
            best = c;
            best_d = d;
        }
    }
    return (uint8_t)best;
}

/* The same result as ref_fp8_encode_search (test_codec checks it on every
 * boundary), found by bisection over the sorted magnitudes: the suites
 * encode hundreds of thousands of values, also under valgrind. */
uint8_t ref_fp8_encode(fp8f_dtype t, double v) {
    if (isnan(v))
        return t == FP8F_E4M3FNUZ ? 0x80 : (signbit(v) ? 0xff : 0x7f);
    const double *values = decode_table(t); /* values[m] increases with m <= max_mag */
    const int max_mag = t == FP8F_E4M3FNUZ ? 0x7f : 0x7e;
    const double a = fabs(v);
    int m;
    if (a >= values[max_mag]) {
        m = max_mag;
    } else {
        int lo = 0, hi = max_mag; /* values[lo] <= a < values[hi] */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (values[mid] <= a)
                lo = mid;
            else
                hi = mid;
        }
        double d_lo = a - values[lo], d_hi = values[hi] - a;
        m = d_lo < d_hi ? lo : d_hi < d_lo ? hi : (lo % 2 == 0 ? lo : hi);
    }
    if (!signbit(v) || (t == FP8F_E4M3FNUZ && m == 0))
        return (uint8_t)m;
    return (uint8_t)(0x80 | m);
}

int ref_fp8_ordinal(uint8_t code) {
    int m = code & 0x7f;
    return (code & 0x80) ? -m : m;
}

int ref_fp8_ambiguous(fp8f_dtype t, double v, double rel) {
    if (!isfinite(v))
        return 0;
    uint8_t c = ref_fp8_encode(t, v);
    return ref_fp8_ordinal(ref_fp8_encode(t, v * (1.0 + rel))) != ref_fp8_ordinal(c) ||
           ref_fp8_ordinal(ref_fp8_encode(t, v * (1.0 - rel))) != ref_fp8_ordinal(c);
}

double ref_fp8_step(fp8f_dtype t, uint8_t code) {
    const int max_mag = t == FP8F_E4M3FNUZ ? 0x7f : 0x7e;
    int m = code & 0x7f;
    if (ref_fp8_is_nan(t, code))
        return NAN;
    double here = ref_fp8_decode(t, (uint8_t)m);
    double lo = m > 0 ? here - ref_fp8_decode(t, (uint8_t)(m - 1)) : ref_fp8_decode(t, 1);
    double hi = m < max_mag ? ref_fp8_decode(t, (uint8_t)(m + 1)) - here : lo;
    return lo > hi ? lo : hi;
}

/* ---- bf16 / f16 / f32 ------------------------------------------------------ */

/* v rounded to p significant bits, exponent of the smallest normal emin,
 * largest finite maxv; ties to even through nearbyint (round-to-nearest
 * mode, the C default). */
static double round_float(double v, int p, int emin, double maxv) {
    if (isnan(v) || isinf(v) || v == 0.0)
        return v;
    int e;
    frexp(v, &e); /* |v| in [2^(e-1), 2^e) */
    int lead = e - 1 < emin ? emin : e - 1;
    double quantum = ldexp(1.0, lead - (p - 1));
    double r = nearbyint(v / quantum) * quantum;
    if (fabs(r) > maxv)
        r = copysign(INFINITY, v);
    return r;
}

static const double bf16_max = 3.38953138925153547590e+38; /* (2 - 2^-7) * 2^127 */

double ref_round(fp8f_dtype t, double v) {
    switch (t) {
    case FP8F_BF16:
        return round_float(v, 8, -126, bf16_max);
    case FP8F_F16:
        return round_float(v, 11, -14, 65504.0);
    case FP8F_F32:
        return round_float(v, 24, -126, FLT_MAX);
    default:
        return NAN;
    }
}

uint16_t ref_bf16_bits(double v) {
    if (isnan(v))
        return (uint16_t)(signbit(v) ? 0xffc0 : 0x7fc0);
    float f = (float)ref_round(FP8F_BF16, v); /* exact: bf16 values are f32 values */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(u >> 16);
}

double ref_bf16_value(uint16_t bits) {
    const int sign = bits >> 15, e = (bits >> 7) & 0xff, m = bits & 0x7f;
    double mag;
    if (e == 0xff)
        mag = m ? NAN : INFINITY;
    else if (e == 0)
        mag = m * pow(2.0, -133);
    else
        mag = (1.0 + m / 128.0) * pow(2.0, e - 127);
    return sign ? -mag : mag;
}

uint16_t ref_f16_bits(double v) {
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    if (isnan(v))
        return (uint16_t)(sign | 0x7e00);
    double r = ref_round(FP8F_F16, v), a = fabs(r);
    if (isinf(r))
        return (uint16_t)(sign | 0x7c00);
    if (a < pow(2.0, -14))
        return (uint16_t)(sign | (uint16_t)(a / pow(2.0, -24)));
    int e;
    frexp(a, &e);
    int lead = e - 1;
    int mant = (int)(a / pow(2.0, lead - 10)) - 1024;
    return (uint16_t)(sign | (uint16_t)((lead + 15) << 10) | (uint16_t)mant);
}

double ref_f16_value(uint16_t bits) {
    const int sign = bits >> 15, e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
    double mag;
    if (e == 0x1f)
        mag = m ? NAN : INFINITY;
    else if (e == 0)
        mag = m * pow(2.0, -24);
    else
        mag = (1.0 + m / 1024.0) * pow(2.0, e - 15);
    return sign ? -mag : mag;
}

double ref_half_ulp_rel(fp8f_dtype t) {
    switch (t) {
    case FP8F_BF16:
        return ldexp(1.0, -8);
    case FP8F_F16:
        return ldexp(1.0, -11);
    default:
        return ldexp(1.0, -24);
    }
}

double ref_subnormal_step(fp8f_dtype t) {
    switch (t) {
    case FP8F_BF16:
        return ldexp(1.0, -133);
    case FP8F_F16:
        return ldexp(1.0, -24);
    default:
        return ldexp(1.0, -149);
    }
}

/* ---- element access ---------------------------------------------------------- */

static void *elem(const fp8f_tensor *t, int64_t r, int64_t c) {
    return (char *)t->data + (size_t)(r * t->stride + c) * ref_dtype_size(t->dtype);
}

double ref_load(const fp8f_tensor *t, int64_t r, int64_t c) {
    const void *p = elem(t, r, c);
    uint16_t u16;
    float f;
    switch (t->dtype) {
    case FP8F_BF16:
        memcpy(&u16, p, 2);
        return ref_bf16_value(u16);
    case FP8F_F16:
        memcpy(&u16, p, 2);
        return ref_f16_value(u16);
    case FP8F_F32:
        memcpy(&f, p, 4);
        return f;
    default:
        return NAN;
    }
}

void ref_store(const fp8f_tensor *t, int64_t r, int64_t c, double v) {
    void *p = elem(t, r, c);
    uint16_t u16;
    float f;
    switch (t->dtype) {
    case FP8F_BF16:
        u16 = ref_bf16_bits(v);
        memcpy(p, &u16, 2);
        break;
    case FP8F_F16:
        u16 = ref_f16_bits(v);
        memcpy(p, &u16, 2);
        break;
    case FP8F_F32:
        f = isnan(v) ? (float)v : (float)ref_round(FP8F_F32, v);
        memcpy(p, &f, 4);
        break;
    default:
        break;
    }
}

uint8_t ref_code(const fp8f_tensor *t, int64_t r, int64_t c) { return *(uint8_t *)elem(t, r, c); }

void ref_set_code(const fp8f_tensor *t, int64_t r, int64_t c, uint8_t code) {
    *(uint8_t *)elem(t, r, c) = code;
}

/* ---- operations ------------------------------------------------------------ */

void ref_rmsnorm(const fp8f_tensor *x, fp8f_tensor *residual, const fp8f_tensor *weight,
                 double eps, double *y, double *h_out) {
    const int64_t rows = x->rows, n = x->cols;
    for (int64_t r = 0; r < rows; r++) {
        double *yr = y + r * n;
        double ss = 0.0;
        /* h into y first (the row is read completely before anything is
         * written back, so x may alias the caller's output) */
        for (int64_t c = 0; c < n; c++) {
            double h = ref_load(x, r, c);
            if (residual)
                h = ref_round(residual->dtype, h + ref_load(residual, r, c));
            yr[c] = h;
            ss += h * h;
        }
        if (residual)
            for (int64_t c = 0; c < n; c++)
                ref_store(residual, r, c, yr[c]);
        if (h_out)
            memcpy(h_out + r * n, yr, (size_t)n * sizeof(double));
        double inv_rms = 1.0 / sqrt(ss / (double)n + eps);
        for (int64_t c = 0; c < n; c++)
            yr[c] = yr[c] * inv_rms * ref_load(weight, 0, c);
    }
}

void ref_quant(const double *y, int64_t rows, int64_t cols, fp8f_dtype fp8,
               const double *scale_ub, uint8_t *q, double *scale) {
    const double fmax = ref_fp8_max(fp8);
    for (int64_t r = 0; r < rows; r++) {
        const double *yr = y + r * cols;
        double amax = 0.0;
        for (int64_t c = 0; c < cols; c++)
            if (!isnan(yr[c]) && fabs(yr[c]) > amax)
                amax = fabs(yr[c]);
        if (scale_ub && amax > *scale_ub)
            amax = *scale_ub;
        double s = amax / fmax;
        if (s < 1.0 / (fmax * 512.0))
            s = 1.0 / (fmax * 512.0);
        /* The scale is an f32 value (what a qtensor stores and what dequantizes
         * the codes), so the codes are taken relative to it: with the exact
         * 1/(MAX*512), subnormal inputs would land exactly on code midpoints
         * that the stored f32 scale does not produce. */
        s = ref_round(FP8F_F32, s);
        scale[r] = s;
        /* "All arithmetic in f32": the quotient is an f32 value before it is
         * encoded. This matters: with bf16 inputs, y / (amax / MAX) is often
         * exactly a code midpoint (e.g. 201/128 * 448 / (268/128) = 336),
         * which the f32 rounding of the scale moves by 1e-8 relative; the f32
         * quotient rounds back onto the midpoint, the exact one does not. */
        for (int64_t c = 0; c < cols; c++)
            q[r * cols + c] = ref_fp8_encode(fp8, ref_round(FP8F_F32, yr[c] / s));
    }
}

void ref_load_all(const fp8f_tensor *t, double *out) {
    for (int64_t r = 0; r < t->rows; r++)
        for (int64_t c = 0; c < t->cols; c++)
            out[r * t->cols + c] = ref_load(t, r, c);
}

void ref_gemm(const double *a, const double *sa, const double *w, const double *sw,
              const double *bias, int64_t m, int64_t n, int64_t k, double *out,
              double *abs_terms) {
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0, abs_acc = 0.0;
            for (int64_t c = 0; c < k; c++) {
                double p = a[i * k + c] * w[j * k + c];
                acc += p;
                abs_acc += fabs(p);
            }
            double v = acc * sa[i] * sw[j];
            if (bias)
                v += bias[j];
            out[i * n + j] = v;
            if (abs_terms)
                abs_terms[i * n + j] = abs_acc * fabs(sa[i] * sw[j]);
        }
    }
}
