/*
 * fp8f_prepare, the layer step of an engine: the fused path (norm+quant
 * into quant_buf, a QUANTIZED activation pointing into it) only on a
 * backend with both capabilities and only for exactly FP8F_QF_FP8_PER_TOKEN;
 * otherwise the dense path (rmsnorm into dense_buf). The buffer of the path
 * not taken may be NULL and is never written; a missing buffer of the path
 * taken is FP8F_E_INVALID with nothing written. The results match the
 * reference and the residual is updated exactly once. The activation that
 * prepare returns feeds fp8f_linear_ptpc on both backends, and
 * fp8f_prepare_linear (both steps in one call) gives the same results and
 * validates both steps before writing anything.
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

enum { ROWS = 6, H = 193 };

/* The inputs of one layer step and the reference results. */
typedef struct step {
    fp8f_ctx *ctx;
    tu_tensor *x, *res, *w;
    tu_tensor *dense_buf;   /* ROWS x H, F32 */
    tu_qtensor *quant_buf;  /* ROWS x H, the context's fp8 type */
    double *y;              /* reference norm output */
    unsigned char *res_ref; /* residual bytes after one update */
    uint8_t *codes;         /* reference quantization of y */
    double *scale;
} step;

static step *step_new(fp8f_ctx *ctx, fp8f_dtype xt, uint64_t seed) {
    step *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    s->ctx = ctx;
    s->x = tu_tensor_new(ctx, xt, ROWS, H, H + 3);
    s->res = tu_tensor_new(ctx, xt, ROWS, H, H + 1);
    s->w = tu_tensor_new(ctx, FP8F_BF16, 1, H, 0);
    s->dense_buf = tu_tensor_new(ctx, FP8F_F32, ROWS, H, H + 2);
    s->quant_buf = tu_qtensor_new(ctx, fp8f_ctx_fp8_dtype(ctx), ROWS, H, H + 5);
    tu_fill_normal(s->x, &rng, 1.0);
    tu_fill_normal(s->res, &rng, 1.0);
    tu_fill_uniform(s->w, &rng, 0.5, 1.5);
    size_t rb = s->res->buf->bytes + TU_SLACK;
    s->res_ref = malloc(rb);
    memcpy(s->res_ref, s->res->buf->host, rb);
    fp8f_tensor r = s->res->h;
    r.data = s->res_ref;
    s->y = malloc(ROWS * H * sizeof(double));
    s->codes = malloc(ROWS * H);
    s->scale = malloc(ROWS * sizeof(double));
    ref_rmsnorm(&s->x->h, &r, &s->w->h, 1e-6f, s->y, NULL);
    ref_quant(s->y, ROWS, H, fp8f_ctx_fp8_dtype(ctx), NULL, s->codes, s->scale);
    return s;
}

static void step_free(step *s) {
    tu_tensor_free(s->x);
    tu_tensor_free(s->res);
    tu_tensor_free(s->w);
    tu_tensor_free(s->dense_buf);
    tu_qtensor_free(s->quant_buf);
    free(s->y);
    free(s->res_ref);
    free(s->codes);
    free(s->scale);
    free(s);
}

static fp8f_status step_run(step *s, fp8f_quant_format fmt, int with_dense, int with_quant,
                            fp8f_act *out) {
    return fp8f_prepare(s->ctx, fmt, &s->x->t, &s->res->t, &s->w->t, 1e-6f,
                        with_dense ? &s->dense_buf->t : NULL,
                        with_quant ? &s->quant_buf->qt : NULL, out);
}

/* The residual holds x + r rounded, once (not x + x + r). */
static void check_residual_once(step *s, const char *what) {
    tu_download(s->res);
    ck_assert_msg(memcmp(s->res->buf->host, s->res_ref, s->res->buf->bytes + TU_SLACK) == 0,
                  "%s: the residual is not the reference's single update", what);
}

