/*
 * Routing between backends, with the tests' reference backend (host
 * memory, double precision, both capabilities): capabilities and names,
 * the FP8F_BACKEND override, a (q, scale) QUANTIZED activation consumed by
 * fp8f_linear_ptpc (bit-identical to the dense path on the reference, and
 * equal to the double reference), and the same activation refused by the
 * CPU backend with FP8F_E_UNSUPPORTED and nothing written.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref.h"
#include "ref_backend.h"
#include "testutil.h"

START_TEST(caps_and_names) {
    fp8f_ctx *cpu = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32);
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    fp8f_ctx *ref_fnuz = ref_ctx_create(FP8F_E4M3FNUZ);
    ck_assert_str_eq(fp8f_ctx_backend_name(cpu), "cpu");
    ck_assert_str_eq(fp8f_ctx_backend_name(ref), "reference");
    ck_assert_uint_eq(fp8f_ctx_caps(cpu), 0);
    ck_assert_uint_eq(fp8f_ctx_caps(ref), FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT);
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(cpu), FP8F_E4M3FN);
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(ref), FP8F_E4M3FN);
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(ref_fnuz), FP8F_E4M3FNUZ);
    ck_assert_uint_eq(FP8F_CAP_FUSED_NORM_QUANT & FP8F_CAP_QUANTIZED_INPUT, 0);
    /* the backend under test reports consistent values */
    fp8f_ctx *t = tu_ctx_create();
    const char *name = fp8f_ctx_backend_name(t);
    ck_assert_str_eq(name, tu_backend_under_test() == FP8F_BACKEND_HIP ? "hip" : "cpu");
    ck_assert_uint_eq(fp8f_ctx_caps(t) & ~(FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT),
                      0);
    fp8f_ctx_destroy(t);
    fp8f_ctx_destroy(cpu);
    fp8f_ctx_destroy(ref);
    fp8f_ctx_destroy(ref_fnuz);
}
END_TEST

