/*
 * AVX-512 BF16 kernels: the AVX-512 norm/quant rows and a bf16 GEMM with
 * vdpbf16ps (f32 accumulation). Compiled with -mavx512bf16 -mavx512vbmi on
 * top of the AVX-512 flags. The panel layout and the fp8 -> bf16
 * conversion are in kernels_bf16.h (the AMX table shares them).
 *
 * Decode (M <= 32, or 192 on Zen 4: decode_rows): the weight streams from
 * memory once, converted in registers, for groups of up to 8 rows. Larger
 * M: per pair of panels, blocks of k pairs are converted into a bf16
 * buffer (32 KB in L1, or 128 KB in L2 where the L1d is small:
 * block_kpairs) and reused by every 6-row x 64-channel micro-kernel (one
 * panel left over: 8 rows x 32 channels), while the next block's codes
 * are prefetched into L2; partial sums between blocks live in a
 * per-thread f32 buffer.
 */
#include "kernels_bf16.h"

#define NR BF16_NR
#define MR 8
/* k pairs per converted block of one panel (a pair of panels takes half
 * as many): 256, 32 KB, where it stays in L1 beside the activation's lines
 * and the partial sums (an L1d of 48 KB or more: on the Zen 5, 16, 24 and
 * 40 KB blocks were no faster or 3-4 % slower); else 1024, 128 KB from
 * L2, which it is read from anyway there, with a quarter of the partial
 * sums' trips through memory. Zen 4 (32 KB L1d), 2 threads, the kernel
 * alone on each thread's half of 6144 x 5120, best of 3 in five rounds,
 * share of the vdpbf16ps peak, 32 KB -> 128 KB blocks: M = 48 0.82 ->
 * 0.85, M = 64 0.83-0.84 -> 0.84-0.88, M = 128 0.90 -> 0.92, M = 256
 * 0.94 -> 0.95, M = 512 0.94-0.95 -> 0.96 (K = 12288 alike; 256 KB blocks
 * the same as 128 KB at M >= 128, slower below). fp8fuse-bench, four
 * alternations, paired with oneDNN: M = 64 0.93-0.95x -> 0.95-0.97x, M =
 * 128 0.94-0.96x -> 0.96x, M = 512 0.92-0.97x -> 0.98-1.00x; M = 33, the
 * fewest rows that took this path, 5.55-5.68 -> 5.76-5.78 ms. (Measured
 * before decode_rows gave the Zen 4 the decode kernel up to 192 rows:
 * there the blocks serve M >= 193.) */
static int64_t block_kpairs(void) {
    const size_t l1d = fp8f_cpu_isa_l1d_bytes();
    return l1d == 0 || l1d >= 48 * 1024 ? 256 : 1024;
}

/* Two panels side by side: 6 rows x 64 channels (24 accumulators, 4 weight
 * loads and 6 broadcasts per 24 vdpbf16ps), k pairs per converted block
 * halved to keep its size. */
#define MR2 6

/* ---- norm rows ---- */

/* The even and odd sums rounded to 32 bf16 in element order, as
 * fp8f_f32_to_bf16 rounds. vcvtne2ps2bf16 does it in one instruction (to
 * nearest even; a NaN keeps its sign and top bits with the quiet bit set,
 * as fp8f_f32_to_bf16) but flushes f32 denormals to zero, so a block with
 * one is rounded in integer arithmetic instead. vcvtne2ps2bf16 returns the
 * evens then the odds; one word permute interleaves them. */
