/*
 * Validation and errors: every public entry point with a NULL context, NULL
 * pointers, unknown enum values, bad shapes, strides, sizes and dtypes, bad
 * scalars, FORMAT and UNSUPPORTED cases, the validation order (INVALID,
 * then FORMAT, then UNSUPPORTED), status names, quant-format names, and
 * backend selection through FP8F_BACKEND, and the AMD guard against a GPU
 * the HIP module has no code for.
 *
 * Every failing call is checked for: the expected status, a non-empty
 * message (cleared before the call, so it is this call's), and every output
 * and the residual byte-identical to before the call (the outputs are
 * filled with a sentinel, the inputs with random data, and all of them are
 * downloaded and compared after the call).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> /* mkdir */
#include <unistd.h> /* access, rmdir, unlink */

#include "internal.h"
#include "ref.h"
#include "ref_backend.h"
#include "testutil.h"

enum { R = 3, H = 8, N = 5 }; /* rows, hidden size (= K), out features */

/* A complete set of valid arguments for every operation, in one context. */
typedef struct fx {
    fp8f_ctx *ctx;
    fp8f_dtype fp8;
    tu_tensor *x, *res, *w, *out;      /* norm: x, residual, weight, output */
    tu_qtensor *qout;                  /* quant output */
    tu_tensor *wq, *bias;              /* GEMM weight codes (N x K), bias (1 x N) */
    tu_buf *wscale;                    /* N floats */
    tu_tensor *act;                    /* dense activation R x K */
    tu_qtensor *qact;                  /* quantized activation R x K */
    tu_tensor *gout;                   /* GEMM output R x N */
    tu_tensor *dense_buf;              /* fp8f_prepare's buffers */
    tu_qtensor *quant_buf;
    fp8f_weight *weight;
    fp8f_act act_out;                  /* fp8f_prepare's out, sentinel bytes */
} fx;

static fx *fx_new(fp8f_ctx *ctx) {
    fx *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    f->ctx = ctx;
    f->fp8 = fp8f_ctx_fp8_dtype(ctx);
    f->x = tu_tensor_new(ctx, FP8F_BF16, R, H, H + 2);
    f->res = tu_tensor_new(ctx, FP8F_BF16, R, H, H + 1);
    f->w = tu_tensor_new(ctx, FP8F_F32, 1, H, 0);
    f->out = tu_tensor_new(ctx, FP8F_F16, R, H, 0);
    f->qout = tu_qtensor_new(ctx, f->fp8, R, H, H + 4);
    f->wq = tu_tensor_new(ctx, f->fp8, N, H, 0);
    f->bias = tu_tensor_new(ctx, FP8F_F32, 1, N, 0);
    f->wscale = tu_buf_new(ctx, N * sizeof(float));
    f->act = tu_tensor_new(ctx, FP8F_BF16, R, H, 0);
    f->qact = tu_qtensor_new(ctx, f->fp8, R, H, 0);
    f->gout = tu_tensor_new(ctx, FP8F_F32, R, N, N + 1);
    f->dense_buf = tu_tensor_new(ctx, FP8F_F32, R, H, 0);
    f->quant_buf = tu_qtensor_new(ctx, f->fp8, R, H, 0);
    tu_fill_normal(f->x, &rng, 1.0);
    tu_fill_normal(f->res, &rng, 1.0);
    tu_fill_uniform(f->w, &rng, 0.5, 1.5);
    tu_fill_normal(f->wq, &rng, 1.0);
    tu_fill_normal(f->bias, &rng, 1.0);
    tu_fill_normal(f->act, &rng, 1.0);
    tu_fill_normal(f->qact->q, &rng, 1.0);
    for (int i = 0; i < N; i++)
        tu_buf_set_f32(f->wscale, (size_t)i, 0.01f * (float)(i + 1));
    tu_buf_upload(f->wscale);
    for (int i = 0; i < R; i++)
        tu_buf_set_f32(f->qact->scale, (size_t)i, 0.02f * (float)(i + 1));
    tu_buf_upload(f->qact->scale);
    f->qact->qt.format = FP8F_QF_FP8_PER_TOKEN;
    fp8f_status s = fp8f_weight_create(ctx, &f->wq->t, f->wscale->dev, &f->bias->t, &f->weight);
    ck_assert_msg(s == FP8F_OK, "fixture weight: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(ctx));
    memset(&f->act_out, TU_SENTINEL, sizeof f->act_out);
    return f;
}

static void fx_free(fx *f) {
    fp8f_weight_destroy(f->weight);
    tu_tensor_free(f->x);
    tu_tensor_free(f->res);
    tu_tensor_free(f->w);
    tu_tensor_free(f->out);
    tu_qtensor_free(f->qout);
    tu_tensor_free(f->wq);
    tu_tensor_free(f->bias);
    tu_buf_free(f->wscale);
    tu_tensor_free(f->act);
    tu_qtensor_free(f->qact);
    tu_tensor_free(f->gout);
    tu_tensor_free(f->dense_buf);
    tu_qtensor_free(f->quant_buf);
    fp8f_ctx *ctx = f->ctx;
    free(f);
    fp8f_ctx_destroy(ctx);
}

/* Every buffer of the fixture (inputs, residual and outputs) unchanged. */
static void fx_assert_untouched(fx *f, const char *what) {
    static const char *const names[] = {"x", "residual", "norm weight", "out", "weight q",
                                        "bias", "dense activation", "gemm out", "dense_buf"};
    tu_tensor *ts[] = {f->x, f->res, f->w, f->out, f->wq, f->bias, f->act, f->gout, f->dense_buf};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ck_assert_msg(tu_untouched(ts[i]), "%s: %s was modified by a failing call", what,
                      names[i]);
    ck_assert_msg(tu_qtensor_untouched(f->qout), "%s: quant out was modified", what);
    ck_assert_msg(tu_qtensor_untouched(f->qact), "%s: quantized activation was modified", what);
    ck_assert_msg(tu_qtensor_untouched(f->quant_buf), "%s: quant_buf was modified", what);
    ck_assert_msg(tu_buf_untouched(f->wscale), "%s: weight scale was modified", what);
    ck_assert_msg(f->qout->qt.format == FP8F_QF_NONE, "%s: quant out's format was set", what);
    ck_assert_msg(f->quant_buf->qt.format == FP8F_QF_NONE, "%s: quant_buf's format was set",
                  what);
    fp8f_act sentinel;
    memset(&sentinel, TU_SENTINEL, sizeof sentinel);
    ck_assert_msg(memcmp(&sentinel, &f->act_out, sizeof sentinel) == 0,
                  "%s: fp8f_prepare's out was written", what);
}

/* Clears both messages before a call that must fail. */
static void before(fx *f) {
    tu_clear_error(f ? f->ctx : NULL);
    tu_clear_error(NULL);
}

/* The status, a non-empty message on msg_ctx (NULL: this thread's), and
 * nothing written. */
static void expect_fail(fx *f, fp8f_ctx *msg_ctx, fp8f_status want, fp8f_status got,
                        const char *what) {
    const char *msg = fp8f_last_error(msg_ctx);
    ck_assert_msg(got == want, "%s: got %s, want %s (message: \"%s\")", what,
                  fp8f_status_str(got), fp8f_status_str(want), msg ? msg : "(null)");
    ck_assert_msg(msg && *msg, "%s: %s without an error message", what, fp8f_status_str(got));
    if (f)
        fx_assert_untouched(f, what);
}

/* ---- tensor mutations ------------------------------------------------------- */

enum mut {
    MUT_NULL,
    MUT_DTYPE_UNKNOWN,  /* 99 */
    MUT_DTYPE_NEGATIVE, /* -1 */
    MUT_DTYPE_ROLE,     /* fp8 where a float type is needed, or the reverse */
    MUT_ROWS_NEG,
    MUT_COLS_ZERO,
    MUT_COLS_NEG,
    MUT_STRIDE_LT_COLS,
    MUT_OVERFLOW,       /* rows = INT64_MAX / 2, stride 4 */
    MUT_OVERFLOW_BYTES, /* rows * stride fits, rows * stride * elem does not */
    MUT_DATA_NULL,
    MUT_ROWS_PLUS,      /* a shape that disagrees with the other arguments */
    MUT_COLS_PLUS,
    MUT_COUNT
};

static const char *const mut_names[MUT_COUNT] = {
    "NULL",         "dtype 99",          "dtype -1",     "dtype outside its role",
    "rows < 0",     "cols = 0",          "cols < 0",     "stride < cols",
    "rows*stride overflows", "byte size overflows", "NULL data", "rows + 1", "cols + 1"};

/* Applies m to *t (a copy of a valid tensor); returns what to pass. */
static fp8f_tensor *mutate(fp8f_tensor *t, enum mut m, int fp8_role) {
    switch (m) {
    case MUT_NULL:
        return NULL;
    case MUT_DTYPE_UNKNOWN:
        t->dtype = (fp8f_dtype)99;
        break;
    case MUT_DTYPE_NEGATIVE:
        t->dtype = (fp8f_dtype)-1;
        break;
    case MUT_DTYPE_ROLE:
        t->dtype = fp8_role ? FP8F_BF16 : FP8F_E4M3FN;
        break;
    case MUT_ROWS_NEG:
        t->rows = -1;
        break;
    case MUT_COLS_ZERO:
        t->cols = 0;
        break;
    case MUT_COLS_NEG:
        t->cols = -3;
        break;
    case MUT_STRIDE_LT_COLS:
        t->stride = t->cols - 1;
        break;
    case MUT_OVERFLOW:
        t->rows = INT64_MAX / 2;
        t->stride = t->cols > 4 ? t->cols : 4;
        break;
    case MUT_OVERFLOW_BYTES: {
        int64_t elem = (int64_t)ref_dtype_size(t->dtype);
        t->stride = t->cols * 3;
        t->rows = INT64_MAX / t->stride / elem + 1;
        break;
    }
    case MUT_DATA_NULL:
        t->data = NULL;
        break;
    case MUT_ROWS_PLUS:
        t->rows += 1;
        break;
    case MUT_COLS_PLUS:
        t->cols += 1;
        if (t->stride < t->cols)
            t->stride = t->cols;
        break;
    case MUT_COUNT:
        break;
    }
    return t;
}

/* ---- NULL context --------------------------------------------------------------- */

START_TEST(null_ctx_every_entry_point) {
    fx *f = fx_new(tu_ctx_create());
    fp8f_ctx *ctx = f->ctx;
    float ub = 1.0f;
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = f->act->t};
    fp8f_weight *wout = (fp8f_weight *)&ub; /* sentinel pointer */
    void *p = &ub;
    char host[16];
    fp8f_status s;

    before(f);
    s = fp8f_rmsnorm(NULL, &f->x->t, &f->res->t, &f->w->t, 1e-5f, &f->out->t);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "rmsnorm(NULL ctx)");
    before(f);
    s = fp8f_quant_per_token(NULL, &f->x->t, &ub, &f->qout->qt);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "quant_per_token(NULL ctx)");
    before(f);
    s = fp8f_rmsnorm_quant(NULL, &f->x->t, &f->res->t, &f->w->t, 1e-5f, &ub, &f->qout->qt);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "rmsnorm_quant(NULL ctx)");
    before(f);
    s = fp8f_weight_create(NULL, &f->wq->t, f->wscale->dev, &f->bias->t, &wout);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "weight_create(NULL ctx)");
    ck_assert_ptr_eq(wout, (fp8f_weight *)&ub);
    before(f);
    s = fp8f_linear_ptpc(NULL, &act, f->weight, &f->gout->t);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "linear_ptpc(NULL ctx)");
    before(f);
    s = fp8f_prepare(NULL, FP8F_QF_NONE, &f->x->t, &f->res->t, &f->w->t, 1e-5f,
                     &f->dense_buf->t, &f->quant_buf->qt, &f->act_out);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "prepare(NULL ctx)");
    before(f);
    s = fp8f_ctx_sync(NULL);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "ctx_sync(NULL)");
    before(f);
    s = fp8f_mem_alloc(NULL, 16, &p);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "mem_alloc(NULL ctx)");
    ck_assert_ptr_eq(p, &ub);
    before(f);
    memset(host, 0x11, sizeof host);
    s = fp8f_mem_upload(NULL, f->out->buf->dev, host, sizeof host);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "mem_upload(NULL ctx)");
    before(f);
    s = fp8f_mem_download(NULL, host, f->out->buf->dev, sizeof host);
    expect_fail(f, NULL, FP8F_E_INVALID, s, "mem_download(NULL ctx)");
    for (size_t i = 0; i < sizeof host; i++)
        ck_assert_uint_eq((unsigned char)host[i], 0x11);

    /* the accessors and destructors accept NULL */
    ck_assert_ptr_null(fp8f_ctx_backend_name(NULL));
    ck_assert_uint_eq(fp8f_ctx_caps(NULL), 0);
    fp8f_ctx_destroy(NULL);
    fp8f_weight_destroy(NULL);
    fp8f_mem_free(ctx, NULL);
    fp8f_mem_free(NULL, NULL);
    ck_assert_ptr_nonnull(fp8f_last_error(NULL));
    /* a context's message is its own, the thread's is separate */
    before(f);
    s = fp8f_rmsnorm(ctx, NULL, NULL, &f->w->t, 1e-5f, &f->out->t);
    expect_fail(f, ctx, FP8F_E_INVALID, s, "rmsnorm(x NULL)");
    ck_assert_str_eq(fp8f_last_error(NULL), "");
    fx_free(f);
}
END_TEST

