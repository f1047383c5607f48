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

int fp8f_cpu_threads(const struct fp8f_backend *be) {
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
    return fp8f_cpu_scratch(be, CPU_SCRATCH_ROWS, *stride * (size_t)threads);
}

static int row_threads(const struct fp8f_backend *be, int64_t rows, int64_t n) {
    return rows > 1 && rows * n > PAR_MIN_ELEMS ? fp8f_cpu_threads(be) : 1;
}

typedef void (*encode_fn)(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                          int stream);

/* Calls whose codes fill at least this many bytes write them around the
 * caches where the kernels can (row_encode's stream hint). Such an output
 * does not stay in a core's L2 for the GEMM anyway, and a plain store first
 * reads each line it fills: 5 of every 40 bytes that add+norm+quant moves.
 * Measured on the EPYC (Zen 5), H = 5120, 2 threads, medians of paired
 * alternations (a noisy machine: single pairs vary +-15 %), streamed
 * against plain stores: add+norm+quant M = 256 / 512 / 1024 / 4096 1.13x /
 * 1.12x / 1.08x / 1.10x as fast on a busy morning, M = 1024 / 4096 1.03x /
 * 1.02x on a quieter one; quant M = 256 / 1024 / 4096 1.13x / 1.09-1.14x /
 * 1.08-1.09x. M = 64 (0.96x streamed) stays plain: in an engine its codes
 * are read by the GEMM right away, from cache. A fence per chunk of 256
 * codes instead of per row made it 2x slower. */
#define STREAM_MIN_BYTES (1 << 20)

/* Whether the codes of x's rows are written with the stream hint. */
static int streams_codes(const struct cpu_kernels *kr, const fp8f_tensor *x) {
    return kr->store_fence && x->rows * x->cols >= STREAM_MIN_BYTES;
}

/* One call's operands, shared by its rows. */
struct row_job {
    const struct cpu_kernels *kr;
    encode_fn encode; /* the quantizing ops: kr->row_encode, row_encode_div or row_encode_eo */
    int even_odd;     /* norm by kr->row_norm_bf16_eo (and encode by row_encode_eo) */
    int bf16_table;   /* quant: bf16 rows by kr->row_encode_bf16 where the scale allows */
    const fp8f_tensor *x, *weight;
    fp8f_tensor *residual, *out; /* out: rmsnorm only */
    fp8f_qtensor *q;             /* the quantizing ops */
    int stream;                  /* encode's stream hint; kr->store_fence after each row */
    float eps;
    const float *scale_ub;
    char *ys; /* per-thread f32 rows, ystride bytes apart */
    size_t ystride;
};

typedef void (*row_fn)(const struct row_job *job, int64_t r, int thread);

/* fn(job, r, thread) for every row, split over `threads` OpenMP threads
 * in guided chunks (contiguous rows, so that each row's prefetch of the
 * next mostly serves its own thread): the two vCPUs of the VMs measured
 * here do not run at the same speed for long, and with static halves one
 * thread waited for the other 2-4 % of a call at M = 1024 and 2-7 % at M
 * = 4096 (Zen 4, H = 5120, 2 threads, timed per thread). Guided against
 * static, ten alternations of fp8fuse-bench, medians of the time in the
 * pairs with the copy: add+norm+quant M = 1024 / 4096 1526 -> 1407 /
 * 5641 -> 5197 us, bf16 quant 684 -> 665 / 2681 -> 2613 us (a noisy
 * hour).
 * On one thread the loop runs here, outside any parallel region: libgomp
 * sets up a team even when an if clause keeps the region on one thread,
 * which took 0.4 us of the 2.7 us of add+norm+quant at M = 1, H = 5120
 * (EPYC, same binary otherwise: 2.69-2.76 -> 2.31-2.33 us). */
static void run_rows(const struct row_job *job, row_fn fn, int64_t rows, int threads) {
    if (threads <= 1) {
        for (int64_t r = 0; r < rows; r++)
            fn(job, r, 0);
        return;
    }
#pragma omp parallel for schedule(guided) num_threads(threads)
    for (int64_t r = 0; r < rows; r++)
        fn(job, r, thread_id());
}

/* The residual add and the sum of squares of row r: 1 / rms, and where the
 * row's h now is (the residual, or x when there is none). */