static inline __m512i round_to_bf16x32(__m512 even, __m512 odd) {
    const __m512i interleave =
        _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                         6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    if (__builtin_expect(!_kortestz_mask16_u8(_mm512_fpclass_ps_mask(even, 0x20),
                                              _mm512_fpclass_ps_mask(odd, 0x20)),
                         0))
        return bf16_interleave_high(bf16_round_high(even), bf16_round_high(odd));
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

/* The residual add of the common case (bf16 x and residual) 32 elements at
 * a time, read even/odd, the sum of squares in the same lanes and order as
 * every other table (squares_even_odd); anything else goes to the AVX-512
 * row. 385 -> 268 ns a 5120-element row on Zen 5, in L1, against widening
 * 16 at a time in order; the same bits. With 32 canonical lanes (two
 * chains of adds, no shuffle) 300-322 -> 237-265 ns. */
float fp8f_cpu_bf16_row_add_ss(const void *x, fp8f_dtype xt, void *r, fp8f_dtype rt, int64_t n) {
    if (!r || xt != FP8F_BF16 || rt != FP8F_BF16)
        return fp8f_cpu_avx512_row_add_ss(x, xt, r, rt, n);
    const uint16_t *xs = (const uint16_t *)x;
    uint16_t *rs = (uint16_t *)r;
    __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        const __m512i xv = _mm512_loadu_si512(xs + c), rv = _mm512_loadu_si512(rs + c);
        const __m512i hb = round_to_bf16x32(_mm512_add_ps(bf16_even(xv), bf16_even(rv)),
                                            _mm512_add_ps(bf16_odd(xv), bf16_odd(rv)));
        _mm512_storeu_si512(rs + c, hb);
        squares_even_odd(&even, &odd, bf16_even(hb), bf16_odd(hb));
    }
    struct squares sq = squares_from_even_odd(even, odd);
    for (; c < n; c += 16) {
        const __mmask16 m = tail_mask16(n - c);
        const __m512 h = round16(FP8F_BF16, _mm512_add_ps(load16(FP8F_BF16, xs, c, m),
                                                          load16(FP8F_BF16, rs, c, m)));
        store16(FP8F_BF16, rs, c, h, m);
        squares16(&sq, c, h);
    }
    return fold_squares(sq);
}

/* y = (h * inv_rms) * w for bf16 h and w, in even/odd order (cpu_isa.h):
 * 32 elements of each read as one register, the even ones shifted up and
 * the odd ones masked (bf16_even/odd), rather than widened 16 at a time.
 * The same products as fp8f_cpu_avx512_row_norm, so the same amax; the encode
 * (fp8f_cpu_bf16_row_encode_eo) interleaves the codes back with its permute
 * (a vpermb where the in-order encode has a vpermd: the same time). Zen 5,
 * a 5120-element row in L1: 191-195 -> 150-165 ns. */
float fp8f_cpu_bf16_row_norm_eo(const void *h, const void *w, float inv_rms, float *y, int64_t n) {
    const uint16_t *hs = (const uint16_t *)h, *ws = (const uint16_t *)w;
    const __m512 inv = _mm512_set1_ps(inv_rms);
    __m512 amax = _mm512_setzero_ps();
    int64_t c = 0;
    /* whole 64-element blocks only, as the encode reads them */
    for (int64_t end = n & ~(int64_t)63; c < end; c += 32) {
        const __m512i hv = _mm512_loadu_si512(hs + c), wv = _mm512_loadu_si512(ws + c);
        const __m512 ye = _mm512_mul_ps(_mm512_mul_ps(bf16_even(hv), inv), bf16_even(wv));
        const __m512 yo = _mm512_mul_ps(_mm512_mul_ps(bf16_odd(hv), inv), bf16_odd(wv));
        _mm512_storeu_ps(y + c, ye);
        _mm512_storeu_ps(y + c + 16, yo);
        amax = max_abs_of_product(max_abs_of_product(amax, ye), yo);
    }
    float m = _mm512_reduce_max_ps(amax);
    if (c < n) { /* the tail, in order */
        const float t = fp8f_cpu_avx512_row_norm(hs + c, FP8F_BF16, ws + c, FP8F_BF16, inv_rms,
                                                 y + c, n - c);
        m = t > m ? t : m;
    }
    return m;
}

void fp8f_cpu_bf16_row_encode_eo(const float *y, int64_t n, float scale, fp8f_dtype fp8, uint8_t *q,
                                 int stream) {
    encode_row_reciprocal(y, n, scale, fp8 == FP8F_E4M3FNUZ, q, stream, CODES_EVEN_ODD);
}

/* ---- GEMM ---- */

size_t fp8f_cpu_bf16_panel_bytes(int64_t k) { return (size_t)kpairs(k) * 64; }

