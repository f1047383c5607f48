/*
 * Contexts: option checks, backend choice (AUTO / CPU / HIP and the
 * FP8F_BACKEND override) and the small accessors.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef FP8F_MAX_THREADS
#define FP8F_MAX_THREADS 1024 /* the largest options.num_threads */
#endif

static fp8f_status check_options(const fp8f_options *o) {
    if (o->backend != FP8F_BACKEND_AUTO && o->backend != FP8F_BACKEND_CPU &&
        o->backend != FP8F_BACKEND_HIP)
        return fp8f__fail(NULL, FP8F_E_INVALID, "options.backend has an unknown value (%d)",
                          (int)o->backend);
    if (o->fp8_dtype != FP8F_F32 && o->fp8_dtype != FP8F_E4M3FN &&
        o->fp8_dtype != FP8F_E4M3FNUZ)
        return fp8f__fail(NULL, FP8F_E_INVALID,
                          "options.fp8_dtype (%d) must be 0 (native), FP8F_E4M3FN or "
                          "FP8F_E4M3FNUZ",
                          (int)o->fp8_dtype);
    if (o->num_threads < 0)
        return fp8f__fail(NULL, FP8F_E_INVALID, "options.num_threads = %d < 0", o->num_threads);
    /* A thread team that large cannot be created: libgomp crashes (100000)
     * or aborts (INT_MAX) the process instead of failing the call. */
    if (o->num_threads > FP8F_MAX_THREADS)
        return fp8f__fail(NULL, FP8F_E_INVALID, "options.num_threads = %d > %d", o->num_threads,
                          FP8F_MAX_THREADS);
    if (o->device < 0)
        return fp8f__fail(NULL, FP8F_E_INVALID, "options.device = %d < 0", o->device);
    return FP8F_OK;
}

/* AUTO resolves through the FP8F_BACKEND environment variable (exact names). */
static fp8f_status backend_from_env(fp8f_backend_id *id) {
    const char *env = getenv("FP8F_BACKEND");
    if (!env || *env == '\0' || strcmp(env, "auto") == 0) /* empty = unset */
        return FP8F_OK;
    if (strcmp(env, "cpu") == 0)
        *id = FP8F_BACKEND_CPU;
    else if (strcmp(env, "hip") == 0)
        *id = FP8F_BACKEND_HIP;
    else
        return fp8f__fail(NULL, FP8F_E_INVALID,
                          "FP8F_BACKEND=\"%s\" is not one of cpu, hip, auto", env);
    return FP8F_OK;
}

fp8f_status fp8f__ctx_create_with_ops(const struct fp8f_backend_ops *ops,
                                      const fp8f_options *opt, void *module, fp8f_ctx **out) {
    fp8f_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return fp8f__fail(NULL, FP8F_E_NOMEM, "out of memory creating a context");
    ctx->be.ops = ops;
    ctx->be.fp8_dtype = opt->fp8_dtype == FP8F_F32 ? ops->native_fp8 : opt->fp8_dtype;
    ctx->be.num_threads = opt->num_threads;
    ctx->be.device = opt->device;
    ctx->be.stream = opt->stream;
    ctx->module = module;
    fp8f_status s = ops->init ? ops->init(&ctx->be) : FP8F_OK;
    if (s != FP8F_OK) {
        fp8f__fail(NULL, s, "%s backend: %s", ops->name, ctx->be.error);
        free(ctx);
        return s;
    }
    *out = ctx;
    return FP8F_OK;
}

/* Tries the HIP module. On failure: the reason in why[], and *has_gpu set
 * where the module loaded and counts a device (or cannot tell), which is
 * when AUTO must not fall back to the CPU. This thread's message is left
 * as it was: whether the failure is one is the caller's to say. */
