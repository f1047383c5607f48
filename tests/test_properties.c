/*
 * Property suite (issue 7), on the CPU backend with host buffers that carry
 * guard bytes (tests/fuzz/guard.h, poisoned under ASan):
 *
 *  - every error status an operation can return (INVALID, FORMAT,
 *    UNSUPPORTED, NOMEM, BACKEND) leaves every output, the residual, every
 *    input, the guards and the output structs byte-identical, and sets a
 *    message;
 *  - a byte extent rows * stride * sizeof(dtype) above INT64_MAX (also
 *    where rows * stride alone wraps) is FP8F_E_INVALID for every tensor
 *    role, and one right at the limit is accepted;
 *  - huge but valid shapes whose scratch cannot be allocated are
 *    FP8F_E_NOMEM (including sizes whose product wraps size_t), never a
 *    crash, and the context keeps working afterwards;
 *  - a successful call writes only the elements of its outputs: row
 *    padding, guards and inputs are untouched;
 *  - NaN and Inf in a row change only that row's outputs.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"
#include "fuzz/guard.h"

/* Huge allocations must come back as NULL (the library then reports
 * FP8F_E_NOMEM), as any allocator does, not as an ASan report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define REQUIRE(expr, ...)                                                                     \
    do {                                                                                       \
        if (!(expr))                                                                           \
            ck_assert_msg(expr, __VA_ARGS__);                                                  \
    } while (0)

enum { M = 5, H = 24, N = 7 }; /* rows, hidden size (= K), out features */

static uint64_t rng = 0x1234567887654321ull;

static uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float small_value(void) { return (float)((int)(fg_rand(&rng) % 801) - 400) / 100.0f; }

static void fill_bf16(fg_buf *b) {
    for (size_t i = 0; i + 2 <= b->len; i += 2) {
        uint16_t h = bf16_of(small_value());
        memcpy(b->data + i, &h, 2);
    }
}

static void fill_f32(fg_buf *b, float lo) {
    for (size_t i = 0; i + 4 <= b->len; i += 4) {
        float f = lo > 0 ? lo + fabsf(small_value()) : small_value();
        memcpy(b->data + i, &f, 4);
    }
}

/* fp8 codes that are finite in both e4m3 types and not 240 in fnuz. */
static void fill_codes(fg_buf *b) {
    for (size_t i = 0; i < b->len; i++) {
        uint8_t c = (uint8_t)(fg_rand(&rng) >> 56) & 0xf7u; /* exponent < 15 */
        b->data[i] = c == 0x80u ? 0 : c;
    }
}

static size_t bytes_of(int64_t rows, int64_t stride, size_t elem) {
    return (size_t)rows * (size_t)stride * elem;
}

/* ---- the scene: one valid call of every operation ------------------------ */

enum op { OP_RMSNORM, OP_QUANT, OP_NORM_QUANT, OP_PREPARE, OP_WEIGHT, OP_LINEAR, N_OPS };
static const char *const op_names[] = {"fp8f_rmsnorm",    "fp8f_quant_per_token",
                                       "fp8f_rmsnorm_quant", "fp8f_prepare",
                                       "fp8f_weight_create", "fp8f_linear_ptpc"};

typedef struct scene {
    fp8f_ctx *ctx, *ctx_fnuz;
    /* buffers */
    fg_buf bx, bres, bnw, bout, bq, bscale, bwq, bwscale, bbias, bact, bqa, bqas, bgout, bsmall;
    fg_buf *all[14];
    /* arguments */
    fp8f_tensor x, res, nw, out, wq, bias, gout;
    fp8f_qtensor qo;
    fp8f_act act;
    fp8f_weight *w, *w_fnuz, *w_k1; /* on ctx, on ctx_fnuz, and a 1 x 1 one on ctx */
    float eps, ub;
    int fmt;
    fp8f_act act_out;     /* fp8f_prepare's out (sentinel bytes) */
    fp8f_weight *new_w;   /* fp8f_weight_create's out (sentinel) */
    /* what is passed (a mutation may set any of these to NULL) */
    fp8f_ctx *pctx;
    const fp8f_tensor *px, *pnw, *pwq, *pbias;
    fp8f_tensor *pres, *pout, *pgout;
    fp8f_qtensor *pqo, *pquant_buf;
    const float *pub, *pwscale;
    fp8f_act *pact_out;
    const fp8f_act *pact;
    const fp8f_weight *pw;
    fp8f_weight **pnew_w;
} scene;

static void buf(fg_buf *b, size_t len) { ck_assert_msg(fg_alloc(b, len), "out of memory"); }

static fp8f_ctx *cpu_ctx(fp8f_dtype fp8, int threads) {
    fp8f_ctx *c = NULL;
    fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = threads, .fp8_dtype = fp8};
    fp8f_status s = fp8f_ctx_create(&o, &c);
    ck_assert_msg(s == FP8F_OK, "CPU context: %s", fp8f_last_error(NULL));
    return c;
}

static fp8f_weight *make_weight(fp8f_ctx *ctx, fp8f_dtype fp8, int64_t n, int64_t k) {
    fg_buf q, sc;
    buf(&q, (size_t)(n * k));
    buf(&sc, (size_t)n * 4);
    fill_codes(&q);
    fill_f32(&sc, 0.01f);
    fp8f_tensor t = {q.data, fp8, n, k, k};
    fp8f_weight *w = NULL;
    fp8f_status s = fp8f_weight_create(ctx, &t, (const float *)(void *)sc.data, NULL, &w);
    ck_assert_msg(s == FP8F_OK, "weight: %s", fp8f_last_error(ctx));
    fg_free(&q);
    fg_free(&sc);
    return w;
}

