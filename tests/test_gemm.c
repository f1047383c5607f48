/*
 * fp8f_linear_ptpc with dense activations against the double reference:
 * activations of each dtype, outputs bf16/f16/f32, bias (each dtype) or
 * none, odd N and K, M = 0, 1, 33, strides larger than cols, weights
 * e4m3fn on an e4m3fnuz context (converted: bits kept, scale doubled, 0x80
 * mapped to 0) and the reverse, native weights, a moderate size, and the
 * weight's arrays being copied at creation.
 *
 * The reference quantizes the activation per token to the context's fp8
 * type (ref_quant) and accumulates in double. The tolerance of out[m][n]:
 * 1e-4 * sum_k |terms| (accumulation order) + one code step for every
 * activation element whose quotient lies within 1e-5 relative of a rounding
 * boundary (where f32 and double may round differently) + the out dtype's
 * rounding. Activations built from exact fp8 values times a power of two
 * have no such elements, and are checked that tightly.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

static const fp8f_dtype float_types[3] = {FP8F_BF16, FP8F_F16, FP8F_F32};

typedef struct gemm_case {
    int64_t m, n, k;
    fp8f_dtype at, ot, bt; /* activation, output, bias dtypes */
    int bias;
    fp8f_dtype w_fp8;      /* the codes given to fp8f_weight_create */
    int64_t apad, opad, wpad;
    int exact_act;         /* activation = fp8 value * 2^e, amax = MAX * 2^e per row */
    int neg_zero_codes;    /* put e4m3fn -0 (0x80) among the weight codes */
    int free_inputs;       /* free the weight's arrays before the GEMM */
    uint64_t seed;
} gemm_case;

/* A random non-NaN code of type t that also exists in the context's type
 * (e4m3fnuz +-240 has no e4m3fn code). */
static uint8_t weight_code(tu_rng *rng, fp8f_dtype t, fp8f_dtype ctx_t) {
    for (;;) {
        uint8_t c = (uint8_t)tu_rng_next(rng);
        if (ref_fp8_is_nan(t, c))
            continue;
        if (t == FP8F_E4M3FNUZ && ctx_t == FP8F_E4M3FN && (c & 0x7f) == 0x7f)
            continue;
        return c;
    }
}