/* ---- rmsnorm ----------------------------------------------------------------------- */

START_TEST(rmsnorm_bad_tensors) {
    fx *f = fx_new(tu_ctx_create());
    static const char *const arg_names[4] = {"x", "residual", "weight", "out"};
    int cases = 0;
    for (int arg = 0; arg < 4; arg++) {
        for (int m = 0; m < MUT_COUNT; m++) {
            if (arg == 1 && m == MUT_NULL)
                continue; /* no residual is valid */
            fp8f_tensor c[4] = {f->x->t, f->res->t, f->w->t, f->out->t};
            fp8f_tensor *p[4] = {&c[0], &c[1], &c[2], &c[3]};
            p[arg] = mutate(&c[arg], (enum mut)m, 0);
            char what[128];
            snprintf(what, sizeof what, "rmsnorm: %s %s", arg_names[arg], mut_names[m]);
            before(f);
            fp8f_status s = fp8f_rmsnorm(f->ctx, p[0], p[1], p[2], 1e-5f, p[3]);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
            cases++;
        }
    }
    ck_assert_int_eq(cases, 4 * MUT_COUNT - 1);
    fx_free(f);
}
END_TEST

static const float bad_scalars[] = {0.0f, -0.0f, -1.0f, -1e-30f, NAN, INFINITY, -INFINITY};
#define N_BAD_SCALARS (sizeof bad_scalars / sizeof bad_scalars[0])

