/*
 * Device helpers shared by every kernel of the HIP backend: element codecs
 * that reproduce lib/fp8_codec.h bit for bit, 16-byte vector access, and
 * the warp / row-group reductions.
 *
 * Element types are named by their fp8f_dtype value (DT): FP8F_F32,
 * FP8F_BF16, FP8F_F16 for the float roles. 16-bit types are kept as raw
 * uint16_t and converted in software (a few integer operations), so the
 * rounding, NaN and overflow behaviour is the CPU codec's on every GPU.
 */
#ifndef FP8F_HIP_DEVICE_H
#define FP8F_HIP_DEVICE_H

#include <stdint.h>

#include "fp8fuse.h"
#include "hip_compat.h"

#define FP8F_DEV static __device__ __forceinline__

/* ---------------------------------------------------------------- bits */

FP8F_DEV uint32_t f32_bits(float f) { return __float_as_uint(f); }
FP8F_DEV float bits_f32(uint32_t u) { return __uint_as_float(u); }

/* ---------------------------------------------------- 16-bit floats */

FP8F_DEV float bf16_to_f32(uint32_t h) { return bits_f32((h & 0xffffu) << 16); }

/* fp8f_f32_to_bf16: round to nearest even, quiet NaN with the sign kept. */
FP8F_DEV uint32_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

/* fp8f_f16_to_f32: exact; NaN becomes the canonical quiet NaN with the sign. */
FP8F_DEV float f16_to_f32(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t out;
    if (exp == 0x1fu) {
        out = mant ? 0x7fc00000u : 0x7f800000u;
    } else if (exp != 0) {
        out = ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        out = 0;
    } else { /* subnormal: mant * 2^-24, normalized */
        int shift = __clz((int)mant) - 21; /* bring the leading one to bit 10 */
        mant <<= shift;
        out = ((uint32_t)(113 - shift) << 23) | ((mant & 0x3ffu) << 13);
    }
    return bits_f32(out | sign);
}

/* Right shift of m by s (1..31) rounded to nearest even. */
FP8F_DEV uint32_t shift_rne(uint32_t m, int s) {
    uint32_t q = m >> s, rest = m & ((1u << s) - 1u), half = 1u << (s - 1);
    return q + (rest > half || (rest == half && (q & 1u)));
}

/* fp8f_f32_to_f16: round to nearest even, >= 65520 to infinity, NaN 0x7e00. */
FP8F_DEV uint32_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* 65520 */
        return sign | 0x7c00u;
    if (a >= 0x38800000u) { /* normal f16: >= 2^-14 */
        uint32_t v = a - 0x38000000u;
        return sign | ((v + 0xfffu + ((v >> 13) & 1u)) >> 13);
    }
    /* subnormal f16: units of 2^-24; value = m * 2^(e - 150) */
    int e = (int)(a >> 23), s = 126 - e;
    if (e == 0 || s >= 25) /* below 2^-25 (or exactly: tie to even 0) */
        return sign;
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    return sign | shift_rne(m, s);
}

/* --------------------------------------------------- typed elements */

template <int DT> struct elem;
template <> struct elem<FP8F_F32> {
    typedef float storage;
    FP8F_DEV float load(float v) { return v; }
    FP8F_DEV float store(float f) { return f; }
    FP8F_DEV float round(float f) { return f; }
};
template <> struct elem<FP8F_BF16> {
    typedef uint16_t storage;
    FP8F_DEV float load(uint32_t v) { return bf16_to_f32(v); }
    FP8F_DEV uint16_t store(float f) { return (uint16_t)f32_to_bf16(f); }
    FP8F_DEV float round(float f) { return bf16_to_f32(f32_to_bf16(f)); }
};
template <> struct elem<FP8F_F16> {
    typedef uint16_t storage;
    FP8F_DEV float load(uint32_t v) { return f16_to_f32(v); }
    FP8F_DEV uint16_t store(float f) { return (uint16_t)f32_to_f16(f); }
    FP8F_DEV float round(float f) { return f16_to_f32(f32_to_f16(f)); }
};

/* Run-time typed access for the generic (any dtype, any alignment) path. */
FP8F_DEV float load_any(int dt, const void *base, int64_t i) {
    switch (dt) {
    case FP8F_BF16:
        return bf16_to_f32(((const uint16_t *)base)[i]);
    case FP8F_F16:
        return f16_to_f32(((const uint16_t *)base)[i]);
    default:
        return ((const float *)base)[i];
    }
}
FP8F_DEV float round_any(int dt, float f) {
    return dt == FP8F_BF16 ? bf16_to_f32(f32_to_bf16(f))
                           : dt == FP8F_F16 ? f16_to_f32(f32_to_f16(f)) : f;
}
FP8F_DEV void store_any(int dt, void *base, int64_t i, float f) {
    switch (dt) {
    case FP8F_BF16:
        ((uint16_t *)base)[i] = (uint16_t)f32_to_bf16(f);
        break;
    case FP8F_F16:
        ((uint16_t *)base)[i] = (uint16_t)f32_to_f16(f);
        break;
    default:
        ((float *)base)[i] = f;
        break;
    }
}

