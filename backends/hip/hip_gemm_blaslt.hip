/*
 * Large-M PTPC GEMMs through the vendor's BLASLt: cuBLASLt on NVIDIA,
 * hipBLASLt on ROCm, with outer-vector f32 scales (one per weight row, one
 * per token), which is exactly PTPC. Where M is large the GEMM is bound by
 * the matrix cores, and the vendor's tiled, pipelined wgmma/MFMA kernels are
 * the fastest there are; the streaming kernel keeps small M.
 *
 * The library is optional twice over: configure builds this path only where
 * it finds the header (FP8F_HAVE_BLASLT), and the module opens the library
 * with dlopen, so a machine without it still loads the backend and simply
 * never takes this path. The names are hipBLASLt's; hip_compat.h maps them
 * to cuBLASLt's on NVIDIA.
 *
 * The row-major PTPC problem out[M][N] = qa[M][K] . qw[N][K]^T is, read
 * column-major, D (N x M) = A^T B with A = qw (K x N, ld ldw) and
 * B = qa (K x M, ld lda): the "TN" form FP8 matmuls require. A's outer
 * vector then has N entries (the weight scales) and B's has M (the token
 * scales).
 */
#include "hip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(FP8F_HAVE_BLASLT)
#include <dlfcn.h>

/* The functions used, resolved from the library at open. */
#define BLASLT_FUNCTIONS(X)                                                                    \
    X(hipblasLtCreate)                                                                         \
    X(hipblasLtDestroy)                                                                        \
    X(hipblasLtMatmulDescCreate)                                                               \
    X(hipblasLtMatmulDescDestroy)                                                              \
    X(hipblasLtMatmulDescSetAttribute)                                                         \
    X(hipblasLtMatrixLayoutCreate)                                                             \
    X(hipblasLtMatrixLayoutDestroy)                                                            \
    X(hipblasLtMatmulPreferenceCreate)                                                         \
    X(hipblasLtMatmulPreferenceDestroy)                                                        \
    X(hipblasLtMatmulPreferenceSetAttribute)                                                   \
    X(hipblasLtMatmulAlgoGetHeuristic)                                                         \
    X(hipblasLtMatmul)

/* Expands the name first: on NVIDIA the symbol is cublasLt... */
#define BLASLT_STR2(f) #f
#define BLASLT_STR(f) BLASLT_STR2(f)

/* One problem the library was asked about: its descriptors and the
 * algorithm it chose, or `declined` when it offered none (not asked again). */
struct blaslt_plan {
    int64_t m, n, k, lda, ldw, ldo;
    int out_dt, fp8_dt, has_bias;
    int used, declined;
    hipblasLtMatmulDesc_t op;
    hipblasLtMatrixLayout_t a, b, d;
    hipblasLtMatmulHeuristicResult_t choice;
};

/* A context keeps this many plans (an engine has a handful of GEMM shapes
 * per batch size); a full cache replaces its entries round robin. */
#define BLASLT_PLANS 32
/* The workspace torch gives cuBLASLt on Hopper: room for split-K and stream-K
 * algorithms. */
#define BLASLT_WORKSPACE_BYTES ((size_t)32 << 20)

struct hip_blaslt {
    void *lib;
#define BLASLT_MEMBER(f) decltype(&::f) f;
    BLASLT_FUNCTIONS(BLASLT_MEMBER)
#undef BLASLT_MEMBER
    hipblasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    struct blaslt_plan plans[BLASLT_PLANS];
    int next_victim;
};

/* The library: by its soname first (LD_LIBRARY_PATH, the system's paths),
 * then at the path configure found it under. */
static void *open_library(void) {
    void *lib = dlopen(FP8F_BLASLT_SONAME, RTLD_NOW | RTLD_LOCAL);
#if defined(FP8F_BLASLT_PATH)
    if (!lib)
        lib = dlopen(FP8F_BLASLT_PATH, RTLD_NOW | RTLD_LOCAL);
#endif
    return lib;
}

