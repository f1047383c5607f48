/*
 * fp8f_quant_per_token against the double reference: every input dtype,
 * both fp8 types, with and without scale_ub, strides larger than cols,
 * M = 0, H = 1, all-zero rows (minimum scale, zero codes), huge values and
 * saturation through scale_ub, NaN/Inf rows (affecting only their row).
 * Codes may differ from the reference by one step in at most 1 in 1000
 * elements; scales agree within 1e-6 relative.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

static const fp8f_dtype float_types[3] = {FP8F_BF16, FP8F_F16, FP8F_F32};
static const fp8f_dtype fp8_types[2] = {FP8F_E4M3FN, FP8F_E4M3FNUZ};

enum special { SP_NONE = 0, SP_ZERO, SP_NEG_ZERO, SP_NAN, SP_INF, SP_HUGE, SP_TINY };

typedef struct quant_case {
    int64_t rows, cols, pad;
    fp8f_dtype xt, fp8;
    int has_ub;
    float ub;
    double sigma;
    uint64_t seed;
    const enum special *rows_kind;
} quant_case;

/* The largest magnitudes used per dtype: near the top of its range. */
static double huge_value(fp8f_dtype t) {
    switch (t) {
    case FP8F_F16:
        return 60000.0;
    case FP8F_BF16:
        return 1e38;
    default:
        return 3e38;
    }
}

static void make_special(tu_tensor *x, int64_t r, enum special k, tu_rng *rng) {
    const int64_t n = x->h.cols;
    for (int64_t c = 0; c < n; c++) {
        switch (k) {
        case SP_ZERO:
            tu_set(x, r, c, 0.0);
            break;
        case SP_NEG_ZERO:
            tu_set(x, r, c, -0.0);
            break;
        case SP_HUGE:
            tu_set(x, r, c, huge_value(x->h.dtype) * tu_rng_range(rng, -1.0, 1.0));
            break;
        case SP_TINY: /* amax far below MAX * 512 * min scale: the minimum scale */
            tu_set(x, r, c, 1e-7 * tu_rng_range(rng, -1.0, 1.0));
            break;
        default:
            break;
        }
    }
    if (k == SP_NAN)
        tu_set(x, r, tu_rng_int(rng, (int)n), NAN);
    if (k == SP_INF) {
        tu_set(x, r, tu_rng_int(rng, (int)n), INFINITY);
        tu_set(x, r, tu_rng_int(rng, (int)n), -INFINITY);
    }
}

static void run_quant_case(fp8f_ctx *ctx, const quant_case *qc, const char *what) {
    tu_rng rng;
    tu_rng_seed(&rng, qc->seed);
    const int64_t rows = qc->rows, cols = qc->cols;
    tu_tensor *x = tu_tensor_new(ctx, qc->xt, rows, cols, cols + qc->pad);
    tu_qtensor *q = tu_qtensor_new(ctx, qc->fp8, rows, cols, cols + qc->pad + 1);
    tu_fill_normal(x, &rng, qc->sigma);
    unsigned char *skip = calloc((size_t)rows + 1, 1);
    for (int64_t r = 0; r < rows && qc->rows_kind; r++) {
        make_special(x, r, qc->rows_kind[r], &rng);
        /* NaN rows have no defined result; Inf rows only with scale_ub
         * (without it the scale is Inf) */
        skip[r] = qc->rows_kind[r] == SP_NAN || (qc->rows_kind[r] == SP_INF && !qc->has_ub);
    }
    tu_upload(x);

    double *y = malloc((size_t)(rows * cols + 1) * sizeof(double));
    double *scale = malloc((size_t)(rows + 1) * sizeof(double));
    uint8_t *codes = malloc((size_t)(rows * cols + 1));
    double ub = qc->ub;
    ref_load_all(&x->h, y);
    ref_quant(y, rows, cols, qc->fp8, qc->has_ub ? &ub : NULL, codes, scale);

    fp8f_status s = fp8f_quant_per_token(ctx, &x->t, qc->has_ub ? &qc->ub : NULL, &q->qt);
    ck_assert_msg(s == FP8F_OK, "%s: %s: %s", what, fp8f_status_str(s), fp8f_last_error(ctx));
    ck_assert_msg(q->qt.format == FP8F_QF_FP8_PER_TOKEN, "%s: format not set", what);
    tu_qtensor_download(q);
    tu_check_quant(q, codes, scale, 1e-6, skip, what);
    ck_assert_msg(tu_untouched(x), "%s: x was modified", what);

    /* zero rows: the minimum scale and zero codes */
    const double min_scale = 1.0 / (ref_fp8_max(qc->fp8) * 512.0);
    for (int64_t r = 0; r < rows && qc->rows_kind; r++) {
        enum special k = qc->rows_kind[r];
        if (k != SP_ZERO && k != SP_NEG_ZERO && k != SP_TINY)
            continue;
        double sc = tu_buf_f32(q->scale, (size_t)r);
        ck_assert_msg(fabs(sc - min_scale) <= 1e-6 * min_scale, "%s: zero row %lld scale %g",
                      what, (long long)r, sc);
        for (int64_t c = 0; c < cols && k != SP_TINY; c++) {
            uint8_t code = tu_code(q->q, r, c);
            TU_REQUIRE(ref_fp8_decode(qc->fp8, code) == 0.0, "%s: zero row %lld code 0x%02x",
                       what, (long long)r, code);
            if (k == SP_ZERO)
                TU_REQUIRE(code == 0x00, "%s: +0 gives code 0x%02x", what, code);
        }
    }
    free(y);
    free(scale);
    free(codes);
    free(skip);
    tu_tensor_free(x);
    tu_qtensor_free(q);
}

