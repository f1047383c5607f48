/*
 * CPU ISA detection and the per-ISA kernel tables.
 *
 * The framework (cpu_norm_quant.c, cpu_gemm.c, cpu_backend.c) is ISA-free:
 * it blocks, threads and allocates scratch, and calls the small kernels of
 * one `struct cpu_kernels`, chosen once per context (cpu_backend.c's init)
 * from what the CPU and the OS support, capped by FP8F_CPU_ISA=<name>.
 * Each kernels_<isa>.c is compiled with its own -m flags and only ever
 * called on a CPU that has them.
 *
 * Numerics every kernel reproduces bit for bit (the generic C kernels are
 * the reference):
 *  - sum of squares: 32 lanes, lane j accumulates h[c]*h[c] for c = j mod 32
 *    (one fused multiply-add each, fmaf: one instruction fewer per 16 values
 *    than a multiply and an add on a core with two vector ports), a
 *    zero-padded tail, then the
 *    lanes folded in halves (j + 16, then + 8, + 4, + 2, + 1); 32 rather
 *    than 16 lanes so that the 16-wide kernels keep two independent chains
 *    of adds (a 5120-element bf16 row's add pass 300-322 -> 237-265 ns on
 *    Zen 5, in L1) and the even/odd reading of bf16 needs no shuffle;
 *  - y = (h * inv_rms) * w, amax = NaN-ignoring max |y|;
 *  - q = encode(y / scale) with a true division, round to nearest even.
 */
#ifndef FP8F_CPU_ISA_H
#define FP8F_CPU_ISA_H

#include <stddef.h>
#include <stdint.h>

#include "fp8fuse.h"

enum cpu_isa {
    CPU_ISA_GENERIC = 0, /* portable C: the reference and the fallback */
    CPU_ISA_AVX2,        /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512,      /* AVX-512 F/BW/DQ/VL */
    CPU_ISA_AVX512BF16,  /* + AVX512_BF16 (vdpbf16ps) and AVX512_VBMI */
    CPU_ISA_AMX,         /* + AMX-TILE/AMX-BF16 with the OS's tile permission */
    CPU_ISA_COUNT
};

/* Highest level this CPU and OS support (cpuid + xgetbv, and for AMX the
 * arch_prctl tile permission); computed once, thread-safe. */
enum cpu_isa fp8f_cpu_isa_detect(void);
/* "generic", "avx2", "avx512", "avx512bf16", "amx" (NULL when out of range). */
const char *fp8f_cpu_isa_name(enum cpu_isa isa);
/* The level for a name, or -1. */
int fp8f_cpu_isa_from_name(const char *name);
/* The CPU's model name (cpuid brand string), e.g. "AMD EPYC 9R45". */
const char *fp8f_cpu_isa_model(void);
/* The feature flags seen, e.g. "avx2 fma f16c avx512f ... amx-bf16". */
const char *fp8f_cpu_isa_features(void);
/* Whether the vector divider keeps up with an encode pass: AMD family 0x1a
 * (Zen 5) and later, which divide 16 floats every ~6 cycles. There the
 * tables' row_encode_div is used for rows whose quotients often sit at an
 * fp8 tie; elsewhere (Zen 2, Intel) the divider is 2-4x slower and the
 * reciprocal encode wins even on those rows. */
int fp8f_cpu_isa_divides_fast(void);
/* Whether the core runs 512-bit operations as two 256-bit halves, one
 * 512-bit vdpbf16ps a cycle (AMD family 0x19, Zen 4): there the GEMM's
 * conversion in registers hides behind the dot products for more rows
 * (kernels_avx512bf16.c's decode_rows). */
int fp8f_cpu_isa_splits_512(void);
/* The size of a core's L1 data cache in bytes from cpuid, 0 when unknown. */
size_t fp8f_cpu_isa_l1d_bytes(void);

/* ---- GEMM geometry shared by framework and kernels ---- */

