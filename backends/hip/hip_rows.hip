/*
 * Row operations of the HIP backend: the launch-shape choice for the
 * register-resident kernel (hip_rows_kernel.h), the generic kernel for
 * everything it does not cover (mixed dtypes, unaligned rows, rows longer
 * than 1024 threads x 8 vectors), and the entry used by the vtable.
 */
#include <stdlib.h>

#include "hip_device.h"
#include "hip_internal.h"

/* ------------------------------------------------------ generic kernel */

/* One block per row, blockDim.x threads striding over it, three passes
 * (h and the residual write, then the amax, then the output), each thread
 * re-reading only elements it wrote itself. Any dtypes, strides, widths. */
template <int MODE, bool FNUZ>
__global__ void __launch_bounds__(256) hip_row_kernel_generic(const struct hip_row_args a) {
    __shared__ float red_ss[32], red_amax[32];
    fp8f_let_dependents_launch(); /* as in hip_row_kernel */
    const int64_t row = a.row0 + blockIdx.x;
    if (row >= a.rows) /* uniform over the block */
        return;
    const int64_t n = a.cols;
    const int t = threadIdx.x, nt = blockDim.x;
    const size_t xsz = a.x_dt == FP8F_F32 ? 4 : 2;
    const char *xr = (const char *)a.x + (size_t)row * (size_t)a.x_stride * xsz;
    char *rr = a.res ? (char *)a.res + (size_t)row * (size_t)a.res_stride * xsz : nullptr;
    const void *hsrc = rr ? (const void *)rr : (const void *)xr;

    float ss = 0.0f, amax = 0.0f, inv = 1.0f;
    for (int64_t c = t; c < n; c += nt) {
        float h = load_any(a.x_dt, xr, c);
        if (MODE != HIP_QUANT && rr) {
            h = round_any(a.x_dt, h + load_any(a.x_dt, rr, c));
            store_any(a.x_dt, rr, c, h);
        }
        if (MODE == HIP_QUANT)
            amax = fmaxf(amax, fabsf(h));
        else
            ss += h * h;
    }
    if (MODE != HIP_QUANT) {
        ss = group_reduce<op_sum>(ss, red_ss);
        inv = fp8f_div_rn(1.0f, fp8f_sqrt_rn(fp8f_div_rn(ss, a.n_f) + a.eps));
    }
    if (MODE == HIP_NORM) {
        const size_t osz = a.out_dt == FP8F_F32 ? 4 : 2;
        char *orow = (char *)a.out + (size_t)row * (size_t)a.out_stride * osz;
        for (int64_t c = t; c < n; c += nt)
            store_any(a.out_dt, orow, c,
                      fp8f_mul_rn(fp8f_mul_rn(load_any(a.x_dt, hsrc, c), inv),
                                  load_any(a.w_dt, a.w, c)));
        return;
    }
    if (MODE == HIP_NORM_QUANT)
        for (int64_t c = t; c < n; c += nt)
            amax = fmaxf(amax, fabsf(fp8f_mul_rn(fp8f_mul_rn(load_any(a.x_dt, hsrc, c), inv),
                                                 load_any(a.w_dt, a.w, c))));
    amax = group_reduce<op_max>(amax, red_amax);
    const float scale = token_scale(amax, FNUZ, a.has_ub, a.ub);
    const row_div div = row_div_make(scale);
    uint8_t *qrow = (uint8_t *)a.out + (size_t)row * (size_t)a.out_stride;
    for (int64_t c = t; c < n; c += nt) {
        float y = load_any(a.x_dt, hsrc, c);
        if (MODE == HIP_NORM_QUANT)
            y = fp8f_mul_rn(fp8f_mul_rn(y, inv), load_any(a.w_dt, a.w, c));
        qrow[c] = (uint8_t)fp8_encode<FNUZ>(row_div_apply(div, y));
    }
    if (t == 0)
        a.scale[row] = scale;
}

