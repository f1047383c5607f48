/*
 * The public operations: validate every argument (INVALID, then FORMAT,
 * then UNSUPPORTED), then call the context's backend. Nothing is written
 * before the backend is called, and the backend is called only with
 * arguments that passed, and never for zero rows (there is nothing to
 * compute, and a backend may size its scratch by the row length first).
 */
#include "internal.h"

#define CHECK(expr)                                                                            \
    do {                                                                                       \
        fp8f_status check_status_ = (expr);                                                    \
        if (check_status_ != FP8F_OK)                                                          \
            return check_status_;                                                              \
    } while (0)

static fp8f_status check_ctx(fp8f_ctx *ctx) {
    return ctx ? FP8F_OK : fp8f__fail(NULL, FP8F_E_INVALID, "ctx is NULL");
}

static fp8f_status check_scale_ub(fp8f_ctx *ctx, const float *scale_ub) {
    return scale_ub ? fp8f__check_positive(ctx, *scale_ub, "*scale_ub") : FP8F_OK;
}

/* x, residual, weight and eps of the norm; `out_shape` is the output to
 * compare shapes with (a dense tensor or a qtensor's q), already checked. */
static fp8f_status check_norm_inputs(fp8f_ctx *ctx, const fp8f_tensor *x,
                                     const fp8f_tensor *residual, const fp8f_tensor *weight,
                                     float eps) {
    CHECK(fp8f__check_tensor(ctx, x, "x", FP8F_ROLE_FLOAT));
    if (residual) {
        CHECK(fp8f__check_tensor(ctx, residual, "residual", FP8F_ROLE_FLOAT));
        CHECK(fp8f__check_same_shape(ctx, x, "x", residual, "residual"));
        if (residual->dtype != x->dtype)
            return fp8f__fail(ctx, FP8F_E_INVALID, "residual's dtype differs from x's");
    }
    CHECK(fp8f__check_row_vector(ctx, weight, "weight", x->cols));
    return fp8f__check_positive(ctx, eps, "eps");
}

static fp8f_status check_dense_out(fp8f_ctx *ctx, const fp8f_tensor *x, const fp8f_tensor *out,
                                   const char *name) {
    CHECK(fp8f__check_tensor(ctx, out, name, FP8F_ROLE_FLOAT));
    return fp8f__check_same_shape(ctx, x, "x", out, name);
}

static fp8f_status check_quant_out(fp8f_ctx *ctx, const fp8f_tensor *x, const fp8f_qtensor *out,
                                   const char *name) {
    CHECK(fp8f__check_qtensor(ctx, out, name, FP8F_OUTPUT));
    return fp8f__check_same_shape(ctx, x, "x", &out->q, name);
}

fp8f_status fp8f_rmsnorm(fp8f_ctx *ctx, const fp8f_tensor *x, fp8f_tensor *residual,
                         const fp8f_tensor *weight, float eps, fp8f_tensor *out) {
    CHECK(check_ctx(ctx));
    CHECK(check_norm_inputs(ctx, x, residual, weight, eps));
    CHECK(check_dense_out(ctx, x, out, "out"));
    if (x->rows == 0)
        return FP8F_OK;
    return ctx->be.ops->rmsnorm(&ctx->be, x, residual, weight, eps, out);
}

fp8f_status fp8f_quant_per_token(fp8f_ctx *ctx, const fp8f_tensor *x, const float *scale_ub,
                                 fp8f_qtensor *out) {
    CHECK(check_ctx(ctx));
    CHECK(fp8f__check_tensor(ctx, x, "x", FP8F_ROLE_FLOAT));
    CHECK(check_scale_ub(ctx, scale_ub));
    CHECK(check_quant_out(ctx, x, out, "out"));
    if (x->rows > 0)
        CHECK(ctx->be.ops->quant_per_token(&ctx->be, x, scale_ub, out));
    out->format = FP8F_QF_FP8_PER_TOKEN;
    return FP8F_OK;
}

fp8f_status fp8f_rmsnorm_quant(fp8f_ctx *ctx, const fp8f_tensor *x, fp8f_tensor *residual,
                               const fp8f_tensor *weight, float eps, const float *scale_ub,
                               fp8f_qtensor *out) {
    CHECK(check_ctx(ctx));
    CHECK(check_norm_inputs(ctx, x, residual, weight, eps));
    CHECK(check_scale_ub(ctx, scale_ub));
    CHECK(check_quant_out(ctx, x, out, "out"));
    if (x->rows > 0)
        CHECK(ctx->be.ops->rmsnorm_quant(&ctx->be, x, residual, weight, eps, scale_ub, out));
    out->format = FP8F_QF_FP8_PER_TOKEN;
    return FP8F_OK;
}

