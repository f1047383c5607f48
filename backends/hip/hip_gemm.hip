/*
 * Weights and the PTPC GEMM of the HIP backend:
 *   out[m,n] = (sum_k qa[m,k] * qw[n,k]) * sa[m] * sw[n] (+ bias[n]).
 *
 * The tiled kernel here is the generic path, on the vector units of any GPU:
 * 64 x 64 output tiles, K in steps of 32, fp8 codes decoded through a
 * 256-entry table in shared memory (products of two e4m3 values are exact
 * in f32, so the only difference from the CPU is the order of the f32
 * accumulation), 4 x 4 outputs per thread. Where the GPU has fp8 matrix
 * instructions, the weight-streaming kernel (hip_gemm_stream.hip) runs
 * instead.
 *
 * A QUANTIZED activation (q, scale) is consumed as it is: that is what the
 * fused norm+quant kernel hands over. A DENSE one is first quantized per
 * token with the row kernel into a context-owned scratch buffer.
 */
#include <stdlib.h>

#include "hip_device.h"
#include "hip_internal.h"

/* --------------------------------------------------------- weights */

enum { CODES_COPY = 0, CODES_FN_TO_FNUZ = 1, CODES_FNUZ_TO_FN = 2 };

/* Copies an N x K code matrix (row stride `stride`) into rows ldw apart,
 * converting between the fp8 types (fp8_codec.h's bit maps); the first code
 * with no e4m3fn equivalent (+-240 in fnuz) is recorded in *bad. */
__global__ void hip_weight_codes(const uint8_t *src, int64_t stride, uint8_t *dst, int64_t ldw,
                                 int64_t n, int64_t k, int how, unsigned long long *bad) {
    const int64_t total = n * k;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / k, c = i - r * k;
        uint32_t v = src[r * stride + c];
        if (how == CODES_FN_TO_FNUZ) {
            v = v == 0x80u ? 0u : (v & 0x7fu) == 0x7fu ? 0x80u : v;
        } else if (how == CODES_FNUZ_TO_FN) {
            if (v == 0x80u) {
                v = 0x7fu;
            } else if ((v & 0x7fu) == 0x7fu) {
                atomicMin(bad, (unsigned long long)i);
                v = 0x7eu | (v & 0x80u);
            }
        }
        dst[r * ldw + c] = (uint8_t)v;
    }
}

/* Scales times the conversion factor; the bias to f32 and, for the vendor's
 * BLASLt (whose fp8 kernels take a bias only in the output's type), to bf16
 * and f16, with a bit in *inexact (1: bf16, 2: f16) where a value does not
 * survive the round trip, so that such a copy is never used. */
__global__ void hip_weight_vectors(const float *scale, float factor, float *dst_scale,
                                   const void *bias, int bias_dt, float *dst_bias,
                                   uint16_t *dst_bf16, uint16_t *dst_f16, unsigned *inexact,
                                   int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        dst_scale[i] = fp8f_mul_rn(scale[i], factor);
        if (!bias)
            continue;
        const float v = load_any(bias_dt, bias, i);
        const uint32_t b16 = f32_to_bf16(v), h16 = f32_to_f16(v);
        dst_bias[i] = v;
        dst_bf16[i] = (uint16_t)b16;
        dst_f16[i] = (uint16_t)h16;
        const unsigned lost = (bf16_to_f32(b16) != v ? 1u : 0u) | (f16_to_f32(h16) != v ? 2u : 0u);
        if (lost)
            atomicOr(inexact, lost);
    }
}

static void free_weight(struct hip_weight *hw) {
    if (!hw)
        return;
    if (hw->q)
        (void)hipFree(hw->q);
    if (hw->scale)
        (void)hipFree(hw->scale);
    if (hw->bias)
        (void)hipFree(hw->bias);
    if (hw->bias_bf16)
        (void)hipFree(hw->bias_bf16);
    if (hw->bias_f16)
        (void)hipFree(hw->bias_f16);
    free(hw);
}