hipError_t hip_launch_rows_generic(int mode, int fnuz, const struct hip_row_args *args,
                                   hipStream_t s) {
    int threads = 256;
    if (args->cols < 256) /* a multiple of the warp, at least one warp */
        threads = (int)((args->cols + FP8F_WARP_SIZE - 1) / FP8F_WARP_SIZE) * FP8F_WARP_SIZE;
    const int64_t max_blocks = hip_max_blocks(threads);
    struct hip_row_args a = *args;
    for (int64_t r0 = 0; r0 < args->rows; r0 += max_blocks) {
        int64_t blocks = args->rows - r0 < max_blocks ? args->rows - r0 : max_blocks;
        a.row0 = r0;
        const dim3 grid((unsigned)blocks), block((unsigned)threads);
        if (mode == HIP_NORM)
            hip_row_kernel_generic<HIP_NORM, false><<<grid, block, 0, s>>>(a);
        else if (mode == HIP_NORM_QUANT && fnuz)
            hip_row_kernel_generic<HIP_NORM_QUANT, true><<<grid, block, 0, s>>>(a);
        else if (mode == HIP_NORM_QUANT)
            hip_row_kernel_generic<HIP_NORM_QUANT, false><<<grid, block, 0, s>>>(a);
        else if (fnuz)
            hip_row_kernel_generic<HIP_QUANT, true><<<grid, block, 0, s>>>(a);
        else
            hip_row_kernel_generic<HIP_QUANT, false><<<grid, block, 0, s>>>(a);
        hipError_t e = hipGetLastError();
        if (e != hipSuccess)
            return e;
    }
    return hipSuccess;
}

/* ------------------------------------------------------- launch shape */

