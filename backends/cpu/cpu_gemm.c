/*
 * The PTPC GEMM on the CPU, in portable C:
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]).
 * A dense activation is first quantized per token (cpu_quant_per_token)
 * into scratch memory allocated for the call. fp8 codes are decoded through
 * a 256-entry table; products of two e4m3 values are exact in f32, so the
 * only error is the f32 accumulation and the final rounding. Rows of the
 * activation are taken in blocks so that each decoded weight row is reused
 * across the block.
 */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_kernels.h"

#define ROW_BLOCK 16

static void fp8_table(fp8f_dtype t, float table[256]) {
    for (int c = 0; c < 256; c++)
        table[c] = fp8f_decode_fp8(t, (uint8_t)c);
}

/* Dot product with 8 independent partial sums (vectorizable). */
static float dot(const float *a, const float *b, int64_t k) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (; i < k; i++)
        s += a[i] * b[i];
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* The GEMM proper on a quantized activation (q: M x K codes, scale: M). */
static void gemm_quantized(struct fp8f_backend *be, const fp8f_qtensor *a,
                           const struct fp8f_weight_desc *w, fp8f_tensor *out, float *a_rows,
                           float *w_rows) {
    const struct cpu_weight *cw = w->impl;
    const int64_t m_total = a->q.rows, n_total = w->n, k = w->k;
    const int threads CPU_OMP_ONLY = cpu_threads(be);
    float table[256];
    fp8_table(w->fp8_dtype, table);

    for (int64_t m0 = 0; m0 < m_total; m0 += ROW_BLOCK) {
        const int64_t mb = m_total - m0 < ROW_BLOCK ? m_total - m0 : ROW_BLOCK;
        for (int64_t i = 0; i < mb; i++) {
            const uint8_t *qa = cpu_row(&a->q, m0 + i);
            for (int64_t c = 0; c < k; c++)
                a_rows[i * k + c] = table[qa[c]];
        }
#pragma omp parallel num_threads(threads)
        {
#ifdef _OPENMP
            float *wf = w_rows + (size_t)omp_get_thread_num() * (size_t)k;
#else
            float *wf = w_rows;
#endif
#pragma omp for schedule(static)
            for (int64_t n = 0; n < n_total; n++) {
                const uint8_t *qw = cw->q + (size_t)n * (size_t)k;
                for (int64_t c = 0; c < k; c++)
                    wf[c] = table[qw[c]];
                for (int64_t i = 0; i < mb; i++) {
                    float v = dot(a_rows + i * k, wf, k) * a->scale[m0 + i] * cw->scale[n];
                    if (cw->bias)
                        v += cw->bias[n];
                    fp8f_store_float(out->dtype, cpu_row(out, m0 + i), n, v);
                }
            }
        }
    }
}

fp8f_status cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                            const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    const size_t k = (size_t)w->k, threads = (size_t)cpu_threads(be);
    if (m == 0)
        return FP8F_OK;
    /* Scratch: the quantized activation (dense input only), then the decoded
     * activation block and one decoded weight row per thread. */
    size_t quant_bytes = a->kind == FP8F_ACT_DENSE ? (size_t)m * (k + sizeof(float)) : 0;
    size_t rows_floats = (ROW_BLOCK + threads) * k;
    if (rows_floats / (ROW_BLOCK + threads) != k ||
        quant_bytes > SIZE_MAX - rows_floats * sizeof(float))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    char *scratch = malloc(quant_bytes + rows_floats * sizeof(float));
    if (!scratch)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 quant_bytes + rows_floats * sizeof(float));
    float *a_rows = (float *)scratch;
    float *w_rows = a_rows + ROW_BLOCK * k;
    fp8f_qtensor qa = a->quant;
    if (a->kind == FP8F_ACT_DENSE) {
        float *scales = w_rows + threads * k; /* floats first: alignment */
        uint8_t *codes = (uint8_t *)(scales + m);
        qa = (fp8f_qtensor){.q = {codes, w->fp8_dtype, m, (int64_t)k, (int64_t)k},
                            .scale = scales,
                            .format = FP8F_QF_FP8_PER_TOKEN};
        cpu_quant_per_token(be, &a->dense, NULL, &qa);
    }
    gemm_quantized(be, &qa, w, out, a_rows, w_rows);
    free(scratch);
    return FP8F_OK;
}