/* ---------------------------------------------------------------- fp8 */

#define FP8F_E4M3FN_MAX_F 448.0f
#define FP8F_E4M3FNUZ_MAX_F 240.0f

/* fp8f_encode_e4m3fn / _e4m3fnuz, in integer arithmetic: round to nearest
 * even, saturate to +-max, NaN stays NaN (fn: sign|0x7f, fnuz: 0x80),
 * infinity saturates, fnuz has no negative zero. */
template <bool FNUZ> FP8F_DEV uint32_t fp8_encode_sw(float f) {
    const int bias = FNUZ ? 8 : 7;
    const uint32_t max_code = FNUZ ? 0x7fu : 0x7eu;
    uint32_t u = f32_bits(f), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return FNUZ ? 0x80u : (sign | 0x7fu);
    uint32_t mag;
    int e = (int)(a >> 23) - 127 + bias; /* biased e4m3 exponent */
    if (e >= 1) {
        uint32_t mant = a & 0x7fffffu, keep = mant >> 20, rest = mant & 0xfffffu;
        mag = ((uint32_t)e << 3) + keep;
        mag += (rest > 0x80000u || (rest == 0x80000u && (keep & 1u)));
    } else {
        /* value in units of the smallest subnormal: m * 2^(E - 148 + bias) */
        int s = 148 - bias - (int)(a >> 23);
        mag = (a >> 23) == 0 || s >= 25 ? 0u : shift_rne((a & 0x7fffffu) | 0x800000u, s);
    }
    mag = mag > max_code ? max_code : mag; /* also infinity */
    if (FNUZ)
        return mag == 0 ? 0u : (sign | mag);
    return sign | mag;
}

/* ---- architecture fast paths ---------------------------------------------
 * The software codecs above are the generic path on every GPU. A hardware
 * conversion replaces one only where it was proven bit-identical over all
 * 2^32 f32 inputs by backends/hip/fp8_hwcheck.hip (0 mismatches on sm_90,
 * H100, 2026-11-24, NaN handled as below); -DFP8F_HIP_NO_HW_CVT turns them
 * off. AMD: the generic path (gfx942's v_cvt_pk_fp8_f32 is e4m3fnuz with
 * its own NaN and overflow rules and is not proven here). */
#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH__) && !defined(FP8F_HIP_NO_HW_CVT)
#if __CUDA_ARCH__ >= 800
#define FP8F_HW_BF16 1 /* cvt.rn.bf16x2.f32: RNE like the codec; NaN canonical */
#endif
#if __CUDA_ARCH__ >= 890
#define FP8F_HW_E4M3FN 1 /* cvt.rn.satfinite.e4m3x2.f32: RNE, saturating; NaN unsigned */
#endif
#endif

