/*
 * The register-resident row kernel: one template for the three row
 * operations (fused add+RMSNorm+FP8 quant, RMSNorm alone, per-token quant
 * alone), instantiated per element type in hip_rows_<dt>.hip.
 *
 * One pass over memory: each row is read once (x and residual, 16-byte
 * vector loads) into registers, the residual is written once, then q and
 * the scale (or the dense output). A row belongs to a group of tpr threads:
 * blockDim.x of one block, or, for a few rows on NVIDIA sm_90+, the blocks
 * of a cluster (c.cluster blocks of one row each; a row read by one
 * multiprocessor takes longer than the rest of the kernel). Each thread
 * keeps VPT vectors of it, vector j = lane + i * tpr, plus at most one
 * element of the scalar tail (cols % VEC). The sum of squares and the amax
 * are reduced over the group with warp shuffles and, for groups wider than
 * a warp, one shared-memory step, then across the cluster's blocks through
 * distributed shared memory.
 *
 * Preconditions (checked by the host, else the generic kernel runs): x,
 * residual, weight and a dense output share the element type DT; every row
 * start is 16-byte aligned (q rows VEC-byte aligned); blockDim.x >= 8.
 */
#ifndef FP8F_HIP_ROWS_KERNEL_H
#define FP8F_HIP_ROWS_KERNEL_H

#include "hip_device.h"
#include "hip_internal.h"

template <int DT, int VPT, int MODE, bool FNUZ, int MINB, bool CLUSTER>
__global__ void __launch_bounds__(MINB > 1 ? 256 : HIP_ROW_MAX_THREADS(VPT), MINB)
    hip_row_kernel(const struct hip_row_args a) {
    typedef elem<DT> E;
    typedef typename E::storage S;
    enum { V = vec16<DT>::N };
    __shared__ float red_ss[32], red_amax[32];
    /* the GEMM after a norm + quant can start loading its weight now */
    fp8f_let_dependents_launch();

    /* A row's group: the block's blockDim.x threads, or, CLUSTER, those of
     * all the cluster's blocks side by side (one row per cluster: the row
     * spread over several multiprocessors). The one-block instantiation has
     * no cluster instruction in it: measured, the kernel ran about 0.15 us
     * slower with them, even launched as a cluster of one. */
    const int lane = CLUSTER ? (int)(fp8f_cluster_rank() * blockDim.x + threadIdx.x)
                             : (int)threadIdx.x;
    const int tpr = CLUSTER ? (int)(fp8f_cluster_size() * blockDim.x) : (int)blockDim.x;
    const int64_t row = a.row0 + (int64_t)(CLUSTER ? fp8f_cluster_id_x() : blockIdx.x) *
                                     blockDim.y + threadIdx.y;
    const bool active = row < a.rows;
    const int64_t srow = active ? row : 0; /* keeps addresses in range */
    const int nvm = (int)(a.cols / V), cols_main = nvm * V;
    const int tc = cols_main + lane; /* this thread's tail element */
    const bool has_tail = active && tc < a.cols;

    const S *xr = (const S *)a.x + srow * a.x_stride;
    S *rr = a.res ? (S *)a.res + srow * a.res_stride : nullptr;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);

    /* ---- issue every load first: x, residual, weight ---- */
    uint4 xv[VPT], rv[VPT], wv[VPT];
