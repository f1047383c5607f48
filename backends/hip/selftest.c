/*
 * fp8f-hip-selftest: the HIP backend against the CPU backend, through the
 * public API only, on the cases where the GPU kernels take different paths
 * (register-resident vs generic kernel, vector tails, strides, in place,
 * every dtype, both fp8 types, scale_ub, zero / huge / NaN / Inf rows), plus
 * the fp8 encoder on structured and random bit patterns and the GEMM.
 * A quick check on a GPU machine, independent of the Check suites:
 *   FP8F_BACKEND_PATH=backends/hip/.libs backends/hip/fp8f-hip-selftest
 * Exit status 0 when everything matched. Tolerances as in DESIGN.md:
 * per-token quantization bit-exact, residual bit-exact, codes after the
 * norm equal or one step apart in at most 1 of 1000, scales to 1e-6.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8_codec.h"
#include "fp8fuse.h"

static fp8f_ctx *cpu, *gpu;
static int failures, checks;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double urand(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }
static double nrand(void) {
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#define FAIL(...)                                                                              \
    do {                                                                                       \
        failures++;                                                                            \
        printf("FAIL: " __VA_ARGS__);                                                          \
        printf("\n");                                                                          \
    } while (0)

static void ok(fp8f_status s, fp8f_ctx *c, const char *what) {
    if (s != FP8F_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, fp8f_status_str(s), fp8f_last_error(c));
        exit(2);
    }
}

/* A host tensor and its twin in GPU memory (the CPU backend uses host
 * memory, so the host copy is its tensor). */
typedef struct {
    fp8f_tensor h, d;
    size_t bytes;
} pair;

static pair pair_new(fp8f_dtype dt, int64_t rows, int64_t cols, int64_t stride) {
    pair p;
    p.bytes = (size_t)(rows > 0 ? rows : 1) * (size_t)stride * fp8f_dtype_size(dt) + 64;
    void *h = malloc(p.bytes), *d = NULL;
    memset(h, 0xA5, p.bytes);
    ok(fp8f_mem_alloc(gpu, p.bytes, &d), gpu, "mem_alloc");
    p.h = (fp8f_tensor){h, dt, rows, cols, stride};
    p.d = (fp8f_tensor){d, dt, rows, cols, stride};
    return p;
}
static void pair_up(pair *p) { ok(fp8f_mem_upload(gpu, p->d.data, p->h.data, p->bytes), gpu, "up"); }
static void *pair_down(pair *p) {
    void *b = malloc(p->bytes);
    ok(fp8f_ctx_sync(gpu), gpu, "sync");
    ok(fp8f_mem_download(gpu, b, p->d.data, p->bytes), gpu, "down");
    return b;
}
static void pair_free(pair *p) {
    free(p->h.data);
    fp8f_mem_free(gpu, p->d.data);
}

/* Row kinds for the edge cases. */
enum { ROW_NORMAL, ROW_ZERO, ROW_HUGE, ROW_NAN, ROW_INF, ROW_TINY };

static void fill(pair *p, int kind_mix, double sigma) {
    for (int64_t r = 0; r < p->h.rows; r++) {
        int kind = kind_mix ? (int)(r % 6) : ROW_NORMAL;
        for (int64_t c = 0; c < p->h.cols; c++) {
            double v = nrand() * sigma;
            if (kind == ROW_ZERO)
                v = 0.0;
            else if (kind == ROW_HUGE)
                v *= 1e30;
            else if (kind == ROW_TINY)
                v *= 1e-30;
            else if (kind == ROW_NAN && c == p->h.cols / 2)
                v = NAN;
            else if (kind == ROW_INF && c == p->h.cols / 3)
                v = -INFINITY;
            fp8f_store_float(p->h.dtype, p->h.data, r * p->h.stride + c, (float)v);
        }
    }
    pair_up(p);
}

/* Two codes of the same sign, neither NaN, one step apart in magnitude. */
static int one_step_apart(uint8_t a, uint8_t b, float av, float bv) {
    return !isnan(av) && !isnan(bv) && ((a ^ b) & 0x80u) == 0 &&
           abs((int)(a & 0x7f) - (int)(b & 0x7f)) == 1;
}

/* Codes equal, or one step apart in at most ceil(n/1000); NaN must agree. */
static void cmp_codes(fp8f_dtype fp8, const uint8_t *got, const uint8_t *want, int64_t rows,
                      int64_t cols, int64_t stride, int exact, const char *what) {
    int64_t off = 0, n = rows * cols;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            uint8_t g = got[r * stride + c], w = want[r * stride + c];
            if (g == w)
                continue;
            float gv = fp8f_decode_fp8(fp8, g), wv = fp8f_decode_fp8(fp8, w);
            if (isnan(gv) && isnan(wv)) /* NaN's sign is the CPU's business */
                continue;
            int step = one_step_apart(g, w, gv, wv);
            if (exact || !step) {
                FAIL("%s: code [%lld,%lld] = 0x%02x, CPU 0x%02x", what, (long long)r,
                     (long long)c, g, w);
                return;
            }
            off++;
        }
    if (off > (n + 999) / 1000)
        FAIL("%s: %lld codes one step off (> 1/1000 of %lld)", what, (long long)off,
             (long long)n);
    checks++;
}

