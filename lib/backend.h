/*
 * The backend interface: one `struct fp8f_backend_ops` per backend.
 *
 * lib/ has validated every argument before it calls an operation: shapes
 * agree, dtypes are in their roles, pointers are non-NULL where data is
 * needed, the activation format fits and the backend has the capability.
 * Backends only compute. They report a failure (allocation, device) by
 * returning a status after fp8f_backend_fail() wrote the message.
 *
 * This header is self-contained (no link dependency on lib/) so that a
 * backend built as a run-time module can include it.
 */
#ifndef FP8F_BACKEND_H
#define FP8F_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "fp8fuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever struct fp8f_backend_ops or struct fp8f_backend changes, so
 * that a stale module is refused instead of called through a wrong layout. */
#define FP8F_BACKEND_ABI 3
#define FP8F_ERROR_MAX 512

/* The per-context instance of a backend; lib/ embeds it in the context. */
struct fp8f_backend {
    const struct fp8f_backend_ops *ops;
    void *state;          /* the backend's own, from ops->init */
    fp8f_dtype fp8_dtype; /* resolved: FP8F_E4M3FN or FP8F_E4M3FNUZ */
    int num_threads;      /* 0 = runtime default */
    int device;
    void *stream;
    char error[FP8F_ERROR_MAX]; /* the context's last error message */
};

/* What lib/ knows of a weight; `impl` is the backend's repacked copy. */
struct fp8f_weight_desc {
    int64_t n, k;         /* out_features, in_features */
    fp8f_dtype fp8_dtype; /* after conversion: the context's fp8 type */
    int has_bias;
    void *impl;
};

struct fp8f_backend_ops {
    const char *name;
    unsigned caps; /* FP8F_CAP_* */
    fp8f_dtype native_fp8;

    /* Prepares `be->state`. May fail with FP8F_E_BACKEND (no device). */
    fp8f_status (*init)(struct fp8f_backend *be);
    void (*destroy)(struct fp8f_backend *be);
    fp8f_status (*sync)(struct fp8f_backend *be);

    /* Backend memory (bytes > 0, pointers non-NULL). */
    fp8f_status (*mem_alloc)(struct fp8f_backend *be, size_t bytes, void **out);
    void (*mem_free)(struct fp8f_backend *be, void *ptr);
    fp8f_status (*mem_upload)(struct fp8f_backend *be, void *dst, const void *src, size_t bytes);
    fp8f_status (*mem_download)(struct fp8f_backend *be, void *dst, const void *src,
                                size_t bytes);

    fp8f_status (*rmsnorm)(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                           const fp8f_tensor *weight, float eps, fp8f_tensor *out);
    /* scale_ub: NULL or the host value. out->q.dtype picks the fp8 type. */
    fp8f_status (*quant_per_token)(struct fp8f_backend *be, const fp8f_tensor *x,
                                   const float *scale_ub, fp8f_qtensor *out);
    fp8f_status (*rmsnorm_quant)(struct fp8f_backend *be, const fp8f_tensor *x,
                                 fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                 const float *scale_ub, fp8f_qtensor *out);

    /* q is n x k in q->dtype; the backend stores it as desc->fp8_dtype
     * (converting e4m3fn -> e4m3fnuz or back when they differ) and sets
     * desc->impl. Scale and bias are copied. */
    fp8f_status (*weight_create)(struct fp8f_backend *be, const fp8f_tensor *q,
                                 const float *scale, const fp8f_tensor *bias,
                                 struct fp8f_weight_desc *desc);
    void (*weight_destroy)(struct fp8f_backend *be, struct fp8f_weight_desc *desc);
    /* a->kind is DENSE, or QUANTIZED (only when caps has QUANTIZED_INPUT)
     * in desc->fp8_dtype. */
    fp8f_status (*linear_ptpc)(struct fp8f_backend *be, const fp8f_act *a,
                               const struct fp8f_weight_desc *w, fp8f_tensor *out);
    /* Optional (NULL: nothing to set aside). Acquires what the next
     * linear_ptpc of `a` with `w` will allocate (FP8F_E_NOMEM where it
     * cannot), so that fp8f_prepare_linear fails before its first step
     * writes anything; that call uses it. Only the shape and kind of `a`
     * are read: its values are not computed yet. */
    fp8f_status (*linear_reserve)(struct fp8f_backend *be, const fp8f_act *a,
                                  const struct fp8f_weight_desc *w);

    /* ---- optional (NULL where a backend has none), for tools ---- */
    /* Device events on the context's stream, for timing (fp8fuse-bench):
     * elapsed_ms waits for `stop` and gives the milliseconds between two
     * recorded events. Synchronous backends leave these NULL (time with a
     * host clock instead). */
    fp8f_status (*event_create)(struct fp8f_backend *be, void **ev);
    void (*event_destroy)(struct fp8f_backend *be, void *ev);
    fp8f_status (*event_record)(struct fp8f_backend *be, void *ev);
    fp8f_status (*event_elapsed_ms)(struct fp8f_backend *be, void *start, void *stop,
                                    float *ms);
    /* Times `calls` invocations of call(arg, i) -- each enqueues work on this
     * context through the public API only -- captured once into a device
     * graph (on a private stream) and replayed `reps` times: us[r] is replay
     * r's device time divided by `calls`, in microseconds. */
    fp8f_status (*time_graph)(struct fp8f_backend *be, void (*call)(void *arg, int i), void *arg,
                              int calls, int reps, double *us);
    /* One line describing the device, e.g. "NVIDIA H100 80GB HBM3, sm_90,
     * 132 SMs, 79 GiB, runtime 13.0". */
    void (*describe)(struct fp8f_backend *be, char *buf, size_t len);
};

/* Entry point a backend module exports (resolved with dlsym). Returns NULL
 * when the module was built for another ABI. */
typedef const struct fp8f_backend_ops *(*fp8f_backend_module_fn)(unsigned abi);
#define FP8F_BACKEND_MODULE_SYMBOL "fp8f_backend_module_ops"
/* Number of usable devices, 0 when the runtime or driver is missing. */
typedef int (*fp8f_backend_device_count_fn)(void);
#define FP8F_BACKEND_DEVICE_COUNT_SYMBOL "fp8f_backend_module_device_count"

/* Records a failure message on the context and returns `status`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline fp8f_status fp8f_backend_fail(struct fp8f_backend *be, fp8f_status status,
                                            const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error, sizeof be->error, fmt, ap);
    va_end(ap);
    return status;
}

#ifdef __cplusplus
}
#endif
#endif /* FP8F_BACKEND_H */