FP8F_DEV uint32_t f32x2_to_bf16x2_sw(float lo, float hi) {
    return f32_to_bf16(lo) | (f32_to_bf16(hi) << 16);
}
template <bool FNUZ> FP8F_DEV uint32_t fp8x2_encode_sw(float lo, float hi) {
    return fp8_encode_sw<FNUZ>(lo) | (fp8_encode_sw<FNUZ>(hi) << 8);
}
#if defined(FP8F_HW_BF16)
FP8F_DEV uint32_t f32x2_to_bf16x2_hw(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
#endif
#if defined(FP8F_HW_E4M3FN)
FP8F_DEV uint32_t e4m3fnx2_hw(float lo, float hi) {
    unsigned short r;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
    return r;
}
#endif

/* Two floats to two bf16 (lo in the low half), as fp8f_f32_to_bf16. */
FP8F_DEV uint32_t f32x2_to_bf16x2(float lo, float hi) {
#if defined(FP8F_HW_BF16)
    if (lo == lo && hi == hi) /* NaN: the codec's quiet NaN with its sign */
        return f32x2_to_bf16x2_hw(lo, hi);
#endif
    return f32x2_to_bf16x2_sw(lo, hi);
}

/* Two fp8 codes (lo in the low byte), as fp8f_encode_e4m3fn / _e4m3fnuz. */
template <bool FNUZ> FP8F_DEV uint32_t fp8x2_encode(float lo, float hi) {
#if defined(FP8F_HW_E4M3FN)
    if (!FNUZ && lo == lo && hi == hi) /* NaN keeps its sign in the codec */
        return e4m3fnx2_hw(lo, hi);
#endif
    return fp8x2_encode_sw<FNUZ>(lo, hi);
}

template <bool FNUZ> FP8F_DEV uint32_t fp8_encode(float f) {
    return fp8x2_encode<FNUZ>(f, 0.0f) & 0xffu;
}

/* ---- y / s for a whole row, correctly rounded -----------------------------
 * The per-token quantization divides every element by the row's scale and
 * must round like IEEE division (the CPU reference divides). One correctly
 * rounded reciprocal per row, then per element q = y * r and one FMA
 * correction (Markstein): q' = q + (y - s q) r, correctly rounded for normal
 * s and r and a finite, normal q (the remainder is exact in an FMA). Where y
 * is so small that y r is subnormal the quotient may differ in its last bit
 * from division, but such a quotient (< 2^-126) encodes to a zero code of
 * y's sign either way; zero stays a signed zero. Non-finite s, or a y whose
 * q overflows, divide directly. fp8_hwcheck compares the e4m3fn and
 * e4m3fnuz codes of both quotients over all 2^32 y for a set of scales. */
struct row_div {
    float s, r;
    int fast;
};
FP8F_DEV row_div row_div_make(float s) {
    row_div d;
    d.s = s;
    d.r = fp8f_div_rn(1.0f, s);
    d.fast = isfinite(s) && isfinite(d.r) && d.r >= 1.17549435e-38f;
    return d;
}
FP8F_DEV float row_div_apply(const row_div &d, float y) {
    if (d.fast) {
        const float q = fp8f_mul_rn(y, d.r);
        if (q == 0.0f) /* y = +-0 (or y s tiny): the signed zero, as division gives */
            return q;
        if (isfinite(q))
            return fmaf(fmaf(-d.s, q, y), d.r, q);
    }
    return fp8f_div_rn(y, d.s);
}

/* fp8f_decode_*: NaN codes decode to NaN. */
FP8F_DEV float fp8_decode(uint32_t c, bool fnuz) {
    const int bias = fnuz ? 8 : 7;
    if (fnuz ? c == 0x80u : (c & 0x7fu) == 0x7fu)
        return __uint_as_float(0x7fc00000u);
    int exp = (c >> 3) & 0xf, mant = c & 7;
    float mag = exp == 0 ? ldexpf((float)mant, 1 - bias - 3)
                         : ldexpf((float)(8 + mant), exp - bias - 3);
    return (c & 0x80u) ? -mag : mag;
}

/* ------------------------------------------------------ reductions */

struct op_sum {
    FP8F_DEV float apply(float a, float b) { return a + b; }
};
struct op_max { /* NaN-ignoring */
    FP8F_DEV float apply(float a, float b) { return fmaxf(a, b); }
};

/* Reduces v over a row group: the blockDim.x threads of one threadIdx.y.
 * blockDim.x is a power of two <= FP8F_WARP_SIZE (a group inside one warp),
 * or a multiple of FP8F_WARP_SIZE (groups of whole warps, through `smem`,
 * one float per warp of the block). Every thread of the block must call it
 * (it may contain a barrier); every thread gets the result. */
template <class OP> FP8F_DEV float group_reduce(float v, float *smem) {
    const int tpr = blockDim.x;
    if (tpr <= FP8F_WARP_SIZE) {
        for (int o = tpr >> 1; o > 0; o >>= 1)
            v = OP::apply(v, fp8f_shfl_xor(v, o));
        return v;
    }
    for (int o = FP8F_WARP_SIZE >> 1; o > 0; o >>= 1)
        v = OP::apply(v, fp8f_shfl_xor(v, o));
    const int warps = tpr / FP8F_WARP_SIZE;
    const int first = threadIdx.y * warps;
    if ((threadIdx.x & (FP8F_WARP_SIZE - 1)) == 0)
        smem[first + threadIdx.x / FP8F_WARP_SIZE] = v;
    __syncthreads();
    v = smem[first];
    for (int w = 1; w < warps; w++)
        v = OP::apply(v, smem[first + w]);
    return v;
}

/* Combines the blocks' group_reduce results over a cluster (a row split
 * over the cluster's blocks, one row per block): each block publishes its
 * value in a shared slot of its own (one per OP: a kernel calls each OP's
 * once), and every thread folds the cluster's values in rank order, so all
 * blocks get the same bits. `last`: no cluster_reduce follows, so the
 * barrier that keeps every block's slot alive until all have read it is
 * entered now and left by cluster_reduce_done() before the block exits (its
 * latency hides behind the work in between). Only for kernels launched in
 * clusters (fp8f_launch_clustered). */
template <class OP> FP8F_DEV float cluster_reduce(float v, bool last) {
    __shared__ float slot;
    if (threadIdx.x == 0 && threadIdx.y == 0)
        slot = v;
    fp8f_cluster_arrive();
    fp8f_cluster_wait();
    const unsigned n = fp8f_cluster_size();
    v = fp8f_cluster_load(&slot, 0);
    for (unsigned r = 1; r < n; r++)
        v = OP::apply(v, fp8f_cluster_load(&slot, r));
    if (last)
        fp8f_cluster_arrive();
    return v;
}
FP8F_DEV void cluster_reduce_done(void) { fp8f_cluster_wait(); }

/* ------------------------------------------------- per-token scale */

/* token_scale of the CPU backend: amax clipped to the bound, then
 * max(amax / FP8_MAX, 1 / (FP8_MAX * 512)). */
FP8F_DEV float token_scale(float amax, bool fnuz, int has_ub, float ub) {
    const float fmax = fnuz ? FP8F_E4M3FNUZ_MAX_F : FP8F_E4M3FN_MAX_F;
    if (has_ub && amax > ub)
        amax = ub;
    return fmaxf(fp8f_div_rn(amax, fmax), fp8f_div_rn(1.0f, fmax * 512.0f));
}

/* ------------------------------------------------------ 16-byte vectors */

/* VEC elements of type DT in 16 bytes, unpacked to floats. */
template <int DT> struct vec16 {
    enum { N = 16 / sizeof(typename elem<DT>::storage) };
};

template <int DT> FP8F_DEV void unpack16(const uint4 &r, float (&f)[vec16<DT>::N]) {
    if constexpr (DT == FP8F_F32) {
        f[0] = __uint_as_float(r.x);
        f[1] = __uint_as_float(r.y);
        f[2] = __uint_as_float(r.z);
        f[3] = __uint_as_float(r.w);
    } else {
        const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = elem<DT>::load(w[i] & 0xffffu);
            f[2 * i + 1] = elem<DT>::load(w[i] >> 16);
        }
    }
}

