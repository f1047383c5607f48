/*
 * The CPU backend's kernel tables, one ISA level at a time: every level
 * this CPU supports (FP8F_CPU_ISA=<name> set before each context is
 * created) runs norm+quant, rmsnorm, per-token quantization and the PTPC
 * GEMM on the same inputs as the generic (portable C) level, and must give
 *  - the same codes, scales, residuals and norm outputs bit for bit (NaN
 *    compared by NaN-ness: payloads and the sign of a NaN are not kept);
 *  - GEMM outputs within f32 accumulation-order error of the generic ones;
 * and the generic level is checked against the f64 reference (ref.h).
 * Levels the CPU (or OS) lacks are skipped with a message.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h> /* _mm_getcsr, _mm_setcsr */
#endif

#include "../backends/cpu/cpu_isa.h"
#include "fp8_codec.h"
#include "internal.h"
#include "ref.h"
#include "testutil.h"

/* Threads of the contexts ctx_at creates (0: OpenMP's default). */
static int ctx_threads;

static fp8f_ctx *ctx_at(int level, fp8f_dtype fp8) {
    setenv("FP8F_CPU_ISA", fp8f_cpu_isa_name((enum cpu_isa)level), 1);
    fp8f_options opt = {0};
    opt.backend = FP8F_BACKEND_CPU;
    opt.fp8_dtype = fp8;
    opt.num_threads = ctx_threads;
    fp8f_ctx *ctx = NULL;
    fp8f_status s = fp8f_ctx_create(&opt, &ctx);
    unsetenv("FP8F_CPU_ISA");
    ck_assert_msg(s == FP8F_OK, "context at %s: %s", fp8f_cpu_isa_name((enum cpu_isa)level),
                  fp8f_last_error(NULL));
    return ctx;
}

/* 1 (and a message) when this CPU cannot run `level`. */
static int skip_level(int level) {
    enum cpu_isa det = fp8f_cpu_isa_detect();
    if (level <= (int)det)
        return 0;
    printf("test_cpu_isa: SKIP level %s: this CPU/OS supports up to %s (%s; %s)\n",
           fp8f_cpu_isa_name((enum cpu_isa)level), fp8f_cpu_isa_name(det), fp8f_cpu_isa_model(),
           fp8f_cpu_isa_features());
    return 1;
}

static int same_bits_or_nan(float a, float b) {
    return (isnan(a) && isnan(b)) || fp8f_f32_bits(a) == fp8f_f32_bits(b);
}

static int code_nan(fp8f_dtype t, uint8_t c) {
    return t == FP8F_E4M3FNUZ ? c == 0x80 : (c & 0x7f) == 0x7f;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    ck_assert(p != NULL);
    return p;
}

/* A host tensor (the CPU backend's memory) filled with N(0, sigma). */
static fp8f_tensor make_tensor(fp8f_dtype t, int64_t rows, int64_t cols, int64_t pad,
                               tu_rng *rng, double sigma) {
    fp8f_tensor x = {NULL, t, rows, cols, cols + pad};
    size_t n = (size_t)(rows * (cols + pad));
    x.data = xmalloc(n * fp8f_dtype_size(t));
    for (size_t i = 0; i < n; i++)
        fp8f_store_float(t, x.data, (int64_t)i, (float)(tu_rng_normal(rng) * sigma));
    return x;
}

static fp8f_tensor clone(const fp8f_tensor *t) {
    fp8f_tensor c = *t;
    size_t bytes = (size_t)(t->rows * t->stride) * fp8f_dtype_size(t->dtype);
    c.data = xmalloc(bytes);
    memcpy(c.data, t->data, bytes);
    return c;
}

static int shape_rows[] = {1, 3, 40};
/* 50: a tail in the second half of a 32-lane block of the sum of squares */
static int shape_h[] = {1, 7, 16, 33, 50, 300, 5120};
static const fp8f_dtype fdt[3] = {FP8F_BF16, FP8F_F16, FP8F_F32};

/* A signaling NaN in element c of x's row r (bits: a store through f32
 * would quiet it). */
static void put_signaling_nan(fp8f_tensor *x, int64_t r, int64_t c) {
    const size_t i = (size_t)(r * x->stride + c);
    if (x->dtype == FP8F_F32) {
        const uint32_t bits = 0x7fa00000u;
        memcpy((float *)x->data + i, &bits, sizeof bits);
    } else {
        ((uint16_t *)x->data)[i] = x->dtype == FP8F_BF16 ? 0x7fa0 : 0x7d00;
    }
}

/* Special rows: 0 normal, 1 zeros, 2 huge, 3 NaN (a quiet one, and a
 * signaling one after the row's largest value: amax ignores both), 4 Inf,
 * 5 tiny (subnormal codes), 6 f32 denormals (in bf16 and f32; given to x
 * and the residual, so that x + r is one too: the bf16 rounding
 * instructions flush those). */
static void special_row(fp8f_tensor *x, int64_t r, int kind) {
    for (int64_t c = 0; c < x->cols; c++) {
        float v = fp8f_load_float(x->dtype, x->data, r * x->stride + c);
        switch (kind) {
        case 1: v = 0.0f; break;
        case 2: v = v * 1e30f; break;
        case 3: v = c == x->cols / 2 ? NAN : c == 0 ? 8.0f : v; break;
        case 4: if (c == 0) v = -INFINITY; break;
        case 5: v = c % 5 == 0 ? v : v * 1e-3f; break;
        case 6: v = c % 3 == 0 ? v : v * 1e-39f; break;
        default: break;
        }
        fp8f_store_float(x->dtype, x->data, r * x->stride + c, v);
    }
    if (kind == 3 && x->cols > 2)
        put_signaling_nan(x, r, x->cols / 3 + 1);
}