static void run_gemm_case(fp8f_ctx *ctx, const gemm_case *gc, const char *what) {
    tu_rng rng;
    tu_rng_seed(&rng, gc->seed);
    const int64_t m = gc->m, n = gc->n, k = gc->k;
    const fp8f_dtype ct = fp8f_ctx_fp8_dtype(ctx);

    /* the weight */
    tu_tensor *wq = tu_tensor_new(ctx, gc->w_fp8, n, k, k + gc->wpad);
    tu_buf *wscale = tu_buf_new(ctx, (size_t)n * sizeof(float));
    tu_tensor *bias = gc->bias ? tu_tensor_new(ctx, gc->bt, 1, n, 0) : NULL;
    double *wv = malloc((size_t)(n * k) * sizeof(double));
    double *sw = malloc((size_t)n * sizeof(double));
    double *bv = malloc((size_t)n * sizeof(double));
    for (int64_t j = 0; j < n; j++) {
        for (int64_t c = 0; c < k; c++) {
            uint8_t code = weight_code(&rng, gc->w_fp8, ct);
            if (gc->neg_zero_codes && tu_rng_int(&rng, 8) == 0)
                code = 0x80;
            tu_set_code(wq, j, c, code);
            wv[j * k + c] = ref_fp8_decode(gc->w_fp8, code);
        }
        float s = (float)(tu_rng_range(&rng, 0.25, 2.0) / 448.0);
        tu_buf_set_f32(wscale, (size_t)j, s);
        sw[j] = s;
        if (bias) {
            tu_set(bias, 0, j, tu_rng_normal(&rng));
            bv[j] = tu_get(bias, 0, j);
        }
    }
    tu_upload(wq);
    tu_buf_upload(wscale);
    if (bias)
        tu_upload(bias);
    fp8f_weight *w = NULL;
    fp8f_status s = fp8f_weight_create(ctx, &wq->t, wscale->dev, bias ? &bias->t : NULL, &w);
    ck_assert_msg(s == FP8F_OK, "%s: weight_create: %s: %s", what, fp8f_status_str(s),
                  fp8f_last_error(ctx));
    ck_assert_msg(tu_untouched(wq) && tu_buf_untouched(wscale) && (!bias || tu_untouched(bias)),
                  "%s: weight_create modified its inputs", what);
    if (gc->free_inputs) { /* the weight must own copies */
        tu_tensor_free(wq);
        tu_buf_free(wscale);
        tu_tensor_free(bias);
        wq = NULL;
        wscale = NULL;
        bias = NULL;
    }

    /* the activation */
    tu_tensor *a = tu_tensor_new(ctx, gc->at, m, k, k + gc->apad);
    if (gc->exact_act) {
        for (int64_t i = 0; i < m; i++) {
            int e = tu_rng_int(&rng, 6) - 4;
            for (int64_t c = 0; c < k; c++) {
                uint8_t code = weight_code(&rng, ct, ct);
                tu_set(a, i, c, ldexp(ref_fp8_decode(ct, code), e));
            }
            tu_set(a, i, tu_rng_int(&rng, (int)k), ldexp(i % 2 ? -ref_fp8_max(ct) : ref_fp8_max(ct), e));
        }
        tu_upload(a);
    } else {
        tu_fill_normal(a, &rng, 1.0);
    }

    /* the reference */
    double *av = malloc((size_t)(m * k + 1) * sizeof(double));
    double *sa = malloc((size_t)(m + 1) * sizeof(double));
    uint8_t *qa = malloc((size_t)(m * k + 1));
    double *amb = calloc((size_t)(m * k + 1), sizeof(double));
    double *want = malloc((size_t)(m * n + 1) * sizeof(double));
    double *abs_terms = malloc((size_t)(m * n + 1) * sizeof(double));
    ref_load_all(&a->h, av);
    ref_quant(av, m, k, ct, NULL, qa, sa);
    int64_t ambiguous = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < k; c++) {
            double v = ref_round(FP8F_F32, av[i * k + c] / sa[i]);
            if (ref_fp8_ambiguous(ct, v, 1e-5)) {
                amb[i * k + c] = ref_fp8_step(ct, qa[i * k + c]);
                ambiguous++;
            }
            av[i * k + c] = ref_fp8_decode(ct, qa[i * k + c]);
        }
    /* the ambiguous columns of each row, for the allowance below */
    int64_t *amb_start = malloc((size_t)(m + 1) * sizeof(int64_t));
    int64_t *amb_col = malloc((size_t)(ambiguous + 1) * sizeof(int64_t));
    for (int64_t i = 0, e = 0; i < m; i++) {
        amb_start[i] = e;
        for (int64_t c = 0; c < k; c++)
            if (amb[i * k + c] != 0.0)
                amb_col[e++] = c;
        amb_start[i + 1] = e;
    }
    if (gc->exact_act)
        ck_assert_msg(ambiguous == 0, "%s: the exact activation has ambiguous elements", what);
    ref_gemm(av, sa, wv, sw, gc->bias ? bv : NULL, m, n, k, want, abs_terms);

    /* the call */
    tu_tensor *out = tu_tensor_new(ctx, gc->ot, m, n, n + gc->opad);
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = a->t};
    s = fp8f_linear_ptpc(ctx, &act, w, &out->t);
    ck_assert_msg(s == FP8F_OK, "%s: %s: %s", what, fp8f_status_str(s), fp8f_last_error(ctx));
    tu_download(out);

    const double half = ref_half_ulp_rel(gc->ot), sub = ref_subnormal_step(gc->ot);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double allowance = 0.0;
            for (int64_t e = amb_start[i]; e < amb_start[i + 1]; e++) {
                const int64_t c = amb_col[e];
                allowance += amb[i * k + c] * fabs(wv[j * k + c]) * sa[i] * sw[j];
            }
            double ref = want[i * n + j];
            double tol1 = 1e-4 * abs_terms[i * n + j] + allowance +
                          (gc->bias ? 1e-6 * fabs(bv[j]) : 0.0);
            double tol = tol1 + half * (fabs(ref) + tol1) + sub;
            double got = tu_get(out, i, j);
            TU_REQUIRE(fabs(got - ref) <= tol,
                       "%s: out[%lld,%lld] = %.9g, reference %.9g (|diff| %.3g > tol %.3g, "
                       "sum|terms| %.3g)",
                       what, (long long)i, (long long)j, got, ref, fabs(got - ref), tol,
                       abs_terms[i * n + j]);
        }
    ck_assert_msg(tu_outside_is_sentinel(out), "%s: out written outside its elements", what);
    ck_assert_msg(tu_untouched(a), "%s: the activation was modified", what);

    fp8f_weight_destroy(w);
    free(wv);
    free(sw);
    free(bv);
    free(av);
    free(sa);
    free(qa);
    free(amb);
    free(amb_start);
    free(amb_col);
    free(want);
    free(abs_terms);
    tu_tensor_free(wq);
    tu_buf_free(wscale);
    tu_tensor_free(bias);
    tu_tensor_free(a);
    tu_tensor_free(out);
}

