/*
 * RMSNorm, per-token quantization and the two together: the ISA-free
 * framework. Each row is one streaming pass over memory: the residual add
 * and the sum of squares (x and r read, r written once), then, on the row
 * now in cache, y = h * inv_rms * w into a per-thread f32 row with its
 * amax, then the codes of y / scale. The kernels of the context's table
 * (cpu_isa.h) do the per-row work; they agree bit for bit with the generic
 * C ones. OpenMP over rows; a row of y is kept in per-thread scratch, so
 * `out` == `x` (in place) stays correct.
 */
#include <math.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_isa.h"
#include "cpu_kernels.h"
#include "fp8_codec.h"

/* Rows below this many elements in all run on the calling thread: the
 * OpenMP fork/join costs more than the work (M = 1 at H = 5120 is ~1 us). */
#define PAR_MIN_ELEMS 24576

static inline float row_scale(float amax, const float *scale_ub, fp8f_dtype fp8) {
    const float fmax = fp8f_fp8_max(fp8);
    if (scale_ub && amax > *scale_ub)
        amax = *scale_ub;
    return fmaxf(amax / fmax, 1.0f / (fmax * 512.0f));
}

static inline int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int cpu_threads(const struct fp8f_backend *be) {
#ifdef _OPENMP
    return be->num_threads > 0 ? be->num_threads : omp_get_max_threads();
#else
    (void)be;
    return 1;
#endif
}

/* Per-thread f32 rows of n floats (64-byte aligned), or NULL. */
static float *row_scratch(struct fp8f_backend *be, int threads, int64_t n, size_t *stride) {
    *stride = ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
    if ((size_t)n > SIZE_MAX / 8 / (size_t)threads)
        return NULL;
    return cpu_scratch(be, CPU_SCRATCH_ROWS, *stride * (size_t)threads);
}

fp8f_status cpu_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                        const fp8f_tensor *weight, float eps, fp8f_tensor *out) {
    const struct cpu_kernels *kr = cpu_kern(be);
    const int64_t rows = x->rows, n = x->cols;
    const int threads CPU_OMP_ONLY = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows > 1 && rows * n > PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        void *rr = residual ? cpu_row(residual, r) : NULL;
        const void *xr = cpu_row(x, r);
        float ss = kr->row_add_ss(xr, x->dtype, rr, residual ? residual->dtype : x->dtype, n);
        const float inv_rms = 1.0f / sqrtf(ss / (float)n + eps);
        kr->row_norm_store(rr ? rr : xr, rr ? residual->dtype : x->dtype, weight->data,
                           weight->dtype, inv_rms, cpu_row(out, r), out->dtype, n);
    }
    return FP8F_OK;
}

fp8f_status cpu_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                              fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                              const float *scale_ub, fp8f_qtensor *out) {
    const struct cpu_kernels *kr = cpu_kern(be);
    const int64_t rows = x->rows, n = x->cols;
    const fp8f_dtype fp8 = out->q.dtype;
    const int threads = rows > 1 && rows * n > PAR_MIN_ELEMS ? cpu_threads(be) : 1;
    size_t ystride;
    char *ys = (char *)row_scratch(be, threads, n, &ystride);
    if (!ys)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for norm scratch");
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t r = 0; r < rows; r++) {
        float *y = (float *)(ys + ystride * (size_t)thread_id());
        void *rr = residual ? cpu_row(residual, r) : NULL;
        const void *xr = cpu_row(x, r);
        float ss = kr->row_add_ss(xr, x->dtype, rr, residual ? residual->dtype : x->dtype, n);
        const float inv_rms = 1.0f / sqrtf(ss / (float)n + eps);
        float amax = kr->row_norm(rr ? rr : xr, rr ? residual->dtype : x->dtype, weight->data,
                                  weight->dtype, inv_rms, y, n);
        const float scale = row_scale(amax, scale_ub, fp8);
        kr->row_encode(y, n, scale, fp8, cpu_row(&out->q, r));
        out->scale[r] = scale;
    }
    return FP8F_OK;
}

fp8f_status cpu_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                const float *scale_ub, fp8f_qtensor *out) {
    const struct cpu_kernels *kr = cpu_kern(be);
    const int64_t rows = x->rows, n = x->cols;
    const fp8f_dtype fp8 = out->q.dtype;
    const int threads = rows > 1 && rows * n > PAR_MIN_ELEMS ? cpu_threads(be) : 1;
    size_t ystride = 0;
    char *ys = NULL;
    if (x->dtype != FP8F_F32 && !(ys = (char *)row_scratch(be, threads, n, &ystride)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for quant scratch");
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t r = 0; r < rows; r++) {
        const void *xr = cpu_row(x, r);
        float *y = ys ? (float *)(ys + ystride * (size_t)thread_id()) : NULL;
        float amax = kr->row_amax(xr, x->dtype, y, n);
        const float scale = row_scale(amax, scale_ub, fp8);
        kr->row_encode(y ? y : (const float *)xr, n, scale, fp8, cpu_row(&out->q, r));
        out->scale[r] = scale;
    }
    return FP8F_OK;
}