START_TEST(rmsnorm_bad_eps_and_residual) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    for (size_t i = 0; i < N_BAD_SCALARS; i++) {
        snprintf(what, sizeof what, "rmsnorm: eps = %g", (double)bad_scalars[i]);
        before(f);
        fp8f_status s =
            fp8f_rmsnorm(f->ctx, &f->x->t, &f->res->t, &f->w->t, bad_scalars[i], &f->out->t);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        before(f);
        s = fp8f_rmsnorm(f->ctx, &f->x->t, NULL, &f->w->t, bad_scalars[i], &f->out->t);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    /* residual of another dtype than x (same shape) */
    const fp8f_dtype others[2] = {FP8F_F16, FP8F_F32};
    for (int i = 0; i < 2; i++) {
        fp8f_tensor r = f->res->t;
        r.dtype = others[i];
        snprintf(what, sizeof what, "rmsnorm: residual %s with x BF16", ref_dtype_name(others[i]));
        before(f);
        fp8f_status s = fp8f_rmsnorm(f->ctx, &f->x->t, &r, &f->w->t, 1e-5f, &f->out->t);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    /* norm weight as a column (H x 1) instead of a row */
    fp8f_tensor wcol = {f->w->t.data, FP8F_F32, H, 1, 1};
    before(f);
    fp8f_status s = fp8f_rmsnorm(f->ctx, &f->x->t, &f->res->t, &wcol, 1e-5f, &f->out->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "rmsnorm: weight H x 1");
    fx_free(f);
}
END_TEST

/* ---- quantization -------------------------------------------------------------------- */

START_TEST(quant_bad_arguments) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    fp8f_status s;
    for (int arg = 0; arg < 2; arg++) {
        for (int m = 0; m < MUT_COUNT; m++) {
            fp8f_tensor x = f->x->t;
            fp8f_qtensor q = f->qout->qt;
            fp8f_tensor *px = &x;
            fp8f_qtensor *pq = &q;
            if (arg == 0) {
                px = mutate(&x, (enum mut)m, 0);
            } else if (m == MUT_NULL) {
                pq = NULL;
            } else {
                mutate(&q.q, (enum mut)m, 1);
            }
            snprintf(what, sizeof what, "quant_per_token: %s %s", arg ? "out" : "x",
                     mut_names[m]);
            before(f);
            s = fp8f_quant_per_token(f->ctx, px, NULL, pq);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
            snprintf(what, sizeof what, "rmsnorm_quant: %s %s", arg ? "out" : "x", mut_names[m]);
            before(f);
            s = fp8f_rmsnorm_quant(f->ctx, px, &f->res->t, &f->w->t, 1e-5f, NULL, pq);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
            ck_assert_int_eq(f->qout->qt.format, FP8F_QF_NONE);
        }
    }
    /* the scale pointer, the format value */
    fp8f_qtensor q = f->qout->qt;
    q.scale = NULL;
    before(f);
    s = fp8f_quant_per_token(f->ctx, &f->x->t, NULL, &q);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "quant_per_token: NULL scale");
    /* an output's format is only written: a value never set is no error
     * (into a qtensor of its own: the fixture's must stay untouched) */
    tu_qtensor *unset = tu_qtensor_new(f->ctx, f->fp8, R, H, 0);
    unset->qt.format = (fp8f_quant_format)99;
    s = fp8f_quant_per_token(f->ctx, &f->x->t, NULL, &unset->qt);
    ck_assert_msg(s == FP8F_OK, "quant_per_token, out format 99: %s", fp8f_last_error(f->ctx));
    ck_assert_int_eq(unset->qt.format, FP8F_QF_FP8_PER_TOKEN);
    unset->qt.format = (fp8f_quant_format)99;
    s = fp8f_rmsnorm_quant(f->ctx, &f->x->t, NULL, &f->w->t, 1e-5f, NULL, &unset->qt);
    ck_assert_msg(s == FP8F_OK, "rmsnorm_quant, out format 99: %s", fp8f_last_error(f->ctx));
    ck_assert_int_eq(unset->qt.format, FP8F_QF_FP8_PER_TOKEN);
    tu_qtensor_free(unset);
    /* scale_ub and eps */
    for (size_t i = 0; i < N_BAD_SCALARS; i++) {
        float ub = bad_scalars[i];
        snprintf(what, sizeof what, "quant_per_token: *scale_ub = %g", (double)ub);
        before(f);
        s = fp8f_quant_per_token(f->ctx, &f->x->t, &ub, &f->qout->qt);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        snprintf(what, sizeof what, "rmsnorm_quant: *scale_ub = %g", (double)ub);
        before(f);
        s = fp8f_rmsnorm_quant(f->ctx, &f->x->t, &f->res->t, &f->w->t, 1e-5f, &ub, &f->qout->qt);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        snprintf(what, sizeof what, "rmsnorm_quant: eps = %g", (double)ub);
        before(f);
        s = fp8f_rmsnorm_quant(f->ctx, &f->x->t, &f->res->t, &f->w->t, ub, NULL, &f->qout->qt);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    fx_free(f);
}
END_TEST

START_TEST(rmsnorm_quant_bad_norm_arguments) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    for (int arg = 0; arg < 2; arg++) {
        for (int m = 0; m < MUT_COUNT; m++) {
            if (arg == 0 && m == MUT_NULL)
                continue;
            fp8f_tensor r = f->res->t, w = f->w->t;
            fp8f_tensor *pr = &r, *pw = &w;
            if (arg == 0)
                pr = mutate(&r, (enum mut)m, 0);
            else
                pw = mutate(&w, (enum mut)m, 0);
            snprintf(what, sizeof what, "rmsnorm_quant: %s %s", arg ? "weight" : "residual",
                     mut_names[m]);
            before(f);
            fp8f_status s = fp8f_rmsnorm_quant(f->ctx, &f->x->t, pr, pw, 1e-5f, NULL, &f->qout->qt);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        }
    }
    fp8f_tensor r = f->res->t;
    r.dtype = FP8F_F32;
    before(f);
    fp8f_status s = fp8f_rmsnorm_quant(f->ctx, &f->x->t, &r, &f->w->t, 1e-5f, NULL, &f->qout->qt);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "rmsnorm_quant: residual dtype F32 with x BF16");
    fx_free(f);
}
END_TEST

/* Byte sizes that overflow int64 on every tensor of a call at once (so that
 * no shape disagreement hides the overflow check): rows * stride fits,
 * rows * stride * element size does not. */
START_TEST(overflow_with_consistent_shapes) {
    fx *f = fx_new(tu_ctx_create());
    const int64_t stride = 3 * H, big = INT64_MAX / stride / 2 + 1; /* x 2-byte elements */
    fp8f_tensor x = {f->x->t.data, FP8F_BF16, big, H, stride};
    fp8f_tensor out = {f->out->t.data, FP8F_F16, big, H, stride};
    fp8f_tensor res = {f->res->t.data, FP8F_BF16, big, H, stride};
    fp8f_qtensor q = f->qout->qt;
    q.q.rows = big;
    q.q.stride = stride;
    fp8f_status s;
    before(f);
    s = fp8f_rmsnorm(f->ctx, &x, &res, &f->w->t, 1e-5f, &out);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "rmsnorm: huge rows everywhere");
    before(f);
    s = fp8f_rmsnorm(f->ctx, &x, NULL, &f->w->t, 1e-5f, &x);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "rmsnorm in place: huge rows");
    before(f);
    s = fp8f_quant_per_token(f->ctx, &x, NULL, &q);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "quant_per_token: huge rows everywhere");
    before(f);
    s = fp8f_rmsnorm_quant(f->ctx, &x, &res, &f->w->t, 1e-5f, NULL, &q);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "rmsnorm_quant: huge rows everywhere");
    before(f);
    s = fp8f_prepare(f->ctx, FP8F_QF_NONE, &x, &res, &f->w->t, 1e-5f, &out, NULL, &f->act_out);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "prepare: huge rows everywhere");
    fp8f_act a = {.kind = FP8F_ACT_DENSE, .dense = x};
    fp8f_tensor gout = {f->gout->t.data, FP8F_F32, big, N, stride};
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &gout);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: huge M");
    /* a weight whose N * K * 1 byte overflows is caught too (N * stride) */
    fp8f_tensor wq = {f->wq->t.data, f->fp8, INT64_MAX / 4 + 1, H, 4 * H};
    float marker;
    fp8f_weight *w = (fp8f_weight *)&marker;
    before(f);
    s = fp8f_weight_create(f->ctx, &wq, f->wscale->dev, NULL, &w);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "weight_create: huge N");
    ck_assert_ptr_eq(w, (fp8f_weight *)&marker);
    fx_free(f);
}
END_TEST

/* ---- weights ------------------------------------------------------------------------------- */