/* _i: input dtype x fp8 type x scale_ub */
START_TEST(dtype_combinations) {
    fp8f_ctx *ctx = tu_ctx_create();
    quant_case qc = {.rows = 9, .cols = 133, .pad = 3, .xt = float_types[_i % 3],
                     .fp8 = fp8_types[(_i / 3) % 2], .has_ub = _i / 6, .ub = 1.5f,
                     .sigma = 1.0, .seed = 200 + (uint64_t)_i};
    char what[128];
    snprintf(what, sizeof what, "quant x %s -> %s, %s", ref_dtype_name(qc.xt),
             ref_dtype_name(qc.fp8), qc.has_ub ? "scale_ub 1.5" : "no scale_ub");
    run_quant_case(ctx, &qc, what);
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(larger_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        quant_case qc = {.rows = 32, .cols = 700, .pad = 0, .xt = FP8F_BF16, .fp8 = fp8_types[i],
                         .sigma = 10.0, .seed = 300 + (uint64_t)i};
        run_quant_case(ctx, &qc, i ? "quant 32 x 700 fnuz" : "quant 32 x 700 fn");
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Outputs of 1 MiB of codes and more, which the CPU backend writes around
 * the caches (non-temporal stores), with rows on and off 64-byte lines;
 * f32 rows are encoded in place, bf16 ones from a widened copy. */
START_TEST(streamed_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        quant_case qc = {.rows = 160, .cols = 6656, .pad = i ? 5 : 0,
                         .xt = i ? FP8F_F32 : FP8F_BF16, .fp8 = fp8_types[i], .sigma = 10.0,
                         .seed = 310 + (uint64_t)i};
        run_quant_case(ctx, &qc,
                       i ? "quant 160 x 6656 f32, padded rows, fnuz" : "quant 160 x 6656 fn");
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Zero rows (+0 and -0), rows too small for the minimum scale, huge rows,
 * NaN and Inf rows; the others must be unaffected. */
START_TEST(special_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    static const enum special kinds[9] = {SP_ZERO, SP_NONE, SP_NAN,  SP_HUGE,   SP_INF,
                                          SP_NONE, SP_TINY, SP_NONE, SP_NEG_ZERO};
    for (int i = 0; i < 12; i++) {
        quant_case qc = {.rows = 9, .cols = 65, .pad = 2, .xt = float_types[i % 3],
                         .fp8 = fp8_types[(i / 3) % 2], .has_ub = i / 6, .ub = 0.75f,
                         .sigma = 1.0, .seed = 400 + (uint64_t)i, .rows_kind = kinds};
        char what[128];
        snprintf(what, sizeof what, "quant special rows x %s -> %s, %s", ref_dtype_name(qc.xt),
                 ref_dtype_name(qc.fp8), qc.has_ub ? "scale_ub" : "no scale_ub");
        run_quant_case(ctx, &qc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* scale_ub below the row's amax: the scale is ub / MAX and the values above
 * ub saturate to +-MAX (no NaN, no wrap-around). */
START_TEST(scale_ub_saturates) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        const fp8f_dtype fp8 = fp8_types[i];
        quant_case qc = {.rows = 6, .cols = 200, .xt = FP8F_F32, .fp8 = fp8, .has_ub = 1,
                         .ub = 0.05f, .sigma = 1.0, .seed = 500 + (uint64_t)i};
        run_quant_case(ctx, &qc, i ? "quant saturation fnuz" : "quant saturation fn");
        /* the same data once more, to count the saturated codes */
        tu_rng rng;
        tu_rng_seed(&rng, qc.seed);
        tu_tensor *x = tu_tensor_new(ctx, FP8F_F32, qc.rows, qc.cols, 0);
        tu_qtensor *q = tu_qtensor_new(ctx, fp8, qc.rows, qc.cols, 0);
        tu_fill_normal(x, &rng, 1.0);
        ck_assert_int_eq(fp8f_quant_per_token(ctx, &x->t, &qc.ub, &q->qt), FP8F_OK);
        tu_qtensor_download(q);
        const int maxc = fp8 == FP8F_E4M3FNUZ ? 0x7f : 0x7e;
        int64_t saturated = 0;
        for (int64_t r = 0; r < qc.rows; r++) {
            ck_assert_double_eq_tol(tu_buf_f32(q->scale, (size_t)r),
                                    0.05 / ref_fp8_max(fp8), 1e-6 * 0.05 / ref_fp8_max(fp8));
            for (int64_t c = 0; c < qc.cols; c++) {
                uint8_t code = tu_code(q->q, r, c);
                double v = tu_get(x, r, c);
                ck_assert(!ref_fp8_is_nan(fp8, code));
                if (fabs(v) > 0.05 * 1.07) { /* beyond max + half a step: saturated */
                    TU_REQUIRE((code & 0x7f) == maxc && ((code & 0x80) != 0) == (v < 0),
                               "x = %g gives 0x%02x, not +-max", v, code);
                    saturated++;
                }
            }
        }
        ck_assert_int_gt(saturated, qc.rows * qc.cols / 2);
        tu_tensor_free(x);
        tu_qtensor_free(q);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* H = 1: each element is its row's amax, so its code is +-MAX. */
START_TEST(h_one) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        const fp8f_dtype fp8 = fp8_types[i];
        const double vals[5] = {3.0, -0.01, 1000.0, -7.5, 0.0}; /* |x| > 1/512 */
        tu_tensor *x = tu_tensor_new(ctx, FP8F_F32, 5, 1, 3);
        tu_qtensor *q = tu_qtensor_new(ctx, fp8, 5, 1, 2);
        for (int r = 0; r < 5; r++)
            tu_set(x, r, 0, vals[r]);
        tu_upload(x);
        ck_assert_int_eq(fp8f_quant_per_token(ctx, &x->t, NULL, &q->qt), FP8F_OK);
        tu_qtensor_download(q);
        const double fmax = ref_fp8_max(fp8);
        for (int r = 0; r < 4; r++) {
            uint8_t code = tu_code(q->q, r, 0);
            ck_assert_msg(ref_fp8_decode(fp8, code) == copysign(fmax, vals[r]),
                          "%s: H = 1, x = %g gives code 0x%02x", ref_dtype_name(fp8), vals[r],
                          code);
            ck_assert_double_eq_tol(tu_buf_f32(q->scale, (size_t)r), fabs(vals[r]) / fmax,
                                    1e-6 * fabs(vals[r]) / fmax);
        }
        ck_assert_int_eq(tu_code(q->q, 4, 0), 0);
        ck_assert_double_eq_tol(tu_buf_f32(q->scale, 4), 1.0 / (fmax * 512.0),
                                1e-6 / (fmax * 512.0));
        ck_assert(tu_outside_is_sentinel(q->q));
        tu_tensor_free(x);
        tu_qtensor_free(q);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* M = 0: nothing written, the format still set. */
START_TEST(zero_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    tu_tensor *x = tu_tensor_new(ctx, FP8F_BF16, 0, 32, 0);
    tu_qtensor *q = tu_qtensor_new(ctx, fp8f_ctx_fp8_dtype(ctx), 0, 32, 40);
    float ub = 2.0f;
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &x->t, &ub, &q->qt), FP8F_OK);
    ck_assert_int_eq(q->qt.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert(tu_untouched(x) && tu_qtensor_untouched(q));
    tu_tensor_free(x);
    tu_qtensor_free(q);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* scale_ub above amax changes nothing; at or below it clips. */
START_TEST(scale_ub_above_amax_is_neutral) {
    fp8f_ctx *ctx = tu_ctx_create();
    tu_rng rng;
    tu_rng_seed(&rng, 77);
    tu_tensor *x = tu_tensor_new(ctx, FP8F_BF16, 4, 96, 100);
    tu_qtensor *a = tu_qtensor_new(ctx, FP8F_E4M3FN, 4, 96, 0);
    tu_qtensor *b = tu_qtensor_new(ctx, FP8F_E4M3FN, 4, 96, 0);
    tu_fill_normal(x, &rng, 1.0);
    float big = 1e6f;
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &x->t, NULL, &a->qt), FP8F_OK);
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &x->t, &big, &b->qt), FP8F_OK);
    tu_qtensor_download(a);
    tu_qtensor_download(b);
    ck_assert_mem_eq(a->q->buf->host, b->q->buf->host, a->q->buf->bytes);
    ck_assert_mem_eq(a->scale->host, b->scale->host, 4 * sizeof(float));
    tu_tensor_free(x);
    tu_qtensor_free(a);
    tu_qtensor_free(b);
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *quant_suite(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tu_tcase("dtypes");
    tcase_add_loop_test(tc, dtype_combinations, 0, 12);
    tcase_add_test(tc, larger_rows);
    tcase_add_test(tc, streamed_rows);
    suite_add_tcase(s, tc);
    tc = tu_tcase("edges");
    tcase_add_test(tc, special_rows);
    tcase_add_test(tc, scale_ub_saturates);
    tcase_add_test(tc, h_one);
    tcase_add_test(tc, zero_rows);
    tcase_add_test(tc, scale_ub_above_amax_is_neutral);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(quant_suite()); }
