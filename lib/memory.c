/* Backend memory conveniences: checked here, done by the backend. */
#include "internal.h"

static fp8f_status check_copy(fp8f_ctx *ctx, const void *dst, const void *src) {
    if (!ctx)
        return fp8f__fail(NULL, FP8F_E_INVALID, "ctx is NULL");
    if (!dst || !src)
        return fp8f__fail(ctx, FP8F_E_INVALID, "%s is NULL", dst ? "source" : "destination");
    return FP8F_OK;
}

fp8f_status fp8f_mem_alloc(fp8f_ctx *ctx, size_t bytes, void **out) {
    if (!ctx)
        return fp8f__fail(NULL, FP8F_E_INVALID, "ctx is NULL");
    if (!out)
        return fp8f__fail(ctx, FP8F_E_INVALID, "out is NULL");
    if (bytes == 0)
        return fp8f__fail(ctx, FP8F_E_INVALID, "bytes is 0");
    return ctx->be.ops->mem_alloc(&ctx->be, bytes, out);
}

void fp8f_mem_free(fp8f_ctx *ctx, void *ptr) {
    if (ctx && ptr)
        ctx->be.ops->mem_free(&ctx->be, ptr);
}

fp8f_status fp8f_mem_upload(fp8f_ctx *ctx, void *dst, const void *host_src, size_t bytes) {
    fp8f_status s = check_copy(ctx, dst, host_src);
    if (s != FP8F_OK || bytes == 0)
        return s;
    return ctx->be.ops->mem_upload(&ctx->be, dst, host_src, bytes);
}

fp8f_status fp8f_mem_download(fp8f_ctx *ctx, void *host_dst, const void *src, size_t bytes) {
    fp8f_status s = check_copy(ctx, host_dst, src);
    if (s != FP8F_OK || bytes == 0)
        return s;
    return ctx->be.ops->mem_download(&ctx->be, host_dst, src, bytes);
}
