/*
 * fp8f_rmsnorm_quant against the double reference: x / residual / weight
 * dtypes, with and without residual (the residual output must equal the
 * reference's rounded h exactly), both fp8 types, scale_ub, strides, M = 0,
 * H = 1, odd H, all-zero rows, huge values and saturation, NaN/Inf rows
 * (affecting only their row), and agreement with the unfused path
 * (fp8f_rmsnorm to f32, then fp8f_quant_per_token).
 *
 * Codes may differ from the reference by one step in at most 1 in 1000
 * elements. The scale comes from amax of y, which the library computes in
 * f32: it must agree within 1e-6 relative plus the f32 error bound of the
 * norm (tu_norm_f32_rel).
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

enum special { SP_NONE = 0, SP_ZERO, SP_NAN, SP_INF, SP_HUGE };

typedef struct nq_case {
    int64_t rows, h, pad;
    fp8f_dtype xt, wt, fp8;
    int residual;
    int has_ub;
    float ub, eps;
    double sigma, wlo, whi;
    uint64_t seed;
    const enum special *rows_kind;
} nq_case;

static double huge_value(fp8f_dtype t) { return t == FP8F_F16 ? 20000.0 : 1e15; }

static int same_value(double a, double b) {
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static void make_special(tu_tensor *x, tu_tensor *res, int64_t r, enum special k, tu_rng *rng) {
    const int64_t h = x->h.cols;
    if (k == SP_NAN)
        tu_set(x, r, tu_rng_int(rng, (int)h), NAN);
    if (k == SP_INF)
        tu_set(x, r, tu_rng_int(rng, (int)h), INFINITY);
    for (int64_t c = 0; c < h && (k == SP_ZERO || k == SP_HUGE); c++) {
        double v = k == SP_ZERO ? 0.0 : huge_value(x->h.dtype) * tu_rng_range(rng, -1.0, 1.0);
        tu_set(x, r, c, v);
        if (res)
            tu_set(res, r, c, k == SP_ZERO ? 0.0 : 0.5 * v);
    }
}

static void run_nq_case(fp8f_ctx *ctx, const nq_case *nc, const char *what) {
    tu_rng rng;
    tu_rng_seed(&rng, nc->seed);
    const int64_t rows = nc->rows, h = nc->h;
    tu_tensor *x = tu_tensor_new(ctx, nc->xt, rows, h, h + nc->pad);
    tu_tensor *res = nc->residual ? tu_tensor_new(ctx, nc->xt, rows, h, h + nc->pad + 2) : NULL;
    tu_tensor *w = tu_tensor_new(ctx, nc->wt, 1, h, 0);
    tu_qtensor *q = tu_qtensor_new(ctx, nc->fp8, rows, h, h + nc->pad + 1);
    tu_fill_normal(x, &rng, nc->sigma);
    if (res)
        tu_fill_normal(res, &rng, nc->sigma);
    tu_fill_uniform(w, &rng, nc->wlo, nc->whi);
    unsigned char *skip = calloc((size_t)rows + 1, 1);
    for (int64_t r = 0; r < rows && nc->rows_kind; r++) {
        make_special(x, res, r, nc->rows_kind[r], &rng);
        skip[r] = nc->rows_kind[r] == SP_NAN || nc->rows_kind[r] == SP_INF;
    }
    tu_upload(x);
    if (res)
        tu_upload(res);

    /* reference on host copies */
    double *y = malloc((size_t)(rows * h + 1) * sizeof(double));
    double *scale = malloc((size_t)(rows + 1) * sizeof(double));
    uint8_t *codes = malloc((size_t)(rows * h + 1));
    size_t res_bytes = res ? res->buf->bytes + TU_SLACK : 1;
    unsigned char *res_copy = malloc(res_bytes);
    fp8f_tensor res_ref = {0};
    if (res) {
        memcpy(res_copy, res->buf->host, res_bytes);
        res_ref = res->h;
        res_ref.data = res_copy;
    }
    double ub = nc->ub;
    ref_rmsnorm(&x->h, res ? &res_ref : NULL, &w->h, nc->eps, y, NULL);
    ref_quant(y, rows, h, nc->fp8, nc->has_ub ? &ub : NULL, codes, scale);

    fp8f_status s = fp8f_rmsnorm_quant(ctx, &x->t, res ? &res->t : NULL, &w->t, nc->eps,
                                       nc->has_ub ? &nc->ub : NULL, &q->qt);
    ck_assert_msg(s == FP8F_OK, "%s: %s: %s", what, fp8f_status_str(s), fp8f_last_error(ctx));
    ck_assert_msg(q->qt.format == FP8F_QF_FP8_PER_TOKEN, "%s: format not set", what);
    tu_qtensor_download(q);
    tu_check_quant(q, codes, scale, 1e-6 + tu_norm_f32_rel(h), skip, what);
    if (res) {
        tu_download(res);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < h; c++) {
                double got = tu_get(res, r, c), want = ref_load(&res_ref, r, c);
                TU_REQUIRE(same_value(got, want),
                           "%s: residual[%lld,%lld] = %.9g, reference rounded h %.9g", what,
                           (long long)r, (long long)c, got, want);
            }
        ck_assert_msg(tu_outside_is_sentinel(res), "%s: residual written outside", what);
    }
    ck_assert_msg(tu_untouched(x), "%s: x was modified", what);
    ck_assert_msg(tu_untouched(w), "%s: weight was modified", what);
    /* zero rows: minimum scale, zero codes */
    const double min_scale = 1.0 / (ref_fp8_max(nc->fp8) * 512.0);
    for (int64_t r = 0; r < rows && nc->rows_kind; r++) {
        if (nc->rows_kind[r] != SP_ZERO)
            continue;
        ck_assert_double_eq_tol(tu_buf_f32(q->scale, (size_t)r), min_scale, 1e-6 * min_scale);
        for (int64_t c = 0; c < h; c++)
            TU_REQUIRE(ref_fp8_decode(nc->fp8, tu_code(q->q, r, c)) == 0.0,
                       "%s: zero row %lld has code 0x%02x", what, (long long)r,
                       tu_code(q->q, r, c));
    }
    free(y);
    free(scale);
    free(codes);
    free(res_copy);
    free(skip);
    tu_tensor_free(x);
    tu_tensor_free(res);
    tu_tensor_free(w);
    tu_qtensor_free(q);
}

