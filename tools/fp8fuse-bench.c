/*
 * fp8fuse-bench: times the library's operations on each backend.
 *
 *   fp8fuse-bench [--backend cpu|hip|all] [--op LIST] [--m LIST] [--h H]
 *                 [--dtype bf16|f16|f32] [--fp8 fn|fnuz] [--gemm-m LIST]
 *                 [--n N] [--k K] [--reps R] [--warmup W] [--batch B]
 *                 [--threads LIST] [--rowcfg "vpt,tpr,rows;..."] [--json]
 *
 * Operations (--op, comma-separated, default all):
 *   add_norm_quant  x + residual -> RMSNorm -> per-token fp8 (fused on HIP)
 *   add_norm        x + residual -> RMSNorm -> dense output
 *   quant           per-token fp8 of x
 *   gemm            PTPC GEMM: (q, scale) activation on a backend with
 *                   FP8F_CAP_QUANTIZED_INPUT, else the dense activation
 *   decode_step     fp8f_prepare_linear: add + RMSNorm + quant of x (H = K)
 *                   and the GEMM, in one call (--gemm-m, --n, --k)
 *
 * Timing. Every case is warmed up, then repeated; the median is reported
 * with the 10th and 90th percentiles. On a GPU backend two numbers:
 *   gpu   the kernel alone: device events around one call, the GPU kept
 *         busy (and its L2 flushed) by a large operation enqueued before,
 *         so that host launch overhead is hidden, inputs come from memory;
 *   call  per call in a stream of back-to-back calls: events around a batch
 *         of B calls divided by B, host overhead included when it is the
 *         bottleneck (small M);
 *   graph per call in a device graph of B captured calls, replayed (no host
 *         overhead; how an engine runs a captured decode step);
 * both over rotating buffer sets (enough to exceed the L2 where they fit).
 * On the CPU backend one number, a host clock around each call, for each
 * thread count of --threads (a context per count; the peers run with the
 * same count; default: OpenMP's, i.e. OMP_NUM_THREADS).
 * Bytes are the fewest the operation must move (each input read once, each
 * output written once); GB/s = bytes / median time.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fp8_codec.h"
#include "fp8fuse.h"
#include "internal.h"
#include "bench_peak.h"
#include "bench_peers.h" /* CPU peers (issue 4) */

#define MAX_LIST 64

enum op { OP_ANQ, OP_AN, OP_Q, OP_GEMM, OP_STEP, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"add_norm_quant", "add_norm", "quant", "gemm",
                                               "decode_step"};
/* Operations shaped by (M, N, K): the GEMM and the decode step around it. */
static int gemm_like(enum op op) { return op == OP_GEMM || op == OP_STEP; }

struct opts {
    int backends[2], nbackends;
    int ops[OP_COUNT], nops;
    int64_t m[MAX_LIST], gemm_m[MAX_LIST];
    int nm, ngemm_m;
    int64_t threads[MAX_LIST]; /* CPU thread counts (--threads); none: OpenMP's default */
    int nthreads;
    int64_t h, n, k;
    fp8f_dtype dtype, fp8;
    int reps, warmup, batch, json;
    int bias; /* GEMM weights with a bf16 bias (GLM-4.7's qkv carries one) */
    char rowcfg[512];
};

/* ------------------------------------------------------------ helpers */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fp8fuse-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void check(fp8f_ctx *ctx, fp8f_status s, const char *what) {
    if (s != FP8F_OK)
        die("%s: %s: %s", what, fp8f_status_str(s), fp8f_last_error(ctx));
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and the 10th / 90th percentiles of v[0..n) (sorted in place). */
static void stats(double *v, int n, double *med, double *p10, double *p90) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *p10 = v[(int)(0.1 * (n - 1))];
    *p90 = v[(int)(0.9 * (n - 1) + 0.5)];
}

static int parse_list(const char *s, int64_t *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0)
            die("bad number list \"%s\"", s);
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            die("bad number list near \"%s\"", end);
    }
    return n;
}

static const char *dtype_name(fp8f_dtype t) {
    static const char *const names[] = {"f32", "bf16", "f16", "e4m3fn", "e4m3fnuz"};
    return (unsigned)t < 5 ? names[t] : "?";
}

/* Host memory of `bytes`, or the tool dies. */
static void *host_alloc(size_t bytes) {
    void *host = malloc(bytes ? bytes : 1);
    if (!host)
        die("out of host memory");
    return host;
}

/* Backend memory holding a copy of the host buffer's `bytes`; frees it. */
static void *dev_from_host(fp8f_ctx *ctx, void *host, size_t bytes) {
    void *dev = NULL;
    check(ctx, fp8f_mem_alloc(ctx, bytes ? bytes : 1, &dev), "mem_alloc");
    if (bytes)
        check(ctx, fp8f_mem_upload(ctx, dev, host, bytes), "mem_upload");
    free(host);
    return dev;
}

/* Backend memory filled with random values of a float dtype (or codes). */
static void *dev_random(fp8f_ctx *ctx, fp8f_dtype t, size_t elems, double lo, double hi) {
    size_t es = fp8f_dtype_size(t), bytes = elems * es;
    void *host = host_alloc(bytes);
    for (size_t i = 0; i < elems; i++) {
        if (t == FP8F_E4M3FN || t == FP8F_E4M3FNUZ) {
            uint8_t c;
            do
                c = (uint8_t)(urand() * 256);
            while (isnan(fp8f_decode_fp8(t, c)) || (c & 0x7f) == 0x7f);
            ((uint8_t *)host)[i] = c;
        } else {
            fp8f_store_float(t, host, (int64_t)i, (float)(lo + (hi - lo) * urand()));
        }
    }
    return dev_from_host(ctx, host, bytes);
}