static void scene_init(scene *s) {
    memset(s, 0, sizeof *s);
    s->ctx = cpu_ctx(FP8F_E4M3FN, 2);
    s->ctx_fnuz = cpu_ctx(FP8F_E4M3FNUZ, 2);
    const int64_t xs = H + 3, os = H + 1, qs = H + 2, gs = N + 2;
    buf(&s->bx, bytes_of(M, xs, 2));
    buf(&s->bres, bytes_of(M, xs, 2));
    buf(&s->bnw, bytes_of(1, H, 4));
    buf(&s->bout, bytes_of(M, os, 4));
    buf(&s->bq, bytes_of(M, qs, 1));
    buf(&s->bscale, M * 4);
    buf(&s->bwq, bytes_of(N, H, 1));
    buf(&s->bwscale, N * 4);
    buf(&s->bbias, bytes_of(1, N, 4));
    buf(&s->bact, bytes_of(M, H, 2));
    buf(&s->bqa, bytes_of(M, H, 1));
    buf(&s->bqas, M * 4);
    buf(&s->bgout, bytes_of(M, gs, 4));
    buf(&s->bsmall, 64); /* the data of huge tensors: must never be touched */
    fg_buf *all[] = {&s->bx,  &s->bres,    &s->bnw,   &s->bout, &s->bq,  &s->bscale, &s->bwq,
                     &s->bwscale, &s->bbias, &s->bact, &s->bqa,  &s->bqas, &s->bgout, &s->bsmall};
    memcpy(s->all, all, sizeof all);
    for (int i = 0; i < 14; i++)
        fg_fill_random(s->all[i], &rng); /* outputs: arbitrary bytes */
    fill_bf16(&s->bx);
    fill_bf16(&s->bres);
    fill_f32(&s->bnw, 0.5f);
    fill_codes(&s->bwq);
    fill_f32(&s->bwscale, 0.01f);
    fill_f32(&s->bbias, 0);
    fill_bf16(&s->bact);
    fill_codes(&s->bqa);
    fill_f32(&s->bqas, 0.01f);

    s->x = (fp8f_tensor){s->bx.data, FP8F_BF16, M, H, xs};
    s->res = (fp8f_tensor){s->bres.data, FP8F_BF16, M, H, xs};
    s->nw = (fp8f_tensor){s->bnw.data, FP8F_F32, 1, H, H};
    s->out = (fp8f_tensor){s->bout.data, FP8F_F32, M, H, os};
    s->qo = (fp8f_qtensor){{s->bq.data, FP8F_E4M3FN, M, H, qs}, (float *)(void *)s->bscale.data,
                           FP8F_QF_NONE};
    s->wq = (fp8f_tensor){s->bwq.data, FP8F_E4M3FN, N, H, H};
    s->bias = (fp8f_tensor){s->bbias.data, FP8F_F32, 1, N, N};
    s->gout = (fp8f_tensor){s->bgout.data, FP8F_F32, M, N, gs};
    s->act = (fp8f_act){.kind = FP8F_ACT_DENSE, .dense = {s->bact.data, FP8F_BF16, M, H, H}};
    s->act.quant = (fp8f_qtensor){{s->bqa.data, FP8F_E4M3FN, M, H, H},
                                  (float *)(void *)s->bqas.data, FP8F_QF_FP8_PER_TOKEN};
    s->w = make_weight(s->ctx, FP8F_E4M3FN, N, H);
    s->w_fnuz = make_weight(s->ctx_fnuz, FP8F_E4M3FNUZ, N, H);
    s->w_k1 = make_weight(s->ctx, FP8F_E4M3FN, 1, 1);
    s->eps = 1e-6f;
    s->ub = 4.0f;
    s->fmt = FP8F_QF_FP8_PER_TOKEN;
    memset(&s->act_out, 0x5c, sizeof s->act_out);
    s->new_w = (fp8f_weight *)(uintptr_t)0x5c5c5c5c;

    s->pctx = s->ctx;
    s->px = &s->x;
    s->pres = &s->res;
    s->pnw = &s->nw;
    s->pout = &s->out;
    s->pqo = &s->qo;
    s->pquant_buf = NULL;
    s->pub = NULL;
    s->pact_out = &s->act_out;
    s->pwq = &s->wq;
    s->pwscale = (const float *)(void *)s->bwscale.data;
    s->pbias = &s->bias;
    s->pnew_w = &s->new_w;
    s->pact = &s->act;
    s->pw = s->w;
    s->pgout = &s->gout;
}

static void scene_free(scene *s) {
    if (s->new_w && s->new_w != (fp8f_weight *)(uintptr_t)0x5c5c5c5c)
        fp8f_weight_destroy(s->new_w);
    fp8f_weight_destroy(s->w);
    fp8f_weight_destroy(s->w_fnuz);
    fp8f_weight_destroy(s->w_k1);
    fp8f_ctx_destroy(s->ctx);
    fp8f_ctx_destroy(s->ctx_fnuz);
    for (int i = 0; i < 14; i++)
        fg_free(s->all[i]);
}

