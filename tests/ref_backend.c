/*
 * The reference backend (see ref_backend.h): every operation computed in
 * double by tests/ref.c on host memory. Its GEMM takes both dense and
 * quantized activations; a dense one is quantized per token exactly as
 * fp8f_quant_per_token does on this backend (codes from the double scale,
 * the scale kept as the f32 that a qtensor stores), so that both paths give
 * bit-identical results.
 */
#include "ref_backend.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref.h"

struct ref_weight {
    double *w;    /* n x k decoded values (in the caller's fp8 type) */
    double *sw;   /* n */
    double *bias; /* n, or NULL */
};

static fp8f_status ref_sync(struct fp8f_backend *be) {
    (void)be;
    return FP8F_OK;
}

static fp8f_status ref_mem_alloc(struct fp8f_backend *be, size_t bytes, void **out) {
    void *p = malloc(bytes);
    if (!p)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "reference: out of memory (%zu bytes)", bytes);
    *out = p;
    return FP8F_OK;
}

static void ref_mem_free(struct fp8f_backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

static fp8f_status ref_mem_copy(struct fp8f_backend *be, void *dst, const void *src,
                                size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
    return FP8F_OK;
}

/* rows x cols doubles (at least one element, so that malloc never gets 0). */
static double *doubles(int64_t rows, int64_t cols) {
    size_t n = (size_t)(rows * cols);
    return malloc((n ? n : 1) * sizeof(double));
}

static fp8f_status nomem(struct fp8f_backend *be) {
    return fp8f_backend_fail(be, FP8F_E_NOMEM, "reference: out of memory");
}

static fp8f_status ref_rmsnorm_op(struct fp8f_backend *be, const fp8f_tensor *x,
                                  fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                  fp8f_tensor *out) {
    double *y = doubles(x->rows, x->cols);
    if (!y)
        return nomem(be);
    ref_rmsnorm(x, residual, weight, eps, y, NULL);
    for (int64_t r = 0; r < x->rows; r++)
        for (int64_t c = 0; c < x->cols; c++)
            ref_store(out, r, c, y[r * x->cols + c]);
    free(y);
    return FP8F_OK;
}

/* Quantizes y into out (codes, f32 scales). */
static fp8f_status store_quant(struct fp8f_backend *be, const double *y, int64_t rows,
                               int64_t cols, const float *scale_ub, fp8f_qtensor *out) {
    uint8_t *q = malloc((size_t)(rows * cols) + 1);
    double *scale = doubles(rows, 1);
    double ub = scale_ub ? (double)*scale_ub : 0.0;
    if (!q || !scale) {
        free(q);
        free(scale);
        return nomem(be);
    }
    ref_quant(y, rows, cols, out->q.dtype, scale_ub ? &ub : NULL, q, scale);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++)
            ref_set_code(&out->q, r, c, q[r * cols + c]);
        out->scale[r] = (float)scale[r];
    }
    free(q);
    free(scale);
    return FP8F_OK;
}

static fp8f_status ref_quant_op(struct fp8f_backend *be, const fp8f_tensor *x,
                                const float *scale_ub, fp8f_qtensor *out) {
    double *y = doubles(x->rows, x->cols);
    if (!y)
        return nomem(be);
    ref_load_all(x, y);
    fp8f_status s = store_quant(be, y, x->rows, x->cols, scale_ub, out);
    free(y);
    return s;
}

static fp8f_status ref_rmsnorm_quant_op(struct fp8f_backend *be, const fp8f_tensor *x,
                                        fp8f_tensor *residual, const fp8f_tensor *weight,
                                        float eps, const float *scale_ub, fp8f_qtensor *out) {
    double *y = doubles(x->rows, x->cols);
    if (!y)
        return nomem(be);
    ref_rmsnorm(x, residual, weight, eps, y, NULL);
    fp8f_status s = store_quant(be, y, x->rows, x->cols, scale_ub, out);
    free(y);
    return s;
}

static void free_weight(struct ref_weight *rw) {
    if (rw) {
        free(rw->w);
        free(rw->sw);
        free(rw->bias);
        free(rw);
    }
}

