/*
 * libFuzzer harness: argument validation of every public entry point.
 *
 * Each input is a short program of calls (up to 8) on two contexts (e4m3fn
 * and e4m3fnuz) and up to two weights. Every call gets random shapes,
 * strides, dtypes, enum values, NULLs, eps / scale_ub values and flags,
 * with real buffers sized from the shapes (the smallest extent a caller may
 * pass: (rows - 1) * stride + cols elements) and guard bytes around each.
 *
 * The harness checks the contract, not only the absence of a crash:
 *  - the status is the one DESIGN.md's validation rules give (an
 *    independent model of the rules below: INVALID, then FORMAT, then
 *    UNSUPPORTED; OK otherwise), and a failure leaves a message;
 *  - a call that fails leaves every buffer it was given (outputs, the
 *    residual, inputs, guards) and every output struct byte-identical;
 *  - a call that succeeds writes only the elements of its output tensors
 *    (never row padding, guards, inputs, or the buffer of the path that
 *    fp8f_prepare did not take), sets the documented output fields, and
 *    produces per-token scales within the documented bounds;
 *  - fp8f_weight_create copies its arrays: overwriting them afterwards
 *    does not change a GEMM's result.
 * A shape too large to back with memory is passed with a small decoy
 * buffer only when the rules say the call must fail (so a wrong accept is
 * an ASan report); calls that could succeed on such a shape are skipped.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"
#include "fuzz_util.h"
#include "guard.h"

/* options.num_threads above this is FP8F_E_INVALID (lib/context.c). */
#define MAX_THREADS 1024
/* Largest buffer the harness backs (bytes). */
#define BACK_LIMIT (1u << 20)

/* Contexts: even index e4m3fn, odd e4m3fnuz; pairs capped at each CPU
 * kernel level (FP8F_CPU_ISA, where the CPU has it) so that every kernel
 * table is fuzzed, not only the best one. */
#define N_CTX 8
static const char *const ctx_isa[N_CTX / 2] = {"generic", "avx2", "avx512", "avx512bf16"};
static fp8f_ctx *g_ctx[N_CTX];
static uint64_t g_rng;

/* ---- tensors --------------------------------------------------------- */

enum role { FLOATS, FP8 };

typedef struct targ {
    const char *name;
    int is_null;   /* pass a NULL pointer instead of &t */
    fp8f_tensor t; /* what is passed */
    fg_buf buf;    /* the backing (or a small decoy) */
    int backed;    /* buf holds the tensor's whole extent */
} targ;

static int known_dtype(fp8f_dtype d) { return (int)d >= 0 && (int)d <= (int)FP8F_E4M3FNUZ; }

static size_t dsize(fp8f_dtype d) {
    switch (d) {
    case FP8F_F32:
        return 4;
    case FP8F_BF16:
    case FP8F_F16:
        return 2;
    default:
        return 1;
    }
}

static int role_ok(fp8f_dtype d, enum role r) {
    return r == FP8 ? (d == FP8F_E4M3FN || d == FP8F_E4M3FNUZ)
                    : (d == FP8F_F32 || d == FP8F_BF16 || d == FP8F_F16);
}

/* The validation rules for one tensor (DESIGN.md, rule 1). */
static int tensor_bad(const targ *a, enum role r) {
    if (a->is_null)
        return 1;
    const fp8f_tensor *t = &a->t;
    if (!known_dtype(t->dtype) || !role_ok(t->dtype, r))
        return 1;
    if (t->rows < 0 || t->cols < 1 || t->stride < t->cols)
        return 1;
    int64_t bytes;
    if (__builtin_mul_overflow(t->rows, t->stride, &bytes) ||
        __builtin_mul_overflow(bytes, (int64_t)dsize(t->dtype), &bytes))
        return 1;
    if ((uint64_t)bytes > (uint64_t)SIZE_MAX)
        return 1;
    if (t->rows > 0 && !t->data)
        return 1;
    return 0;
}

static int same_shape(const targ *a, const targ *b) {
    return a->t.rows == b->t.rows && a->t.cols == b->t.cols;
}

static int tensor_eq(const fp8f_tensor *a, const fp8f_tensor *b) {
    return a->data == b->data && a->dtype == b->dtype && a->rows == b->rows &&
           a->cols == b->cols && a->stride == b->stride;
}

static const fp8f_dtype float_types[3] = {FP8F_F32, FP8F_BF16, FP8F_F16};
static const fp8f_dtype fp8_types[2] = {FP8F_E4M3FN, FP8F_E4M3FNUZ};

static void fill_float(fg_buf *b, fp8f_dtype d, unsigned mode) {
    size_t es = dsize(d), n = es ? b->len / es : 0;
    if (mode == 0 || !known_dtype(d) || d == FP8F_E4M3FN || d == FP8F_E4M3FNUZ) {
        fg_fill_random(b, &g_rng);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = fg_rand(&g_rng);
        int special = mode == 3 && (r & 63) == 0;
        int which = (int)((r >> 6) % 4);
        float f = mode == 2 ? 0.0f : (float)((int)((r >> 8) % 2001) - 1000) / 250.0f;
        unsigned char *p = b->data + i * es;
        if (d == FP8F_F32) {
            static const uint32_t sp[4] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu};
            uint32_t u;
            memcpy(&u, &f, 4);
            if (special)
                u = sp[which];
            memcpy(p, &u, 4);
        } else if (d == FP8F_BF16) {
            static const uint16_t sp[4] = {0x7fc0u, 0x7f80u, 0xff80u, 0x7f7fu};
            uint32_t u;
            memcpy(&u, &f, 4);
            uint16_t h = special ? sp[which] : (uint16_t)(u >> 16);
            memcpy(p, &h, 2);
        } else {
            static const uint16_t sp[4] = {0x7e00u, 0x7c00u, 0xfc00u, 0x7bffu};
            uint16_t h = mode == 2 ? 0
                                   : (uint16_t)((r & 0x8000u) | ((12u + (r >> 20) % 7u) << 10) |
                                                ((r >> 32) & 0x3ffu));
            if (special)
                h = sp[which];
            memcpy(p, &h, 2);
        }
    }
}

/* Builds a tensor argument around the plain shape rows x cols in `dtype`,
 * then applies at most one mutation chosen by the input. */
