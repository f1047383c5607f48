/* Shared helpers of the Check suites (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- PRNG ------------------------------------------------------------------------ */

void tu_rng_seed(tu_rng *rng, uint64_t seed) { rng->state = seed * 0x9e3779b97f4a7c15ull + 1; }

uint64_t tu_rng_next(tu_rng *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *rng) { return (double)(tu_rng_next(rng) >> 11) * 0x1.0p-53; }

double tu_rng_range(tu_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * tu_rng_uniform(rng);
}

double tu_rng_normal(tu_rng *rng) {
    double u1 = tu_rng_uniform(rng), u2 = tu_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

int tu_rng_int(tu_rng *rng, int n) { return (int)(tu_rng_next(rng) % (uint64_t)n); }

/* ---- contexts -------------------------------------------------------------------- */

fp8f_backend_id tu_backend_under_test(void) {
    const char *env = getenv("FP8F_TEST_BACKEND");
    if (!env || !*env || strcmp(env, "cpu") == 0)
        return FP8F_BACKEND_CPU;
    if (strcmp(env, "hip") == 0)
        return FP8F_BACKEND_HIP;
    ck_abort_msg("FP8F_TEST_BACKEND=\"%s\" is not cpu or hip", env);
    return FP8F_BACKEND_CPU;
}

fp8f_ctx *tu_ctx_create_on(fp8f_backend_id backend, fp8f_dtype fp8) {
    fp8f_options opt = {.backend = backend, .fp8_dtype = fp8};
    fp8f_ctx *ctx = NULL;
    fp8f_status s = fp8f_ctx_create(&opt, &ctx);
    ck_assert_msg(s == FP8F_OK && ctx, "fp8f_ctx_create(backend %d, fp8 %s): %s: %s",
                  (int)backend, ref_dtype_name(fp8), fp8f_status_str(s), fp8f_last_error(NULL));
    return ctx;
}

fp8f_ctx *tu_ctx_create_fp8(fp8f_dtype fp8) {
    return tu_ctx_create_on(tu_backend_under_test(), fp8);
}

fp8f_ctx *tu_ctx_create(void) { return tu_ctx_create_fp8(FP8F_F32); }

void tu_clear_error(fp8f_ctx *ctx) {
    if (ctx)
        ctx->be.error[0] = '\0';
    else
        fp8f__clear_thread_error();
}

/* ---- buffers ------------------------------------------------------------------------ */

tu_buf *tu_buf_new(fp8f_ctx *ctx, size_t bytes) {
    tu_buf *b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(b);
    b->ctx = ctx;
    b->bytes = bytes;
    b->host = malloc(bytes + TU_SLACK);
    ck_assert_ptr_nonnull(b->host);
    fp8f_status s = fp8f_mem_alloc(ctx, bytes + TU_SLACK, &b->dev);
    ck_assert_msg(s == FP8F_OK && b->dev, "fp8f_mem_alloc(%zu): %s: %s", bytes + TU_SLACK,
                  fp8f_status_str(s), fp8f_last_error(ctx));
    tu_buf_fill(b, TU_SENTINEL);
    return b;
}

void tu_buf_free(tu_buf *b) {
    if (!b)
        return;
    fp8f_mem_free(b->ctx, b->dev);
    free(b->host);
    free(b);
}

void tu_buf_upload(tu_buf *b) {
    fp8f_status s = fp8f_mem_upload(b->ctx, b->dev, b->host, b->bytes + TU_SLACK);
    ck_assert_msg(s == FP8F_OK, "fp8f_mem_upload: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(b->ctx));
}

void tu_buf_download(tu_buf *b) {
    fp8f_status s = fp8f_ctx_sync(b->ctx);
    ck_assert_msg(s == FP8F_OK, "fp8f_ctx_sync: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(b->ctx));
    s = fp8f_mem_download(b->ctx, b->host, b->dev, b->bytes + TU_SLACK);
    ck_assert_msg(s == FP8F_OK, "fp8f_mem_download: %s: %s", fp8f_status_str(s),
                  fp8f_last_error(b->ctx));
}

void tu_buf_fill(tu_buf *b, uint8_t byte) {
    memset(b->host, byte, b->bytes + TU_SLACK);
    tu_buf_upload(b);
}

int tu_buf_untouched(tu_buf *b) {
    size_t n = b->bytes + TU_SLACK;
    unsigned char *now = malloc(n);
    ck_assert_ptr_nonnull(now);
    fp8f_status s = fp8f_ctx_sync(b->ctx);
    ck_assert_msg(s == FP8F_OK, "fp8f_ctx_sync: %s", fp8f_status_str(s));
    s = fp8f_mem_download(b->ctx, now, b->dev, n);
    ck_assert_msg(s == FP8F_OK, "fp8f_mem_download: %s", fp8f_status_str(s));
    int same = memcmp(now, b->host, n) == 0;
    free(now);
    return same;
}

float tu_buf_f32(const tu_buf *b, size_t i) {
    float f;
    memcpy(&f, (const char *)b->host + i * sizeof f, sizeof f);
    return f;
}

void tu_buf_set_f32(tu_buf *b, size_t i, float v) {
    memcpy((char *)b->host + i * sizeof v, &v, sizeof v);
}

/* ---- tensors -------------------------------------------------------------------------- */

tu_tensor *tu_tensor_new(fp8f_ctx *ctx, fp8f_dtype dtype, int64_t rows, int64_t cols,
                         int64_t stride) {
    if (stride == 0)
        stride = cols;
    ck_assert_msg(rows >= 0 && cols >= 1 && stride >= cols, "bad test tensor %lld x %lld / %lld",
                  (long long)rows, (long long)cols, (long long)stride);
    tu_tensor *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->buf = tu_buf_new(ctx, (size_t)(rows * stride) * ref_dtype_size(dtype));
    t->t = (fp8f_tensor){t->buf->dev, dtype, rows, cols, stride};
    t->h = (fp8f_tensor){t->buf->host, dtype, rows, cols, stride};
    return t;
}

void tu_tensor_free(tu_tensor *t) {
    if (!t)
        return;
    tu_buf_free(t->buf);
    free(t);
}

void tu_upload(tu_tensor *t) { tu_buf_upload(t->buf); }
void tu_download(tu_tensor *t) { tu_buf_download(t->buf); }
int tu_untouched(tu_tensor *t) { return tu_buf_untouched(t->buf); }

double tu_get(const tu_tensor *t, int64_t r, int64_t c) { return ref_load(&t->h, r, c); }
void tu_set(tu_tensor *t, int64_t r, int64_t c, double v) { ref_store(&t->h, r, c, v); }
uint8_t tu_code(const tu_tensor *t, int64_t r, int64_t c) { return ref_code(&t->h, r, c); }
void tu_set_code(tu_tensor *t, int64_t r, int64_t c, uint8_t code) {
    ref_set_code(&t->h, r, c, code);
}

static int is_fp8(fp8f_dtype t) { return t == FP8F_E4M3FN || t == FP8F_E4M3FNUZ; }

static uint8_t random_code(fp8f_dtype t, tu_rng *rng) {
    for (;;) {
        uint8_t c = (uint8_t)tu_rng_next(rng);
        if (!ref_fp8_is_nan(t, c))
            return c;
    }
}

void tu_fill_normal(tu_tensor *t, tu_rng *rng, double sigma) {
    for (int64_t r = 0; r < t->h.rows; r++)
        for (int64_t c = 0; c < t->h.cols; c++) {
            if (is_fp8(t->h.dtype))
                tu_set_code(t, r, c, random_code(t->h.dtype, rng));
            else
                tu_set(t, r, c, sigma * tu_rng_normal(rng));
        }
    tu_upload(t);
}

void tu_fill_uniform(tu_tensor *t, tu_rng *rng, double lo, double hi) {
    for (int64_t r = 0; r < t->h.rows; r++)
        for (int64_t c = 0; c < t->h.cols; c++) {
            if (is_fp8(t->h.dtype))
                tu_set_code(t, r, c, random_code(t->h.dtype, rng));
            else
                tu_set(t, r, c, tu_rng_range(rng, lo, hi));
        }
    tu_upload(t);
}

int tu_outside_is_sentinel(const tu_tensor *t) {
    const size_t es = ref_dtype_size(t->h.dtype), total = t->buf->bytes + TU_SLACK;
    const unsigned char *p = t->buf->host;
    for (size_t i = 0; i < total; i++) {
        size_t e = i / es;
        int64_t r = (int64_t)e / t->h.stride, c = (int64_t)e % t->h.stride;
        int inside = i < t->buf->bytes && r < t->h.rows && c < t->h.cols;
        if (!inside && p[i] != TU_SENTINEL)
            return 0;
    }
    return 1;
}

tu_qtensor *tu_qtensor_new(fp8f_ctx *ctx, fp8f_dtype fp8, int64_t rows, int64_t cols,
                           int64_t stride) {
    tu_qtensor *q = calloc(1, sizeof *q);
    ck_assert_ptr_nonnull(q);
    q->q = tu_tensor_new(ctx, fp8, rows, cols, stride);
    q->scale = tu_buf_new(ctx, (size_t)(rows + 2) * sizeof(float));
    q->qt = (fp8f_qtensor){q->q->t, q->scale->dev, FP8F_QF_NONE};
    return q;
}

void tu_qtensor_free(tu_qtensor *q) {
    if (!q)
        return;
    tu_tensor_free(q->q);
    tu_buf_free(q->scale);
    free(q);
}

void tu_qtensor_download(tu_qtensor *q) {
    tu_download(q->q);
    tu_buf_download(q->scale);
}

int tu_qtensor_untouched(tu_qtensor *q) {
    return tu_untouched(q->q) && tu_buf_untouched(q->scale);
}

/* ---- comparisons ------------------------------------------------------------------------ */

void tu_check_codes(fp8f_dtype fp8, const uint8_t *got, const uint8_t *want, int64_t rows,
                    int64_t cols, int64_t got_stride, const char *what) {
    int64_t n = rows * cols, off_by_one = 0, allowed = (n + 999) / 1000;
    char first[160] = "";
    size_t used = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            uint8_t g = got[r * got_stride + c], w = want[r * cols + c];
            int gn = ref_fp8_is_nan(fp8, g), wn = ref_fp8_is_nan(fp8, w);
            TU_REQUIRE(gn == wn, "%s: [%lld,%lld] code 0x%02x vs reference 0x%02x (NaN mismatch)",
                          what, (long long)r, (long long)c, g, w);
            if (gn)
                continue;
            int d = abs(ref_fp8_ordinal(g) - ref_fp8_ordinal(w));
            TU_REQUIRE(d <= 1, "%s: [%lld,%lld] code 0x%02x (%g) vs reference 0x%02x (%g): %d steps",
                          what, (long long)r, (long long)c, g, ref_fp8_decode(fp8, g), w,
                          ref_fp8_decode(fp8, w), d);
            if (d && used + 48 < sizeof first)
                used += (size_t)snprintf(first + used, sizeof first - used,
                                         " [%lld,%lld] 0x%02x vs 0x%02x;", (long long)r,
                                         (long long)c, g, w);
            off_by_one += d;
        }
    TU_REQUIRE(off_by_one <= allowed,
                  "%s: %lld of %lld codes are one step off the reference (at most %lld "
                  "allowed):%s",
                  what, (long long)off_by_one, (long long)n, (long long)allowed, first);
}

void tu_check_floats(const tu_tensor *got, const double *y, double f32_rel,
                     const unsigned char *skip_rows, const char *what) {
    const fp8f_dtype t = got->h.dtype;
    const double half = ref_half_ulp_rel(t), sub = ref_subnormal_step(t);
    for (int64_t r = 0; r < got->h.rows; r++)
        for (int64_t c = 0; c < got->h.cols && !(skip_rows && skip_rows[r]); c++) {
            double g = tu_get(got, r, c), w = y[r * got->h.cols + c];
            if (isnan(w)) {
                TU_REQUIRE(isnan(g), "%s: [%lld,%lld] = %.9g, reference NaN", what,
                              (long long)r, (long long)c, g);
                continue;
            }
            double tol = (half + f32_rel) * fabs(w) + sub;
            TU_REQUIRE(fabs(g - w) <= tol,
                          "%s: [%lld,%lld] = %.9g, reference %.9g (|diff| %.3g > tol %.3g, %s)",
                          what, (long long)r, (long long)c, g, w, fabs(g - w), tol,
                          ref_dtype_name(t));
        }
}

void tu_check_quant(const tu_qtensor *got, const uint8_t *want_q, const double *want_scale,
                    double scale_tol, const unsigned char *skip_rows, const char *what) {
    const fp8f_tensor *q = &got->q->h;
    const int64_t rows = q->rows, cols = q->cols;
    uint8_t *g = malloc((size_t)(rows * cols) + 1), *w = malloc((size_t)(rows * cols) + 1);
    ck_assert(g && w);
    int64_t kept = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (skip_rows && skip_rows[r])
            continue;
        for (int64_t c = 0; c < cols; c++) {
            g[kept * cols + c] = ref_code(q, r, c);
            w[kept * cols + c] = want_q[r * cols + c];
        }
        double s = tu_buf_f32(got->scale, (size_t)r), ws = want_scale[r];
        TU_REQUIRE(fabs(s - ws) <= scale_tol * fabs(ws), "%s: scale[%lld] = %.9g, reference %.9g (rel %.3g > %.3g)",
                   what, (long long)r, s, ws, fabs(s - ws) / fabs(ws), scale_tol);
        kept++;
    }
    tu_check_codes(q->dtype, g, w, kept, cols, cols, what);
    free(g);
    free(w);
    const unsigned char *slack = (const unsigned char *)got->scale->host + rows * sizeof(float);
    for (size_t i = 0; i < 2 * sizeof(float) + TU_SLACK; i++)
        TU_REQUIRE(slack[i] == TU_SENTINEL, "%s: the scale array was written past its %lld rows",
                   what, (long long)rows);
    TU_REQUIRE(tu_outside_is_sentinel(got->q), "%s: q was written outside its elements", what);
}

double tu_norm_f32_rel(int64_t h) { return ((double)h / 2.0 + 8.0) * 0x1.0p-24; }

/* ---- suites ----------------------------------------------------------------------------- */

TCase *tu_tcase(const char *name) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    return tc;
}

int tu_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- environment ------------------------------------------------------------------------- */

#define TU_ENV_MAX 16
static struct {
    char *name, *old; /* old NULL: was unset */
} env_saved[TU_ENV_MAX];
static int env_count;

void tu_env_set(const char *name, const char *value) {
    int saved = 0; /* the value before the test's first change is the one to restore */
    for (int i = 0; i < env_count; i++)
        saved |= strcmp(env_saved[i].name, name) == 0;
    if (!saved) {
        ck_assert_int_lt(env_count, TU_ENV_MAX);
        const char *old = getenv(name);
        env_saved[env_count].name = strdup(name);
        env_saved[env_count].old = old ? strdup(old) : NULL;
        env_count++;
    }
    if (value)
        ck_assert_int_eq(setenv(name, value, 1), 0);
    else
        ck_assert_int_eq(unsetenv(name), 0);
}

void tu_env_restore(void) {
    while (env_count > 0) {
        env_count--;
        if (env_saved[env_count].old)
            setenv(env_saved[env_count].name, env_saved[env_count].old, 1);
        else
            unsetenv(env_saved[env_count].name);
        free(env_saved[env_count].name);
        free(env_saved[env_count].old);
    }
}