static unsigned grid_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

/* What the conversion kernels found, read back once the weight is made:
 * the first code the target fp8 type cannot hold (~0: none) and which
 * 16-bit copies of the bias are inexact. */
struct weight_findings {
    unsigned long long bad_code;
    unsigned bias_inexact;
};

hipError_t hip_module_has_code(void) {
    hipFuncAttributes attr;
    return hipFuncGetAttributes(&attr, (const void *)hip_weight_codes);
}

static fp8f_status weight_alloc_fail(struct fp8f_backend *be, hipError_t e, int64_t n, int64_t k) {
    if (e == hipErrorMemoryAllocation) {
        (void)hipGetLastError(); /* reported here: not again by the next launch check */
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of device memory for a %lld x %lld weight",
                                 (long long)n, (long long)k);
    }
    return hip_fail_rt(be, e, "hipMalloc (weight)");
}

/* Not a hot path: it waits for its own work, so that a code the target type
 * cannot hold is reported here, and the caller may free its arrays. */
fp8f_status hip_weight_create(struct fp8f_backend *be, const fp8f_tensor *q, const float *scale,
                              const fp8f_tensor *bias, struct fp8f_weight_desc *desc) {
    struct hip_state *st = hip_st(be);
    const int64_t n = desc->n, k = desc->k;
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;
    struct hip_weight *hw = (struct hip_weight *)calloc(1, sizeof *hw);
    if (!hw)
        return fp8f_backend_fail(be, FP8F_E_NOMEM, "out of memory creating a weight");
    int how = CODES_COPY;
    float factor = 1.0f;
    if (q->dtype != desc->fp8_dtype) {
        how = desc->fp8_dtype == FP8F_E4M3FNUZ ? CODES_FN_TO_FNUZ : CODES_FNUZ_TO_FN;
        factor = how == CODES_FN_TO_FNUZ ? 2.0f : 0.5f;
    }
    struct weight_findings *found = nullptr, found_host;
    hw->ldw = (k + HIP_WEIGHT_KPAD - 1) / HIP_WEIGHT_KPAD * HIP_WEIGHT_KPAD;
    const size_t q_bytes =
        (size_t)((n + HIP_WEIGHT_NPAD - 1) / HIP_WEIGHT_NPAD * HIP_WEIGHT_NPAD) * (size_t)hw->ldw;
    hipError_t e = hipMalloc((void **)&hw->q, q_bytes);
    if (e == hipSuccess)
        e = hipMalloc((void **)&hw->scale, (size_t)n * sizeof(float));
    if (e == hipSuccess && bias)
        e = hipMalloc((void **)&hw->bias, (size_t)n * sizeof(float));
    if (e == hipSuccess && bias)
        e = hipMalloc((void **)&hw->bias_bf16, (size_t)n * sizeof(uint16_t));
    if (e == hipSuccess && bias)
        e = hipMalloc((void **)&hw->bias_f16, (size_t)n * sizeof(uint16_t));
    if (e == hipSuccess)
        e = hipMalloc((void **)&found, sizeof *found);
    if (e != hipSuccess) {
        free_weight(hw);
        if (found)
            (void)hipFree(found);
        return weight_alloc_fail(be, e, n, k);
    }
    /* the padding: zero codes, zero products; findings: none yet */
    e = hipMemsetAsync(hw->q, 0, q_bytes, st->stream);
    if (e == hipSuccess)
        e = hipMemsetAsync(found, 0, sizeof *found, st->stream);
    if (e == hipSuccess)
        e = hipMemsetAsync(&found->bad_code, 0xff, sizeof found->bad_code, st->stream);
    if (e == hipSuccess) {
        hip_weight_codes<<<grid_for(n * k, 256), 256, 0, st->stream>>>(
            (const uint8_t *)q->data, q->stride, hw->q, hw->ldw, n, k, how, &found->bad_code);
        e = hipGetLastError();
    }
    if (e == hipSuccess) {
        hip_weight_vectors<<<grid_for(n, 256), 256, 0, st->stream>>>(
            scale, factor, hw->scale, bias ? bias->data : nullptr, bias ? (int)bias->dtype : 0,
            hw->bias, hw->bias_bf16, hw->bias_f16, &found->bias_inexact, n);
        e = hipGetLastError();
    }
    if (e == hipSuccess)
        e = hipMemcpyAsync(&found_host, found, sizeof found_host, hipMemcpyDeviceToHost,
                           st->stream);
    if (e == hipSuccess)
        e = hipStreamSynchronize(st->stream);
    (void)hipFree(found);
    if (e != hipSuccess) {
        free_weight(hw);
        return hip_fail_rt(be, e, "weight conversion");
    }
    if (found_host.bad_code != ~0ull) {
        free_weight(hw);
        return fp8f_backend_fail(be, FP8F_E_FORMAT,
                                 "weight code at row %lld, col %lld is +-240 in E4M3FNUZ, which "
                                 "E4M3FN (max 448 after the scale is halved: 480) cannot hold; "
                                 "create the context with fp8_dtype = FP8F_E4M3FNUZ",
                                 (long long)(found_host.bad_code / (unsigned long long)k),
                                 (long long)(found_host.bad_code % (unsigned long long)k));
    }
    /* a bias copy that would change a value is dropped: BLASLt then declines */
    if (found_host.bias_inexact & 1u) {
        (void)hipFree(hw->bias_bf16);
        hw->bias_bf16 = nullptr;
    }
    if (found_host.bias_inexact & 2u) {
        (void)hipFree(hw->bias_f16);
        hw->bias_f16 = nullptr;
    }
    desc->impl = hw;
    return FP8F_OK;
}