static fp8f_status call(scene *s, enum op op) {
    switch (op) {
    case OP_RMSNORM:
        return fp8f_rmsnorm(s->pctx, s->px, s->pres, s->pnw, s->eps, s->pout);
    case OP_QUANT:
        return fp8f_quant_per_token(s->pctx, s->px, s->pub, s->pqo);
    case OP_NORM_QUANT:
        return fp8f_rmsnorm_quant(s->pctx, s->px, s->pres, s->pnw, s->eps, s->pub, s->pqo);
    case OP_PREPARE:
        return fp8f_prepare(s->pctx, (fp8f_quant_format)s->fmt, s->px, s->pres, s->pnw, s->eps,
                            s->pout, s->pquant_buf, s->pact_out);
    case OP_WEIGHT:
        return fp8f_weight_create(s->pctx, s->pwq, s->pwscale, s->pbias, s->pnew_w);
    case OP_LINEAR:
        return fp8f_linear_ptpc(s->pctx, s->pact, s->pw, s->pgout);
    default:
        return FP8F_E_INVALID;
    }
}

/* ---- the error table ------------------------------------------------------- */

#define HUGE_M ((int64_t)150000000000000000) /* valid M for the GEMM; scratch ~4e18 B */
#define WRAP_M ((int64_t)3689348814741910324) /* M * (K + 4) = 2^64 + 4 for K = 1 */

typedef struct ecase {
    enum op op;
    const char *name;
    fp8f_status want;
    void (*mutate)(scene *s);
} ecase;

/* Each mutation breaks exactly one rule of DESIGN.md. */
#define MUT(fn, body)                                                                          \
    static void fn(scene *s) { body; }
MUT(m_ctx_null, s->pctx = NULL)
MUT(m_x_null, s->px = NULL)
MUT(m_x_fp8, s->x.dtype = FP8F_E4M3FN)
MUT(m_x_unknown, s->x.dtype = (fp8f_dtype)99)
MUT(m_x_rows_neg, s->x.rows = -1)
MUT(m_x_cols0, s->x.cols = 0)
MUT(m_x_stride, s->x.stride = s->x.cols - 1)
MUT(m_x_data_null, s->x.data = NULL)
MUT(m_x_bytes_over, s->x.rows = INT64_MAX / (s->x.stride * 2) + 1)
MUT(m_x_rows_stride_wrap, (s->x.rows = (int64_t)1 << 32, s->x.stride = (int64_t)1 << 32))
MUT(m_res_rows, s->res.rows = M + 1)
MUT(m_res_dtype, s->res.dtype = FP8F_F16)
MUT(m_res_stride_over, s->res.stride = INT64_MAX)
MUT(m_nw_rows, s->nw.rows = 2)
MUT(m_nw_cols, (s->nw.cols = H + 1, s->nw.stride = H + 1))
MUT(m_nw_fp8, s->nw.dtype = FP8F_E4M3FNUZ)
MUT(m_eps_zero, s->eps = 0.0f)
MUT(m_eps_neg, s->eps = -1e-6f)
MUT(m_eps_nan, s->eps = NAN)
MUT(m_eps_inf, s->eps = INFINITY)
MUT(m_out_null, s->pout = NULL)
MUT(m_out_cols, s->out.cols = H - 1)
MUT(m_out_fp8, s->out.dtype = FP8F_E4M3FN)
MUT(m_out_bytes_over, s->out.stride = INT64_MAX / 4 / M + 1)
MUT(m_q_null, s->pqo = NULL)
MUT(m_q_bf16, s->qo.q.dtype = FP8F_BF16)
MUT(m_q_rows, s->qo.q.rows = M - 1)
MUT(m_q_scale_null, s->qo.scale = NULL)
MUT(m_q_bytes_over, s->qo.q.stride = INT64_MAX / 2)
static float bad_ub[4] = {0.0f, -1.0f, NAN, INFINITY};
MUT(m_ub_zero, s->pub = &bad_ub[0])
MUT(m_ub_neg, s->pub = &bad_ub[1])
MUT(m_ub_nan, s->pub = &bad_ub[2])
MUT(m_ub_inf, s->pub = &bad_ub[3])
MUT(m_fmt_unknown, s->fmt = 5)
MUT(m_act_out_null, s->pact_out = NULL)
MUT(m_wout_null, s->pnew_w = NULL)
MUT(m_wq_null, s->pwq = NULL)
MUT(m_wq_bf16, s->wq.dtype = FP8F_BF16)
MUT(m_wq_rows0, s->wq.rows = 0)
MUT(m_wq_bytes_over, (s->wq.rows = 2, s->wq.stride = INT64_MAX / 2 + 1))
MUT(m_wscale_null, s->pwscale = NULL)
MUT(m_bias_rows, s->bias.rows = 2)
MUT(m_bias_cols, (s->bias.cols = N + 1, s->bias.stride = N + 1))
MUT(m_bias_fp8, s->bias.dtype = FP8F_E4M3FN)
MUT(m_wq_fnuz_240, (s->wq.dtype = FP8F_E4M3FNUZ, s->bwq.data[N * H - 1] = 0xff))
MUT(m_wq_huge, (s->wq = (fp8f_tensor){s->bsmall.data, FP8F_E4M3FN, 2, (int64_t)1 << 61,
                                      (int64_t)1 << 61},
                s->pbias = NULL))
