/*
 * Scalar helpers shared by the f32-FMA GEMM kernels (AVX2 and AVX-512):
 * the weight panel layout (nr output channels interleaved per k, one fp8
 * byte each) and the activation rows decoded to pre-scaled f32. Only the
 * panel width differs between the two ISAs.
 */
#ifndef FP8F_KERNELS_F32_PANEL_H
#define FP8F_KERNELS_F32_PANEL_H

#include <xmmintrin.h> /* _mm_getcsr, _mm_setcsr */

#include "cpu_isa.h"
#include "fp8_codec.h"

/* Panel p holds channels [n0, n0 + nr): dst[kk * nr + j] = q[n0 + j][kk],
 * zero past the last channel. */
static inline void f32_panel_pack(const uint8_t *q, int64_t n, int64_t k, int64_t n0, int nr,
                                  uint8_t *dst) {
    for (int64_t kk = 0; kk < k; kk++)
        for (int j = 0; j < nr; j++)
            dst[kk * nr + j] = n0 + j < n ? q[(size_t)(n0 + j) * (size_t)k + (size_t)kk] : 0;
}

/* One decoded activation row, padded to 64 bytes. */
static inline size_t f32_a_row_bytes(int64_t k) { return ((size_t)k * 4 + 63) & ~(size_t)63; }

/* Activation values times 2^(127 - bias - 16), the factor the kernels'
 * bit-level weight decode leaves out (see kernels_avx512.c). */
static inline void f32_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k,
                              fp8f_dtype fp8, void *dst) {
    float table[256];
    const float pre = fp8 == FP8F_E4M3FNUZ ? 0x1p103f : 0x1p104f;
    const float *value = fp8f_cpu_fp8_values(fp8);
    for (int c = 0; c < 256; c++)
        table[c] = value[c] * pre;
    const size_t stride = f32_a_row_bytes(k) / 4;
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *src = codes + (size_t)i * (size_t)lda;
        float *d = (float *)dst + (size_t)i * stride;
        for (int64_t c = 0; c < k; c++)
            d[c] = table[src[c]];
    }
}

/* A kernel's block of the GEMM (struct cpu_kernels' gemm_block). */
typedef void (*f32_gemm_block_fn)(const struct cpu_gemm_args *g, int64_t m0, int64_t m1,
                                  int64_t p0, int64_t p1, void *scratch);

/* Runs `block` with MXCSR's denormals-are-zero bit clear on this thread and
 * puts the caller's MXCSR back. The kernels' bit-level weight decode gives
 * subnormal fp8 codes as f32 denormals, which a caller's DAZ (-ffast-math,
 * a framework's flush-denormal switch) would read as 0: the avx2 and
 * avx512 results would then differ from every other level's. FTZ is
 * harmless: each product of a pre-scaled activation and a decoded weight
 * is a normal f32 (at least 2^-34). */
static inline void f32_gemm_keeping_denormals(f32_gemm_block_fn block,
                                              const struct cpu_gemm_args *g, int64_t m0,
                                              int64_t m1, int64_t p0, int64_t p1, void *scratch) {
    enum { DAZ = 0x40 };
    const unsigned csr = _mm_getcsr();
    if (csr & DAZ)
        _mm_setcsr(csr & ~(unsigned)DAZ);
    block(g, m0, m1, p0, p1, scratch);
    if (csr & DAZ)
        _mm_setcsr(csr);
}

/* The f32 kernels need no per-thread scratch beyond one cache line. */
static inline size_t f32_scratch_bytes(int64_t k) {
    (void)k;
    return 64;
}

#endif
