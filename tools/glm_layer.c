#include "glm_layer.h"

#include <stdlib.h>
#include <string.h>

static fp8f_tensor bf16_tensor(void *data, int64_t rows, int64_t cols) {
    return (fp8f_tensor){data, FP8F_BF16, rows, cols, cols};
}

/* Backend buffer of rows x cols bf16 values drawn from N(0, sd^2) + mean. */
static void *random_bf16(fp8f_ctx *ctx, tu_rng *rng, int64_t rows, int64_t cols, float mean,
                         float sd) {
    size_t n = (size_t)(rows * cols);
    uint16_t *h = malloc(n * sizeof *h);
    if (!h)
        tu_check(ctx, FP8F_E_NOMEM, "host buffer");
    for (size_t i = 0; i < n; i++)
        h[i] = tu_f32_to_bf16(mean + sd * tu_rng_normal(rng));
    void *d = tu_upload(ctx, h, n * sizeof *h);
    free(h);
    return d;
}

/* A synthetic N x K fp8 weight: random non-NaN codes of the context's type
 * and per-channel scales that keep outputs of order one. */
static void make_weight(fp8f_ctx *ctx, tu_rng *rng, struct glm_proj *p, const char *name,
                        int64_t n, int64_t k) {
    fp8f_dtype t = fp8f_ctx_fp8_dtype(ctx);
    size_t count = (size_t)(n * k);
    uint8_t *q = malloc(count);
    float *scale = malloc((size_t)n * sizeof *scale);
    if (!q || !scale)
        tu_check(ctx, FP8F_E_NOMEM, "host weight");
    for (size_t i = 0; i < count; i++) {
        uint8_t mag = (uint8_t)(tu_rng_uniform(rng) * 0x60); /* |v| < 16 or 8, no NaN */
        q[i] = (uint8_t)(mag | (tu_rng_uniform(rng) < 0.5f ? 0x80 : 0));
        if (t == FP8F_E4M3FNUZ && q[i] == 0x80)
            q[i] = 0;
    }
    for (int64_t i = 0; i < n; i++)
        scale[i] = (0.5f + tu_rng_uniform(rng)) / (4.0f * (float)k);
    void *dq = tu_upload(ctx, q, count), *ds = tu_upload(ctx, scale, (size_t)n * sizeof *scale);
    fp8f_tensor qt = {dq, t, n, k, k};
    p->name = name;
    p->n = n;
    p->k = k;
    tu_check(ctx, fp8f_weight_create(ctx, &qt, ds, NULL, &p->w), name);
    fp8f_mem_free(ctx, dq); /* the weight holds its own copy */
    fp8f_mem_free(ctx, ds);
    free(q);
    free(scale);
}