/* _i: activation dtype (3) x out dtype (3) x bias (2, bias dtype cycles). */
START_TEST(dtype_combinations) {
    fp8f_ctx *ctx = tu_ctx_create();
    gemm_case gc = {.m = 33, .n = 67, .k = 129, .at = float_types[_i % 3],
                    .ot = float_types[(_i / 3) % 3], .bias = _i / 9,
                    .bt = float_types[(_i + 1) % 3], .w_fp8 = fp8f_ctx_fp8_dtype(ctx),
                    .apad = 3, .opad = 2, .wpad = 0, .seed = 1100 + (uint64_t)_i};
    char what[160];
    snprintf(what, sizeof what, "gemm a %s, out %s, %s%s", ref_dtype_name(gc.at),
             ref_dtype_name(gc.ot), gc.bias ? "bias " : "no bias",
             gc.bias ? ref_dtype_name(gc.bt) : "");
    run_gemm_case(ctx, &gc, what);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* M = 1, small and odd N and K, K = 1. */
START_TEST(small_shapes) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {1, 300, 257}, {2, 1, 301},
                                 {5, 3, 1}, {17, 9, 15}, {33, 31, 33}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        gemm_case gc = {.m = shapes[i][0], .n = shapes[i][1], .k = shapes[i][2],
                        .at = FP8F_BF16, .ot = FP8F_F32, .bias = (int)(i % 2), .bt = FP8F_F32,
                        .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .apad = 1, .opad = 1, .wpad = 2,
                        .seed = 1200 + (uint64_t)i};
        char what[96];
        snprintf(what, sizeof what, "gemm %lld x %lld x %lld", (long long)gc.m,
                 (long long)gc.n, (long long)gc.k);
        run_gemm_case(ctx, &gc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* M = 0: success, the output untouched. */
START_TEST(zero_rows) {
    fp8f_ctx *ctx = tu_ctx_create();
    const fp8f_dtype ct = fp8f_ctx_fp8_dtype(ctx);
    tu_rng rng;
    tu_rng_seed(&rng, 13);
    tu_tensor *wq = tu_tensor_new(ctx, ct, 5, 8, 0);
    tu_buf *ws = tu_buf_new(ctx, 5 * sizeof(float));
    tu_fill_normal(wq, &rng, 1.0);
    for (int j = 0; j < 5; j++)
        tu_buf_set_f32(ws, (size_t)j, 0.01f);
    tu_buf_upload(ws);
    fp8f_weight *w = NULL;
    ck_assert_int_eq(fp8f_weight_create(ctx, &wq->t, ws->dev, NULL, &w), FP8F_OK);
    tu_tensor *a = tu_tensor_new(ctx, FP8F_BF16, 0, 8, 0);
    tu_tensor *out = tu_tensor_new(ctx, FP8F_F16, 0, 5, 7);
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = a->t};
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &out->t), FP8F_OK);
    ck_assert(tu_untouched(out) && tu_untouched(a));
    /* NULL data with zero rows */
    act.dense.data = NULL;
    fp8f_tensor o0 = {NULL, FP8F_F32, 0, 5, 5};
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &o0), FP8F_OK);
    fp8f_weight_destroy(w);
    tu_tensor_free(wq);
    tu_buf_free(ws);
    tu_tensor_free(a);
    tu_tensor_free(out);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* _i: (context fp8 type, weight fp8 type) in {fn,fnuz}^2; the converted
 * combinations keep the values (e4m3fn on fnuz: bits kept, scale doubled,
 * 0x80 -> 0). Random and exact activations. */
