/*
 * RMSNorm, per-token quantization and the two together, one row at a time,
 * OpenMP over rows. No scratch memory: the norm makes two passes over the
 * row (sum of squares, then scale), the quantization two more over the
 * normalized values (amax, then encode), recomputing them instead of
 * storing them, which keeps `out` == `x` (in place) correct.
 */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_kernels.h"
#include "fp8_codec.h"


/* One row of the norm: where to read h from after the first pass, and the
 * factor that turns h into y = h * inv_rms * w (w NULL: y = h). */
struct norm_row {
    fp8f_dtype h_dtype;
    const void *h; /* residual row (rounded h) when there is one, else x's */
    const void *w;
    fp8f_dtype w_dtype;
    float inv_rms;
};

/* Pass 1: h = x (+ r, rounded to r's dtype and stored back); returns the
 * row's norm description. */
static struct norm_row norm_row_begin(const fp8f_tensor *x, fp8f_tensor *residual,
                                      const fp8f_tensor *weight, float eps, int64_t r) {
    const int64_t n = x->cols;
    const void *xr = cpu_row(x, r);
    float ss = 0.0f;
    struct norm_row nr = {x->dtype, xr, weight->data, weight->dtype, 0.0f};
    if (residual) {
        void *rr = cpu_row(residual, r);
        for (int64_t c = 0; c < n; c++) {
            float h = fp8f_round_to(residual->dtype, fp8f_load_float(x->dtype, xr, c) +
                                                         fp8f_load_float(residual->dtype, rr, c));
            fp8f_store_float(residual->dtype, rr, c, h);
            ss += h * h;
        }
        nr.h = rr;
        nr.h_dtype = residual->dtype;
    } else {
        for (int64_t c = 0; c < n; c++) {
            float h = fp8f_load_float(x->dtype, xr, c);
            ss += h * h;
        }
    }
    nr.inv_rms = 1.0f / sqrtf(ss / (float)n + eps);
    return nr;
}

/* y[c]; a row without a norm weight (plain quantization) is y = h. */
static inline float norm_value(const struct norm_row *nr, int64_t c) {
    float h = fp8f_load_float(nr->h_dtype, nr->h, c);
    return nr->w ? h * nr->inv_rms * fp8f_load_float(nr->w_dtype, nr->w, c) : h;
}

/* Quantizes one row of y values: amax (NaN-ignoring max of |y|, clipped to
 * *scale_ub), scale = max(amax / FP8_MAX, 1 / (FP8_MAX * 512)), then the
 * codes of y / scale. */
static void quantize_row(const struct norm_row *nr, int64_t n, const float *scale_ub,
                         fp8f_dtype fp8, uint8_t *q, float *scale_out) {
    const float fmax = fp8f_fp8_max(fp8);
    float amax = 0.0f;
    for (int64_t c = 0; c < n; c++)
        amax = fmaxf(amax, fabsf(norm_value(nr, c)));
    if (scale_ub && amax > *scale_ub)
        amax = *scale_ub;
    const float scale = fmaxf(amax / fmax, 1.0f / (fmax * 512.0f));
    for (int64_t c = 0; c < n; c++)
        q[c] = fp8f_encode_fp8(fp8, norm_value(nr, c) / scale);
    *scale_out = scale;
}

int cpu_threads(const struct fp8f_backend *be) {
#ifdef _OPENMP
    return be->num_threads > 0 ? be->num_threads : omp_get_max_threads();
#else
    (void)be;
    return 1;
#endif
}

fp8f_status cpu_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                        const fp8f_tensor *weight, float eps, fp8f_tensor *out) {
    const int64_t rows = x->rows, n = x->cols;
    const int threads CPU_OMP_ONLY = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        struct norm_row nr = norm_row_begin(x, residual, weight, eps, r);
        void *orow = cpu_row(out, r);
        for (int64_t c = 0; c < n; c++)
            fp8f_store_float(out->dtype, orow, c, norm_value(&nr, c));
    }
    return FP8F_OK;
}

fp8f_status cpu_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                              fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                              const float *scale_ub, fp8f_qtensor *out) {
    const int64_t rows = x->rows, n = x->cols;
    const fp8f_dtype fp8 = out->q.dtype;
    const int threads CPU_OMP_ONLY = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        struct norm_row nr = norm_row_begin(x, residual, weight, eps, r);
        quantize_row(&nr, n, scale_ub, fp8, cpu_row(&out->q, r), &out->scale[r]);
    }
    return FP8F_OK;
}

fp8f_status cpu_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                const float *scale_ub, fp8f_qtensor *out) {
    const int64_t rows = x->rows, n = x->cols;
    const fp8f_dtype fp8 = out->q.dtype;
    const int threads CPU_OMP_ONLY = cpu_threads(be);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        struct norm_row plain = {x->dtype, cpu_row(x, r), NULL, x->dtype, 1.0f};
        quantize_row(&plain, n, scale_ub, fp8, cpu_row(&out->q, r), &out->scale[r]);
    }
    return FP8F_OK;
}