static void check_norm_quant_level(int level) {
    tu_rng rng;
    tu_rng_seed(&rng, 4242 + (uint64_t)level);
    for (int fi = 0; fi < 2; fi++) {
        const fp8f_dtype fp8 = fi ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
        fp8f_ctx *gen = ctx_at(CPU_ISA_GENERIC, fp8), *lv = ctx_at(level, fp8);
        char desc[512];
        lv->be.ops->describe(&lv->be, desc, sizeof desc);
        for (size_t ri = 0; ri < sizeof shape_rows / sizeof *shape_rows; ri++)
            for (size_t hi = 0; hi < sizeof shape_h / sizeof *shape_h; hi++)
                for (int di = 0; di < 3; di++)
                    for (int withres = 0; withres < 2; withres++) {
                        const int64_t rows = shape_rows[ri], h = shape_h[hi];
                        const fp8f_dtype xt = fdt[di];
                        /* the norm weight in x's dtype or another (the
                         * levels' run-time dtype paths; no even/odd bf16) */
                        const fp8f_dtype wt = (ri + hi) % 2 ? fdt[(di + 1) % 3] : xt;
                        const int pad = (int)(hi % 3);
                        char what[900];
                        snprintf(what, sizeof what, "[%s] %s %lldx%lld %s%s pad %d w %s", desc,
                                 fi ? "fnuz" : "fn", (long long)rows, (long long)h,
                                 ref_dtype_name(xt), withres ? " +res" : "", pad,
                                 ref_dtype_name(wt));
                        fp8f_tensor x = make_tensor(xt, rows, h, pad, &rng, 1.5);
                        fp8f_tensor res = make_tensor(xt, rows, h, pad + 1, &rng, 1.0);
                        for (int64_t r = 0; r < rows && rows > 6; r++) {
                            special_row(&x, r, (int)(r % 7));
                            if (r % 7 == 6)
                                special_row(&res, r, 6);
                        }
                        fp8f_tensor res2 = clone(&res);
                        fp8f_tensor w = make_tensor(wt, 1, h, 0, &rng, 0.5);
                        if (rows > 6 && withres && h > 3) {
                            /* special weights: every row gets a 0, a NaN
                             * and an Inf product (rows of special_row
                             * only: the reference below takes rows <= 6) */
                            fp8f_store_float(wt, w.data, 0, 0.0f);
                            fp8f_store_float(wt, w.data, h / 2, NAN);
                            fp8f_store_float(wt, w.data, h - 1, INFINITY);
                        }
                        const float ub = 3.0f, *ubp = hi == 2 ? &ub : NULL;
                        const size_t qb = (size_t)(rows * h);
                        fp8f_qtensor q1 = {{xmalloc(qb), fp8, rows, h, h}, xmalloc(4 * (size_t)rows), 0};
                        fp8f_qtensor q2 = {{xmalloc(qb), fp8, rows, h, h}, xmalloc(4 * (size_t)rows), 0};
                        ck_assert(fp8f_rmsnorm_quant(gen, &x, withres ? &res : NULL, &w, 1e-6f, ubp, &q1) == FP8F_OK);
                        ck_assert(fp8f_rmsnorm_quant(lv, &x, withres ? &res2 : NULL, &w, 1e-6f, ubp, &q2) == FP8F_OK);
                        for (int64_t r = 0; r < rows; r++) {
                            TU_REQUIRE(same_bits_or_nan(q1.scale[r], q2.scale[r]),
                                       "%s: norm_quant scale[%lld] %.9g vs generic %.9g", what,
                                       (long long)r, q2.scale[r], q1.scale[r]);
                            for (int64_t c = 0; c < h; c++) {
                                uint8_t a = ((uint8_t *)q1.q.data)[r * h + c], b = ((uint8_t *)q2.q.data)[r * h + c];
                                TU_REQUIRE(a == b || (code_nan(fp8, a) && code_nan(fp8, b)),
                                           "%s: norm_quant q[%lld,%lld] 0x%02x vs generic 0x%02x",
                                           what, (long long)r, (long long)c, b, a);
                                if (withres) {
                                    float ra = fp8f_load_float(xt, res.data, r * res.stride + c),
                                          rb = fp8f_load_float(xt, res2.data, r * res2.stride + c);
                                    TU_REQUIRE(same_bits_or_nan(ra, rb),
                                               "%s: residual[%lld,%lld] %.9g vs generic %.9g",
                                               what, (long long)r, (long long)c, rb, ra);
                                }
                            }
                        }
                        /* quant alone */
                        ck_assert(fp8f_quant_per_token(gen, &x, ubp, &q1) == FP8F_OK);
                        ck_assert(fp8f_quant_per_token(lv, &x, ubp, &q2) == FP8F_OK);
                        ck_assert_msg(memcmp(q1.scale, q2.scale, 4 * (size_t)rows) == 0 ||
                                          rows > 6, "%s: quant scales differ", what);
                        for (int64_t i = 0; i < rows * h; i++) {
                            uint8_t a = ((uint8_t *)q1.q.data)[i], b = ((uint8_t *)q2.q.data)[i];
                            TU_REQUIRE(a == b || (code_nan(fp8, a) && code_nan(fp8, b)),
                                       "%s: quant q[%lld] 0x%02x vs generic 0x%02x", what,
                                       (long long)i, b, a);
                        }
                        /* rmsnorm, into another dtype and in place */
                        fp8f_tensor o1 = make_tensor(fdt[(di + 1) % 3], rows, h, 0, &rng, 1);
                        fp8f_tensor o2 = clone(&o1);
                        ck_assert(fp8f_rmsnorm(gen, &x, NULL, &w, 1e-5f, &o1) == FP8F_OK);
                        ck_assert(fp8f_rmsnorm(lv, &x, NULL, &w, 1e-5f, &o2) == FP8F_OK);
                        fp8f_tensor x2 = clone(&x), x3 = clone(&x);
                        ck_assert(fp8f_rmsnorm(gen, &x2, NULL, &w, 1e-5f, &x2) == FP8F_OK);
                        ck_assert(fp8f_rmsnorm(lv, &x3, NULL, &w, 1e-5f, &x3) == FP8F_OK);
                        for (int64_t r = 0; r < rows; r++)
                            for (int64_t c = 0; c < h; c++) {
                                float a = fp8f_load_float(o1.dtype, o1.data, r * h + c),
                                      b = fp8f_load_float(o2.dtype, o2.data, r * h + c);
                                TU_REQUIRE(same_bits_or_nan(a, b), "%s: rmsnorm[%lld,%lld] %.9g vs generic %.9g",
                                           what, (long long)r, (long long)c, b, a);
                                a = fp8f_load_float(xt, x2.data, r * x2.stride + c);
                                b = fp8f_load_float(xt, x3.data, r * x3.stride + c);
                                TU_REQUIRE(same_bits_or_nan(a, b), "%s: in-place rmsnorm[%lld,%lld] %.9g vs generic %.9g",
                                           what, (long long)r, (long long)c, b, a);
                            }
                        /* the generic level against the f64 reference (no special rows) */
                        if (level == CPU_ISA_GENERIC && rows <= 6) {
                            double *y = xmalloc(sizeof(double) * (size_t)(rows * h));
                            double *sc = xmalloc(sizeof(double) * (size_t)rows);
                            uint8_t *codes = xmalloc((size_t)(rows * h));
                            double dub = ub;
                            fp8f_tensor res3 = clone(&res2);
                            ref_rmsnorm(&x, NULL, &w, 1e-6, y, NULL);
                            ref_quant(y, rows, h, fp8, ubp ? &dub : NULL, codes, sc);
                            ck_assert(fp8f_rmsnorm_quant(lv, &x, NULL, &w, 1e-6f, ubp, &q2) == FP8F_OK);
                            tu_check_codes(fp8, q2.q.data, codes, rows, h, h, what);
                            for (int64_t r = 0; r < rows; r++)
                                TU_REQUIRE(fabs(q2.scale[r] - sc[r]) <= 1e-5 * sc[r],
                                           "%s: scale[%lld] %.9g vs reference %.9g", what,
                                           (long long)r, q2.scale[r], sc[r]);
                            free(y), free(sc), free(codes), free(res3.data);
                        }
                        free(x.data), free(res.data), free(res2.data), free(w.data);
                        free(o1.data), free(o2.data), free(x2.data), free(x3.data);
                        free(q1.q.data), free(q1.scale), free(q2.q.data), free(q2.scale);
                    }
        fp8f_ctx_destroy(gen);
        fp8f_ctx_destroy(lv);
    }
}