/* One row of fused norm + quant codes against the CPU's, where the two sum
 * the squares in different orders: inv_rms then differs in its last bits,
 * and bf16 rows make exact ties common (a quotient h w 448 / (h w)_max of
 * 8-bit mantissas lands on a midpoint between two codes in ~0.3 % of
 * elements), so either rounding of a tie is right. A code may differ from
 * the CPU's by one step only where the exact quotient (`quot`, in double)
 * lies within 2^-16 of the midpoint between the two codes. */
static void cmp_codes_ties(fp8f_dtype fp8, const uint8_t *got, const uint8_t *want,
                           const double *quot, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        if (got[i] == want[i])
            continue;
        const float gv = fp8f_decode_fp8(fp8, got[i]), wv = fp8f_decode_fp8(fp8, want[i]);
        const double mid = ((double)gv + wv) / 2.0;
        const int at_tie = fabs(quot[i] - mid) <= ldexp(fabs(mid), -16);
        if (!one_step_apart(got[i], want[i], gv, wv) || !at_tie) {
            FAIL("%s: code [%lld] = 0x%02x, CPU 0x%02x (quotient %.9g, not at a tie)", what,
                 (long long)i, got[i], want[i], quot[i]);
            return;
        }
    }
    checks++;
}

/* The exact quotients y / scale of one bf16 row h (the residual's sum) with
 * norm weight w, as DESIGN.md's numerics define them, in double. */
static void exact_quotients(const void *h, const void *w, int64_t k, double eps,
                            double fp8_max, double *quot) {
    double ss = 0.0, amax = 0.0;
    for (int64_t i = 0; i < k; i++) {
        const double v = fp8f_load_float(FP8F_BF16, h, i);
        ss += v * v;
    }
    const double inv = 1.0 / sqrt(ss / (double)k + eps);
    for (int64_t i = 0; i < k; i++) {
        quot[i] = fp8f_load_float(FP8F_BF16, h, i) * inv * fp8f_load_float(FP8F_BF16, w, i);
        amax = fmax(amax, fabs(quot[i]));
    }
    const double scale = fmax(amax / fp8_max, 1.0 / (fp8_max * 512.0));
    for (int64_t i = 0; i < k; i++)
        quot[i] /= scale;
}

/* A float tensor's whole buffer: elements bit-identical (NaN = NaN), every
 * other byte (stride padding, slack) identical. */
static void cmp_tensor_bits(const void *got, const pair *p, const char *what) {
    const fp8f_tensor *t = &p->h;
    const size_t es = fp8f_dtype_size(t->dtype);
    uint8_t *a = malloc(p->bytes), *b = malloc(p->bytes);
    memcpy(a, got, p->bytes);
    memcpy(b, t->data, p->bytes);
    for (int64_t r = 0; r < t->rows; r++)
        for (int64_t c = 0; c < t->cols; c++) {
            const int64_t i = r * t->stride + c;
            if (isnan(fp8f_load_float(t->dtype, a, i)) && isnan(fp8f_load_float(t->dtype, b, i)))
                memset(a + (size_t)i * es, 0, es), memset(b + (size_t)i * es, 0, es);
        }
    if (memcmp(a, b, p->bytes) != 0) {
        size_t i = 0;
        while (a[i] == b[i])
            i++;
        FAIL("%s: byte %zu differs (GPU 0x%02x, CPU 0x%02x)", what, i, a[i], b[i]);
    } else {
        checks++;
    }
    free(a);
    free(b);
}

static void cmp_bytes(const void *a, const void *b, size_t n, const char *what) {
    if (memcmp(a, b, n) != 0) {
        const uint8_t *x = a, *y = b;
        size_t i = 0;
        while (x[i] == y[i])
            i++;
        FAIL("%s: byte %zu differs (GPU 0x%02x, CPU 0x%02x)", what, i, x[i], y[i]);
        return;
    }
    checks++;
}

/* Scales: exact for the plain quantization; after the norm within the f32
 * rounding of a sum of h values (the order of the sum differs). */
static void cmp_scales(const float *g, const float *w, int64_t rows, int64_t h, int exact,
                       const char *what) {
    const double tol = 2e-7 + 6e-8 * sqrt((double)h) * 4;
    for (int64_t r = 0; r < rows; r++) {
        int same = (isnan(g[r]) && isnan(w[r])) || g[r] == w[r] ||
                   (!exact && fabs((double)g[r] - w[r]) <= tol * fabs((double)w[r]));
        if (!same) {
            FAIL("%s: scale[%lld] = %.9g, CPU %.9g", what, (long long)r, g[r], w[r]);
            return;
        }
    }
    checks++;
}

