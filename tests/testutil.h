/*
 * Shared helpers of the Check suites: a seeded PRNG, tensors that live in
 * the backend's memory with a host mirror, sentinel filling and "untouched"
 * checks, comparisons against the reference (ref.h), and the context
 * factory that picks the backend under test.
 *
 * Every array handed to the library is allocated with fp8f_mem_alloc and
 * moved with fp8f_mem_upload / fp8f_mem_download, so that the same suites
 * run on a GPU backend (FP8F_TEST_BACKEND=hip). Host mirrors are only read
 * and written by the tests.
 */
#ifndef FP8F_TESTUTIL_H
#define FP8F_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "fp8fuse.h"
#include "ref.h"

/* ck_assert_msg for hot loops: Check's assertions report every passing
 * check to the runner (a system call each); this one only calls Check when
 * the expression is false (the expression is then evaluated again). */
#define TU_REQUIRE(expr, ...)                                                                  \
    do {                                                                                       \
        if (!(expr))                                                                           \
            ck_assert_msg(expr, __VA_ARGS__);                                                  \
    } while (0)

/* Byte every output starts as, so that untouched bytes can be recognized. */
#define TU_SENTINEL 0xA5u
/* Extra bytes allocated after every buffer, checked for stray writes. */
#define TU_SLACK 64u

/* ---- PRNG (splitmix64; deterministic across platforms) ------------------ */

typedef struct tu_rng {
    uint64_t state;
} tu_rng;

void tu_rng_seed(tu_rng *rng, uint64_t seed);
uint64_t tu_rng_next(tu_rng *rng);
double tu_rng_uniform(tu_rng *rng); /* [0, 1) */
double tu_rng_range(tu_rng *rng, double lo, double hi);
double tu_rng_normal(tu_rng *rng); /* N(0, 1) */
int tu_rng_int(tu_rng *rng, int n); /* [0, n) */

/* ---- contexts -------------------------------------------------------------- */

/* The backend the suites test: FP8F_TEST_BACKEND=cpu (default) or hip. */
fp8f_backend_id tu_backend_under_test(void);
/* A context on the backend under test (fp8 type: the backend's native one);
 * fails the running test if it cannot be created. */
fp8f_ctx *tu_ctx_create(void);
/* The same with options.fp8_dtype = fp8 (0: native). */
fp8f_ctx *tu_ctx_create_fp8(fp8f_dtype fp8);
/* A context on an explicit backend (e.g. FP8F_BACKEND_CPU), or NULL with
 * the failure recorded as a test failure. */
fp8f_ctx *tu_ctx_create_on(fp8f_backend_id backend, fp8f_dtype fp8);
/* Empties the last-error message of ctx (or of this thread for NULL), so
 * that a test can prove the next failure wrote one. */
void tu_clear_error(fp8f_ctx *ctx);

/* ---- buffers and tensors in backend memory -------------------------------- */

typedef struct tu_buf {
    fp8f_ctx *ctx;
    void *dev;    /* backend memory (fp8f_mem_alloc) */
    void *host;   /* the mirror; `bytes + TU_SLACK` bytes */
    size_t bytes; /* the logical size (the slack follows it) */
} tu_buf;

/* A buffer of `bytes` (+ slack) filled with TU_SENTINEL on both sides. */
tu_buf *tu_buf_new(fp8f_ctx *ctx, size_t bytes);
void tu_buf_free(tu_buf *b);
void tu_buf_upload(tu_buf *b);   /* host -> backend (whole buffer with slack) */
void tu_buf_download(tu_buf *b); /* fp8f_ctx_sync, then backend -> host */
void tu_buf_fill(tu_buf *b, uint8_t byte); /* both sides */
/* 1 when the backend copy is byte-identical to the host mirror. */
int tu_buf_untouched(tu_buf *b);
float tu_buf_f32(const tu_buf *b, size_t i); /* i-th float of the host mirror */
void tu_buf_set_f32(tu_buf *b, size_t i, float v);

