/*
 * fp8f_rmsnorm against the double reference: every dtype combination of x
 * (and residual), norm weight and output, with and without residual,
 * strides larger than cols, M = 0, H = 1, odd H, in place (out == x),
 * all-zero rows, huge values, NaN/Inf rows (which must affect only their
 * row), and a dominant eps. The residual output must equal the reference's
 * rounded h exactly; the output must be within its dtype's rounding plus a
 * small f32 error.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

static const fp8f_dtype float_types[3] = {FP8F_BF16, FP8F_F16, FP8F_F32};

enum special { SP_NONE = 0, SP_ZERO, SP_NAN, SP_INF, SP_HUGE };

typedef struct norm_case {
    int64_t rows, h;
    fp8f_dtype xt, wt, ot;
    int residual;     /* residual of x's dtype */
    int64_t pad;      /* stride - cols for x, residual and out */
    int in_place;     /* out is x */
    float eps;
    double sigma;     /* x and residual ~ N(0, sigma) */
    uint64_t seed;
    const enum special *rows_kind; /* NULL or one per row */
} norm_case;

/* Huge but finite in every dtype (bf16 and f32 share the exponent range);
 * h^2 summed over a row stays finite in f32. */
static double huge_value(fp8f_dtype t) { return t == FP8F_F16 ? 20000.0 : 1e15; }

static void make_special(tu_tensor *x, tu_tensor *res, int64_t r, enum special k, tu_rng *rng) {
    const int64_t h = x->h.cols;
    switch (k) {
    case SP_ZERO:
        for (int64_t c = 0; c < h; c++) {
            tu_set(x, r, c, 0.0);
            if (res)
                tu_set(res, r, c, 0.0);
        }
        break;
    case SP_NAN:
        tu_set(x, r, tu_rng_int(rng, (int)h), NAN);
        break;
    case SP_INF:
        tu_set(x, r, tu_rng_int(rng, (int)h), -INFINITY);
        break;
    case SP_HUGE:
        for (int64_t c = 0; c < h; c++) {
            tu_set(x, r, c, huge_value(x->h.dtype) * tu_rng_range(rng, -1.0, 1.0));
            if (res)
                tu_set(res, r, c, 0.25 * huge_value(x->h.dtype) * tu_rng_range(rng, -1.0, 1.0));
        }
        break;
    case SP_NONE:
        break;
    }
}

