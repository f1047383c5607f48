/*
 * Argument checks shared by every public operation. They read metadata and
 * scalar parameters only, never tensor contents, and name the argument and
 * the rule in the message.
 */
#include <math.h>
#include <stdint.h>

#include "fp8_codec.h"
#include "internal.h"

int fp8f__dtype_known(fp8f_dtype t) { return t >= FP8F_F32 && t <= FP8F_E4M3FNUZ; }

static const char *dtype_name(fp8f_dtype t) {
    static const char *const names[] = {"F32", "BF16", "F16", "E4M3FN", "E4M3FNUZ"};
    return fp8f__dtype_known(t) ? names[t] : "unknown";
}

static int dtype_fits_role(fp8f_dtype t, enum fp8f_role role) {
    if (role == FP8F_ROLE_FP8)
        return t == FP8F_E4M3FN || t == FP8F_E4M3FNUZ;
    return t == FP8F_F32 || t == FP8F_BF16 || t == FP8F_F16;
}

fp8f_status fp8f__check_tensor(fp8f_ctx *ctx, const fp8f_tensor *t, const char *name,
                               enum fp8f_role role) {
    if (!t)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s is NULL", name);
    if (!fp8f__dtype_known(t->dtype))
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has an unknown dtype (%d)", name,
                          (int)t->dtype);
    if (!dtype_fits_role(t->dtype, role))
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has dtype %s; it must be %s", name,
                          dtype_name(t->dtype),
                          role == FP8F_ROLE_FP8 ? "E4M3FN or E4M3FNUZ" : "BF16, F16 or F32");
    if (t->rows < 0)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has rows = %lld < 0", name,
                          (long long)t->rows);
    if (t->cols < 1)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has cols = %lld < 1", name,
                          (long long)t->cols);
    if (t->stride < t->cols)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has stride %lld < cols %lld", name,
                          (long long)t->stride, (long long)t->cols);
    int64_t elem = (int64_t)fp8f_dtype_size(t->dtype);
    int64_t max_bytes = INT64_MAX;
    if ((uint64_t)SIZE_MAX < (uint64_t)INT64_MAX)
        max_bytes = (int64_t)SIZE_MAX;
    if (t->rows > 0 && t->stride > max_bytes / elem / t->rows)
        return fp8f__fail(ctx, FP8F_E_INVALID,
                          "%s is too large: rows %lld x stride %lld x %lld bytes overflows",
                          name, (long long)t->rows, (long long)t->stride, (long long)elem);
    if (t->rows > 0 && !t->data)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has NULL data with %lld rows", name,
                          (long long)t->rows);
    return FP8F_OK;
}

fp8f_status fp8f__check_same_shape(fp8f_ctx *ctx, const fp8f_tensor *a, const char *an,
                                   const fp8f_tensor *b, const char *bn) {
    if (a->rows != b->rows || a->cols != b->cols)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s is %lld x %lld but %s is %lld x %lld", bn,
                          (long long)b->rows, (long long)b->cols, an, (long long)a->rows,
                          (long long)a->cols);
    return FP8F_OK;
}

fp8f_status fp8f__check_row_vector(fp8f_ctx *ctx, const fp8f_tensor *t, const char *name,
                                   int64_t cols) {
    fp8f_status s = fp8f__check_tensor(ctx, t, name, FP8F_ROLE_FLOAT);
    if (s != FP8F_OK)
        return s;
    if (t->rows != 1 || t->cols != cols)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s is %lld x %lld; it must be 1 x %lld", name,
                          (long long)t->rows, (long long)t->cols, (long long)cols);
    return FP8F_OK;
}

fp8f_status fp8f__check_positive(fp8f_ctx *ctx, float v, const char *name) {
    if (!(isfinite(v) && v > 0.0f))
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s = %g; it must be finite and > 0", name,
                          (double)v);
    return FP8F_OK;
}

fp8f_status fp8f__check_qtensor(fp8f_ctx *ctx, const fp8f_qtensor *t, const char *name,
                                enum fp8f_direction dir) {
    if (!t)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s is NULL", name);
    fp8f_status s = fp8f__check_tensor(ctx, &t->q, name, FP8F_ROLE_FP8);
    if (s != FP8F_OK)
        return s;
    if (t->q.rows > 0 && !t->scale)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has a NULL scale with %lld rows", name,
                          (long long)t->q.rows);
    /* an output's format is written on success, never read: a struct whose
     * format was left unset is as good as any */
    if (dir == FP8F_INPUT && t->format != FP8F_QF_NONE && t->format != FP8F_QF_FP8_PER_TOKEN)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s has an unknown quant format (%d)", name,
                          (int)t->format);
    return FP8F_OK;
}