void glm_layer_init(struct glm_layer *L, fp8f_ctx *ctx, int64_t m, fp8f_quant_format attn_fmt,
                    fp8f_quant_format mlp_fmt, uint64_t seed) {
    tu_rng rng = {seed | 1};
    memset(L, 0, sizeof *L);
    L->ctx = ctx;
    L->m = m;
    L->attn_fmt = attn_fmt;
    L->mlp_fmt = mlp_fmt;
    make_weight(ctx, &rng, &L->qkv, "self_attn.qkv_proj", GLM_QKV, GLM_HIDDEN);
    make_weight(ctx, &rng, &L->o_proj, "self_attn.o_proj", GLM_HIDDEN, GLM_ATTN_OUT);
    make_weight(ctx, &rng, &L->gate_up, "mlp.gate_up_proj", GLM_GATE_UP, GLM_HIDDEN);
    make_weight(ctx, &rng, &L->down, "mlp.down_proj", GLM_HIDDEN, GLM_MLP);
    L->x = random_bf16(ctx, &rng, m, GLM_HIDDEN, 0.0f, 1.0f);
    L->residual_init = random_bf16(ctx, &rng, m, GLM_HIDDEN, 0.0f, 4.0f);
    L->residual = tu_upload(ctx, NULL, (size_t)(m * GLM_HIDDEN) * 2);
    L->attn_norm_w = random_bf16(ctx, &rng, 1, GLM_HIDDEN, 1.0f, 0.1f);
    L->mlp_norm_w = random_bf16(ctx, &rng, 1, GLM_HIDDEN, 1.0f, 0.1f);
    L->attn_out = random_bf16(ctx, &rng, m, GLM_ATTN_OUT, 0.0f, 1.0f);
    L->mlp_act = random_bf16(ctx, &rng, m, GLM_MLP, 0.0f, 1.0f);
    L->dense_buf = tu_upload(ctx, NULL, (size_t)(m * GLM_HIDDEN) * 2);
    L->q_buf = tu_upload(ctx, NULL, (size_t)(m * GLM_HIDDEN));
    L->scale_buf = tu_upload(ctx, NULL, (size_t)m * sizeof(float));
    L->qkv_out = tu_upload(ctx, NULL, (size_t)(m * GLM_QKV) * 2);
    L->o_out = tu_upload(ctx, NULL, (size_t)(m * GLM_HIDDEN) * 2);
    L->gate_up_out = tu_upload(ctx, NULL, (size_t)(m * GLM_GATE_UP) * 2);
    L->down_out = tu_upload(ctx, NULL, (size_t)(m * GLM_HIDDEN) * 2);
}

void glm_layer_free(struct glm_layer *L) {
    struct glm_proj *projs[] = {&L->qkv, &L->o_proj, &L->gate_up, &L->down};
    void *bufs[] = {L->x, L->residual, L->residual_init, L->attn_norm_w, L->mlp_norm_w,
                    L->dense_buf, L->q_buf, L->scale_buf, L->qkv_out, L->attn_out, L->o_out,
                    L->gate_up_out, L->mlp_act, L->down_out};
    for (size_t i = 0; i < sizeof projs / sizeof *projs; i++)
        fp8f_weight_destroy(projs[i]->w);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        fp8f_mem_free(L->ctx, bufs[i]);
}

/* prepare(x, residual) as an engine does it; returns the path taken. */
static const char *prepare(struct glm_layer *L, fp8f_quant_format fmt, void *x, void *norm_w,
                           fp8f_act *act) {
    fp8f_tensor xt = bf16_tensor(x, L->m, GLM_HIDDEN), rt = bf16_tensor(L->residual, L->m, GLM_HIDDEN);
    fp8f_tensor wt = bf16_tensor(norm_w, 1, GLM_HIDDEN), dense = bf16_tensor(L->dense_buf, L->m, GLM_HIDDEN);
    fp8f_qtensor quant = {{L->q_buf, fp8f_ctx_fp8_dtype(L->ctx), L->m, GLM_HIDDEN, GLM_HIDDEN},
                          L->scale_buf, FP8F_QF_FP8_PER_TOKEN};
    tu_check(L->ctx, fp8f_prepare(L->ctx, fmt, &xt, &rt, &wt, 1e-5f, &dense, &quant, act),
             "fp8f_prepare");
    return act->kind == FP8F_ACT_QUANTIZED ? "fused" : "dense";
}

static void linear(struct glm_layer *L, const struct glm_proj *p, const fp8f_act *act, void *out) {
    fp8f_tensor ot = bf16_tensor(out, L->m, p->n);
    tu_check(L->ctx, fp8f_linear_ptpc(L->ctx, act, p->w, &ot), p->name);
}

static fp8f_act dense_act(void *data, int64_t m, int64_t k) {
    return (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = bf16_tensor(data, m, k)};
}

static double gemm_bytes(const struct glm_layer *L, const struct glm_proj *p) {
    return (double)(p->n * p->k) + 2.0 * (double)(L->m * (p->k + p->n));
}