/* The decode kernels (few rows, the weight read once from memory) prefetch
 * the weight this far ahead of their reads. The hardware prefetcher alone
 * left them waiting on DRAM: EPYC Zen 5, 2 threads, 6144 x 5120 (31 MB),
 * M = 8 took half the time with it in the avx512bf16, avx512 and avx2
 * tables (see backends/cpu/NOTES.md). 8 KB did as well in the f32 tables,
 * 4-12 KB worse in avx512bf16, whose loop reads the weight fastest. */
#define CPU_DECODE_PREFETCH_BYTES (16 * 1024)

/* Prefetch (for reading, into L1) the line CPU_DECODE_PREFETCH_BYTES past
 * p. Past the end of a thread's panels it touches another thread's or
 * unmapped memory: prefetches never fault. Always inlined: GCC may drop
 * calls to a function whose only effect is a prefetch. */
static inline __attribute__((always_inline)) void cpu_prefetch_ahead(const void *p) {
    __builtin_prefetch((const void *)((uintptr_t)p + CPU_DECODE_PREFETCH_BYTES), 0, 3);
}

/* Arguments of one GEMM block: out[m0..m1) x panels [p0, p1). */
struct cpu_gemm_args {
    const void *a;      /* activation in the kernel's format (prep_a) */
    size_t a_stride;    /* bytes between rows of a */
    const float *sa;    /* M per-token scales */
    const uint8_t *w;   /* packed weight (pack_w) */
    const float *sw;    /* N per-channel scales (fp8 conversion folded in) */
    const float *bias;  /* N or NULL */
    int64_t m, n, k;
    void *out;
    fp8f_dtype out_dtype;
    int64_t out_stride; /* elements */
    fp8f_dtype fp8;     /* the weight's (and activation's) fp8 type */
};

/* A row's table for quantizing bf16 x by lookup (row_encode_bf16): the
 * fp8 normal-range code of x with significand bits i and exponent bits e
 * is step[i] + base + 8 e (kernels_bf16_quant.c says why). */
struct cpu_bf16_codes {
    uint8_t step[128];
    int32_t base;
    float scale; /* for the blocks divided exactly */
    fp8f_dtype fp8;
};

/* One ISA's kernels. All row functions take element counts n >= 1. */
struct cpu_kernels {
    const char *name; /* "avx512bf16", ... */
    const char *gemm_name;

    /* h = x + r rounded to rt, stored back into r (r NULL: h = x); returns
     * the sum of squares in the canonical order. */
    float (*row_add_ss)(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n);
    /* y[c] = (h[c] * inv_rms) * w[c] in f32 scratch; returns amax. */
    float (*row_norm)(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                      float inv_rms, float *y, int64_t n);
    /* y[c] = x[c] in f32 scratch (may be skipped by the caller for f32);
     * returns amax. y NULL: amax only (x is f32). */
    float (*row_amax)(const void *x, fp8f_dtype xt, float *y, int64_t n);
    /* q[c] = encode_fp8(y[c] / scale). stream != 0: q is not read again
     * soon, so whole aligned 64-byte lines of it may be written around the
     * caches (non-temporal stores, which store_fence orders); a hint that a
     * kernel may ignore. */
    void (*row_encode)(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                       int stream);
    /* The same codes by one true division per element, or NULL (use
     * row_encode). row_encode multiplies by 1 / scale and divides only the
     * blocks where that could change a code; the quotients of 16-bit inputs
     * land on fp8 ties so often (up to 40 % of 64-value blocks) that on a
     * CPU that divides fast (fp8f_cpu_isa_divides_fast) dividing them all is
     * faster. */
    void (*row_encode_div)(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                           int stream);
    /* Makes the streamed stores of the encodes above visible before any
     * later store (sfence), or NULL: the table's encodes never stream. */
    void (*store_fence)(void);
    /* Optional (NULL in tables without them), used together: row_norm for
     * bf16 h and w with y in even/odd order, and row_encode of such a y.
     * Even/odd order: each full 64-element block of the row holds its
     * first 32 elements as their 16 even-indexed values then their 16 odd
     * ones, and likewise its second 32; the elements after the last full
     * block are in order. Reading 32 bf16 as one register saves the
     * widening of each half (Zen 5, a 5120-element row in L1: see
     * kernels_avx512bf16.c). */
    float (*row_norm_bf16_eo)(const void *h, const void *w, float inv_rms, float *y, int64_t n);
    void (*row_encode_eo)(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                          int stream);
    /* Optional, used together, for quantizing bf16 rows as they are: the
     * NaN-ignoring max |x| from the bits; the row's table for `scale`
     * (0: none for this scale, e.g. an infinite one; use row_amax and
     * row_encode); and q[c] = encode_fp8(x[c] / scale) by the table, with
     * row_encode's stream hint. Same codes as row_encode; no division per
     * element. */
    float (*row_amax_bf16)(const uint16_t *x, int64_t n);
    int (*bf16_codes_prepare)(float scale, fp8f_dtype fp8, struct cpu_bf16_codes *t);
    void (*row_encode_bf16)(const uint16_t *x, int64_t n, const struct cpu_bf16_codes *t,
                            uint8_t *q, int stream);
    /* out[c] = (h[c] * inv_rms) * w[c], rounded to ot. out may be h. */
    void (*row_norm_store)(const void *h, fp8f_dtype ht, const void *w, fp8f_dtype wt,
                           float inv_rms, void *out, fp8f_dtype ot, int64_t n);