/* The activation's own checks (INVALID) against the weight's K. */
static fp8f_status check_act(fp8f_ctx *ctx, const fp8f_act *a, int64_t k) {
    const fp8f_tensor *t;
    if (!a)
        return fp8f__fail(ctx, FP8F_E_INVALID, "activation is NULL");
    if (a->kind == FP8F_ACT_DENSE) {
        CHECK(fp8f__check_tensor(ctx, &a->dense, "activation", FP8F_ROLE_FLOAT));
        t = &a->dense;
    } else if (a->kind == FP8F_ACT_QUANTIZED) {
        CHECK(fp8f__check_qtensor(ctx, &a->quant, "activation", FP8F_INPUT));
        t = &a->quant.q;
    } else {
        return fp8f__fail(ctx, FP8F_E_INVALID, "activation kind has an unknown value (%d)",
                          (int)a->kind);
    }
    if (t->cols != k)
        return fp8f__fail(ctx, FP8F_E_INVALID, "activation has %lld cols but the weight's K is %lld",
                          (long long)t->cols, (long long)k);
    return FP8F_OK;
}

static int64_t act_rows(const fp8f_act *a) {
    return a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
}

/* Everything fp8f_linear_ptpc checks, in its order. */
static fp8f_status check_linear(fp8f_ctx *ctx, const fp8f_act *a, const fp8f_weight *w,
                                const fp8f_tensor *out) {
    if (!w)
        return fp8f__fail(ctx, FP8F_E_INVALID, "weight is NULL");
    if (w->ctx != ctx)
        return fp8f__fail(ctx, FP8F_E_INVALID, "weight belongs to another context");
    CHECK(check_act(ctx, a, w->desc.k));
    CHECK(fp8f__check_tensor(ctx, out, "out", FP8F_ROLE_FLOAT));
    if (out->rows != act_rows(a) || out->cols != w->desc.n)
        return fp8f__fail(ctx, FP8F_E_INVALID, "out is %lld x %lld; it must be %lld x %lld (M x N)",
                          (long long)out->rows, (long long)out->cols, (long long)act_rows(a),
                          (long long)w->desc.n);
    if (a->kind == FP8F_ACT_QUANTIZED) {
        if (a->quant.format != FP8F_QF_FP8_PER_TOKEN)
            return fp8f__fail(ctx, FP8F_E_FORMAT,
                              "quantized activation has format \"%s\"; the PTPC GEMM needs "
                              "\"fp8_per_token\"",
                              fp8f_quant_format_name(a->quant.format));
        if (a->quant.q.dtype != w->desc.fp8_dtype)
            return fp8f__fail(ctx, FP8F_E_FORMAT,
                              "quantized activation is %s but the weight is %s; quantize to the "
                              "weight's fp8 type (fp8f_ctx_fp8_dtype)",
                              a->quant.q.dtype == FP8F_E4M3FN ? "E4M3FN" : "E4M3FNUZ",
                              w->desc.fp8_dtype == FP8F_E4M3FN ? "E4M3FN" : "E4M3FNUZ");
        if (!(ctx->be.ops->caps & FP8F_CAP_QUANTIZED_INPUT))
            return fp8f__fail(ctx, FP8F_E_UNSUPPORTED,
                              "the %s backend's GEMM cannot take a quantized (q, scale) "
                              "activation; pass the dense activation (FP8F_ACT_DENSE), which it "
                              "quantizes per token itself, or build it with fp8f_prepare, which "
                              "picks the dense path on this backend",
                              ctx->be.ops->name);
    }
    return FP8F_OK;
}

fp8f_status fp8f_linear_ptpc(fp8f_ctx *ctx, const fp8f_act *a, const fp8f_weight *w,
                             fp8f_tensor *out) {
    CHECK(check_ctx(ctx));
    CHECK(check_linear(ctx, a, w, out));
    if (act_rows(a) == 0)
        return FP8F_OK;
    return ctx->be.ops->linear_ptpc(&ctx->be, a, &w->desc, out);
}

/* Everything fp8f_prepare checks; *act is the activation it will hand over
 * (pointing into the buffer of the path taken), not yet computed. */