/* Dense outputs: within one rounding of the output type plus f32 noise. */
static void cmp_dense(const fp8f_tensor *g, const fp8f_tensor *w, const char *what) {
    double tol = w->dtype == FP8F_BF16 ? 1.0 / 128 : w->dtype == FP8F_F16 ? 1.0 / 1024 : 1e-5;
    for (int64_t r = 0; r < w->rows; r++)
        for (int64_t c = 0; c < w->cols; c++) {
            float a = fp8f_load_float(g->dtype, g->data, r * g->stride + c);
            float b = fp8f_load_float(w->dtype, w->data, r * w->stride + c);
            if ((isnan(a) && isnan(b)) || a == b)
                continue;
            if (!(fabs((double)a - b) <= tol * fabs((double)b) + 1e-30)) {
                FAIL("%s: [%lld,%lld] = %.9g, CPU %.9g", what, (long long)r, (long long)c, a,
                     b);
                return;
            }
        }
    checks++;
}

struct norm_case {
    int64_t m, h, xs, qs; /* rows, cols, x/residual stride, q stride */
    fp8f_dtype dt, wdt, odt;
    int residual, ub, mix, in_place;
};

static void run_norm_case(const struct norm_case *k, fp8f_dtype fp8) {
    char what[200];
    snprintf(what, sizeof what, "M=%lld H=%lld xs=%lld qs=%lld dt=%d w=%d %s%s%s%s",
             (long long)k->m, (long long)k->h, (long long)k->xs, (long long)k->qs, k->dt,
             k->wdt, fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", k->residual ? " +res" : "",
             k->ub ? " ub" : "", k->mix ? " edge-rows" : "");
    pair x = pair_new(k->dt, k->m, k->h, k->xs), r = pair_new(k->dt, k->m, k->h, k->xs);
    pair w = pair_new(k->wdt, 1, k->h, k->h);
    pair q = pair_new(fp8, k->m, k->h, k->qs);
    pair s = pair_new(FP8F_F32, 1, k->m + 2, k->m + 2);
    fill(&x, k->mix, 1.0);
    fill(&r, 0, 1.0);
    pair_up(&q);
    pair_up(&s);
    for (int64_t c = 0; c < k->h; c++)
        fp8f_store_float(k->wdt, w.h.data, c, (float)(0.5 + urand()));
    pair_up(&w);
    const float ub = 3.0f, *ubp = k->ub ? &ub : NULL;
    const float eps = 1e-6f;

    /* fused: GPU first (the CPU updates its residual in place) */
    fp8f_qtensor qg = {q.d, (float *)s.d.data, FP8F_QF_NONE};
    fp8f_qtensor qc = {q.h, (float *)s.h.data, FP8F_QF_NONE};
    ok(fp8f_rmsnorm_quant(gpu, &x.d, k->residual ? &r.d : NULL, &w.d, eps, ubp, &qg), gpu,
       "gpu rmsnorm_quant");
    ok(fp8f_rmsnorm_quant(cpu, &x.h, k->residual ? &r.h : NULL, &w.h, eps, ubp, &qc), cpu,
       "cpu rmsnorm_quant");
    uint8_t *gq = pair_down(&q), *gr = pair_down(&r);
    float *gs = pair_down(&s);
    char w2[260];
    snprintf(w2, sizeof w2, "rmsnorm_quant %s", what);
    cmp_codes(fp8, gq, q.h.data, k->m, k->h, k->qs, 0, w2);
    cmp_scales(gs, s.h.data, k->m + 2, k->h, 0, w2);
    if (k->residual)
        cmp_tensor_bits(gr, &r, w2);
    else
        cmp_bytes(gq + (size_t)k->m * k->qs, (uint8_t *)q.h.data + (size_t)k->m * k->qs,
                  q.bytes - (size_t)k->m * k->qs, w2);
    free(gq);
    free(gr);
    free(gs);

    /* per-token quant of x alone: bit-exact */
    ok(fp8f_quant_per_token(gpu, &x.d, ubp, &qg), gpu, "gpu quant");
    ok(fp8f_quant_per_token(cpu, &x.h, ubp, &qc), cpu, "cpu quant");
    gq = pair_down(&q);
    gs = pair_down(&s);
    snprintf(w2, sizeof w2, "quant_per_token %s", what);
    cmp_codes(fp8, gq, q.h.data, k->m, k->h, k->qs, 1, w2);
    cmp_scales(gs, s.h.data, k->m + 2, k->h, 1, w2);
    free(gq);
    free(gs);

    /* rmsnorm to a dense output (in place on x when asked) */
    pair o = pair_new(k->odt, k->m, k->h, k->xs);
    pair_up(&o);
    fp8f_tensor *og = k->in_place ? &x.d : &o.d, *oc = k->in_place ? &x.h : &o.h;
    ok(fp8f_rmsnorm(gpu, &x.d, k->residual ? &r.d : NULL, &w.d, eps, og), gpu, "gpu rmsnorm");
    ok(fp8f_rmsnorm(cpu, &x.h, k->residual ? &r.h : NULL, &w.h, eps, oc), cpu, "cpu rmsnorm");
    pair *op = k->in_place ? &x : &o;
    void *go = pair_down(op);
    fp8f_tensor gt = op->h;
    gt.data = go;
    snprintf(w2, sizeof w2, "rmsnorm%s %s", k->in_place ? " in place" : "", what);
    cmp_dense(&gt, &op->h, w2);
    if (k->residual) {
        void *gr2 = pair_down(&r);
        cmp_tensor_bits(gr2, &r, w2);
        free(gr2);
    }
    free(go);
    pair_free(&o);
    pair_free(&x);
    pair_free(&r);
    pair_free(&w);
    pair_free(&q);
    pair_free(&s);
}