typedef struct tu_tensor {
    tu_buf *buf;
    fp8f_tensor t; /* the view handed to the library (backend memory) */
    fp8f_tensor h; /* the same view on the host mirror */
} tu_tensor;

/* rows x cols with `stride` (0: cols); sentinel-filled. */
tu_tensor *tu_tensor_new(fp8f_ctx *ctx, fp8f_dtype dtype, int64_t rows, int64_t cols,
                         int64_t stride);
void tu_tensor_free(tu_tensor *t);
void tu_upload(tu_tensor *t);
void tu_download(tu_tensor *t);
int tu_untouched(tu_tensor *t);
double tu_get(const tu_tensor *t, int64_t r, int64_t c); /* host mirror, float dtypes */
void tu_set(tu_tensor *t, int64_t r, int64_t c, double v);
uint8_t tu_code(const tu_tensor *t, int64_t r, int64_t c); /* fp8 dtypes */
void tu_set_code(tu_tensor *t, int64_t r, int64_t c, uint8_t code);
/* Host: elements ~ N(0, sigma) (float dtypes) or random non-NaN codes
 * (fp8 dtypes), then uploaded. */
void tu_fill_normal(tu_tensor *t, tu_rng *rng, double sigma);
void tu_fill_uniform(tu_tensor *t, tu_rng *rng, double lo, double hi);
/* After tu_download: whether every byte outside the rows x cols elements
 * (the stride padding and the slack) still holds TU_SENTINEL. */
int tu_outside_is_sentinel(const tu_tensor *t);

/* A (q, scale) pair: q rows x cols (stride), scale with room for rows + 2
 * floats (the 2 extra must stay untouched). format starts as NONE. */
typedef struct tu_qtensor {
    tu_tensor *q;
    tu_buf *scale;
    fp8f_qtensor qt;
} tu_qtensor;

tu_qtensor *tu_qtensor_new(fp8f_ctx *ctx, fp8f_dtype fp8, int64_t rows, int64_t cols,
                           int64_t stride);
void tu_qtensor_free(tu_qtensor *q);
void tu_qtensor_download(tu_qtensor *q);
int tu_qtensor_untouched(tu_qtensor *q);

/* ---- comparisons -------------------------------------------------------------- */

/* Checks codes against reference codes: equal, or one step apart in at most
 * ceil(n / 1000) elements; NaN codes must agree. `what` names the case. */
void tu_check_codes(fp8f_dtype fp8, const uint8_t *got, const uint8_t *want, int64_t rows,
                    int64_t cols, int64_t got_stride, const char *what);
/* Checks got (host) against reference values y for a float out dtype:
 * |got - y| <= half_ulp(out) * |y| + f32_rel * |y| + subnormal step
 * (a NaN reference needs a NaN). Rows r with skip_rows[r] != 0 are not
 * compared (skip_rows may be NULL). */
void tu_check_floats(const tu_tensor *got, const double *y, double f32_rel,
                     const unsigned char *skip_rows, const char *what);
/* Checks that the codes of a qtensor (host mirror after download) and its
 * scales match reference codes and scales (relative scale_tol), skipping
 * rows as above; the scale slots after the rows must be untouched. */
void tu_check_quant(const tu_qtensor *got, const uint8_t *want_q, const double *want_scale,
                    double scale_tol, const unsigned char *skip_rows, const char *what);
/* Relative tolerance of f32 arithmetic in an rmsnorm over H elements. */
double tu_norm_f32_rel(int64_t h);

/* ---- running a suite ---------------------------------------------------------- */

/* A TCase with a generous timeout (the suites also run under valgrind). */
TCase *tu_tcase(const char *name);
/* Runs the suite (CK_ENV: CK_FORK, CK_VERBOSITY...) and returns the exit status. */
int tu_run_suite(Suite *s);

/* setenv/unsetenv that remembers the previous value; tu_env_restore puts it
 * back (suites may run with CK_FORK=no). */
void tu_env_set(const char *name, const char *value);
void tu_env_restore(void);

#endif