struct hip_blaslt *hip_blaslt_open(char *why, size_t why_len) {
    void *lib = open_library();
    if (!lib) {
        snprintf(why, why_len, "%s not found (%s)", FP8F_BLASLT_NAME, FP8F_BLASLT_SONAME);
        return nullptr;
    }
    struct hip_blaslt *bl = (struct hip_blaslt *)calloc(1, sizeof *bl);
    if (!bl) {
        dlclose(lib);
        snprintf(why, why_len, "out of memory");
        return nullptr;
    }
    bl->lib = lib;
#define BLASLT_RESOLVE(f)                                                                      \
    bl->f = (decltype(&::f))dlsym(lib, BLASLT_STR(f));                                          \
    if (!bl->f) {                                                                              \
        snprintf(why, why_len, "%s lacks %s", FP8F_BLASLT_SONAME, BLASLT_STR(f));             \
        hip_blaslt_close(bl);                                                                  \
        return nullptr;                                                                        \
    }
    BLASLT_FUNCTIONS(BLASLT_RESOLVE)
#undef BLASLT_RESOLVE
    if (bl->hipblasLtCreate(&bl->handle) != HIPBLAS_STATUS_SUCCESS) {
        bl->handle = nullptr;
        snprintf(why, why_len, "%s: handle creation failed", FP8F_BLASLT_NAME);
        hip_blaslt_close(bl);
        return nullptr;
    }
    /* without a workspace the library still runs, with fewer algorithms */
    if (hipMalloc(&bl->workspace, BLASLT_WORKSPACE_BYTES) == hipSuccess) {
        bl->workspace_bytes = BLASLT_WORKSPACE_BYTES;
    } else {
        (void)hipGetLastError();
        bl->workspace = nullptr;
    }
    return bl;
}

static void plan_release(struct hip_blaslt *bl, struct blaslt_plan *p) {
    if (p->op)
        (void)bl->hipblasLtMatmulDescDestroy(p->op);
    if (p->a)
        (void)bl->hipblasLtMatrixLayoutDestroy(p->a);
    if (p->b)
        (void)bl->hipblasLtMatrixLayoutDestroy(p->b);
    if (p->d)
        (void)bl->hipblasLtMatrixLayoutDestroy(p->d);
    memset(p, 0, sizeof *p);
}

void hip_blaslt_close(struct hip_blaslt *bl) {
    if (!bl)
        return;
    for (int i = 0; i < BLASLT_PLANS; i++)
        if (bl->plans[i].used)
            plan_release(bl, &bl->plans[i]);
    if (bl->workspace)
        (void)hipFree(bl->workspace);
    if (bl->handle)
        (void)bl->hipblasLtDestroy(bl->handle);
    /* the library stays mapped: its own teardown may still run at exit */
    free(bl);
}

static int blaslt_fp8_type(int fp8_dt, hipDataType *t) {
#if defined(FP8F_GPU_AMD)
    if (fp8_dt == FP8F_E4M3FNUZ) {
        *t = HIP_R_8F_E4M3_FNUZ;
        return 1;
    }
#endif
    if (fp8_dt == FP8F_E4M3FN) {
        *t = HIP_R_8F_E4M3;
        return 1;
    }
    return 0;
}