/* The encoder: x = v with scale_ub = FP8_MAX and one element >= FP8_MAX per
 * row gives scale 1, so q = encode(v) for every other element. */
static void run_encoder(fp8f_dtype fp8) {
    const int64_t cols = 4096;
    int64_t rows = 0;
    const float fmax = fp8f_fp8_max(fp8);
    /* structured: every exponent near the fp8 range, mantissas at and
     * around each rounding boundary, both signs; then random patterns */
    static const uint32_t low[] = {0,       1,       0x7ffffu, 0x80000u, 0x80001u,
                                   0xfffffu, 0x40000u, 0xc0000u};
    int64_t n_struct = 2 * 50 * 8 * 8, n_rand = 1 << 22;
    rows = (n_struct + n_rand + cols - 2) / (cols - 1);
    pair x = pair_new(FP8F_F32, rows, cols, cols);
    pair q = pair_new(fp8, rows, cols, cols);
    pair s = pair_new(FP8F_F32, 1, rows, rows);
    pair_up(&q);
    pair_up(&s);
    float *xv = x.h.data;
    int64_t i = 0;
    for (int64_t r = 0; r < rows; r++) {
        xv[r * cols] = (r & 1) ? -fmax * 4 : fmax; /* pins amax >= ub */
        for (int64_t c = 1; c < cols; c++, i++) {
            uint32_t u;
            if (i < n_struct) {
                uint32_t sign = (uint32_t)(i & 1) << 31, e = 100 + (uint32_t)((i >> 1) % 50),
                         top = (uint32_t)((i / 100) % 8), lo = low[(i / 800) % 8];
                u = sign | (e << 23) | (top << 20) | lo;
            } else {
                u = (uint32_t)rnd();
                if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) {
                    /* NaN: quiet ones only (glibc's fmaxf does not ignore a
                     * signaling NaN, so the CPU's amax would not either) */
                    u |= 0x400000u;
                    if (i & 3)
                        u &= 0xbfffffffu; /* mostly finite */
                }
            }
            memcpy(&xv[r * cols + c], &u, 4);
        }
    }
    pair_up(&x);
    fp8f_qtensor qg = {q.d, (float *)s.d.data, FP8F_QF_NONE};
    fp8f_qtensor qc = {q.h, (float *)s.h.data, FP8F_QF_NONE};
    ok(fp8f_quant_per_token(gpu, &x.d, &fmax, &qg), gpu, "gpu quant (encoder)");
    ok(fp8f_quant_per_token(cpu, &x.h, &fmax, &qc), cpu, "cpu quant (encoder)");
    uint8_t *gq = pair_down(&q);
    float *gs = pair_down(&s);
    char what[80];
    snprintf(what, sizeof what, "encoder %s over %lld values",
             fp8 == FP8F_E4M3FNUZ ? "e4m3fnuz" : "e4m3fn", (long long)(rows * (cols - 1)));
    for (int64_t r = 0; r < rows; r++)
        if (((float *)s.h.data)[r] != 1.0f) {
            FAIL("%s: CPU scale of row %lld is %g, not 1", what, (long long)r,
                 ((float *)s.h.data)[r]);
            break;
        }
    cmp_codes(fp8, gq, q.h.data, rows, cols, cols, 1, what);
    cmp_scales(gs, s.h.data, rows, cols, 1, what);
    free(gq);
    free(gs);
    pair_free(&x);
    pair_free(&q);
    pair_free(&s);
}

/* Random weight codes (no NaN, no +-240 in e4m3fnuz, which e4m3fn cannot
 * hold) in the rows x cols of `wq` and per-channel scales in `ws`. */
static void fill_weight(pair *wq, pair *ws) {
    const fp8f_dtype t = wq->h.dtype;
    for (int64_t r = 0; r < wq->h.rows; r++)
        for (int64_t c = 0; c < wq->h.cols; c++) {
            uint8_t code;
            do
                code = (uint8_t)rnd();
            while (isnan(fp8f_decode_fp8(t, code)) || (t == FP8F_E4M3FNUZ && (code & 0x7f) == 0x7f));
            ((uint8_t *)wq->h.data)[r * wq->h.stride + c] = code;
        }
    for (int64_t i = 0; i < ws->h.cols; i++)
        ((float *)ws->h.data)[i] = (float)(1e-3 * (1 + urand()));
}

