/* CPU peers for fp8fuse-bench (issue 4); see bench_peers.h. */
#include "bench_peers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FP8F_PEER_DNNL
#include <dnnl.h>
#endif
#ifdef FP8F_PEER_OPENBLAS
#include <cblas.h>
#endif

#include "fp8_codec.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The 10th and 90th percentiles of sorted v[0..n). */
static void tails(const double *v, int n, double *p10, double *p90) {
    *p10 = v[(int)(0.1 * (n - 1))];
    *p90 = v[(int)(0.9 * (n - 1) + 0.5)];
}

int bench_peers_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void bench_peers_set_threads(int threads) {
#ifdef _OPENMP
    static int default_threads; /* OpenMP's before the first change */
    if (!default_threads)
        default_threads = omp_get_max_threads();
    omp_set_num_threads(threads > 0 ? threads : default_threads);
#else
    (void)threads;
#endif
}

const char *bench_peers_compiled(void) {
    return "memcpy unfused"
#ifdef FP8F_PEER_DNNL
           " onednn-bf16"
#endif
#ifdef FP8F_PEER_OPENBLAS
           " sgemm"
#endif
        ;
}

typedef void (*peer_fn)(void *arg, int iter);

/* Warm-up, then `reps` timed calls (fewer when one call is long): median,
 * 10th and 90th percentiles in microseconds. */
static void time_peer(peer_fn fn, void *arg, int reps, struct peer_result *r) {
    for (int i = 0; i < 3; i++)
        fn(arg, i);
    double t0 = now_s();
    fn(arg, 0);
    double est = now_s() - t0;
    if (est * reps > 1.5)
        reps = (int)(1.5 / est);
    if (reps < 10)
        reps = 10;
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!t)
        return;
    for (int i = 0; i < reps; i++) {
        t0 = now_s();
        fn(arg, i);
        t[i] = (now_s() - t0) * 1e6;
    }
    r->med_us = median(t, reps); /* sorts t */
    tails(t, reps, &r->p10_us, &r->p90_us);
    r->reps = reps;
    free(t);
}

/* ---- memcpy: the bandwidth ceiling ---- */

struct copy_arg {
    char *src[32], *dst[32];
    int nsets;
    size_t bytes; /* per copy */
    int threads;
};

static void copy_call(void *p, int iter) {
    struct copy_arg *c = p;
    char *src = c->src[iter % c->nsets], *dst = c->dst[iter % c->nsets];
    const size_t bytes = c->bytes;
    const int threads __attribute__((unused)) = bytes < 65536 ? 1 : c->threads; /* OpenMP only */
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
#else
        const size_t t = 0, nt = 1;
#endif
        size_t lo = (bytes * t / nt) & ~(size_t)63, hi = t + 1 == nt ? bytes : (bytes * (t + 1) / nt) & ~(size_t)63;
        memcpy(dst + lo, src + lo, hi - lo);
    }
}

static void copy_free(struct copy_arg *c) {
    for (int i = 0; i < c->nsets; i++) {
        free(c->src[i]);
        free(c->dst[i]);
    }
}

/* A copy that reads `bytes`/2 and writes `bytes`/2, over rotating buffers
 * (>= 192 MB in all where they are small, as the bench does); 0 when out
 * of memory (then nothing is held). */
static int copy_setup(double bytes, struct copy_arg *c) {
    memset(c, 0, sizeof *c);
    c->bytes = (size_t)(bytes / 2);
    if (c->bytes < 64)
        c->bytes = 64;
    c->threads = bench_peers_threads();
    c->nsets = (int)((192u << 20) / (2 * c->bytes));
    c->nsets = c->nsets < 1 ? 1 : c->nsets > 32 ? 32 : c->nsets;
    for (int i = 0; i < c->nsets; i++) {
        c->src[i] = aligned_alloc(64, (c->bytes + 63) & ~(size_t)63);
        c->dst[i] = aligned_alloc(64, (c->bytes + 63) & ~(size_t)63);
        if (!c->src[i] || !c->dst[i]) {
            c->nsets = i + 1;
            copy_free(c);
            return 0;
        }
        memset(c->src[i], i + 1, c->bytes);
        memset(c->dst[i], 0, c->bytes);
    }
    return 1;
}

static int peer_memcpy(double bytes, int reps, struct peer_result *r) {
    struct copy_arg c;
    if (!copy_setup(bytes, &c))
        return 0;
    r->name = "memcpy";
    r->bytes = 2.0 * (double)c.bytes;
    r->flops = 0;
    time_peer(copy_call, &c, reps, r);
    copy_free(&c);
    return 1;
}

/* own and peer in alternation: 3 pairs of warm-up, then `reps` timed
 * pairs; ratio per pair = factor * peer time / own time. Returns 0 when
 * out of memory. */