START_TEST(norm_quant_levels) {
    if (skip_level(_i))
        return;
    check_norm_quant_level(_i);
}
END_TEST

/* GEMM: M x N x K, activation dtype, out dtype, bias, weight fp8 type, NaN weight. */
static void gemm_case(int level, fp8f_dtype ctx_fp8, fp8f_dtype w_fp8, int64_t m, int64_t n,
                      int64_t k, fp8f_dtype at, fp8f_dtype ot, int bias, int nan_w, tu_rng *rng) {
    fp8f_ctx *gen = ctx_at(CPU_ISA_GENERIC, ctx_fp8), *lv = ctx_at(level, ctx_fp8);
    char what[256];
    snprintf(what, sizeof what, "gemm %s %lldx%lldx%lld ctx %s w %s a %s out %s%s%s",
             fp8f_cpu_isa_name((enum cpu_isa)level), (long long)m, (long long)n, (long long)k,
             ref_dtype_name(ctx_fp8), ref_dtype_name(w_fp8), ref_dtype_name(at),
             ref_dtype_name(ot), bias ? " bias" : "", nan_w ? " nan-weight" : "");
    fp8f_tensor a = make_tensor(at, m, k, 1, rng, 1.0);
    fp8f_tensor wq = {xmalloc((size_t)(n * k)), w_fp8, n, k, k};
    for (int64_t i = 0; i < n * k; i++) {
        uint8_t c;
        do
            c = (uint8_t)tu_rng_next(rng);
        while (code_nan(w_fp8, c) || (w_fp8 == FP8F_E4M3FNUZ && ctx_fp8 == FP8F_E4M3FN && (c & 0x7f) == 0x7f));
        if (i % 7 == 0)
            c &= 0x87; /* subnormal codes */
        ((uint8_t *)wq.data)[i] = c;
    }
    if (nan_w)
        ((uint8_t *)wq.data)[k / 2] = w_fp8 == FP8F_E4M3FNUZ ? 0x80 : 0x7f;
    float *ws = xmalloc(4 * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        ws[i] = (float)tu_rng_range(rng, 0.5e-3, 2e-3);
    fp8f_tensor bt = make_tensor(ot, 1, n, 0, rng, 0.1);
    fp8f_weight *w1, *w2;
    ck_assert(fp8f_weight_create(gen, &wq, ws, bias ? &bt : NULL, &w1) == FP8F_OK);
    ck_assert(fp8f_weight_create(lv, &wq, ws, bias ? &bt : NULL, &w2) == FP8F_OK);
    fp8f_tensor o1 = make_tensor(ot, m, n, 2, rng, 1), o2 = clone(&o1);
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = a};
    ck_assert(fp8f_linear_ptpc(gen, &act, w1, &o1) == FP8F_OK);
    ck_assert_msg(fp8f_linear_ptpc(lv, &act, w2, &o2) == FP8F_OK, "%s: %s", what, fp8f_last_error(lv));
    /* tolerance from the quantized activation (identical on every level) */
    fp8f_qtensor qa = {{xmalloc((size_t)(m * k)), ctx_fp8, m, k, k}, xmalloc(4 * (size_t)m), 0};
    ck_assert(fp8f_quant_per_token(gen, &a, NULL, &qa) == FP8F_OK);
    const double wfac = w_fp8 == ctx_fp8 ? 1.0 : (ctx_fp8 == FP8F_E4M3FNUZ ? 2.0 : 0.5);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double absterms = 0;
            for (int64_t c = 0; c < k; c++) {
                uint8_t wc = ((uint8_t *)wq.data)[j * k + c];
                double wv = ref_fp8_decode(w_fp8, wc);
                absterms += fabs(ref_fp8_decode(ctx_fp8, ((uint8_t *)qa.q.data)[i * k + c]) * (isnan(wv) ? 0 : wv));
            }
            absterms *= qa.scale[i] * ws[j] * wfac;
            double g = fp8f_load_float(ot, o1.data, i * o1.stride + j),
                   v = fp8f_load_float(ot, o2.data, i * o2.stride + j);
            if (isnan(g) || isnan(v)) {
                TU_REQUIRE(isnan(g) && isnan(v), "%s: out[%lld,%lld] %.9g vs generic %.9g", what,
                           (long long)i, (long long)j, v, g);
                continue;
            }
            const double tol = 2e-5 * absterms + 2.0 * ref_half_ulp_rel(ot) * fabs(g) + 1e-30;
            TU_REQUIRE(fabs(g - v) <= tol, "%s: out[%lld,%lld] %.9g vs generic %.9g (tol %.3g)",
                       what, (long long)i, (long long)j, v, g, tol);
        }
    fp8f_weight_destroy(w1);
    fp8f_weight_destroy(w2);
    fp8f_ctx_destroy(gen);
    fp8f_ctx_destroy(lv);
    free(a.data), free(wq.data), free(ws), free(bt.data), free(o1.data), free(o2.data);
    free(qa.q.data), free(qa.scale);
}