void hip_weight_destroy(struct fp8f_backend *be, struct fp8f_weight_desc *desc) {
    if (hip_use_device(be) == FP8F_OK)
        free_weight((struct hip_weight *)desc->impl);
}

/* ------------------------------------------------------------ GEMM */

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_THREADS 256

__global__ void __launch_bounds__(GEMM_THREADS)
    hip_gemm_ptpc_kernel(struct hip_gemm_args g, int fnuz) {
    const uint8_t *qa = g.qa;
    const float *sa = g.sa, *sw = g.sw, *bias = g.bias;
    const int64_t lda = g.lda, ldo = g.ldo, m_total = g.m, n_total = g.n, k_total = g.k;
    const int out_dt = g.out_dt;
    void *out = g.out;
    __shared__ float lut[256];
    __shared__ float as[GEMM_BK][GEMM_BM + 1];
    __shared__ float ws[GEMM_BK][GEMM_BN + 1];
    const int t = threadIdx.x, tx = t & 15, ty = t >> 4;
    const int64_t m0 = g.m_base + (int64_t)blockIdx.y * GEMM_BM,
                  n0 = (int64_t)blockIdx.x * GEMM_BN;
    lut[t] = fp8_decode((uint32_t)t, fnuz != 0);

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0f;

    /* Tile loads: thread t fetches 8 consecutive codes of row t / 4. */
    const int lr = t >> 2, lk = (t & 3) * 8;
    const int64_t am = m0 + lr, wn = n0 + lr;
    const uint8_t *arow = am < m_total ? qa + am * lda : nullptr;
    const uint8_t *wrow = wn < n_total ? g.qw + wn * g.ldw : nullptr;

    for (int64_t k0 = 0; k0 < k_total; k0 += GEMM_BK) {
        uint32_t ca[8], cw[8];
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const int64_t k = k0 + lk + e;
            ca[e] = arow && k < k_total ? arow[k] : 0u;
            cw[e] = wrow && k < k_total ? wrow[k] : 0u;
        }
        __syncthreads(); /* the previous tile is consumed (and lut is ready) */
#pragma unroll
        for (int e = 0; e < 8; e++) {
            as[lk + e][lr] = lut[ca[e]];
            ws[lk + e][lr] = lut[cw[e]];
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < GEMM_BK; kk++) {
            float av[4], wv[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                av[i] = as[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++)
                wv[j] = ws[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] += av[i] * wv[j];
        }
    }

    const size_t osz = out_dt == FP8F_F32 ? 4 : 2;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t m = m0 + ty + 16 * i;
        if (m >= m_total)
            continue;
        char *orow = (char *)out + (size_t)m * (size_t)ldo * osz;
        const float am_scale = sa[m];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t n = n0 + tx + 16 * j;
            if (n >= n_total)
                continue;
            float v = fp8f_mul_rn(fp8f_mul_rn(acc[i][j], am_scale), sw[n]);
            if (bias)
                v = fp8f_add_rn(v, bias[n]);
            store_any(out_dt, orow, n, v);
        }
    }
}