static int time_paired(peer_fn own, void *own_arg, peer_fn peer, void *peer_arg, int reps,
                       double factor, struct paired_result *r) {
    for (int i = 0; i < 3; i++) {
        own(own_arg, i);
        peer(peer_arg, i);
    }
    double *t = malloc(sizeof(double) * 3 * (size_t)reps);
    if (!t)
        return 0;
    double *own_us = t, *peer_us = t + reps, *ratio = t + 2 * reps;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        own(own_arg, i);
        double t1 = now_s();
        peer(peer_arg, i);
        double t2 = now_s();
        own_us[i] = (t1 - t0) * 1e6;
        peer_us[i] = (t2 - t1) * 1e6;
        ratio[i] = factor * peer_us[i] / own_us[i];
    }
    r->reps = reps;
    r->own_med_us = median(own_us, reps);
    r->peer_med_us = median(peer_us, reps);
    r->ratio_med = median(ratio, reps); /* sorts ratio */
    tails(ratio, reps, &r->ratio_p10, &r->ratio_p90);
    free(t);
    return 1;
}

int bench_peers_copy_paired(void (*own)(void *arg, int iter), void *own_arg, double bytes,
                            int reps, struct paired_result *r) {
    struct copy_arg c;
    if (!copy_setup(bytes, &c))
        return 0;
    r->name = "memcpy";
    r->peer_bytes = 2.0 * (double)c.bytes;
    /* (bytes / own time) / (copy bytes / copy time) */
    const int ok = time_paired(own, own_arg, copy_call, &c, reps, bytes / r->peer_bytes, r);
    copy_free(&c);
    return ok;
}

/* ---- the library's unfused path ---- */

struct unfused_arg {
    fp8f_ctx *ctx;
    fp8f_tensor x[8], r[8], y, w;
    fp8f_qtensor q;
    int nsets;
};

static void unfused_call(void *p, int iter) {
    struct unfused_arg *u = p;
    int i = iter % u->nsets;
    fp8f_rmsnorm(u->ctx, &u->x[i], &u->r[i], &u->w, 1e-6f, &u->y);
    fp8f_quant_per_token(u->ctx, &u->y, NULL, &u->q);
}

static int peer_unfused(fp8f_ctx *ctx, int64_t m, int64_t h, fp8f_dtype dtype, int reps,
                        struct peer_result *r) {
    struct unfused_arg u;
    memset(&u, 0, sizeof u);
    u.ctx = ctx;
    const size_t es = fp8f_dtype_size(dtype), mh = (size_t)(m * h);
    u.nsets = (int)((192u << 20) / (mh * es * 2 + 1));
    u.nsets = u.nsets < 1 ? 1 : u.nsets > 8 ? 8 : u.nsets;
    int ok = 1;
    for (int i = 0; i < u.nsets; i++) {
        u.x[i] = (fp8f_tensor){malloc(mh * es + 1), dtype, m, h, h};
        u.r[i] = (fp8f_tensor){malloc(mh * es + 1), dtype, m, h, h};
        ok &= u.x[i].data && u.r[i].data;
        for (size_t j = 0; ok && j < mh; j++) {
            fp8f_store_float(dtype, u.x[i].data, (int64_t)j, (float)((j * 7919 % 1000) / 500.0 - 1));
            fp8f_store_float(dtype, u.r[i].data, (int64_t)j, (float)((j * 104729 % 1000) / 500.0 - 1));
        }
    }
    u.y = (fp8f_tensor){malloc(mh * es + 1), dtype, m, h, h};
    u.w = (fp8f_tensor){malloc((size_t)h * es), dtype, 1, h, h};
    u.q = (fp8f_qtensor){{malloc(mh + 1), fp8f_ctx_fp8_dtype(ctx), m, h, h},
                         malloc((size_t)m * 4 + 4), FP8F_QF_NONE};
    ok &= u.y.data && u.w.data && u.q.q.data && u.q.scale;
    if (ok) {
        for (int64_t j = 0; j < h; j++)
            fp8f_store_float(dtype, u.w.data, j, 1.0f);
        r->name = "unfused";
        /* x, r read, r written, y written and read again, q written */
        r->bytes = (double)mh * (5.0 * es + 1.0) + 4.0 * m;
        r->flops = 0;
        time_peer(unfused_call, &u, reps, r);
    }
    for (int i = 0; i < u.nsets; i++) {
        free(u.x[i].data);
        free(u.r[i].data);
    }
    free(u.y.data);
    free(u.w.data);
    free(u.q.q.data);
    free(u.q.scale);
    return ok;
}