START_TEST(weight_conversion) {
    const fp8f_dtype ctx_t = _i / 2 ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    const fp8f_dtype w_t = _i % 2 ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    fp8f_ctx *ctx = tu_ctx_create_fp8(ctx_t);
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(ctx), ctx_t);
    for (int exact = 0; exact < 2; exact++) {
        gemm_case gc = {.m = 19, .n = 45, .k = 91, .at = FP8F_F32, .ot = FP8F_F32,
                        .bias = 1, .bt = FP8F_BF16, .w_fp8 = w_t, .apad = 2, .opad = 0,
                        .wpad = 3, .exact_act = exact, .neg_zero_codes = w_t == FP8F_E4M3FN,
                        .seed = 1300 + (uint64_t)(_i * 2 + exact)};
        char what[128];
        snprintf(what, sizeof what, "gemm %s weights on a %s context, %s activation",
                 ref_dtype_name(w_t), ref_dtype_name(ctx_t), exact ? "exact" : "random");
        run_gemm_case(ctx, &gc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Exact activations on every output dtype: only accumulation order and the
 * final rounding separate the result from the reference. */
START_TEST(exact_activations) {
    fp8f_ctx *ctx = tu_ctx_create();
    for (int i = 0; i < 3; i++) {
        gemm_case gc = {.m = 21, .n = 37, .k = 203, .at = float_types[i],
                        .ot = float_types[(i + 2) % 3], .bias = 1, .bt = float_types[i],
                        .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .apad = 0, .opad = 3,
                        .exact_act = 1, .seed = 1400 + (uint64_t)i};
        char what[96];
        snprintf(what, sizeof what, "gemm exact activation %s -> %s", ref_dtype_name(gc.at),
                 ref_dtype_name(gc.ot));
        run_gemm_case(ctx, &gc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* The weight owns copies: the caller's q, scale and bias are freed before
 * the GEMM. */
START_TEST(weight_copies_its_arrays) {
    fp8f_ctx *ctx = tu_ctx_create();
    gemm_case gc = {.m = 9, .n = 29, .k = 61, .at = FP8F_BF16, .ot = FP8F_BF16, .bias = 1,
                    .bt = FP8F_F16, .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .wpad = 1,
                    .free_inputs = 1, .seed = 1500};
    run_gemm_case(ctx, &gc, "gemm with the weight's arrays freed");
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* One weight, several activations (the weight is read-only). */
START_TEST(weight_reused) {
    fp8f_ctx *ctx = tu_ctx_create();
    const fp8f_dtype ct = fp8f_ctx_fp8_dtype(ctx);
    const int64_t n = 23, k = 40;
    tu_rng rng;
    tu_rng_seed(&rng, 1600);
    tu_tensor *wq = tu_tensor_new(ctx, ct, n, k, 0);
    tu_buf *ws = tu_buf_new(ctx, (size_t)n * sizeof(float));
    tu_fill_normal(wq, &rng, 1.0);
    for (int64_t j = 0; j < n; j++)
        tu_buf_set_f32(ws, (size_t)j, 0.002f);
    tu_buf_upload(ws);
    fp8f_weight *w = NULL;
    ck_assert_int_eq(fp8f_weight_create(ctx, &wq->t, ws->dev, NULL, &w), FP8F_OK);
    tu_tensor *a = tu_tensor_new(ctx, FP8F_F32, 4, k, 0);
    tu_tensor *o1 = tu_tensor_new(ctx, FP8F_F32, 4, n, 0);
    tu_tensor *o2 = tu_tensor_new(ctx, FP8F_F32, 4, n, 0);
    tu_tensor *o3 = tu_tensor_new(ctx, FP8F_F32, 4, n, 0);
    tu_fill_normal(a, &rng, 1.0);
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = a->t};
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &o1->t), FP8F_OK);
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &o2->t), FP8F_OK);
    /* scaling the activation by 2 scales the output by 2 exactly (the
     * per-token scale absorbs it; the codes are the same) */
    for (int64_t i = 0; i < 4; i++)
        for (int64_t c = 0; c < k; c++)
            tu_set(a, i, c, 2.0 * tu_get(a, i, c));
    tu_upload(a);
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &o3->t), FP8F_OK);
    tu_download(o1);
    tu_download(o2);
    tu_download(o3);
    ck_assert_mem_eq(o1->buf->host, o2->buf->host, o1->buf->bytes);
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < n; j++)
            ck_assert_double_eq(tu_get(o3, i, j), 2.0 * tu_get(o1, i, j));
    fp8f_weight_destroy(w);
    tu_tensor_free(wq);
    tu_buf_free(ws);
    tu_tensor_free(a);
    tu_tensor_free(o1);
    tu_tensor_free(o2);
    tu_tensor_free(o3);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* One moderate size (several row blocks, many threads' worth of N). */
START_TEST(moderate_size) {
    fp8f_ctx *ctx = tu_ctx_create();
    gemm_case gc = {.m = 48, .n = 256, .k = 640, .at = FP8F_BF16, .ot = FP8F_BF16, .bias = 1,
                    .bt = FP8F_BF16, .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .seed = 1700};
    run_gemm_case(ctx, &gc, "gemm 48 x 256 x 640");
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* A K of several converted blocks on every CPU block size (the BF16
 * kernels convert up to 2048 k of one panel, 1024 of a pair, at a time
 * where the L1d is small), ending in a partial one, with an odd panel
 * left after the pairs: the partial sums carried between blocks. Rows
 * enough for the blocked path on every CPU (more than 192). */
START_TEST(long_k) {
    fp8f_ctx *ctx = tu_ctx_create();
    gemm_case gc = {.m = 200, .n = 65, .k = 4500, .at = FP8F_BF16, .ot = FP8F_F32,
                    .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .seed = 1750};
    run_gemm_case(ctx, &gc, "gemm 200 x 65 x 4500");
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* One context, calls whose work buffers grow and shrink: more rows than one
 * row block (the CPU converts and multiplies 512 at a time), then a longer
 * K on a few rows, then a shorter one; each call against the reference. */
START_TEST(work_buffer_reuse) {
    fp8f_ctx *ctx = tu_ctx_create();
    const int64_t shapes[][3] = {{600, 40, 200}, {3, 40, 1000}, {520, 33, 96}, {2, 9, 40}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        gemm_case gc = {.m = shapes[i][0], .n = shapes[i][1], .k = shapes[i][2],
                        .at = FP8F_BF16, .ot = FP8F_F32, .bias = (int)(i % 2), .bt = FP8F_F32,
                        .w_fp8 = fp8f_ctx_fp8_dtype(ctx), .apad = 5, .opad = 3,
                        .seed = 1800 + (uint64_t)i};
        char what[96];
        snprintf(what, sizeof what, "gemm %lld x %lld x %lld after %zu calls", (long long)gc.m,
                 (long long)gc.n, (long long)gc.k, i);
        run_gemm_case(ctx, &gc, what);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tu_tcase("dtypes");
    tcase_add_loop_test(tc, dtype_combinations, 0, 18);
    tcase_add_test(tc, exact_activations);
    suite_add_tcase(s, tc);
    tc = tu_tcase("shapes");
    tcase_add_test(tc, small_shapes);
    tcase_add_test(tc, zero_rows);
    tcase_add_test(tc, moderate_size);
    tcase_add_test(tc, long_k);
    tcase_add_test(tc, work_buffer_reuse);
    suite_add_tcase(s, tc);
    tc = tu_tcase("weights");
    tcase_add_loop_test(tc, weight_conversion, 0, 4);
    tcase_add_test(tc, weight_copies_its_arrays);
    tcase_add_test(tc, weight_reused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(gemm_suite()); }