MUT(m_w_null, s->pw = NULL)
MUT(m_w_other_ctx, s->pw = s->w_fnuz)
MUT(m_act_null, s->pact = NULL)
MUT(m_act_kind, s->act.kind = (fp8f_act_kind)5)
MUT(m_act_cols, (s->act.dense.cols = H + 1, s->act.dense.stride = H + 1))
MUT(m_act_fp8, s->act.dense.dtype = FP8F_E4M3FN)
MUT(m_act_bytes_over, s->act.dense.rows = INT64_MAX / (2 * H) + 1)
MUT(m_gout_null, s->pgout = NULL)
MUT(m_gout_rows, s->gout.rows = M + 1)
MUT(m_gout_cols, s->gout.cols = N - 1)
MUT(m_gout_fp8, s->gout.dtype = FP8F_E4M3FN)
MUT(m_qact_format_unknown, (s->act.kind = FP8F_ACT_QUANTIZED, s->act.quant.format = 9))
MUT(m_qact_scale_null, (s->act.kind = FP8F_ACT_QUANTIZED, s->act.quant.scale = NULL))
MUT(m_qact_format_none, (s->act.kind = FP8F_ACT_QUANTIZED, s->act.quant.format = FP8F_QF_NONE))
MUT(m_qact_fnuz, (s->act.kind = FP8F_ACT_QUANTIZED, s->act.quant.q.dtype = FP8F_E4M3FNUZ))
MUT(m_qact_ok, s->act.kind = FP8F_ACT_QUANTIZED)
/* Huge M, valid: the activation and out are M rows (their data is a small
 * buffer that must never be touched), scratch cannot be allocated. */
MUT(m_act_huge_m, (s->act.dense = (fp8f_tensor){s->bsmall.data, FP8F_BF16, HUGE_M, H, H},
                   s->gout = (fp8f_tensor){s->bsmall.data, FP8F_BF16, HUGE_M, N, N}))
/* The same where M * (K + 4) wraps around size_t to 4 bytes. */
MUT(m_act_wrap_m, (s->pw = s->w_k1,
                   s->act.dense = (fp8f_tensor){s->bsmall.data, FP8F_BF16, WRAP_M, 1, 1},
                   s->gout = (fp8f_tensor){s->bsmall.data, FP8F_BF16, WRAP_M, 1, 1}))

/* The norm-input rules, for each operation that reads them. */
#define NORM_CASES(op)                                                                         \
    {op, "ctx NULL", FP8F_E_INVALID, m_ctx_null}, {op, "x NULL", FP8F_E_INVALID, m_x_null},     \
        {op, "x fp8", FP8F_E_INVALID, m_x_fp8}, {op, "x dtype 99", FP8F_E_INVALID, m_x_unknown}, \
        {op, "x rows -1", FP8F_E_INVALID, m_x_rows_neg},                                        \
        {op, "x cols 0", FP8F_E_INVALID, m_x_cols0},                                            \
        {op, "x stride < cols", FP8F_E_INVALID, m_x_stride},                                    \
        {op, "x data NULL", FP8F_E_INVALID, m_x_data_null},                                     \
        {op, "x bytes > INT64_MAX", FP8F_E_INVALID, m_x_bytes_over},                            \
        {op, "x rows*stride wraps", FP8F_E_INVALID, m_x_rows_stride_wrap},                      \
        {op, "eps 0", FP8F_E_INVALID, m_eps_zero}, {op, "eps < 0", FP8F_E_INVALID, m_eps_neg},  \
        {op, "eps NaN", FP8F_E_INVALID, m_eps_nan}, {op, "eps Inf", FP8F_E_INVALID, m_eps_inf}, \
        {op, "residual rows", FP8F_E_INVALID, m_res_rows},                                      \
        {op, "residual dtype", FP8F_E_INVALID, m_res_dtype},                                    \
        {op, "residual bytes > INT64_MAX", FP8F_E_INVALID, m_res_stride_over},                  \
        {op, "weight 2 rows", FP8F_E_INVALID, m_nw_rows},                                       \
        {op, "weight H+1 cols", FP8F_E_INVALID, m_nw_cols},                                     \
        {op, "weight fp8", FP8F_E_INVALID, m_nw_fp8}

#define QOUT_CASES(op)                                                                         \
    {op, "out NULL", FP8F_E_INVALID, m_q_null}, {op, "out.q bf16", FP8F_E_INVALID, m_q_bf16},   \
        {op, "out.q rows", FP8F_E_INVALID, m_q_rows},                                           \
        {op, "out.scale NULL", FP8F_E_INVALID, m_q_scale_null},                                 \
        {op, "out.q bytes > INT64_MAX", FP8F_E_INVALID, m_q_bytes_over},                        \
        {op, "scale_ub 0", FP8F_E_INVALID, m_ub_zero},                                          \
        {op, "scale_ub < 0", FP8F_E_INVALID, m_ub_neg},                                         \
        {op, "scale_ub NaN", FP8F_E_INVALID, m_ub_nan},                                         \
        {op, "scale_ub Inf", FP8F_E_INVALID, m_ub_inf}