void glm_layer_run(struct glm_layer *L, int force_dense, struct glm_step_result res[GLM_STEPS]) {
    fp8f_ctx *ctx = L->ctx;
    const double m = (double)L->m, norm_bytes = m * GLM_HIDDEN * (2 + 2 + 2 + 1);
    fp8f_act act;
    size_t res_bytes = (size_t)(L->m * GLM_HIDDEN) * 2;
    if (res_bytes) {
        uint16_t *h = malloc(res_bytes);
        if (!h)
            tu_check(ctx, FP8F_E_NOMEM, "host buffer");
        tu_check(ctx, fp8f_mem_download(ctx, h, L->residual_init, res_bytes), "download");
        tu_check(ctx, fp8f_mem_upload(ctx, L->residual, h, res_bytes), "upload");
        free(h);
    }
    tu_check(ctx, fp8f_ctx_sync(ctx), "sync");

#define STEP(i, label, path_expr, nbytes, nflops)                                              \
    do {                                                                                       \
        double t0_ = tu_now();                                                                 \
        const char *path_ = (path_expr);                                                       \
        tu_check(ctx, fp8f_ctx_sync(ctx), "sync");                                             \
        res[i] = (struct glm_step_result){label, path_, tu_now() - t0_, nbytes, nflops};       \
    } while (0)

    fp8f_quant_format attn = force_dense ? FP8F_QF_NONE : L->attn_fmt;
    fp8f_quant_format mlp = force_dense ? FP8F_QF_NONE : L->mlp_fmt;
    STEP(0, "prepare (attn)", prepare(L, attn, L->x, L->attn_norm_w, &act), norm_bytes, 0);
    STEP(1, "qkv_proj", (linear(L, &L->qkv, &act, L->qkv_out), "gemm"),
         gemm_bytes(L, &L->qkv), 2.0 * m * GLM_QKV * GLM_HIDDEN);
    fp8f_act attn_act = dense_act(L->attn_out, L->m, GLM_ATTN_OUT);
    STEP(2, "o_proj", (linear(L, &L->o_proj, &attn_act, L->o_out), "gemm"),
         gemm_bytes(L, &L->o_proj), 2.0 * m * GLM_HIDDEN * GLM_ATTN_OUT);
    STEP(3, "prepare (mlp)", prepare(L, mlp, L->o_out, L->mlp_norm_w, &act), norm_bytes, 0);
    STEP(4, "gate_up_proj", (linear(L, &L->gate_up, &act, L->gate_up_out), "gemm"),
         gemm_bytes(L, &L->gate_up), 2.0 * m * GLM_GATE_UP * GLM_HIDDEN);
    fp8f_act mlp_act = dense_act(L->mlp_act, L->m, GLM_MLP);
    STEP(5, "down_proj", (linear(L, &L->down, &mlp_act, L->down_out), "gemm"),
         gemm_bytes(L, &L->down), 2.0 * m * GLM_HIDDEN * GLM_MLP);
#undef STEP
}

size_t glm_layer_outputs_len(const struct glm_layer *L) {
    return (size_t)(L->m * (GLM_QKV + GLM_GATE_UP + GLM_HIDDEN));
}

void glm_layer_outputs(const struct glm_layer *L, float *host) {
    const struct { void *data; int64_t cols; } outs[] = {
        {L->qkv_out, GLM_QKV}, {L->gate_up_out, GLM_GATE_UP}, {L->down_out, GLM_HIDDEN}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = (size_t)(L->m * outs[i].cols);
        uint16_t *h = malloc(n * sizeof *h + 1);
        if (!h)
            tu_check(L->ctx, FP8F_E_NOMEM, "host buffer");
        if (n)
            tu_check(L->ctx, fp8f_mem_download(L->ctx, h, outs[i].data, n * 2), "download");
        for (size_t j = 0; j < n; j++)
            *host++ = tu_bf16_to_f32(h[j]);
        free(h);
    }
}