/* A device copy of `elems` values of float dtype t at src with every sign
 * flipped (exact: the sign bit alone). */
static void *dev_negated(fp8f_ctx *ctx, fp8f_dtype t, const void *src, size_t elems) {
    const size_t es = fp8f_dtype_size(t), bytes = elems * es;
    unsigned char *host = host_alloc(bytes);
    check(ctx, fp8f_mem_download(ctx, host, src, bytes), "mem_download");
    for (size_t i = 0; i < elems; i++)
        host[i * es + es - 1] ^= 0x80; /* little endian: the sign is the top byte's top bit */
    return dev_from_host(ctx, host, bytes);
}

/* ------------------------------------------------------------ cases */

/* One buffer set of a case: everything one call reads and writes. */
struct set {
    fp8f_tensor x, r, out, q;
    /* -x, for the ops that add x to the residual in place: calls alternate
     * x and -x, so the residual stays where it started. Adding the same x
     * a thousand times (a set is revisited every nsets calls) drives every
     * bf16 residual onto a power of two, data no model makes, on which
     * 30 % of the CPU encode's blocks take its slow exact path. */
    fp8f_tensor xneg;
    float *scale;
    fp8f_tensor dense; /* decode_step's dense_buf (backends without the fused path) */
};

struct bcase {
    fp8f_ctx *ctx;
    enum op op;
    int64_t m, h, n, k;
    fp8f_dtype dtype, fp8;
    int bias;
    struct set sets[32];
    int nsets;
    fp8f_tensor w;       /* norm weight */
    fp8f_weight *weight; /* gemm */
    double bytes, flops;
    int threads; /* the CPU context's threads; 0 on a GPU */
};

static size_t set_bytes(const struct bcase *c) {
    size_t es = fp8f_dtype_size(c->dtype), mh = (size_t)(c->m * c->h);
    switch (c->op) {
    case OP_ANQ:
        return mh * (2 * es + 1) + (size_t)c->m * 4;
    case OP_AN:
        return mh * 3 * es;
    case OP_Q:
        return mh * (es + 1) + (size_t)c->m * 4;
    case OP_STEP:
        return (size_t)(c->m * c->k) * (1 + 3 * es) + (size_t)(c->m * c->n) * es;
    default:
        return (size_t)(c->m * c->k) * (1 + es) + (size_t)(c->m * c->n) * es;
    }
}

static void case_setup(struct bcase *c) {
    const size_t es = fp8f_dtype_size(c->dtype);
    const int64_t cols = gemm_like(c->op) ? c->k : c->h;
    size_t sb = set_bytes(c);
    /* rotate over >= 192 MB (4x an H100's L2) where sets are small */
    c->nsets = (int)((192u << 20) / (sb ? sb : 1));
    c->nsets = c->nsets < 1 ? 1 : c->nsets > 32 ? 32 : c->nsets;
    if (c->m == 0)
        c->nsets = 1;
    for (int i = 0; i < c->nsets; i++) {
        struct set *s = &c->sets[i];
        const size_t mk = (size_t)(c->m * cols);
        s->x = (fp8f_tensor){dev_random(c->ctx, c->dtype, mk, -2, 2), c->dtype, c->m, cols, cols};
        s->r = (fp8f_tensor){NULL, c->dtype, c->m, cols, cols};
        if (c->op == OP_ANQ || c->op == OP_AN || c->op == OP_STEP) {
            s->r.data = dev_random(c->ctx, c->dtype, mk, -2, 2);
            s->xneg = s->x;
            s->xneg.data = dev_negated(c->ctx, c->dtype, s->x.data, mk);
        }
        if (c->op == OP_STEP) {
            s->dense = (fp8f_tensor){NULL, c->dtype, c->m, cols, cols};
            check(c->ctx, fp8f_mem_alloc(c->ctx, mk * es + 1, &s->dense.data), "alloc");
        }
        if (c->op == OP_AN) {
            s->out = (fp8f_tensor){NULL, c->dtype, c->m, cols, cols};
            check(c->ctx, fp8f_mem_alloc(c->ctx, mk * es + 1, &s->out.data), "alloc");
        }
        if (c->op == OP_ANQ || c->op == OP_Q || gemm_like(c->op)) {
            s->q = (fp8f_tensor){NULL, c->fp8, c->m, cols, cols};
            check(c->ctx, fp8f_mem_alloc(c->ctx, mk + 1, &s->q.data), "alloc");
            check(c->ctx, fp8f_mem_alloc(c->ctx, (size_t)c->m * 4 + 4, (void **)&s->scale),
                  "alloc");
        }
        if (gemm_like(c->op)) {
            s->out = (fp8f_tensor){NULL, c->dtype, c->m, c->n, c->n};
            check(c->ctx, fp8f_mem_alloc(c->ctx, (size_t)(c->m * c->n) * es + 1, &s->out.data),
                  "alloc");
            fp8f_qtensor qt = {s->q, s->scale, FP8F_QF_NONE};
            if (c->m && c->op == OP_GEMM)
                check(c->ctx, fp8f_quant_per_token(c->ctx, &s->x, NULL, &qt), "quant");
        }
    }
    if (c->op == OP_ANQ || c->op == OP_AN || c->op == OP_STEP)
        c->w = (fp8f_tensor){dev_random(c->ctx, c->dtype, (size_t)cols, 0.5, 1.5), c->dtype, 1,
                             cols, cols};
    if (gemm_like(c->op)) {
        void *wq = dev_random(c->ctx, c->fp8, (size_t)(c->n * c->k), 0, 0);
        float *ws = dev_random(c->ctx, FP8F_F32, (size_t)c->n, 1e-3, 2e-3);
        fp8f_tensor wt = {wq, c->fp8, c->n, c->k, c->k};
        fp8f_tensor bias = {NULL, FP8F_BF16, 1, c->n, c->n};
        if (c->bias)
            bias.data = dev_random(c->ctx, FP8F_BF16, (size_t)c->n, -1.0, 1.0);
        check(c->ctx, fp8f_weight_create(c->ctx, &wt, ws, c->bias ? &bias : NULL, &c->weight),
              "weight_create");
        fp8f_mem_free(c->ctx, wq);
        fp8f_mem_free(c->ctx, ws);
        if (bias.data)
            fp8f_mem_free(c->ctx, bias.data);
    }
    check(c->ctx, fp8f_ctx_sync(c->ctx), "sync");
    /* the fewest bytes: inputs once, outputs once (weights once) */
    const double mh = (double)c->m * (double)c->h;
    switch (c->op) {
    case OP_ANQ:
        c->bytes = mh * (3.0 * es + 1.0) + 4.0 * c->m + (double)c->h * es;
        break;
    case OP_AN:
        c->bytes = mh * 4.0 * es + (double)c->h * es;
        break;
    case OP_Q:
        c->bytes = mh * (es + 1.0) + 4.0 * c->m;
        break;
    default: { /* the weight, its scales and out; then the activation's own bytes */
        const double common = (double)c->n * c->k + 4.0 * c->n + (double)c->m * c->n * es;
        c->bytes = c->op == OP_STEP
                       ? common + (double)c->m * c->k * 3.0 * es + (double)c->k * es /* x, r, norm w */
                       : common + (double)c->m * c->k + 4.0 * c->m;                  /* (q, scale) */
        c->flops = 2.0 * c->m * c->n * c->k;
        break;
    }
    }
}