void fp8f_cpu_bf16_pack_panel(const uint8_t *q, int64_t n, int64_t k, int64_t n0, uint8_t *dst) {
    const int64_t kp = kpairs(k);
    for (int64_t pp = 0; pp < kp; pp++)
        for (int z = 0; z < 2; z++)
            for (int l = 0; l < 16; l++)
                for (int t = 0; t < 2; t++) {
                    const int w = 2 * l + t, pos = 16 * (w >> 3) + 8 * z + (w & 7);
                    const int64_t row = n0 + 16 * z + l, col = 2 * pp + t;
                    dst[pp * 64 + pos] =
                        row < n && col < k ? q[(size_t)row * (size_t)k + (size_t)col] : 0;
                }
}

size_t fp8f_cpu_bf16_a_row_bytes(int64_t k) { return ((size_t)kpairs(k) * 4 + 63) & ~(size_t)63; }

/* 64 codes -> 64 bf16 in order at dst: cvt64's two registers hold eight
 * codes per 128-bit lane (16l..16l+7 in w0, 16l+8..16l+15 in w1), put back
 * in sequence. */
AVX512_INLINE void cvt64_in_order(const struct tabs *t, const uint8_t *p, uint16_t *dst) {
    __m512i w0, w1;
    cvt64(t, p, &w0, &w1);
    const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    _mm512_storeu_si512(dst, _mm512_permutex2var_epi64(w0, first, w1));
    _mm512_storeu_si512(dst + 32, _mm512_permutex2var_epi64(w0, second, w1));
}

/* Whether one of the 64 codes at p is a NaN, which cvt64 does not decode as
 * the codec does (it ORs the sign into the magnitude's bf16: FNUZ's 0x80
 * would come out as -0). */
AVX512_INLINE int has_nan64(const uint8_t *p, fp8f_dtype fp8) {
    const __m512i c = _mm512_loadu_si512(p);
    if (fp8 == FP8F_E4M3FNUZ)
        return _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8((char)0x80)) != 0;
    const __m512i magnitude = _mm512_and_si512(c, _mm512_set1_epi8(0x7f));
    return _mm512_cmpeq_epi8_mask(magnitude, _mm512_set1_epi8(0x7f)) != 0;
}

/* Rows of bf16 pairs, row_bytes apart, zero past K up to the row's end
 * (an AMX tile reads whole 64-byte rows: what it multiplies by the zero
 * weight rows past K must be finite). 64 codes at a time by the weights'
 * in-register lookup; a block holding a NaN code, and the row's tail, by
 * the codec's table. */
void fp8f_cpu_bf16_prep_a_stride(const uint8_t *codes, int64_t lda, int64_t m, int64_t k,
                                 fp8f_dtype fp8, void *dst, size_t row_bytes) {
    uint16_t table[256];
    const float *value = fp8f_cpu_fp8_values(fp8);
    for (int c = 0; c < 256; c++)
        table[c] = (uint16_t)(fp8f_f32_bits(value[c]) >> 16);
    const struct tabs t = make_tabs(fp8);
    const size_t stride = row_bytes / 2;
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *src = codes + (size_t)i * (size_t)lda;
        uint16_t *d = (uint16_t *)dst + (size_t)i * stride;
        int64_t c = 0;
        for (; c + 64 <= k; c += 64) {
            if (!has_nan64(src + c, fp8)) {
                cvt64_in_order(&t, src + c, d + c);
                continue;
            }
            for (int64_t j = c; j < c + 64; j++)
                d[j] = table[src[j]];
        }
        for (; c < k; c++)
            d[c] = table[src[c]];
        for (size_t z = (size_t)k; z < stride; z++)
            d[z] = 0;
    }
}

void fp8f_cpu_bf16_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                          void *dst) {
    fp8f_cpu_bf16_prep_a_stride(codes, lda, m, k, fp8, dst, fp8f_cpu_bf16_a_row_bytes(k));
}

size_t fp8f_cpu_bf16_scratch_bytes(int64_t k) {
    (void)k;
    return (size_t)block_kpairs() * 128 + (size_t)CPU_GEMM_MC * 2 * NR * 4 + 64;
}