static float add_rms(const struct row_job *j, int64_t r, const void **h, fp8f_dtype *ht) {
    void *rr = j->residual ? cpu_row(j->residual, r) : NULL;
    const void *xr = cpu_row(j->x, r);
    const fp8f_dtype rt = j->residual ? j->residual->dtype : j->x->dtype;
    const int64_t n = j->x->cols;
    const float ss = j->kr->row_add_ss(xr, j->x->dtype, rr, rt, n);
    *h = rr ? rr : xr;
    *ht = rt;
    return 1.0f / sqrtf(ss / (float)n + j->eps);
}

/* The passes over a row that follow its first (the norm, the encode) run
 * in chunks of this many elements, each followed by a slice of the next
 * row's prefetch (prefetch_slice). */
#define ROW_CHUNK 256

/* Prefetches the lines of [p + from, p + to) into L2. */
static void prefetch_l2(const char *p, size_t from, size_t to) {
    for (size_t o = from & ~(size_t)63; o < to; o += 64)
        __builtin_prefetch(p + o, 0, 2);
}

/* Elements [from, to) of row r + 1's inputs (x, and the residual where
 * there is one) into L2; nothing after the last row. */
static void prefetch_next(const struct row_job *j, int64_t r, int64_t from, int64_t to) {
    if (r + 1 >= j->x->rows)
        return;
    const size_t xe = fp8f_dtype_size(j->x->dtype);
    prefetch_l2(cpu_row(j->x, r + 1), (size_t)from * xe, (size_t)to * xe);
    if (j->residual) {
        const size_t re = fp8f_dtype_size(j->residual->dtype);
        prefetch_l2(cpu_row(j->residual, r + 1), (size_t)from * re, (size_t)to * re);
    }
}

/* After chunk [c, c + len) of row r's pass `part` (of `parts` passes that
 * follow the first), the matching slice of that pass's share of row
 * r + 1: pass k prefetches the k-th 1/parts of the next row, a slice per
 * chunk, so the passes together fetch all of it.
 *
 * Why: these passes work on the row already in cache and are bound by
 * arithmetic, so the memory would idle while they run; prefetched a slice
 * per chunk, the next row's first pass finds its inputs in L2. One burst of
 * prefetches between the passes was slower (backends/cpu/NOTES.md).
 * Measured on the EPYC, H = 5120, the same binary with and without: quant
 * M = 1024 577-591 -> 428-452 us and M = 4096 2228-2372 -> 1731-1832 us
 * (three alternations), add+norm+quant 1.0-1.1x; chunks of 256 elements
 * beat 512, 1024 and 2560. add+norm+quant spreads the next row over its
 * norm and encode (two parts) rather than the encode alone: on the Xeon,
 * paired with the copy, four rotated rounds in a calm hour, M = 1024
 * 0.83-0.97x -> 0.97-1.12x and M = 4096 0.94-0.97x -> 1.02-1.15x (two rows
 * ahead: 0.90-0.94x / 0.92-0.94x), and no different in a busier hour; on
 * the EPYC within its noise. Not for rmsnorm: its store pass is bound by its
 * writes, and the same prefetch there made it 0.89-0.90x as fast. */
static void prefetch_slice(const struct row_job *j, int64_t r, int64_t c, int64_t len, int part,
                           int parts) {
    const int64_t n = j->x->cols;
    prefetch_next(j, r, (part * n + c) / parts, (part * n + c + len) / parts);
}

/* The chunk of row r's later passes: the whole row when no row follows. */
static int64_t row_chunk(const struct row_job *j, int64_t r) {
    return r + 1 < j->x->rows ? ROW_CHUNK : j->x->cols;
}

/* y = (h * inv_rms) * w of row r (h of type ht) in chunks, the first half
 * of the next row prefetched meanwhile; returns amax. */