#pragma unroll
    for (int i = 0; i < VPT; i++) {
        const int j = lane + i * tpr;
        xv[i] = active && j < nvm ? ((const uint4 *)xr)[j] : zero;
    }
    if (MODE != HIP_QUANT && rr) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int j = lane + i * tpr;
            rv[i] = active && j < nvm ? ((const uint4 *)rr)[j] : zero;
        }
    }
    if (MODE != HIP_QUANT) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int j = lane + i * tpr;
            wv[i] = j < nvm ? fp8f_ldg((const uint4 *)a.w + j) : zero;
        }
    }
    float tv = has_tail ? E::load(xr[tc]) : 0.0f;

    /* ---- h = x (+ residual, rounded and written back) ----
     * The row stays in registers as its storage bits (h is exact in DT after
     * the rounding), half the registers of f32 for 16-bit types, so more
     * rows fit on a multiprocessor; values are unpacked where they are used
     * (a shift per bf16 element) and y is recomputed rather than kept. */
    uint4 hv[VPT];
    if (MODE != HIP_QUANT && rr) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int j = lane + i * tpr;
            float unused[V];
            hv[i] = add_round16<DT>(xv[i], rv[i], unused);
            if (active && j < nvm)
                ((uint4 *)rr)[j] = hv[i];
        }
        if (has_tail) {
            S hb = E::store(tv + E::load(rr[tc]));
            tv = E::load(hb);
            rr[tc] = hb;
        }
    } else {
#pragma unroll
        for (int i = 0; i < VPT; i++)
            hv[i] = xv[i];
    }

    /* ---- RMSNorm: y = h * inv_rms * w ---- */
    float inv = 1.0f;
    if (MODE != HIP_QUANT) {
        float ss = tv * tv;
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            float h[V];
            unpack16<DT>(hv[i], h);
#pragma unroll
            for (int e = 0; e < V; e++)
                ss = fmaf(h[e], h[e], ss);
        }
        ss = group_reduce<op_sum>(ss, red_ss);
        if (CLUSTER)
            ss = cluster_reduce<op_sum>(ss, MODE == HIP_NORM);
        inv = fp8f_div_rn(1.0f, fp8f_sqrt_rn(fp8f_div_rn(ss, a.n_f) + a.eps));
        if (has_tail)
            tv = fp8f_mul_rn(fp8f_mul_rn(tv, inv), E::load(((const S *)a.w)[tc]));
    }
    /* y of vector i: the normalized values (norm modes) or x (quant) */
    auto y_of = [&](int i, float (&y)[V]) {
        unpack16<DT>(hv[i], y);
        if (MODE != HIP_QUANT) {
            float wf[V];
            unpack16<DT>(wv[i], wf);
#pragma unroll
            for (int e = 0; e < V; e++)
                y[e] = fp8f_mul_rn(fp8f_mul_rn(y[e], inv), wf[e]);
        }
    };

    if (MODE == HIP_NORM) {
        S *orow = (S *)a.out + srow * a.out_stride;
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int j = lane + i * tpr;
            float y[V];
            y_of(i, y);
            if (active && j < nvm)
                ((uint4 *)orow)[j] = pack16<DT>(y);
        }
        if (has_tail)
            orow[tc] = E::store(tv);
        if (CLUSTER)
            cluster_reduce_done();
        return;
    }

    /* ---- per-token FP8 quantization of y ---- */
    float amax = fmaxf(0.0f, fabsf(tv)); /* NaN-ignoring, as fmaxf is */
#pragma unroll
    for (int i = 0; i < VPT; i++) {
        float y[V];
        y_of(i, y);
#pragma unroll
        for (int e = 0; e < V; e++)
            amax = fmaxf(amax, fabsf(y[e]));
    }
    amax = group_reduce<op_max>(amax, red_amax);
    if (CLUSTER)
        amax = cluster_reduce<op_max>(amax, true);
    const float scale = token_scale(amax, FNUZ, a.has_ub, a.ub);
    const row_div div = row_div_make(scale);

    uint8_t *qrow = (uint8_t *)a.out + srow * a.out_stride;
#pragma unroll
    for (int i = 0; i < VPT; i++) {
        const int j = lane + i * tpr;
        float q[V];
        y_of(i, q);
#pragma unroll
        for (int e = 0; e < V; e++)
            q[e] = row_div_apply(div, q[e]);
        if (active && j < nvm)
            store_codes<FNUZ, V>(qrow + (size_t)j * V, q);
    }
    if (has_tail)
        qrow[tc] = (uint8_t)fp8_encode<FNUZ>(row_div_apply(div, tv));
    if (active && lane == 0)
        a.scale[row] = scale;
    if (CLUSTER)
        cluster_reduce_done();
}

/* Launches hip_row_kernel<DT, ...> for a run-time mode, fp8 type and VPT;
 * in clusters of c.cluster blocks where c.cluster > 1 (NVIDIA only; VPT
 * 1..4, which every slice pick_cfg makes fits). */