static void gen_tensor(fz_bytes *b, targ *a, const char *name, enum role r, fp8f_dtype dtype,
                       int64_t rows, int64_t cols) {
    memset(a, 0, sizeof *a);
    a->name = name;
    int64_t pad = fz_pick(b, 4) == 0 ? (int64_t)fz_pick(b, 5) : 0;
    a->t = (fp8f_tensor){NULL, dtype, rows, cols, cols + pad};
    int data_null = 0;
    static const int64_t huge[] = {INT64_MAX,       INT64_MAX / 2,     (int64_t)1 << 40,
                                   (int64_t)1 << 32, (int64_t)1 << 62, INT64_MAX - 1,
                                   ((int64_t)1 << 31) + 1, (int64_t)3 << 61};
    static const int unknown[] = {-1, 5, 6, 127, INT_MIN, INT_MAX};
    unsigned m = fz_mutation(b);
    switch (m) {
    case 1:
        a->is_null = 1;
        break;
    case 2: /* a known dtype, maybe outside the role */
        a->t.dtype = (fp8f_dtype)fz_pick(b, 5);
        break;
    case 3:
        a->t.dtype = (fp8f_dtype)unknown[fz_pick(b, 6)];
        break;
    case 4:
        a->t.rows = fz_pick(b, 2) ? -1 : INT64_MIN;
        break;
    case 5:
        a->t.rows += fz_pick(b, 2) ? 1 : -1;
        break;
    case 6:
        a->t.rows = huge[fz_pick(b, 8)];
        break;
    case 7:
        a->t.cols = (int64_t[]){0, -1, INT64_MIN}[fz_pick(b, 3)];
        break;
    case 8:
        a->t.cols += fz_pick(b, 2) ? 1 : -1;
        break;
    case 9:
        a->t.cols = huge[fz_pick(b, 8)];
        if (fz_pick(b, 2))
            a->t.stride = a->t.cols;
        break;
    case 10:
        a->t.stride = (int64_t[]){a->t.cols - 1, 0, -1, INT64_MIN}[fz_pick(b, 4)];
        break;
    case 11:
        a->t.stride = huge[fz_pick(b, 8)];
        break;
    case 12:
        data_null = 1;
        break;
    case 13:
        a->t.rows = 0;
        break;
    case 14: { /* rows x stride x elem right at the int64 limit, or one past it */
        int64_t rws = 1 + fz_pick(b, 7), es = (int64_t)dsize(a->t.dtype);
        a->t.rows = rws;
        int64_t lim = INT64_MAX / es / rws;
        a->t.stride = fz_pick(b, 2) && lim < INT64_MAX ? lim + 1 : lim;
        break;
    }
    case 15: /* another dtype of the same role */
        a->t.dtype = r == FP8 ? fp8_types[fz_pick(b, 2)] : float_types[fz_pick(b, 3)];
        break;
    default:
        break;
    }
    /* Back it when the extent is sane and small; else a decoy. */
    const fp8f_tensor *t = &a->t;
    size_t es = dsize(t->dtype);
    int64_t ext = -1;
    if (t->rows == 0 && t->cols >= 1) {
        ext = 0;
    } else if (t->rows > 0 && t->cols >= 1 && t->stride >= t->cols) {
        int64_t e;
        if (!__builtin_mul_overflow(t->rows - 1, t->stride, &e) &&
            !__builtin_add_overflow(e, t->cols, &e) &&
            !__builtin_mul_overflow(e, (int64_t)es, &e) && e <= (int64_t)BACK_LIMIT)
            ext = e;
    }
    a->backed = ext >= 0;
    if (!fg_alloc(&a->buf, a->backed ? (size_t)ext : 16))
        abort();
    fill_float(&a->buf, t->dtype, fz_pick(b, 4));
    a->t.data = data_null ? NULL : a->buf.data;
}

static void free_tensor(targ *a) { fg_free(&a->buf); }

/* Appends "name{dtype rows x cols / stride, data}" to the report buffer. */
static void describe(const char *name, int is_null, const fp8f_tensor *t) {
    size_t n = strlen(fz_args);
    if (is_null)
        snprintf(fz_args + n, sizeof fz_args - n, "%s=NULL ", name);
    else
        snprintf(fz_args + n, sizeof fz_args - n, "%s{dtype %d, %lld x %lld / %lld, %s} ", name,
                 (int)t->dtype, (long long)t->rows, (long long)t->cols, (long long)t->stride,
                 t->data ? "data" : "NULL data");
}

static void describe_t(targ *a) { describe(a->name, a->is_null, &a->t); }

static void describe_text(const char *fmt, double v) {
    size_t n = strlen(fz_args);
    snprintf(fz_args + n, sizeof fz_args - n, fmt, v);
}

static fp8f_tensor *tp(targ *a) { return a->is_null ? NULL : &a->t; }

/* ---- a qtensor (q, scale, format) -------------------------------------- */

typedef struct qarg {
    int is_null;
    targ q;
    fg_buf sbuf; /* q.rows floats, or a decoy */
    int s_backed;
    fp8f_qtensor qt;
} qarg;

static void gen_qtensor(fz_bytes *b, qarg *a, const char *name, fp8f_dtype fp8, int64_t rows,
                        int64_t cols, int64_t format) {
    memset(a, 0, sizeof *a);
    gen_tensor(b, &a->q, name, FP8, fp8, rows, cols);
    a->q.is_null = 0; /* embedded in the qtensor: cannot be NULL */
    int64_t srows = a->q.t.rows;
    a->s_backed = srows >= 0 && srows <= (int64_t)(BACK_LIMIT / sizeof(float));
    if (!fg_alloc(&a->sbuf, a->s_backed ? (size_t)srows * sizeof(float) : 16))
        abort();
    fg_fill_random(&a->sbuf, &g_rng);
    a->qt = (fp8f_qtensor){a->q.t, (float *)(void *)a->sbuf.data, (fp8f_quant_format)format};
    switch (fz_mutation(b)) {
    case 1:
        a->is_null = 1;
        break;
    case 2:
        a->qt.scale = NULL;
        break;
    case 3:
        a->qt.format = (fp8f_quant_format)(int[]){2, -1, 99, INT_MIN}[fz_pick(b, 4)];
        break;
    case 4:
        a->qt.format = fz_pick(b, 2) ? FP8F_QF_NONE : FP8F_QF_FP8_PER_TOKEN;
        break;
    default:
        break;
    }
}

/* An output's format is only written, so any value passes there. */
static int qtensor_out_bad(const qarg *a) {
    if (a->is_null)
        return 1;
    targ q = a->q;
    q.t = a->qt.q;
    if (tensor_bad(&q, FP8))
        return 1;
    return a->qt.q.rows > 0 && !a->qt.scale;
}

static int qtensor_bad(const qarg *a) {
    return qtensor_out_bad(a) ||
           (a->qt.format != FP8F_QF_NONE && a->qt.format != FP8F_QF_FP8_PER_TOKEN);
}

static void describe_q(qarg *a, const float *ub) {
    describe(a->q.name, a->is_null, &a->qt.q);
    size_t n = strlen(fz_args);
    snprintf(fz_args + n, sizeof fz_args - n, "scale=%s format=%d ub=%s%g ",
             a->qt.scale ? "ptr" : "NULL", (int)a->qt.format, ub ? "" : "NULL/",
             ub ? (double)*ub : 0.0);
}

static void free_qtensor(qarg *a) {
    free_tensor(&a->q);
    fg_free(&a->sbuf);
}

static fp8f_qtensor *qp(qarg *a) { return a->is_null ? NULL : &a->qt; }

/* ---- buffers of one call and their checks ------------------------------- */

enum access { READ_ONLY, WRITES };

typedef struct region {
    fg_buf *b;
    enum access acc;
    int64_t rows, cols, stride;
    size_t elem;
    const char *name;
} region;

typedef struct regions {
    region r[24];
    int n;
} regions;

static void add(regions *R, fg_buf *b, enum access acc, int64_t rows, int64_t cols,
                int64_t stride, size_t elem, const char *name) {
    if (!b->mem)
        return;
    for (int i = 0; i < R->n; i++) {
        if (R->r[i].b == b) { /* aliased: the writing role wins */
            if (acc == WRITES)
                R->r[i] = (region){b, acc, rows, cols, stride, elem, name};
            return;
        }
    }
    if (R->n == (int)(sizeof R->r / sizeof R->r[0]))
        abort();
    R->r[R->n++] = (region){b, acc, rows, cols, stride, elem, name};
}