static float norm_row(const struct row_job *j, int64_t r, const void *h, fp8f_dtype ht,
                      float inv_rms, float *y) {
    const int64_t n = j->x->cols, chunk = row_chunk(j, r);
    const fp8f_dtype wt = j->weight->dtype;
    float amax = 0.0f;
    for (int64_t c = 0; c < n; c += chunk) {
        const int64_t len = n - c < chunk ? n - c : chunk;
        const void *hc = (const char *)h + (size_t)c * fp8f_dtype_size(ht);
        const void *wc = (const char *)j->weight->data + (size_t)c * fp8f_dtype_size(wt);
        /* a chunk is whole 64-element blocks but for the row's last:
         * the same even/odd order as the row's */
        const float a = j->even_odd ? j->kr->row_norm_bf16_eo(hc, wc, inv_rms, y + c, len)
                                    : j->kr->row_norm(hc, ht, wc, wt, inv_rms, y + c, len);
        amax = cpu_max_abs(amax, a);
        prefetch_slice(j, r, c, len, 0, 2);
    }
    return amax;
}

/* The codes of row r into q, and its scale: of y / scale by j->encode,
 * or, given a table t, of the bf16 row xb / scale by row_encode_bf16. The
 * encode is part `part` of `parts` of the next row's prefetch. */
static void encode_row(const struct row_job *j, int64_t r, const float *y, const uint16_t *xb,
                       const struct cpu_bf16_codes *t, float scale, int part, int parts) {
    const fp8f_dtype fp8 = j->q->q.dtype;
    const int64_t n = j->x->cols, chunk = row_chunk(j, r);
    uint8_t *q = cpu_row(&j->q->q, r);
    for (int64_t c = 0; c < n; c += chunk) {
        const int64_t len = n - c < chunk ? n - c : chunk;
        if (t)
            j->kr->row_encode_bf16(xb + c, len, t, q + c, j->stream);
        else
            j->encode(y + c, len, scale, fp8, q + c, j->stream);
        prefetch_slice(j, r, c, len, part, parts);
    }
    if (j->stream)
        j->kr->store_fence();
    j->q->scale[r] = scale;
}

static void rmsnorm_row(const struct row_job *j, int64_t r, int thread) {
    (void)thread;
    const void *h;
    fp8f_dtype ht;
    const float inv_rms = add_rms(j, r, &h, &ht);
    j->kr->row_norm_store(h, ht, j->weight->data, j->weight->dtype, inv_rms, cpu_row(j->out, r),
                          j->out->dtype, j->x->cols);
}

static void rmsnorm_quant_row(const struct row_job *j, int64_t r, int thread) {
    float *y = (float *)(j->ys + j->ystride * (size_t)thread);
    const void *h;
    fp8f_dtype ht;
    const float inv_rms = add_rms(j, r, &h, &ht);
    const float amax = norm_row(j, r, h, ht, inv_rms, y);
    encode_row(j, r, y, NULL, NULL, row_scale(amax, j->scale_ub, j->q->q.dtype), 1, 2);
}

/* max |x| of bf16 row r (NaNs ignored) by the table path's
 * row_amax_bf16, in chunks, the first half of the next row prefetched
 * meanwhile as norm_row does. Without it the memory sat idle during this
 * pass, the short table encode alone fetching the next row. Zen 4, 2
 * threads, bf16 quant, the time in the pairs with the copy, medians of
 * five alternations: M = 1024 531 -> 486 us, M = 4096 2019 -> 1922 us
 * (faster in 4 of the 5 at each M; the VM's memory speed moved the
 * ratio to the copy over 0.5-1.0x in both builds). Not for row_amax's
 * rows (f32, f16, and bf16 below the avx512bf16 level): f32 rows took
 * 1.05-1.13x the time with it, the others were bound by their encode and
 * did not change. */
static float amax_bf16_row(const struct row_job *j, int64_t r, const void *x) {
    const int64_t n = j->x->cols, chunk = row_chunk(j, r);
    float amax = 0.0f;
    for (int64_t c = 0; c < n; c += chunk) {
        const int64_t len = n - c < chunk ? n - c : chunk;
        amax = cpu_max_abs(amax, j->kr->row_amax_bf16((const uint16_t *)x + c, len));
        prefetch_slice(j, r, c, len, 0, 2);
    }
    return amax;
}

static void quant_row(const struct row_job *j, int64_t r, int thread) {
    const void *xr = cpu_row(j->x, r);
    const fp8f_dtype fp8 = j->q->q.dtype;
    if (j->bf16_table) {
        const float scale = row_scale(amax_bf16_row(j, r, xr), j->scale_ub, fp8);
        struct cpu_bf16_codes t;
        if (j->kr->bf16_codes_prepare(scale, fp8, &t)) {
            encode_row(j, r, NULL, xr, &t, scale, 1, 2);
            return;
        }
    }
    float *y = j->ys ? (float *)(j->ys + j->ystride * (size_t)thread) : NULL;
    const float amax = j->kr->row_amax(xr, j->x->dtype, y, j->x->cols);
    encode_row(j, r, y ? y : (const float *)xr, NULL, NULL, row_scale(amax, j->scale_ub, fp8), 0,
               1);
}