START_TEST(weight_create_bad_arguments) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    float marker;
    fp8f_weight *const sentinel = (fp8f_weight *)&marker;
    fp8f_weight *wout;
    fp8f_status s;
    for (int m = 0; m < MUT_COUNT; m++) {
        if (m == MUT_COLS_PLUS)
            continue; /* any K is a valid weight */
        fp8f_tensor q = f->wq->t;
        fp8f_tensor *pq = mutate(&q, (enum mut)m, 1);
        snprintf(what, sizeof what, "weight_create: q %s", mut_names[m]);
        wout = sentinel;
        before(f);
        s = fp8f_weight_create(f->ctx, pq, f->wscale->dev, &f->bias->t, &wout);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        ck_assert_msg(wout == sentinel, "%s: *out was written", what);
    }
    for (int m = 1; m < MUT_COUNT; m++) { /* a NULL bias is valid */
        fp8f_tensor b = f->bias->t;
        mutate(&b, (enum mut)m, 0);
        snprintf(what, sizeof what, "weight_create: bias %s", mut_names[m]);
        wout = sentinel;
        before(f);
        s = fp8f_weight_create(f->ctx, &f->wq->t, f->wscale->dev, &b, &wout);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        ck_assert_msg(wout == sentinel, "%s: *out was written", what);
    }
    /* bias N x 1 instead of 1 x N */
    fp8f_tensor bcol = {f->bias->t.data, FP8F_F32, N, 1, 1};
    wout = sentinel;
    before(f);
    s = fp8f_weight_create(f->ctx, &f->wq->t, f->wscale->dev, &bcol, &wout);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "weight_create: bias N x 1");
    ck_assert_ptr_eq(wout, sentinel);
    /* N = 0 */
    fp8f_tensor q0 = f->wq->t;
    q0.rows = 0;
    wout = sentinel;
    before(f);
    s = fp8f_weight_create(f->ctx, &q0, f->wscale->dev, NULL, &wout);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "weight_create: N = 0");
    ck_assert_ptr_eq(wout, sentinel);
    /* NULL scale, NULL out */
    wout = sentinel;
    before(f);
    s = fp8f_weight_create(f->ctx, &f->wq->t, NULL, &f->bias->t, &wout);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "weight_create: NULL scale");
    ck_assert_ptr_eq(wout, sentinel);
    before(f);
    s = fp8f_weight_create(f->ctx, &f->wq->t, f->wscale->dev, &f->bias->t, NULL);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "weight_create: NULL out");
    fx_free(f);
}
END_TEST

/* e4m3fnuz codes +-240 have no e4m3fn equivalent: FORMAT, nothing created. */
START_TEST(weight_fnuz_max_on_fn_context) {
    fp8f_ctx *ctx = tu_ctx_create_fp8(FP8F_E4M3FN);
    tu_tensor *q = tu_tensor_new(ctx, FP8F_E4M3FNUZ, 2, 3, 0);
    tu_buf *scale = tu_buf_new(ctx, 2 * sizeof(float));
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            tu_set_code(q, r, c, (uint8_t)(0x30 + r + c));
    tu_buf_set_f32(scale, 0, 1.0f);
    tu_buf_set_f32(scale, 1, 1.0f);
    const uint8_t bad[2] = {0x7f, 0xff};
    for (int i = 0; i < 2; i++) {
        tu_set_code(q, 1, 2, bad[i]);
        tu_upload(q);
        tu_buf_upload(scale);
        float marker;
        fp8f_weight *w = (fp8f_weight *)&marker;
        tu_clear_error(ctx);
        fp8f_status s = fp8f_weight_create(ctx, &q->t, scale->dev, NULL, &w);
        ck_assert_msg(s == FP8F_E_FORMAT, "fnuz code 0x%02x on an fn context: %s", bad[i],
                      fp8f_status_str(s));
        ck_assert_str_ne(fp8f_last_error(ctx), "");
        ck_assert_ptr_eq(w, (fp8f_weight *)&marker);
        ck_assert(tu_untouched(q) && tu_buf_untouched(scale));
    }
    /* without them the conversion is accepted */
    tu_set_code(q, 1, 2, 0x7e);
    tu_upload(q);
    fp8f_weight *w = NULL;
    ck_assert_int_eq(fp8f_weight_create(ctx, &q->t, scale->dev, NULL, &w), FP8F_OK);
    ck_assert_ptr_nonnull(w);
    fp8f_weight_destroy(w);
    tu_tensor_free(q);
    tu_buf_free(scale);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* ---- GEMM ------------------------------------------------------------------------------------ */

START_TEST(linear_bad_arguments) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    fp8f_status s;
    /* the dense activation and the output */
    for (int arg = 0; arg < 2; arg++) {
        for (int m = 0; m < MUT_COUNT; m++) {
            fp8f_act a = {.kind = FP8F_ACT_DENSE, .dense = f->act->t};
            fp8f_tensor o = f->gout->t;
            fp8f_act *pa = &a;
            fp8f_tensor *po = &o;
            if (arg == 0) {
                if (m == MUT_NULL)
                    pa = NULL;
                else
                    mutate(&a.dense, (enum mut)m, 0);
            } else {
                po = mutate(&o, (enum mut)m, 0);
            }
            snprintf(what, sizeof what, "linear_ptpc: %s %s", arg ? "out" : "activation",
                     mut_names[m]);
            before(f);
            s = fp8f_linear_ptpc(f->ctx, pa, f->weight, po);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        }
    }
    /* the quantized activation's own checks */
    for (int m = 1; m < MUT_COUNT; m++) {
        fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
        mutate(&a.quant.q, (enum mut)m, 1);
        snprintf(what, sizeof what, "linear_ptpc: quantized activation %s", mut_names[m]);
        before(f);
        s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.scale = NULL;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: quantized activation NULL scale");
    a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.format = (fp8f_quant_format)99;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: activation format 99");
    /* unknown kinds */
    const int kinds[2] = {99, -1};
    for (int i = 0; i < 2; i++) {
        a = (fp8f_act){.kind = (fp8f_act_kind)kinds[i], .dense = f->act->t,
                       .quant = f->qact->qt};
        snprintf(what, sizeof what, "linear_ptpc: activation kind %d", kinds[i]);
        before(f);
        s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    /* NULL weight */
    a = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = f->act->t};
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, NULL, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: NULL weight");
    /* the output has N + 1 columns, M + 1 rows (valid tensors, wrong shape) */
    fp8f_tensor o = f->gout->t;
    o.cols = N - 1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &o);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: out N - 1 columns");
    o = f->gout->t;
    o.rows = R - 1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &o);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: out M - 1 rows");
    /* activation cols != K (a valid tensor) */
    a.dense.cols = H - 1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: activation K - 1 columns");
    a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.q.cols = H - 1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: quantized activation K - 1 columns");
    fx_free(f);
}
END_TEST

START_TEST(linear_weight_of_another_context) {
    fx *f = fx_new(tu_ctx_create());
    fx *g = fx_new(tu_ctx_create());
    fp8f_act a = {.kind = FP8F_ACT_DENSE, .dense = f->act->t};
    before(f);
    fp8f_status s = fp8f_linear_ptpc(f->ctx, &a, g->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "linear_ptpc: weight of another context");
    fx_assert_untouched(g, "the other context");
    /* the same call with its own weight works */
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    ck_assert_msg(s == FP8F_OK, "own weight: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(f->ctx));
    fx_free(g);
    fx_free(f);
}
END_TEST

/* FORMAT: a quantized activation whose format is NONE, or whose fp8 type is
 * not the weight's. Checked before the backend's capability. */
START_TEST(linear_format_errors) {
    fx *f = fx_new(tu_ctx_create());
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.format = FP8F_QF_NONE;
    before(f);
    fp8f_status s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_FORMAT, s, "linear_ptpc: quantized activation, format NONE");
    a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.q.dtype = f->fp8 == FP8F_E4M3FN ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_FORMAT, s, "linear_ptpc: activation fp8 type != weight's");
    /* the right format and type: UNSUPPORTED without the capability, else OK */
    a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    if (fp8f_ctx_caps(f->ctx) & FP8F_CAP_QUANTIZED_INPUT)
        ck_assert_msg(s == FP8F_OK, "%s: %s", fp8f_status_str(s), fp8f_last_error(f->ctx));
    else
        expect_fail(f, f->ctx, FP8F_E_UNSUPPORTED, s, "linear_ptpc: quantized activation");
    fx_free(f);
}
END_TEST

