/* The CPU backend's kernels. Arguments were validated by lib/. */
#ifndef FP8F_CPU_KERNELS_H
#define FP8F_CPU_KERNELS_H

#include <math.h>

#include "backend.h"
#include "fp8_codec.h"

/* Address of row r of a tensor. */
static inline void *cpu_row(const fp8f_tensor *t, int64_t r) {
    return (char *)t->data + (size_t)r * (size_t)t->stride * fp8f_dtype_size(t->dtype);
}

struct cpu_kernels;

/* A weight as the CPU backend keeps it: codes in the context's fp8 type,
 * repacked into the panels of the kernel table that packed it (`kern`,
 * remembered so that the GEMM reads the layout it was given), scales
 * (conversion folded in) and bias in f32, each padded to whole panels. */
struct cpu_weight {
    uint8_t *q;
    float *scale;
    float *bias; /* NULL without bias */
    const struct cpu_kernels *kern;
    int64_t panels;
    size_t panel_bytes;
};

/* The CPU backend's per-context state (be->state). */
enum cpu_scratch_slot { CPU_SCRATCH_ROWS, CPU_SCRATCH_GEMM, CPU_SCRATCH_SLOTS };

struct cpu_state {
    const struct cpu_kernels *kern; /* chosen once, at context creation */
    int isa;                        /* enum cpu_isa of `kern` */
    int detected;                   /* what the CPU supports */
    /* Work buffers, grown on demand, kept until the context is destroyed;
     * one per user, since the GEMM quantizes a dense input (rows) before it
     * converts the codes (gemm). */
    void *scratch[CPU_SCRATCH_SLOTS];
    size_t scratch_bytes[CPU_SCRATCH_SLOTS];
    /* A dense activation's codes and scales, set aside by linear_reserve
     * for the next GEMM call, which takes (and frees) it. */
    void *reserved_act;
    size_t reserved_act_bytes;
};

/* The context's kernel table. */
static inline const struct cpu_kernels *cpu_kern(const struct fp8f_backend *be) {
    return ((const struct cpu_state *)be->state)->kern;
}
/* Scratch of at least `bytes` (page-aligned) in one slot, kept in the
 * state; NULL when out of memory. */
void *fp8f_cpu_scratch(struct fp8f_backend *be, enum cpu_scratch_slot slot, size_t bytes);

/* Exact e4m3 encoding with integer arithmetic: the same codes as
 * fp8f_encode_fp8 for every f32 input. */
static inline uint8_t cpu_encode_fp8_fast(fp8f_dtype t, float f) {
    const int fnuz = t == FP8F_E4M3FNUZ;
    const int bias = fnuz ? 8 : 7;
    const uint32_t max_code = fnuz ? 0x7fu : 0x7eu;
    uint32_t bits = fp8f_f32_bits(f), abits = bits & 0x7fffffffu;
    uint32_t sign = (bits >> 24) & 0x80u, code;
    if (abits > 0x7f800000u) /* NaN */
        return fnuz ? 0x80u : (uint8_t)(sign | 0x7fu);
    if (abits >= (uint32_t)(127 + 1 - bias) << 23) { /* normal range (Inf included) */
        code = (abits + 0x7ffffu + ((abits >> 20) & 1u)) >> 20;
        code -= (uint32_t)(127 - bias) << 3;
    } else { /* subnormal: RNE of |f| * 2^(bias + 2) through the 2^23 trick */
        float t2 = fp8f_bits_f32(abits) * (fnuz ? 1024.0f : 512.0f);
        const float big = 8388608.0f; /* t2 < 8: (t2 + 2^23) - 2^23 rounds exactly */
        code = (uint32_t)((t2 + big) - big);
    }
    if (code > max_code)
        code = max_code;
    if (fnuz && code == 0)
        return 0;
    return (uint8_t)(sign | code);
}

/* max(m, |v|) ignoring a NaN v, quiet or signaling. (fmaxf returns NaN for
 * a signaling NaN, as IEEE 754-2008 asks, which would drop the amax of the
 * values before it: a bf16 or f32 input can hold one.) */
static inline float cpu_max_abs(float m, float v) {
    const float a = fabsf(v);
    return a > m ? a : m;
}

/* Threads for a parallel region: the context's setting or OpenMP's default. */
int fp8f_cpu_threads(const struct fp8f_backend *be);

fp8f_status fp8f_cpu_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                             const fp8f_tensor *weight, float eps, fp8f_tensor *out);
fp8f_status fp8f_cpu_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                     const float *scale_ub, fp8f_qtensor *out);
fp8f_status fp8f_cpu_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                                   fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                   const float *scale_ub, fp8f_qtensor *out);
/* Grows the scratch fp8f_cpu_quant_per_token of x will use. */
fp8f_status fp8f_cpu_quant_reserve(struct fp8f_backend *be, const fp8f_tensor *x);
fp8f_status fp8f_cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                                 const struct fp8f_weight_desc *w, fp8f_tensor *out);
fp8f_status fp8f_cpu_linear_reserve(struct fp8f_backend *be, const fp8f_act *a,
                                    const struct fp8f_weight_desc *w);

#endif