static const ecase cases[] = {
    NORM_CASES(OP_RMSNORM),
    {OP_RMSNORM, "out NULL", FP8F_E_INVALID, m_out_null},
    {OP_RMSNORM, "out cols", FP8F_E_INVALID, m_out_cols},
    {OP_RMSNORM, "out fp8", FP8F_E_INVALID, m_out_fp8},
    {OP_RMSNORM, "out bytes > INT64_MAX", FP8F_E_INVALID, m_out_bytes_over},

    {OP_QUANT, "ctx NULL", FP8F_E_INVALID, m_ctx_null},
    {OP_QUANT, "x NULL", FP8F_E_INVALID, m_x_null},
    {OP_QUANT, "x bytes > INT64_MAX", FP8F_E_INVALID, m_x_bytes_over},
    {OP_QUANT, "x rows*stride wraps", FP8F_E_INVALID, m_x_rows_stride_wrap},
    QOUT_CASES(OP_QUANT),

    NORM_CASES(OP_NORM_QUANT),
    QOUT_CASES(OP_NORM_QUANT),

    NORM_CASES(OP_PREPARE),
    {OP_PREPARE, "fmt 5", FP8F_E_INVALID, m_fmt_unknown},
    {OP_PREPARE, "out NULL", FP8F_E_INVALID, m_act_out_null},
    {OP_PREPARE, "dense_buf NULL on the dense path", FP8F_E_INVALID, m_out_null},
    {OP_PREPARE, "dense_buf cols", FP8F_E_INVALID, m_out_cols},
    {OP_PREPARE, "dense_buf bytes > INT64_MAX", FP8F_E_INVALID, m_out_bytes_over},

    {OP_WEIGHT, "ctx NULL", FP8F_E_INVALID, m_ctx_null},
    {OP_WEIGHT, "out NULL", FP8F_E_INVALID, m_wout_null},
    {OP_WEIGHT, "q NULL", FP8F_E_INVALID, m_wq_null},
    {OP_WEIGHT, "q bf16", FP8F_E_INVALID, m_wq_bf16},
    {OP_WEIGHT, "q 0 rows", FP8F_E_INVALID, m_wq_rows0},
    {OP_WEIGHT, "q bytes > INT64_MAX", FP8F_E_INVALID, m_wq_bytes_over},
    {OP_WEIGHT, "scale NULL", FP8F_E_INVALID, m_wscale_null},
    {OP_WEIGHT, "bias 2 rows", FP8F_E_INVALID, m_bias_rows},
    {OP_WEIGHT, "bias N+1 cols", FP8F_E_INVALID, m_bias_cols},
    {OP_WEIGHT, "bias fp8", FP8F_E_INVALID, m_bias_fp8},
    {OP_WEIGHT, "fnuz 240 on an e4m3fn context", FP8F_E_FORMAT, m_wq_fnuz_240},
    {OP_WEIGHT, "2 x 2^61 weight", FP8F_E_NOMEM, m_wq_huge},

    {OP_LINEAR, "ctx NULL", FP8F_E_INVALID, m_ctx_null},
    {OP_LINEAR, "weight NULL", FP8F_E_INVALID, m_w_null},
    {OP_LINEAR, "weight of another context", FP8F_E_INVALID, m_w_other_ctx},
    {OP_LINEAR, "activation NULL", FP8F_E_INVALID, m_act_null},
    {OP_LINEAR, "activation kind 5", FP8F_E_INVALID, m_act_kind},
    {OP_LINEAR, "activation K+1 cols", FP8F_E_INVALID, m_act_cols},
    {OP_LINEAR, "activation fp8 dense", FP8F_E_INVALID, m_act_fp8},
    {OP_LINEAR, "activation bytes > INT64_MAX", FP8F_E_INVALID, m_act_bytes_over},
    {OP_LINEAR, "out NULL", FP8F_E_INVALID, m_gout_null},
    {OP_LINEAR, "out rows", FP8F_E_INVALID, m_gout_rows},
    {OP_LINEAR, "out cols", FP8F_E_INVALID, m_gout_cols},
    {OP_LINEAR, "out fp8", FP8F_E_INVALID, m_gout_fp8},
    {OP_LINEAR, "quantized format 9", FP8F_E_INVALID, m_qact_format_unknown},
    {OP_LINEAR, "quantized scale NULL", FP8F_E_INVALID, m_qact_scale_null},
    {OP_LINEAR, "quantized format none", FP8F_E_FORMAT, m_qact_format_none},
    {OP_LINEAR, "quantized fnuz vs fn weight", FP8F_E_FORMAT, m_qact_fnuz},
    {OP_LINEAR, "quantized on the CPU", FP8F_E_UNSUPPORTED, m_qact_ok},
    {OP_LINEAR, "M = 1.5e17 (scratch too large)", FP8F_E_NOMEM, m_act_huge_m},
    {OP_LINEAR, "M * (K + 4) wraps size_t", FP8F_E_NOMEM, m_act_wrap_m},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static void snapshot_all(scene *s) {
    for (int i = 0; i < 14; i++)
        fg_snapshot(s->all[i]);
}

static const char *const buf_names[] = {"x",     "residual",      "norm weight", "out",
                                        "q",     "scale",         "weight q",    "weight scale",
                                        "bias",  "activation",    "activation q",
                                        "activation scale", "GEMM out", "huge tensors' data"};

START_TEST(error_leaves_everything_untouched) {
    const ecase *c = &cases[_i];
    scene s;
    scene_init(&s);
    /* a plain GEMM first: the context must give the same after the error */
    float gemm[2][M * N];
    fp8f_act act0 = s.act;
    fp8f_tensor gout0 = {gemm[0], FP8F_F32, M, N, N};
    ck_assert_int_eq(fp8f_linear_ptpc(s.ctx, &act0, s.w, &gout0), FP8F_OK);

    c->mutate(&s);
    fp8f_act act_before;
    memcpy(&act_before, &s.act_out, sizeof act_before);
    snapshot_all(&s);
    fp8f_status st = call(&s, c->op);
    ck_assert_msg(st == c->want, "%s, %s: %s, expected %s (%s)", op_names[c->op], c->name,
                  fp8f_status_str(st), fp8f_status_str(c->want), fp8f_last_error(s.pctx));
    const char *msg = fp8f_last_error(s.pctx);
    ck_assert_msg(msg && msg[0], "%s, %s: no message", op_names[c->op], c->name);
    for (int i = 0; i < 14; i++) {
        int found;
        ptrdiff_t at = fg_first_change(s.all[i], &found);
        ck_assert_msg(!found, "%s, %s (%s): '%s' changed at byte %td", op_names[c->op], c->name,
                      fp8f_status_str(st), buf_names[i], at);
    }
    ck_assert_msg(!memcmp(&act_before, &s.act_out, sizeof act_before), "%s: *out written",
                  c->name);
    ck_assert_msg(s.new_w == (fp8f_weight *)(uintptr_t)0x5c5c5c5c, "%s: *out weight written",
                  c->name);

    gout0.data = gemm[1];
    ck_assert_int_eq(fp8f_linear_ptpc(s.ctx, &act0, s.w, &gout0), FP8F_OK);
    ck_assert_msg(!memcmp(gemm[0], gemm[1], sizeof gemm[0]), "after %s: the GEMM differs",
                  c->name);
    scene_free(&s);
}
END_TEST

/* The valid call writes only its outputs' elements. */
START_TEST(success_writes_only_output_elements) {
    const enum op op = (enum op)_i;
    scene s;
    scene_init(&s);
    if (op == OP_RMSNORM || op == OP_NORM_QUANT || op == OP_PREPARE)
        s.pub = NULL;
    if (op == OP_QUANT || op == OP_NORM_QUANT)
        s.pub = &s.ub;
    snapshot_all(&s);
    fp8f_status st = call(&s, op);
    ck_assert_msg(st == FP8F_OK, "%s: %s", op_names[op], fp8f_last_error(s.ctx));
    /* what each operation may write */
    struct writable {
        fg_buf *b;
        const fp8f_tensor *t;
        size_t elem;
    } w[3] = {{0}};
    fp8f_tensor scale_t = {s.bscale.data, FP8F_F32, 1, M, M};
    int nw = 0;
    if (op == OP_RMSNORM || op == OP_PREPARE) {
        w[nw++] = (struct writable){&s.bout, &s.out, 4};
        w[nw++] = (struct writable){&s.bres, &s.res, 2};
    }
    if (op == OP_NORM_QUANT)
        w[nw++] = (struct writable){&s.bres, &s.res, 2};
    if (op == OP_QUANT || op == OP_NORM_QUANT) {
        w[nw++] = (struct writable){&s.bq, &s.qo.q, 1};
        w[nw++] = (struct writable){&s.bscale, &scale_t, 4};
    }
    if (op == OP_LINEAR)
        w[nw++] = (struct writable){&s.bgout, &s.gout, 4};
    for (int i = 0; i < 14; i++) {
        int found = 0, j;
        ptrdiff_t at;
        for (j = 0; j < nw && w[j].b != s.all[i]; j++)
            ;
        if (j < nw)
            at = fg_changed_outside(s.all[i], w[j].t->rows, w[j].t->cols, w[j].t->stride,
                                    w[j].elem, &found);
        else
            at = fg_first_change(s.all[i], &found);
        ck_assert_msg(!found, "%s: '%s' changed at byte %td, outside what it may write",
                      op_names[op], buf_names[i], at);
    }
    if (op == OP_QUANT || op == OP_NORM_QUANT)
        ck_assert_int_eq(s.qo.format, FP8F_QF_FP8_PER_TOKEN);
    if (op == OP_PREPARE)
        ck_assert_int_eq(s.act_out.kind, FP8F_ACT_DENSE); /* the CPU takes the dense path */
    scene_free(&s);
}
END_TEST

/* ---- extents at the int64 limit ------------------------------------------- */

/* One row with the largest stride whose extent fits: accepted, and only
 * row 0 is read or written (the buffers hold just that row). Past the
 * limit by one element: refused. For every dtype size of the float roles. */
START_TEST(extent_limit_one_row) {
    static const fp8f_dtype types[] = {FP8F_F32, FP8F_BF16, FP8F_F16};
    fp8f_ctx *ctx = cpu_ctx(FP8F_E4M3FN, 1);
    for (int ti = 0; ti < 3; ti++) {
        fp8f_dtype t = types[ti];
        int64_t es = t == FP8F_F32 ? 4 : 2;
        fg_buf bx, bo;
        buf(&bx, (size_t)(H * es));
        buf(&bo, (size_t)(H * es));
        fill_f32(&bx, 0.5f); /* any bits: only the status matters here */
        if (t != FP8F_F32)
            fill_bf16(&bx);
        float wv[H];
        for (int i = 0; i < H; i++)
            wv[i] = 1.0f;
        fp8f_tensor w = {wv, FP8F_F32, 1, H, H};
        for (int over = 0; over < 2; over++) {
            int64_t stride = INT64_MAX / es + over;
            fp8f_tensor x = {bx.data, t, 1, H, stride}, o = {bo.data, t, 1, H, stride};
            fg_snapshot(&bx);
            fg_snapshot(&bo);
            fp8f_status s = fp8f_rmsnorm(ctx, &x, NULL, &w, 1e-6f, &o);
            ck_assert_msg(s == (over ? FP8F_E_INVALID : FP8F_OK),
                          "dtype %d stride %lld: %s (%s)", (int)t, (long long)stride,
                          fp8f_status_str(s), fp8f_last_error(ctx));
            int found;
            fg_changed_outside(&bo, 1, H, H, (size_t)es, &found);
            ck_assert_msg(!found, "wrote outside row 0");
            ck_assert_msg(!fg_changed(&bx), "x changed");
            if (over)
                ck_assert_msg(!fg_changed(&bo), "out changed on error");
        }
        fg_free(&bx);
        fg_free(&bo);
    }
    /* fp8: a 1 x 1 weight with stride INT64_MAX is valid; 2 rows of
     * INT64_MAX / 2 + 1 are not. */
    uint8_t code = 0x38; /* 1.0 */
    float sc = 1.0f;
    fp8f_weight *w = NULL;
    fp8f_tensor q = {&code, FP8F_E4M3FN, 1, 1, INT64_MAX};
    ck_assert_int_eq(fp8f_weight_create(ctx, &q, &sc, NULL, &w), FP8F_OK);
    q = (fp8f_tensor){&code, FP8F_E4M3FN, 2, 1, INT64_MAX / 2 + 1};
    fp8f_weight *w2 = (fp8f_weight *)(uintptr_t)0x5c5c5c5c;
    ck_assert_int_eq(fp8f_weight_create(ctx, &q, &sc, NULL, &w2), FP8F_E_INVALID);
    ck_assert_ptr_eq(w2, (fp8f_weight *)(uintptr_t)0x5c5c5c5c);
    /* and the GEMM through a one-row activation with a huge stride */
    float a = 3.0f, out = 0.0f;
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = {&a, FP8F_F32, 1, 1, INT64_MAX / 4}};
    fp8f_tensor ot = {&out, FP8F_F32, 1, 1, INT64_MAX / 4};
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &ot), FP8F_OK);
    ck_assert_msg(fabsf(out - 3.0f) < 0.1f, "1x1 GEMM gave %g", (double)out);
    act.dense.stride = INT64_MAX / 4 + 1;
    out = -1.0f;
    ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &ot), FP8F_E_INVALID);
    ck_assert(out == -1.0f);
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Many rows at the limit: the GEMM's activation M x 1 bf16 with
 * M * 2 == the largest even value <= INT64_MAX is valid (its scratch
 * cannot exist: NOMEM), one row more is INVALID. */