static void add_in(regions *R, targ *a) {
    add(R, &a->buf, READ_ONLY, 0, 0, 0, 1, a->name);
}

static void add_out(regions *R, targ *a) {
    add(R, &a->buf, WRITES, a->t.rows, a->t.cols, a->t.stride, dsize(a->t.dtype), a->name);
}

static void add_qout(regions *R, qarg *a) {
    add(R, &a->q.buf, WRITES, a->qt.q.rows, a->qt.q.cols, a->qt.q.stride, 1, a->q.name);
    add(R, &a->sbuf, WRITES, 1, a->qt.q.rows, a->qt.q.rows, sizeof(float), "scale");
}

static void add_qin(regions *R, qarg *a) {
    add(R, &a->q.buf, READ_ONLY, 0, 0, 0, 1, a->q.name);
    add(R, &a->sbuf, READ_ONLY, 0, 0, 0, 1, "scale");
}

static void snapshot(regions *R) {
    for (int i = 0; i < R->n; i++)
        fg_snapshot(R->r[i].b);
}

static void check_untouched(regions *R, fp8f_status s) {
    for (int i = 0; i < R->n; i++) {
        int found;
        ptrdiff_t at = fg_first_change(R->r[i].b, &found);
        FZ_CHECK(!found, "%s returned but '%s' changed at byte %td", fp8f_status_str(s),
                 R->r[i].name, at);
    }
}

static void check_writes(regions *R) {
    for (int i = 0; i < R->n; i++) {
        region *g = &R->r[i];
        int found;
        ptrdiff_t at = g->acc == READ_ONLY
                           ? fg_first_change(g->b, &found)
                           : fg_changed_outside(g->b, g->rows, g->cols, g->stride, g->elem, &found);
        FZ_CHECK(!found, "FP8F_OK but '%s' (%s) changed at byte %td, outside what it may write",
                 g->name, g->acc == READ_ONLY ? "read only" : "output", at);
    }
}

static void free_tensors(targ *const *ts, int n) {
    for (int i = 0; i < n; i++)
        if (ts[i])
            free_tensor(ts[i]);
}

/* With FP8F_FUZZ_STATS set, how many calls of each operation returned
 * each status, printed at exit: the harness should reach them all. */
static const char *stat_ops[16];
static unsigned long stat_count[16][8];

static void count_status(fp8f_status s) {
    int i = 0;
    while (i < 16 && stat_ops[i] && strcmp(stat_ops[i], fz_op))
        i++;
    if (i == 16)
        return;
    stat_ops[i] = fz_op;
    stat_count[i][(unsigned)s < 8 ? (unsigned)s : 7]++;
}

static void print_stats(void) {
    for (int i = 0; i < 16 && stat_ops[i]; i++) {
        fprintf(stderr, "%-22s", stat_ops[i]);
        for (int s = 0; s < 7; s++)
            if (stat_count[i][s])
                fprintf(stderr, " %s:%lu", fp8f_status_str((fp8f_status)s), stat_count[i][s]);
        fputc('\n', stderr);
    }
}

/* Runs the final comparison of a call: expected vs got, then the buffers. */
static void verdict(fp8f_ctx *ctx, fp8f_status got, fp8f_status want, int also_ok_invalid,
                    regions *R) {
    count_status(got);
    FZ_CHECK(fz_status_known(got), "unknown status %d", (int)got);
    FZ_CHECK(got == want || (also_ok_invalid && got == FP8F_E_INVALID),
             "returned %s, the rules say %s (%s)", fp8f_status_str(got), fp8f_status_str(want),
             got != FP8F_OK ? fp8f_last_error(ctx) : "");
    if (got != FP8F_OK) {
        fz_check_message(ctx, got);
        check_untouched(R, got);
    } else {
        check_writes(R);
    }
}

/* ---- scalar parameters ------------------------------------------------ */

static float gen_eps(fz_bytes *b, int *bad) {
    static const float vals[] = {0.0f, -1e-6f, NAN, INFINITY, -INFINITY, FLT_MIN / 4,
                                 FLT_MAX, 1e30f, -0.0f, 1.0f};
    static const int is_bad[] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 0};
    unsigned m = fz_mutation(b);
    if (m == 0 || m > 10) {
        *bad = 0;
        return 1e-6f;
    }
    *bad = is_bad[m - 1];
    return vals[m - 1];
}

/* NULL, or a pointer to a value; *bad when the value breaks the rule. */
static const float *gen_scale_ub(fz_bytes *b, float *slot, int *bad) {
    static const float vals[] = {1.0f, 1e-30f, FLT_MAX, 0.5f, 0.0f, -1.0f, NAN, INFINITY};
    static const int is_bad[] = {0, 0, 0, 0, 1, 1, 1, 1};
    *bad = 0;
    unsigned v = fz_pick(b, 16);
    if (v >= 8)
        return NULL;
    *slot = vals[v];
    *bad = is_bad[v];
    return slot;
}

static fp8f_ctx *gen_ctx(fz_bytes *b, int *idx) {
    unsigned v = fz_pick(b, 32);
    *idx = v == 31 ? -1 : (int)(v % N_CTX);
    return *idx < 0 ? NULL : g_ctx[*idx];
}

static fp8f_dtype ctx_fp8(int idx) { return idx >= 0 && (idx & 1) ? FP8F_E4M3FNUZ : FP8F_E4M3FN; }

/* The fp8 type that is not the context's. */
static fp8f_dtype other_fp8(int idx) {
    return ctx_fp8(idx) == FP8F_E4M3FN ? FP8F_E4M3FNUZ : FP8F_E4M3FN;
}

static void dims(fz_bytes *b, int64_t *m, int64_t *h) {
    *m = fz_pick(b, 10);
    if (*m == 9)
        *m = 9 + fz_pick(b, 56);
    *h = 1 + fz_pick(b, 48);
    if (*h == 48)
        *h = 48 + fz_pick(b, 250);
}

/* Scales are >= the floor 1/(FP8_MAX*512), and <= max(ub/FP8_MAX, floor). */
static void check_scales(const qarg *o, const float *ub) {
    const float fmax = o->qt.q.dtype == FP8F_E4M3FNUZ ? 240.0f : 448.0f;
    const float floor_ = 1.0f / (fmax * 512.0f);
    for (int64_t r = 0; r < o->qt.q.rows; r++) {
        float s;
        memcpy(&s, o->sbuf.data + r * 4, 4);
        FZ_CHECK(s >= floor_, "row %lld's scale %g is below the floor %g", (long long)r,
                 (double)s, (double)floor_);
        if (ub) {
            float cap = fmaxf(*ub / fmax, floor_);
            FZ_CHECK(s <= cap * (1.0f + 1e-6f), "row %lld's scale %g exceeds scale_ub/FP8_MAX %g",
                     (long long)r, (double)s, (double)cap);
        }
    }
}

/* ---- norm inputs, shared by rmsnorm, rmsnorm_quant and prepare ----------- */

typedef struct norm_args {
    targ x, res, w;
    int has_res;
    float eps;
    int eps_bad;
} norm_args;