static void case_free(struct bcase *c) {
    for (int i = 0; i < c->nsets; i++) {
        struct set *s = &c->sets[i];
        fp8f_mem_free(c->ctx, s->x.data);
        fp8f_mem_free(c->ctx, s->xneg.data);
        fp8f_mem_free(c->ctx, s->r.data);
        fp8f_mem_free(c->ctx, s->out.data);
        fp8f_mem_free(c->ctx, s->q.data);
        fp8f_mem_free(c->ctx, s->scale);
        fp8f_mem_free(c->ctx, s->dense.data);
    }
    fp8f_mem_free(c->ctx, c->w.data);
    fp8f_weight_destroy(c->weight);
}

static void case_call(struct bcase *c, int i) {
    struct set *s = &c->sets[i % c->nsets];
    /* x on even visits of the set, -x on odd ones */
    const fp8f_tensor *xin = s->xneg.data && (i / c->nsets) % 2 ? &s->xneg : &s->x;
    fp8f_qtensor qt = {s->q, s->scale, FP8F_QF_NONE};
    fp8f_status st = FP8F_OK;
    switch (c->op) {
    case OP_ANQ:
        st = fp8f_rmsnorm_quant(c->ctx, xin, &s->r, &c->w, 1e-6f, NULL, &qt);
        break;
    case OP_AN:
        st = fp8f_rmsnorm(c->ctx, xin, &s->r, &c->w, 1e-6f, &s->out);
        break;
    case OP_Q:
        st = fp8f_quant_per_token(c->ctx, &s->x, NULL, &qt);
        break;
    case OP_STEP:
        st = fp8f_prepare_linear(c->ctx, xin, &s->r, &c->w, 1e-6f, &s->dense, &qt, c->weight,
                                 &s->out);
        break;
    default: {
        fp8f_act a;
        if (fp8f_ctx_caps(c->ctx) & FP8F_CAP_QUANTIZED_INPUT) {
            qt.format = FP8F_QF_FP8_PER_TOKEN;
            a = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = qt};
        } else {
            a = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = s->x};
        }
        st = fp8f_linear_ptpc(c->ctx, &a, c->weight, &s->out);
        break;
    }
    }
    check(c->ctx, st, op_names[c->op]);
}

/* ------------------------------------------------------------ timing */

struct result {
    double med, p10, p90;
    int reps;
};

/* A large operation that keeps the GPU busy while the next call is
 * enqueued and pushes the case's buffers out of the L2. */
struct flusher {
    fp8f_tensor x, q;
    float *scale;
};

static void flusher_init(fp8f_ctx *ctx, struct flusher *f) {
    const int64_t rows = 8192, cols = 8192; /* 256 MB of f32 read, 64 MB written */
    f->x = (fp8f_tensor){dev_random(ctx, FP8F_F32, (size_t)(rows * cols), -1, 1), FP8F_F32,
                         rows, cols, cols};
    f->q = (fp8f_tensor){NULL, fp8f_ctx_fp8_dtype(ctx), rows, cols, cols};
    check(ctx, fp8f_mem_alloc(ctx, (size_t)(rows * cols), &f->q.data), "alloc");
    check(ctx, fp8f_mem_alloc(ctx, (size_t)rows * 4, (void **)&f->scale), "alloc");
}

static void flusher_run(fp8f_ctx *ctx, struct flusher *f) {
    fp8f_qtensor qt = {f->q, f->scale, FP8F_QF_NONE};
    check(ctx, fp8f_quant_per_token(ctx, &f->x, NULL, &qt), "flush");
}

static void flusher_free(fp8f_ctx *ctx, struct flusher *f) {
    fp8f_mem_free(ctx, f->x.data);
    fp8f_mem_free(ctx, f->q.data);
    fp8f_mem_free(ctx, f->scale);
}