#define DP(acc, a, w) (acc) = _mm512_dpbf16_ps((acc), (__m512bh)(a), (__m512bh)(w))

/* Blocks of up to this many rows take the decode kernel, in groups of up
 * to MR rows per panel: the first group streams the panel from memory, the
 * others find it in L2 (160 KB at K = 5120). Converting it once per group
 * still beats the blocked path's conversion into memory and its partial
 * sums there up to about 32 rows on a core that issues two 512-bit
 * vdpbf16ps a cycle: EPYC Zen 5, 2 threads, 6144 x 5120, cycles per k
 * pair and panel at M = 9 / 16 / 24 / 32 / 64, blocked 18 / 26 / 34-35 /
 * 41-44 / 76-80, decode groups 13 / 18-19 / 27-30 / 36-37 / 74-87 (and at
 * K = 12288 alike). Where 512-bit operations run as two 256-bit halves
 * (Zen 4: one vdpbf16ps a cycle), a group's conversion hides behind its
 * dot products up to 192 rows: the kernel alone, 2 threads, each its half
 * of 6144 x 5120, share of the vdpbf16ps peak, blocked (128 KB blocks) ->
 * decode: M = 48 0.82-0.84 -> 0.93-0.94, M = 64 0.86-0.88 -> 0.95, M =
 * 128 0.91-0.92 -> 0.95, M = 192 0.94 -> 0.95; M = 256 the same (0.95),
 * M = 512 at K = 12288 0.95 -> 0.93-0.94. */
static int64_t decode_rows(void) { return fp8f_cpu_isa_splits_512() ? 192 : 4 * MR; }

/* Decode: rows [m0, m0 + mr), one panel, the weight streamed from memory.
 * Up to 5 rows, two accumulator sets (U) hide the vdpbf16ps latency; from 6
 * rows one set has enough chains, and two would not fit the 32 registers
 * (at 8 rows GCC spilled half the accumulators and the tables). */
AVX512_INLINE void decode_panel(const struct cpu_gemm_args *g, const struct tabs *t,
                                int64_t m0, int mr, const uint8_t *wp, int64_t n0) {
    enum { UMAX = 2 };
    const int U = mr <= 5 ? 2 : 1; /* a constant where mr is one */
    __m512 acc[UMAX][MR][2];
    const uint32_t *a[MR];
    const size_t astr = g->a_stride / 4;
    _Pragma("GCC unroll 16")
    for (int i = 0; i < MR; i++) {
        _Pragma("GCC unroll 16")
        for (int u = 0; u < UMAX; u++)
            acc[u][i][0] = acc[u][i][1] = _mm512_setzero_ps();
        a[i] = (const uint32_t *)g->a + (size_t)(m0 + (i < mr ? i : 0)) * astr;
    }
    const int64_t kp = kpairs(g->k);
    int64_t pp = 0;
    for (; pp + U <= kp; pp += U) {
        _Pragma("GCC unroll 16")
        for (int u = 0; u < U; u++) {
            __m512i w0, w1;
            cpu_prefetch_ahead(wp + (pp + u) * 64);
            cvt64(t, wp + (pp + u) * 64, &w0, &w1);
            _Pragma("GCC unroll 16")
            for (int i = 0; i < MR; i++)
                if (i < mr) {
                    const __m512i av = _mm512_set1_epi32((int)a[i][pp + u]);
                    DP(acc[u][i][0], av, w0);
                    DP(acc[u][i][1], av, w1);
                }
        }
    }
    for (; pp < kp; pp++) {
        __m512i w0, w1;
        cvt64(t, wp + pp * 64, &w0, &w1);
        _Pragma("GCC unroll 16")
        for (int i = 0; i < MR; i++)
            if (i < mr) {
                const __m512i av = _mm512_set1_epi32((int)a[i][pp]);
                DP(acc[0][i][0], av, w0);
                DP(acc[0][i][1], av, w1);
            }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < mr; i++) {
        __m512 s0 = acc[0][i][0], s1 = acc[0][i][1];
        _Pragma("GCC unroll 16")
        for (int u = 1; u < U; u++) {
            s0 = _mm512_add_ps(s0, acc[u][i][0]);
            s1 = _mm512_add_ps(s1, acc[u][i][1]);
        }
        epilogue16(g, m0 + i, n0, s0, 1.0f);
        epilogue16(g, m0 + i, n0 + 16, s1, 1.0f);
    }
}

