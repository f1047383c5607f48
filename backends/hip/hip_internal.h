/*
 * What the HIP backend's files share on the host side: the per-context
 * state, the weight layout, error mapping and the launchers each kernel
 * file provides. Everything here is hidden in the module; only the two
 * entry points in hip_backend.hip are exported.
 */
#ifndef FP8F_HIP_INTERNAL_H
#define FP8F_HIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "hip_compat.h"

#define FP8F_HIP_HIDDEN __attribute__((visibility("hidden")))

/* Per-context state (be->state). */
struct hip_state {
    int device;
    hipStream_t stream; /* the context's stream (NULL = default) */
    int sm_count;
    int l2_bytes;
    /* Context-owned scratch: the quantized activation of a DENSE GEMM input. */
    void *scratch;
    size_t scratch_bytes;
    /* Tuning overrides from the environment (0 = heuristic), read at init:
     * FP8F_HIP_ROWCFG="vpt,tpr,rows" and FP8F_HIP_GENERIC=1. */
    int cfg_vpt, cfg_tpr, cfg_rows;
    int force_generic;
    /* Rows spread over a cluster of blocks: NVIDIA sm_90+ (clusters_ok);
     * row_cluster from FP8F_HIP_ROW_CLUSTER=1|2|4|8 (blocks per row, 1 =
     * never), 0 = by the number of rows. */
    int clusters_ok, row_cluster;
    /* GEMM paths (hip_gemm.hip picks one per call): the weight-streaming
     * kernel where this device and build have it, the vendor's BLASLt where
     * it was found (NULL: not found, blaslt_why says why), the tiled kernel
     * everywhere. FP8F_HIP_GEMM=tiled|stream|blaslt forces one (tests,
     * comparisons); a forced path that cannot take a call falls back, or,
     * with FP8F_HIP_GEMM_STRICT=1, fails it with FP8F_E_UNSUPPORTED (tests
     * that must know which path ran). */
    int gemm_stream_ok;
    struct hip_blaslt *blaslt;
    char blaslt_why[96];
    int gemm_force; /* enum hip_gemm_path, or -1: the heuristic */
    int gemm_strict;
    /* Programmatic dependent launch for the streaming GEMM: NVIDIA sm_90+,
     * unless FP8F_HIP_PDL=0 (for before/after measurements). */
    int pdl;
    /* Tokens per streaming-GEMM block, 8, 16 or 32 (0: by M), from
     * FP8F_HIP_STREAM_TOKENS (tuning). */
    int stream_tokens;
    /* Weight rows per block, 16 or 32 (0: by N and M), from
     * FP8F_HIP_STREAM_ROWS (tuning). */
    int stream_rows;
    char describe[256];
};

/* A weight on the device: N x K codes in the context's fp8 type, rows
 * `ldw` bytes apart, zero-padded to HIP_WEIGHT_KPAD columns and
 * HIP_WEIGHT_NPAD rows (the streaming kernel loads whole tiles unguarded);
 * N scales (conversion factor folded in), optional N biases. */
#define HIP_WEIGHT_KPAD 64
#define HIP_WEIGHT_NPAD 32
struct hip_weight {
    uint8_t *q;
    int64_t ldw;
    float *scale;
    float *bias;
    /* the bias in bf16 and in f16 for the vendor's BLASLt, each kept only
     * where every value converts exactly (NULL otherwise) */
    uint16_t *bias_bf16, *bias_f16;
};

/* One PTPC GEMM, by value: qa (m x k codes, lda apart) with per-row scales
 * sa, the weight's codes (ldw apart), scales sw and bias (NULL: none); out
 * (m x n, ldo apart, out_dt). m_base: the first token of this launch. */
struct hip_gemm_args {
    const uint8_t *qa;
    int64_t lda;
    const float *sa;
    const uint8_t *qw;
    int64_t ldw;
    const float *sw;
    const float *bias;
    const void *bias_out; /* the bias in out_dt, exact (NULL: none or not exact) */
    void *out;
    int64_t ldo;
    int out_dt;
    int64_t m, n, k, m_base;
};

static inline struct hip_state *hip_st(struct fp8f_backend *be) {
    return (struct hip_state *)be->state;
}