static void gen_norm(fz_bytes *b, norm_args *n, int64_t m, int64_t h) {
    fp8f_dtype xd = float_types[fz_pick(b, 3)];
    gen_tensor(b, &n->x, "x", FLOATS, xd, m, h);
    n->has_res = fz_pick(b, 2);
    gen_tensor(b, &n->res, "residual", FLOATS, xd, m, h);
    if (n->res.is_null) /* a NULL residual is no residual */
        n->has_res = 0, n->res.is_null = 0;
    gen_tensor(b, &n->w, "weight", FLOATS, float_types[fz_pick(b, 3)], 1, h);
    n->eps = gen_eps(b, &n->eps_bad);
}

static int norm_bad(const norm_args *n) {
    if (tensor_bad(&n->x, FLOATS))
        return 1;
    if (n->has_res && (tensor_bad(&n->res, FLOATS) || !same_shape(&n->x, &n->res) ||
                       n->res.t.dtype != n->x.t.dtype))
        return 1;
    if (tensor_bad(&n->w, FLOATS) || n->w.t.rows != 1 || n->w.t.cols != n->x.t.cols)
        return 1;
    return n->eps_bad;
}

static void describe_norm(norm_args *n) {
    describe_t(&n->x);
    if (n->has_res)
        describe_t(&n->res);
    describe_t(&n->w);
    describe_text("eps=%g ", (double)n->eps);
}

static int norm_backed(const norm_args *n) {
    return n->x.backed && (!n->has_res || n->res.backed) && n->w.backed;
}

static void norm_regions(regions *R, norm_args *n) {
    add_in(R, &n->x);
    add_in(R, &n->w);
    if (n->has_res)
        add_out(R, &n->res);
    else
        add_in(R, &n->res); /* allocated but not passed: must stay as it is */
}

static void free_norm(norm_args *n) {
    targ *ts[] = {&n->x, &n->res, &n->w};
    free_tensors(ts, 3);
}

/* ---- operations --------------------------------------------------------- */

static void op_rmsnorm(fz_bytes *b) {
    fz_op = "fp8f_rmsnorm";
    int ci;
    fp8f_ctx *ctx = gen_ctx(b, &ci);
    int64_t m, h;
    dims(b, &m, &h);
    norm_args n;
    gen_norm(b, &n, m, h);
    targ out;
    gen_tensor(b, &out, "out", FLOATS, float_types[fz_pick(b, 3)], m, h);
    int in_place = fz_pick(b, 8) == 0;
    targ *o = in_place ? &n.x : &out; /* out = x: same data, stride and dtype */

    int bad = !ctx || norm_bad(&n) || tensor_bad(o, FLOATS) || !same_shape(&n.x, o);
    if (!bad && !(norm_backed(&n) && o->backed))
        goto done;
    fz_args[0] = '\0';
    describe_norm(&n);
    describe(in_place ? "out(=x)" : "out", o->is_null, &o->t);
    regions R = {.n = 0};
    norm_regions(&R, &n);
    add_in(&R, &out);
    add_out(&R, o);
    fp8f_tensor xs, ws, os;
    memcpy(&xs, &n.x.t, sizeof xs);
    memcpy(&ws, &n.w.t, sizeof ws);
    memcpy(&os, &o->t, sizeof os);
    snapshot(&R);
    fp8f_status s = fp8f_rmsnorm(ctx, tp(&n.x), n.has_res ? tp(&n.res) : NULL, tp(&n.w), n.eps,
                                 in_place ? tp(&n.x) : tp(&out));
    verdict(ctx, s, bad ? FP8F_E_INVALID : FP8F_OK, 0, &R);
    FZ_CHECK(!memcmp(&xs, &n.x.t, sizeof xs) && !memcmp(&ws, &n.w.t, sizeof ws) &&
                 !memcmp(&os, &o->t, sizeof os),
             "a tensor struct was modified");
done:
    free_norm(&n);
    free_tensor(&out);
}

static void op_quant(fz_bytes *b, int with_norm) {
    fz_op = with_norm ? "fp8f_rmsnorm_quant" : "fp8f_quant_per_token";
    int ci;
    fp8f_ctx *ctx = gen_ctx(b, &ci);
    int64_t m, h;
    dims(b, &m, &h);
    norm_args n;
    gen_norm(b, &n, m, h);
    float ub_slot;
    int ub_bad;
    const float *ub = gen_scale_ub(b, &ub_slot, &ub_bad);
    qarg o;
    gen_qtensor(b, &o, "out.q", fz_pick(b, 4) == 0 ? other_fp8(ci) : ctx_fp8(ci), m, h,
                fz_pick(b, 2));

    int bad = !ctx || (with_norm ? norm_bad(&n) : tensor_bad(&n.x, FLOATS)) || ub_bad ||
              qtensor_out_bad(&o) || !same_shape(&n.x, &o.q);
    int backed = (with_norm ? norm_backed(&n) : n.x.backed) && o.q.backed && o.s_backed;
    if (!bad && !backed)
        goto done;
    fz_args[0] = '\0';
    if (with_norm)
        describe_norm(&n);
    else
        describe_t(&n.x);
    describe_q(&o, ub);
    regions R = {.n = 0};
    if (with_norm) {
        norm_regions(&R, &n);
    } else {
        add_in(&R, &n.x);
        add_in(&R, &n.res);
        add_in(&R, &n.w);
    }
    add_qout(&R, &o);
    fp8f_qtensor before;
    memcpy(&before, &o.qt, sizeof before);
    snapshot(&R);
    fp8f_status s =
        with_norm ? fp8f_rmsnorm_quant(ctx, tp(&n.x), n.has_res ? tp(&n.res) : NULL, tp(&n.w),
                                       n.eps, ub, qp(&o))
                  : fp8f_quant_per_token(ctx, tp(&n.x), ub, qp(&o));
    verdict(ctx, s, bad ? FP8F_E_INVALID : FP8F_OK, 0, &R);
    if (s == FP8F_OK) {
        FZ_CHECK(o.qt.format == FP8F_QF_FP8_PER_TOKEN, "out->format is %d, not fp8_per_token",
                 (int)o.qt.format);
        FZ_CHECK(tensor_eq(&before.q, &o.qt.q) && before.scale == o.qt.scale,
                 "out's other fields were modified");
        check_scales(&o, ub);
    } else {
        FZ_CHECK(!memcmp(&before, &o.qt, sizeof before), "out (the struct) modified on error");
    }
done:
    free_norm(&n);
    free_qtensor(&o);
}