/* UNSUPPORTED: the CPU backend's GEMM takes no (q, scale) activation; the
 * message says to pass the dense activation. */
START_TEST(linear_quantized_on_cpu_unsupported) {
    fx *f = fx_new(tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32));
    ck_assert_str_eq(fp8f_ctx_backend_name(f->ctx), "cpu");
    ck_assert_uint_eq(fp8f_ctx_caps(f->ctx) & FP8F_CAP_QUANTIZED_INPUT, 0);
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    before(f);
    fp8f_status s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_UNSUPPORTED, s, "linear_ptpc: quantized activation on cpu");
    const char *msg = fp8f_last_error(f->ctx);
    ck_assert_msg(strstr(msg, "dense") || strstr(msg, "DENSE"),
                  "the message should tell to pass the dense activation: \"%s\"", msg);
    fx_free(f);
}
END_TEST

/* INVALID before FORMAT before UNSUPPORTED. */
START_TEST(validation_order) {
    fx *f = fx_new(tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32));
    const fp8f_dtype other = f->fp8 == FP8F_E4M3FN ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
    fp8f_status s;
    /* FORMAT (format NONE, wrong type) and UNSUPPORTED (cpu), plus an INVALID
     * output shape: INVALID */
    fp8f_act a = {.kind = FP8F_ACT_QUANTIZED, .quant = f->qact->qt};
    a.quant.format = FP8F_QF_NONE;
    a.quant.q.dtype = other;
    fp8f_tensor o = f->gout->t;
    o.cols = N + 1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &o);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "order: bad out + format NONE + type + cpu");
    /* ... an INVALID activation (rows < 0) */
    o = f->gout->t;
    a.quant.q.rows = -1;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &o);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "order: rows < 0 + format NONE + cpu");
    /* ... an INVALID output dtype */
    a.quant.q.rows = R;
    o.dtype = FP8F_E4M3FN;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &o);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "order: out dtype fp8 + format NONE + cpu");
    /* ... a weight of another context */
    fx *g = fx_new(tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_F32));
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, g->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "order: foreign weight + format NONE + cpu");
    fx_free(g);
    /* FORMAT and UNSUPPORTED: FORMAT (each FORMAT reason alone too) */
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_FORMAT, s, "order: format NONE + wrong type + cpu");
    a.quant.q.dtype = f->fp8;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_FORMAT, s, "order: format NONE + cpu");
    a.quant.format = FP8F_QF_FP8_PER_TOKEN;
    a.quant.q.dtype = other;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_FORMAT, s, "order: wrong type + cpu");
    /* only UNSUPPORTED left */
    a.quant.q.dtype = f->fp8;
    before(f);
    s = fp8f_linear_ptpc(f->ctx, &a, f->weight, &f->gout->t);
    expect_fail(f, f->ctx, FP8F_E_UNSUPPORTED, s, "order: cpu only");
    fx_free(f);

    /* on the reference backend (it has the capability) the same FORMAT
     * errors stay FORMAT and the valid request succeeds */
    fx *rf = fx_new(ref_ctx_create(FP8F_F32));
    a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = rf->qact->qt};
    a.quant.format = FP8F_QF_NONE;
    before(rf);
    s = fp8f_linear_ptpc(rf->ctx, &a, rf->weight, &rf->gout->t);
    expect_fail(rf, rf->ctx, FP8F_E_FORMAT, s, "reference: format NONE");
    a.quant.format = FP8F_QF_FP8_PER_TOKEN;
    a.quant.q.dtype = other;
    before(rf);
    s = fp8f_linear_ptpc(rf->ctx, &a, rf->weight, &rf->gout->t);
    expect_fail(rf, rf->ctx, FP8F_E_FORMAT, s, "reference: wrong fp8 type");
    a.quant.q.dtype = rf->fp8;
    s = fp8f_linear_ptpc(rf->ctx, &a, rf->weight, &rf->gout->t);
    ck_assert_msg(s == FP8F_OK, "reference: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(rf->ctx));
    fx_free(rf);
}
END_TEST

/* ---- fp8f_prepare (dense path: fmt NONE on every backend) --------------------------------- */

START_TEST(prepare_bad_arguments) {
    fx *f = fx_new(tu_ctx_create());
    char what[128];
    fp8f_status s;
    static const char *const arg_names[4] = {"x", "residual", "weight", "dense_buf"};
    for (int arg = 0; arg < 4; arg++) {
        for (int m = 0; m < MUT_COUNT; m++) {
            if (arg == 1 && m == MUT_NULL)
                continue;
            fp8f_tensor c[4] = {f->x->t, f->res->t, f->w->t, f->dense_buf->t};
            fp8f_tensor *p[4] = {&c[0], &c[1], &c[2], &c[3]};
            p[arg] = mutate(&c[arg], (enum mut)m, 0);
            snprintf(what, sizeof what, "prepare: %s %s", arg_names[arg], mut_names[m]);
            before(f);
            s = fp8f_prepare(f->ctx, FP8F_QF_NONE, p[0], p[1], p[2], 1e-5f, p[3], NULL,
                             &f->act_out);
            expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
        }
    }
    for (size_t i = 0; i < N_BAD_SCALARS; i++) {
        snprintf(what, sizeof what, "prepare: eps = %g", (double)bad_scalars[i]);
        before(f);
        s = fp8f_prepare(f->ctx, FP8F_QF_NONE, &f->x->t, &f->res->t, &f->w->t, bad_scalars[i],
                         &f->dense_buf->t, &f->quant_buf->qt, &f->act_out);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    const int fmts[2] = {99, -1};
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "prepare: fmt %d", fmts[i]);
        before(f);
        s = fp8f_prepare(f->ctx, (fp8f_quant_format)fmts[i], &f->x->t, &f->res->t, &f->w->t,
                         1e-5f, &f->dense_buf->t, &f->quant_buf->qt, &f->act_out);
        expect_fail(f, f->ctx, FP8F_E_INVALID, s, what);
    }
    before(f);
    s = fp8f_prepare(f->ctx, FP8F_QF_NONE, &f->x->t, &f->res->t, &f->w->t, 1e-5f,
                     &f->dense_buf->t, &f->quant_buf->qt, NULL);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "prepare: NULL out");
    fp8f_tensor r = f->res->t;
    r.dtype = FP8F_F16;
    before(f);
    s = fp8f_prepare(f->ctx, FP8F_QF_NONE, &f->x->t, &r, &f->w->t, 1e-5f, &f->dense_buf->t,
                     NULL, &f->act_out);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "prepare: residual F16 with x BF16");
    fx_free(f);
}
END_TEST

/* ---- memory helpers --------------------------------------------------------------------- */

START_TEST(mem_bad_arguments) {
    fx *f = fx_new(tu_ctx_create());
    int marker;
    void *p = &marker;
    char host[8] = {0};
    fp8f_status s;
    before(f);
    s = fp8f_mem_alloc(f->ctx, 0, &p);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_alloc: 0 bytes");
    ck_assert_ptr_eq(p, &marker);
    before(f);
    s = fp8f_mem_alloc(f->ctx, 16, NULL);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_alloc: NULL out");
    before(f);
    s = fp8f_mem_upload(f->ctx, NULL, host, sizeof host);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_upload: NULL dst");
    before(f);
    s = fp8f_mem_upload(f->ctx, f->out->buf->dev, NULL, sizeof host);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_upload: NULL src");
    before(f);
    s = fp8f_mem_download(f->ctx, NULL, f->out->buf->dev, sizeof host);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_download: NULL dst");
    before(f);
    s = fp8f_mem_download(f->ctx, host, NULL, sizeof host);
    expect_fail(f, f->ctx, FP8F_E_INVALID, s, "mem_download: NULL src");
    /* an allocation that cannot succeed */
    before(f);
    s = fp8f_mem_alloc(f->ctx, (size_t)1 << 62, &p);
    ck_assert_msg(s == FP8F_E_NOMEM || s == FP8F_E_DEVICE, "mem_alloc(2^62): %s",
                  fp8f_status_str(s));
    ck_assert_str_ne(fp8f_last_error(f->ctx), "");
    ck_assert_ptr_eq(p, &marker);
    fx_assert_untouched(f, "mem");
    fx_free(f);
}
END_TEST