static fp8f_status ref_weight_create(struct fp8f_backend *be, const fp8f_tensor *q,
                                     const float *scale, const fp8f_tensor *bias,
                                     struct fp8f_weight_desc *desc) {
    const int64_t n = desc->n, k = desc->k;
    /* e4m3fnuz codes +-240 have no e4m3fn equivalent (they would be +-480) */
    if (q->dtype == FP8F_E4M3FNUZ && desc->fp8_dtype == FP8F_E4M3FN)
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < k; c++)
                if ((ref_code(q, r, c) & 0x7f) == 0x7f)
                    return fp8f_backend_fail(be, FP8F_E_FORMAT,
                                             "reference: weight code at [%lld,%lld] is +-240 in "
                                             "E4M3FNUZ, not representable in E4M3FN",
                                             (long long)r, (long long)c);
    struct ref_weight *rw = calloc(1, sizeof *rw);
    if (rw) {
        rw->w = doubles(n, k);
        rw->sw = doubles(n, 1);
        rw->bias = bias ? doubles(n, 1) : NULL;
    }
    if (!rw || !rw->w || !rw->sw || (bias && !rw->bias)) {
        free_weight(rw);
        return nomem(be);
    }
    /* The value of a code times its scale does not depend on the type it is
     * stored as after conversion (fn bits in fnuz mean half, scale doubled),
     * so the reference keeps the caller's values; fn -0 (0x80) decodes to 0. */
    for (int64_t r = 0; r < n; r++) {
        for (int64_t c = 0; c < k; c++)
            rw->w[r * k + c] = ref_fp8_decode(q->dtype, ref_code(q, r, c));
        rw->sw[r] = scale[r];
        if (bias)
            rw->bias[r] = ref_load(bias, 0, r);
    }
    desc->impl = rw;
    return FP8F_OK;
}

static void ref_weight_destroy(struct fp8f_backend *be, struct fp8f_weight_desc *desc) {
    (void)be;
    free_weight(desc->impl);
}

static fp8f_status ref_linear_op(struct fp8f_backend *be, const fp8f_act *a,
                                 const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    const struct ref_weight *rw = w->impl;
    const fp8f_tensor *t = a->kind == FP8F_ACT_DENSE ? &a->dense : &a->quant.q;
    const int64_t m = t->rows, n = w->n, k = w->k;
    double *av = doubles(m, k), *sa = doubles(m, 1), *o = doubles(m, n);
    uint8_t *codes = malloc((size_t)(m * k) + 1);
    fp8f_status s = FP8F_OK;
    if (!av || !sa || !o || !codes) {
        s = nomem(be);
        goto done;
    }
    if (a->kind == FP8F_ACT_DENSE) {
        ref_load_all(&a->dense, av);
        ref_quant(av, m, k, w->fp8_dtype, NULL, codes, sa);
        for (int64_t i = 0; i < m; i++) {
            sa[i] = (float)sa[i];
            for (int64_t c = 0; c < k; c++)
                av[i * k + c] = ref_fp8_decode(w->fp8_dtype, codes[i * k + c]);
        }
    } else {
        for (int64_t i = 0; i < m; i++) {
            sa[i] = a->quant.scale[i];
            for (int64_t c = 0; c < k; c++)
                av[i * k + c] = ref_fp8_decode(a->quant.q.dtype, ref_code(&a->quant.q, i, c));
        }
    }
    ref_gemm(av, sa, rw->w, rw->sw, rw->bias, m, n, k, o, NULL);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            ref_store(out, i, j, o[i * n + j]);
done:
    free(av);
    free(sa);
    free(o);
    free(codes);
    return s;
}

const struct fp8f_backend_ops ref_backend_ops = {
    .name = "reference",
    .caps = FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT,
    .native_fp8 = FP8F_E4M3FN,
    .init = NULL,
    .destroy = NULL,
    .sync = ref_sync,
    .mem_alloc = ref_mem_alloc,
    .mem_free = ref_mem_free,
    .mem_upload = ref_mem_copy,
    .mem_download = ref_mem_copy,
    .rmsnorm = ref_rmsnorm_op,
    .quant_per_token = ref_quant_op,
    .rmsnorm_quant = ref_rmsnorm_quant_op,
    .weight_create = ref_weight_create,
    .weight_destroy = ref_weight_destroy,
    .linear_ptpc = ref_linear_op,
};

fp8f_ctx *ref_ctx_create_with(const struct fp8f_backend_ops *ops, fp8f_dtype fp8) {
    fp8f_options opt = {.fp8_dtype = fp8};
    fp8f_ctx *ctx = NULL;
    fp8f_status s = fp8f__ctx_create_with_ops(ops, &opt, NULL, &ctx);
    ck_assert_msg(s == FP8F_OK && ctx, "fp8f__ctx_create_with_ops(%s): %s: %s", ops->name,
                  fp8f_status_str(s), fp8f_last_error(NULL));
    return ctx;
}

fp8f_ctx *ref_ctx_create(fp8f_dtype fp8) { return ref_ctx_create_with(&ref_backend_ops, fp8); }