START_TEST(env_cpu_with_auto) {
    tu_env_set("FP8F_BACKEND", "cpu");
    fp8f_ctx *ctx = NULL;
    fp8f_options opt = {.backend = FP8F_BACKEND_AUTO};
    ck_assert_int_eq(fp8f_ctx_create(&opt, &ctx), FP8F_OK);
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
    ck_assert_uint_eq(fp8f_ctx_caps(ctx), 0);
    fp8f_ctx_destroy(ctx);
    ctx = NULL;
    ck_assert_int_eq(fp8f_ctx_create(NULL, &ctx), FP8F_OK);
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* A weight, a dense activation and the double reference of their GEMM. */
typedef struct gemm_fx {
    fp8f_ctx *ctx;
    fp8f_dtype fp8;
    int64_t m, n, k;
    tu_tensor *wq, *bias, *a;
    tu_buf *ws;
    fp8f_weight *w;
    double *want, *abs_terms; /* m x n */
} gemm_fx;

/* exact: activation values are fp8 values times a power of two with each
 * row's amax at MAX * 2^e, so every implementation quantizes it alike. */
static gemm_fx *gemm_fx_new(fp8f_ctx *ctx, int64_t m, int64_t n, int64_t k, int exact,
                            uint64_t seed) {
    gemm_fx *g = calloc(1, sizeof *g);
    ck_assert_ptr_nonnull(g);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    g->ctx = ctx;
    g->fp8 = fp8f_ctx_fp8_dtype(ctx);
    g->m = m;
    g->n = n;
    g->k = k;
    g->wq = tu_tensor_new(ctx, g->fp8, n, k, k + 1);
    g->bias = tu_tensor_new(ctx, FP8F_BF16, 1, n, 0);
    g->ws = tu_buf_new(ctx, (size_t)n * sizeof(float));
    g->a = tu_tensor_new(ctx, FP8F_BF16, m, k, k + 2);
    tu_fill_normal(g->wq, &rng, 1.0);
    tu_fill_normal(g->bias, &rng, 0.5);
    for (int64_t j = 0; j < n; j++)
        tu_buf_set_f32(g->ws, (size_t)j, (float)(tu_rng_range(&rng, 0.5, 1.5) / 448.0));
    tu_buf_upload(g->ws);
    if (exact) {
        for (int64_t i = 0; i < m; i++) {
            int e = tu_rng_int(&rng, 4) - 2;
            for (int64_t c = 0; c < k; c++) {
                uint8_t code = (uint8_t)tu_rng_next(&rng);
                if (ref_fp8_is_nan(g->fp8, code))
                    code = 0;
                tu_set(g->a, i, c, ldexp(ref_fp8_decode(g->fp8, code), e));
            }
            tu_set(g->a, i, (int64_t)tu_rng_int(&rng, (int)k), ldexp(ref_fp8_max(g->fp8), e));
        }
        tu_upload(g->a);
    } else {
        tu_fill_normal(g->a, &rng, 1.0);
    }
    fp8f_status s = fp8f_weight_create(ctx, &g->wq->t, g->ws->dev, &g->bias->t, &g->w);
    ck_assert_msg(s == FP8F_OK, "weight_create: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(ctx));
    /* the reference */
    double *av = malloc((size_t)(m * k + 1) * sizeof(double));
    double *sa = malloc((size_t)(m + 1) * sizeof(double));
    double *wv = malloc((size_t)(n * k) * sizeof(double));
    double *sw = malloc((size_t)n * sizeof(double));
    double *bv = malloc((size_t)n * sizeof(double));
    uint8_t *qa = malloc((size_t)(m * k + 1));
    ref_load_all(&g->a->h, av);
    ref_quant(av, m, k, g->fp8, NULL, qa, sa);
    for (int64_t i = 0; i < m * k; i++)
        av[i] = ref_fp8_decode(g->fp8, qa[i]);
    for (int64_t j = 0; j < n; j++) {
        for (int64_t c = 0; c < k; c++)
            wv[j * k + c] = ref_fp8_decode(g->fp8, tu_code(g->wq, j, c));
        sw[j] = tu_buf_f32(g->ws, (size_t)j);
        bv[j] = tu_get(g->bias, 0, j);
    }
    g->want = malloc((size_t)(m * n + 1) * sizeof(double));
    g->abs_terms = malloc((size_t)(m * n + 1) * sizeof(double));
    ref_gemm(av, sa, wv, sw, bv, m, n, k, g->want, g->abs_terms);
    free(av);
    free(sa);
    free(wv);
    free(sw);
    free(bv);
    free(qa);
    return g;
}

static void gemm_fx_free(gemm_fx *g) {
    fp8f_weight_destroy(g->w);
    tu_tensor_free(g->wq);
    tu_tensor_free(g->bias);
    tu_tensor_free(g->a);
    tu_buf_free(g->ws);
    free(g->want);
    free(g->abs_terms);
    free(g);
}

/* out against the reference: accumulation error and the out rounding. */
static void check_out(const gemm_fx *g, const tu_tensor *out, double acc_rel, const char *what) {
    const double half = ref_half_ulp_rel(out->h.dtype), sub = ref_subnormal_step(out->h.dtype);
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++) {
            double ref = g->want[i * g->n + j], got = tu_get(out, i, j);
            double tol1 = acc_rel * g->abs_terms[i * g->n + j] + 1e-6 * fabs(ref);
            double tol = tol1 + half * (fabs(ref) + tol1) + sub;
            TU_REQUIRE(fabs(got - ref) <= tol, "%s: out[%lld,%lld] = %.9g, reference %.9g", what,
                       (long long)i, (long long)j, got, ref);
        }
}

/* On the reference backend: quantize the dense activation with
 * fp8f_quant_per_token and hand the (q, scale) pair to the GEMM; the result
 * must be bit-identical to the dense path and equal to the double reference. */
START_TEST(quantized_activation_on_reference) {
    const fp8f_dtype fp8 = _i ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    fp8f_ctx *ctx = ref_ctx_create(fp8);
    gemm_fx *g = gemm_fx_new(ctx, 17, 41, 77, 0, 2000 + (uint64_t)_i);
    tu_qtensor *q = tu_qtensor_new(ctx, fp8, g->m, g->k, g->k + 3);
    tu_tensor *o_dense = tu_tensor_new(ctx, FP8F_F32, g->m, g->n, 0);
    tu_tensor *o_quant = tu_tensor_new(ctx, FP8F_F32, g->m, g->n, 0);
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &g->a->t, NULL, &q->qt), FP8F_OK);
    ck_assert_int_eq(q->qt.format, FP8F_QF_FP8_PER_TOKEN);
    tu_qtensor_download(q); /* the GEMM must not modify it */
    fp8f_act dense = {.kind = FP8F_ACT_DENSE, .dense = g->a->t};
    fp8f_act quant = {.kind = FP8F_ACT_QUANTIZED, .quant = q->qt};
    fp8f_status s = fp8f_linear_ptpc(ctx, &dense, g->w, &o_dense->t);
    ck_assert_msg(s == FP8F_OK, "dense: %s: %s", fp8f_status_str(s), fp8f_last_error(ctx));
    s = fp8f_linear_ptpc(ctx, &quant, g->w, &o_quant->t);
    ck_assert_msg(s == FP8F_OK, "quantized: %s: %s", fp8f_status_str(s), fp8f_last_error(ctx));
    tu_download(o_dense);
    tu_download(o_quant);
    ck_assert_mem_eq(o_dense->buf->host, o_quant->buf->host, o_dense->buf->bytes);
    check_out(g, o_quant, 1e-12, "reference backend, quantized activation");
    ck_assert(tu_qtensor_untouched(q));
    tu_qtensor_free(q);
    tu_tensor_free(o_dense);
    tu_tensor_free(o_quant);
    gemm_fx_free(g);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* The same (q, scale) pair on the CPU backend: UNSUPPORTED, nothing written,
 * a message that says to pass the dense activation; the dense activation
 * then gives what the reference backend gives. */