/* Zero rows with NULL data is valid (M = 0), and so is the smallest shape. */
START_TEST(empty_and_minimal_shapes_accepted) {
    fp8f_ctx *ctx = tu_ctx_create();
    tu_tensor *w = tu_tensor_new(ctx, FP8F_F32, 1, 4, 0);
    tu_fill_uniform(w, &(tu_rng){1}, 0.5, 1.0);
    fp8f_tensor x0 = {NULL, FP8F_BF16, 0, 4, 4}, out0 = {NULL, FP8F_F32, 0, 4, 7};
    fp8f_qtensor q0 = {{NULL, fp8f_ctx_fp8_dtype(ctx), 0, 4, 4}, NULL, FP8F_QF_NONE};
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x0, NULL, &w->t, 1e-6f, &out0), FP8F_OK);
    ck_assert_int_eq(fp8f_rmsnorm(ctx, &x0, &x0, &w->t, 1e-6f, &out0), FP8F_OK);
    ck_assert_int_eq(fp8f_quant_per_token(ctx, &x0, NULL, &q0), FP8F_OK);
    ck_assert_int_eq(q0.format, FP8F_QF_FP8_PER_TOKEN);
    q0.format = FP8F_QF_NONE;
    ck_assert_int_eq(fp8f_rmsnorm_quant(ctx, &x0, NULL, &w->t, 1e-6f, NULL, &q0), FP8F_OK);
    fp8f_act a;
    ck_assert_int_eq(fp8f_prepare(ctx, FP8F_QF_NONE, &x0, NULL, &w->t, 1e-6f, &out0, NULL, &a),
                     FP8F_OK);
    ck_assert_int_eq(a.kind, FP8F_ACT_DENSE);
    ck_assert_int_eq(a.dense.rows, 0);
    ck_assert(tu_untouched(w));
    /* zero rows of 2^40 elements: nothing to compute, so nothing is
     * allocated for them either (no FP8F_E_NOMEM). The norm weight's data
     * is never read: the call has no row to scale. */
    const int64_t huge = (int64_t)1 << 40;
    fp8f_tensor xh = {NULL, FP8F_BF16, 0, huge, huge}, wh = {w->t.data, FP8F_F32, 1, huge, huge};
    fp8f_qtensor qh = {{NULL, fp8f_ctx_fp8_dtype(ctx), 0, huge, huge}, NULL, FP8F_QF_NONE};
    ck_assert_msg(fp8f_quant_per_token(ctx, &xh, NULL, &qh) == FP8F_OK, "%s",
                  fp8f_last_error(ctx));
    ck_assert_int_eq(qh.format, FP8F_QF_FP8_PER_TOKEN);
    ck_assert_msg(fp8f_rmsnorm_quant(ctx, &xh, &xh, &wh, 1e-6f, NULL, &qh) == FP8F_OK, "%s",
                  fp8f_last_error(ctx));
    ck_assert_msg(fp8f_rmsnorm(ctx, &xh, &xh, &wh, 1e-6f, &xh) == FP8F_OK, "%s",
                  fp8f_last_error(ctx));
    tu_tensor_free(w);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* ---- contexts and the backend choice ------------------------------------------------------ */

START_TEST(ctx_create_bad_options) {
    float marker;
    fp8f_ctx *const sentinel = (fp8f_ctx *)&marker;
    fp8f_ctx *ctx;
    const fp8f_options bad[] = {
        {.backend = (fp8f_backend_id)99},
        {.backend = (fp8f_backend_id)-1},
        {.backend = FP8F_BACKEND_CPU, .fp8_dtype = FP8F_BF16},
        {.backend = FP8F_BACKEND_CPU, .fp8_dtype = FP8F_F16},
        {.backend = FP8F_BACKEND_CPU, .fp8_dtype = (fp8f_dtype)99},
        {.backend = FP8F_BACKEND_CPU, .num_threads = -1},
        {.backend = FP8F_BACKEND_CPU, .device = -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctx = sentinel;
        tu_clear_error(NULL);
        fp8f_status s = fp8f_ctx_create(&bad[i], &ctx);
        ck_assert_msg(s == FP8F_E_INVALID, "options #%zu: %s", i, fp8f_status_str(s));
        ck_assert_msg(*fp8f_last_error(NULL), "options #%zu: no message", i);
        ck_assert_msg(ctx == sentinel, "options #%zu: *out written", i);
    }
    tu_clear_error(NULL);
    ck_assert_int_eq(fp8f_ctx_create(NULL, NULL), FP8F_E_INVALID);
    ck_assert_str_ne(fp8f_last_error(NULL), "");
    /* NULL options are the defaults */
    tu_env_set("FP8F_BACKEND", "cpu");
    ctx = NULL;
    ck_assert_int_eq(fp8f_ctx_create(NULL, &ctx), FP8F_OK);
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(ctx), FP8F_E4M3FN);
    fp8f_ctx_destroy(ctx);
    /* an explicit fp8 type is kept */
    ctx = tu_ctx_create_on(FP8F_BACKEND_CPU, FP8F_E4M3FNUZ);
    ck_assert_int_eq(fp8f_ctx_fp8_dtype(ctx), FP8F_E4M3FNUZ);
    fp8f_ctx_destroy(ctx);
}
END_TEST

START_TEST(backend_env_override) {
    fp8f_ctx *ctx = NULL;
    fp8f_options opt = {.backend = FP8F_BACKEND_AUTO};
    tu_env_set("FP8F_BACKEND", "cpu");
    ck_assert_int_eq(fp8f_ctx_create(&opt, &ctx), FP8F_OK);
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
    fp8f_ctx_destroy(ctx);

    /* auto: HIP when available, else cpu */
    tu_env_set("FP8F_BACKEND", "auto");
    ctx = NULL;
    ck_assert_int_eq(fp8f_ctx_create(&opt, &ctx), FP8F_OK);
    const char *want = fp8f_backend_available(FP8F_BACKEND_HIP) ? "hip" : "cpu";
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), want);
    fp8f_ctx_destroy(ctx);

    /* names are exact: anything else is INVALID, with a message */
    const char *const garbage[] = {"garbage", "CPU", "cpu ", "cpux", "hip2", "Auto"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        tu_env_set("FP8F_BACKEND", garbage[i]);
        float marker;
        ctx = (fp8f_ctx *)&marker;
        tu_clear_error(NULL);
        fp8f_status s = fp8f_ctx_create(&opt, &ctx);
        ck_assert_msg(s == FP8F_E_INVALID, "FP8F_BACKEND=\"%s\": %s", garbage[i],
                      fp8f_status_str(s));
        ck_assert_str_ne(fp8f_last_error(NULL), "");
        ck_assert_ptr_eq(ctx, (fp8f_ctx *)&marker);
        /* the variable overrides AUTO only: an explicit backend ignores it */
        fp8f_options cpu = {.backend = FP8F_BACKEND_CPU};
        ctx = NULL;
        ck_assert_int_eq(fp8f_ctx_create(&cpu, &ctx), FP8F_OK);
        ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
        fp8f_ctx_destroy(ctx);
    }
}
END_TEST

/* HIP asked for where its module cannot load: FP8F_E_BACKEND, never a
 * silent fallback; AUTO falls back to cpu. */