/* _i: x dtype (3) x residual (2) x fp8 type (2) x scale_ub (2); the weight
 * dtype cycles. */
START_TEST(dtype_combinations) {
    fp8f_ctx *ctx = tu_ctx_create();
    nq_case nc = {.rows = 7, .h = 131, .pad = 3, .xt = float_types[_i % 3],
                  .wt = float_types[(_i / 2) % 3], .residual = (_i / 3) % 2,
                  .fp8 = fp8_types[(_i / 6) % 2], .has_ub = _i / 12, .ub = 2.0f, .eps = 1e-6f,
                  .sigma = 1.0, .wlo = -2.0, .whi = 2.0, .seed = 600 + (uint64_t)_i};
    char what[160];
    snprintf(what, sizeof what, "rmsnorm_quant x %s, weight %s, %s residual -> %s, %s",
             ref_dtype_name(nc.xt), ref_dtype_name(nc.wt), nc.residual ? "with" : "no",
             ref_dtype_name(nc.fp8), nc.has_ub ? "scale_ub 2" : "no scale_ub");
    run_nq_case(ctx, &nc, what);
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(larger_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        nq_case nc = {.rows = 24, .h = 700, .xt = FP8F_BF16, .wt = FP8F_BF16, .residual = 1,
                      .fp8 = fp8_types[i], .eps = 1e-5f, .sigma = 4.0, .wlo = 0.2, .whi = 1.8,
                      .seed = 700 + (uint64_t)i};
        run_nq_case(ctx, &nc, i ? "rmsnorm_quant 24 x 700 fnuz" : "rmsnorm_quant 24 x 700 fn");
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Outputs of 1 MiB of codes and more, which the CPU backend writes around
 * the caches (non-temporal stores): with rows on 64-byte lines, and with
 * rows that start off them (a padded stride). */
START_TEST(streamed_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 2; i++) {
        nq_case nc = {.rows = 208, .h = 5120, .pad = i ? 3 : 0, .xt = FP8F_BF16,
                      .wt = FP8F_BF16, .residual = 1, .fp8 = fp8_types[i], .eps = 1e-5f,
                      .sigma = 3.0, .wlo = 0.2, .whi = 1.8, .seed = 750 + (uint64_t)i};
        run_nq_case(ctx, &nc,
                    i ? "rmsnorm_quant 208 x 5120, padded rows, fnuz"
                      : "rmsnorm_quant 208 x 5120, fn");
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(h_one_and_odd) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t hs[] = {1, 3, 5, 17, 63};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        for (int f = 0; f < 2; f++) {
            nq_case nc = {.rows = 6, .h = hs[i], .pad = 1, .xt = FP8F_F16, .wt = FP8F_F32,
                          .residual = 1, .fp8 = fp8_types[f], .eps = 1e-6f, .sigma = 1.0,
                          .wlo = 0.5, .whi = 1.5, .seed = 800 + (uint64_t)i};
            char what[96];
            snprintf(what, sizeof what, "rmsnorm_quant H = %lld -> %s", (long long)hs[i],
                     ref_dtype_name(nc.fp8));
            run_nq_case(ctx, &nc, what);
        }
    /* H = 1 with a positive weight: every nonzero row is +-MAX */
    tu_tensor *x = tu_tensor_new(ctx, FP8F_F32, 3, 1, 0);
    tu_tensor *w = tu_tensor_new(ctx, FP8F_F32, 1, 1, 0);
    tu_qtensor *q = tu_qtensor_new(ctx, FP8F_E4M3FN, 3, 1, 0);
    tu_set(x, 0, 0, 2.0);
    tu_set(x, 1, 0, -5.0);
    tu_set(x, 2, 0, 0.0);
    tu_set(w, 0, 0, 0.5);
    tu_upload(x);
    tu_upload(w);
    ck_assert_int_eq(fp8f_rmsnorm_quant(ctx, &x->t, NULL, &w->t, 1e-6f, NULL, &q->qt), FP8F_OK);
    tu_qtensor_download(q);
    ck_assert_uint_eq(tu_code(q->q, 0, 0), 0x7e);
    ck_assert_uint_eq(tu_code(q->q, 1, 0), 0xfe);
    ck_assert_uint_eq(tu_code(q->q, 2, 0), 0x00);
    ck_assert_double_eq_tol(tu_buf_f32(q->scale, 0), 0.5 * 2.0 / sqrt(4.0 + 1e-6) / 448.0, 1e-9);
    tu_tensor_free(x);
    tu_tensor_free(w);
    tu_qtensor_free(q);
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(zero_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    tu_tensor *x = tu_tensor_new(ctx, FP8F_F16, 0, 24, 0);
    tu_tensor *res = tu_tensor_new(ctx, FP8F_F16, 0, 24, 30);
    tu_tensor *w = tu_tensor_new(ctx, FP8F_BF16, 1, 24, 0);
    tu_qtensor *q = tu_qtensor_new(ctx, FP8F_E4M3FNUZ, 0, 24, 0);
    tu_fill_uniform(w, &(tu_rng){9}, 0.5, 1.0);
    float ub = 3.0f;
    ck_assert_int_eq(fp8f_rmsnorm_quant(ctx, &x->t, &res->t, &w->t, 1e-6f, &ub, &q->qt), FP8F_OK);
    ck_assert_int_eq(q->qt.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert(tu_untouched(x) && tu_untouched(res) && tu_untouched(w) &&
              tu_qtensor_untouched(q));
    tu_tensor_free(x);
    tu_tensor_free(res);
    tu_tensor_free(w);
    tu_qtensor_free(q);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Zero, huge, NaN and Inf rows, with a small scale_ub (saturation) and
 * without. */
START_TEST(special_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    static const enum special kinds[7] = {SP_NONE, SP_ZERO, SP_NAN, SP_NONE,
                                          SP_HUGE, SP_INF,  SP_NONE};
    for (int i = 0; i < 12; i++) {
        nq_case nc = {.rows = 7, .h = 77, .pad = 2, .xt = float_types[i % 3],
                      .wt = FP8F_BF16, .residual = (i / 3) % 2, .fp8 = fp8_types[i / 6],
                      .has_ub = i % 2, .ub = 0.1f, .eps = 1e-6f, .sigma = 1.0, .wlo = 0.5,
                      .whi = 2.0, .seed = 900 + (uint64_t)i, .rows_kind = kinds};
        char what[128];
        snprintf(what, sizeof what, "rmsnorm_quant special rows x %s, %s residual -> %s, %s",
                 ref_dtype_name(nc.xt), nc.residual ? "with" : "no", ref_dtype_name(nc.fp8),
                 nc.has_ub ? "scale_ub 0.1" : "no scale_ub");
        run_nq_case(ctx, &nc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Fused and unfused paths agree: rmsnorm_quant(x) against
 * quant_per_token(rmsnorm(x) in f32), with the same residual start. */
START_TEST(fused_matches_unfused) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t rows = 12, h = 257;
    for (int f = 0; f < 2; f++) {
        tu_rng rng;
        tu_rng_seed(&rng, 1000 + (uint64_t)f);
        tu_tensor *x = tu_tensor_new(ctx, FP8F_BF16, rows, h, 0);
        tu_tensor *r1 = tu_tensor_new(ctx, FP8F_BF16, rows, h, 0);
        tu_tensor *r2 = tu_tensor_new(ctx, FP8F_BF16, rows, h, 0);
        tu_tensor *w = tu_tensor_new(ctx, FP8F_BF16, 1, h, 0);
        tu_tensor *y = tu_tensor_new(ctx, FP8F_F32, rows, h, 0);
        tu_qtensor *qa = tu_qtensor_new(ctx, fp8_types[f], rows, h, 0);
        tu_qtensor *qb = tu_qtensor_new(ctx, fp8_types[f], rows, h, 0);
        tu_fill_normal(x, &rng, 1.0);
        tu_fill_normal(r1, &rng, 1.0);
        memcpy(r2->buf->host, r1->buf->host, r1->buf->bytes);
        tu_upload(r2);
        tu_fill_uniform(w, &rng, 0.5, 1.5);
        ck_assert_int_eq(fp8f_rmsnorm_quant(ctx, &x->t, &r1->t, &w->t, 1e-6f, NULL, &qa->qt),
                         FP8F_OK);
        ck_assert_int_eq(fp8f_rmsnorm(ctx, &x->t, &r2->t, &w->t, 1e-6f, &y->t), FP8F_OK);
        ck_assert_int_eq(fp8f_quant_per_token(ctx, &y->t, NULL, &qb->qt), FP8F_OK);
        tu_qtensor_download(qa);
        tu_qtensor_download(qb);
        tu_download(r1);
        tu_download(r2);
        ck_assert_mem_eq(r1->buf->host, r2->buf->host, r1->buf->bytes);
        uint8_t *codes = malloc((size_t)(rows * h));
        double *scale = malloc((size_t)rows * sizeof(double));
        for (int64_t r = 0; r < rows; r++) {
            scale[r] = tu_buf_f32(qb->scale, (size_t)r);
            for (int64_t c = 0; c < h; c++)
                codes[r * h + c] = tu_code(qb->q, r, c);
        }
        tu_check_quant(qa, codes, scale, 1e-6 + tu_norm_f32_rel(h), NULL, "fused vs unfused");
        free(codes);
        free(scale);
        tu_tensor_free(x);
        tu_tensor_free(r1);
        tu_tensor_free(r2);
        tu_tensor_free(w);
        tu_tensor_free(y);
        tu_qtensor_free(qa);
        tu_qtensor_free(qb);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *norm_quant_suite(void) {
    Suite *s = suite_create("norm_quant");
    TCase *tc = tu_tcase("dtypes");
    tcase_add_loop_test(tc, dtype_combinations, 0, 24);
    tcase_add_test(tc, larger_rows);
    tcase_add_test(tc, streamed_rows);
    suite_add_tcase(s, tc);
    tc = tu_tcase("edges");
    tcase_add_test(tc, h_one_and_odd);
    tcase_add_test(tc, zero_rows);
    tcase_add_test(tc, special_rows);
    tcase_add_test(tc, fused_matches_unfused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(norm_quant_suite()); }
