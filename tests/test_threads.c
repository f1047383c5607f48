/*
 * Concurrency suite (issue 7): what fp8fuse promises about threads, tested.
 *
 *  1. Different contexts may be used at the same time from different
 *     threads: 8 threads, each with its own CPU context (e4m3fn or
 *     e4m3fnuz, 0/1/2 OpenMP threads, so OpenMP teams nest under the
 *     caller's threads), run norm+quant, the GEMM and fp8f_prepare -> GEMM
 *     for a while; every result is byte-identical to the single-threaded
 *     one.
 *  2. Inputs are only read: all threads share the same x, norm weight,
 *     and host arrays given to fp8f_weight_create.
 *  3. A context's error message is its own: each thread fails calls on its
 *     context and finds exactly its own message afterwards. The message of
 *     context-less calls (fp8f_last_error(NULL)) is per thread.
 *  4. The context-free functions (fp8f_ctx_create / destroy,
 *     fp8f_quant_format_parse / name, fp8f_quant_format_detect,
 *     fp8f_backend_available, fp8f_status_str, fp8f_version) may be called
 *     from any thread at any time.
 *  5. A context (with its weights) may move from thread to thread, one
 *     thread at a time.
 *  6. Calls from inside the caller's own OpenMP team, a context per
 *     thread, give the same results.
 * Not promised, not tested: one context used by two threads at once; a
 * weight used through a context other than its own (FP8F_E_INVALID).
 *
 * FP8F_TEST_SMALL=1 shrinks the problem (valgrind); FP8F_THREADS_SECONDS
 * sets how long the threads run (default 1.5 s, 0 with FP8F_TEST_SMALL).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8fuse.h"

enum { THREADS = 8 };

static const char detect_config[] =
    "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\","
    " \"format\": \"float-quantized\", \"ignore\": [\"lm_head\", \"re:.*mlp.gate$\"],"
    " \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"],"
    " \"weights\": {\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"channel\","
    " \"dynamic\": false, \"symmetric\": true},"
    " \"input_activations\": {\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"token\","
    " \"dynamic\": true, \"symmetric\": true}}}}}";
static const char *const detect_layers[] = {"model.layers.0.self_attn.q_proj", "lm_head",
                                            "model.layers.5.mlp.gate"};

/* ---- the shared problem and its single-threaded answers ------------------ */

typedef struct detect_answer {
    fp8f_status s;
    fp8f_quant_format f;
    char msg[512];
} detect_answer;

static struct problem {
    int64_t m, h, n, xs; /* xs: the row stride of x and the residual */
    double seconds;
    int min_iters;
    /* inputs, read by every thread */
    uint16_t *x, *res0; /* bf16 m x h (res0: what every residual starts as) */
    float *nw;          /* 1 x h */
    uint8_t *wq;        /* n x h e4m3fn codes */
    float *wscale, *bias;
    float *act; /* f32 m x h, the GEMM's dense activation */
    /* single-threaded results; [0]: e4m3fn context, [1]: e4m3fnuz */
    uint8_t *q_ref[2];
    float *s_ref[2];
    uint16_t *res_ref;
    float *gemm_ref[2], *chain_ref[2];
    detect_answer detect_ref[3];
    int hip_available;
} P;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static float rnd_value(void) { return (float)((int)(rnd() % 2001) - 1000) / 300.0f; }

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What one context computes in one iteration. */
typedef struct results {
    uint8_t *q;
    float *s;
    uint16_t *res, *dense;
    float *gemm, *chain;
} results;

static void results_alloc(results *r) {
    size_t mh = (size_t)(P.m * P.xs), mn = (size_t)(P.m * P.n);
    r->q = xmalloc((size_t)(P.m * P.h));
    r->s = xmalloc((size_t)P.m * sizeof(float));
    r->res = xmalloc(mh * 2);
    r->dense = xmalloc((size_t)(P.m * P.h) * 2);
    r->gemm = xmalloc(mn * sizeof(float));
    r->chain = xmalloc(mn * sizeof(float));
}

static void results_free(results *r) {
    free(r->q);
    free(r->s);
    free(r->res);
    free(r->dense);
    free(r->gemm);
    free(r->chain);
}

