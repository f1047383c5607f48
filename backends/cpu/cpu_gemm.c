/*
 * The PTPC GEMM on the CPU, the ISA-free framework:
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]).
 * A dense activation is first quantized per token (cpu_quant_per_token).
 * Rows go in blocks of CPU_GEMM_MC, so that a block of the activation stays
 * in cache while the weight streams past: the threads convert the block's
 * codes into the kernel's activation format together (prep_a: f32 or bf16
 * pairs; fp8 values are exact in both), then each multiplies the whole
 * block by its own share of the weight's panels (each weight byte is read
 * by one thread, once per block). The weight was repacked into panels of
 * `nr` output channels by weight_create (cpu_backend.c) for the kernel
 * table that will read it. Products of two e4m3
 * values are exact in f32 and bf16 -> f32, so the only error is the f32
 * accumulation order and the final rounding.
 */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_isa.h"
#include "cpu_kernels.h"

/* Regions of the work buffer start on page boundaries, so that where they
 * fall relative to each other (and to 4 KiB aliasing) does not change with
 * M: at 64-byte alignment the same GEMM measured 6-8 % slower at M = 128 in
 * some runs and not in others (EPYC Zen 5). */
static size_t round_page(size_t b) { return (b + 4095) & ~(size_t)4095; }

/* A dense activation quantized per token into a buffer of the call's own
 * (its size grows with M, so the context does not keep it): codes and
 * scales in *qa, the buffer in *buf. */
static fp8f_status quantize_dense(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_dtype fp8,
                                  fp8f_qtensor *qa, void **buf) {
    const size_t m = (size_t)x->rows, k = (size_t)x->cols;
    *buf = NULL;
    if (m > SIZE_MAX / 2 / (k + sizeof(float)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    float *scales = malloc(m * (k + sizeof(float))); /* floats first: alignment */
    if (!scales)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 m * (k + sizeof(float)));
    uint8_t *codes = (uint8_t *)(scales + m);
    *qa = (fp8f_qtensor){.q = {codes, fp8, x->rows, x->cols, x->cols},
                         .scale = scales,
                         .format = FP8F_QF_FP8_PER_TOKEN};
    *buf = scales;
    fp8f_status s = cpu_quant_per_token(be, x, NULL, qa);
    if (s != FP8F_OK) {
        free(scales);
        *buf = NULL;
    }
    return s;
}

fp8f_status cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                            const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    const struct cpu_weight *cw = w->impl;
    const struct cpu_kernels *kr = cw->kern;
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    if (m == 0)
        return FP8F_OK;
    int threads = cpu_threads(be);
    /* not more threads than panels; one thread for tiny problems */
    if (threads > cw->panels)
        threads = (int)cw->panels;
    if ((double)m * (double)w->n * (double)w->k < 65536.0)
        threads = 1;
    /* The context's work buffer: one block of rows of the activation in the
     * kernel's format, then one kernel scratch per thread. It is kept (no
     * page faults on the next call: 5 % of the time at M = 512) and bounded
     * by CPU_GEMM_MC rows, whatever M. */
    const int64_t block_rows = m < CPU_GEMM_MC ? m : CPU_GEMM_MC;
    const size_t arow = kr->a_row_bytes(w->k), kscr = round_page(kr->scratch_bytes(w->k));
    const size_t a_bytes = round_page((size_t)block_rows * arow);
    if (kscr > (SIZE_MAX / 2 - a_bytes) / (size_t)threads)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    char *work = cpu_scratch(be, CPU_SCRATCH_GEMM, a_bytes + kscr * (size_t)threads);
    if (!work)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 a_bytes + kscr * (size_t)threads);
    fp8f_qtensor qa = a->quant;
    void *dense_buf = NULL;
    if (a->kind == FP8F_ACT_DENSE) {
        fp8f_status s = quantize_dense(be, &a->dense, w->fp8_dtype, &qa, &dense_buf);
        if (s != FP8F_OK)
            return s;
    }
    const struct cpu_gemm_args g = {
        .a = work,
        .a_stride = arow,
        .sa = qa.scale,
        .w = cw->q,
        .sw = cw->scale,
        .bias = cw->bias,
        .m = m,
        .n = w->n,
        .k = w->k,
        .out = out->data,
        .out_dtype = out->dtype,
        .out_stride = out->stride,
        .fp8 = w->fp8_dtype,
    };
    const int64_t panels = cw->panels;
    const size_t out_row = (size_t)out->stride * fp8f_dtype_size(out->dtype);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        /* a contiguous share of the panels: each weight byte read by one thread */
        const int64_t p0 = panels * t / nt, p1 = panels * (t + 1) / nt;
        void *mine = work + a_bytes + kscr * (size_t)t;
        for (int64_t m0 = 0; m0 < m; m0 += CPU_GEMM_MC) {
            const int64_t rows = m - m0 < CPU_GEMM_MC ? m - m0 : CPU_GEMM_MC;
            /* every thread converts its share of the block's rows ... */
            const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
            kr->prep_a(qa.q.data + (size_t)(m0 + r0) * (size_t)qa.q.stride, qa.q.stride, r1 - r0,
                       w->k, w->fp8_dtype, work + (size_t)r0 * arow);
#pragma omp barrier
            /* ... and multiplies all of them by its panels */
            struct cpu_gemm_args blk = g;
            blk.sa = g.sa + m0;
            blk.m = rows;
            blk.out = (char *)out->data + (size_t)m0 * out_row;
            if (p0 < p1)
                kr->gemm_block(&blk, 0, rows, p0, p1, mine);
#pragma omp barrier /* the next block overwrites the converted rows */
        }
    }
    free(dense_buf);
    return FP8F_OK;
}
