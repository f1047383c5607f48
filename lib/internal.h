/*
 * What lib/ shares between its own files (never installed). The public API
 * lives in include/fp8fuse.h, the backend interface in lib/backend.h.
 */
#ifndef FP8F_INTERNAL_H
#define FP8F_INTERNAL_H

#include "backend.h"
#include "fp8fuse.h"

#if defined(__GNUC__)
#define FP8F_HIDDEN __attribute__((visibility("hidden")))
#define FP8F_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FP8F_HIDDEN
#define FP8F_PRINTF(f, a)
#endif

struct fp8f_ctx {
    struct fp8f_backend be; /* first: the backend sees only this part */
    void *module;           /* dlopen handle of a module backend, or NULL */
};

struct fp8f_weight {
    fp8f_ctx *ctx;
    struct fp8f_weight_desc desc;
};

/* ---- errors (error.c) ---- */
/* Sets the message of `ctx`, or this thread's when ctx is NULL; returns status. */
FP8F_HIDDEN fp8f_status fp8f__fail(fp8f_ctx *ctx, fp8f_status status, const char *fmt, ...)
    FP8F_PRINTF(3, 4);
FP8F_HIDDEN void fp8f__clear_thread_error(void);
/* This thread's message set back to `msg` (a copy taken before an attempt
 * whose failure is not the caller's, e.g. AUTO trying the GPU first). */
FP8F_HIDDEN void fp8f__restore_thread_error(const char *msg);

/* ---- backends (registry.c) ---- */
/* The built-in CPU backend (backends/cpu). */
extern const struct fp8f_backend_ops fp8f_cpu_backend_ops;
/* Loads the HIP module: its ops, or NULL with a message in why[]. */
FP8F_HIDDEN const struct fp8f_backend_ops *fp8f__load_hip(void **module, char *why,
                                                          size_t why_len);
FP8F_HIDDEN void fp8f__unload_module(void *module);
/* AMD builds: 1, with the reason in why[], where a GPU in the kernel
 * driver's topology under nodes_dir has no code among targets (the
 * module's --with-gpu-arch list), which ROCm answers by aborting the
 * process at its first call; 0 where every GPU has code, where there is
 * none, or where the caller chose the devices (visible-device variables)
 * or set FP8F_HIP_TARGET_CHECK=0. HSA_OVERRIDE_GFX_VERSION is honoured. */
FP8F_HIDDEN int fp8f__amd_gpu_without_code(const char *nodes_dir, const char *targets,
                                           char *why, size_t why_len);
/* The same for this machine and the module's targets; always 0 on NVIDIA. */
FP8F_HIDDEN int fp8f__hip_gpu_without_code(char *why, size_t why_len);
/* The devices a loaded module counts (0 without a runtime or driver), or
 * -1 where it cannot tell. */
FP8F_HIDDEN int fp8f__module_device_count(void *module);

/* Creates a context on a given ops table (the public create resolves the
 * backend and calls this). Tests use it to install a reference backend. */
fp8f_status fp8f__ctx_create_with_ops(const struct fp8f_backend_ops *ops,
                                      const fp8f_options *opt, void *module,
                                      fp8f_ctx **out);

/* ---- argument checks (validate.c); each returns FP8F_OK or fails ctx ---- */
enum fp8f_role { FP8F_ROLE_FLOAT, FP8F_ROLE_FP8 };
FP8F_HIDDEN fp8f_status fp8f__check_tensor(fp8f_ctx *ctx, const fp8f_tensor *t, const char *name,
                                           enum fp8f_role role);
FP8F_HIDDEN fp8f_status fp8f__check_same_shape(fp8f_ctx *ctx, const fp8f_tensor *a,
                                               const char *an, const fp8f_tensor *b,
                                               const char *bn);
FP8F_HIDDEN fp8f_status fp8f__check_row_vector(fp8f_ctx *ctx, const fp8f_tensor *t,
                                               const char *name, int64_t cols);
FP8F_HIDDEN fp8f_status fp8f__check_positive(fp8f_ctx *ctx, float v, const char *name);
/* The (q, scale) pair: the fp8 tensor, its scale and, for an input, a
 * known format value (an output's format is only written). Whether an
 * input's format fits the operation is the caller's FORMAT check. */
enum fp8f_direction { FP8F_INPUT, FP8F_OUTPUT };
FP8F_HIDDEN fp8f_status fp8f__check_qtensor(fp8f_ctx *ctx, const fp8f_qtensor *t,
                                            const char *name, enum fp8f_direction dir);
FP8F_HIDDEN int fp8f__dtype_known(fp8f_dtype t);

#endif /* FP8F_INTERNAL_H */