static fp8f_weight *make_weight(fp8f_ctx *ctx, char *err, size_t errlen) {
    fp8f_tensor q = {P.wq, FP8F_E4M3FN, P.n, P.h, P.h};
    fp8f_tensor b = {P.bias, FP8F_F32, 1, P.n, P.n};
    fp8f_weight *w = NULL;
    if (fp8f_weight_create(ctx, &q, P.wscale, &b, &w) != FP8F_OK) {
        snprintf(err, errlen, "weight: %s", fp8f_last_error(ctx));
        return NULL;
    }
    return w;
}

/* One iteration: norm+quant with the residual, the GEMM on a dense
 * activation, and prepare -> GEMM. Returns 0 or writes err. */
static int run_once(fp8f_ctx *ctx, const fp8f_weight *w, results *r, char *err, size_t errlen) {
    const fp8f_dtype fp8 = fp8f_ctx_fp8_dtype(ctx);
    memcpy(r->res, P.res0, (size_t)(P.m * P.xs) * 2);
    fp8f_tensor x = {P.x, FP8F_BF16, P.m, P.h, P.xs};
    fp8f_tensor res = {r->res, FP8F_BF16, P.m, P.h, P.xs};
    fp8f_tensor nw = {P.nw, FP8F_F32, 1, P.h, P.h};
    fp8f_qtensor q = {{r->q, fp8, P.m, P.h, P.h}, r->s, FP8F_QF_NONE};
    fp8f_status s = fp8f_rmsnorm_quant(ctx, &x, &res, &nw, 1e-5f, NULL, &q);
    if (s != FP8F_OK) {
        snprintf(err, errlen, "rmsnorm_quant: %s", fp8f_last_error(ctx));
        return 1;
    }
    fp8f_act a = {.kind = FP8F_ACT_DENSE, .dense = {P.act, FP8F_F32, P.m, P.h, P.h}};
    fp8f_tensor out = {r->gemm, FP8F_F32, P.m, P.n, P.n};
    if ((s = fp8f_linear_ptpc(ctx, &a, w, &out)) != FP8F_OK) {
        snprintf(err, errlen, "linear: %s", fp8f_last_error(ctx));
        return 1;
    }
    /* prepare (no residual: x is read only) -> GEMM */
    fp8f_tensor dense = {r->dense, FP8F_BF16, P.m, P.h, P.h};
    fp8f_act act;
    s = fp8f_prepare(ctx, FP8F_QF_FP8_PER_TOKEN, &x, NULL, &nw, 1e-5f, &dense, NULL, &act);
    if (s != FP8F_OK) {
        snprintf(err, errlen, "prepare: %s", fp8f_last_error(ctx));
        return 1;
    }
    out.data = r->chain;
    if ((s = fp8f_linear_ptpc(ctx, &act, w, &out)) != FP8F_OK) {
        snprintf(err, errlen, "linear after prepare: %s", fp8f_last_error(ctx));
        return 1;
    }
    return 0;
}

static int compare(const results *r, int fi, char *err, size_t errlen) {
    size_t mn = (size_t)(P.m * P.n) * sizeof(float);
    const char *what = memcmp(r->q, P.q_ref[fi], (size_t)(P.m * P.h))       ? "codes"
                       : memcmp(r->s, P.s_ref[fi], (size_t)P.m * sizeof(float)) ? "scales"
                       : memcmp(r->res, P.res_ref, (size_t)(P.m * P.xs) * 2) ? "residual"
                       : memcmp(r->gemm, P.gemm_ref[fi], mn)                   ? "GEMM"
                       : memcmp(r->chain, P.chain_ref[fi], mn)                 ? "prepare->GEMM"
                                                                               : NULL;
    if (what)
        snprintf(err, errlen, "%s differ from the single-threaded run (%s)", what,
                 fi ? "e4m3fnuz" : "e4m3fn");
    return what != NULL;
}

static detect_answer detect_once(int li) {
    detect_answer d = {FP8F_OK, (fp8f_quant_format)-1, ""};
    d.s = fp8f_quant_format_detect(detect_config, detect_layers[li], &d.f);
    if (d.s != FP8F_OK)
        snprintf(d.msg, sizeof d.msg, "%s", fp8f_last_error(NULL));
    return d;
}