    /* GEMM. The weight is stored in panels of `nr` output channels; one
     * panel holds `panel_bytes(k)` bytes. The threads split the panels in
     * units of `split_panels` (a gemm_block call gets whole units but for
     * the last): a multiple of the panels the kernel blocks together, and
     * few enough that a unit is a small part of a thread's work. */
    int nr, split_panels;
    size_t (*panel_bytes)(int64_t k);
    /* Packs rows [n0, n0 + nr) of the N x K codes q (row stride k; rows
     * past n are zero) into one panel. */
    void (*pack_panel)(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst);
    /* Bytes per activation row in the kernel's format, and the conversion
     * of M x K codes (row stride lda) into it. */
    size_t (*a_row_bytes)(int64_t k);
    void (*prep_a)(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                   void *dst);
    /* Per-thread scratch the block kernel needs (bytes, 64-aligned). */
    size_t (*scratch_bytes)(int64_t k);
    /* out rows [m0, m1) x columns of panels [p0, p1), epilogue included;
     * m1 - m0 <= CPU_GEMM_MC. */
    void (*gemm_block)(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                       int64_t p1, void *scratch);
};

/* The 256 values of fp8 type `fp8` (e4m3fn or e4m3fnuz) as f32, by code:
 * decoded once per process (thread-safe), for the kernels' tables. */
const float *fp8f_cpu_fp8_values(fp8f_dtype fp8);

/* Activation rows per gemm_block call at most: a block of them stays in
 * cache while the weight streams past (a kernel may size its scratch by
 * it). 512 rather than 256: at M = 512 the weight is read and converted
 * once instead of twice (1-2 % faster on the EPYC). */
#define CPU_GEMM_MC 512

extern const struct cpu_kernels fp8f_cpu_kernels_generic;
#ifdef FP8F_HAVE_KERNELS_AVX2
extern const struct cpu_kernels fp8f_cpu_kernels_avx2;
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512
extern const struct cpu_kernels fp8f_cpu_kernels_avx512;
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512BF16
extern const struct cpu_kernels fp8f_cpu_kernels_avx512bf16;
#endif
#ifdef FP8F_HAVE_KERNELS_AMX
extern const struct cpu_kernels fp8f_cpu_kernels_amx;
#endif

/* The best kernel table compiled in for a level (a level without kernels of
 * its own uses the next lower one); *used gets the level of the table. */
const struct cpu_kernels *fp8f_cpu_kernels_for(enum cpu_isa isa, enum cpu_isa *used);

#endif