/* Grows the context's scratch to at least `bytes` (hipFree waits for the
 * device: this happens only when a larger DENSE activation first arrives). */
static fp8f_status scratch_reserve(struct fp8f_backend *be, size_t bytes) {
    struct hip_state *st = hip_st(be);
    if (st->scratch_bytes >= bytes)
        return FP8F_OK;
    if (st->scratch) {
        HIP_TRY(be, hipFree(st->scratch));
        st->scratch = nullptr;
        st->scratch_bytes = 0;
    }
    hipError_t e = hipMalloc(&st->scratch, bytes);
    if (e == hipErrorMemoryAllocation) {
        (void)hipGetLastError();
        st->scratch = nullptr;
        return fp8f_backend_fail(be, FP8F_E_NOMEM,
                                 "out of device memory for %zu bytes of GEMM scratch", bytes);
    }
    if (e != hipSuccess) {
        st->scratch = nullptr;
        return hip_fail_rt(be, e, "hipMalloc (GEMM scratch)");
    }
    st->scratch_bytes = bytes;
    return FP8F_OK;
}

/* The streaming kernel takes e4m3fn weights on devices that have it; its
 * grid.y counts 16-row weight tiles (<= 65535). */
static int stream_fits(const struct hip_state *st, const struct fp8f_weight_desc *w) {
    return st->gemm_stream_ok && w->fp8_dtype == FP8F_E4M3FN && w->n <= (int64_t)65535 * 16;
}

/* The heuristic (README "GPU GEMM"): the streaming kernel while the weight's
 * bytes dominate (M <= HIP_GEMM_STREAM_MAX_M, or a little more for narrow
 * weights), the vendor's matrix-core kernels above, where the math
 * dominates. The tiled kernel is the path of last resort; it runs anywhere. */
static int pick_path(const struct hip_state *st, int64_t m, int64_t n, int stream) {
    if (st->gemm_force >= 0)
        return st->gemm_force;
    if (stream && (m <= HIP_GEMM_STREAM_MAX_M ||
                   (m <= HIP_GEMM_STREAM_NARROW_MAX_M && n <= HIP_GEMM_STREAM_NARROW_MAX_N)))
        return HIP_GEMM_STREAM;
    if (st->blaslt)
        return HIP_GEMM_BLASLT;
    return stream ? HIP_GEMM_STREAM : HIP_GEMM_TILED;
}

/* FP8F_HIP_GEMM_STRICT=1: the forced path cannot take this call, and the
 * caller asked to be told rather than served by another path. */
static fp8f_status strict_refusal(struct fp8f_backend *be, const char *path,
                                  const struct hip_gemm_args *g) {
    return fp8f_backend_fail(be, FP8F_E_UNSUPPORTED,
                             "FP8F_HIP_GEMM=%s cannot take this GEMM (M=%lld N=%lld K=%lld, "
                             "out dtype %d%s) and FP8F_HIP_GEMM_STRICT=1 forbids the fallback",
                             path, (long long)g->m, (long long)g->n, (long long)g->k, g->out_dt,
                             g->bias ? ", bias" : "");
}