static int reps_for(const struct opts *o, double est_s) {
    /* at most ~1.5 s per case and mode, at least 10 repetitions */
    int r = o->reps;
    if (est_s > 0 && est_s * r > 1.5)
        r = (int)(1.5 / est_s);
    return r < 10 ? 10 : r;
}

static struct result time_gpu(struct bcase *c, const struct opts *o, struct flusher *f,
                              int per_call) {
    const struct fp8f_backend_ops *ops = c->ctx->be.ops;
    struct fp8f_backend *be = &c->ctx->be;
    void *e0, *e1;
    check(c->ctx, ops->event_create(be, &e0), "event");
    check(c->ctx, ops->event_create(be, &e1), "event");
    for (int i = 0; i < o->warmup; i++)
        case_call(c, i);
    check(c->ctx, fp8f_ctx_sync(c->ctx), "sync");
    /* a first estimate of one call */
    float ms = 0;
    check(c->ctx, ops->event_record(be, e0), "record");
    for (int i = 0; i < 5; i++)
        case_call(c, i);
    check(c->ctx, ops->event_record(be, e1), "record");
    check(c->ctx, ops->event_elapsed_ms(be, e0, e1, &ms), "elapsed");
    const double est = ms * 1e-3 / 5;
    const int batch = per_call ? o->batch : 1;
    const int reps = reps_for(o, est * batch + (per_call ? 0 : 150e-6));
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        if (!per_call)
            flusher_run(c->ctx, f);
        check(c->ctx, ops->event_record(be, e0), "record");
        for (int b = 0; b < batch; b++)
            case_call(c, r * batch + b);
        check(c->ctx, ops->event_record(be, e1), "record");
        check(c->ctx, ops->event_elapsed_ms(be, e0, e1, &ms), "elapsed");
        t[r] = (double)ms * 1e3 / batch;
    }
    struct result res = {0, 0, 0, reps};
    stats(t, reps, &res.med, &res.p10, &res.p90);
    free(t);
    ops->event_destroy(be, e0);
    ops->event_destroy(be, e1);
    return res;
}

static void graph_call(void *arg, int i) { case_call((struct bcase *)arg, i); }

/* Per call in a device graph of B captured calls, replayed (launch gaps of
 * a graph, no host overhead): what an engine's captured decode step sees. */
static struct result time_graph(struct bcase *c, const struct opts *o) {
    struct fp8f_backend *be = &c->ctx->be;
    double one = 0.0;
    check(c->ctx, be->ops->time_graph(be, graph_call, c, o->batch, 1, &one), "time_graph");
    const int reps = reps_for(o, one * 1e-6 * o->batch);
    double *t = malloc(sizeof(double) * (size_t)reps);
    check(c->ctx, be->ops->time_graph(be, graph_call, c, o->batch, reps, t), "time_graph");
    struct result res = {0, 0, 0, reps};
    stats(t, reps, &res.med, &res.p10, &res.p90);
    free(t);
    return res;
}

static struct result time_host(struct bcase *c, const struct opts *o) {
    for (int i = 0; i < (o->warmup < 3 ? o->warmup : 3); i++)
        case_call(c, i);
    double t0 = now_s();
    case_call(c, 0);
    check(c->ctx, fp8f_ctx_sync(c->ctx), "sync");
    const int reps = reps_for(o, now_s() - t0);
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        case_call(c, r);
        check(c->ctx, fp8f_ctx_sync(c->ctx), "sync");
        t[r] = (now_s() - t0) * 1e6;
    }
    struct result res = {0, 0, 0, reps};
    stats(t, reps, &res.med, &res.p10, &res.p90);
    free(t);
    return res;
}

/* ------------------------------------------------------------ output */

/* The value of a /proc/cpuinfo line "key<blanks>: value", or NULL (so
 * "model" does not match "model name"). */
static const char *cpuinfo_value(char *line, const char *key) {
    const size_t n = strlen(key);
    if (strncmp(line, key, n) != 0)
        return NULL;
    char *p = line + n;
    p += strspn(p, " \t");
    if (*p != ':')
        return NULL;
    p += 1 + strspn(p + 1, " \t");
    p[strcspn(p, "\n")] = 0;
    return p;
}

/* The first line of CPU 0's cache file index<i>/<name> (sysfs) into buf;
 * 0 where there is none. */
static int cache_attr(int i, const char *name, char *buf, size_t len) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", i, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* The size (e.g. "32K") of CPU 0's cache of `level` and `type` ("Data",
 * "Unified"), or "?". */
static void cache_size(int level, const char *type, char *buf, size_t len) {
    char lv[16], ty[32];
    for (int i = 0; i < 8; i++)
        if (cache_attr(i, "level", lv, sizeof lv) && atoi(lv) == level &&
            cache_attr(i, "type", ty, sizeof ty) && strcmp(ty, type) == 0 &&
            cache_attr(i, "size", buf, len))
            return;
    snprintf(buf, len, "?");
}

/* CPU model, and where Linux says them the x86 family and model (a VM's
 * model name can hide the generation: "AMD EPYC" is Zen 4 at family 0x19
 * and Zen 5 at 0x1a, whose AVX-512 issues twice as wide) and CPU 0's L1d
 * and L2 sizes. */