static void problem_setup(void) {
    const char *small = getenv("FP8F_TEST_SMALL");
    const char *secs = getenv("FP8F_THREADS_SECONDS");
    int is_small = small && *small && strcmp(small, "0") != 0;
    P.m = is_small ? 8 : 64;
    P.h = is_small ? 192 : 1024; /* 64 x 1024 > 32768: the norm runs an OpenMP team */
    P.n = is_small ? 24 : 192;
    P.xs = P.h + 3;
    P.seconds = secs ? atof(secs) : is_small ? 0.0 : 1.5;
    P.min_iters = is_small ? 2 : 4;
    size_t mh = (size_t)(P.m * P.xs);
    P.x = xmalloc(mh * 2);
    P.res0 = xmalloc(mh * 2);
    P.nw = xmalloc((size_t)P.h * 4);
    P.wq = xmalloc((size_t)(P.n * P.h));
    P.wscale = xmalloc((size_t)P.n * 4);
    P.bias = xmalloc((size_t)P.n * 4);
    P.act = xmalloc((size_t)(P.m * P.h) * 4);
    for (size_t i = 0; i < mh; i++) {
        P.x[i] = to_bf16(rnd_value());
        P.res0[i] = to_bf16(rnd_value());
    }
    for (int64_t i = 0; i < P.h; i++)
        P.nw[i] = 0.5f + fabsf(rnd_value()) / 4;
    for (int64_t i = 0; i < P.n * P.h; i++) {
        uint8_t c = (uint8_t)(rnd() >> 56) & 0xf7u; /* finite in both e4m3 types */
        P.wq[i] = c;
    }
    for (int64_t i = 0; i < P.n; i++) {
        P.wscale[i] = 0.001f + fabsf(rnd_value()) / 100;
        P.bias[i] = rnd_value();
    }
    for (int64_t i = 0; i < P.m * P.h; i++)
        P.act[i] = rnd_value();

    /* the single-threaded answers: one thread, one context per fp8 type */
    for (int fi = 0; fi < 2; fi++) {
        fp8f_ctx *ctx = NULL;
        fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = 1,
                          .fp8_dtype = fi ? FP8F_E4M3FNUZ : FP8F_E4M3FN};
        ck_assert_int_eq(fp8f_ctx_create(&o, &ctx), FP8F_OK);
        char err[256] = "";
        fp8f_weight *w = make_weight(ctx, err, sizeof err);
        ck_assert_msg(w != NULL, "%s", err);
        results r;
        results_alloc(&r);
        ck_assert_msg(run_once(ctx, w, &r, err, sizeof err) == 0, "%s", err);
        P.q_ref[fi] = r.q;
        P.s_ref[fi] = r.s;
        P.gemm_ref[fi] = r.gemm;
        P.chain_ref[fi] = r.chain;
        if (fi == 0)
            P.res_ref = r.res;
        else
            free(r.res);
        free(r.dense);
        fp8f_weight_destroy(w);
        fp8f_ctx_destroy(ctx);
    }
    for (int li = 0; li < 3; li++)
        P.detect_ref[li] = detect_once(li);
    P.hip_available = fp8f_backend_available(FP8F_BACKEND_HIP);
}

static void problem_teardown(void) {
    free(P.x);
    free(P.res0);
    free(P.nw);
    free(P.wq);
    free(P.wscale);
    free(P.bias);
    free(P.act);
    for (int fi = 0; fi < 2; fi++) {
        free(P.q_ref[fi]);
        free(P.s_ref[fi]);
        free(P.gemm_ref[fi]);
        free(P.chain_ref[fi]);
    }
    free(P.res_ref);
    memset(&P, 0, sizeof P);
}

/* ---- 1-4: eight threads, eight contexts ------------------------------------ */

typedef struct worker {
    int id;
    pthread_barrier_t *start;
    int iters;
    char err[2048]; /* the first failure, "" if none */
} worker;

#define WFAIL(...)                                                                             \
    do {                                                                                       \
        snprintf(wk->err, sizeof wk->err, __VA_ARGS__);                                        \
        goto out;                                                                              \
    } while (0)

