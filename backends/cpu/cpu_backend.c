/*
 * The OpenMP CPU backend: always built, synchronous, host memory. It has
 * neither capability bit: norm+quant is computed (useful on its own) but
 * the GEMM takes only dense activations and quantizes them itself.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "internal.h"

#define CPU_ALIGN 64

static fp8f_status cpu_mem_alloc(struct fp8f_backend *be, size_t bytes, void **out) {
    void *p = NULL;
    if (posix_memalign(&p, CPU_ALIGN, bytes) != 0)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory allocating %zu bytes", bytes);
    *out = p;
    return FP8F_OK;
}

static void cpu_mem_free(struct fp8f_backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

static fp8f_status cpu_mem_copy(struct fp8f_backend *be, void *dst, const void *src,
                                size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
    return FP8F_OK;
}

/* Copies the codes into the context's fp8 type (see fp8_codec.h for the
 * bit mappings) and returns the factor the scale takes, or 0 when a code
 * has no equivalent in the target type. */
static float convert_codes(const fp8f_tensor *q, fp8f_dtype to, uint8_t *dst, int64_t *bad_row,
                           int64_t *bad_col) {
    for (int64_t r = 0; r < q->rows; r++) {
        const uint8_t *src = cpu_row(q, r);
        uint8_t *d = dst + (size_t)r * (size_t)q->cols;
        for (int64_t c = 0; c < q->cols; c++) {
            if (q->dtype == to) {
                d[c] = src[c];
            } else if (to == FP8F_E4M3FNUZ) {
                d[c] = fp8f_fn_bits_to_fnuz(src[c]);
            } else {
                int v = fp8f_fnuz_bits_to_fn(src[c]);
                if (v < 0) {
                    *bad_row = r;
                    *bad_col = c;
                    return 0.0f;
                }
                d[c] = (uint8_t)v;
            }
        }
    }
    if (q->dtype == to)
        return 1.0f;
    return to == FP8F_E4M3FNUZ ? 2.0f : 0.5f;
}

static void free_weight(struct cpu_weight *cw) {
    if (cw) {
        free(cw->q);
        free(cw->scale);
        free(cw->bias);
        free(cw);
    }
}

static fp8f_status cpu_weight_create(struct fp8f_backend *be, const fp8f_tensor *q,
                                     const float *scale, const fp8f_tensor *bias,
                                     struct fp8f_weight_desc *desc) {
    const size_t n = (size_t)desc->n, k = (size_t)desc->k;
    struct cpu_weight *cw = calloc(1, sizeof *cw);
    if (cw) {
        cw->q = malloc(n * k);
        cw->scale = malloc(n * sizeof(float));
        cw->bias = bias ? malloc(n * sizeof(float)) : NULL;
    }
    if (!cw || !cw->q || !cw->scale || (bias && !cw->bias)) {
        free_weight(cw);
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for a %zu x %zu weight", n, k);
    }
    int64_t bad_row = 0, bad_col = 0;
    float factor = convert_codes(q, desc->fp8_dtype, cw->q, &bad_row, &bad_col);
    if (factor == 0.0f) {
        free_weight(cw);
        return fp8f_backend_fail(be, FP8F_E_FORMAT,
                                 "weight code at row %lld, col %lld is +-240 in E4M3FNUZ, which "
                                 "E4M3FN (max 448 after the scale is halved: 480) cannot hold; "
                                 "create the context with fp8_dtype = FP8F_E4M3FNUZ",
                                 (long long)bad_row, (long long)bad_col);
    }
    for (size_t i = 0; i < n; i++) {
        cw->scale[i] = scale[i] * factor;
        if (bias)
            cw->bias[i] = fp8f_load_float(bias->dtype, bias->data, (int64_t)i);
    }
    desc->impl = cw;
    return FP8F_OK;
}

static void cpu_weight_destroy(struct fp8f_backend *be, struct fp8f_weight_desc *desc) {
    (void)be;
    free_weight(desc->impl);
}

const struct fp8f_backend_ops fp8f_cpu_backend_ops = {
    .name = "cpu",
    .caps = 0,
    .native_fp8 = FP8F_E4M3FN,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_upload = cpu_mem_copy,
    .mem_download = cpu_mem_copy,
    .rmsnorm = cpu_rmsnorm,
    .quant_per_token = cpu_quant_per_token,
    .rmsnorm_quant = cpu_rmsnorm_quant,
    .weight_create = cpu_weight_create,
    .weight_destroy = cpu_weight_destroy,
    .linear_ptpc = cpu_linear_ptpc,
};