START_TEST(extent_limit_many_rows) {
    fp8f_ctx *ctx = cpu_ctx(FP8F_E4M3FN, 1);
    fp8f_weight *w = make_weight(ctx, FP8F_E4M3FN, 1, 1);
    fg_buf small;
    buf(&small, 64);
    for (int over = 0; over < 2; over++) {
        int64_t m = INT64_MAX / 2 + over;
        fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = {small.data, FP8F_BF16, m, 1, 1}};
        fp8f_tensor out = {small.data, FP8F_BF16, m, 1, 1};
        fg_snapshot(&small);
        fp8f_status s = fp8f_linear_ptpc(ctx, &act, w, &out);
        ck_assert_msg(s == (over ? FP8F_E_INVALID : FP8F_E_NOMEM), "M = %lld: %s (%s)",
                      (long long)m, fp8f_status_str(s), fp8f_last_error(ctx));
        ck_assert_msg(!fg_changed(&small), "M = %lld: data touched", (long long)m);
    }
    fg_free(&small);
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* Huge M for a range of K (and of thread counts): NOMEM, never a crash,
 * including every M where M * (K + 4) wraps around 2^64 to a small size. */
START_TEST(huge_gemm_is_nomem) {
    static const int64_t ks[] = {1, 2, 3, 4, 12, 28, 60};
    static const int threads[] = {1, 2, 16};
    fg_buf small;
    buf(&small, 256);
    for (int ti = 0; ti < 3; ti++) {
        fp8f_ctx *ctx = cpu_ctx(FP8F_E4M3FN, threads[ti]);
        for (int ki = 0; ki < 7; ki++) {
            int64_t k = ks[ki];
            fp8f_weight *w = make_weight(ctx, FP8F_E4M3FN, 1, k);
            /* The largest valid M, and the M where M * (k + 4) first passes
             * 2^64 (it wraps to a few bytes) when that M is valid. */
            int64_t ms[2] = {INT64_MAX / (2 * k), 0};
            unsigned __int128 wrap = ((unsigned __int128)1 << 64) / (unsigned)(k + 4) + 1;
            if (wrap <= (unsigned __int128)ms[0])
                ms[1] = (int64_t)wrap;
            for (int mi = 0; mi < 2 && ms[mi]; mi++) {
                int64_t m = ms[mi];
                fp8f_act act = {.kind = FP8F_ACT_DENSE,
                                .dense = {small.data, FP8F_BF16, m, k, k}};
                fp8f_tensor out = {small.data, FP8F_BF16, m, 1, 1};
                fg_snapshot(&small);
                fp8f_status s = fp8f_linear_ptpc(ctx, &act, w, &out);
                ck_assert_msg(s == FP8F_E_NOMEM, "K %lld M %lld: %s (%s)", (long long)k,
                              (long long)m, fp8f_status_str(s), fp8f_last_error(ctx));
                ck_assert_msg(!fg_changed(&small), "K %lld M %lld: data touched", (long long)k,
                              (long long)m);
            }
            fp8f_weight_destroy(w);
        }
        fp8f_ctx_destroy(ctx);
    }
    fg_free(&small);
    /* backend memory: the conveniences refuse sizes that cannot exist */
    fp8f_ctx *ctx = cpu_ctx(FP8F_E4M3FN, 1);
    void *p = (void *)(uintptr_t)0x5c5c5c5c;
    ck_assert_int_eq(fp8f_mem_alloc(ctx, SIZE_MAX, &p), FP8F_E_NOMEM);
    ck_assert_int_eq(fp8f_mem_alloc(ctx, SIZE_MAX / 2 + 1, &p), FP8F_E_NOMEM);
    ck_assert_ptr_eq(p, (void *)(uintptr_t)0x5c5c5c5c);
    ck_assert_int_eq(fp8f_mem_alloc(ctx, 0, &p), FP8F_E_INVALID);
    fp8f_ctx_destroy(ctx);
}
END_TEST