int bench_peers_rows(fp8f_ctx *ctx, int op, int64_t m, int64_t h, fp8f_dtype dtype,
                     double bytes, int reps, struct peer_result *out) {
    int n = 0;
    if (m == 0)
        return 0;
    n += peer_memcpy(bytes, reps, &out[n]);
    if (op == 0)
        n += peer_unfused(ctx, m, h, dtype, reps, &out[n]);
    return n;
}

/* ---- oneDNN bf16 matmul with prepacked weights ---- */

#ifdef FP8F_PEER_DNNL
/* A matmul primitive with its operands, weights prepacked. */
struct dnnl_peer {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd, rpd;
    dnnl_primitive_t prim, reorder;
    dnnl_memory_t sm, wu, wp, dm;
    dnnl_exec_arg_t args[3];
    const char *name; /* "onednn-bf16(<oneDNN's implementation>)", until the next setup */
    double bytes, flops;
};

static void dnnl_call(void *p, int iter) {
    (void)iter;
    struct dnnl_peer *d = p;
    dnnl_primitive_execute(d->prim, d->stream, 3, d->args);
    dnnl_stream_wait(d->stream);
}

/* Releases what dnnl_setup made (NULL handles skipped). */
static void dnnl_teardown(struct dnnl_peer *d) {
    if (d->prim)
        dnnl_primitive_destroy(d->prim);
    if (d->reorder)
        dnnl_primitive_destroy(d->reorder);
    if (d->rpd)
        dnnl_primitive_desc_destroy(d->rpd);
    if (d->pd)
        dnnl_primitive_desc_destroy(d->pd);
    dnnl_memory_t mems[4] = {d->sm, d->wu, d->wp, d->dm};
    for (int i = 0; i < 4; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->eng)
        dnnl_engine_destroy(d->eng);
    memset(d, 0, sizeof *d);
}

#define DN(call)                                                                               \
    do {                                                                                       \
        if ((call) != dnnl_success) {                                                          \
            fprintf(stderr, "fp8fuse-bench: oneDNN: %s failed\n", #call);                     \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

/* An m x k by k x n matmul in dt (dnnl_bf16, or dnnl_f32 where this CPU
 * has no bf16 matmul: AVX2 only, where oneDNN refuses to create one), the
 * weights reordered once into the layout oneDNN picks; 0 when the
 * primitive cannot be created (then nothing is held). */
static int dnnl_setup(int64_t m, int64_t n, int64_t k, dnnl_data_type_t dt, struct dnnl_peer *d) {
    memset(d, 0, sizeof *d);
    DN(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags));
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
    dnnl_memory_desc_t smd, wany, wuser, dmd;
    DN(dnnl_memory_desc_init_by_tag(&smd, 2, sd, dt, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&wany, 2, wd, dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&wuser, 2, wd, dt, dnnl_ba)); /* N x K rows */
    DN(dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dt, dnnl_ab));
    dnnl_matmul_desc_t mmd;
    DN(dnnl_matmul_desc_init(&mmd, &smd, &wany, NULL, &dmd));
    if (dnnl_primitive_desc_create(&d->pd, &mmd, NULL, d->eng, NULL) != dnnl_success) {
        d->pd = NULL; /* no such matmul here: not an error */
        dnnl_teardown(d);
        return 0;
    }
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(d->pd, dnnl_query_weights_md, 0);
    DN(dnnl_memory_create(&d->sm, &smd, d->eng, DNNL_MEMORY_ALLOCATE));
    DN(dnnl_memory_create(&d->wu, &wuser, d->eng, DNNL_MEMORY_ALLOCATE));
    DN(dnnl_memory_create(&d->wp, wmd, d->eng, DNNL_MEMORY_ALLOCATE));
    DN(dnnl_memory_create(&d->dm, &dmd, d->eng, DNNL_MEMORY_ALLOCATE));
    void *p;
    const fp8f_dtype et = dt == dnnl_bf16 ? FP8F_BF16 : FP8F_F32;
    DN(dnnl_memory_get_data_handle(d->sm, &p));
    for (int64_t i = 0; i < m * k; i++)
        fp8f_store_float(et, p, i, (float)((i * 7919 % 1000) / 500.0 - 1));
    DN(dnnl_memory_get_data_handle(d->wu, &p));
    for (int64_t i = 0; i < n * k; i++)
        fp8f_store_float(et, p, i, (float)((i * 104729 % 1000) / 5e5));
    /* prepack the weights once */
    DN(dnnl_reorder_primitive_desc_create(&d->rpd, &wuser, d->eng, wmd, d->eng, NULL));
    DN(dnnl_primitive_create(&d->reorder, d->rpd));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, d->wu}, {DNNL_ARG_TO, d->wp}};
    DN(dnnl_primitive_execute(d->reorder, d->stream, 2, ra));
    DN(dnnl_stream_wait(d->stream));
    DN(dnnl_primitive_create(&d->prim, d->pd));
    d->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, d->sm};
    d->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, d->wp};
    d->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, d->dm};
    const char *impl = NULL;
    dnnl_primitive_desc_query(d->pd, dnnl_query_impl_info_str, 0, &impl);
    static char name[96]; /* outlives the primitive: the report prints it later */
    snprintf(name, sizeof name, "onednn-%s(%s)", dt == dnnl_bf16 ? "bf16" : "f32",
             impl ? impl : "?");
    d->name = name;
    d->bytes = (double)fp8f_dtype_size(et) * (double)(m * k + n * k + m * n);
    d->flops = 2.0 * m * n * k;
    return 1;