START_TEST(gemm_levels) {
    if (skip_level(_i))
        return;
    tu_rng rng;
    tu_rng_seed(&rng, 777 + (uint64_t)_i);
    /* every decode row count (1..8: each has its own unrolled kernel), row
     * groups of the decode (9, 17, 32; up to 192 on Zen 4), then the
     * blocked sizes (amx: the streamed tiles up to 64 rows, in groups of
     * 32, blocked from 65; Zen 4's first blocked size 193); the last: two
     * row blocks of the framework (CPU_GEMM_MC rows and a few) */
    static const int64_t ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 32, 33, 64, 65, 193, CPU_GEMM_MC + 88};
    static const int64_t ns[] = {1, 31, 32, 67};
    static const int64_t ks[] = {1, 2, 31, 64, 515};
    int idx = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++, idx++) {
                if (ms[mi] > 128 && (ks[ki] < 64 || ns[ni] < 32))
                    continue; /* keep the big-M cases few */
                const fp8f_dtype ctx_fp8 = idx % 3 == 0 ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
                const fp8f_dtype w_fp8 = idx % 5 == 0 ? FP8F_E4M3FN : ctx_fp8;
                gemm_case(_i, ctx_fp8, w_fp8, ms[mi], ns[ni], ks[ki], fdt[idx % 3],
                          fdt[(idx / 3) % 3], idx % 2, 0, &rng);
            }
    /* a K beyond one converted block, and weights holding a NaN code */
    gemm_case(_i, FP8F_E4M3FN, FP8F_E4M3FN, 20, 64, 1100, FP8F_BF16, FP8F_F32, 1, 0, &rng);
    gemm_case(_i, FP8F_E4M3FN, FP8F_E4M3FN, 3, 40, 70, FP8F_BF16, FP8F_F32, 0, 1, &rng);
    gemm_case(_i, FP8F_E4M3FNUZ, FP8F_E4M3FNUZ, 12, 40, 70, FP8F_F32, FP8F_BF16, 1, 1, &rng);
}
END_TEST

/* Every finite activation code through the GEMM: each row of a dense f32
 * activation holds the value of every finite code of fp8 once (the largest
 * among them, so the row's scale is exactly 1 and each value quantizes to
 * its own code), code i at column (37 i + 11 r) mod K, zeros elsewhere;
 * times an identity weight with unit scales, out must be the activation
 * itself. K = 300: the codes fall in whole 64-code blocks and in the row's
 * tail, which the bf16 levels (avx512bf16, amx) convert differently. */
static void check_every_activation_code(int level, fp8f_dtype fp8) {
    enum { M = 12, K = 300 };
    fp8f_ctx *ctx = ctx_at(level, fp8);
    const char *name = fp8f_cpu_isa_name((enum cpu_isa)level);
    float *x = calloc((size_t)M * K, sizeof(float)), *sw = xmalloc(sizeof(float) * K),
          *out = xmalloc(sizeof(float) * M * K);
    uint8_t *wcodes = calloc((size_t)K * K, 1);
    ck_assert(x && wcodes);
    const uint8_t one = fp8 == FP8F_E4M3FNUZ ? 0x40 : 0x38;
    ck_assert(ref_fp8_decode(fp8, one) == 1.0);
    for (int r = 0; r < M; r++)
        for (int i = 0; i < 256; i++)
            if (!ref_fp8_is_nan(fp8, (uint8_t)i))
                x[r * K + (37 * i + 11 * r) % K] = (float)ref_fp8_decode(fp8, (uint8_t)i);
    for (int n = 0; n < K; n++) {
        wcodes[n * K + n] = one;
        sw[n] = 1.0f;
    }
    fp8f_tensor wq = {wcodes, fp8, K, K, K};
    fp8f_weight *w;
    ck_assert(fp8f_weight_create(ctx, &wq, sw, NULL, &w) == FP8F_OK);
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = {x, FP8F_F32, M, K, K}};
    fp8f_tensor o = {out, FP8F_F32, M, K, K};
    ck_assert_msg(fp8f_linear_ptpc(ctx, &act, w, &o) == FP8F_OK, "[%s] %s", name,
                  fp8f_last_error(ctx));
    for (int r = 0; r < M; r++)
        for (int n = 0; n < K; n++)
            TU_REQUIRE(out[r * K + n] == x[r * K + n], "[%s] %s: out[%d, %d] = %.9g, expected %.9g",
                       name, fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", r, n, out[r * K + n],
                       x[r * K + n]);
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
    free(x), free(wcodes), free(sw), free(out);
}