/* options.num_threads beyond what a thread team can be: refused at
 * fp8f_ctx_create (an OpenMP runtime aborts or crashes on such a team). */
START_TEST(num_threads_limit) {
    static const int bad[] = {-1, 1025, 100000, INT_MAX, INT_MIN};
    for (int i = 0; i < 5; i++) {
        fp8f_ctx *c = (fp8f_ctx *)(uintptr_t)0x5c5c5c5c;
        fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = bad[i]};
        ck_assert_msg(fp8f_ctx_create(&o, &c) == FP8F_E_INVALID, "num_threads %d accepted",
                      bad[i]);
        ck_assert_ptr_eq(c, (fp8f_ctx *)(uintptr_t)0x5c5c5c5c);
        ck_assert_msg(fp8f_last_error(NULL)[0] != '\0', "no message");
    }
    fp8f_ctx *c = NULL;
    fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = 1024};
    ck_assert_int_eq(fp8f_ctx_create(&o, &c), FP8F_OK);
    fp8f_ctx_destroy(c);
    /* HIP asked for where there is none: BACKEND, *out untouched */
    if (!fp8f_backend_available(FP8F_BACKEND_HIP)) {
        c = (fp8f_ctx *)(uintptr_t)0x5c5c5c5c;
        o = (fp8f_options){.backend = FP8F_BACKEND_HIP};
        ck_assert_int_eq(fp8f_ctx_create(&o, &c), FP8F_E_BACKEND);
        ck_assert_ptr_eq(c, (fp8f_ctx *)(uintptr_t)0x5c5c5c5c);
        ck_assert_msg(fp8f_last_error(NULL)[0] != '\0', "no message");
    }
}
END_TEST