static void op_prepare(fz_bytes *b) {
    fz_op = "fp8f_prepare";
    int ci;
    fp8f_ctx *ctx = gen_ctx(b, &ci);
    int64_t m, h;
    dims(b, &m, &h);
    norm_args n;
    gen_norm(b, &n, m, h);
    int fmt = (int)fz_pick(b, 2);
    if (fz_mutation(b))
        fmt = (int[]){2, -1, 1000, INT_MIN}[fz_pick(b, 4)];
    int fmt_bad = fmt != FP8F_QF_NONE && fmt != FP8F_QF_FP8_PER_TOKEN;
    targ dense;
    gen_tensor(b, &dense, "dense_buf", FLOATS, float_types[fz_pick(b, 3)], m, h);
    qarg quant;
    gen_qtensor(b, &quant, "quant_buf.q", ctx_fp8(ci < 0 ? 0 : ci), m, h, fz_pick(b, 2));
    int pass_dense = fz_pick(b, 8) != 0, pass_quant = fz_pick(b, 4) == 0;
    int out_null = fz_mutation(b) == 1;
    fp8f_act act, act_before;
    memset(&act, 0x5c, sizeof act);
    memcpy(&act_before, &act, sizeof act);

    const unsigned both = FP8F_CAP_FUSED_NORM_QUANT | FP8F_CAP_QUANTIZED_INPUT;
    int fused = ctx && (fp8f_ctx_caps(ctx) & both) == both && fmt == FP8F_QF_FP8_PER_TOKEN;
    int taken_bad = fused ? (!pass_quant || qtensor_out_bad(&quant) ||
                             !same_shape(&n.x, &quant.q))
                          : (!pass_dense || tensor_bad(&dense, FLOATS) ||
                             !same_shape(&n.x, &dense));
    /* The other buffer may be NULL; a bad one that is passed anyway may be
     * refused or ignored (DESIGN.md leaves it open), never written. */
    int other_bad = fused ? pass_dense && (tensor_bad(&dense, FLOATS) || !same_shape(&n.x, &dense))
                          : pass_quant && (qtensor_out_bad(&quant) || !same_shape(&n.x, &quant.q));
    int bad = !ctx || fmt_bad || out_null || norm_bad(&n) || taken_bad;
    int backed = norm_backed(&n) && (fused ? quant.q.backed && quant.s_backed : dense.backed);
    if (!bad && !backed)
        goto done;
    fz_args[0] = '\0';
    describe_norm(&n);
    describe_text("fmt=%g ", fmt);
    describe("dense_buf", !pass_dense, &dense.t);
    describe_q(&quant, NULL);
    describe_text("pass_quant=%g ", pass_quant);
    describe_text("out_null=%g ", out_null);
    regions R = {.n = 0};
    norm_regions(&R, &n);
    if (fused) {
        add_qout(&R, &quant);
        add_in(&R, &dense);
    } else {
        add_out(&R, &dense);
        add_qin(&R, &quant);
    }
    fp8f_tensor dense_before;
    memcpy(&dense_before, &dense.t, sizeof dense_before);
    snapshot(&R);
    fp8f_status s = fp8f_prepare(ctx, (fp8f_quant_format)fmt, tp(&n.x),
                                 n.has_res ? tp(&n.res) : NULL, tp(&n.w), n.eps,
                                 pass_dense ? tp(&dense) : NULL, pass_quant ? qp(&quant) : NULL,
                                 out_null ? NULL : &act);
    verdict(ctx, s, bad ? FP8F_E_INVALID : FP8F_OK, other_bad, &R);
    FZ_CHECK(!memcmp(&dense_before, &dense.t, sizeof dense_before), "dense_buf struct modified");
    if (s != FP8F_OK) {
        FZ_CHECK(!memcmp(&act, &act_before, sizeof act), "*out written on error");
    } else if (fused) {
        FZ_CHECK(act.kind == FP8F_ACT_QUANTIZED && tensor_eq(&act.quant.q, &quant.qt.q) &&
                     act.quant.scale == quant.qt.scale &&
                     act.quant.format == FP8F_QF_FP8_PER_TOKEN,
                 "fused path: *out does not point into quant_buf");
    } else {
        FZ_CHECK(act.kind == FP8F_ACT_DENSE && tensor_eq(&act.dense, &dense.t),
                 "dense path: *out is not dense_buf");
    }
done:
    free_norm(&n);
    free_tensor(&dense);
    free_qtensor(&quant);
}

/* ---- weights and the GEMM ------------------------------------------------ */

typedef struct wslot {
    fp8f_weight *w;
    int ci; /* its context */
    int64_t n, k;
} wslot;

static wslot g_w[2];

static void drop_weight(wslot *s) {
    fp8f_weight_destroy(s->w);
    memset(s, 0, sizeof *s);
}

/* A dense activation rows x k in f32 and an out rows x n (plain, valid). */
static void run_linear_plain(fp8f_ctx *ctx, const wslot *s, const float *a, float *out,
                             int64_t rows) {
    fp8f_act act = {.kind = FP8F_ACT_DENSE, .dense = {(void *)(uintptr_t)a, FP8F_F32, rows, s->k, s->k}};
    fp8f_tensor o = {out, FP8F_F32, rows, s->n, s->n};
    fp8f_status st = fp8f_linear_ptpc(ctx, &act, s->w, &o);
    FZ_CHECK(st == FP8F_OK, "a plain GEMM on a new weight failed: %s", fp8f_last_error(ctx));
}

/* After a weight was created from q/scale/bias, scribbling over those
 * arrays must not change the GEMM: the weight holds its own copy. */
static void check_weight_copied(fp8f_ctx *ctx, const wslot *s, fg_buf *const *srcs, int nsrc) {
    const int64_t rows = 2;
    float *a = malloc((size_t)(rows * s->k) * sizeof(float));
    float *o1 = malloc((size_t)(rows * s->n) * sizeof(float));
    float *o2 = malloc((size_t)(rows * s->n) * sizeof(float));
    if (!a || !o1 || !o2)
        abort();
    for (int64_t i = 0; i < rows * s->k; i++)
        a[i] = (float)((int)(fg_rand(&g_rng) % 17) - 8);
    run_linear_plain(ctx, s, a, o1, rows);
    for (int i = 0; i < nsrc; i++)
        if (srcs[i]->mem)
            fg_fill_random(srcs[i], &g_rng);
    run_linear_plain(ctx, s, a, o2, rows);
    FZ_CHECK(!memcmp(o1, o2, (size_t)(rows * s->n) * sizeof(float)),
             "the GEMM changed after the arrays given to fp8f_weight_create were overwritten");
    free(a);
    free(o1);
    free(o2);
}