/* The tiled kernel, in launches of at most 65535 row tiles. */
static fp8f_status run_tiled(struct fp8f_backend *be, struct hip_gemm_args g, int fnuz) {
    const int64_t max_rows = (int64_t)65535 * GEMM_BM;
    const unsigned gx = (unsigned)((g.n + GEMM_BN - 1) / GEMM_BN);
    const int64_t m = g.m;
    for (g.m_base = 0; g.m_base < m; g.m_base += max_rows) {
        const int64_t rows = m - g.m_base < max_rows ? m - g.m_base : max_rows;
        const dim3 grid(gx, (unsigned)((rows + GEMM_BM - 1) / GEMM_BM));
        hip_gemm_ptpc_kernel<<<grid, GEMM_THREADS, 0, hip_st(be)->stream>>>(g, fnuz);
        hipError_t e = hipGetLastError();
        if (e != hipSuccess)
            return hip_fail_rt(be, e, "PTPC GEMM kernel launch");
    }
    return FP8F_OK;
}

fp8f_status hip_linear_ptpc(struct fp8f_backend *be, const fp8f_act *a,
                            const struct fp8f_weight_desc *w, fp8f_tensor *out) {
    struct hip_state *st = hip_st(be);
    const struct hip_weight *hw = (const struct hip_weight *)w->impl;
    const int64_t m = a->kind == FP8F_ACT_DENSE ? a->dense.rows : a->quant.q.rows;
    const int64_t k = w->k;
    if (m == 0)
        return FP8F_OK;
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;

    fp8f_qtensor qa = a->quant;
    if (a->kind == FP8F_ACT_DENSE) {
        /* scales first (alignment), then rows of K codes padded to 16 bytes */
        const int64_t ldq = (k + 15) / 16 * 16;
        const size_t scale_bytes = ((size_t)m * sizeof(float) + 255) / 256 * 256;
        s = scratch_reserve(be, scale_bytes + (size_t)m * (size_t)ldq);
        if (s != FP8F_OK)
            return s;
        qa.scale = (float *)st->scratch;
        qa.q = (fp8f_tensor){(char *)st->scratch + scale_bytes, w->fp8_dtype, m, k, ldq};
        qa.format = FP8F_QF_FP8_PER_TOKEN;
        s = hip_row_op(be, HIP_QUANT, &a->dense, nullptr, nullptr, 0.0f, nullptr, nullptr, &qa);
        if (s != FP8F_OK)
            return s;
    }

    const void *bias_out = out->dtype == FP8F_BF16  ? (const void *)hw->bias_bf16
                           : out->dtype == FP8F_F16 ? (const void *)hw->bias_f16
                                                    : nullptr;
    const struct hip_gemm_args g = {(const uint8_t *)qa.q.data, qa.q.stride, qa.scale, hw->q,
                                    hw->ldw, hw->scale, hw->bias, bias_out, out->data,
                                    out->stride, (int)out->dtype, m, w->n, k, 0};
    const int stream = stream_fits(st, w);
    int path = pick_path(st, m, w->n, stream);
    if (path == HIP_GEMM_BLASLT) {
        int declined = 0;
        s = hip_blaslt_gemm(be, st->blaslt, &g, w->fp8_dtype, &declined);
        if (s != FP8F_OK || !declined)
            return s;
        if (st->gemm_strict)
            return strict_refusal(be, "blaslt", &g);
        path = stream ? HIP_GEMM_STREAM : HIP_GEMM_TILED; /* nothing was launched */
    }
    if (path == HIP_GEMM_STREAM && !stream && st->gemm_strict)
        return strict_refusal(be, "stream", &g);
    if (path == HIP_GEMM_STREAM && stream) {
        hipError_t e = hip_launch_gemm_stream(&g, st);
        return e == hipSuccess ? FP8F_OK : hip_fail_rt(be, e, "streaming GEMM kernel launch");
    }
    return run_tiled(be, g, w->fp8_dtype == FP8F_E4M3FNUZ);
}