fp8f_status fp8f_cpu_rmsnorm(struct fp8f_backend *be, const fp8f_tensor *x, fp8f_tensor *residual,
                             const fp8f_tensor *weight, float eps, fp8f_tensor *out) {
    const struct row_job job = {
        .kr = cpu_kern(be), .x = x, .weight = weight, .residual = residual, .out = out, .eps = eps};
    run_rows(&job, rmsnorm_row, x->rows, row_threads(be, x->rows, x->cols));
    return FP8F_OK;
}

fp8f_status fp8f_cpu_rmsnorm_quant(struct fp8f_backend *be, const fp8f_tensor *x,
                                   fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                                   const float *scale_ub, fp8f_qtensor *out) {
    const int threads = row_threads(be, x->rows, x->cols);
    const struct cpu_kernels *kr = cpu_kern(be);
    /* the row being normalized: the residual after the add, else x */
    const fp8f_dtype ht = residual ? residual->dtype : x->dtype;
    const int even_odd =
        kr->row_norm_bf16_eo && ht == FP8F_BF16 && weight->dtype == FP8F_BF16;
    struct row_job job = {.kr = kr,
                          .encode = even_odd ? kr->row_encode_eo : kr->row_encode,
                          .even_odd = even_odd,
                          .x = x,
                          .weight = weight,
                          .residual = residual,
                          .q = out,
                          .stream = streams_codes(kr, x),
                          .eps = eps,
                          .scale_ub = scale_ub};
    if (!(job.ys = (char *)row_scratch(be, threads, x->cols, &job.ystride)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for norm scratch");
    run_rows(&job, rmsnorm_quant_row, x->rows, threads);
    return FP8F_OK;
}

/* The encode for quantizing x as it is. A 16-bit value has at most 11
 * significant bits, and so has the row's amax, of which the scale is a
 * fixed fraction: many quotients x / scale fall on an fp8 rounding
 * boundary, where row_encode must divide (uniform bf16 rows: 39 % of its
 * 64-value blocks; with a random amax 13 %). On Zen 5, quant of bf16 rows
 * at M = 1024 ran at 0.92-0.97 ms with row_encode and 0.57-0.60 ms
 * dividing everything; normalized rows (f32 products) rarely tie and keep
 * the reciprocal (a 5120-value row in L1: 0.37 vs 0.49 us). */
static encode_fn quant_encoder(const struct cpu_kernels *kr, fp8f_dtype xt) {
    if (kr->row_encode_div && fp8f_dtype_size(xt) == 2 && fp8f_cpu_isa_divides_fast())
        return kr->row_encode_div;
    return kr->row_encode;
}

fp8f_status fp8f_cpu_quant_reserve(struct fp8f_backend *be, const fp8f_tensor *x) {
    size_t stride;
    if (x->dtype != FP8F_F32 &&
        !row_scratch(be, row_threads(be, x->rows, x->cols), x->cols, &stride))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for quant scratch");
    return FP8F_OK;
}

fp8f_status fp8f_cpu_quant_per_token(struct fp8f_backend *be, const fp8f_tensor *x,
                                     const float *scale_ub, fp8f_qtensor *out) {
    const int threads = row_threads(be, x->rows, x->cols);
    const struct cpu_kernels *kr = cpu_kern(be);
    struct row_job job = {.kr = kr,
                          .encode = quant_encoder(kr, x->dtype),
                          .bf16_table = x->dtype == FP8F_BF16 && kr->row_encode_bf16,
                          .x = x,
                          .q = out,
                          .stream = streams_codes(kr, x),
                          .scale_ub = scale_ub};
    /* f32 rows are encoded where they are; others are widened first */
    if (x->dtype != FP8F_F32 &&
        !(job.ys = (char *)row_scratch(be, threads, x->cols, &job.ystride)))
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory for quant scratch");
    run_rows(&job, quant_row, x->rows, threads);
    return FP8F_OK;
}