START_TEST(gemm_every_activation_code) {
    if (skip_level(_i))
        return;
    check_every_activation_code(_i, FP8F_E4M3FN);
    check_every_activation_code(_i, FP8F_E4M3FNUZ);
}
END_TEST

/* The GEMM with the caller's MXCSR flushing denormals (DAZ and FTZ, as
 * -ffast-math or a framework's flush-denormal switch leave it): the same
 * results on every level, subnormal weight codes included (gemm_case makes
 * one code in seven subnormal). One thread, so that the GEMM runs on the
 * thread whose MXCSR is set. */
START_TEST(gemm_levels_flushing_denormals) {
    if (skip_level(_i))
        return;
#if defined(__x86_64__) || defined(__i386__)
    tu_rng rng;
    tu_rng_seed(&rng, 919 + (uint64_t)_i);
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
    ctx_threads = 1;
    static const int64_t ms[] = {1, 5, 40, 65};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        gemm_case(_i, FP8F_E4M3FN, FP8F_E4M3FN, ms[i], 67, 130, FP8F_BF16, FP8F_F32, 0, 0, &rng);
        gemm_case(_i, FP8F_E4M3FNUZ, FP8F_E4M3FNUZ, ms[i], 32, 64, FP8F_F32, FP8F_F32, 1, 0,
                  &rng);
    }
    ctx_threads = 0;
    _mm_setcsr(csr);
#else
    printf("test_cpu_isa: SKIP the MXCSR case: not an x86 CPU\n");
#endif
}
END_TEST

/* row[0..n) in even/odd order (cpu_isa.h: row_norm_bf16_eo) into eo. */
static void to_even_odd(const float *row, int64_t n, float *eo) {
    int64_t c = 0;
    for (; c + 64 <= n; c += 64)
        for (int half = 0; half < 64; half += 32)
            for (int i = 0; i < 16; i++) {
                eo[c + half + i] = row[c + half + 2 * i];
                eo[c + half + 16 + i] = row[c + half + 2 * i + 1];
            }
    for (; c < n; c++)
        eo[c] = row[c];
}

/* Quotients y / scale that land within a few f32 ulp of a rounding boundary
 * between two fp8 codes (every midpoint of each fp8 type, and the fp8
 * subnormal range), for scales that are not powers of two: each code must
 * be the codec's of the IEEE f32 quotient, so a SIMD encoder that divides
 * approximately (a reciprocal, a multiply) fails here. The level's
 * dividing encode (row_encode_div, which the API uses only on CPUs that
 * divide fast) is called directly on the same rows, so every machine
 * tests it, and both encodes once more with the stream hint (the API
 * streams only outputs of 1 MiB and more) into a 64-byte aligned row. A
 * level with an even/odd encode (row_encode_eo) encodes the same values
 * given in even/odd order. */
static void check_near_boundaries(int level, fp8f_dtype fp8) {
    static const float amaxes[] = {1.0f, 3.14159274f, 0.0123456791f, 97.3000031f, 1.37e-6f,
                                   5.55e+12f};
    fp8f_ctx *ctx = ctx_at(level, fp8);
    const float fmax = fp8f_fp8_max(fp8);
    enum { OFFSETS = 13, MAXCOLS = 128 * 2 * (OFFSETS + 1) * 2 + 1 };
    float *row = xmalloc(sizeof(float) * MAXCOLS);
    enum { ALIGNED_COLS = (MAXCOLS + 63) / 64 * 64 };
    uint8_t *codes = xmalloc(MAXCOLS), *divided = xmalloc(MAXCOLS);
    uint8_t *streamed = aligned_alloc(64, ALIGNED_COLS),
            *streamed_div = aligned_alloc(64, ALIGNED_COLS), *from_eo = xmalloc(MAXCOLS);
    float *row_eo = xmalloc(sizeof(float) * MAXCOLS);
    ck_assert(streamed && streamed_div);
    for (size_t ai = 0; ai < sizeof amaxes / sizeof *amaxes; ai++) {
        const float amax = amaxes[ai];
        /* the scale the library documents: amax / fp8 max (DESIGN.md) */
        const float scale = fmaxf(amax / fmax, 1.0f / (fmax * 512.0f));
        int64_t n = 0;
        row[n++] = amax;
        for (unsigned c = 0; c < 0x7f; c++) {
            const float lo = fp8f_decode_fp8(fp8, (uint8_t)c),
                        hi = fp8f_decode_fp8(fp8, (uint8_t)(c + 1));
            if (isnan(hi) || hi >= fmax)
                break;
            const float mid = (lo + hi) / 2.0f; /* exact: 4 significant bits */
            for (int sign = 0; sign < 2; sign++) {
                float v = mid * scale;
                for (int d = 0; d < OFFSETS / 2; d++)
                    v = nextafterf(v, 0.0f);
                for (int d = 0; d < OFFSETS; d++, v = nextafterf(v, INFINITY))
                    if (fabsf(v) <= amax)
                        row[n++] = sign ? -v : v;
                /* a zero of either sign among them: 0 codes apart from
                 * the near-boundary path a SIMD encoder may take */
                row[n++] = sign ? -0.0f : 0.0f;
            }
        }
        fp8f_tensor x = {row, FP8F_F32, 1, n, n};
        float got_scale = 0.0f;
        fp8f_qtensor q = {{codes, fp8, 1, n, n}, &got_scale, FP8F_QF_NONE};
        ck_assert(fp8f_quant_per_token(ctx, &x, NULL, &q) == FP8F_OK);
        ck_assert_msg(got_scale == scale, "[%s] amax %g: scale %.9g, expected %.9g",
                      fp8f_cpu_isa_name((enum cpu_isa)level), amax, got_scale, scale);
        enum cpu_isa used;
        const struct cpu_kernels *kr = fp8f_cpu_kernels_for((enum cpu_isa)level, &used);
        kr->row_encode(row, n, scale, fp8, streamed, 1);
        if (kr->row_encode_div) {
            kr->row_encode_div(row, n, scale, fp8, divided, 0);
            kr->row_encode_div(row, n, scale, fp8, streamed_div, 1);
        }
        if (kr->store_fence)
            kr->store_fence();
        if (kr->row_encode_eo) {
            to_even_odd(row, n, row_eo);
            kr->row_encode_eo(row_eo, n, scale, fp8, from_eo, 0);
        }
        for (int64_t i = 0; i < n; i++) {
            const uint8_t want = fp8f_encode_fp8(fp8, row[i] / scale);
            ck_assert_msg(streamed[i] == want,
                          "[%s] row_encode streamed, amax %g: y %.9g -> code 0x%02x, expected "
                          "0x%02x",
                          fp8f_cpu_isa_name(used), amax, row[i], streamed[i], want);
            ck_assert_msg(!kr->row_encode_eo || from_eo[i] == want,
                          "[%s] row_encode_eo, amax %g: y %.9g -> code 0x%02x, expected 0x%02x",
                          fp8f_cpu_isa_name(used), amax, row[i], from_eo[i], want);
            ck_assert_msg(!kr->row_encode_div || (divided[i] == want && streamed_div[i] == want),
                          "[%s] row_encode_div, amax %g: y %.9g -> codes 0x%02x / 0x%02x "
                          "streamed, expected 0x%02x",
                          fp8f_cpu_isa_name(used), amax, row[i], divided[i], streamed_div[i], want);
            ck_assert_msg(codes[i] == want,
                          "[%s] %s amax %g: y %.9g (y / scale %.9g) -> code 0x%02x, expected "
                          "0x%02x",
                          fp8f_cpu_isa_name((enum cpu_isa)level),
                          fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", amax, row[i], row[i] / scale,
                          codes[i], want);
        }
    }
    free(row);
    free(codes);
    free(divided);
    free(streamed);
    free(streamed_div);
    free(from_eo);
    free(row_eo);
    fp8f_ctx_destroy(ctx);
}