/* GPU outputs against the CPU's: max |GPU - CPU| <= tol * max |CPU|. */
static void cmp_outputs(const pair *o, const void *gpu_out, double tol, const char *what) {
    double maxref = 0.0, maxerr = 0.0;
    for (int64_t i = 0; i < o->h.rows * o->h.cols; i++) {
        double c = fp8f_load_float(o->h.dtype, o->h.data, i),
               g = fp8f_load_float(o->h.dtype, gpu_out, i);
        maxref = fmax(maxref, fabs(c));
        maxerr = fmax(maxerr, fabs(g - c));
    }
    if (!(maxerr <= tol * maxref))
        FAIL("%s: max |GPU - CPU| = %g, max |CPU| = %g", what, maxerr, maxref);
    else
        checks++;
}

/* Biases: none, bf16 values (exact in bf16 and f16, so the vendor's BLASLt
 * may take them), or f32 values exact in neither (it may not). */
enum { BIAS_NONE, BIAS_BF16, BIAS_F32_INEXACT };

/* Set while the GEMM path is forced to BLASLt with FP8F_HIP_GEMM_STRICT=1:
 * a call it cannot take must fail with FP8F_E_UNSUPPORTED, writing nothing. */
static int strict_blaslt;

/* What the vendor's fp8 kernels take (README "The GPU GEMM"), written from
 * the documented rules rather than from the backend: a bf16/f16 output,
 * K and the row strides (here K, N) multiples of 16 and 8, a bias exact in
 * the output's type. The selftest's buffers are all 16-byte aligned. */
static int blaslt_takes(int64_t n, int64_t k, fp8f_dtype out_dt, int bias) {
    return out_dt != FP8F_F32 && k % 16 == 0 && n % 8 == 0 && bias != BIAS_F32_INEXACT;
}

/* A call refused with FP8F_E_UNSUPPORTED that left the output as it was. */
static void expect_refusal(fp8f_status s, pair *out, const char *what) {
    void *after = pair_down(out);
    if (s != FP8F_E_UNSUPPORTED)
        FAIL("%s: %s where FP8F_E_UNSUPPORTED was expected (%s)", what, fp8f_status_str(s),
             fp8f_last_error(gpu));
    else if (memcmp(after, out->h.data, out->bytes) != 0)
        FAIL("%s: refused, but the output was written", what);
    else
        checks++;
    free(after);
}

static void run_gemm(int64_t m, int64_t n, int64_t k, fp8f_dtype w_fp8, fp8f_dtype out_dt,
                     int bias, int quantized) {
    static const char *const bias_names[] = {"", " bias", " f32-bias"};
    char what[160];
    snprintf(what, sizeof what, "gemm M=%lld N=%lld K=%lld w=%s out=%d%s %s", (long long)m,
             (long long)n, (long long)k, w_fp8 == FP8F_E4M3FNUZ ? "fnuz" : "fn", out_dt,
             bias_names[bias], quantized ? "QUANTIZED" : "DENSE");
    const fp8f_dtype ctx_fp8 = fp8f_ctx_fp8_dtype(gpu);
    pair wq = pair_new(w_fp8, n, k, k + 3), ws = pair_new(FP8F_F32, 1, n, n);
    const fp8f_dtype bias_dt = bias == BIAS_F32_INEXACT ? FP8F_F32 : FP8F_BF16;
    pair b = pair_new(bias_dt, 1, n, n);
    fill_weight(&wq, &ws);
    for (int64_t i = 0; i < n; i++) /* 1 + 2^-20 rounds away in bf16 and f16 */
        fp8f_store_float(bias_dt, b.h.data, i,
                         bias_dt == FP8F_F32 ? (float)(1.0 + 0x1p-20 + i % 7)
                                             : (float)nrand());
    pair_up(&wq);
    pair_up(&ws);
    pair_up(&b);
    fp8f_weight *wg = NULL, *wc = NULL;
    ok(fp8f_weight_create(gpu, &wq.d, ws.d.data, bias ? &b.d : NULL, &wg), gpu, "gpu weight");
    ok(fp8f_weight_create(cpu, &wq.h, ws.h.data, bias ? &b.h : NULL, &wc), cpu, "cpu weight");

    pair x = pair_new(FP8F_BF16, m, k, k);
    fill(&x, 0, 1.0);
    pair q = pair_new(ctx_fp8, m, k, k), s = pair_new(FP8F_F32, 1, m, m);
    pair o = pair_new(out_dt, m, n, n);
    pair_up(&o);
    fp8f_act ag, ac;
    if (quantized && !(fp8f_ctx_caps(gpu) & FP8F_CAP_QUANTIZED_INPUT))
        quantized = 0; /* FP8F_SELFTEST_ON=cpu */
    if (quantized) {
        fp8f_qtensor qg = {q.d, (float *)s.d.data, FP8F_QF_NONE};
        ok(fp8f_quant_per_token(gpu, &x.d, NULL, &qg), gpu, "gpu quant for gemm");
        ag = (fp8f_act){.kind = FP8F_ACT_QUANTIZED, .quant = qg};
    } else {
        ag = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = x.d};
    }
    ac = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = x.h};
    if (strict_blaslt && !blaslt_takes(n, k, out_dt, bias)) {
        expect_refusal(fp8f_linear_ptpc(gpu, &ag, wg, &o.d), &o, what);
    } else {
        ok(fp8f_linear_ptpc(gpu, &ag, wg, &o.d), gpu, "gpu linear");
        ok(fp8f_linear_ptpc(cpu, &ac, wc, &o.h), cpu, "cpu linear");
        void *go = pair_down(&o);
        cmp_outputs(&o, go,
                    out_dt == FP8F_BF16 ? 1.0 / 128 : out_dt == FP8F_F16 ? 1.0 / 1024 : 1e-5,
                    what);
        free(go);
    }
    fp8f_weight_destroy(wg);
    fp8f_weight_destroy(wc);
    pair_free(&wq);
    pair_free(&ws);
    pair_free(&b);
    pair_free(&x);
    pair_free(&q);
    pair_free(&s);
    pair_free(&o);
}