START_TEST(quantized_activation_on_cpu) {
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    fp8f_ctx *cpu = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32);
    gemm_fx *gr = gemm_fx_new(ref, 9, 33, 65, 1, 2100);
    gemm_fx *gc = gemm_fx_new(cpu, 9, 33, 65, 1, 2100); /* same seed: same data */
    ck_assert_mem_eq(gr->a->buf->host, gc->a->buf->host, gr->a->buf->bytes);
    tu_qtensor *qr = tu_qtensor_new(ref, FP8F_E4M3FN, 9, 65, 0);
    ck_assert_int_eq(fp8f_quant_per_token(ref, &gr->a->t, NULL, &qr->qt), FP8F_OK);
    tu_qtensor_download(qr);
    /* the pair, copied into CPU memory */
    tu_qtensor *qc = tu_qtensor_new(cpu, FP8F_E4M3FN, 9, 65, 0);
    memcpy(qc->q->buf->host, qr->q->buf->host, qr->q->buf->bytes);
    memcpy(qc->scale->host, qr->scale->host, qr->scale->bytes);
    tu_upload(qc->q);
    tu_buf_upload(qc->scale);
    qc->qt.format = FP8F_QF_FP8_PER_TOKEN;

    tu_tensor *oc = tu_tensor_new(cpu, FP8F_F16, 9, 33, 35);
    fp8f_act quant = {.kind = FP8F_ACT_QUANTIZED, .quant = qc->qt};
    tu_clear_error(cpu);
    fp8f_status s = fp8f_linear_ptpc(cpu, &quant, gc->w, &oc->t);
    ck_assert_msg(s == FP8F_E_UNSUPPORTED, "cpu with a quantized activation: %s",
                  fp8f_status_str(s));
    const char *msg = fp8f_last_error(cpu);
    ck_assert_msg(strstr(msg, "dense") != NULL, "message should say to pass the dense activation: %s",
                  msg);
    ck_assert(tu_untouched(oc) && tu_qtensor_untouched(qc) && tu_untouched(gc->a));

    /* the dense path on cpu and both paths on the reference agree */
    fp8f_act dense = {.kind = FP8F_ACT_DENSE, .dense = gc->a->t};
    ck_assert_int_eq(fp8f_linear_ptpc(cpu, &dense, gc->w, &oc->t), FP8F_OK);
    tu_download(oc);
    check_out(gc, oc, 1e-4, "cpu, dense activation");
    tu_tensor *orr = tu_tensor_new(ref, FP8F_F16, 9, 33, 35);
    fp8f_act rquant = {.kind = FP8F_ACT_QUANTIZED, .quant = qr->qt};
    ck_assert_int_eq(fp8f_linear_ptpc(ref, &rquant, gr->w, &orr->t), FP8F_OK);
    tu_download(orr);
    check_out(gr, orr, 1e-12, "reference, quantized activation");

    tu_tensor_free(oc);
    tu_tensor_free(orr);
    tu_qtensor_free(qr);
    tu_qtensor_free(qc);
    gemm_fx_free(gr);
    gemm_fx_free(gc);
    fp8f_ctx_destroy(ref);
    fp8f_ctx_destroy(cpu);
}
END_TEST