static int same_value(double a, double b) {
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static void run_norm_case(fp8f_ctx *ctx, const norm_case *nc, const char *what) {
    tu_rng rng;
    tu_rng_seed(&rng, nc->seed);
    const int64_t rows = nc->rows, h = nc->h, stride = h + nc->pad;
    const fp8f_dtype ot = nc->in_place ? nc->xt : nc->ot;
    tu_tensor *x = tu_tensor_new(ctx, nc->xt, rows, h, stride);
    tu_tensor *res = nc->residual ? tu_tensor_new(ctx, nc->xt, rows, h, stride + 1) : NULL;
    tu_tensor *w = tu_tensor_new(ctx, nc->wt, 1, h, 0);
    tu_tensor *out = nc->in_place ? x : tu_tensor_new(ctx, ot, rows, h, stride + 2);
    tu_fill_normal(x, &rng, nc->sigma);
    if (res)
        tu_fill_normal(res, &rng, nc->sigma);
    tu_fill_uniform(w, &rng, -2.0, 2.0);
    unsigned char *skip = calloc((size_t)rows + 1, 1);
    for (int64_t r = 0; r < rows && nc->rows_kind; r++) {
        make_special(x, res, r, nc->rows_kind[r], &rng);
        skip[r] = nc->rows_kind[r] == SP_NAN || nc->rows_kind[r] == SP_INF;
    }
    tu_upload(x);
    if (res)
        tu_upload(res);

    /* the reference, on host copies (its residual is updated in the copy) */
    double *y = malloc((size_t)(rows * h + 1) * sizeof(double));
    size_t res_bytes = res ? res->buf->bytes + TU_SLACK : 1;
    unsigned char *res_copy = malloc(res_bytes);
    fp8f_tensor res_ref = {0};
    if (res) {
        memcpy(res_copy, res->buf->host, res_bytes);
        res_ref = res->h;
        res_ref.data = res_copy;
    }
    ref_rmsnorm(&x->h, res ? &res_ref : NULL, &w->h, nc->eps, y, NULL);

    fp8f_status s = fp8f_rmsnorm(ctx, &x->t, res ? &res->t : NULL, &w->t, nc->eps, &out->t);
    ck_assert_msg(s == FP8F_OK, "%s: %s: %s", what, fp8f_status_str(s), fp8f_last_error(ctx));

    tu_download(out);
    tu_check_floats(out, y, tu_norm_f32_rel(h), skip, what);
    ck_assert_msg(tu_outside_is_sentinel(out), "%s: out written outside its elements", what);
    if (res) {
        tu_download(res);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < h; c++) {
                double got = tu_get(res, r, c), want = ref_load(&res_ref, r, c);
                TU_REQUIRE(same_value(got, want),
                           "%s: residual[%lld,%lld] = %.9g, reference rounded h %.9g", what,
                           (long long)r, (long long)c, got, want);
            }
        ck_assert_msg(tu_outside_is_sentinel(res), "%s: residual written outside its elements",
                      what);
    }
    if (!nc->in_place)
        ck_assert_msg(tu_untouched(x), "%s: x was modified", what);
    ck_assert_msg(tu_untouched(w), "%s: weight was modified", what);
    /* zero rows normalize to exactly zero */
    for (int64_t r = 0; r < rows && nc->rows_kind; r++)
        if (nc->rows_kind[r] == SP_ZERO)
            for (int64_t c = 0; c < h; c++)
                TU_REQUIRE(tu_get(out, r, c) == 0.0, "%s: zero row %lld gives %g", what,
                           (long long)r, tu_get(out, r, c));

    free(y);
    free(res_copy);
    free(skip);
    if (!nc->in_place)
        tu_tensor_free(out);
    tu_tensor_free(x);
    tu_tensor_free(res);
    tu_tensor_free(w);
}

