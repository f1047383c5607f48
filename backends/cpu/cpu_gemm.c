/*
 * The PTPC GEMM on the CPU, the ISA-free framework:
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]).
 * A dense activation is first quantized per token (fp8f_cpu_quant_per_token).
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
#include <stdatomic.h>
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

/* Bytes of a dense activation's codes and scales (m rows of k) in *bytes;
 * 0 when the size overflows. */
static int act_codes_bytes(int64_t m, int64_t k, size_t *bytes) {
    if ((size_t)m > SIZE_MAX / 2 / ((size_t)k + sizeof(float)))
        return 0;
    *bytes = (size_t)m * ((size_t)k + sizeof(float));
    return 1;
}

/* The buffer linear_reserve set aside when it is there and large enough,
 * else a new one. */
static void *take_act_buffer(struct fp8f_backend *be, size_t bytes) {
    struct cpu_state *st = be->state;
    void *p = st->reserved_act;
    const size_t have = st->reserved_act_bytes;
    st->reserved_act = NULL;
    st->reserved_act_bytes = 0;
    if (p && have >= bytes)
        return p;
    free(p);
    return malloc(bytes);
}

/* The threads' split of a block's panels: chunks of whole units of
 * kr->split_panels, each a 1/threads share of the units left (at least
 * one), taken from `next` in order as threads come for them (OpenMP's
 * guided schedule, with the chunk's bounds: a gemm_block call covers the
 * whole chunk, so a kernel's prefetch of the next block of codes runs on
 * across its units). Returns 0 when none is left. */