static void machine_line(char *buf, size_t len) {
    char model[256] = "unknown CPU", family[64] = "";
    long fam = -1, mod = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        const char *v;
        while (fgets(line, sizeof line, f) && strcmp(line, "\n") != 0) { /* CPU 0 only */
            if ((v = cpuinfo_value(line, "model name")))
                snprintf(model, sizeof model, "%s", v);
            else if ((v = cpuinfo_value(line, "cpu family")))
                fam = strtol(v, NULL, 10);
            else if ((v = cpuinfo_value(line, "model")))
                mod = strtol(v, NULL, 10);
        }
        fclose(f);
    }
    if (fam >= 0 && mod >= 0)
        snprintf(family, sizeof family, " (family 0x%lx, model 0x%lx)", fam, mod);
    char l1d[32], l2[32];
    cache_size(1, "Data", l1d, sizeof l1d);
    cache_size(2, "Unified", l2, sizeof l2);
    snprintf(buf, len, "%s%s, %ld cores, L1d %s, L2 %s (CPU 0's)", model, family,
             sysconf(_SC_NPROCESSORS_ONLN), l1d, l2);
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s >= 0x20)
            putchar(*s);
    }
    putchar('"');
}

static int first_record = 1;

static void report(const struct opts *o, const struct bcase *c, const char *backend,
                   const char *mode, const char *cfg, struct result r) {
    const double gbs = c->bytes / (r.med * 1e-6) / 1e9;
    if (o->json) {
        printf("%s\n  {\"op\": \"%s\", \"backend\": \"%s\", \"mode\": \"%s\", \"m\": %lld, "
               "\"h\": %lld, \"n\": %lld, \"k\": %lld, \"dtype\": \"%s\", \"fp8\": \"%s\", "
               "\"median_us\": %.3f, \"p10_us\": %.3f, \"p90_us\": %.3f, \"reps\": %d, "
               "\"bytes\": %.0f, \"flops\": %.0f, \"gb_per_s\": %.2f, ",
               first_record ? "" : ",", op_names[c->op], backend, mode, (long long)c->m,
               (long long)(gemm_like(c->op) ? 0 : c->h), (long long)(gemm_like(c->op) ? c->n : 0),
               (long long)(gemm_like(c->op) ? c->k : 0), dtype_name(c->dtype),
               dtype_name(c->fp8), r.med, r.p10, r.p90, r.reps, c->bytes, c->flops, gbs);
        if (c->threads) /* a CPU case */
            printf("\"threads\": %d, ", c->threads);
        printf("\"cfg\": ");
        json_str(cfg);
        printf("}");
        first_record = 0;
    } else {
        char shape[64];
        if (gemm_like(c->op))
            snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)c->m, (long long)c->n,
                     (long long)c->k);
        else
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)c->m, (long long)c->h);
        printf("%-15s %-4s %-5s %-18s %10.2f %10.2f %10.2f %9.1f", op_names[c->op], backend,
               mode, shape, r.med, r.p10, r.p90, gbs);
        if (gemm_like(c->op))
            printf(" %8.2f TF/s", c->flops / (r.med * 1e-6) / 1e12);
        if (*cfg)
            printf("  cfg %s", cfg);
        if (c->threads && o->nthreads)
            printf("  threads %d", c->threads);
        printf("\n");
    }
    fflush(stdout);
}

/* ------------------------------------------------------------ CPU peers (issue 4) */
/* --peers: after each CPU case, the peers of tools/bench_peers.c in the same
 * run and thread count, each with the ratio of fp8fuse to it. */
static int bench_peers_on;

/* The SIMD peak of the context's GEMM instruction (bench_peak.h) under
 * --peers, measured at the start of a backend pass for its header line
 * (and again for each GEMM case, peak_report); have = 0 where it is not
 * measured. */
static struct simd_peak gemm_peak;
static int gemm_peak_have;
static char gemm_isa[32];

/* The CPU ISA level the context chose: the word after "isa " in its
 * description (cpu_backend.c's describe). */
static void isa_of(const char *dev, char *isa, size_t len) {
    const char *p = strstr(dev, "isa ");
    size_t n = 0;
    if (p)
        for (p += 4; p[n] && p[n] != ' ' && p[n] != ';' && n + 1 < len; n++)
            isa[n] = p[n];
    isa[n] = 0;
}

/* The CPU part of the machine line: the ISA and kernels the context chose,
 * the threads, the peers compiled in. */
static const char *cpu_line(int gpu, const char *dev) {
    static char buf[700];
    if (gpu)
        return "";
    snprintf(buf, sizeof buf, "; %s; %d threads; peers: %s", dev, bench_peers_threads(),
             bench_peers_on ? bench_peers_compiled() : "off (--peers)");
    if (gemm_peak_have) {
        const size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "; simd peak: %s %.3f TF/s", gemm_peak.instr,
                 gemm_peak.flops_per_s / 1e12);
    }
    return buf;
}

static const char *cpu_json_device(const char *machine, const char *dev) {
    static char buf[800];
    snprintf(buf, sizeof buf, "%s%s", machine, cpu_line(0, dev));
    return buf;
}

static void bench_progress(const struct bcase *c) {
    if (!isatty(2) || c->op == OP_COUNT)
        return;
    fprintf(stderr, "\r[fp8fuse-bench] %s m=%lld ...          \r", op_names[c->op],
            (long long)c->m);
    fflush(stderr);
}

static void own_call(void *arg, int i) {
    struct bcase *c = arg;
    case_call(c, i);
    check(c->ctx, fp8f_ctx_sync(c->ctx), "sync");
}

/* A peer once more, its calls alternated with the operation's: on a
 * machine whose speed drifts within seconds (a shared VM), a peer timed
 * after the operation can land in another state; a pair's two calls see
 * the same one. The ratio is the median of the pairs' ratios. Row ops
 * pair the copy, the GEMM oneDNN's matmul. */