static fp8f_status check_prepare(fp8f_ctx *ctx, fp8f_quant_format fmt, const fp8f_tensor *x,
                                 const fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                 const fp8f_tensor *dense_buf, const fp8f_qtensor *quant_buf,
                                 fp8f_act *act) {
    const unsigned both = FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT;
    if (!fp8f_quant_format_name(fmt))
        return fp8f__fail(ctx, FP8F_E_INVALID, "fmt has an unknown value (%d)", (int)fmt);
    CHECK(check_norm_inputs(ctx, x, residual, weight, eps));
    if ((ctx->be.ops->caps & both) == both && fmt == FP8F_QF_FP8_PER_TOKEN) {
        if (!quant_buf)
            return fp8f__fail(ctx, FP8F_E_INVALID,
                              "quant_buf is NULL but the fused path is taken (fmt "
                              "\"fp8_per_token\" on the %s backend)",
                              ctx->be.ops->name);
        CHECK(check_quant_out(ctx, x, quant_buf, "quant_buf"));
        *act = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = *quant_buf};
        act->quant.format = FP8F_QF_FP8_PER_TOKEN;
    } else {
        if (!dense_buf)
            return fp8f__fail(ctx, FP8F_E_INVALID,
                              "dense_buf is NULL but the dense path is taken (fmt \"%s\" on the "
                              "%s backend)",
                              fp8f_quant_format_name(fmt), ctx->be.ops->name);
        CHECK(check_dense_out(ctx, x, dense_buf, "dense_buf"));
        *act = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = *dense_buf};
    }
    return FP8F_OK;
}

/* The prepare step on checked arguments; `act` from check_prepare. */
static fp8f_status run_prepare(fp8f_ctx *ctx, const fp8f_tensor *x, fp8f_tensor *residual,
                               const fp8f_tensor *weight, float eps, fp8f_qtensor *quant_buf,
                               fp8f_act *act) {
    if (act->kind == FP8F_ACT_QUANTIZED) {
        if (x->rows > 0)
            CHECK(ctx->be.ops->rmsnorm_quant(&ctx->be, x, residual, weight, eps, NULL,
                                             &act->quant));
        quant_buf->format = FP8F_QF_FP8_PER_TOKEN;
        return FP8F_OK;
    }
    if (x->rows == 0)
        return FP8F_OK;
    return ctx->be.ops->rmsnorm(&ctx->be, x, residual, weight, eps, &act->dense);
}

fp8f_status fp8f_prepare(fp8f_ctx *ctx, fp8f_quant_format fmt, const fp8f_tensor *x,
                         fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                         fp8f_tensor *dense_buf, fp8f_qtensor *quant_buf, fp8f_act *out) {
    CHECK(check_ctx(ctx));
    if (!out)
        return fp8f__fail(ctx, FP8F_E_INVALID, "out is NULL");
    fp8f_act act;
    CHECK(check_prepare(ctx, fmt, x, residual, weight, eps, dense_buf, quant_buf, &act));
    CHECK(run_prepare(ctx, x, residual, weight, eps, quant_buf, &act));
    *out = act;
    return FP8F_OK;
}

fp8f_status fp8f_prepare_linear(fp8f_ctx *ctx, const fp8f_tensor *x, fp8f_tensor *residual,
                                const fp8f_tensor *norm_weight, float eps, fp8f_tensor *dense_buf,
                                fp8f_qtensor *quant_buf, const fp8f_weight *w, fp8f_tensor *out) {
    CHECK(check_ctx(ctx));
    fp8f_act act;
    CHECK(check_prepare(ctx, FP8F_QF_FP8_PER_TOKEN, x, residual, norm_weight, eps, dense_buf,
                        quant_buf, &act));
    CHECK(check_linear(ctx, &act, w, out));
    /* the GEMM's memory first: a failure to get it leaves the residual as it was */
    if (x->rows > 0 && ctx->be.ops->linear_reserve)
        CHECK(ctx->be.ops->linear_reserve(&ctx->be, &act, &w->desc));
    /* both steps are queued on the context's stream: no host round trip */
    CHECK(run_prepare(ctx, x, residual, norm_weight, eps, quant_buf, &act));
    if (x->rows == 0)
        return FP8F_OK;
    return ctx->be.ops->linear_ptpc(&ctx->be, &act, &w->desc, out);
}