/* ---- NaN / Inf stay in their row ------------------------------------------ */

static void fill_rows_f32(float *x, int64_t rows, int64_t cols, int poison) {
    uint64_t r = 77;
    for (int64_t i = 0; i < rows * cols; i++)
        x[i] = (float)((int)(fg_rand(&r) % 801) - 400) / 100.0f;
    if (poison) {
        x[1 * cols + 3] = NAN;
        x[3 * cols + 0] = INFINITY;
        x[4 * cols + cols - 1] = -INFINITY;
    }
}

START_TEST(nonfinite_rows_are_isolated) {
    enum { R = 6, C = 33 };
    const int bad_row[R] = {0, 1, 0, 1, 1, 0};
    fp8f_ctx *ctx = cpu_ctx((fp8f_dtype)(_i ? FP8F_E4M3FNUZ : FP8F_E4M3FN), 2);
    fp8f_dtype fp8 = fp8f_ctx_fp8_dtype(ctx);
    float x[2][R * C], res[2][R * C], wv[C], sc[2][R], out[2][R * N], ub = 2.0f;
    uint8_t q[2][R * C];
    for (int i = 0; i < C; i++)
        wv[i] = 0.5f + (float)i / C;
    fp8f_weight *w = make_weight(ctx, fp8, N, C);
    for (int v = 0; v < 2; v++) {
        fill_rows_f32(x[v], R, C, v);
        fill_rows_f32(res[v], R, C, 0);
        fp8f_tensor xt = {x[v], FP8F_F32, R, C, C}, rt = {res[v], FP8F_F32, R, C, C};
        fp8f_tensor wt = {wv, FP8F_F32, 1, C, C};
        fp8f_qtensor qt = {{q[v], fp8, R, C, C}, sc[v], FP8F_QF_NONE};
        ck_assert_int_eq(fp8f_rmsnorm_quant(ctx, &xt, &rt, &wt, 1e-6f, &ub, &qt), FP8F_OK);
        fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = xt};
        fp8f_tensor ot = {out[v], FP8F_F32, R, N, N};
        ck_assert_int_eq(fp8f_linear_ptpc(ctx, &act, w, &ot), FP8F_OK);
    }
    const float floor_ = 1.0f / ((fp8 == FP8F_E4M3FNUZ ? 240.0f : 448.0f) * 512.0f);
    for (int r = 0; r < R; r++) {
        if (bad_row[r]) {
            ck_assert_msg(sc[1][r] >= floor_, "row %d: scale %g below the floor", r,
                          (double)sc[1][r]);
            continue;
        }
        ck_assert_msg(!memcmp(q[0] + r * C, q[1] + r * C, C), "row %d's codes changed", r);
        ck_assert_msg(sc[0][r] == sc[1][r], "row %d's scale changed", r);
        ck_assert_msg(!memcmp(res[0] + r * C, res[1] + r * C, C * 4), "row %d's residual", r);
        ck_assert_msg(!memcmp(out[0] + r * N, out[1] + r * N, N * 4), "row %d's GEMM out", r);
    }
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
}
END_TEST

static Suite *properties_suite(void) {
    Suite *s = suite_create("properties");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, error_leaves_everything_untouched, 0, N_CASES);
    tcase_add_loop_test(tc, success_writes_only_output_elements, 0, N_OPS);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, extent_limit_one_row);
    tcase_add_test(tc, extent_limit_many_rows);
    tcase_add_test(tc, huge_gemm_is_nomem);
    tcase_add_test(tc, num_threads_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("nonfinite");
    tcase_add_loop_test(tc, nonfinite_rows_are_isolated, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(properties_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