static void paired_report(const struct opts *o, const struct bcase *c, double own_us) {
    struct paired_result pr;
    /* a pair takes about twice the operation's time */
    const int reps = reps_for(o, 2.0 * own_us * 1e-6);
    const int gemm = c->op == OP_GEMM;
    if (gemm ? !bench_peers_gemm_paired(own_call, (void *)c, c->m, c->n, c->k, reps, &pr)
             : !bench_peers_copy_paired(own_call, (void *)c, c->bytes, reps, &pr))
        return;
    const double gbs = pr.peer_bytes / (pr.peer_med_us * 1e-6) / 1e9;
    const char *what = gemm ? "speed-up (peer time / fp8fuse time), calls alternated (median "
                              "of pairs)"
                            : "of copy bandwidth, calls alternated (median of pairs)";
    char label[128];
    snprintf(label, sizeof label, "%s, paired", pr.name);
    if (o->json) {
        printf(",\n  {\"op\": \"%s\", \"backend\": \"peer\", \"peer\": \"%s-paired\", "
               "\"m\": %lld, \"h\": %lld, \"n\": %lld, \"k\": %lld, \"median_us\": %.3f, "
               "\"own_median_us\": %.3f, \"reps\": %d, \"bytes\": %.0f, \"gb_per_s\": %.2f, "
               "\"ratio\": %.3f, \"ratio_p10\": %.3f, \"ratio_p90\": %.3f, \"ratio_is\": ",
               op_names[c->op], gemm ? "onednn" : "memcpy", (long long)c->m,
               (long long)(gemm ? 0 : c->h), (long long)(gemm ? c->n : 0),
               (long long)(gemm ? c->k : 0), pr.peer_med_us, pr.own_med_us, pr.reps,
               pr.peer_bytes, gbs, pr.ratio_med, pr.ratio_p10, pr.ratio_p90);
        json_str(what);
        printf("}");
    } else {
        printf("  peer %-26s %10.2f %10s %10s %9.1f   fp8fuse %.2fx (p10-p90 %.2f-%.2fx) %s; "
               "fp8fuse in the pairs %.2f us\n",
               label, pr.peer_med_us, "", "", gbs, pr.ratio_med, pr.ratio_p10, pr.ratio_p90,
               what, pr.own_med_us);
    }
}

/* The GEMM's TF/s against the SIMD peak of its instruction, both on the
 * same threads in the same run. */
static void peak_report(const struct opts *o, const struct bcase *c, double own_us,
                        const struct simd_peak *pk) {
    const double own = c->flops / (own_us * 1e-6), ratio = own / pk->flops_per_s;
    const char *what = "of the SIMD peak (the GEMM's flops per second over the instruction's, "
                       "register operands, same threads)";
    if (o->json) {
        printf(",\n  {\"op\": \"%s\", \"backend\": \"peer\", \"peer\": \"simd-peak\", "
               "\"instr\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, "
               "\"peak_flops_per_s\": %.4g, \"ratio\": %.3f, \"ratio_is\": ",
               op_names[c->op], pk->instr, (long long)c->m, (long long)c->n,
               (long long)c->k, pk->flops_per_s, ratio);
        json_str(what);
        printf("}");
    } else {
        char label[64];
        snprintf(label, sizeof label, "simd peak (%s)", pk->instr);
        printf("  peer %-26s %10s %10s %10s %9s %8.2f TF/s   fp8fuse %.2fx %s\n", label, "", "",
               "", "", pk->flops_per_s / 1e12, ratio, what);
    }
}

static void peers_report(const struct opts *o, const struct bcase *c, struct result own) {
    struct peer_result pr[PEER_MAX];
    int np = c->op == OP_GEMM
                 ? bench_peers_gemm(c->m, c->n, c->k, c->bytes, o->reps, pr)
                 : bench_peers_rows(c->ctx, c->op == OP_ANQ ? 0 : c->op == OP_AN ? 1 : 2, c->m,
                                    c->h, c->dtype, c->bytes, o->reps, pr);
    for (int i = 0; i < np; i++) {
        const struct peer_result *p = &pr[i];
        const double gbs = p->bytes / (p->med_us * 1e-6) / 1e9;
        double ratio;
        const char *what;
        if (strcmp(p->name, "memcpy") == 0) {
            /* fp8fuse's bandwidth (for the GEMM: fp8 weight bytes) over the copy's */
            const double own_bytes = c->op == OP_GEMM ? (double)c->n * c->k : c->bytes;
            ratio = (own_bytes / own.med) / (p->bytes / p->med_us);
            what = c->op == OP_GEMM ? "of copy bandwidth (fp8 weight bytes)" : "of copy bandwidth";
        } else {
            ratio = p->med_us / own.med;
            what = "speed-up (peer time / fp8fuse time)";
        }
        if (o->json) {
            printf(",\n  {\"op\": \"%s\", \"backend\": \"peer\", \"peer\": ", op_names[c->op]);
            json_str(p->name);
            printf(", \"m\": %lld, \"h\": %lld, \"n\": %lld, \"k\": %lld, \"median_us\": %.3f, "
                   "\"p10_us\": %.3f, \"p90_us\": %.3f, \"reps\": %d, \"bytes\": %.0f, "
                   "\"flops\": %.0f, \"gb_per_s\": %.2f, \"ratio\": %.3f, \"ratio_is\": ",
                   (long long)c->m, (long long)(c->op == OP_GEMM ? 0 : c->h),
                   (long long)(c->op == OP_GEMM ? c->n : 0), (long long)(c->op == OP_GEMM ? c->k : 0),
                   p->med_us, p->p10_us, p->p90_us, p->reps, p->bytes, p->flops, gbs, ratio);
            json_str(what);
            printf("}");
        } else {
            printf("  peer %-26s %10.2f %10.2f %10.2f %9.1f", p->name, p->med_us, p->p10_us,
                   p->p90_us, gbs);
            if (p->flops > 0)
                printf(" %8.2f TF/s", p->flops / (p->med_us * 1e-6) / 1e12);
            printf("   fp8fuse %.2fx %s\n", ratio, what);
        }
    }
    if (c->op == OP_GEMM && gemm_peak_have) {
        /* measured again after the case and its peers, near the state the
         * GEMM ran in; the amx level runs M = 1 on vdpbf16ps */
        const char *isa = strcmp(gemm_isa, "amx") == 0 && c->m == 1 ? "avx512bf16" : gemm_isa;
        struct simd_peak pk;
        if (bench_simd_peak(isa, c->threads, &pk))
            peak_report(o, c, own.med, &pk);
    }
    paired_report(o, c, own.med);
    fflush(stdout);
}
/* ------------------------------------------------------------ end CPU peers (issue 4) */