START_TEST(backend_hip_unavailable) {
    tu_env_set("FP8F_BACKEND_PATH", "/nonexistent/fp8fuse-test-no-such-dir");
    tu_env_set("FP8F_BACKEND", NULL);
    float marker;
    fp8f_ctx *ctx = (fp8f_ctx *)&marker;
    fp8f_options hip = {.backend = FP8F_BACKEND_HIP};
    tu_clear_error(NULL);
    fp8f_status s = fp8f_ctx_create(&hip, &ctx);
    ck_assert_msg(s == FP8F_E_BACKEND, "explicit HIP: %s", fp8f_status_str(s));
    ck_assert_str_ne(fp8f_last_error(NULL), "");
    ck_assert_ptr_eq(ctx, (fp8f_ctx *)&marker);
    ck_assert_int_eq(fp8f_backend_available(FP8F_BACKEND_HIP), 0);

    /* FP8F_BACKEND=hip is an explicit request too */
    tu_env_set("FP8F_BACKEND", "hip");
    fp8f_options autoopt = {.backend = FP8F_BACKEND_AUTO};
    tu_clear_error(NULL);
    s = fp8f_ctx_create(&autoopt, &ctx);
    ck_assert_msg(s == FP8F_E_BACKEND, "FP8F_BACKEND=hip: %s", fp8f_status_str(s));
    ck_assert_str_ne(fp8f_last_error(NULL), "");
    ck_assert_ptr_eq(ctx, (fp8f_ctx *)&marker);

    /* AUTO without the override: cpu */
    tu_env_set("FP8F_BACKEND", NULL);
    ctx = NULL;
    ck_assert_int_eq(fp8f_ctx_create(&autoopt, &ctx), FP8F_OK);
    ck_assert_str_eq(fp8f_ctx_backend_name(ctx), "cpu");
    fp8f_ctx_destroy(ctx);

    ck_assert_int_eq(fp8f_backend_available(FP8F_BACKEND_CPU), 1);
    ck_assert_int_eq(fp8f_backend_available(FP8F_BACKEND_AUTO), 1);
    ck_assert_int_eq(fp8f_backend_available((fp8f_backend_id)99), 0);
}
END_TEST

/* AUTO falls back to the CPU only where no GPU is present: with a stand-in
 * module (tests/fake_hip_module.c) counting no device it takes the CPU,
 * counting one it takes the module, and where that device refuses (an
 * ordinal past the last one) it is FP8F_E_BACKEND, not a quiet CPU
 * context. Trying the GPU first leaves this thread's message alone. */
START_TEST(auto_falls_back_only_without_a_gpu) {
    const char *module = getenv("FP8F_TEST_FAKE_HIP");
    if (!module || access(module, R_OK) != 0) {
        printf("test_errors: SKIP auto_falls_back_only_without_a_gpu: FP8F_TEST_FAKE_HIP "
               "(set by make check) names no module\n");
        return;
    }
    tu_env_set("FP8F_BACKEND_PATH", module);
    tu_env_set("FP8F_BACKEND", NULL);
    fp8f_quant_format f;
    /* a message of this thread's own, which the choice must leave alone */
    ck_assert_int_eq(fp8f_quant_format_parse("bogus", &f), FP8F_E_FORMAT);
    char earlier[FP8F_ERROR_MAX];
    snprintf(earlier, sizeof earlier, "%s", fp8f_last_error(NULL));

    /* no device: AUTO takes the CPU; one: the module */
    for (int devices = 0; devices <= 1; devices++) {
        tu_env_set("FP8F_FAKE_HIP_DEVICES", devices ? "1" : "0");
        fp8f_ctx *ctx = NULL;
        ck_assert_int_eq(fp8f_ctx_create(&(fp8f_options){.backend = FP8F_BACKEND_AUTO}, &ctx),
                         FP8F_OK);
        ck_assert_str_eq(fp8f_ctx_backend_name(ctx), devices ? "fake-hip" : "cpu");
        fp8f_ctx_destroy(ctx);
        ck_assert_int_eq(fp8f_backend_available(FP8F_BACKEND_HIP), devices);
        ck_assert_str_eq(fp8f_last_error(NULL), earlier);
    }

    /* a device that refuses: an error under AUTO too */
    fp8f_ctx *ctx;
    float marker;
    const fp8f_backend_id ids[2] = {FP8F_BACKEND_AUTO, FP8F_BACKEND_HIP};
    for (int i = 0; i < 2; i++) {
        ctx = (fp8f_ctx *)&marker;
        fp8f_status s =
            fp8f_ctx_create(&(fp8f_options){.backend = ids[i], .device = 3}, &ctx);
        ck_assert_msg(s == FP8F_E_BACKEND, "backend %d, device 3 of 1: %s", (int)ids[i],
                      fp8f_status_str(s));
        ck_assert_ptr_eq(ctx, (fp8f_ctx *)&marker);
        ck_assert_msg(strstr(fp8f_last_error(NULL), "device 3 asked for, 1 present"), "%s",
                      fp8f_last_error(NULL));
    }
}
END_TEST

/* The AMD guard (lib/amd_targets.c): a fake KFD topology, each node's
 * gfx_target_version as the driver writes it, against a module's targets.
 * The expected names are spelled out here (gfx90a: stepping 10 as hex). */
static void write_node(const char *dir, int i, const char *properties) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%d", dir, i);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/%d/properties", dir, i);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(properties, f);
    fclose(f);
}