static void op_weight_create(fz_bytes *b, int slot_idx, int plain) {
    fz_op = "fp8f_weight_create";
    wslot *slot = &g_w[slot_idx];
    drop_weight(slot);
    int ci;
    fp8f_ctx *ctx = plain ? g_ctx[ci = (int)fz_pick(b, N_CTX)] : gen_ctx(b, &ci);
    int64_t n = 1 + fz_pick(b, 40), k = 1 + fz_pick(b, 64);
    if (n == 40) /* past the kernels' panel and block sizes too */
        n += fz_pick(b, 90);
    if (k == 64)
        k += 3 * (int64_t)fz_pick(b, 250);
    /* The GEMM needs a weight (plain): then nothing is mutated. */
    fz_bytes none = {NULL, 0}, *tb = plain ? &none : b;
    targ q, bias;
    gen_tensor(tb, &q, "q", FP8, fz_pick(tb, 4) == 0 ? other_fp8(ci) : ctx_fp8(ci), n, k);
    int has_bias = plain ? 1 : fz_pick(b, 2);
    gen_tensor(tb, &bias, "bias", FLOATS, float_types[fz_pick(tb, 3)], 1, n);
    if (bias.is_null) /* a NULL bias is no bias */
        has_bias = 0, bias.is_null = 0;
    fg_buf scale;
    int64_t srows = q.t.rows;
    int s_backed = srows >= 0 && srows <= (int64_t)(BACK_LIMIT / 4);
    if (!fg_alloc(&scale, s_backed ? (size_t)srows * 4 : 16))
        abort();
    fill_float(&scale, FP8F_F32, 1 + fz_pick(b, 3));
    int scale_null = fz_mutation(tb) == 1, out_null = fz_mutation(tb) == 1;
    /* Codes without a counterpart make fnuz -> fn fail (FORMAT); keep them
     * rare unless the input asks for them. */
    if (q.backed && fz_pick(b, 2))
        for (size_t i = 0; i < q.buf.len; i++)
            if ((q.buf.data[i] & 0x7fu) == 0x7fu)
                q.buf.data[i] ^= 1u;

    int bad = !ctx || out_null || tensor_bad(&q, FP8) || q.t.rows < 1 || scale_null ||
              (has_bias && (tensor_bad(&bias, FLOATS) || bias.t.rows != 1 ||
                            bias.t.cols != q.t.rows));
    if (!bad && !(q.backed && s_backed && (!has_bias || bias.backed)))
        goto done;
    int format = 0;
    if (!bad && q.t.dtype == FP8F_E4M3FNUZ && ctx_fp8(ci) == FP8F_E4M3FN) {
        for (int64_t r = 0; r < q.t.rows; r++)
            for (int64_t c = 0; c < q.t.cols; c++)
                if ((q.buf.data[r * q.t.stride + c] & 0x7fu) == 0x7fu)
                    format = 1;
    }
    fz_args[0] = '\0';
    describe_text("ctx=%g ", ci);
    describe_t(&q);
    describe("bias", !has_bias || bias.is_null, &bias.t);
    describe_text("scale_null=%g ", scale_null);
    describe_text("out_null=%g ", out_null);
    regions R = {.n = 0};
    add_in(&R, &q);
    add_in(&R, &bias);
    add(&R, &scale, READ_ONLY, 0, 0, 0, 1, "scale");
    fp8f_weight *w = (fp8f_weight *)(uintptr_t)0x5c5c5c5c;
    snapshot(&R);
    fp8f_status s = fp8f_weight_create(ctx, tp(&q), scale_null ? NULL : (float *)(void *)scale.data,
                                       has_bias ? tp(&bias) : NULL, out_null ? NULL : &w);
    verdict(ctx, s, bad ? FP8F_E_INVALID : format ? FP8F_E_FORMAT : FP8F_OK, 0, &R);
    if (s != FP8F_OK) {
        FZ_CHECK(w == (fp8f_weight *)(uintptr_t)0x5c5c5c5c, "*out written on error");
    } else {
        FZ_CHECK(w != NULL && w != (fp8f_weight *)(uintptr_t)0x5c5c5c5c, "*out not set");
        *slot = (wslot){w, ci, q.t.rows, q.t.cols};
        fg_buf *srcs[] = {&q.buf, &scale, &bias.buf};
        check_weight_copied(ctx, slot, srcs, 3);
    }
done:
    free_tensor(&q);
    free_tensor(&bias);
    fg_free(&scale);
}

/* The weight of a GEMM call (created plain first where its slot is empty),
 * the context to call with (mostly the weight's own) and the weight pointer
 * to pass (sometimes NULL). Sets fz_op to `op`. */
static wslot *gen_gemm_weight(fz_bytes *b, const char *op, fp8f_ctx **ctx, int *ci,
                              const fp8f_weight **w) {
    int si = (int)fz_pick(b, 2);
    if (!g_w[si].w)
        op_weight_create(b, si, 1);
    fz_op = op;
    wslot *s = &g_w[si];
    *ctx = gen_ctx(b, ci);
    if (fz_pick(b, 4) != 0) /* mostly the weight's own context */
        *ctx = g_ctx[s->ci], *ci = s->ci;
    *w = fz_mutation(b) == 1 ? NULL : s->w;
    return s;
}

static void op_linear(fz_bytes *b) {
    int ci;
    fp8f_ctx *ctx;
    const fp8f_weight *w;
    wslot *s = gen_gemm_weight(b, "fp8f_linear_ptpc", &ctx, &ci, &w);
    int64_t m = fz_pick(b, 10), k = s->k, n = s->n;
    if (m == 9)
        m = 9 + fz_pick(b, 40);
    int kind = fz_pick(b, 4) == 0 ? FP8F_ACT_QUANTIZED : FP8F_ACT_DENSE;
    if (fz_mutation(b) == 1)
        kind = (int[]){2, -1, 77}[fz_pick(b, 3)];
    targ dense;
    gen_tensor(b, &dense, "activation", FLOATS, float_types[fz_pick(b, 3)], m, k);
    dense.is_null = 0; /* embedded in the act */
    qarg quant;
    gen_qtensor(b, &quant, "activation.q", fz_pick(b, 4) == 0 ? other_fp8(s->ci) : ctx_fp8(s->ci), m,
                k, FP8F_QF_FP8_PER_TOKEN);
    quant.is_null = 0; /* embedded in the act: cannot be NULL */
    targ out;
    gen_tensor(b, &out, "out", FLOATS, float_types[fz_pick(b, 3)], m, n);
    int act_null = fz_mutation(b) == 1;
    fp8f_act act = {.kind = (fp8f_act_kind)kind, .dense = dense.t, .quant = quant.qt};

    const targ *at = kind == FP8F_ACT_QUANTIZED ? &quant.q : &dense;
    fp8f_tensor aq = kind == FP8F_ACT_QUANTIZED ? quant.qt.q : dense.t;
    int bad = !ctx || !w || ci != s->ci || act_null ||
              (kind != FP8F_ACT_DENSE && kind != FP8F_ACT_QUANTIZED);
    if (!bad) {
        bad = kind == FP8F_ACT_DENSE ? tensor_bad(&dense, FLOATS) : qtensor_bad(&quant);
        bad = bad || aq.cols != k || tensor_bad(&out, FLOATS) || out.t.rows != aq.rows ||
              out.t.cols != n;
    }
    fp8f_status want = bad ? FP8F_E_INVALID : FP8F_OK;
    if (!bad && kind == FP8F_ACT_QUANTIZED) {
        if (quant.qt.format != FP8F_QF_FP8_PER_TOKEN || quant.qt.q.dtype != ctx_fp8(s->ci))
            want = FP8F_E_FORMAT;
        else if (!(fp8f_ctx_caps(ctx) & FP8F_CAP_QUANTIZED_INPUT))
            want = FP8F_E_UNSUPPORTED;
    }
    int backed = at->backed && out.backed && (kind != FP8F_ACT_QUANTIZED || quant.s_backed);
    if (want == FP8F_OK && !backed)
        goto done;
    fz_args[0] = '\0';
    describe_text("ctx=%g ", ci);
    describe_text("weight-ctx=%g ", s->ci);
    describe_text("weight-null=%g ", !w);
    describe_text("N=%g ", (double)n);
    describe_text("K=%g ", (double)k);
    describe_text("kind=%g ", kind);
    describe_t(&dense);
    describe_q(&quant, NULL);
    describe_t(&out);
    describe_text("act_null=%g ", act_null);
    regions R = {.n = 0};
    add_in(&R, &dense);
    add_qin(&R, &quant);
    add_out(&R, &out);
    fp8f_tensor out_before;
    memcpy(&out_before, &out.t, sizeof out_before);
    snapshot(&R);
    fp8f_status st = fp8f_linear_ptpc(ctx, act_null ? NULL : &act, w, tp(&out));
    verdict(ctx, st, want, 0, &R);
    FZ_CHECK(!memcmp(&out_before, &out.t, sizeof out_before), "out struct modified");
done:
    free_tensor(&dense);
    free_qtensor(&quant);
    free_tensor(&out);
}