static void *worker_main(void *arg) {
    worker *wk = arg;
    const int fi = wk->id & 1;
    fp8f_ctx *ctx = NULL;
    fp8f_weight *w = NULL;
    results r;
    results_alloc(&r);
    fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = wk->id % 3,
                      .fp8_dtype = fi ? FP8F_E4M3FNUZ : FP8F_E4M3FN};
    pthread_barrier_wait(wk->start);
    if (fp8f_ctx_create(&o, &ctx) != FP8F_OK)
        WFAIL("ctx_create: %s", fp8f_last_error(NULL));
    char err[256] = "";
    if (!(w = make_weight(ctx, err, sizeof err)))
        WFAIL("%s", err);

    /* This thread's own failure messages, learnt once. */
    const float my_eps = -(float)(wk->id + 1);
    fp8f_tensor x = {P.x, FP8F_BF16, P.m, P.h, P.xs}, nw = {P.nw, FP8F_F32, 1, P.h, P.h};
    fp8f_tensor dummy_out = {r.dense, FP8F_BF16, P.m, P.h, P.h};
    if (fp8f_rmsnorm(ctx, &x, NULL, &nw, my_eps, &dummy_out) != FP8F_E_INVALID)
        WFAIL("eps < 0 accepted");
    char ctx_msg[512];
    snprintf(ctx_msg, sizeof ctx_msg, "%s", fp8f_last_error(ctx));
    char bogus[32], thread_msg[512];
    snprintf(bogus, sizeof bogus, "bogus-%d", wk->id);
    fp8f_quant_format f;
    if (fp8f_quant_format_parse(bogus, &f) != FP8F_E_FORMAT)
        WFAIL("\"%s\" parsed", bogus);
    snprintf(thread_msg, sizeof thread_msg, "%s", fp8f_last_error(NULL));
    if (!strstr(thread_msg, bogus))
        WFAIL("the parse message does not name \"%s\": %s", bogus, thread_msg);

    const double end = now() + P.seconds;
    for (wk->iters = 0; wk->iters < P.min_iters || now() < end; wk->iters++) {
        if (run_once(ctx, w, &r, wk->err, sizeof wk->err) || compare(&r, fi, wk->err, sizeof wk->err))
            goto out;

        /* 3: errors on this context, and per-thread ones */
        if (fp8f_rmsnorm(ctx, &x, NULL, &nw, my_eps, &dummy_out) != FP8F_E_INVALID)
            WFAIL("eps < 0 accepted (iteration %d)", wk->iters);
        if (strcmp(fp8f_last_error(ctx), ctx_msg))
            WFAIL("context message \"%s\", expected \"%s\"", fp8f_last_error(ctx), ctx_msg);
        if (strcmp(fp8f_last_error(NULL), thread_msg))
            WFAIL("thread message changed to \"%s\" (was \"%s\")", fp8f_last_error(NULL),
                  thread_msg);

        /* 4: the context-free functions, from every thread */
        if (fp8f_quant_format_parse("fp8_per_token", &f) != FP8F_OK ||
            f != FP8F_QF_FP8_PER_TOKEN || strcmp(fp8f_quant_format_name(f), "fp8_per_token"))
            WFAIL("parse of fp8_per_token");
        if (strcmp(fp8f_status_str(FP8F_E_NOMEM), "FP8F_E_NOMEM") || !fp8f_version()[0])
            WFAIL("status_str / version");
        if (fp8f_backend_available(FP8F_BACKEND_CPU) != 1)
            WFAIL("CPU backend unavailable");
        if (fp8f_backend_available(FP8F_BACKEND_HIP) != P.hip_available) /* dlopen */
            WFAIL("fp8f_backend_available(HIP) changed its answer");
        fp8f_ctx *tmp = NULL;
        if (fp8f_ctx_create(&(fp8f_options){.backend = FP8F_BACKEND_CPU}, &tmp) != FP8F_OK)
            WFAIL("ctx_create: %s", fp8f_last_error(NULL));
        fp8f_ctx_destroy(tmp);
        int li = (wk->id + wk->iters) % 3;
        detect_answer d = detect_once(li);
        if (d.s != P.detect_ref[li].s || d.f != P.detect_ref[li].f ||
            strcmp(d.msg, P.detect_ref[li].msg))
            WFAIL("detect(%s): %s/%d \"%s\", single-threaded %s/%d \"%s\"", detect_layers[li],
                  fp8f_status_str(d.s), (int)d.f, d.msg, fp8f_status_str(P.detect_ref[li].s),
                  (int)P.detect_ref[li].f, P.detect_ref[li].msg);
        /* detect's failures write the thread's message: learn it again */
        if (fp8f_quant_format_parse(bogus, &f) != FP8F_E_FORMAT ||
            strcmp(fp8f_last_error(NULL), thread_msg))
            WFAIL("thread message after detect: \"%s\"", fp8f_last_error(NULL));
    }