static hipDataType blaslt_out_type(int out_dt) {
    return out_dt == FP8F_BF16 ? HIP_R_16BF : HIP_R_16F;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
static int aligned256(const void *p) { return ((uintptr_t)p & 255u) == 0; }

/* What the library's FP8 kernels require of the operands (16-byte aligned
 * rows; the matrices' base pointers 256-byte aligned, the alignment its
 * algorithm choice assumes unless told otherwise: a row slice of a larger
 * tensor at another offset stays with fp8fuse's kernels rather than fail
 * in the matmul), a bf16 or f16 output, and a bias, if any, in the
 * output's type (their only bias type), which the weight keeps where every
 * value converts exactly. An f32 output stays with fp8fuse's kernels, which
 * sum in f32: Hopper's fp8 tensor cores sum each k-block at below f32
 * precision (measured: 3e-4 of the largest output at K = 1024-5120),
 * invisible after rounding to bf16 or f16 but not in f32. */
static int blaslt_fits(const struct hip_gemm_args *g) {
    return g->out_dt != FP8F_F32 && g->k % 16 == 0 && g->lda % 16 == 0 && g->ldw % 16 == 0 &&
           g->ldo % 8 == 0 && (!g->bias || g->bias_out) && aligned256(g->qa) &&
           aligned256(g->qw) && aligned256(g->out) && aligned16(g->sa) && aligned16(g->sw) &&
           (!g->bias_out || aligned16(g->bias_out));
}

#define BLASLT_OK(call) ((call) == HIPBLAS_STATUS_SUCCESS)

static int set_attr(struct hip_blaslt *bl, hipblasLtMatmulDesc_t op,
                    hipblasLtMatmulDescAttributes_t attr, const void *v, size_t size) {
    return BLASLT_OK(bl->hipblasLtMatmulDescSetAttribute(op, attr, v, size));
}

/* Points the plan's descriptor at this call's scales and bias. */
static int bind_pointers(struct hip_blaslt *bl, struct blaslt_plan *p,
                         const struct hip_gemm_args *g) {
    return set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_A_SCALE_POINTER, &g->sw, sizeof g->sw) &&
           set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_B_SCALE_POINTER, &g->sa, sizeof g->sa) &&
           (!g->bias_out || set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_BIAS_POINTER,
                                     &g->bias_out, sizeof g->bias_out));
}

/* Describes the problem to the library and asks it for its best algorithm;
 * returns 0 when it has none (the plan is then marked declined). */
static int plan_build(struct hip_blaslt *bl, struct blaslt_plan *p, const struct hip_gemm_args *g,
                      int fp8_dt) {
    hipDataType fp8;
    const hipDataType out = blaslt_out_type(g->out_dt);
    if (!blaslt_fp8_type(fp8_dt, &fp8))
        return 0;
    const hipblasOperation_t ta = HIPBLAS_OP_T, tb = HIPBLAS_OP_N;
    const hipblasLtMatmulMatrixScale_t vec = HIPBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    if (!BLASLT_OK(bl->hipblasLtMatmulDescCreate(&p->op, HIPBLAS_COMPUTE_32F, HIP_R_32F)) ||
        !set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) ||
        !set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) ||
        !set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_A_SCALE_MODE, &vec, sizeof vec) ||
        !set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_B_SCALE_MODE, &vec, sizeof vec))
        return 0;
    if (g->bias_out) {
        /* in the output's type, the only one its fp8 kernels take there */
        const hipblasLtEpilogue_t epi = HIPBLASLT_EPILOGUE_BIAS;
        if (!set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi) ||
            !set_attr(bl, p->op, HIPBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &out, sizeof out))
            return 0;
    }
    if (!bind_pointers(bl, p, g) ||
        !BLASLT_OK(bl->hipblasLtMatrixLayoutCreate(&p->a, fp8, (uint64_t)g->k, (uint64_t)g->n,
                                                   g->ldw)) ||
        !BLASLT_OK(bl->hipblasLtMatrixLayoutCreate(&p->b, fp8, (uint64_t)g->k, (uint64_t)g->m,
                                                   g->lda)) ||
        !BLASLT_OK(bl->hipblasLtMatrixLayoutCreate(&p->d, out, (uint64_t)g->n, (uint64_t)g->m,
                                                   g->ldo)))
        return 0;
    hipblasLtMatmulPreference_t pref = nullptr;
    int found = 0;
    const uint64_t ws = bl->workspace_bytes;
    if (BLASLT_OK(bl->hipblasLtMatmulPreferenceCreate(&pref)) &&
        BLASLT_OK(bl->hipblasLtMatmulPreferenceSetAttribute(
            pref, HIPBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)) &&
        !BLASLT_OK(bl->hipblasLtMatmulAlgoGetHeuristic(bl->handle, p->op, p->a, p->b, p->d, p->d,
                                                       pref, 1, &p->choice, &found)))
        found = 0;
    if (pref)
        (void)bl->hipblasLtMatmulPreferenceDestroy(pref);
    return found > 0;
}