/* _i enumerates x (= residual) dtype, weight dtype, out dtype, residual. */
START_TEST(all_dtype_combinations) {
    fp8f_ctx *ctx = tu_ctx_create();
    norm_case nc = {.rows = 5, .h = 67, .xt = float_types[_i % 3],
                    .wt = float_types[(_i / 3) % 3], .ot = float_types[(_i / 9) % 3],
                    .residual = _i / 27, .pad = 3, .eps = 1e-6f, .sigma = 1.0,
                    .seed = 100 + (uint64_t)_i};
    char what[160];
    snprintf(what, sizeof what, "rmsnorm x %s, weight %s, out %s, %s residual",
             ref_dtype_name(nc.xt), ref_dtype_name(nc.wt), ref_dtype_name(nc.ot),
             nc.residual ? "with" : "no");
    run_norm_case(ctx, &nc, what);
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(large_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 3; i++) {
        norm_case nc = {.rows = 16, .h = 701, .xt = float_types[i], .wt = FP8F_BF16,
                        .ot = FP8F_BF16, .residual = 1, .pad = 5, .eps = 1e-5f, .sigma = 3.0,
                        .seed = 7 + (uint64_t)i};
        char what[96];
        snprintf(what, sizeof what, "rmsnorm 16 x 701 x %s", ref_dtype_name(nc.xt));
        run_norm_case(ctx, &nc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(h_one_and_odd) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t hs[] = {1, 2, 3, 7, 33, 129};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        for (int res = 0; res < 2; res++) {
            norm_case nc = {.rows = 9, .h = hs[i], .xt = FP8F_F32, .wt = FP8F_F32,
                            .ot = FP8F_F32, .residual = res, .pad = 1, .eps = 1e-6f,
                            .sigma = 1.0, .seed = 40 + (uint64_t)i};
            char what[96];
            snprintf(what, sizeof what, "rmsnorm H = %lld, %s residual", (long long)hs[i],
                     res ? "with" : "no");
            run_norm_case(ctx, &nc, what);
        }
    }
    /* H = 1: y = h / sqrt(h^2 + eps) * w, i.e. about +-w */
    tu_tensor *x = tu_tensor_new(ctx, FP8F_F32, 3, 1, 2);
    tu_tensor *w = tu_tensor_new(ctx, FP8F_F32, 1, 1, 0);
    tu_tensor *out = tu_tensor_new(ctx, FP8F_F32, 3, 1, 0);
    tu_set(x, 0, 0, 3.0);
    tu_set(x, 1, 0, -0.5);
    tu_set(x, 2, 0, 0.0);
    tu_set(w, 0, 0, 2.0);
    tu_upload(x);
    tu_upload(w);
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x->t, NULL, &w->t, 1e-6f, &out->t), FP8F_OK);
    tu_download(out);
    ck_assert_double_eq_tol(tu_get(out, 0, 0), 2.0 * 3.0 / sqrt(9.0 + 1e-6), 1e-6);
    ck_assert_double_eq_tol(tu_get(out, 1, 0), -2.0 * 0.5 / sqrt(0.25 + 1e-6), 1e-6);
    ck_assert_double_eq(tu_get(out, 2, 0), 0.0);
    tu_tensor_free(x);
    tu_tensor_free(w);
    tu_tensor_free(out);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* M = 0: nothing is read or written. */
START_TEST(zero_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    tu_tensor *x = tu_tensor_new(ctx, FP8F_BF16, 0, 16, 0);
    tu_tensor *res = tu_tensor_new(ctx, FP8F_BF16, 0, 16, 0);
    tu_tensor *w = tu_tensor_new(ctx, FP8F_F32, 1, 16, 0);
    tu_tensor *out = tu_tensor_new(ctx, FP8F_F16, 0, 16, 20);
    tu_fill_uniform(w, &(tu_rng){3}, 0.5, 1.0);
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x->t, &res->t, &w->t, 1e-6f, &out->t), FP8F_OK);
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x->t, NULL, &w->t, 1e-6f, &out->t), FP8F_OK);
    ck_assert(tu_untouched(x) && tu_untouched(res) && tu_untouched(w) && tu_untouched(out));
    tu_tensor_free(x);
    tu_tensor_free(res);
    tu_tensor_free(w);
    tu_tensor_free(out);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* out == x (same data and stride), every dtype, with and without residual. */
START_TEST(in_place) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 3; i++)
        for (int res = 0; res < 2; res++) {
            norm_case nc = {.rows = 6, .h = 301, .xt = float_types[i], .wt = FP8F_F32,
                            .residual = res, .pad = 4, .in_place = 1, .eps = 1e-6f,
                            .sigma = 2.0, .seed = 60 + (uint64_t)(2 * i + res)};
            char what[96];
            snprintf(what, sizeof what, "rmsnorm in place %s, %s residual",
                     ref_dtype_name(nc.xt), res ? "with" : "no");
            run_norm_case(ctx, &nc, what);
        }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* All-zero rows (exactly zero output), huge values, NaN and Inf rows:
 * every other row must be unaffected. */