/* The quantized path needs FP8F_CAP_QUANTIZED_INPUT, and only that: a
 * backend with only the fused-norm capability refuses it. */
START_TEST(capability_decides) {
    struct fp8f_backend_ops fused_only = ref_backend_ops, input_only = ref_backend_ops;
    fused_only.caps = FP8F_CAP_FUSED_NORM_QUANT;
    input_only.caps = FP8F_CAP_QUANTIZED_INPUT;
    for (int v = 0; v < 2; v++) {
        fp8f_ctx *ctx = ref_ctx_create_with(v ? &input_only : &fused_only, FP8F_F32);
        gemm_fx *g = gemm_fx_new(ctx, 5, 7, 9, 0, 2200);
        tu_qtensor *q = tu_qtensor_new(ctx, FP8F_E4M3FN, 5, 9, 0);
        tu_tensor *o = tu_tensor_new(ctx, FP8F_BF16, 5, 7, 0);
        ck_assert_int_eq(fp8f_quant_per_token(ctx, &g->a->t, NULL, &q->qt), FP8F_OK);
        fp8f_act quant = {.kind = FP8F_ACT_QUANTIZED, .quant = q->qt};
        tu_clear_error(ctx);
        fp8f_status s = fp8f_linear_ptpc(ctx, &quant, g->w, &o->t);
        if (v) {
            ck_assert_msg(s == FP8F_OK, "input-only backend: %s", fp8f_status_str(s));
            tu_download(o);
            check_out(g, o, 1e-12, "input-only backend");
        } else {
            ck_assert_msg(s == FP8F_E_UNSUPPORTED, "fused-only backend: %s", fp8f_status_str(s));
            ck_assert_str_ne(fp8f_last_error(ctx), "");
            ck_assert(tu_untouched(o));
        }
        tu_qtensor_free(q);
        tu_tensor_free(o);
        gemm_fx_free(g);
        fp8f_ctx_destroy(ctx);
    }
}
END_TEST

/* Quantized activations on the reference: zero rows, strides, and the fp8
 * type and format checks (FORMAT, nothing written). */