/* ------------------------------------------------------------ main */

static void usage(void) {
    printf("usage: fp8fuse-bench [--backend cpu|hip|all] [--op add_norm_quant,add_norm,quant,"
           "gemm,decode_step|all]\n"
           "                     [--m LIST] [--h H] [--dtype bf16|f16|f32] [--fp8 fn|fnuz]\n"
           "                     [--gemm-m LIST] [--n N] [--k K] [--reps R] [--warmup W]\n"
           "                     [--batch B] [--rowcfg \"vpt,tpr,rows;...\"] [--json]\n"
           "                     [--threads LIST]  (CPU: a pass per thread count, peers "
           "alike; default OpenMP's)\n"
           "                     [--bias]  (GEMM weights with a bf16 bias)\n"
           "                     [--peers]  (CPU: memcpy, unfused, oneDNN bf16, OpenBLAS sgemm "
           "beside each case;\n"
           "                                 again in alternation with the op: memcpy for row ops,\n"
           "                                 oneDNN for the GEMM)\n");
}

static int runs_gemm(const struct opts *o) {
    for (int i = 0; i < o->nops; i++)
        if (o->ops[i] == OP_GEMM)
            return 1;
    return 0;
}

/* Every case on one backend; threads: the CPU context's thread count and
 * its peers' (0: OpenMP's default). */