START_TEST(encode_near_boundaries) {
    if (skip_level(_i))
        return;
    check_near_boundaries(_i, FP8F_E4M3FN);
    check_near_boundaries(_i, FP8F_E4M3FNUZ);
}
END_TEST

/* Every encode of a level (row_encode, row_encode_div, row_encode_eo given
 * the same values in even/odd order) against the codec, on rows of
 * ordinary values (|y| up to amax) with one value of each class an encoder
 * may treat apart planted at lanes that move from block to block: both
 * zeros, the fp8 subnormal range and the edge of the normal one, values
 * that saturate (a clamping scale_ub makes them) up to FLT_MAX, Infs and
 * NaNs (quiet and signaling). Between them stay whole 64-value blocks of
 * ordinary values, and the row ends in a tail. */
static void check_encode_classes(const struct cpu_kernels *kr, fp8f_dtype fp8, tu_rng *rng) {
    const float fmax = fp8f_fp8_max(fp8), normal_min = fp8 == FP8F_E4M3FNUZ ? 0x1p-7f : 0x1p-6f;
    static const float amaxes[] = {1.0f, 3.14159274f, 0.0123456791f, 5.55e+12f};
    /* y / scale of the planted values (0 among them); the special ones follow */
    const float of_scale[] = {0.0f,          normal_min * 0.25f, normal_min * 0.99f,
                              normal_min,    normal_min * 1.01f, fmax * 0.999f,
                              fmax,          fmax * 1.02f,       fmax * 1.0357f,
                              fmax * 1.0714f, fmax * 1.1f,       fmax * 1000.0f};
    const float special[] = {-0.0f, FLT_MAX, INFINITY, -INFINITY, NAN};
    enum { CLASSES = 12 + 5 + 1, N = 64 * 2 * CLASSES + 37 };
    float *y = xmalloc(sizeof(float) * N), *y_eo = xmalloc(sizeof(float) * N);
    uint8_t *q = xmalloc(N), *q_div = xmalloc(N), *q_eo = xmalloc(N);
    for (size_t ai = 0; ai < sizeof amaxes / sizeof *amaxes; ai++) {
        const float amax = amaxes[ai], scale = amax / fmax;
        for (int i = 0; i < N; i++)
            y[i] = (float)(tu_rng_uniform(rng) * 2.0 - 1.0) * amax;
        /* class c in block 2c (block 2c + 1 stays ordinary), at lane 7c mod 64 */
        for (int c = 0; c < CLASSES; c++) {
            const int at = 128 * c + (7 * c) % 64;
            const float sign = c % 2 ? -1.0f : 1.0f;
            if (c < 12)
                y[at] = sign * of_scale[c] * scale;
            else if (c < 17)
                y[at] = special[c - 12];
            else
                put_signaling_nan(&(fp8f_tensor){y, FP8F_F32, 1, N, N}, 0, at);
        }
        y[N - 5] = -0.0f; /* and in the tail */
        y[N - 3] = fmax * 2.0f * scale;
        kr->row_encode(y, N, scale, fp8, q, 0);
        if (kr->row_encode_div)
            kr->row_encode_div(y, N, scale, fp8, q_div, 0);
        if (kr->row_encode_eo) {
            to_even_odd(y, N, y_eo);
            kr->row_encode_eo(y_eo, N, scale, fp8, q_eo, 0);
        }
        for (int i = 0; i < N; i++) {
            const uint8_t want = fp8f_encode_fp8(fp8, y[i] / scale);
#define SAME_CODE(got) ((got) == want || (code_nan(fp8, got) && code_nan(fp8, want)))
            TU_REQUIRE(SAME_CODE(q[i]) && (!kr->row_encode_div || SAME_CODE(q_div[i])) &&
                           (!kr->row_encode_eo || SAME_CODE(q_eo[i])),
                       "[%s] %s amax %g: y[%d] %.9g (y / scale %.9g) -> 0x%02x / 0x%02x divided "
                       "/ 0x%02x even-odd, expected 0x%02x",
                       kr->name, fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", amax, i, y[i],
                       y[i] / scale, q[i], kr->row_encode_div ? q_div[i] : want,
                       kr->row_encode_eo ? q_eo[i] : want, want);
#undef SAME_CODE
        }
    }
    free(y), free(y_eo), free(q), free(q_div), free(q_eo);
}