template <int DT, int MODE, bool FNUZ>
static hipError_t hip_rows_launch_vpt(const struct hip_row_args &a, struct hip_row_cfg c, dim3 grid,
                                      hipStream_t s) {
    const dim3 block((unsigned)c.tpr, (unsigned)c.rows);
#if defined(FP8F_GPU_NVIDIA)
    if (c.cluster > 1) {
        switch (c.vpt) {
#define FP8F_ROW_CASE(n)                                                                       \
    case n:                                                                                    \
        return fp8f_launch_clustered(hip_row_kernel<DT, n, MODE, FNUZ, 1, true>, grid, block,   \
                                     (unsigned)c.cluster, s, a);
            FP8F_ROW_CASE(1)
            FP8F_ROW_CASE(2)
            FP8F_ROW_CASE(3)
            FP8F_ROW_CASE(4)
#undef FP8F_ROW_CASE
        default:
            return hipErrorInvalidValue; /* hip_row_op falls back to a block per row */
        }
    }
#endif
    switch (c.vpt) {
#define FP8F_ROW_CASE(code, n, minb)                                                           \
    case code:                                                                                 \
        hip_row_kernel<DT, n, MODE, FNUZ, minb, false><<<grid, block, 0, s>>>(a);              \
        return hipGetLastError();
        FP8F_ROW_CASE(1, 1, 1)
        FP8F_ROW_CASE(2, 2, 1)
        FP8F_ROW_CASE(3, 3, 1)
        FP8F_ROW_CASE(4, 4, 1)
        FP8F_ROW_CASE(5, 5, 1)
        FP8F_ROW_CASE(6, 6, 1)
        FP8F_ROW_CASE(7, 7, 1)
        FP8F_ROW_CASE(8, 8, 1)
        /* register-capped variants (<= 256 threads a block, more blocks resident) */
        FP8F_ROW_CASE(HIP_ROW_OCC + 2, 2, HIP_ROW_OCC_MINB(2))
        FP8F_ROW_CASE(HIP_ROW_OCC + 3, 3, HIP_ROW_OCC_MINB(3))
        FP8F_ROW_CASE(HIP_ROW_OCC + 4, 4, HIP_ROW_OCC_MINB(4))
#undef FP8F_ROW_CASE
    default:
        return hipSuccess; /* cfg_valid admits no other code */
    }
}

/* Launches over all rows (in chunks when the grid would be too large);
 * c.cluster blocks per row where c.cluster > 1 (then c.rows == 1). */
template <int DT>
static hipError_t hip_rows_launch(int mode, int fnuz, const struct hip_row_args *args,
                                  struct hip_row_cfg c, hipStream_t s) {
    const int64_t blocks_per_group = c.cluster > 1 ? c.cluster : 1;
    const int64_t max_groups = hip_max_blocks(c.tpr * c.rows) / blocks_per_group;
    struct hip_row_args a = *args;
    for (int64_t r0 = 0; r0 < args->rows; r0 += max_groups * c.rows) {
        int64_t groups = (args->rows - r0 + c.rows - 1) / c.rows;
        if (groups > max_groups)
            groups = max_groups;
        a.row0 = r0;
        const dim3 grid((unsigned)(groups * blocks_per_group));
        hipError_t e;
        if (mode == HIP_NORM)
            e = hip_rows_launch_vpt<DT, HIP_NORM, false>(a, c, grid, s);
        else if (mode == HIP_NORM_QUANT && fnuz)
            e = hip_rows_launch_vpt<DT, HIP_NORM_QUANT, true>(a, c, grid, s);
        else if (mode == HIP_NORM_QUANT)
            e = hip_rows_launch_vpt<DT, HIP_NORM_QUANT, false>(a, c, grid, s);
        else if (fnuz)
            e = hip_rows_launch_vpt<DT, HIP_QUANT, true>(a, c, grid, s);
        else
            e = hip_rows_launch_vpt<DT, HIP_QUANT, false>(a, c, grid, s);
        if (e != hipSuccess)
            return e;
    }
    return hipSuccess;
}

#endif /* FP8F_HIP_ROWS_KERNEL_H */
