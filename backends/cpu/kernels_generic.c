/*
 * The portable C kernels: the reference every other kernel table matches
 * (bit for bit for norm and quantization), and the fallback on any CPU.
 * The GEMM keeps the weight in its plain N x K layout (one row per panel)
 * and decodes fp8 through a table into f32.
 */
#include <math.h>
#include <string.h>

#include "cpu_isa.h"
#include "cpu_kernels.h"

/* The sum of squares' canonical lanes (cpu_isa.h). */
#define LANES 32

/* ---- norm and quantization rows ---- */

static float fold_lanes(float acc[LANES]) {
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] = acc[j] + acc[j + w];
    return acc[0];
}

static float g_row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    float acc[LANES] = {0};
    for (int64_t c = 0; c < n; c++) {
        float h = fp8f_load_float(xt, x, c);
        if (r) {
            h = fp8f_round_to(rt, h + fp8f_load_float(rt, r, c));
            fp8f_store_float(rt, r, c, h);
        }
        acc[c % LANES] = fmaf(h, h, acc[c % LANES]);
    }
    return fold_lanes(acc);
}

static float g_row_norm(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                        float inv_rms, float *y, int64_t n) {
    float amax = 0.0f;
    for (int64_t c = 0; c < n; c++) {
        float v = fp8f_load_float(ht, h, c) * inv_rms;
        v = v * fp8f_load_float(wt, w, c);
        y[c] = v;
        amax = cpu_max_abs(amax, v);
    }
    return amax;
}

static float g_row_amax(const void *x, fp8f_dtype xt, float *y, int64_t n) {
    float amax = 0.0f;
    for (int64_t c = 0; c < n; c++) {
        float v = fp8f_load_float(xt, x, c);
        if (y)
            y[c] = v;
        amax = cpu_max_abs(amax, v);
    }
    return amax;
}

static void g_row_encode(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                         int stream) {
    (void)stream; /* plain stores only */
    for (int64_t c = 0; c < n; c++)
        q[c] = cpu_encode_fp8_fast(fp8, y[c] / scale);
}

static void g_row_norm_store(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                             float inv_rms, void *out, fp8f_dtype ot, int64_t n) {
    for (int64_t c = 0; c < n; c++) {
        float v = fp8f_load_float(ht, h, c) * inv_rms;
        fp8f_store_float(ot, out, c, v * fp8f_load_float(wt, w, c));
    }
}

/* ---- GEMM: plain layout, f32 ---- */

static size_t g_panel_bytes(int64_t k) { return (size_t)k; }

static void g_pack_panel(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst) {
    (void)n;
    memcpy(dst, q + (size_t)n0 * (size_t)k, (size_t)k);
}

static size_t g_a_row_bytes(int64_t k) { return (size_t)k * sizeof(float); }

static void g_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                     void *dst) {
    const float *table = fp8f_cpu_fp8_values(fp8);
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *src = codes + (size_t)i * (size_t)lda;
        float *d = (float *)dst + (size_t)i * (size_t)k;
        for (int64_t c = 0; c < k; c++)
            d[c] = table[src[c]];
    }
}

static size_t g_scratch_bytes(int64_t k) { return (size_t)k * sizeof(float) + 64; }

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

static void g_gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                         int64_t p1, void *scratch) {
    const int64_t k = g->k;
    const float *table = fp8f_cpu_fp8_values(g->fp8);
    float *wf = scratch;
    const float *a = g->a;
    for (int64_t nn = p0; nn < p1; nn++) {
        const uint8_t *qw = g->w + (size_t)nn * (size_t)k;
        for (int64_t c = 0; c < k; c++)
            wf[c] = table[qw[c]];
        for (int64_t i = m0; i < m1; i++) {
            float v = dot(a + (size_t)i * (size_t)k, wf, k) * g->sa[i] * g->sw[nn];
            if (g->bias)
                v += g->bias[nn];
            fp8f_store_float(g->out_dtype, (char *)g->out +
                             (size_t)i * (size_t)g->out_stride * fp8f_dtype_size(g->out_dtype),
                             nn, v);
        }
    }
}

const struct cpu_kernels fp8f_cpu_kernels_generic = {
    .name = "generic",
    .gemm_name = "generic f32 (table decode, plain layout)",
    .row_add_ss = g_row_add_ss,
    .row_norm = g_row_norm,
    .row_amax = g_row_amax,
    .row_encode = g_row_encode,
    .row_norm_store = g_row_norm_store,
    .nr = 1,
    .split_panels = 64, /* 64 channels */
    .panel_bytes = g_panel_bytes,
    .pack_panel = g_pack_panel,
    .a_row_bytes = g_a_row_bytes,
    .prep_a = g_prep_a,
    .scratch_bytes = g_scratch_bytes,
    .gemm_block = g_gemm_block,
};