START_TEST(encode_value_classes) {
    if (skip_level(_i))
        return;
    enum cpu_isa used;
    const struct cpu_kernels *kr = fp8f_cpu_kernels_for((enum cpu_isa)_i, &used);
    tu_rng rng;
    tu_rng_seed(&rng, 1234);
    check_encode_classes(kr, FP8F_E4M3FN, &rng);
    check_encode_classes(kr, FP8F_E4M3FNUZ, &rng);
}
END_TEST

/* The bf16 quantization by table (row_encode_bf16) against the codec, for
 * every bf16 bit pattern (NaNs, Infs, subnormals and both zeros among
 * them), at scales from the smallest the library uses to one near the
 * largest float: each code must be the codec's of the IEEE f32 quotient.
 * The row is encoded whole, then from an odd offset with an odd length (a
 * tail, blocks not 64-byte aligned) and streamed into an aligned buffer.
 * The bits-based amax (row_amax_bf16) must be the NaN-ignoring max |x|. */
static void check_bf16_table(const struct cpu_kernels *kr, const char *name, fp8f_dtype fp8) {
    static const float amaxes[] = {1.0f,      3.14159274f, 0.0123456791f, 97.3000031f, 1.37e-6f,
                                   5.55e+12f, 1.5f,        448.0f,        3.0e38f,     2.5e-30f};
    enum { N = 65536, OFF = 3, CUT = 10 };
    uint16_t *x = xmalloc(sizeof(uint16_t) * N);
    uint8_t *codes = xmalloc(N), *part = xmalloc(N), *streamed = aligned_alloc(64, N);
    ck_assert(streamed);
    for (int i = 0; i < N; i++)
        x[i] = (uint16_t)i;
    const float fmax = fp8f_fp8_max(fp8);
    for (size_t ai = 0; ai < sizeof amaxes / sizeof *amaxes; ai++) {
        const float scale = fmaxf(amaxes[ai] / fmax, 1.0f / (fmax * 512.0f));
        struct cpu_bf16_codes t;
        ck_assert_msg(kr->bf16_codes_prepare(scale, fp8, &t), "[%s] no table for scale %g",
                      name, scale);
        kr->row_encode_bf16(x, N, &t, codes, 0);
        kr->row_encode_bf16(x + OFF, N - OFF - CUT, &t, part + OFF, 0);
        kr->row_encode_bf16(x, N, &t, streamed, 1);
        kr->store_fence();
        for (int i = 0; i < N; i++) {
            const uint8_t want = fp8f_encode_fp8(fp8, fp8f_bf16_to_f32(x[i]) / scale);
            const int in_part = i >= OFF && i < N - CUT;
            TU_REQUIRE(codes[i] == want && streamed[i] == want && (!in_part || part[i] == want),
                       "[%s] %s scale %.9g: bf16 0x%04x -> 0x%02x / 0x%02x streamed / 0x%02x "
                       "offset, expected 0x%02x",
                       name, fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", scale, x[i], codes[i],
                       streamed[i], in_part ? part[i] : want, want);
        }
    }
    /* no table for a scale whose quotients are not normal floats */
    struct cpu_bf16_codes t;
    ck_assert(!kr->bf16_codes_prepare(INFINITY, fp8, &t));
    ck_assert(!kr->bf16_codes_prepare(NAN, fp8, &t));
    ck_assert(!kr->bf16_codes_prepare(1e-40f, fp8, &t));
    /* amax: rows of every length up to 70, and 5120, random patterns */
    tu_rng rng;
    tu_rng_seed(&rng, 77);
    for (int n = 1; n <= 5120; n = n < 70 ? n + 1 : 5120) {
        for (int i = 0; i < n; i++)
            x[i] = (uint16_t)(tu_rng_next(&rng) >> 16);
        float want = 0.0f; /* NaN-ignoring (fmaxf is not, for a signaling NaN) */
        for (int i = 0; i < n; i++)
            if (fabsf(fp8f_bf16_to_f32(x[i])) > want)
                want = fabsf(fp8f_bf16_to_f32(x[i]));
        const float got = kr->row_amax_bf16(x, n);
        ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "[%s] amax of %d: %g, expected %g",
                      name, n, got, want);
        if (n == 5120)
            break;
    }
    free(x), free(codes), free(part), free(streamed);
}

START_TEST(bf16_quant_table) {
    if (skip_level(_i))
        return;
    enum cpu_isa used;
    const struct cpu_kernels *kr = fp8f_cpu_kernels_for((enum cpu_isa)_i, &used);
    if (!kr->row_encode_bf16)
        return; /* this level divides (row_encode) */
    check_bf16_table(kr, fp8f_cpu_isa_name(used), FP8F_E4M3FN);
    check_bf16_table(kr, fp8f_cpu_isa_name(used), FP8F_E4M3FNUZ);
}
END_TEST

/* The sum of squares of every level's row_add_ss, bit for bit the generic
 * one's (the canonical order of cpu_isa.h), for every length up to 100 and
 * from 5120 to 5183 (every tail, after lanes that have summed enough
 * squares to round), each dtype, with and without a residual (which must
 * come back the same too). The values span 2^-8..2^8, so that sums of a
 * few squares are not exact either. The API checks above see the sum only
 * through inv_rms, which a different order often leaves unchanged. */