static fp8f_status create_on_hip(const fp8f_options *opt, fp8f_ctx **out, char *why,
                                 size_t why_len, int *has_gpu) {
    *has_gpu = 0;
    if (fp8f__hip_gpu_without_code(why, why_len)) { /* before ROCm could abort */
        *has_gpu = 1;
        return FP8F_E_BACKEND;
    }
    void *module = NULL;
    const struct fp8f_backend_ops *ops = fp8f__load_hip(&module, why, why_len);
    if (!ops)
        return FP8F_E_BACKEND;
    *has_gpu = fp8f__module_device_count(module) != 0;
    char saved[FP8F_ERROR_MAX];
    snprintf(saved, sizeof saved, "%s", fp8f_last_error(NULL));
    fp8f_status s = fp8f__ctx_create_with_ops(ops, opt, module, out);
    if (s != FP8F_OK) {
        snprintf(why, why_len, "%s", fp8f_last_error(NULL));
        fp8f__restore_thread_error(saved);
        fp8f__unload_module(module);
    }
    return s;
}

fp8f_status fp8f_ctx_create(const fp8f_options *opt, fp8f_ctx **out) {
    static const fp8f_options defaults;
    if (!out)
        return fp8f__fail(NULL, FP8F_E_INVALID, "out is NULL");
    if (!opt)
        opt = &defaults;
    fp8f_status s = check_options(opt);
    if (s != FP8F_OK)
        return s;
    fp8f_backend_id id = opt->backend;
    if (id == FP8F_BACKEND_AUTO && (s = backend_from_env(&id)) != FP8F_OK)
        return s;

    if (id != FP8F_BACKEND_CPU) {
        char why[FP8F_ERROR_MAX];
        int has_gpu;
        s = create_on_hip(opt, out, why, sizeof why, &has_gpu);
        if (s == FP8F_OK)
            return FP8F_OK;
        /* Asked for explicitly: never a silent fallback. AUTO falls back
         * only where there is no GPU: one that is there but refuses (an
         * ordinal past the last device, no memory) is an error, not a
         * reason to run a hundred times slower on the CPU unnoticed. */
        if (id == FP8F_BACKEND_HIP || has_gpu)
            return fp8f__fail(NULL, s == FP8F_E_NOMEM ? s : FP8F_E_BACKEND,
                              "HIP backend unavailable: %s%s", why,
                              id == FP8F_BACKEND_HIP ? ""
                                                     : " (AUTO falls back to the CPU only "
                                                       "where no GPU is present)");
    }
    return fp8f__ctx_create_with_ops(&fp8f_cpu_backend_ops, opt, NULL, out);
}

void fp8f_ctx_destroy(fp8f_ctx *ctx) {
    if (!ctx)
        return;
    if (ctx->be.ops->destroy)
        ctx->be.ops->destroy(&ctx->be);
    fp8f__unload_module(ctx->module);
    free(ctx);
}

const char *fp8f_ctx_backend_name(const fp8f_ctx *ctx) { return ctx ? ctx->be.ops->name : NULL; }

unsigned fp8f_ctx_caps(const fp8f_ctx *ctx) { return ctx ? ctx->be.ops->caps : 0u; }

fp8f_dtype fp8f_ctx_fp8_dtype(const fp8f_ctx *ctx) {
    return ctx ? ctx->be.fp8_dtype : FP8F_E4M3FN;
}

fp8f_status fp8f_ctx_sync(fp8f_ctx *ctx) {
    if (!ctx)
        return fp8f__fail(NULL, FP8F_E_INVALID, "ctx is NULL");
    return ctx->be.ops->sync ? ctx->be.ops->sync(&ctx->be) : FP8F_OK;
}

const char *fp8f_version(void) { return PACKAGE_VERSION; }

int fp8f_backend_available(fp8f_backend_id id) {
    if (id == FP8F_BACKEND_AUTO || id == FP8F_BACKEND_CPU)
        return 1;
    if (id != FP8F_BACKEND_HIP)
        return 0;
    fp8f_ctx *ctx = NULL;
    char why[FP8F_ERROR_MAX];
    int has_gpu;
    if (create_on_hip(&(fp8f_options){.backend = FP8F_BACKEND_HIP}, &ctx, why, sizeof why,
                      &has_gpu) != FP8F_OK)
        return 0;
    fp8f_ctx_destroy(ctx);
    return 1;
}