/* out[m][n] = sum_k q[m][k] w[n][k] * sq[m] * sw[n], in double, rounded once
 * to out's type: the GEMM of given codes (rows of k, both) and scales. */
static void ref_gemm_codes(fp8f_dtype fp8, const uint8_t *q, const float *sq, const uint8_t *w,
                           const float *sw, int64_t m, int64_t n, int64_t k, fp8f_tensor *out) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t c = 0; c < k; c++)
                acc += (double)fp8f_decode_fp8(fp8, q[i * k + c]) *
                       fp8f_decode_fp8(fp8, w[j * k + c]);
            fp8f_store_float(out->dtype, out->data, i * out->stride + j,
                             (float)(acc * sq[i] * sw[j]));
        }
}

/* fp8f_prepare_linear on the GPU (fused row kernel, then the GEMM on the
 * (q, scale) it made) against the CPU (rmsnorm, then the GEMM quantizing
 * the dense activation), `calls` steps in a row on the same residual: out
 * and the updated residual of the last. */
static void run_step(int64_t m, int64_t n, int64_t k, int calls) {
    char what[128];
    snprintf(what, sizeof what, "prepare_linear M=%lld N=%lld K=%lld, %d call(s)", (long long)m,
             (long long)n, (long long)k, calls);
    const fp8f_dtype fp8 = fp8f_ctx_fp8_dtype(gpu);
    pair wq = pair_new(fp8, n, k, k), ws = pair_new(FP8F_F32, 1, n, n);
    fill_weight(&wq, &ws);
    pair x = pair_new(FP8F_BF16, m, k, k), r = pair_new(FP8F_BF16, m, k, k);
    pair nw = pair_new(FP8F_BF16, 1, k, k), o = pair_new(FP8F_BF16, m, n, n);
    pair dense = pair_new(FP8F_BF16, m, k, k), q = pair_new(fp8, m, k, k);
    pair sc = pair_new(FP8F_F32, 1, m, m);
    fill(&x, 0, 1.0);
    fill(&r, 0, 1.0);
    for (int64_t i = 0; i < k; i++)
        fp8f_store_float(FP8F_BF16, nw.h.data, i, (float)(0.5 + urand()));
    pair_up(&wq);
    pair_up(&ws);
    pair_up(&x);
    pair_up(&r);
    pair_up(&nw);
    pair_up(&o);
    fp8f_weight *wg = NULL, *wc = NULL;
    ok(fp8f_weight_create(gpu, &wq.d, ws.d.data, NULL, &wg), gpu, "gpu weight");
    ok(fp8f_weight_create(cpu, &wq.h, ws.h.data, NULL, &wc), cpu, "cpu weight");
    fp8f_qtensor qg = {q.d, (float *)sc.d.data, FP8F_QF_NONE};
    fp8f_qtensor qc = {q.h, (float *)sc.h.data, FP8F_QF_NONE};
    pair r0 = pair_new(FP8F_BF16, m, k, k); /* the residual before the last step */
    for (int c = 0; c < calls; c++) {
        memcpy(r0.h.data, r.h.data, r.bytes); /* equal on both sides, bit for bit */
        ok(fp8f_prepare_linear(gpu, &x.d, &r.d, &nw.d, 1e-6f, &dense.d, &qg, wg, &o.d), gpu,
           what);
        ok(fp8f_prepare_linear(cpu, &x.h, &r.h, &nw.h, 1e-6f, &dense.h, &qc, wc, &o.h), cpu,
           what);
    }
    void *go = pair_down(&o), *gr = pair_down(&r), *gq = pair_down(&q), *gs = pair_down(&sc);
    cmp_tensor_bits(gr, &r, what); /* the residual: x + r rounded, bit-exact */
    if (fp8f_ctx_caps(gpu) & FP8F_CAP_QUANTIZED_INPUT) {
        /* (q, scale) against the CPU's fused norm + quant of the same rows
         * (the CPU's prepare_linear goes through a bf16 dense_buf instead) */
        ok(fp8f_rmsnorm_quant(cpu, &x.h, &r0.h, &nw.h, 1e-6f, NULL, &qc), cpu, "cpu norm_quant");
        double *quot = malloc(sizeof(double) * (size_t)k);
        for (int64_t i = 0; i < m; i++) { /* r0 now holds the rounded sum h */
            exact_quotients((const uint16_t *)r0.h.data + i * k, nw.h.data, k, 1e-6,
                            fp8f_fp8_max(fp8), quot);
            cmp_codes_ties(fp8, gq + i * k, (const uint8_t *)q.h.data + i * k, quot, k, what);
        }
        free(quot);
        cmp_scales(gs, sc.h.data, m, k, 0, what);
        /* out: the GEMM of the GPU's own (q, scale), summed here in double */
        pair ref = pair_new(FP8F_BF16, m, n, n);
        ref_gemm_codes(fp8, gq, gs, wq.h.data, ws.h.data, m, n, k, &ref.h);
        cmp_outputs(&ref, go, 1.0 / 128, what);
        pair_free(&ref);
    } else { /* FP8F_SELFTEST_ON=cpu: the same code on both sides */
        cmp_outputs(&o, go, 0.0, what);
    }
    free(go);
    free(gr);
    free(gq);
    free(gs);
    fp8f_weight_destroy(wg);
    fp8f_weight_destroy(wc);
    pair *all[] = {&wq, &ws, &x, &r, &r0, &nw, &o, &dense, &q, &sc};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pair_free(all[i]);
}