static void check_dense(step *s, const fp8f_act *out, const char *what) {
    ck_assert_msg(out->kind == FP8F_ACT_DENSE, "%s: kind %d, want DENSE", what, (int)out->kind);
    ck_assert_msg(out->dense.data == s->dense_buf->t.data, "%s: out does not point into dense_buf",
                  what);
    ck_assert_int_eq(out->dense.dtype, s->dense_buf->t.dtype);
    ck_assert_int_eq(out->dense.rows, ROWS);
    ck_assert_int_eq(out->dense.cols, H);
    ck_assert_int_eq(out->dense.stride, s->dense_buf->t.stride);
    tu_download(s->dense_buf);
    tu_check_floats(s->dense_buf, s->y, tu_norm_f32_rel(H), NULL, what);
    ck_assert_msg(tu_outside_is_sentinel(s->dense_buf), "%s: dense_buf written outside", what);
    ck_assert_msg(tu_qtensor_untouched(s->quant_buf), "%s: quant_buf was written", what);
    ck_assert_msg(s->quant_buf->qt.format == FP8F_QF_NONE, "%s: quant_buf's format set", what);
    check_residual_once(s, what);
    ck_assert_msg(tu_untouched(s->x) && tu_untouched(s->w), "%s: an input was modified", what);
}