/* fp8f_prepare_linear: the arguments of both steps, all validated before
 * the first one writes. The contexts are CPU ones (no fused capability),
 * so the activation goes through dense_buf. */
static void op_prepare_linear(fz_bytes *b) {
    int ci;
    fp8f_ctx *ctx;
    const fp8f_weight *w;
    wslot *s = gen_gemm_weight(b, "fp8f_prepare_linear", &ctx, &ci, &w);
    int64_t m = fz_pick(b, 10), h = s->k;
    if (fz_mutation(b) == 1) /* an activation width that is not the weight's K */
        h = 1 + fz_pick(b, 70);
    norm_args n;
    gen_norm(b, &n, m, h);
    targ dense;
    gen_tensor(b, &dense, "dense_buf", FLOATS, float_types[fz_pick(b, 3)], m, h);
    qarg quant;
    gen_qtensor(b, &quant, "quant_buf.q", ctx_fp8(ci < 0 ? 0 : ci), m, h, fz_pick(b, 2));
    int pass_dense = fz_pick(b, 8) != 0, pass_quant = fz_pick(b, 4) == 0;
    targ out;
    gen_tensor(b, &out, "out", FLOATS, float_types[fz_pick(b, 3)], m, s->n);

    int taken_bad = !pass_dense || tensor_bad(&dense, FLOATS) || !same_shape(&n.x, &dense);
    int other_bad = pass_quant && (qtensor_out_bad(&quant) || !same_shape(&n.x, &quant.q));
    int bad = !ctx || norm_bad(&n) || taken_bad || !w || ci != s->ci ||
              n.x.t.cols != s->k || tensor_bad(&out, FLOATS) || out.t.rows != n.x.t.rows ||
              out.t.cols != s->n;
    int backed = norm_backed(&n) && dense.backed && out.backed;
    if (!bad && !backed)
        goto done;
    fz_args[0] = '\0';
    describe_text("ctx=%g ", ci);
    describe_text("weight-ctx=%g ", s->ci);
    describe_text("weight-null=%g ", !w);
    describe_text("N=%g ", (double)s->n);
    describe_text("K=%g ", (double)s->k);
    describe_norm(&n);
    describe("dense_buf", !pass_dense, &dense.t);
    describe_q(&quant, NULL);
    describe_text("pass_quant=%g ", pass_quant);
    describe_t(&out);
    regions R = {.n = 0};
    norm_regions(&R, &n);
    add_out(&R, &dense);
    add_qin(&R, &quant);
    add_out(&R, &out);
    snapshot(&R);
    fp8f_status st = fp8f_prepare_linear(ctx, tp(&n.x), n.has_res ? tp(&n.res) : NULL, tp(&n.w),
                                         n.eps, pass_dense ? tp(&dense) : NULL,
                                         pass_quant ? qp(&quant) : NULL, w, tp(&out));
    verdict(ctx, st, bad ? FP8F_E_INVALID : FP8F_OK, other_bad, &R);
done:
    free_norm(&n);
    free_tensor(&dense);
    free_qtensor(&quant);
    free_tensor(&out);
}

/* ---- contexts, memory, the small functions ------------------------------ */

static void op_ctx_create(fz_bytes *b) {
    fz_op = "fp8f_ctx_create";
    fp8f_options o = {0};
    int opt_null = fz_pick(b, 8) == 0;
    int bad = 0, want_backend = 0;
    o.backend = (fp8f_backend_id)(fz_pick(b, 4) ? FP8F_BACKEND_CPU : FP8F_BACKEND_AUTO);
    switch (fz_mutation(b)) {
    case 1:
        o.backend = FP8F_BACKEND_HIP;
        break;
    case 2:
        o.backend = (fp8f_backend_id)(int[]){3, -1, 77, INT_MIN}[fz_pick(b, 4)];
        bad = 1;
        break;
    default:
        break;
    }
    o.num_threads = (int)fz_pick(b, 4);
    switch (fz_mutation(b)) {
    case 1:
        o.num_threads = (int[]){-1, INT_MIN, MAX_THREADS + 1, INT_MAX, 1 << 20}[fz_pick(b, 5)];
        bad = 1;
        break;
    case 2:
        o.num_threads = (int[]){MAX_THREADS, 64, 7}[fz_pick(b, 3)];
        break;
    default:
        break;
    }
    o.fp8_dtype = (fp8f_dtype)(int[]){0, FP8F_E4M3FN, FP8F_E4M3FNUZ}[fz_pick(b, 3)];
    if (fz_mutation(b) == 1) {
        o.fp8_dtype = (fp8f_dtype)(int[]){FP8F_BF16, FP8F_F16, 5, -1}[fz_pick(b, 4)];
        bad = 1;
    }
    if (fz_mutation(b) == 1) {
        o.device = fz_pick(b, 2) ? -1 : INT_MIN;
        bad = 1;
    }
    if (fz_mutation(b) == 1 && o.backend == FP8F_BACKEND_CPU)
        o.stream = (void *)(uintptr_t)0x1234; /* the CPU backend never uses it */
    int out_null = fz_mutation(b) == 1;
    if (opt_null)
        bad = 0, o = (fp8f_options){0};
    bad = bad || out_null;
    if (!bad && o.backend == FP8F_BACKEND_HIP && !fp8f_backend_available(FP8F_BACKEND_HIP))
        want_backend = 1;

    fp8f_ctx *c = (fp8f_ctx *)(uintptr_t)0x5c5c5c5c;
    fp8f_status s = fp8f_ctx_create(opt_null ? NULL : &o, out_null ? NULL : &c);
    fp8f_status want = bad ? FP8F_E_INVALID : want_backend ? FP8F_E_BACKEND : FP8F_OK;
    count_status(s);
    FZ_CHECK(s == want, "returned %s, the rules say %s (%s)", fp8f_status_str(s),
             fp8f_status_str(want), s != FP8F_OK ? fp8f_last_error(NULL) : "");
    if (s != FP8F_OK) {
        fz_check_message(NULL, s);
        FZ_CHECK(c == (fp8f_ctx *)(uintptr_t)0x5c5c5c5c, "*out written on error");
        return;
    }
    FZ_CHECK(c != NULL, "OK with a NULL context");
    FZ_CHECK(fp8f_ctx_backend_name(c) != NULL, "a context without a backend name");
    fp8f_dtype fd = fp8f_ctx_fp8_dtype(c);
    FZ_CHECK(fd == FP8F_E4M3FN || fd == FP8F_E4M3FNUZ, "context fp8 type %d", (int)fd);
    FZ_CHECK(o.fp8_dtype == FP8F_F32 || fd == o.fp8_dtype, "fp8_dtype %d asked, %d given",
             (int)o.fp8_dtype, (int)fd);
    /* One small call through the new context's threads setting. */
    float x[8] = {1, -2, 3, -4, 5, -6, 7, 8}, sc[2];
    uint8_t q[8];
    fp8f_tensor xt = {x, FP8F_F32, 2, 4, 4};
    fp8f_qtensor qt = {{q, fd, 2, 4, 4}, sc, FP8F_QF_NONE};
    FZ_CHECK(fp8f_quant_per_token(c, &xt, NULL, &qt) == FP8F_OK, "plain quant on a new ctx: %s",
             fp8f_last_error(c));
    fp8f_ctx_destroy(c);
}

