/*
 * What the two bf16 GEMM kernel tables share (kernels_avx512bf16.c and
 * kernels_amx.c): the weight panel layout and its fp8 -> bf16 conversion,
 * the activation's bf16 pairs, and the AVX-512 BF16 table's functions that
 * the AMX table reuses as they are (rows, packing, decode).
 *
 * Panel layout: 32 output channels; per pair of k, 64 bytes ordered so that
 * two vpermi2b table lookups (low and high byte of the bf16 of the 7-bit
 * magnitude; the sign ORed in) and one unpacklo/unpackhi pair give the two
 * registers of bf16 pairs that vdpbf16ps takes (and that are the rows of
 * an AMX B tile): lane l of register z holds channel 16z + l at k and
 * k + 1. The activation is one 32-bit word (a bf16 pair) per k pair, rows
 * zero-padded to a multiple of 64 bytes.
 */
#ifndef FP8F_KERNELS_BF16_H
#define FP8F_KERNELS_BF16_H

#include "kernels_avx512_inl.h"

#define BF16_NR 32 /* channels per panel */

static inline int64_t kpairs(int64_t k) { return (k + 1) / 2; }

/* The lookup tables of one fp8 type: low and high bytes of bf16(|code|). */
struct tabs {
    __m512i lo0, lo1, hi0, hi1;
};

static inline struct tabs make_tabs(fp8f_dtype fp8) {
    uint8_t lo[128], hi[128];
    const float *value = fp8f_cpu_fp8_values(fp8);
    for (int c = 0; c < 128; c++) {
        uint32_t b = fp8f_f32_bits(value[c]) >> 16;
        lo[c] = (uint8_t)b;
        hi[c] = (uint8_t)(b >> 8);
    }
    struct tabs t = {_mm512_loadu_si512(lo), _mm512_loadu_si512(lo + 64),
                     _mm512_loadu_si512(hi), _mm512_loadu_si512(hi + 64)};
    return t;
}

/* 64 packed codes -> two registers of 16 bf16 pairs. */
AVX512_INLINE void cvt64(const struct tabs *t, const uint8_t *p, __m512i *w0, __m512i *w1) {
    const __m512i c = _mm512_loadu_si512(p);
    const __m512i lo = _mm512_permutex2var_epi8(t->lo0, c, t->lo1);
    __m512i hi = _mm512_permutex2var_epi8(t->hi0, c, t->hi1);
    hi = _mm512_ternarylogic_epi32(hi, c, _mm512_set1_epi8((char)0x80), 0xF8); /* hi | (c & 0x80) */
    *w0 = _mm512_unpacklo_epi8(lo, hi);
    *w1 = _mm512_unpackhi_epi8(lo, hi);
}

/* What both bf16 tables hold alike: the AVX-512 rows and the panel layout
 * (in a struct cpu_kernels initializer). */
#define BF16_TABLE_ROWS_AND_PANELS                                                             \
    .name = "avx512", .row_add_ss = fp8f_cpu_bf16_row_add_ss,                                  \
    .row_norm = fp8f_cpu_avx512_row_norm, .row_amax = fp8f_cpu_avx512_row_amax,                \
    .row_encode = fp8f_cpu_avx512_row_encode,                                                  \
    .row_encode_div = fp8f_cpu_avx512_row_encode_div,                                          \
    .store_fence = fp8f_cpu_avx512_store_fence, .row_norm_bf16_eo = fp8f_cpu_bf16_row_norm_eo, \
    .row_encode_eo = fp8f_cpu_bf16_row_encode_eo,                                              \
    .row_norm_store = fp8f_cpu_avx512_row_norm_store, .row_amax_bf16 = fp8f_cpu_bf16_row_amax, \
    .bf16_codes_prepare = fp8f_cpu_bf16_codes_prepare,                                         \
    .row_encode_bf16 = fp8f_cpu_bf16_row_encode_table, .nr = BF16_NR,                          \
    .panel_bytes = fp8f_cpu_bf16_panel_bytes, .pack_panel = fp8f_cpu_bf16_pack_panel

/* The AVX-512 BF16 table's functions (kernels_avx512bf16.c). */
float fp8f_cpu_bf16_row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n);
float fp8f_cpu_bf16_row_norm_eo(const void *h, const void *w, float inv_rms, float *y, int64_t n);
void fp8f_cpu_bf16_row_encode_eo(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                                 int stream);
/* kernels_bf16_quant.c */
float fp8f_cpu_bf16_row_amax(const uint16_t *x, int64_t n);
int fp8f_cpu_bf16_codes_prepare(float scale, fp8f_dtype fp8, struct cpu_bf16_codes *t);
void fp8f_cpu_bf16_row_encode_table(const uint16_t *x, int64_t n, const struct cpu_bf16_codes *t,
                                    uint8_t *q, int stream);
size_t fp8f_cpu_bf16_panel_bytes(int64_t k);
void fp8f_cpu_bf16_pack_panel(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst);
size_t fp8f_cpu_bf16_a_row_bytes(int64_t k);
void fp8f_cpu_bf16_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                          void *dst);
void fp8f_cpu_bf16_prep_a_stride(const uint8_t *codes, int64_t lda, int64_t m, int64_t k,
                                 fp8f_dtype fp8, void *dst, size_t row_bytes);
size_t fp8f_cpu_bf16_scratch_bytes(int64_t k);
void fp8f_cpu_bf16_gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                              int64_t p1, void *scratch);

/* The codes a blocked pass converts next, fetched into L2 while the rows
 * multiply the current block so that converting them does not wait on
 * memory: one 64-byte line per k pair and panel, `lines` per panel, from
 * `codes` (panels pb bytes apart); NULL: nothing follows. */
struct next_codes {
    const uint8_t *codes;
    int64_t lines;
    int np;
};

/* After k pairs [q0, q0 + kcp) of np panels from p: the next k pairs of the
 * same panels, else the first block of the panels after them (below p1). */
static inline struct next_codes next_codes(const struct cpu_gemm_args *g, int64_t p, int np,
                                           int64_t p1, int64_t q0, int64_t kcp) {
    const size_t pb = fp8f_cpu_bf16_panel_bytes(g->k);
    const int64_t kp = kpairs(g->k);
    struct next_codes nx = {NULL, 0, np};
    if (q0 + kcp < kp) {
        nx.codes = g->w + (size_t)p * pb + (size_t)(q0 + kcp) * 64;
        nx.lines = kp - q0 - kcp < kcp ? kp - q0 - kcp : kcp;
    } else if (p + np < p1) {
        nx.codes = g->w + (size_t)(p + np) * pb;
        nx.lines = kp < kcp ? kp : kcp;
        nx.np = p1 - p - np < np ? (int)(p1 - p - np) : np;
    }
    return nx;
}

/* Lines [j0, j1) of each of np panels from codes. Always inlined: GCC
 * deems a function whose only effect is prefetching free of side effects
 * and drops the calls to it (GCC 12, -O2). */
AVX512_INLINE void prefetch_codes(const uint8_t *codes, int64_t lines, int np, size_t pb,
                                  int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1 && j < lines; j++)
        for (int h = 0; h < np; h++)
            _mm_prefetch((const char *)(codes + h * pb + j * 64), _MM_HINT_T1);
}

#endif