static void check_fused(step *s, const fp8f_act *out, double scale_tol, const char *what) {
    ck_assert_msg(out->kind == FP8F_ACT_QUANTIZED, "%s: kind %d, want QUANTIZED", what,
                  (int)out->kind);
    ck_assert_msg(out->quant.q.data == s->quant_buf->q->t.data,
                  "%s: out's q does not point into quant_buf", what);
    ck_assert_msg(out->quant.scale == (float *)s->quant_buf->scale->dev,
                  "%s: out's scale is not quant_buf's", what);
    ck_assert_int_eq(out->quant.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert_int_eq(s->quant_buf->qt.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert_int_eq(out->quant.q.dtype, s->quant_buf->qt.q.dtype);
    ck_assert_int_eq(out->quant.q.rows, ROWS);
    ck_assert_int_eq(out->quant.q.cols, H);
    ck_assert_int_eq(out->quant.q.stride, s->quant_buf->qt.q.stride);
    tu_qtensor_download(s->quant_buf);
    tu_check_quant(s->quant_buf, s->codes, s->scale, scale_tol, NULL, what);
    ck_assert_msg(tu_untouched(s->dense_buf), "%s: dense_buf was written", what);
    check_residual_once(s, what);
    ck_assert_msg(tu_untouched(s->x) && tu_untouched(s->w), "%s: an input was modified", what);
}

/* Reference backend, fmt exactly FP8_PER_TOKEN: fused; dense_buf may be
 * NULL and is untouched when given. _i: fp8 type x dense_buf given. */
START_TEST(fused_on_reference) {
    fp8f_ctx *ctx = ref_ctx_create(_i % 2 ? FP8F_E4M3FNUZ : FP8F_E4M3FN);
    const fp8f_dtype xts[2] = {FP8F_BF16, FP8F_F16};
    step *s = step_new(ctx, xts[_i / 2], 3000 + (uint64_t)_i);
    fp8f_act out;
    memset(&out, 0, sizeof out);
    fp8f_status st = step_run(s, FP8F_QF_FP8_PER_TOKEN, _i / 2, 1, &out);
    ck_assert_msg(st == FP8F_OK, "%s: %s", fp8f_status_str(st), fp8f_last_error(ctx));
    check_fused(s, &out, 1e-7, "prepare fused on reference");
    step_free(s);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Reference backend, fmt NONE: dense; quant_buf may be NULL and is
 * untouched when given. */
START_TEST(dense_for_none_on_reference) {
    fp8f_ctx *ctx = ref_ctx_create(FP8F_F32);
    for (int with_quant = 0; with_quant < 2; with_quant++) {
        step *s = step_new(ctx, FP8F_BF16, 3100 + (uint64_t)with_quant);
        fp8f_act out;
        fp8f_status st = step_run(s, FP8F_QF_NONE, 1, with_quant, &out);
        ck_assert_msg(st == FP8F_OK, "%s: %s", fp8f_status_str(st), fp8f_last_error(ctx));
        check_dense(s, &out, "prepare NONE on reference");
        step_free(s);
    }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* The CPU backend (no capability): dense for every format. */
START_TEST(dense_on_cpu) {
    fp8f_ctx *ctx = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32);
    const fp8f_quant_format fmts[2] = {FP8F_QF_FP8_PER_TOKEN, FP8F_QF_NONE};
    for (int f = 0; f < 2; f++)
        for (int with_quant = 0; with_quant < 2; with_quant++) {
            step *s = step_new(ctx, FP8F_F16, 3200 + (uint64_t)(2 * f + with_quant));
            fp8f_act out;
            fp8f_status st = step_run(s, fmts[f], 1, with_quant, &out);
            ck_assert_msg(st == FP8F_OK, "%s: %s", fp8f_status_str(st), fp8f_last_error(ctx));
            char what[96];
            snprintf(what, sizeof what, "prepare %s on cpu, quant_buf %s",
                     fp8f_quant_format_name(fmts[f]), with_quant ? "given" : "NULL");
            check_dense(s, &out, what);
            step_free(s);
        }
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Fused needs both capabilities: with only one, PER_TOKEN goes dense. */
START_TEST(fused_needs_both_caps) {
    struct fp8f_backend_ops fused_only = ref_backend_ops, input_only = ref_backend_ops,
                            none = ref_backend_ops;
    fused_only.caps = FP8F_CAP_FUSED_NORM_QUANT;
    input_only.caps = FP8F_CAP_QUANTIZED_INPUT;
    none.caps = 0;
    const struct fp8f_backend_ops *variants[3] = {&fused_only, &input_only, &none};
    for (int v = 0; v < 3; v++) {
        fp8f_ctx *ctx = ref_ctx_create_with(variants[v], FP8F_F32);
        step *s = step_new(ctx, FP8F_BF16, 3300 + (uint64_t)v);
        fp8f_act out;
        fp8f_status st = step_run(s, FP8F_QF_FP8_PER_TOKEN, 1, 0, &out);
        ck_assert_msg(st == FP8F_OK, "caps 0x%x: %s", variants[v]->caps, fp8f_status_str(st));
        check_dense(s, &out, "prepare PER_TOKEN with one capability");
        step_free(s);
        fp8f_ctx_destroy(ctx);
    }
}
END_TEST

/* The buffer of the path taken is required; nothing is written without it.
 * An unknown fmt is INVALID on every backend (never the dense path). */
START_TEST(missing_buffer) {
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    fp8f_ctx *cpu = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32);
    struct {
        fp8f_ctx *ctx;
        fp8f_quant_format fmt;
        int with_dense, with_quant;
        const char *what;
    } cases[] = {
        {ref, FP8F_QF_FP8_PER_TOKEN, 1, 0, "reference fused without quant_buf"},
        {ref, FP8F_QF_FP8_PER_TOKEN, 0, 0, "reference fused without buffers"},
        {ref, FP8F_QF_NONE, 0, 1, "reference dense without dense_buf"},
        {cpu, FP8F_QF_FP8_PER_TOKEN, 0, 1, "cpu without dense_buf"},
        {cpu, FP8F_QF_NONE, 0, 1, "cpu NONE without dense_buf"},
        {ref, (fp8f_quant_format)99, 1, 1, "reference fmt 99"},
        {ref, (fp8f_quant_format)-1, 1, 1, "reference fmt -1"},
        {cpu, (fp8f_quant_format)2, 1, 1, "cpu fmt 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        step *s = step_new(cases[i].ctx, FP8F_BF16, 3400 + i);
        fp8f_act out, sentinel;
        memset(&out, TU_SENTINEL, sizeof out);
        memset(&sentinel, TU_SENTINEL, sizeof sentinel);
        tu_clear_error(cases[i].ctx);
        fp8f_status st = step_run(s, cases[i].fmt, cases[i].with_dense, cases[i].with_quant, &out);
        ck_assert_msg(st == FP8F_E_INVALID, "%s: %s", cases[i].what, fp8f_status_str(st));
        ck_assert_msg(*fp8f_last_error(cases[i].ctx), "%s: no message", cases[i].what);
        ck_assert_msg(memcmp(&out, &sentinel, sizeof out) == 0, "%s: out written", cases[i].what);
        ck_assert_msg(tu_untouched(s->res), "%s: residual modified", cases[i].what);
        ck_assert_msg(tu_untouched(s->dense_buf), "%s: dense_buf written", cases[i].what);
        ck_assert_msg(tu_qtensor_untouched(s->quant_buf), "%s: quant_buf written", cases[i].what);
        ck_assert_msg(s->quant_buf->qt.format == FP8F_QF_NONE, "%s: format set", cases[i].what);
        step_free(s);
    }
    fp8f_ctx_destroy(ref);
    fp8f_ctx_destroy(cpu);
}
END_TEST

/* A malformed buffer of the path taken is INVALID, with nothing written. */
START_TEST(bad_buffer_of_path_taken) {
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    step *s = step_new(ref, FP8F_BF16, 3500);
    fp8f_act out, sentinel;
    memset(&sentinel, TU_SENTINEL, sizeof sentinel);
    const char *whats[3] = {"quant_buf q BF16", "quant_buf rows + 1", "quant_buf NULL scale"};
    for (int i = 0; i < 3; i++) {
        fp8f_qtensor q = s->quant_buf->qt;
        if (i == 0)
            q.q.dtype = FP8F_BF16;
        if (i == 1)
            q.q.rows++;
        if (i == 2)
            q.scale = NULL;
        memset(&out, TU_SENTINEL, sizeof out);
        tu_clear_error(ref);
        fp8f_status st = fp8f_prepare(ref, FP8F_QF_FP8_PER_TOKEN, &s->x->t, &s->res->t,
                                      &s->w->t, 1e-6f, NULL, &q, &out);
        ck_assert_msg(st == FP8F_E_INVALID, "%s: %s", whats[i], fp8f_status_str(st));
        ck_assert_str_ne(fp8f_last_error(ref), "");
        ck_assert(memcmp(&out, &sentinel, sizeof out) == 0);
        ck_assert_msg(tu_untouched(s->res) && tu_qtensor_untouched(s->quant_buf),
                      "%s: something was written", whats[i]);
    }
    step_free(s);
    fp8f_ctx_destroy(ref);
}
END_TEST

/* quant_buf's format is an output: a value never set is no error, and the
 * call sets it. */
START_TEST(quant_buf_format_is_only_written) {
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    step *s = step_new(ref, FP8F_BF16, 3500);
    fp8f_qtensor q = s->quant_buf->qt;
    q.format = (fp8f_quant_format)99;
    fp8f_act out;
    fp8f_status st = fp8f_prepare(ref, FP8F_QF_FP8_PER_TOKEN, &s->x->t, &s->res->t, &s->w->t,
                                  1e-6f, NULL, &q, &out);
    ck_assert_msg(st == FP8F_OK, "%s", fp8f_last_error(ref));
    ck_assert_int_eq(q.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert_int_eq(out.kind, FP8F_ACT_QUANTIZED);
    ck_assert_int_eq(out.quant.format, FP8F_QF_FP8_PER_TOKEN);
    step_free(s);
    fp8f_ctx_destroy(ref);
}
END_TEST

/* prepare -> linear_ptpc: the fused activation on the reference and the
 * dense one on the CPU both give the layer's output. */
/* The activation of fp8f_prepare feeds fp8f_linear_ptpc on both backends
 * (_i = 0), and fp8f_prepare_linear does both in one call with the same
 * results (_i = 1), against the reference of the layer. */
START_TEST(feeds_the_gemm) {
    const int one_call = _i;
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32);
    fp8f_ctx *cpu = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32);
    fp8f_ctx *ctxs[2] = {ref, cpu};
    const int64_t n = 37;
    tu_tensor *outs[2];
    double *want = malloc(ROWS * n * sizeof(double)), *abs_terms = malloc(ROWS * n * sizeof(double));
    double *allowance = calloc(ROWS * n, sizeof(double));
    for (int b = 0; b < 2; b++) {
        fp8f_ctx *ctx = ctxs[b];
        step *s = step_new(ctx, FP8F_BF16, 3600); /* same data on both */
        tu_rng rng;
        tu_rng_seed(&rng, 3601);
        tu_tensor *wq = tu_tensor_new(ctx, FP8F_E4M3FN, n, H, 0);
        tu_buf *ws = tu_buf_new(ctx, n * sizeof(float));
        tu_fill_normal(wq, &rng, 1.0);
        for (int64_t j = 0; j < n; j++)
            tu_buf_set_f32(ws, (size_t)j, 0.004f);
        tu_buf_upload(ws);
        fp8f_weight *w = NULL;
        ck_assert_int_eq(fp8f_weight_create(ctx, &wq->t, ws->dev, NULL, &w), FP8F_OK);
        outs[b] = tu_tensor_new(ctx, FP8F_F32, ROWS, n, 0);
        fp8f_status st;
        if (one_call) {
            st = fp8f_prepare_linear(ctx, &s->x->t, &s->res->t, &s->w->t, 1e-6f,
                                     &s->dense_buf->t, &s->quant_buf->qt, w, &outs[b]->t);
            /* the path fp8f_prepare would take, and nothing else written */
            ck_assert_msg(b == 0 ? tu_untouched(s->dense_buf) : tu_qtensor_untouched(s->quant_buf),
                          "%s: the buffer of the path not taken was written",
                          fp8f_ctx_backend_name(ctx));
            ck_assert_int_eq(s->quant_buf->qt.format,
                             b == 0 ? FP8F_QF_FP8_PER_TOKEN : FP8F_QF_NONE);
        } else {
            fp8f_act act;
            ck_assert_int_eq(step_run(s, FP8F_QF_FP8_PER_TOKEN, 1, 1, &act), FP8F_OK);
            ck_assert_int_eq(act.kind, b == 0 ? FP8F_ACT_QUANTIZED : FP8F_ACT_DENSE);
            st = fp8f_linear_ptpc(ctx, &act, w, &outs[b]->t);
        }
        ck_assert_msg(st == FP8F_OK, "%s: %s: %s", fp8f_ctx_backend_name(ctx),
                      fp8f_status_str(st), fp8f_last_error(ctx));
        check_residual_once(s, one_call ? "fp8f_prepare_linear" : "fp8f_prepare");
        tu_download(outs[b]);
        ck_assert_msg(tu_outside_is_sentinel(outs[b]), "out written outside its elements");
        if (b == 0) {
            /* the reference of the layer: quantized y times the weight; the
             * CPU quantizes its f32 y, whose codes may be one step away where
             * y / scale is within the norm's f32 error of a boundary */
            double *av = malloc(ROWS * H * sizeof(double)), *wv = malloc(n * H * sizeof(double));
            double *sw = malloc(n * sizeof(double)), *amb = calloc(ROWS * H, sizeof(double));
            const double rel = 2.0 * tu_norm_f32_rel(H) + 1e-5;
            for (int64_t i = 0; i < ROWS * H; i++) {
                av[i] = ref_fp8_decode(FP8F_E4M3FN, s->codes[i]);
                double v = ref_round(FP8F_F32, s->y[i] / s->scale[i / H]);
                if (ref_fp8_ambiguous(FP8F_E4M3FN, v, rel))
                    amb[i] = ref_fp8_step(FP8F_E4M3FN, s->codes[i]);
            }
            for (int64_t j = 0; j < n; j++) {
                sw[j] = 0.004f;
                for (int64_t c = 0; c < H; c++)
                    wv[j * H + c] = ref_fp8_decode(FP8F_E4M3FN, tu_code(wq, j, c));
            }
            ref_gemm(av, s->scale, wv, sw, NULL, ROWS, n, H, want, abs_terms);
            for (int64_t i = 0; i < ROWS; i++)
                for (int64_t j = 0; j < n; j++)
                    for (int64_t c = 0; c < H; c++)
                        allowance[i * n + j] +=
                            amb[i * H + c] * fabs(wv[j * H + c]) * s->scale[i] * sw[j];
            free(av);
            free(wv);
            free(sw);
            free(amb);
        }
        fp8f_weight_destroy(w);
        tu_tensor_free(wq);
        tu_buf_free(ws);
        step_free(s);
    }
    for (int64_t i = 0; i < ROWS; i++)
        for (int64_t j = 0; j < n; j++) {
            double r = want[i * n + j], at = abs_terms[i * n + j];
            double g0 = tu_get(outs[0], i, j), g1 = tu_get(outs[1], i, j);
            /* the reference backend computes exactly the reference */
            TU_REQUIRE(fabs(g0 - r) <= 1e-6 * fabs(r) + 1e-9 * at,
                       "reference backend out[%lld,%lld] = %.9g, reference %.9g", (long long)i,
                       (long long)j, g0, r);
            double tol = 1e-4 * at + allowance[i * n + j];
            tol += ref_half_ulp_rel(FP8F_F32) * (fabs(r) + tol);
            TU_REQUIRE(fabs(g1 - r) <= tol, "cpu out[%lld,%lld] = %.9g, reference %.9g (tol %.3g)",
                       (long long)i, (long long)j, g1, r, tol);
        }
    tu_tensor_free(outs[0]);
    tu_tensor_free(outs[1]);
    free(want);
    free(abs_terms);
    free(allowance);
    fp8f_ctx_destroy(ref);
    fp8f_ctx_destroy(cpu);
}
END_TEST

/* fp8f_prepare_linear on the CPU backend takes the GEMM's memory before
 * its first step: where it cannot be had (2^50 rows, whose per-token codes
 * would need 2^50 x (H + 4) bytes), the call fails with FP8F_E_NOMEM and
 * leaves the residual, dense_buf and out as they were (the tensors point
 * at ROWS-row buffers: touching row ROWS would be out of bounds). Then the
 * same context does the real step. */
START_TEST(prepare_linear_nomem_before_first_step) {
    fp8f_ctx *cpu = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_E4M3FN);
    step *s = step_new(cpu, FP8F_BF16, 3800);
    tu_rng rng;
    tu_rng_seed(&rng, 3801);
    tu_tensor *wq = tu_tensor_new(cpu, FP8F_E4M3FN, 9, H, 0);
    tu_fill_normal(wq, &rng, 1.0);
    tu_buf *ws = tu_buf_new(cpu, 9 * sizeof(float));
    for (int j = 0; j < 9; j++)
        tu_buf_set_f32(ws, (size_t)j, 0.01f);
    tu_buf_upload(ws);
    fp8f_weight *w = NULL;
    ck_assert_int_eq(fp8f_weight_create(cpu, &wq->t, ws->dev, NULL, &w), FP8F_OK);
    tu_tensor *out = tu_tensor_new(cpu, FP8F_BF16, ROWS, 9, 0);
    const int64_t huge = (int64_t)1 << 50;
    fp8f_tensor x = s->x->t, res = s->res->t, dense = s->dense_buf->t, o = out->t;
    x.rows = res.rows = dense.rows = o.rows = huge;
    fp8f_status st = fp8f_prepare_linear(cpu, &x, &res, &s->w->t, 1e-6f, &dense, NULL, w, &o);
    ck_assert_msg(st == FP8F_E_NOMEM, "%s (%s)", fp8f_status_str(st), fp8f_last_error(cpu));
    ck_assert_msg(tu_untouched(s->res) && tu_untouched(s->dense_buf) && tu_untouched(out),
                  "a failed fp8f_prepare_linear wrote something");
    ck_assert_int_eq(fp8f_prepare_linear(cpu, &s->x->t, &s->res->t, &s->w->t, 1e-6f,
                                         &s->dense_buf->t, NULL, w, &out->t),
                     FP8F_OK);
    check_residual_once(s, "fp8f_prepare_linear after FP8F_E_NOMEM");
    fp8f_weight_destroy(w);
    tu_tensor_free(wq);
    tu_tensor_free(out);
    tu_buf_free(ws);
    step_free(s);
    fp8f_ctx_destroy(cpu);
}
END_TEST

/* fp8f_prepare_linear validates both steps before the first one runs: a
 * weight that does not fit the activation, a weight of another context, an
 * output of the wrong shape or a missing buffer leave the residual, both
 * buffers and out untouched. */
START_TEST(prepare_linear_errors) {
    fp8f_ctx *ref = ref_ctx_create(FP8F_F32), *other = ref_ctx_create(FP8F_F32);
    step *s = step_new(ref, FP8F_BF16, 3700);
    tu_rng rng;
    tu_rng_seed(&rng, 3701);
    fp8f_weight *w_ok = NULL, *w_k = NULL, *w_other = NULL;
    tu_tensor *wq = tu_tensor_new(ref, FP8F_E4M3FN, 9, H, 0),
              *wq_k = tu_tensor_new(ref, FP8F_E4M3FN, 9, H + 1, 0),
              *wq_o = tu_tensor_new(other, FP8F_E4M3FN, 9, H, 0);
    tu_buf *ws = tu_buf_new(ref, 9 * sizeof(float)), *ws_o = tu_buf_new(other, 9 * sizeof(float));
    for (int j = 0; j < 9; j++) {
        tu_buf_set_f32(ws, (size_t)j, 0.01f);
        tu_buf_set_f32(ws_o, (size_t)j, 0.01f);
    }
    tu_buf_upload(ws);
    tu_buf_upload(ws_o);
    tu_fill_normal(wq, &rng, 1.0);
    tu_fill_normal(wq_k, &rng, 1.0);
    tu_fill_normal(wq_o, &rng, 1.0);
    ck_assert_int_eq(fp8f_weight_create(ref, &wq->t, ws->dev, NULL, &w_ok), FP8F_OK);
    ck_assert_int_eq(fp8f_weight_create(ref, &wq_k->t, ws->dev, NULL, &w_k), FP8F_OK);
    ck_assert_int_eq(fp8f_weight_create(other, &wq_o->t, ws_o->dev, NULL, &w_other), FP8F_OK);
    tu_tensor *out = tu_tensor_new(ref, FP8F_BF16, ROWS, 9, 0),
              *out_bad = tu_tensor_new(ref, FP8F_BF16, ROWS, 8, 0);
    struct {
        const char *what;
        const fp8f_weight *w;
        tu_tensor *out;
        int with_quant;
        fp8f_status want;
    } cases[] = {
        {"weight K != H", w_k, out, 1, FP8F_E_INVALID},
        {"weight of another context", w_other, out, 1, FP8F_E_INVALID},
        {"NULL weight", NULL, out, 1, FP8F_E_INVALID},
        {"out of N - 1 columns", w_ok, out_bad, 1, FP8F_E_INVALID},
        {"quant_buf NULL on the fused path", w_ok, out, 0, FP8F_E_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp8f_status st = fp8f_prepare_linear(ref, &s->x->t, &s->res->t, &s->w->t, 1e-6f,
                                             &s->dense_buf->t,
                                             cases[i].with_quant ? &s->quant_buf->qt : NULL,
                                             cases[i].w, &cases[i].out->t);
        ck_assert_msg(st == cases[i].want, "%s: %s (%s)", cases[i].what, fp8f_status_str(st),
                      fp8f_last_error(ref));
        ck_assert_msg(strlen(fp8f_last_error(ref)) > 0, "%s: no message", cases[i].what);
        ck_assert_msg(tu_untouched(s->res) && tu_untouched(s->dense_buf) &&
                          tu_qtensor_untouched(s->quant_buf) && tu_untouched(cases[i].out),
                      "%s: something was written", cases[i].what);
    }
    ck_assert_int_eq(fp8f_prepare_linear(NULL, &s->x->t, &s->res->t, &s->w->t, 1e-6f, NULL,
                                         &s->quant_buf->qt, w_ok, &out->t),
                     FP8F_E_INVALID);
    /* and the same arguments, corrected, work */
    ck_assert_int_eq(fp8f_prepare_linear(ref, &s->x->t, &s->res->t, &s->w->t, 1e-6f, NULL,
                                         &s->quant_buf->qt, w_ok, &out->t),
                     FP8F_OK);
    check_residual_once(s, "fp8f_prepare_linear after refusals");
    fp8f_weight_destroy(w_ok);
    fp8f_weight_destroy(w_k);
    fp8f_weight_destroy(w_other);
    tu_tensor_free(wq);
    tu_tensor_free(wq_k);
    tu_tensor_free(wq_o);
    tu_tensor_free(out);
    tu_tensor_free(out_bad);
    tu_buf_free(ws);
    tu_buf_free(ws_o);
    step_free(s);
    fp8f_ctx_destroy(ref);
    fp8f_ctx_destroy(other);
}
END_TEST

static Suite *prepare_suite(void) {
    Suite *s = suite_create("prepare");
    TCase *tc = tu_tcase("paths");
    tcase_add_loop_test(tc, fused_on_reference, 0, 4);
    tcase_add_test(tc, dense_for_none_on_reference);
    tcase_add_test(tc, dense_on_cpu);
    tcase_add_test(tc, fused_needs_both_caps);
    suite_add_tcase(s, tc);
    tc = tu_tcase("errors");
    tcase_add_test(tc, missing_buffer);
    tcase_add_test(tc, bad_buffer_of_path_taken);
    tcase_add_test(tc, quant_buf_format_is_only_written);
    suite_add_tcase(s, tc);
    tc = tu_tcase("gemm");
    tcase_add_loop_test(tc, feeds_the_gemm, 0, 2);
    tcase_add_test(tc, prepare_linear_errors);
    tcase_add_test(tc, prepare_linear_nomem_before_first_step);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(prepare_suite()); }