START_TEST(quantized_activation_edges) {
    fp8f_ctx *ctx = ref_ctx_create(FP8F_E4M3FNUZ);
    gemm_fx *g = gemm_fx_new(ctx, 4, 6, 10, 0, 2300);
    tu_qtensor *q0 = tu_qtensor_new(ctx, FP8F_E4M3FNUZ, 0, 10, 12);
    q0->qt.format = FP8F_QF_FP8_PER_TOKEN;
    tu_tensor *o0 = tu_tensor_new(ctx, FP8F_F32, 0, 6, 0);
    fp8f_act a0 = {.kind = FP8F_ACT_QUANTIZED, .quant = q0->qt};
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &a0, g->w, &o0->t), FP8F_OK);
    ck_assert(tu_untouched(o0));

    tu_qtensor *q = tu_qtensor_new(ctx, FP8F_E4M3FNUZ, 4, 10, 16);
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &g->a->t, NULL, &q->qt), FP8F_OK);
    tu_tensor *o = tu_tensor_new(ctx, FP8F_F32, 4, 6, 9);
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = q->qt};
    a.quant.format = FP8F_QF_NONE;
    tu_clear_error(ctx);
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &a, g->w, &o->t), FP8F_E_FORMAT);
    ck_assert_str_ne(fp8f_last_error(ctx), "");
    ck_assert(tu_untouched(o));
    a.quant.format = FP8F_QF_FP8_PER_TOKEN;
    a.quant.q.dtype = FP8F_E4M3FN; /* the weight is fnuz */
    tu_clear_error(ctx);
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &a, g->w, &o->t), FP8F_E_FORMAT);
    ck_assert_str_ne(fp8f_last_error(ctx), "");
    ck_assert(tu_untouched(o));
    a.quant.q.dtype = FP8F_E4M3FNUZ;
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &a, g->w, &o->t), FP8F_OK);
    tu_download(o);
    check_out(g, o, 1e-12, "reference, strided quantized activation");
    ck_assert(tu_outside_is_sentinel(o));
    tu_qtensor_free(q0);
    tu_qtensor_free(q);
    tu_tensor_free(o0);
    tu_tensor_free(o);
    gemm_fx_free(g);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* The backend under test with a quantized activation: UNSUPPORTED without
 * the capability, else the same as its dense path (exact activation). */
START_TEST(quantized_activation_on_backend_under_test) {
    fp8f_ctx *ctx = tu_ctx_create();
    gemm_fx *g = gemm_fx_new(ctx, 8, 24, 48, 1, 2400);
    tu_qtensor *q = tu_qtensor_new(ctx, fp8f_ctx_fp8_dtype(ctx), 8, 48, 0);
    tu_tensor *o = tu_tensor_new(ctx, FP8F_F32, 8, 24, 0);
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &g->a->t, NULL, &q->qt), FP8F_OK);
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = q->qt};
    fp8f_status s = fp8f_linear_ptpc(ctx, &a, g->w, &o->t);
    if (fp8f_ctx_caps(ctx) & FP8F_CAP_QUANTIZED_INPUT) {
        ck_assert_msg(s == FP8F_OK, "%s: %s", fp8f_status_str(s), fp8f_last_error(ctx));
        tu_download(o);
        check_out(g, o, 1e-4, "backend under test, quantized activation");
    } else {
        ck_assert_int_eq(s, FP8F_E_UNSUPPORTED);
        ck_assert(tu_untouched(o));
    }
    tu_qtensor_free(q);
    tu_tensor_free(o);
    gemm_fx_free(g);
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *routing_suite(void) {
    Suite *s = suite_create("routing");
    TCase *tc = tu_tcase("backends");
    tcase_add_checked_fixture(tc, NULL, tu_env_restore);
    tcase_add_test(tc, caps_and_names);
    tcase_add_test(tc, env_cpu_with_auto);
    suite_add_tcase(s, tc);
    tc = tu_tcase("quantized_input");
    tcase_add_loop_test(tc, quantized_activation_on_reference, 0, 2);
    tcase_add_test(tc, quantized_activation_on_cpu);
    tcase_add_test(tc, capability_decides);
    tcase_add_test(tc, quantized_activation_edges);
    tcase_add_test(tc, quantized_activation_on_backend_under_test);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(routing_suite()); }