static int take_chunk(atomic_llong *next, int64_t units, int threads, int64_t *u0, int64_t *u1) {
    long long first = atomic_load_explicit(next, memory_order_relaxed);
    for (;;) {
        if (first >= units)
            return 0;
        long long size = (units - first) / threads;
        size = size < 1 ? 1 : size;
        if (atomic_compare_exchange_weak_explicit(next, &first, first + size,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *u0 = first;
            *u1 = first + size;
            return 1;
        }
    }
}

/* Everything a GEMM call allocates, sized for its M. */
struct gemm_memory {
    int threads;
    int64_t units; /* the weight's panels in units of kr->split_panels */
    size_t arow, a_bytes, kscr;
    char *work;       /* the context's work buffer (kept) */
    void *act;        /* a dense activation's codes and scales (the call's own), else NULL */
    size_t act_bytes; /* act's size */
};

/* Acquires it all before anything is computed, so that a call fails with
 * FP8F_E_NOMEM before it writes, and linear_reserve can acquire the same. */
static fp8f_status gemm_memory(struct fp8f_backend *be, const fp8f_act *a,
                               const struct fp8f_weight_desc *w, struct gemm_memory *gm) {
    const struct cpu_weight *cw = w->impl;
    const struct cpu_kernels *kr = cw->kern;
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    int threads = fp8f_cpu_threads(be);
    const int64_t units = (cw->panels + kr->split_panels - 1) / kr->split_panels;
    /* not more threads than units of work; one thread for tiny problems */
    if (threads > units)
        threads = (int)units;
    if ((double)m * (double)w->n * (double)w->k < 65536.0)
        threads = 1;
    /* The context's work buffer: one block of rows of the activation in the
     * kernel's format, then one kernel scratch per thread. It is kept (no
     * page faults on the next call: 5 % of the time at M = 512) and bounded
     * by CPU_GEMM_MC rows, whatever M. */
    const int64_t block_rows = m < CPU_GEMM_MC ? m : CPU_GEMM_MC;
    *gm = (struct gemm_memory){.threads = threads, .units = units, .arow = kr->a_row_bytes(w->k)};
    gm->kscr = round_page(kr->scratch_bytes(w->k));
    gm->a_bytes = round_page((size_t)block_rows * gm->arow);
    if (gm->kscr > (SIZE_MAX / 2 - gm->a_bytes) / (size_t)threads)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    const size_t work_bytes = gm->a_bytes + gm->kscr * (size_t)threads;
    if (!(gm->work = fp8f_cpu_scratch(be, CPU_SCRATCH_GEMM, work_bytes)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 work_bytes);
    if (a->kind != FP8F_ACT_DENSE)
        return FP8F_OK;
    /* A dense activation is quantized per token into a buffer of the
     * call's own (its size grows with M, so the context does not keep it). */
    if (!act_codes_bytes(m, w->k, &gm->act_bytes))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "GEMM scratch size overflows");
    fp8f_status s = fp8f_cpu_quant_reserve(be, &a->dense);
    if (s != FP8F_OK)
        return s;
    if (!(gm->act = take_act_buffer(be, gm->act_bytes)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for %zu bytes of GEMM scratch",
                                 gm->act_bytes);
    return FP8F_OK;
}

fp8f_status fp8f_cpu_linear_reserve(struct fp8f_backend *be, const fp8f_act *a,
                                    const struct fp8f_weight_desc *w) {
    struct gemm_memory gm;
    fp8f_status s = gemm_memory(be, a, w, &gm);
    if (s == FP8F_OK && gm.act) {
        struct cpu_state *st = be->state;
        st->reserved_act = gm.act;
        st->reserved_act_bytes = gm.act_bytes;
    }
    return s;
}

/* The dense activation quantized per token into buf (floats first: alignment). */
static fp8f_status quantize_dense(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_dtype fp8,
                                  void *buf, fp8f_qtensor *qa) {
    float *scales = buf;
    *qa = (fp8f_qtensor){.q = {(uint8_t *)(scales + x->rows), fp8, x->rows, x->cols, x->cols},
                         .scale = scales,
                         .format = FP8F_QF_FP8_PER_TOKEN};
    return fp8f_cpu_quant_per_token(be, x, NULL, qa);
}

fp8f_status fp8f_cpu_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                                 const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    const struct cpu_weight *cw = w->impl;
    const struct cpu_kernels *kr = cw->kern;
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    struct gemm_memory gm;
    fp8f_status s = gemm_memory(be, a, w, &gm);
    if (s != FP8F_OK)
        return s;
    fp8f_qtensor qa = a->quant;
    if (a->kind == FP8F_ACT_DENSE &&
        (s = quantize_dense(be, &a->dense, w->fp8_dtype, gm.act, &qa)) != FP8F_OK) {
        free(gm.act);
        return s;
    }
    char *const work = gm.work;
    const size_t arow = gm.arow, a_bytes = gm.a_bytes, kscr = gm.kscr;
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
    const int64_t panels = cw->panels, units = gm.units, unit = kr->split_panels;
    const size_t out_row = (size_t)out->stride * fp8f_dtype_size(out->dtype);
    atomic_llong next_unit = 0; /* the block's first unit no thread has taken */
#pragma omp parallel num_threads(gm.threads) if (gm.threads > 1)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        void *mine = work + a_bytes + kscr * (size_t)t;
        for (int64_t m0 = 0; m0 < m; m0 += CPU_GEMM_MC) {
            const int64_t rows = m - m0 < CPU_GEMM_MC ? m - m0 : CPU_GEMM_MC;
            /* every thread converts its share of the block's rows ... */
            const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
            kr->prep_a(qa.q.data + (size_t)(m0 + r0) * (size_t)qa.q.stride, qa.q.stride, r1 - r0,
                       w->k, w->fp8_dtype, work + (size_t)r0 * arow);
            if (t == 0)
                atomic_store_explicit(&next_unit, 0, memory_order_relaxed);
#pragma omp barrier
            /* ... and multiplies all of them by the chunks of panels it
             * takes (each weight byte read by one thread). Chunks, not
             * static halves: the two vCPUs of the VMs measured here do not
             * run at the same speed for long. Timed per thread inside
             * this loop (Zen 4, 6144 x 5120, 2 threads, static halves),
             * the second thread finished 1-8 ms after the first at M =
             * 128 (calls of 20-27 ms) and 5-32 ms after it at M = 512
             * (80-108 ms). */
            struct cpu_gemm_args blk = g;
            blk.sa = g.sa + m0;
            blk.m = rows;
            blk.out = (char *)out->data + (size_t)m0 * out_row;
            for (int64_t u0, u1; take_chunk(&next_unit, units, nt, &u0, &u1);)
                kr->gemm_block(&blk, 0, rows, u0 * unit, u1 < units ? u1 * unit : panels, mine);
#pragma omp barrier /* the next block overwrites the converted rows */
        }
    }
    free(gm.act);
    return FP8F_OK;
}