START_TEST(special_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    static const enum special kinds[8] = {SP_NONE, SP_ZERO, SP_NONE, SP_NAN,
                                          SP_HUGE, SP_INF,  SP_NONE, SP_ZERO};
    for (int i = 0; i < 3; i++)
        for (int res = 0; res < 2; res++) {
            norm_case nc = {.rows = 8, .h = 97, .xt = float_types[i], .wt = FP8F_BF16,
                            .ot = float_types[(i + 1) % 3], .residual = res, .pad = 2,
                            .eps = 1e-6f, .sigma = 1.0, .seed = 80 + (uint64_t)i,
                            .rows_kind = kinds};
            char what[96];
            snprintf(what, sizeof what, "rmsnorm special rows x %s, %s residual",
                     ref_dtype_name(nc.xt), res ? "with" : "no");
            run_norm_case(ctx, &nc, what);
        }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* eps dominates mean(h^2): the output must show it (y ~ h / sqrt(eps)). */
START_TEST(dominant_eps) {
    fp8f_ctx *ctx = tu_ctx_create();
    const float eps_values[] = {1.0f, 0.25f, 1e-2f};
    for (size_t i = 0; i < sizeof eps_values / sizeof eps_values[0]; i++) {
        norm_case nc = {.rows = 4, .h = 64, .xt = FP8F_F32, .wt = FP8F_F32, .ot = FP8F_F32,
                        .residual = 1, .pad = 0, .eps = eps_values[i], .sigma = 0.01,
                        .seed = 90 + (uint64_t)i};
        char what[96];
        snprintf(what, sizeof what, "rmsnorm eps %g", (double)eps_values[i]);
        run_norm_case(ctx, &nc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* The residual is rounded to its dtype before the norm reads it: with bf16
 * values whose f32 sum is not a bf16 value, the output must follow the
 * rounded h (checked against the reference, which rounds, with a tolerance
 * far below the difference). */
START_TEST(residual_rounding_feeds_norm) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t h = 4;
    tu_tensor *x = tu_tensor_new(ctx, FP8F_BF16, 1, h, 0);
    tu_tensor *res = tu_tensor_new(ctx, FP8F_BF16, 1, h, 0);
    tu_tensor *w = tu_tensor_new(ctx, FP8F_F32, 1, h, 0);
    tu_tensor *out = tu_tensor_new(ctx, FP8F_F32, 1, h, 0);
    /* 1 + 1/256 + 1/512: not a bf16 value; h rounds to 1 + 1/128 */
    const double xv[4] = {1.0, 1.0, 2.0, -3.0}, rv[4] = {0.005859375, 0.0, 0.0, 0.0};
    for (int c = 0; c < h; c++) {
        tu_set(x, 0, c, xv[c]);
        tu_set(res, 0, c, rv[c]);
        tu_set(w, 0, c, 1.0);
    }
    tu_upload(x);
    tu_upload(res);
    tu_upload(w);
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x->t, &res->t, &w->t, 1e-6f, &out->t), FP8F_OK);
    tu_download(res);
    tu_download(out);
    ck_assert_double_eq(tu_get(res, 0, 0), 1.0078125);
    double hv[4] = {1.0078125, 1.0, 2.0, -3.0}, ss = 0.0;
    for (int c = 0; c < h; c++)
        ss += hv[c] * hv[c];
    double inv = 1.0 / sqrt(ss / 4.0 + 1e-6);
    for (int c = 0; c < h; c++)
        ck_assert_double_eq_tol(tu_get(out, 0, c), hv[c] * inv, 1e-6);
    tu_tensor_free(x);
    tu_tensor_free(res);
    tu_tensor_free(w);
    tu_tensor_free(out);
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *norm_suite(void) {
    Suite *s = suite_create("norm");
    TCase *tc = tu_tcase("dtypes");
    tcase_add_loop_test(tc, all_dtype_combinations, 0, 54);
    tcase_add_test(tc, large_rows);
    suite_add_tcase(s, tc);
    tc = tu_tcase("edges");
    tcase_add_test(tc, h_one_and_odd);
    tcase_add_test(tc, zero_rows);
    tcase_add_test(tc, in_place);
    tcase_add_test(tc, special_rows);
    tcase_add_test(tc, dominant_eps);
    tcase_add_test(tc, residual_rounding_feeds_norm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(norm_suite()); }