static void run_backend(const struct opts *o, fp8f_backend_id id, const char *cfg,
                        const char *machine, int threads) {
    fp8f_ctx *ctx = NULL;
    fp8f_options opt = {0};
    opt.backend = id;
    opt.fp8_dtype = o->fp8;
    opt.num_threads = threads;
    bench_peers_set_threads(threads);
    if (*cfg)
        setenv("FP8F_HIP_ROWCFG", cfg, 1);
    fp8f_status s = fp8f_ctx_create(&opt, &ctx);
    if (*cfg)
        unsetenv("FP8F_HIP_ROWCFG");
    if (s != FP8F_OK) {
        fprintf(stderr, "fp8fuse-bench: %s backend skipped: %s\n",
                id == FP8F_BACKEND_HIP ? "hip" : "cpu", fp8f_last_error(NULL));
        return;
    }
    const char *bname = fp8f_ctx_backend_name(ctx);
    const int gpu = ctx->be.ops->event_create != NULL;
    /* the count the context and the peers run with (set above) */
    const int cpu_threads = gpu ? 0 : bench_peers_threads();
    char dev[256] = "";
    if (ctx->be.ops->describe)
        ctx->be.ops->describe(&ctx->be, dev, sizeof dev);
    gemm_peak_have = 0;
    if (!gpu && bench_peers_on && runs_gemm(o)) { /* issue 4 */
        isa_of(dev, gemm_isa, sizeof gemm_isa);
        gemm_peak_have = bench_simd_peak(gemm_isa, cpu_threads, &gemm_peak);
    }
    if (!o->json) {
        printf("# backend %s: %s%s%s\n", bname, gpu ? dev : machine,
               gpu ? "" : (o->fp8 == FP8F_E4M3FNUZ ? ", e4m3fnuz" : ""), cpu_line(gpu, dev));
        printf("%-15s %-4s %-5s %-18s %10s %10s %10s %9s\n", "op", "be", "mode", "shape",
               "median_us", "p10_us", "p90_us", "GB/s");
    } else {
        printf("%s\n  {\"backend_info\": \"%s\", \"device\": ", first_record ? "" : ",", bname);
        json_str(gpu ? dev : cpu_json_device(machine, dev));
        printf(", \"machine\": ");
        json_str(machine);
        printf("}");
        first_record = 0;
    }
    struct flusher f = {0};
    if (gpu)
        flusher_init(ctx, &f);
    for (int oi = 0; oi < o->nops; oi++) {
        const enum op op = (enum op)o->ops[oi];
        const int nm = gemm_like(op) ? o->ngemm_m : o->nm;
        for (int mi = 0; mi < nm; mi++) {
            struct bcase c;
            memset(&c, 0, sizeof c);
            c.ctx = ctx;
            c.op = op;
            c.m = gemm_like(op) ? o->gemm_m[mi] : o->m[mi];
            c.h = o->h;
            c.n = o->n;
            c.k = o->k;
            c.dtype = o->dtype;
            c.fp8 = fp8f_ctx_fp8_dtype(ctx);
            c.bias = o->bias;
            c.threads = cpu_threads;
            /* the CPU backend at large sizes: only what finishes in reasonable time */
            if (!gpu && (double)c.m * (gemm_like(op) ? (double)c.n * c.k / 64 : c.h) > 4e8)
                continue;
            bench_progress(&c); /* issue 4 */
            case_setup(&c);
            if (gpu) {
                report(o, &c, bname, "gpu", cfg, time_gpu(&c, o, &f, 0));
                report(o, &c, bname, "call", cfg, time_gpu(&c, o, &f, 1));
                if (ctx->be.ops->time_graph)
                    report(o, &c, bname, "graph", cfg, time_graph(&c, o));
            } else {
                struct result hr = time_host(&c, o);
                report(o, &c, bname, "host", cfg, hr);
                if (bench_peers_on && op != OP_STEP) /* issue 4 */
                    peers_report(o, &c, hr);
            }
            case_free(&c);
        }
    }
    if (gpu)
        flusher_free(ctx, &f);
    fp8f_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    struct opts o;
    memset(&o, 0, sizeof o);
    o.h = 5120;
    o.n = 6144;
    o.k = 5120;
    o.dtype = FP8F_BF16;
    o.fp8 = FP8F_F32; /* native */
    o.reps = 200;
    o.warmup = 20;
    o.batch = 20;
    const char *backend = "all", *ops = "all", *ms = "1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384",
               *gms = "1,16,128,1024,4096", *threads = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (strcmp(a, "--json") == 0)
            o.json = 1;
        else if (strcmp(a, "--bias") == 0)
            o.bias = 1;
        else if (strcmp(a, "--peers") == 0) /* issue 4 */
            bench_peers_on = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (ARG("--backend"))
            backend = v;
        else if (ARG("--op"))
            ops = v;
        else if (ARG("--m"))
            ms = v;
        else if (ARG("--gemm-m"))
            gms = v;
        else if (ARG("--h"))
            o.h = atoll(v);
        else if (ARG("--n"))
            o.n = atoll(v);
        else if (ARG("--k"))
            o.k = atoll(v);
        else if (ARG("--reps"))
            o.reps = atoi(v);
        else if (ARG("--warmup"))
            o.warmup = atoi(v);
        else if (ARG("--batch"))
            o.batch = atoi(v);
        else if (ARG("--threads"))
            threads = v;
        else if (ARG("--rowcfg"))
            snprintf(o.rowcfg, sizeof o.rowcfg, "%s", v);
        else if (ARG("--dtype"))
            o.dtype = strcmp(v, "bf16") == 0  ? FP8F_BF16
                      : strcmp(v, "f16") == 0 ? FP8F_F16
                      : strcmp(v, "f32") == 0 ? FP8F_F32
                                              : (die("--dtype %s?", v), FP8F_F32);
        else if (ARG("--fp8"))
            o.fp8 = strcmp(v, "fn") == 0     ? FP8F_E4M3FN
                    : strcmp(v, "fnuz") == 0 ? FP8F_E4M3FNUZ
                                             : (die("--fp8 %s?", v), FP8F_F32);
        else {
            usage();
            die("unknown argument \"%s\"", a);
        }
#undef ARG
    }
    if (o.h < 1 || o.n < 1 || o.k < 1 || o.reps < 1 || o.batch < 1 || o.warmup < 0)
        die("sizes and counts must be positive");
    o.nm = parse_list(ms, o.m, MAX_LIST);
    o.ngemm_m = parse_list(gms, o.gemm_m, MAX_LIST);
    if (threads) {
        o.nthreads = parse_list(threads, o.threads, MAX_LIST);
        for (int t = 0; t < o.nthreads; t++)
            if (o.threads[t] < 1 || o.threads[t] > 1024)
                die("--threads: counts from 1 to 1024");
    }
    if (strcmp(ops, "all") == 0) {
        for (int i = 0; i < OP_COUNT; i++)
            o.ops[o.nops++] = i;
    } else {
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", ops);
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int i = 0;
            while (i < OP_COUNT && strcmp(t, op_names[i]) != 0)
                i++;
            if (i == OP_COUNT)
                die("unknown operation \"%s\"", t);
            if (o.nops < OP_COUNT)
                o.ops[o.nops++] = i;
        }
    }
    if (!o.nops)
        die("no operation in \"%s\"", ops);
    if (strcmp(backend, "cpu") == 0 || strcmp(backend, "all") == 0)
        o.backends[o.nbackends++] = FP8F_BACKEND_CPU;
    if (strcmp(backend, "hip") == 0 || strcmp(backend, "all") == 0)
        o.backends[o.nbackends++] = FP8F_BACKEND_HIP;
    if (!o.nbackends)
        die("--backend %s?", backend);

    char machine[400];
    machine_line(machine, sizeof machine);
    if (o.json)
        printf("[");
    else
        printf("fp8fuse-bench %s: %s; %s in, %lld reps max, warm-up %d, batch %d\n",
               fp8f_version(), machine, dtype_name(o.dtype), (long long)o.reps, o.warmup,
               o.batch);
    for (int b = 0; b < o.nbackends; b++) {
        if (o.backends[b] == FP8F_BACKEND_HIP && *o.rowcfg) {
            char list[512], *save = NULL;
            snprintf(list, sizeof list, "%s", o.rowcfg);
            for (char *cfg = strtok_r(list, ";", &save); cfg; cfg = strtok_r(NULL, ";", &save))
                run_backend(&o, FP8F_BACKEND_HIP, cfg, machine, 0);
        } else if (o.backends[b] == FP8F_BACKEND_CPU && o.nthreads) {
            for (int t = 0; t < o.nthreads; t++)
                run_backend(&o, FP8F_BACKEND_CPU, "", machine, (int)o.threads[t]);
        } else {
            run_backend(&o, (fp8f_backend_id)o.backends[b], "", machine, 0);
        }
    }
    if (o.json)
        printf("\n]\n");
    return 0;
}
