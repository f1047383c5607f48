/* Weights: checked here, copied and repacked by the backend. */
#include <stdlib.h>

#include "internal.h"

fp8f_status fp8f_weight_create(fp8f_ctx *ctx, const fp8f_tensor *q, const float *scale,
                               const fp8f_tensor *bias, fp8f_weight **out) {
    if (!ctx)
        return fp8f__fail(NULL, FP8F_E_INVALID, "ctx is NULL");
    if (!out)
        return fp8f__fail(ctx, FP8F_E_INVALID, "out is NULL");
    fp8f_status s = fp8f__check_tensor(ctx, q, "q", FP8F_ROLE_FP8);
    if (s != FP8F_OK)
        return s;
    if (q->rows < 1)
        return fp8f__fail(ctx, FP8F_E_INVALID, "q has %lld rows; a weight needs N >= 1",
                          (long long)q->rows);
    if (!scale)
        return fp8f__fail(ctx, FP8F_E_INVALID, "scale is NULL");
    if (bias && (s = fp8f__check_row_vector(ctx, bias, "bias", q->rows)) != FP8F_OK)
        return s;

    fp8f_weight *w = calloc(1, sizeof *w);
    if (!w)
        return fp8f__fail(ctx, FP8F_E_NOMEM, "out of memory creating a weight");
    w->ctx = ctx;
    w->desc = (struct fp8f_weight_desc){
        .n = q->rows, .k = q->cols, .fp8_dtype = ctx->be.fp8_dtype, .has_bias = bias != NULL};
    s = ctx->be.ops->weight_create(&ctx->be, q, scale, bias, &w->desc);
    if (s != FP8F_OK) {
        free(w);
        return s;
    }
    *out = w;
    return FP8F_OK;
}

void fp8f_weight_destroy(fp8f_weight *w) {
    if (!w)
        return;
    w->ctx->be.ops->weight_destroy(&w->ctx->be, &w->desc);
    free(w);
}