static int pow2_ceil(int v) {
    int p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* Threads per row for nv vectors at vpt vectors per thread: a power of two
 * (>= 8) within a warp, else whole warps. */
static int tpr_for(int64_t nv, int vpt) {
    int64_t t = (nv + vpt - 1) / vpt;
    if (t > HIP_ROW_MAX_THREADS(vpt))
        return 1 << 30;
    if (t <= FP8F_WARP_SIZE) {
        int p = pow2_ceil((int)t);
        return p < 8 ? 8 : p;
    }
    return (int)((t + FP8F_WARP_SIZE - 1) / FP8F_WARP_SIZE * FP8F_WARP_SIZE);
}

static int cfg_valid(struct hip_row_cfg c, int64_t nv) {
    const int v = HIP_ROW_VPT(c.vpt);
    if (!((c.vpt >= 1 && c.vpt <= HIP_ROW_MAX_VPT) ||
          (c.vpt >= HIP_ROW_OCC + 2 && c.vpt <= HIP_ROW_OCC + 4)) ||
        c.tpr < 8 || c.rows < 1 || c.tpr * c.rows > HIP_ROW_CODE_THREADS(c.vpt) ||
        (int64_t)c.tpr * v < nv)
        return 0;
    if (c.tpr <= FP8F_WARP_SIZE)
        return (c.tpr & (c.tpr - 1)) == 0;
    return c.tpr % FP8F_WARP_SIZE == 0;
}

/* Blocks per row in a cluster (1: none). A row on one multiprocessor takes
 * longer the more elements each of its threads handles; a cluster spreads
 * it over several, at a fixed cost of its own (the launch and two cluster
 * barriers, about 0.7 us). Measured on the H200 (graph mode, M = 1 and 16,
 * bf16 and f32; backends/hip/NOTES.md): one block wins up to H = 5120
 * (bf16 3.7 us against 4.1-4.6 in clusters), clusters from 8192 on (bf16
 * H = 12288: 6.4 us in one block, 4.8 in 4 blocks of 3072 elements; 1024-
 * thread slices were slow). So: rows over 6144 elements, in the fewest of
 * 2, 4, 8 blocks that leave each at most 3072, while the rows' blocks fit
 * the multiprocessors one each. FP8F_HIP_ROW_CLUSTER sets the size. */
#define HIP_ROW_CLUSTER_MIN_COLS 6144
#define HIP_ROW_CLUSTER_SLICE 3072
static int cluster_for(const struct hip_state *st, int64_t rows, int64_t cols) {
    if (!st->clusters_ok)
        return 1;
    if (st->row_cluster)
        return st->row_cluster;
    if (cols <= HIP_ROW_CLUSTER_MIN_COLS)
        return 1;
    int cl = 2;
    while (cl < 8 && (cols + cl - 1) / cl > HIP_ROW_CLUSTER_SLICE)
        cl <<= 1;
    while (cl > 1 && rows * cl > st->sm_count)
        cl >>= 1;
    return cl;
}

/* The shape for `rows` rows of nv vectors, or vpt = 0 when the row does not
 * fit in registers (the generic kernel runs). Measured on an H100 (H = 5120,
 * bf16; backends/hip/NOTES.md): with many rows, 3 vectors per thread (one
 * row per block of nv / 3 threads) beats 2 and 4..8 by 5-15 %, and one row
 * per block beats two; for very many rows 4 vectors in the register-capped
 * variant beat 3 by 4 %; the quantization alone runs best at 4; with few rows
 * (fewer threads in all than the chip holds), 1 vector per thread shortens
 * each row's latency chain. Small rows (a group inside one warp) share
 * 256-thread blocks. */
static struct hip_row_cfg pick_cfg(const struct hip_state *st, int mode, int64_t rows,
                                   int64_t cols, int64_t nv, int allow_cluster) {
    struct hip_row_cfg c = {0, 0, 0, 1};
    if (st->cfg_vpt) {
        struct hip_row_cfg o = {st->cfg_vpt, st->cfg_tpr, st->cfg_rows ? st->cfg_rows : 1, 1};
        if (cfg_valid(o, nv))
            return o;
    }
    const int cl = allow_cluster ? cluster_for(st, rows, cols) : 1;
    if (cl > 1) { /* the fewest vectors a thread (up to 4) that fit one block's slice */
        const int64_t slice = (nv + cl - 1) / cl;
        for (int v = 1; v <= 4; v++)
            if (tpr_for(slice, v) <= HIP_ROW_MAX_THREADS(v)) {
                c.vpt = v;
                c.tpr = tpr_for(slice, v);
                c.rows = 1;
                c.cluster = cl;
                return c;
            }
    }
    int vmin = 1;
    while (vmin <= HIP_ROW_MAX_VPT && tpr_for(nv, vmin) > HIP_ROW_MAX_THREADS(vmin))
        vmin++;
    if (vmin > HIP_ROW_MAX_VPT)
        return c;
    const int64_t fill = (int64_t)st->sm_count * 2048;
    if (rows * tpr_for(nv, vmin) <= fill || vmin >= 3) {
        c.vpt = vmin;
    } else {
        /* norm modes: 3 vectors unless that leaves over 10 % of the lanes
         * idle, then the better filled of 2 and 4; the quantization alone
         * (fewer registers): 4 first */
        const double u3 = (double)nv / (3.0 * tpr_for(nv, 3));
        const double u2 = (double)nv / (2.0 * tpr_for(nv, 2));
        const double u4 = (double)nv / (4.0 * tpr_for(nv, 4));
        const int t4 = tpr_for(nv, 4);
        if (mode == HIP_QUANT && u4 >= 0.9 && t4 <= HIP_ROW_MAX_THREADS(4))
            c.vpt = 4;
        else if (mode != HIP_QUANT && u4 >= 0.9 && t4 <= 256 &&
                 rows * nv >= 16 * fill) /* a long stream of rows: the capped variant */
            c.vpt = HIP_ROW_OCC + 4;
        else
            c.vpt = u3 >= 0.9 ? 3 : u4 > u2 ? 4 : 2;
        if (HIP_ROW_VPT(c.vpt) < vmin)
            c.vpt = vmin;
    }
    c.tpr = tpr_for(nv, HIP_ROW_VPT(c.vpt));
    c.rows = c.tpr >= 256 ? 1 : 256 / c.tpr; /* <= 256 threads: fits every variant */
    while (c.rows > 1 && (rows + c.rows - 1) / c.rows < 2 * (int64_t)st->sm_count &&
           c.rows * c.tpr > FP8F_WARP_SIZE)
        c.rows >>= 1;
    if (st->cfg_rows && !st->cfg_vpt && st->cfg_rows * c.tpr <= HIP_ROW_CODE_THREADS(c.vpt))
        c.rows = st->cfg_rows;
    return c;
}

/* ---------------------------------------------------------- the op */

static hipError_t launch_fast(int dtype, int mode, int fnuz, const struct hip_row_args *a,
                              struct hip_row_cfg c, hipStream_t s) {
    switch (dtype) {
    case FP8F_BF16:
        return hip_launch_rows_bf16(mode, fnuz, a, c, s);
    case FP8F_F16:
        return hip_launch_rows_f16(mode, fnuz, a, c, s);
    default:
        return hip_launch_rows_f32(mode, fnuz, a, c, s);
    }
}

static int aligned16(const void *p, int64_t stride, size_t esize, int64_t rows) {
    return ((uintptr_t)p % 16 == 0) && (rows <= 1 || ((size_t)stride * esize) % 16 == 0);
}

fp8f_status hip_row_op(struct fp8f_backend *be, int mode, const fp8f_tensor *x,
                       fp8f_tensor *residual, const fp8f_tensor *weight, float eps,
                       const float *scale_ub, fp8f_tensor *dense_out, fp8f_qtensor *q_out) {
    struct hip_state *st = hip_st(be);
    if (x->rows == 0)
        return FP8F_OK;
    fp8f_status s = hip_use_device(be);
    if (s != FP8F_OK)
        return s;

    struct hip_row_args a;
    a.x = x->data;
    a.x_stride = x->stride;
    a.res = mode != HIP_QUANT && residual ? residual->data : nullptr;
    a.res_stride = residual ? residual->stride : 0;
    a.w = mode != HIP_QUANT ? weight->data : nullptr;
    a.out = mode == HIP_NORM ? dense_out->data : q_out->q.data;
    a.out_stride = mode == HIP_NORM ? dense_out->stride : q_out->q.stride;
    a.scale = mode == HIP_NORM ? nullptr : q_out->scale;
    a.rows = x->rows;
    a.row0 = 0;
    a.cols = x->cols;
    a.eps = eps;
    a.n_f = (float)x->cols;
    a.has_ub = scale_ub != nullptr;
    a.ub = scale_ub ? *scale_ub : 0.0f;
    a.x_dt = x->dtype;
    a.w_dt = mode != HIP_QUANT ? weight->dtype : x->dtype;
    a.out_dt = mode == HIP_NORM ? dense_out->dtype : FP8F_F32;
    const int fnuz = mode != HIP_NORM && q_out->q.dtype == FP8F_E4M3FNUZ;

    /* The register-resident kernel: one element type throughout, aligned rows. */
    const size_t esz = x->dtype == FP8F_F32 ? 4 : 2;
    const int64_t vec = (int64_t)(16 / esz), nv = x->cols / vec;
    int fast = !st->force_generic && x->cols <= 0x7fffffff &&
               aligned16(x->data, x->stride, esz, x->rows);
    if (a.res)
        fast = fast && aligned16(residual->data, residual->stride, esz, x->rows);
    if (mode != HIP_QUANT)
        fast = fast && weight->dtype == x->dtype && (uintptr_t)weight->data % 16 == 0;
    if (mode == HIP_NORM)
        fast = fast && dense_out->dtype == x->dtype &&
               aligned16(dense_out->data, dense_out->stride, esz, x->rows);
    else
        fast = fast && (uintptr_t)q_out->q.data % (uintptr_t)vec == 0 &&
               (x->rows <= 1 || q_out->q.stride % vec == 0);

    hipError_t e = hipSuccess;
    struct hip_row_cfg c = {0, 0, 0, 1};
    if (fast)
        c = pick_cfg(st, mode, x->rows, x->cols, nv, 1);
    if (c.vpt) {
        e = launch_fast(x->dtype, mode, fnuz, &a, c, st->stream);
        if (e != hipSuccess && c.cluster > 1) { /* no room for the cluster: a block per row */
            (void)hipGetLastError();
            c = pick_cfg(st, mode, x->rows, x->cols, nv, 0);
            e = launch_fast(x->dtype, mode, fnuz, &a, c, st->stream);
        }
    } else {
        e = hip_launch_rows_generic(mode, fnuz, &a, st->stream);
    }
    if (e != hipSuccess)
        return hip_fail_rt(be, e, mode == HIP_NORM    ? "rmsnorm kernel launch"
                                  : mode == HIP_QUANT ? "quant kernel launch"
                                                      : "rmsnorm_quant kernel launch");
    return FP8F_OK;
}
