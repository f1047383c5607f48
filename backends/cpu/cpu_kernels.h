/* The CPU backend's kernels. Arguments were validated by lib/. */
#ifndef FP8F_CPU_KERNELS_H
#define FP8F_CPU_KERNELS_H

#include "backend.h"
#include "fp8_codec.h"

/* Address of row r of a tensor. */
static inline void *cpu_row(const fp8f_tensor *t, int64_t r) {
    return (char *)t->data + (size_t)r * (size_t)t->stride * fp8f_dtype_size(t->dtype);
}

/* A weight as the CPU backend keeps it: codes in the context's fp8 type,
 * N x K contiguous, scales (conversion folded in) and bias in f32. */
struct cpu_weight {
    uint8_t *q;
    float *scale;
    float *bias; /* NULL without bias */
};

/* Marks a value only OpenMP pragmas read (they are ignored without OpenMP). */
#if defined(__GNUC__)
#define CPU_OMP_ONLY __attribute__((unused))
#else
#define CPU_OMP_ONLY
#endif

/* Threads for a parallel region: the context's setting or OpenMP's default. */
int cpu_threads(const struct fp8f_backend *be);

fp8f_status cpu_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                        const fp8f_tensor *weight, float eps, fp8f_tensor *out);
fp8f_status cpu_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                const float *scale_ub, fp8f_qtensor *out);
fp8f_status cpu_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                              fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                              const float *scale_ub, fp8f_qtensor *out);
fp8f_status cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                            const struct fp8f_weight_desc *w, fp8f_tensor *out);

#endif