/* Shapes around the GEMM kernels' tiles: the streaming kernel's 16/32 weight
 * rows, 8/16/32 tokens and 64-byte K steps (odd N, K not a multiple of the
 * step, unaligned activation rows when K % 16 != 0), the tiled kernel's 64 x
 * 64 x 32 tiles, GLM-4.7's decode shapes, and large M for the vendor's
 * BLASLt (bf16 out with a bias, f32 out: left to fp8fuse's kernels; f16). */
static void run_gemm_shapes(void) {
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {1, 17, 63},     {7, 33, 64},       {8, 31, 65},    {9, 100, 129},
        {16, 333, 640}, {17, 64, 1000}, {33, 5, 300},      {70, 129, 777}, {64, 64, 64},
        {37, 96, 5120}, {130, 200, 1001}, {1, 300, 777},   {2, 5120, 12288}, {16, 14336, 5120},
        {1024, 520, 1024}, {256, 1000, 5120}, {48, 4096, 2048}, {24, 6144, 1024},
        {32, 6160, 640},
    };
    const fp8f_dtype outs[3] = {FP8F_BF16, FP8F_F32, FP8F_F16};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_gemm(shapes[i][0], shapes[i][1], shapes[i][2], FP8F_E4M3FN, outs[i % 3],
                 (i & 1) ? BIAS_BF16 : BIAS_NONE, i % 4 != 3);
    /* a bias bf16 cannot hold exactly, at a shape BLASLt takes otherwise */
    run_gemm(64, 512, 1024, FP8F_E4M3FN, FP8F_BF16, BIAS_F32_INEXACT, 1);
    /* a weight of the other fp8 type: converted at creation */
    run_gemm(20, 50, 300, FP8F_E4M3FNUZ, FP8F_F32, BIAS_BF16, 1);
    /* the decode step around the streaming kernel's token tiles (8 and 9
     * tokens), its ring (K a multiple of 64, or not: 1000) and the row
     * kernel's shapes (6144 values a row in one block, 6208 in a cluster on
     * sm_90), several steps in a row */
    run_step(1, 5120, 5120, 1);
    run_step(8, 1000, 5120, 3);
    run_step(9, 304, 6144, 2);
    run_step(16, 2048, 5120, 2);
    run_step(4, 512, 6208, 2);
    if (!strict_blaslt) { /* N = 333, K = 1000: not BLASLt's */
        run_step(16, 333, 640, 3);
        run_step(3, 100, 1000, 1);
    }
}

