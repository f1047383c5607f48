/*
 * fp8_hwcheck: proves (or refutes), on the GPU it runs on, that the fast
 * paths of hip_device.h are bit-identical to the generic software ones
 * (themselves the device twins of lib/fp8_codec.h):
 *   1. cvt.rn.satfinite.e4m3x2.f32 (sm_89+) vs the e4m3fn encoder,
 *      every one of the 2^32 f32 inputs, NaN handled as hip_device.h does;
 *   2. cvt.rn.bf16x2.f32 (sm_80+) vs fp8f_f32_to_bf16, all 2^32 inputs;
 *   3. the per-row division (reciprocal + one FMA correction) vs IEEE
 *      division, all 2^32 dividends y for each of a set of scales s
 *      (extremes of the scales fp8fuse makes, powers of two, random ones):
 *      the quotients must be identical (NaN = NaN), and so the codes.
 * Exit status 0 when every check found 0 mismatches.
 *
 *   nvcc -x cu -std=c++17 -arch=sm_90 -Iinclude -Ilib -Ibackends/hip \
 *        backends/hip/fp8_hwcheck.hip -o fp8_hwcheck && ./fp8_hwcheck
 */
#include <stdio.h>
#include <stdlib.h>

#include "hip_device.h"

__device__ unsigned long long mismatches[3];
__device__ unsigned int first_bad[3][4];

FP8F_DEV void bad(int which, uint32_t u) {
    unsigned long long i = atomicAdd(&mismatches[which], 1ull);
    if (i < 4)
        first_bad[which][i] = u;
}

__global__ void check_cvt(uint64_t base) {
    const uint64_t u = base + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const float f = __uint_as_float((uint32_t)u);
    const float g = __uint_as_float((uint32_t)(u * 2654435761u)); /* the other lane */
#if defined(FP8F_HW_E4M3FN)
    if (fp8x2_encode<false>(f, g) != fp8x2_encode_sw<false>(f, g))
        bad(0, (uint32_t)u);
#endif
#if defined(FP8F_HW_BF16)
    if (f32x2_to_bf16x2(f, g) != f32x2_to_bf16x2_sw(f, g))
        bad(1, (uint32_t)u);
#endif
    (void)f;
    (void)g;
}

__device__ unsigned long long quotient_diffs[2]; /* normal, subnormal quotients */

__global__ void check_div(uint64_t base, float s) {
    const uint32_t u = (uint32_t)(base + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x);
    const float y = __uint_as_float(u);
    const row_div d = row_div_make(s);
    const float fast = row_div_apply(d, y), ieee = fp8f_div_rn(y, s);
    const bool same = (fast != fast && ieee != ieee) || __float_as_uint(fast) == __float_as_uint(ieee);
    if (same)
        return;
    /* what counts: the codes (a quotient differing only where it is
     * subnormal encodes the same); the quotients' differences are reported */
    atomicAdd(&quotient_diffs[fabsf(ieee) < 1.17549435e-38f ? 1 : 0], 1ull);
    if (fp8_encode_sw<false>(fast) != fp8_encode_sw<false>(ieee) ||
        fp8_encode_sw<true>(fast) != fp8_encode_sw<true>(ieee))
        bad(2, u);
}

int main(void) {
    int dev = 0, major = 0, minor = 0;
    if (hipGetDevice(&dev) != hipSuccess ||
        hipDeviceGetAttribute(&major, hipDeviceAttributeComputeCapabilityMajor, dev) !=
            hipSuccess ||
        hipDeviceGetAttribute(&minor, hipDeviceAttributeComputeCapabilityMinor, dev) !=
            hipSuccess) {
        printf("fp8_hwcheck: no GPU\n");
        return 77;
    }
    const uint64_t chunk = 1ull << 30;
    for (uint64_t base = 0; base <= 0xffffffffull; base += chunk)
        check_cvt<<<(unsigned)(chunk / 256), 256>>>(base);

    /* scales: the smallest and largest fp8fuse makes, 1, powers of two,
     * awkward mantissas, and amax / 448 for random amax */
    float scales[64];
    int ns = 0;
    scales[ns++] = 1.0f / (448.0f * 512.0f);
    scales[ns++] = 1.0f / (240.0f * 512.0f);
    scales[ns++] = 3.40282347e38f / 448.0f;
    scales[ns++] = 3.40282347e38f / 240.0f;
    scales[ns++] = 1.0f;
    scales[ns++] = 0.5f;
    scales[ns++] = 1024.0f;
    scales[ns++] = __builtin_bit_cast(float, 0x3fffffffu); /* 1.99999988 */
    scales[ns++] = __builtin_bit_cast(float, 0x3f800001u); /* 1 + ulp */
    scales[ns++] = 1.0f / 3.0f;
    uint64_t z = 0x9e3779b97f4a7c15ull;
    while (ns < 40) {
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        const double amax = __builtin_exp2((double)((z >> 40) % 4000) / 100.0 - 20.0) *
                            (1.0 + (double)(z & 0xffffff) / 16777216.0);
        scales[ns] = (float)(amax / (ns & 1 ? 448.0 : 240.0));
        ns++;
    }
    for (int i = 0; i < ns; i++)
        for (uint64_t base = 0; base <= 0xffffffffull; base += chunk)
            check_div<<<(unsigned)(chunk / 256), 256>>>(base, scales[i]);
    hipError_t e = hipDeviceSynchronize();
    if (e != hipSuccess) {
        printf("fp8_hwcheck: %s\n", hipGetErrorString(e));
        return 1;
    }
    unsigned long long n[3] = {0, 0, 0};
    unsigned int first[3][4];
    unsigned long long qd[2] = {0, 0};
    /* a failed read must not pass for "0 mismatches" */
    e = hipMemcpyFromSymbol(n, HIP_SYMBOL(mismatches), sizeof n);
    if (e == hipSuccess)
        e = hipMemcpyFromSymbol(first, HIP_SYMBOL(first_bad), sizeof first);
    if (e == hipSuccess)
        e = hipMemcpyFromSymbol(qd, HIP_SYMBOL(quotient_diffs), sizeof qd);
    if (e != hipSuccess) {
        printf("fp8_hwcheck: reading the results: %s\n", hipGetErrorString(e));
        return 1;
    }
    const char *what[3] = {
#if defined(FP8F_GPU_NVIDIA)
        "cvt.rn.satfinite.e4m3x2.f32 vs software e4m3fn encoder, 2^32 inputs",
        "cvt.rn.bf16x2.f32 vs software bf16 rounding, 2^32 inputs",
#else
        "(no hardware e4m3 conversion used on this target)",
        "(no hardware bf16 conversion used on this target)",
#endif
        "row division (reciprocal + FMA correction) vs IEEE division, e4m3fn and e4m3fnuz codes"};
    printf("fp8_hwcheck on %s %d.%d:\n", FP8F_GPU_VENDOR, major, minor);
    for (int k = 0; k < 3; k++) {
        printf("  %s: %llu mismatches\n", what[k], n[k]);
        for (unsigned i = 0; i < 4 && i < n[k]; i++)
            printf("    0x%08x\n", first[k][i]);
    }
    printf("  (division: all 2^32 dividends for each of %d scales; quotients differing in bits:"
           " %llu normal, %llu subnormal)\n",
           ns, qd[0], qd[1]);
    return n[0] || n[1] || n[2] ? 1 : 0;
}