/* Blocked: rows [m0, m0 + mr) x np panels (32 channels each) over k pairs
 * [q0, q0 + nq) of a converted bf16 block holding, per k pair, the two
 * registers of each panel in turn; partial sums in cb (mr x 32 np floats).
 * One panel takes up to MR rows (16 accumulators), two up to MR2 (24, with
 * 4 weight loads and 6 broadcasts per 24 vdpbf16ps). Each output sees the
 * same vdpbf16ps in the same order either way: the same bits. */
AVX512_INLINE void block_micro(const struct cpu_gemm_args *g, int64_t m0, int mr, int np,
                               const __m512i *wb, int64_t q0, int64_t nq, float *cb, int first,
                               int last, int64_t n0) {
    const int nz = 2 * np, ldc = np * NR; /* registers per row, floats per cb row */
    __m512 acc[MR][4];
    const uint32_t *a[MR];
    const size_t astr = g->a_stride / 4;
    _Pragma("GCC unroll 16")
    for (int i = 0; i < MR; i++) {
        a[i] = (const uint32_t *)g->a + (size_t)(m0 + (i < mr ? i : 0)) * astr + q0;
        _Pragma("GCC unroll 4")
        for (int z = 0; z < 4; z++) /* rows >= mr and z >= nz stay unused */
            acc[i][z] = i < mr && z < nz && !first ? _mm512_load_ps(cb + i * ldc + 16 * z)
                                                   : _mm512_setzero_ps();
    }
    for (int64_t pp = 0; pp < nq; pp++) {
        __m512i w[4];
        _Pragma("GCC unroll 4")
        for (int z = 0; z < nz; z++)
            w[z] = _mm512_load_si512(wb + nz * pp + z);
        _Pragma("GCC unroll 16")
        for (int i = 0; i < MR; i++)
            if (i < mr) {
                const __m512i av = _mm512_set1_epi32((int)a[i][pp]);
                _Pragma("GCC unroll 4")
                for (int z = 0; z < nz; z++)
                    DP(acc[i][z], av, w[z]);
            }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4")
        for (int z = 0; z < nz; z++) {
            if (last)
                epilogue16(g, m0 + i, n0 + 16 * z, acc[i][z], 1.0f);
            else
                _mm512_store_ps(cb + i * ldc + 16 * z, acc[i][z]);
        }
}

/* A micro-kernel call with its row count r (1..MR or 1..MR2) as a constant,
 * so that each count gets its own unrolled copy. */
#define CASES_1_TO_5(CALL)                                                                     \
    case 1: CALL(1); break;                                                                    \
    case 2: CALL(2); break;                                                                    \
    case 3: CALL(3); break;                                                                    \
    case 4: CALL(4); break;                                                                    \
    case 5: CALL(5); break;
#define CASES(CALL)                                                                            \
    switch (r) {                                                                               \
        CASES_1_TO_5(CALL)                                                                     \
    case 6: CALL(6); break;                                                                    \
    case 7: CALL(7); break;                                                                    \
    default: CALL(8); break;                                                                   \
    }
#define CASES6(CALL)                                                                           \
    switch (r) {                                                                               \
        CASES_1_TO_5(CALL)                                                                     \
    default: CALL(6); break;                                                                   \
    }

/* Rows [m0, m1) against np panels from p (1 or 2, a constant where this is
 * inlined): per block of k pairs (block / np of them: block_kpairs), the
 * panels' codes converted into wb (per k pair the two registers of each
 * panel in turn, block * 128 bytes in all), then every block of rows
 * multiplied by it, each row block also prefetching a slice of the next
 * codes. */
AVX512_INLINE void blocked_panels(const struct cpu_gemm_args *g, const struct tabs *t,
                                  int64_t m0, int64_t m1, int64_t p, int np, int64_t p1,
                                  int64_t block, __m512i *wb, float *cbuf) {
    const size_t pb = fp8f_cpu_bf16_panel_bytes(g->k);
    const int64_t kp = kpairs(g->k), kcp = block / np;
    const int rows = np == 1 ? MR : MR2;
    const int64_t row_blocks = (m1 - m0 + rows - 1) / rows;
    const uint8_t *wp = g->w + (size_t)p * pb;
    for (int64_t q0 = 0; q0 < kp; q0 += kcp) {
        const int64_t nq = kp - q0 < kcp ? kp - q0 : kcp;
        for (int64_t pp = 0; pp < nq; pp++)
            for (int h = 0; h < np; h++) {
                __m512i w0, w1;
                cvt64(t, wp + h * pb + (q0 + pp) * 64, &w0, &w1);
                _mm512_store_si512(wb + 2 * np * pp + 2 * h, w0);
                _mm512_store_si512(wb + 2 * np * pp + 2 * h + 1, w1);
            }
        const int first = q0 == 0, last = q0 + nq >= kp;
        const struct next_codes nx = next_codes(g, p, np, p1, q0, kcp);
        const int64_t slice = (nx.lines + row_blocks - 1) / row_blocks;
        /* row blocks of equal size (+-1): at M = 128, 18 x 6 + 4 x 5 rows
         * rather than 21 x 6 + 2, whose 8 accumulators wait on latency */
        for (int64_t b = 0, j = 0; b < row_blocks; b++, j += slice) {
            const int64_t i = m0 + (m1 - m0) * b / row_blocks;
            const int r = (int)(m0 + (m1 - m0) * (b + 1) / row_blocks - i);
            float *cb = cbuf + (size_t)(i - m0) * (size_t)np * NR;
            if (nx.codes)
                prefetch_codes(nx.codes, nx.lines, nx.np, pb, j, j + slice);
#define BLK(R) block_micro(g, i, R, np, wb, q0, nq, cb, first, last, p * NR)
            if (np == 1) {
                CASES(BLK)
            } else {
                CASES6(BLK)
            }
#undef BLK
        }
    }
}

void fp8f_cpu_bf16_gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                              int64_t p1, void *scratch) {
    const struct tabs t = make_tabs(g->fp8);
    if (m1 - m0 <= decode_rows()) {
        const size_t pb = fp8f_cpu_bf16_panel_bytes(g->k);
        const int64_t rows = m1 - m0, groups = (rows + MR - 1) / MR;
        for (int64_t p = p0; p < p1; p++) {
            const uint8_t *wp = g->w + (size_t)p * pb;
            for (int64_t b = 0; b < groups; b++) {
                const int64_t i = m0 + rows * b / groups;
                const int r = (int)(m0 + rows * (b + 1) / groups - i);
#define DEC(R) decode_panel(g, &t, i, R, wp, p * NR)
                CASES(DEC)
#undef DEC
            }
        }
        return;
    }
    const int64_t block = block_kpairs();
    __m512i *wb = (__m512i *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *cbuf = (float *)(wb + 2 * block);
    int64_t p = p0;
    for (; p + 2 <= p1; p += 2) /* panels in pairs */
        blocked_panels(g, &t, m0, m1, p, 2, p1, block, wb, cbuf);
    if (p < p1) /* an odd panel left */
        blocked_panels(g, &t, m0, m1, p, 1, p1, block, wb, cbuf);
}

const struct cpu_kernels fp8f_cpu_kernels_avx512bf16 = {
    BF16_TABLE_ROWS_AND_PANELS,
    .split_panels = 2, /* the blocked path takes panels in pairs */
    .gemm_name = "avx512bf16 vdpbf16ps (fp8->bf16 by vpermi2b in registers, 32-channel panels; "
                 "decode M<=32, M<=192 on Zen 4, streams the weight once)",
    .a_row_bytes = fp8f_cpu_bf16_a_row_bytes,
    .prep_a = fp8f_cpu_bf16_prep_a,
    .scratch_bytes = fp8f_cpu_bf16_scratch_bytes,
    .gemm_block = fp8f_cpu_bf16_gemm_block,
};
