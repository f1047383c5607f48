/*
 * The PTPC GEMM on the CPU, the ISA-free framework:
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]).
 * A dense activation is first quantized per token (cpu_quant_per_token);
 * the codes are converted once into the kernel's activation format
 * (prep_a: f32 or bf16 pairs; fp8 values are exact in both). The weight
 * was repacked into panels of `nr` output channels by weight_create
 * (cpu_backend.c) for the kernel table that will read it. Threads split
 * the panels (each thread streams its own share of the weight once per
 * row block); rows go in blocks of CPU_GEMM_MC so that a block of the
 * activation stays in cache while the weight streams past. Products of two e4m3
 * values are exact in f32 and bf16 -> f32, so the only error is the f32
 * accumulation order and the final rounding.
 */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_isa.h"
#include "cpu_kernels.h"

/* Scratch regions start on page boundaries, so that where they fall
 * relative to each other (and to 4 KiB aliasing) does not change with M or
 * with the heap: at 64-byte alignment the same GEMM measured 6-8 % slower
 * at M = 128 in some runs and not in others (EPYC Zen 5). */
static size_t round_page(size_t b) { return (b + 4095) & ~(size_t)4095; }

fp8f_status cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                            const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    const struct cpu_weight *cw = w->impl;
    const struct cpu_kernels *kr = cw->kern;
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    const size_t k = (size_t)w->k;
    if (m == 0)
        return FP8F_OK;
    int threads = cpu_threads(be);
    /* not more threads than panels; one thread for tiny problems */
    if (threads > cw->panels)
        threads = (int)cw->panels;
    if ((double)m * (double)w->n * (double)w->k < 65536.0)
        threads = 1;
    /* Scratch: [codes M x K, scales M] (dense input only), the activation
     * in the kernel's format, one kernel scratch per thread. Every product
     * checked: M * (K + 4) alone can wrap for a valid M. */
    const size_t arow = kr->a_row_bytes(w->k), kscr = round_page(kr->scratch_bytes(w->k));
    if ((size_t)m > SIZE_MAX / 4 / (k + sizeof(float) + arow + 64))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    const size_t quant_bytes =
        a->kind == FP8F_ACT_DENSE ? round_page((size_t)m * (k + sizeof(float))) : 0;
    const size_t a_bytes = round_page((size_t)m * arow);
    if (kscr > (SIZE_MAX / 4 - quant_bytes - a_bytes) / (size_t)threads)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    const size_t total = quant_bytes + a_bytes + kscr * (size_t)threads;
    char *scratch = NULL;
    if (posix_memalign((void **)&scratch, 4096, total) != 0)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 total);
    fp8f_qtensor qa = a->quant;
    if (a->kind == FP8F_ACT_DENSE) {
        float *scales = (float *)scratch; /* floats first: alignment */
        uint8_t *codes = (uint8_t *)(scales + m);
        qa = (fp8f_qtensor){.q = {codes, w->fp8_dtype, m, (int64_t)k, (int64_t)k},
                            .scale = scales,
                            .format = FP8F_QF_FP8_PER_TOKEN};
        fp8f_status s = cpu_quant_per_token(be, &a->dense, NULL, &qa);
        if (s != FP8F_OK) {
            free(scratch);
            return s;
        }
    }
    void *abuf = scratch + quant_bytes;
    char *kbuf = scratch + quant_bytes + a_bytes;
    kr->prep_a(qa.q.data, qa.q.stride, m, w->k, w->fp8_dtype, abuf);
    const struct cpu_gemm_args g = {
        .a = abuf,
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
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        /* a contiguous share of the panels: each weight byte read by one thread */
        const int64_t p0 = panels * t / nt, p1 = panels * (t + 1) / nt;
        void *mine = kbuf + kscr * (size_t)t;
        if (p0 < p1)
            for (int64_t m0 = 0; m0 < m; m0 += CPU_GEMM_MC)
                kr->gemm_block(&g, m0, m - m0 < CPU_GEMM_MC ? m : m0 + CPU_GEMM_MC, p0, p1,
                               mine);
    }
    free(scratch);
    return FP8F_OK;
}