static void op_mem(fz_bytes *b) {
    fz_op = "fp8f_mem_*";
    int ci;
    fp8f_ctx *ctx = gen_ctx(b, &ci);
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 60, (size_t)1 << 50};
    size_t bytes = fz_pick(b, 8) == 0 ? huge[fz_pick(b, 4)] : (size_t)fz_pick(b, 255) * 16 + fz_pick(b, 16);
    int out_null = fz_mutation(b) == 1;
    void *p = (void *)(uintptr_t)0x5c5c5c5c;
    fp8f_status s = fp8f_mem_alloc(ctx, bytes, out_null ? NULL : &p);
    fp8f_status want = !ctx || out_null || bytes == 0 ? FP8F_E_INVALID
                       : bytes >= ((size_t)1 << 50)   ? FP8F_E_NOMEM
                                                      : FP8F_OK;
    count_status(s);
    FZ_CHECK(s == want, "fp8f_mem_alloc(%zu) returned %s, expected %s", bytes, fp8f_status_str(s),
             fp8f_status_str(want));
    if (s != FP8F_OK) {
        fz_check_message(ctx, s);
        FZ_CHECK(p == (void *)(uintptr_t)0x5c5c5c5c, "*out written on error");
        return;
    }
    memset(p, 0x11, bytes); /* the whole size is ours (ASan checks) */
    fg_buf host;
    if (!fg_alloc(&host, bytes))
        abort();
    fg_fill_random(&host, &g_rng);
    for (int dir = 0; dir < 2; dir++) {
        size_t len = bytes ? fz_u8(b) % (bytes + 1) : 0;
        int null_which = fz_mutation(b) == 1 ? 1 + (int)fz_pick(b, 2) : 0;
        fg_snapshot(&host);
        unsigned char *dev = p;
        unsigned char dev_before[4096 + 16];
        memcpy(dev_before, dev, bytes);
        fp8f_status st;
        if (dir == 0)
            st = fp8f_mem_upload(ctx, null_which == 1 ? NULL : p, null_which == 2 ? NULL : host.data,
                                 len);
        else
            st = fp8f_mem_download(ctx, null_which == 1 ? NULL : host.data,
                                   null_which == 2 ? NULL : p, len);
        FZ_CHECK(st == (null_which ? FP8F_E_INVALID : FP8F_OK), "mem copy returned %s",
                 fp8f_status_str(st));
        if (st != FP8F_OK) {
            fz_check_message(ctx, st);
            FZ_CHECK(!fg_changed(&host) && !memcmp(dev_before, dev, bytes),
                     "mem copy wrote on error");
        } else if (dir == 0) {
            FZ_CHECK(!fg_changed(&host), "upload changed its source");
            FZ_CHECK(!memcmp(dev, host.data, len) && !memcmp(dev + len, dev_before + len, bytes - len),
                     "upload wrote the wrong bytes");
        } else {
            int found;
            fg_changed_outside(&host, 1, (int64_t)len, (int64_t)len, 1, &found);
            FZ_CHECK(!found, "download wrote past its length");
            FZ_CHECK(!memcmp(host.data, dev, len), "download copied the wrong bytes");
        }
    }
    fg_free(&host);
    fp8f_mem_free(ctx, p);
    fp8f_mem_free(ctx, NULL);
}

static void op_misc(fz_bytes *b) {
    fz_op = "small functions";
    int v = (int)fz_u32(b);
    const char *name = fp8f_status_str((fp8f_status)v);
    FZ_CHECK(name && name[0], "fp8f_status_str(%d) is empty", v);
    const char *fmt = fp8f_quant_format_name((fp8f_quant_format)v);
    FZ_CHECK((v == 0 && fmt && !strcmp(fmt, "none")) ||
                 (v == 1 && fmt && !strcmp(fmt, "fp8_per_token")) || (v != 0 && v != 1 && !fmt),
             "fp8f_quant_format_name(%d) = %s", v, fmt ? fmt : "NULL");
    int avail = fp8f_backend_available((fp8f_backend_id)v);
    FZ_CHECK(avail == 0 || avail == 1, "fp8f_backend_available(%d) = %d", v, avail);
    FZ_CHECK(v < 0 || v > 2 ? avail == 0 : v == 2 || avail == 1,
             "fp8f_backend_available(%d) = %d", v, avail);
    FZ_CHECK(fp8f_ctx_backend_name(NULL) == NULL, "backend name of NULL");
    FZ_CHECK(fp8f_ctx_caps(NULL) == 0, "caps of NULL");
    FZ_CHECK(fp8f_ctx_sync(NULL) == FP8F_E_INVALID, "fp8f_ctx_sync(NULL)");
    fz_check_message(NULL, FP8F_E_INVALID);
    FZ_CHECK(fp8f_ctx_sync(g_ctx[(unsigned)v % N_CTX]) == FP8F_OK, "fp8f_ctx_sync on the CPU");
    FZ_CHECK(fp8f_version() && fp8f_version()[0], "empty version");
    FZ_CHECK(fp8f_last_error(g_ctx[0]) != NULL, "fp8f_last_error(ctx) is NULL");
    fp8f_weight_destroy(NULL);
    fp8f_ctx_destroy(NULL);
    fp8f_mem_free(NULL, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    unsetenv("FP8F_BACKEND"); /* AUTO must mean what the rules say here */
    if (getenv("FP8F_FUZZ_STATS"))
        atexit(print_stats);
    for (int i = 0; i < N_CTX; i++) {
        fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = 1,
                          .fp8_dtype = ctx_fp8(i)};
        setenv("FP8F_CPU_ISA", ctx_isa[i / 2], 1); /* a cap: the CPU's best if lower */
        if (fp8f_ctx_create(&o, &g_ctx[i]) != FP8F_OK) {
            fprintf(stderr, "cannot create a CPU context: %s\n", fp8f_last_error(NULL));
            abort();
        }
    }
    unsetenv("FP8F_CPU_ISA");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_bytes b = {data, size};
    g_rng = 0x9E3779B97F4A7C15ull ^ fz_u32(&b);
    for (int i = 0; i < 8 && b.n > 0; i++) {
        switch (fz_pick(&b, 11)) {
        case 0:
            op_rmsnorm(&b);
            break;
        case 1:
            op_quant(&b, 0);
            break;
        case 2:
            op_quant(&b, 1);
            break;
        case 3:
            op_prepare(&b);
            break;
        case 4:
            op_weight_create(&b, (int)fz_pick(&b, 2), 0);
            break;
        case 5:
        case 6:
            op_linear(&b);
            break;
        case 7:
            op_ctx_create(&b);
            break;
        case 8:
            op_mem(&b);
            break;
        case 9:
            op_prepare_linear(&b);
            break;
        default:
            op_misc(&b);
            break;
        }
    }
    drop_weight(&g_w[0]);
    drop_weight(&g_w[1]);
    return 0;
}