int main(void) {
    fp8f_options o = {0};
    /* FP8F_SELFTEST_ON=cpu checks the harness itself, CPU against CPU */
    const char *on = getenv("FP8F_SELFTEST_ON");
    const fp8f_backend_id under_test =
        on && strcmp(on, "cpu") == 0 ? FP8F_BACKEND_CPU : FP8F_BACKEND_HIP;
    o.backend = under_test;
    if (fp8f_ctx_create(&o, &gpu) != FP8F_OK) {
        printf("fp8f-hip-selftest: SKIPPED: %s\n", fp8f_last_error(NULL));
        return 77;
    }
    printf("fp8f-hip-selftest on %s (caps 0x%x, native fp8 %s)\n", fp8f_ctx_backend_name(gpu),
           fp8f_ctx_caps(gpu), fp8f_ctx_fp8_dtype(gpu) == FP8F_E4M3FNUZ ? "e4m3fnuz" : "e4m3fn");
    o.backend = FP8F_BACKEND_CPU;
    ok(fp8f_ctx_create(&o, &cpu), NULL, "cpu ctx");

    const struct norm_case cases[] = {
        /*  m     h      xs     qs     dt         wdt        odt        res ub mix inplace */
        {17, 5120, 5120, 5120, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0},
        {256, 5120, 5120, 5120, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 1, 0, 0},
        {3000, 5120, 5120, 5120, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 0, 0},
        {5, 5121, 5128, 5124, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 1},
        {7, 4099, 4104, 4104, FP8F_F16, FP8F_F16, FP8F_F16, 1, 1, 1, 0},
        {9, 1027, 1028, 1032, FP8F_F32, FP8F_F32, FP8F_F32, 0, 0, 1, 1},
        {1000, 128, 128, 128, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0},
        {33, 16, 24, 16, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 0, 0},
        {6, 1, 1, 1, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0},
        {6, 7, 7, 7, FP8F_F16, FP8F_F16, FP8F_F16, 1, 1, 1, 0},
        {4, 3, 3, 3, FP8F_F32, FP8F_F32, FP8F_F32, 0, 0, 0, 1},
        {0, 64, 64, 64, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 0, 0},
        {5, 5120, 5121, 5121, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0}, /* unaligned */
        {5, 5120, 5120, 5120, FP8F_BF16, FP8F_F32, FP8F_F16, 1, 1, 1, 0},  /* mixed */
        {3, 70001, 70008, 70008, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0}, /* too wide */
        {130, 8192, 8192, 8192, FP8F_F32, FP8F_F32, FP8F_F32, 1, 0, 0, 0},
        {2, 32768, 32768, 32768, FP8F_BF16, FP8F_BF16, FP8F_BF16, 1, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_norm_case(&cases[i], FP8F_E4M3FN);
        run_norm_case(&cases[i], FP8F_E4M3FNUZ);
    }
    run_encoder(FP8F_E4M3FN);
    run_encoder(FP8F_E4M3FNUZ);

    run_gemm_shapes();
    fp8f_ctx_destroy(gpu);

    /* the same shapes through each GEMM path forced: the tiled kernel (the
     * generic GPU path), the streaming kernel and the vendor's BLASLt at
     * every M (a path that cannot take a shape falls back) */
    static const char *const paths[] = {"tiled", "stream", "blaslt"};
    o.backend = under_test;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        setenv("FP8F_HIP_GEMM", paths[i], 1);
        ok(fp8f_ctx_create(&o, &gpu), NULL, "gpu ctx (forced GEMM path)");
        unsetenv("FP8F_HIP_GEMM");
        printf("GEMM path forced: %s\n", paths[i]);
        run_gemm_shapes();
        fp8f_ctx_destroy(gpu);
    }

    /* BLASLt forced and strict: the shapes it takes must run there (bf16
     * and f16 biases included), the others must be refused untouched */
    setenv("FP8F_HIP_GEMM", "blaslt", 1);
    setenv("FP8F_HIP_GEMM_STRICT", "1", 1);
    const fp8f_status strict_made =
        under_test == FP8F_BACKEND_HIP ? fp8f_ctx_create(&o, &gpu) : FP8F_E_BACKEND;
    unsetenv("FP8F_HIP_GEMM");
    unsetenv("FP8F_HIP_GEMM_STRICT");
    if (strict_made == FP8F_OK) {
        printf("GEMM path forced: blaslt, strict\n");
        strict_blaslt = 1;
        run_gemm_shapes();
        strict_blaslt = 0;
        fp8f_ctx_destroy(gpu);
    } else {
        printf("GEMM path forced: blaslt, strict: SKIPPED: %s\n",
               under_test == FP8F_BACKEND_HIP ? fp8f_last_error(NULL) : "not the HIP backend");
    }

    /* an e4m3fnuz context (MI300's type) on this GPU */
    o.fp8_dtype = FP8F_E4M3FNUZ;
    ok(fp8f_ctx_create(&o, &gpu), NULL, "gpu fnuz ctx");
    fp8f_ctx_destroy(cpu);
    o.backend = FP8F_BACKEND_CPU;
    ok(fp8f_ctx_create(&o, &cpu), NULL, "cpu fnuz ctx");
    run_gemm(40, 70, 640, FP8F_E4M3FN, FP8F_BF16, BIAS_BF16, 1);
    run_gemm(40, 70, 640, FP8F_E4M3FNUZ, FP8F_F32, BIAS_NONE, 0);

    fp8f_ctx_destroy(gpu);
    fp8f_ctx_destroy(cpu);
    printf("fp8f-hip-selftest: %d checks passed, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