fail:
    dnnl_teardown(d);
    return 0;
}

/* The bf16 matmul, or the f32 one where there is no bf16 matmul. */
static int dnnl_setup_best(int64_t m, int64_t n, int64_t k, struct dnnl_peer *d) {
    return dnnl_setup(m, n, k, dnnl_bf16, d) || dnnl_setup(m, n, k, dnnl_f32, d);
}

static int peer_dnnl(int64_t m, int64_t n, int64_t k, int reps, struct peer_result *r) {
    struct dnnl_peer d;
    if (!dnnl_setup_best(m, n, k, &d))
        return 0;
    r->name = d.name;
    r->bytes = d.bytes;
    r->flops = d.flops;
    time_peer(dnnl_call, &d, reps, r);
    dnnl_teardown(&d);
    return 1;
}
#endif

/* ---- OpenBLAS sgemm on dequantized f32 weights ---- */

#ifdef FP8F_PEER_OPENBLAS
struct sgemm_arg {
    int64_t m, n, k;
    float *a, *w, *c;
};

static void sgemm_call(void *p, int iter) {
    (void)iter;
    struct sgemm_arg *s = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                s->a, (int)s->k, s->w, (int)s->k, 0.0f, s->c, (int)s->n);
}

static int peer_sgemm(int64_t m, int64_t n, int64_t k, int reps, struct peer_result *r) {
    struct sgemm_arg s = {m, n, k, malloc(sizeof(float) * (size_t)(m * k)),
                          malloc(sizeof(float) * (size_t)(n * k)),
                          malloc(sizeof(float) * (size_t)(m * n))};
    if (!s.a || !s.w || !s.c)
        return 0;
    for (int64_t i = 0; i < m * k; i++)
        s.a[i] = (float)((i * 7919 % 1000) / 500.0 - 1);
    for (int64_t i = 0; i < n * k; i++) /* dequantized: fp8 value * scale */
        s.w[i] = fp8f_decode_e4m3fn((uint8_t)((i * 104729) & 0x77)) * 1e-3f;
    openblas_set_num_threads(bench_peers_threads());
    r->name = "sgemm(openblas)";
    r->bytes = 4.0 * (double)(m * k + n * k + m * n);
    r->flops = 2.0 * m * n * k;
    time_peer(sgemm_call, &s, reps, r);
    free(s.a);
    free(s.w);
    free(s.c);
    return 1;
}
#endif

int bench_peers_gemm(int64_t m, int64_t n, int64_t k, double bytes, int reps,
                     struct peer_result *out) {
    int cnt = 0;
    if (m == 0)
        return 0;
    /* the ceiling for the weight stream: a copy of as many bytes as the
     * fp8 weight (read) + the same written, i.e. bytes read = N*K */
    (void)bytes;
    cnt += peer_memcpy(2.0 * (double)n * (double)k, reps, &out[cnt]);
#ifdef FP8F_PEER_DNNL
    cnt += peer_dnnl(m, n, k, reps, &out[cnt]); /* onednn-f32(...) where no bf16 matmul */
#endif
#ifdef FP8F_PEER_OPENBLAS
    cnt += peer_sgemm(m, n, k, reps, &out[cnt]);
#endif
    (void)m;
    return cnt;
}

int bench_peers_gemm_paired(void (*own)(void *arg, int iter), void *own_arg, int64_t m,
                            int64_t n, int64_t k, int reps, struct paired_result *r) {
#ifdef FP8F_PEER_DNNL
    struct dnnl_peer d;
    if (m == 0 || !dnnl_setup_best(m, n, k, &d))
        return 0;
    r->name = d.name;
    r->peer_bytes = d.bytes;
    const int ok = time_paired(own, own_arg, dnnl_call, &d, reps, 1.0, r);
    dnnl_teardown(&d);
    return ok;
#else
    (void)own, (void)own_arg, (void)m, (void)n, (void)k, (void)reps, (void)r;
    return 0;
#endif
}