/* The most blocks of `threads` threads a 1-D grid may have: 2^31 - 1 on
 * NVIDIA; on AMD the grid's x extent counts work items, which must stay
 * below 2^32 (from 2^24 rows a block per row would exceed it). */
static inline int64_t hip_max_blocks(int threads) {
#if defined(FP8F_GPU_AMD)
    const int64_t blocks = (int64_t)0xffffffff / threads;
    return blocks < 0x7fffffff ? blocks : 0x7fffffff;
#else
    (void)threads;
    return 0x7fffffff;
#endif
}

/* Maps a runtime status to FP8F_E_DEVICE with the runtime's own message
 * ("what: cudaErrorXxx: text"); FP8F_OK on success. */
FP8F_HIP_HIDDEN fp8f_status hip_fail_rt(struct fp8f_backend *be, hipError_t e, const char *what);
#define HIP_TRY(be, call)                                                                      \
    do {                                                                                       \
        hipError_t hip_try_e_ = (call);                                                        \
        if (hip_try_e_ != hipSuccess)                                                          \
            return hip_fail_rt((be), hip_try_e_, #call);                                       \
    } while (0)
/* Makes the context's device current on this thread (cheap when it is). */
FP8F_HIP_HIDDEN fp8f_status hip_use_device(struct fp8f_backend *be);

/* ---- row operations (hip_rows*.hip) ----------------------------------- */

enum hip_row_mode { HIP_NORM_QUANT = 0, HIP_NORM = 1, HIP_QUANT = 2 };

/* Everything a row kernel needs, by value. Pointers are bytes; strides are
 * in elements of their tensor. */
struct hip_row_args {
    const void *x;
    int64_t x_stride;
    void *res; /* NULL: no residual */
    int64_t res_stride;
    const void *w; /* norm weight (1 x cols) */
    void *out;     /* dense output (HIP_NORM) or the fp8 codes */
    int64_t out_stride;
    float *scale; /* per-row scales (quant modes) */
    int64_t rows, row0, cols;
    float eps, n_f; /* n_f = (float)cols */
    float ub;
    int has_ub;
    int x_dt, w_dt, out_dt; /* fp8f_dtype values */
};

/* Launch shape of the register-resident kernel: each row is handled by tpr
 * threads (a power of two <= warp, or a multiple of the warp), each holding
 * vpt 16-byte vectors of the row; `rows` rows per block; or, where cluster
 * > 1, by `cluster` blocks of tpr threads each (rows == 1). */
struct hip_row_cfg {
    int vpt, tpr, rows, cluster;
};
#define HIP_ROW_MAX_VPT 8
/* Threads per block the kernel is compiled for: above 3 vectors a thread
 * needs more than 64 registers, so those variants run at most 512. */
#define HIP_ROW_MAX_THREADS(vpt) ((vpt) <= 3 ? 1024 : 512)
/* vpt codes HIP_ROW_OCC + 2..4: the same kernel compiled for at most 256
 * threads a block and at least HIP_ROW_OCC_MINB(vpt) blocks resident (a
 * register cap of 40 / 48 / 64), so that more rows are in flight. */
#define HIP_ROW_OCC 10
#define HIP_ROW_OCC_MINB(vpt) ((vpt) == 2 ? 6 : (vpt) == 3 ? 5 : 4)
#define HIP_ROW_VPT(code) ((code) > HIP_ROW_OCC ? (code) - HIP_ROW_OCC : (code))
#define HIP_ROW_CODE_THREADS(code)                                                             \
    ((code) > HIP_ROW_OCC ? 256 : HIP_ROW_MAX_THREADS(code))

/* Per element dtype, in hip_rows_<dt>.hip: launches the fast kernel. */
FP8F_HIP_HIDDEN hipError_t hip_launch_rows_f32(int mode, int fnuz, const struct hip_row_args *a,
                                               struct hip_row_cfg c, hipStream_t s);
FP8F_HIP_HIDDEN hipError_t hip_launch_rows_bf16(int mode, int fnuz, const struct hip_row_args *a,
                                                struct hip_row_cfg c, hipStream_t s);
FP8F_HIP_HIDDEN hipError_t hip_launch_rows_f16(int mode, int fnuz, const struct hip_row_args *a,
                                               struct hip_row_cfg c, hipStream_t s);
/* Any dtypes, alignments and widths (hip_rows_generic.hip). */
FP8F_HIP_HIDDEN hipError_t hip_launch_rows_generic(int mode, int fnuz,
                                                   const struct hip_row_args *a, hipStream_t s);

/* The three operations, through the fast or the generic kernel. */
FP8F_HIP_HIDDEN fp8f_status hip_row_op(struct fp8f_backend *be, int mode, const fp8f_tensor *x,
                                       fp8f_tensor *residual, const fp8f_tensor *weight,
                                       float eps, const float *scale_ub, fp8f_tensor *dense_out,
                                       fp8f_qtensor *q_out);

/* ---- GEMM and weights (hip_gemm.hip) ---------------------------------- */

FP8F_HIP_HIDDEN fp8f_status hip_weight_create(struct fp8f_backend *be, const fp8f_tensor *q,
                                              const float *scale, const fp8f_tensor *bias,
                                              struct fp8f_weight_desc *desc);
/* Whether the module holds code the current device can run (hipSuccess),
 * read off one of its kernels. */
FP8F_HIP_HIDDEN hipError_t hip_module_has_code(void);
FP8F_HIP_HIDDEN void hip_weight_destroy(struct fp8f_backend *be, struct fp8f_weight_desc *desc);
FP8F_HIP_HIDDEN fp8f_status hip_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                                            const struct fp8f_weight_desc *w, fp8f_tensor *out);