static struct blaslt_plan *plan_find(struct hip_blaslt *bl, const struct hip_gemm_args *g,
                                     int fp8_dt) {
    for (int i = 0; i < BLASLT_PLANS; i++) {
        struct blaslt_plan *p = &bl->plans[i];
        if (p->used && p->m == g->m && p->n == g->n && p->k == g->k && p->lda == g->lda &&
            p->ldw == g->ldw && p->ldo == g->ldo && p->out_dt == g->out_dt &&
            p->fp8_dt == fp8_dt && p->has_bias == (g->bias_out != nullptr))
            return p;
    }
    return nullptr;
}

static struct blaslt_plan *plan_new(struct hip_blaslt *bl, const struct hip_gemm_args *g,
                                    int fp8_dt) {
    struct blaslt_plan *p = &bl->plans[bl->next_victim];
    bl->next_victim = (bl->next_victim + 1) % BLASLT_PLANS;
    if (p->used)
        plan_release(bl, p);
    p->used = 1;
    p->m = g->m, p->n = g->n, p->k = g->k;
    p->lda = g->lda, p->ldw = g->ldw, p->ldo = g->ldo;
    p->out_dt = g->out_dt, p->fp8_dt = fp8_dt, p->has_bias = g->bias_out != nullptr;
    p->declined = !plan_build(bl, p, g, fp8_dt);
    return p;
}

fp8f_status hip_blaslt_gemm(struct fp8f_backend *be, struct hip_blaslt *bl,
                            const struct hip_gemm_args *g, int fp8_dt, int *declined) {
    *declined = 1;
    if (!bl || !blaslt_fits(g))
        return FP8F_OK;
    struct blaslt_plan *p = plan_find(bl, g, fp8_dt);
    if (!p)
        p = plan_new(bl, g, fp8_dt);
    else if (!p->declined && !bind_pointers(bl, p, g))
        return fp8f_backend_fail(be, FP8F_E_DEVICE, "%s: setting the scale pointers failed",
                                 FP8F_BLASLT_NAME);
    if (p->declined)
        return FP8F_OK;
    *declined = 0;
    const float one = 1.0f, zero = 0.0f;
    const hipblasStatus_t s = bl->hipblasLtMatmul(
        bl->handle, p->op, &one, g->qw, p->a, g->qa, p->b, &zero, g->out, p->d, g->out, p->d,
        &p->choice.algo, bl->workspace, bl->workspace_bytes, hip_st(be)->stream);
    if (s != HIPBLAS_STATUS_SUCCESS)
        return fp8f_backend_fail(be, FP8F_E_DEVICE, "%s matmul failed (status %d)",
                                 FP8F_BLASLT_NAME, (int)s);
    /* its errors come back as the status: the runtime's last error (which
     * cuBLASLt, not linked to our runtime, does not set) would only be stale */
    return FP8F_OK;
}

#else /* !FP8F_HAVE_BLASLT: built without the header; the path never runs */

struct hip_blaslt *hip_blaslt_open(char *why, size_t why_len) {
    snprintf(why, why_len, "built without a BLASLt header");
    return nullptr;
}

void hip_blaslt_close(struct hip_blaslt *bl) { (void)bl; }

fp8f_status hip_blaslt_gemm(struct fp8f_backend *be, struct hip_blaslt *bl,
                            const struct hip_gemm_args *g, int fp8_dt, int *declined) {
    (void)be, (void)bl, (void)g, (void)fp8_dt;
    *declined = 1;
    return FP8F_OK;
}

#endif