template <int DT> FP8F_DEV uint4 pack16(const float (&f)[vec16<DT>::N]) {
    uint4 r;
    if constexpr (DT == FP8F_F32) {
        r.x = __float_as_uint(f[0]);
        r.y = __float_as_uint(f[1]);
        r.z = __float_as_uint(f[2]);
        r.w = __float_as_uint(f[3]);
    } else {
        uint32_t w[4];
#pragma unroll
        for (int i = 0; i < 4; i++)
            w[i] = DT == FP8F_BF16 ? f32x2_to_bf16x2(f[2 * i], f[2 * i + 1])
                                   : (uint32_t)elem<DT>::store(f[2 * i]) |
                                         ((uint32_t)elem<DT>::store(f[2 * i + 1]) << 16);
        r.x = w[0];
        r.y = w[1];
        r.z = w[2];
        r.w = w[3];
    }
    return r;
}

/* h = round_DT(x + r) for one vector of x and r: returns the rounded values
 * in h and their storage bits (what is written back to the residual). */
template <int DT>
FP8F_DEV uint4 add_round16(const uint4 &xv, const uint4 &rv, float (&h)[vec16<DT>::N]) {
    enum { N = vec16<DT>::N };
    float xf[N], rf[N];
    unpack16<DT>(xv, xf);
    unpack16<DT>(rv, rf);
    if constexpr (DT == FP8F_F32) {
#pragma unroll
        for (int i = 0; i < N; i++)
            h[i] = xf[i] + rf[i];
        return pack16<DT>(h);
    } else {
        uint32_t w[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float lo = xf[2 * i] + rf[2 * i], hi = xf[2 * i + 1] + rf[2 * i + 1];
            w[i] = DT == FP8F_BF16 ? f32x2_to_bf16x2(lo, hi)
                                   : (uint32_t)elem<DT>::store(lo) |
                                         ((uint32_t)elem<DT>::store(hi) << 16);
            h[2 * i] = elem<DT>::load(w[i] & 0xffffu);
            h[2 * i + 1] = elem<DT>::load(w[i] >> 16);
        }
        uint4 r;
        r.x = w[0];
        r.y = w[1];
        r.z = w[2];
        r.w = w[3];
        return r;
    }
}

/* Encodes N (4 or 8) quotients and stores the codes as one 4- or 8-byte word. */
template <bool FNUZ, int N> FP8F_DEV void store_codes(uint8_t *dst, const float (&q)[N]) {
    uint32_t p[N / 2];
#pragma unroll
    for (int i = 0; i < N / 2; i++)
        p[i] = fp8x2_encode<FNUZ>(q[2 * i], q[2 * i + 1]);
    if constexpr (N == 8) {
        uint2 v;
        v.x = p[0] | (p[1] << 16);
        v.y = p[2] | (p[3] << 16);
        *(uint2 *)dst = v;
    } else {
        *(uint32_t *)dst = p[0] | (p[1] << 16);
    }
}

#endif /* FP8F_HIP_DEVICE_H */