out:
    fp8f_weight_destroy(w);
    fp8f_ctx_destroy(ctx);
    results_free(&r);
    return NULL;
}

START_TEST(contexts_in_parallel_match_single_thread) {
    problem_setup();
    pthread_t t[THREADS];
    worker wk[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (worker){.id = i, .start = &start};
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &wk[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += wk[i].iters;
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++)
        ck_assert_msg(wk[i].err[0] == '\0', "thread %d (iteration %d): %s", i, wk[i].iters,
                      wk[i].err);
    ck_assert_int_ge(total, THREADS * P.min_iters);
    problem_teardown();
}
END_TEST

/* ---- 5: a context moves between threads ----------------------------------- */

typedef struct mover {
    fp8f_ctx *ctx;
    const fp8f_weight *w;
    int fi;
    char err[256];
} mover;

static void *mover_main(void *arg) {
    mover *mv = arg;
    results r;
    results_alloc(&r);
    if (!run_once(mv->ctx, mv->w, &r, mv->err, sizeof mv->err))
        compare(&r, mv->fi, mv->err, sizeof mv->err);
    results_free(&r);
    return NULL;
}

START_TEST(context_moves_between_threads) {
    problem_setup();
    for (int fi = 0; fi < 2; fi++) {
        fp8f_ctx *ctx = NULL;
        fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = 2,
                          .fp8_dtype = fi ? FP8F_E4M3FNUZ : FP8F_E4M3FN};
        ck_assert_int_eq(fp8f_ctx_create(&o, &ctx), FP8F_OK); /* created here */
        char err[256] = "";
        fp8f_weight *w = make_weight(ctx, err, sizeof err);
        ck_assert_msg(w != NULL, "%s", err);
        for (int hop = 0; hop < 3; hop++) { /* used there, one thread after the other */
            mover mv = {ctx, w, fi, ""};
            pthread_t t;
            ck_assert_int_eq(pthread_create(&t, NULL, mover_main, &mv), 0);
            pthread_join(t, NULL);
            ck_assert_msg(mv.err[0] == '\0', "hop %d: %s", hop, mv.err);
        }
        fp8f_weight_destroy(w); /* and destroyed here */
        fp8f_ctx_destroy(ctx);
    }
    problem_teardown();
}
END_TEST

/* ---- 6: calls from inside the caller's own OpenMP team ------------------- */

/* An engine that runs its own `#pragma omp parallel` and calls fp8fuse from
 * each of its threads, a context per thread: the library's parallel regions
 * nest under the engine's (inactive at the default nesting level, so each
 * runs on its calling thread) and give the single-threaded results. */
START_TEST(contexts_inside_an_openmp_team) {
    problem_setup();
    char errs[4][256] = {"", "", "", ""};
#pragma omp parallel num_threads(4)
    {
#ifdef _OPENMP
        const int id = omp_get_thread_num();
#else
        const int id = 0;
#endif
        const int fi = id % 2;
        fp8f_ctx *ctx = NULL;
        fp8f_options o = {.backend = FP8F_BACKEND_CPU, .num_threads = 2,
                          .fp8_dtype = fi ? FP8F_E4M3FNUZ : FP8F_E4M3FN};
        if (fp8f_ctx_create(&o, &ctx) != FP8F_OK) {
            snprintf(errs[id], sizeof errs[id], "context: %s", fp8f_last_error(NULL));
        } else {
            fp8f_weight *w = make_weight(ctx, errs[id], sizeof errs[id]);
            if (w) {
                results r;
                results_alloc(&r);
                if (!run_once(ctx, w, &r, errs[id], sizeof errs[id]))
                    compare(&r, fi, errs[id], sizeof errs[id]);
                results_free(&r);
                fp8f_weight_destroy(w);
            }
            fp8f_ctx_destroy(ctx);
        }
    }
    for (int i = 0; i < 4; i++)
        ck_assert_msg(errs[i][0] == '\0', "OpenMP thread %d: %s", i, errs[i]);
    problem_teardown();
}
END_TEST

static Suite *threads_suite(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, contexts_in_parallel_match_single_thread);
    tcase_add_test(tc, context_moves_between_threads);
    tcase_add_test(tc, contexts_inside_an_openmp_team);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(threads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