static void remove_nodes(const char *dir, int nodes) {
    char path[4096];
    for (int i = 0; i < nodes; i++) {
        snprintf(path, sizeof path, "%s/%d/properties", dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/%d", dir, i);
        rmdir(path);
    }
    rmdir(dir);
}

/* 1 where a GPU has no code among targets, with why[] naming it */
static int without_code(const char *dir, const char *targets, char *why) {
    why[0] = '\0';
    const int r = fp8f__amd_gpu_without_code(dir, targets, why, FP8F_ERROR_MAX);
    ck_assert_msg(r == (why[0] != '\0'), "result %d, why \"%s\"", r, why);
    return r;
}

START_TEST(amd_gpu_without_code) {
    const char *vars[] = {"HSA_OVERRIDE_GFX_VERSION", "FP8F_HIP_TARGET_CHECK",
                          "ROCR_VISIBLE_DEVICES",     "HIP_VISIBLE_DEVICES",
                          "CUDA_VISIBLE_DEVICES",     "GPU_DEVICE_ORDINAL"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        tu_env_set(vars[i], NULL);
    char dir[] = "/tmp/fp8f-kfd-XXXXXX", why[FP8F_ERROR_MAX];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *const mi300 = "gfx942,gfx950";

    /* no topology (no AMD driver): nothing to refuse */
    ck_assert_int_eq(without_code("/nonexistent/fp8f-kfd", mi300, why), 0);
    /* a CPU node, then an MI300X: covered */
    write_node(dir, 0, "cpu_cores_count 64\nsimd_count 0\ngfx_target_version 0\n");
    write_node(dir, 1, "cpu_cores_count 0\nsimd_count 1216\ngfx_target_version 90402\n"
                       "vendor_id 4098\n");
    ck_assert_int_eq(without_code(dir, mi300, why), 0);
    ck_assert_int_eq(without_code(dir, "gfx942:sramecc+:xnack-", why), 0);
    ck_assert_int_eq(without_code(dir, "gfx950", why), 1);
    ck_assert_msg(strstr(why, "node 1 is gfx942") && strstr(why, "gfx950"), "%s", why);

    /* an MI250X beside it: refused, named */
    write_node(dir, 2, "simd_count 440\ngfx_target_version 90010\n");
    ck_assert_int_eq(without_code(dir, mi300, why), 1);
    ck_assert_msg(strstr(why, "node 2 is gfx90a") && strstr(why, "gfx942,gfx950"), "%s", why);
    ck_assert_int_eq(without_code(dir, "gfx90a,gfx942", why), 0);
    ck_assert_int_eq(without_code(dir, "gfx942,gfx90a:xnack+", why), 0);
    ck_assert_int_eq(without_code(dir, "gfx9420,gfx90a", why), 1); /* whole names only */
    ck_assert_msg(strstr(why, "node 1 is gfx942,"), "%s", why);
    ck_assert_int_eq(without_code(dir, "gfx94,gfx90a", why), 1);

    /* the caller's overrides */
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", "9.4.2"); /* every GPU reports gfx942 */
    ck_assert_int_eq(without_code(dir, mi300, why), 0);
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", "9.0.a");
    ck_assert_int_eq(without_code(dir, mi300, why), 1);
    ck_assert_msg(strstr(why, "node 1 is gfx90a by HSA_OVERRIDE_GFX_VERSION"), "%s", why);
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", "9.0.10");
    ck_assert_int_eq(without_code(dir, "gfx90a", why), 0);
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", "10.3.0");
    ck_assert_int_eq(without_code(dir, "gfx1030", why), 0);
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", "not a version"); /* ignored, as ROCm would */
    ck_assert_int_eq(without_code(dir, mi300, why), 1);
    ck_assert_msg(strstr(why, "node 2 is gfx90a,"), "%s", why);
    tu_env_set("HSA_OVERRIDE_GFX_VERSION", NULL);
    for (size_t i = 2; i < sizeof vars / sizeof vars[0]; i++) { /* devices chosen */
        tu_env_set(vars[i], "0");
        ck_assert_msg(without_code(dir, mi300, why) == 0, "%s set", vars[i]);
        tu_env_set(vars[i], NULL);
    }
    tu_env_set("FP8F_HIP_TARGET_CHECK", "0");
    ck_assert_int_eq(without_code(dir, mi300, why), 0);
    tu_env_set("FP8F_HIP_TARGET_CHECK", "1");
    ck_assert_int_eq(without_code(dir, mi300, why), 1);
    tu_env_set("FP8F_HIP_TARGET_CHECK", NULL);

    /* two-digit majors: a Radeon (gfx1100) and an RDNA4 (gfx1201) */
    remove_nodes(dir, 3);
    ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/fp8f-kfd-XXXXXX")));
    write_node(dir, 0, "gfx_target_version 110000\n");
    write_node(dir, 1, "gfx_target_version 120001\n");
    ck_assert_int_eq(without_code(dir, "gfx1100,gfx1201", why), 0);
    ck_assert_int_eq(without_code(dir, "gfx1100", why), 1);
    ck_assert_msg(strstr(why, "node 1 is gfx1201"), "%s", why);
    remove_nodes(dir, 2);
    /* this build's own check: nothing to refuse on NVIDIA or without a GPU
     * module (CI), whatever the machine */
#ifndef FP8F_HIP_AMD_TARGETS
    ck_assert_int_eq(fp8f__hip_gpu_without_code(why, sizeof why), 0);
#endif
}
END_TEST

/* ---- names ----------------------------------------------------------------------------------- */

START_TEST(status_strings) {
    static const struct {
        fp8f_status s;
        const char *name;
    } all[] = {{FP8F_OK, "FP8F_OK"},
               {FP8F_E_INVALID, "FP8F_E_INVALID"},
               {FP8F_E_UNSUPPORTED, "FP8F_E_UNSUPPORTED"},
               {FP8F_E_FORMAT, "FP8F_E_FORMAT"},
               {FP8F_E_BACKEND, "FP8F_E_BACKEND"},
               {FP8F_E_NOMEM, "FP8F_E_NOMEM"},
               {FP8F_E_DEVICE, "FP8F_E_DEVICE"}};
    ck_assert_int_eq(FP8F_OK, 0);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        ck_assert_int_eq(all[i].s, (int)i); /* the documented order */
        ck_assert_str_eq(fp8f_status_str(all[i].s), all[i].name);
    }
    const char *unknown = fp8f_status_str((fp8f_status)99);
    ck_assert_ptr_nonnull(unknown);
    ck_assert_str_ne(unknown, "");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_str_ne(unknown, all[i].name);
    ck_assert_ptr_nonnull(fp8f_status_str((fp8f_status)-1));
    ck_assert_ptr_nonnull(fp8f_version());
    ck_assert_str_ne(fp8f_version(), "");
}
END_TEST

START_TEST(quant_format_names) {
    fp8f_quant_format f = (fp8f_quant_format)77;
    ck_assert_int_eq(fp8f_quant_format_parse("fp8_per_token", &f), FP8F_OK);
    ck_assert_int_eq(f, FP8F_QF_FP8_PER_TOKEN);
    ck_assert_int_eq(fp8f_quant_format_parse("none", &f), FP8F_OK);
    ck_assert_int_eq(f, FP8F_QF_NONE);
    ck_assert_str_eq(fp8f_quant_format_name(FP8F_QF_NONE), "none");
    ck_assert_str_eq(fp8f_quant_format_name(FP8F_QF_FP8_PER_TOKEN), "fp8_per_token");
    ck_assert_ptr_null(fp8f_quant_format_name((fp8f_quant_format)99));
    ck_assert_ptr_null(fp8f_quant_format_name((fp8f_quant_format)2));
    ck_assert_ptr_null(fp8f_quant_format_name((fp8f_quant_format)-1));
    /* round trip */
    const fp8f_quant_format fs[2] = {FP8F_QF_NONE, FP8F_QF_FP8_PER_TOKEN};
    for (int i = 0; i < 2; i++) {
        f = (fp8f_quant_format)77;
        ck_assert_int_eq(fp8f_quant_format_parse(fp8f_quant_format_name(fs[i]), &f), FP8F_OK);
        ck_assert_int_eq(f, fs[i]);
    }
    /* exact matches only: near misses and prefixes are FORMAT */
    const char *const bad[] = {"fp8_per_token_v2", "FP8_PER_TOKEN ", "", "fp8_per_toke",
                               "FP8_PER_TOKEN",    " fp8_per_token", "fp8_per_token ",
                               "None",             "none\n",         "fp8",
                               "fp8_per_tokens",   "fp8-per-token"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = (fp8f_quant_format)77;
        tu_clear_error(NULL);
        fp8f_status s = fp8f_quant_format_parse(bad[i], &f);
        ck_assert_msg(s == FP8F_E_FORMAT, "parse(\"%s\") = %s", bad[i], fp8f_status_str(s));
        ck_assert_msg(*fp8f_last_error(NULL), "parse(\"%s\"): no message", bad[i]);
        ck_assert_msg(f == (fp8f_quant_format)77, "parse(\"%s\") wrote *out", bad[i]);
    }
    f = (fp8f_quant_format)77;
    tu_clear_error(NULL);
    ck_assert_int_eq(fp8f_quant_format_parse(NULL, &f), FP8F_E_INVALID);
    ck_assert_str_ne(fp8f_last_error(NULL), "");
    ck_assert_int_eq(f, 77);
    tu_clear_error(NULL);
    ck_assert_int_eq(fp8f_quant_format_parse("none", NULL), FP8F_E_INVALID);
    ck_assert_str_ne(fp8f_last_error(NULL), "");
}
END_TEST

static Suite *errors_suite(void) {
    Suite *s = suite_create("errors");
    TCase *tc = tu_tcase("null");
    tcase_add_test(tc, null_ctx_every_entry_point);
    suite_add_tcase(s, tc);
    tc = tu_tcase("norm_quant");
    tcase_add_test(tc, rmsnorm_bad_tensors);
    tcase_add_test(tc, rmsnorm_bad_eps_and_residual);
    tcase_add_test(tc, quant_bad_arguments);
    tcase_add_test(tc, rmsnorm_quant_bad_norm_arguments);
    tcase_add_test(tc, prepare_bad_arguments);
    tcase_add_test(tc, empty_and_minimal_shapes_accepted);
    tcase_add_test(tc, overflow_with_consistent_shapes);
    suite_add_tcase(s, tc);
    tc = tu_tcase("gemm");
    tcase_add_test(tc, weight_create_bad_arguments);
    tcase_add_test(tc, weight_fnuz_max_on_fn_context);
    tcase_add_test(tc, linear_bad_arguments);
    tcase_add_test(tc, linear_weight_of_another_context);
    tcase_add_test(tc, linear_format_errors);
    tcase_add_test(tc, linear_quantized_on_cpu_unsupported);
    tcase_add_test(tc, validation_order);
    suite_add_tcase(s, tc);
    tc = tu_tcase("context");
    tcase_add_checked_fixture(tc, NULL, tu_env_restore);
    tcase_add_test(tc, mem_bad_arguments);
    tcase_add_test(tc, ctx_create_bad_options);
    tcase_add_test(tc, backend_env_override);
    tcase_add_test(tc, backend_hip_unavailable);
    tcase_add_test(tc, auto_falls_back_only_without_a_gpu);
    tcase_add_test(tc, amd_gpu_without_code);
    tcase_add_test(tc, status_strings);
    tcase_add_test(tc, quant_format_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(errors_suite()); }