/* The GEMM paths, in the order the heuristic prefers them as M grows. */
enum hip_gemm_path { HIP_GEMM_STREAM = 0, HIP_GEMM_BLASLT = 1, HIP_GEMM_TILED = 2 };
/* Up to this many tokens the streaming kernel beats the matrix-bound
 * kernels: it reads the weight once at the memory's speed. Measured on the
 * H200 (GLM-4.7 shapes): at M = 16 it takes 0.59-0.98x cuBLASLt's time, at
 * M = 32 1.3-1.8x (its 32-token tiles read the weight twice as long). */
#define HIP_GEMM_STREAM_MAX_M 16
/* And up to 32 for narrow weights, which leave cuBLASLt's tiles too few to
 * fill the GPU: there two 16-token blocks per weight tile (the second
 * finds it in L2) beat it. H200, same run, µs: o_proj 5120 x 12288 M = 24
 * / 32 37.3 / 38.1 against 43.1 / 42.3; at N = 14336 and 24576 cuBLASLt
 * stays ahead (qkv M = 32 32.9 against 47.9). */
#define HIP_GEMM_STREAM_NARROW_MAX_M 32
#define HIP_GEMM_STREAM_NARROW_MAX_N 6144

/* hip_gemm_stream.hip: the weight-streaming GEMM on the matrix cores
 * (NVIDIA sm_89+, e4m3fn). Supported: whether this build and the current
 * device have it (ask once per context). */
FP8F_HIP_HIDDEN int hip_gemm_stream_supported(void);
/* On the context's stream, with its launch settings (st->pdl: programmatic
 * dependent launch, so that the weight streams in while the norm + quant
 * before it finishes). */
FP8F_HIP_HIDDEN hipError_t hip_launch_gemm_stream(const struct hip_gemm_args *g,
                                                  const struct hip_state *st);

/* hip_gemm_blaslt.hip: the vendor's BLASLt (cuBLASLt / hipBLASLt), opened
 * at run time. open: NULL when it is absent (`why` says so). gemm: runs the
 * call there, or sets *declined (nothing launched, FP8F_OK) when the library
 * cannot take this shape, alignment or bias; fp8_dt is the weight's type. */
struct hip_blaslt;
FP8F_HIP_HIDDEN struct hip_blaslt *hip_blaslt_open(char *why, size_t why_len);
FP8F_HIP_HIDDEN void hip_blaslt_close(struct hip_blaslt *bl);
FP8F_HIP_HIDDEN fp8f_status hip_blaslt_gemm(struct fp8f_backend *be, struct hip_blaslt *bl,
                                            const struct hip_gemm_args *g, int fp8_dt,
                                            int *declined);

#endif /* FP8F_HIP_INTERNAL_H */