START_TEST(sum_of_squares_order) {
    if (skip_level(_i))
        return;
    enum cpu_isa used;
    const struct cpu_kernels *kr = fp8f_cpu_kernels_for((enum cpu_isa)_i, &used);
    const struct cpu_kernels *gen = fp8f_cpu_kernels_for(CPU_ISA_GENERIC, &used);
    tu_rng rng;
    tu_rng_seed(&rng, 991);
    enum { MAXN = 5183 };
    float *xf = xmalloc(sizeof(float) * MAXN), *rf = xmalloc(sizeof(float) * MAXN);
    char *x = xmalloc(4 * MAXN), *r1 = xmalloc(4 * MAXN), *r2 = xmalloc(4 * MAXN);
    for (int di = 0; di < 3; di++)
        for (int n = 1; n <= MAXN; n = n == 100 ? 5120 : n + 1) {
            const fp8f_dtype t = fdt[di];
            for (int c = 0; c < n; c++) {
                xf[c] = (float)ldexp(tu_rng_uniform(&rng) * 2.0 - 1.0,
                                     (int)(tu_rng_next(&rng) % 17) - 8);
                rf[c] = (float)ldexp(tu_rng_uniform(&rng) * 2.0 - 1.0,
                                     (int)(tu_rng_next(&rng) % 17) - 8);
                fp8f_store_float(t, x, c, xf[c]);
                fp8f_store_float(t, r1, c, rf[c]);
            }
            memcpy(r2, r1, (size_t)n * fp8f_dtype_size(t));
            for (int withres = 0; withres < 2; withres++) {
                const float a = gen->row_add_ss(x, t, withres ? r1 : NULL, t, n);
                const float b = kr->row_add_ss(x, t, withres ? r2 : NULL, t, n);
                ck_assert_msg(memcmp(&a, &b, sizeof a) == 0 &&
                                  memcmp(r1, r2, (size_t)n * fp8f_dtype_size(t)) == 0,
                              "[%s] %s n %d%s: sum %.9g, generic %.9g", kr->name,
                              ref_dtype_name(t), n, withres ? " +res" : "", b, a);
            }
        }
    free(xf), free(rf), free(x), free(r1), free(r2);
}
END_TEST

/* The L1d size the GEMM's block size goes by (kernels_avx512bf16.c), from
 * our own cpuid reading: glibc's where it tells one on x86 (its own cpuid
 * code), else 0 (not read off other CPUs) or a plausible size. */
START_TEST(l1d_size) {
    const size_t ours = fp8f_cpu_isa_l1d_bytes();
    long libc = -1;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    libc = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
    printf("test_cpu_isa: L1d %zu bytes (libc: %ld)\n", ours, libc);
#if defined(__x86_64__) || defined(__i386__)
    if (libc > 0)
        ck_assert_msg(ours == (size_t)libc, "L1d %zu bytes, libc says %ld", ours, libc);
    else
#endif
        ck_assert_msg(ours == 0 || (ours >= 8192 && ours <= 1 << 20 && ours % 1024 == 0),
                      "L1d %zu bytes", ours);
}
END_TEST

START_TEST(isa_names_and_env) {
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        ck_assert_int_eq(fp8f_cpu_isa_from_name(fp8f_cpu_isa_name((enum cpu_isa)i)), i);
    ck_assert_int_eq(fp8f_cpu_isa_from_name("sse9"), -1);
    setenv("FP8F_CPU_ISA", "sse9", 1);
    fp8f_options opt = {0};
    opt.backend = FP8F_BACKEND_CPU;
    fp8f_ctx *ctx = NULL;
    fp8f_status s = fp8f_ctx_create(&opt, &ctx);
    unsetenv("FP8F_CPU_ISA");
    ck_assert_int_eq(s, FP8F_E_INVALID);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(fp8f_last_error(NULL), "FP8F_CPU_ISA"));
    /* every supported level is chosen as asked, or the next lower one this
     * build has kernels for */
    printf("test_cpu_isa: CPU %s; supports %s; features: %s\n", fp8f_cpu_isa_model(),
           fp8f_cpu_isa_name(fp8f_cpu_isa_detect()), fp8f_cpu_isa_features());
    for (int i = 0; i <= (int)fp8f_cpu_isa_detect(); i++) {
        ctx = ctx_at(i, 0);
        char desc[512], want[64];
        ctx->be.ops->describe(&ctx->be, desc, sizeof desc);
        /* the level asked for, or the next lower one whose kernels this
         * build compiled (a compiler without the -m flags builds without) */
        enum cpu_isa used;
        (void)fp8f_cpu_kernels_for((enum cpu_isa)i, &used);
        snprintf(want, sizeof want, "isa %s ", fp8f_cpu_isa_name(used));
        printf("test_cpu_isa: %s -> %s\n", fp8f_cpu_isa_name((enum cpu_isa)i), desc);
        ck_assert_msg(strstr(desc, want) != NULL, "asked for %s, got \"%s\"",
                      fp8f_cpu_isa_name((enum cpu_isa)i), desc);
        fp8f_ctx_destroy(ctx);
    }
}
END_TEST

static Suite *cpu_isa_suite(void) {
    Suite *s = suite_create("cpu_isa");
    TCase *tc = tu_tcase("levels");
    tcase_add_test(tc, isa_names_and_env);
    tcase_add_test(tc, l1d_size);
    tcase_add_loop_test(tc, norm_quant_levels, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, gemm_levels, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, gemm_every_activation_code, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, gemm_levels_flushing_denormals, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, encode_near_boundaries, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, encode_value_classes, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, bf16_quant_table, 0, CPU_ISA_COUNT);
    tcase_add_loop_test(tc, sum_of_squares_order, 0, CPU_ISA_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(cpu_isa_suite()); }
