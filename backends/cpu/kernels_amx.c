/*
 * AMX-BF16 GEMM kernel: the AVX-512 BF16 table (kernels_avx512bf16.c) with
 * the blocked GEMM on the tile unit. Compiled with -mamx-tile -mamx-bf16
 * on top of the AVX-512 BF16 flags; used only where cpuid reports
 * AMX-TILE and AMX-BF16, the OS saves the tile state and Linux granted
 * this process the tile data permission (cpu_isa.c).
 *
 * Everything but the blocked GEMM is the AVX-512 BF16 table's: the rows,
 * the weight panels, the activation's bf16 pairs (rows one line longer)
 * and the decode of up to DECODE_MAX_ROWS rows (the weight streamed once
 * through vdpbf16ps). Above that the tiles win: a tile step's time does
 * not grow with its rows, while Intel cores issue one vdpbf16ps a cycle.
 * On a 2-thread Xeon, N = 6144, K = 5120, four alternations, tiles /
 * decode: M = 2 2.57-2.88 / 1.33-2.40 ms, M = 3 2.76-3.02 / 1.70-3.28 ms
 * (1.4-1.6x in three of them), M = 4 2.48-2.85 / 2.24-3.94 ms (slower in
 * three); M = 8 2.37-2.90 / 4.00-5.35 ms in an earlier run. Larger M:
 * per group of PANEL_GROUP panels (32 channels each), blocks of up to 256
 * k pairs of each panel are converted into a 32 KB bf16 buffer, whose
 * rows are the B tiles' rows as they are (one k pair, 16 channels as bf16
 * pairs); then for every 32 rows and each panel of the group, 16 k pairs
 * at a time, two A tiles (16 rows x 16 k pairs of the activation) times
 * two B tiles (16 k pairs x 16 channels) accumulate into four f32 C tiles
 * with tdpbf16ps. Partial sums between blocks, and the rows for the
 * epilogue, go through per-thread f32 buffers (32 floats a row and
 * panel).
 *
 * Numerics: every product of two fp8 values is exact in f32, and tdpbf16ps
 * adds them in f32 (round to nearest even); the order differs from the
 * vdpbf16ps kernels (even element of a pair first, 16 pairs per step), so
 * outputs agree with theirs within f32 accumulation-order error, as every
 * GEMM kernel does with the generic one (test_cpu_isa).
 */
#include <string.h>

#include "kernels_bf16.h"

#define KCPA 256      /* k pairs per converted block: 256 * 128 bytes = 32 KB */
#define TILE_PAIRS 16 /* k pairs per tile step: 64-byte tile rows */
#define TILE_ROWS 16

/* Activation rows one cache line longer than the bf16 table's: a tile load
 * reads the same 64 bytes of 16 rows, and rows a multiple of 1 KiB apart
 * (K = 5120: 10 KiB) would put those 16 lines into two L1 sets. */
static size_t amx_a_row_bytes(int64_t k) { return cpu_bf16_a_row_bytes(k) + 64; }

static void amx_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                       void *dst) {
    cpu_bf16_prep_a_stride(codes, lda, m, k, fp8, dst, amx_a_row_bytes(k));
}

/* Palette 1: per tile, rows and bytes per row. */
struct tile_config {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64)));

/* C(g, z) (rows 16g.. of the block, channels 16z..) in tile 2g + z, the A
 * tile of row group g in 4 + g, the B tile of channels 16z.. in 6 + z.
 * rows1 = 0: one row group, tiles 2, 3 and 5 unused. */
static void configure_tiles(int rows0, int rows1) {
    struct tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int g = 0; g < 2; g++) {
        const int r = g ? rows1 : rows0;
        if (!r)
            continue;
        for (int z = 0; z < 2; z++) {
            cfg.rows[2 * g + z] = (uint8_t)r;
            cfg.colsb[2 * g + z] = 64;
        }
        cfg.rows[4 + g] = (uint8_t)r;
        cfg.colsb[4 + g] = 64;
    }
    for (int z = 0; z < 2; z++) {
        cfg.rows[6 + z] = TILE_PAIRS;
        cfg.colsb[6 + z] = 64;
    }
    /* not _tile_loadconfig: its asm names only the first 8 bytes as read,
     * so the compiler may drop the stores to the rest */
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

/* k pairs [q0, q0 + nq) of one panel into wb: row pp holds the two
 * registers of k pair q0 + pp (channels 0-15, then 16-31); rows up to the
 * next whole tile step are zeros. */
static void convert_block(const struct tabs *t, const uint8_t *wp, int64_t q0, int64_t nq,
                          __m512i *wb) {
    const int64_t steps = (nq + TILE_PAIRS - 1) / TILE_PAIRS * TILE_PAIRS;
    for (int64_t pp = 0; pp < nq; pp++) {
        __m512i w0, w1;
        cvt64(t, wp + (q0 + pp) * 64, &w0, &w1);
        _mm512_store_si512(wb + 2 * pp, w0);
        _mm512_store_si512(wb + 2 * pp + 1, w1);
    }
    for (int64_t pp = nq; pp < steps; pp++) {
        _mm512_store_si512(wb + 2 * pp, _mm512_setzero_si512());
        _mm512_store_si512(wb + 2 * pp + 1, _mm512_setzero_si512());
    }
    /* the tile loads' asm does not say it reads memory: keep these stores
     * before them */
    __asm__ volatile("" ::: "memory");
}

/* Rows [i, i + rows0 + rows1) times the converted block (nq k pairs from
 * q0) into the partial sums cb (32 floats a row), starting from zero on
 * the first block. */
static void multiply_rows(const struct cpu_gemm_args *g, int64_t i, int rows1, int64_t q0,
                          int64_t nq, const __m512i *wb, float *cb, int first) {
    const size_t astr = g->a_stride;
    const char *a = (const char *)g->a + (size_t)i * astr + (size_t)q0 * 4;
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        if (rows1) {
            _tile_zero(2);
            _tile_zero(3);
        }
    } else {
        _tile_loadd(0, cb, 128);
        _tile_loadd(1, cb + 16, 128);
        if (rows1) {
            _tile_loadd(2, cb + 16 * 32, 128);
            _tile_loadd(3, cb + 16 * 32 + 16, 128);
        }
    }
    for (int64_t s = 0; s < nq; s += TILE_PAIRS) {
        /* the next step's activation lines into L1 while this one multiplies
         * (tile loads are not followed by the hardware prefetchers) */
        if (s + TILE_PAIRS < nq)
            for (int r = 0; r < (rows1 ? 2 * TILE_ROWS : TILE_ROWS); r++)
                _mm_prefetch(a + (size_t)r * astr + (s + TILE_PAIRS) * 4, _MM_HINT_T0);
        _tile_loadd(4, a + s * 4, astr);
        _tile_loadd(6, wb + 2 * s, 128);
        _tile_loadd(7, wb + 2 * s + 1, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (rows1) {
            _tile_loadd(5, a + TILE_ROWS * astr + s * 4, astr);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, cb, 128);
    _tile_stored(1, cb + 16, 128);
    if (rows1) {
        _tile_stored(2, cb + 16 * 32, 128);
        _tile_stored(3, cb + 16 * 32 + 16, 128);
    }
}

/* Panels converted together: the rows of a block are multiplied by all
 * of them before the next, so that each 32-row slice of the activation is
 * read from L3 once per group instead of once per panel (a tile step reads
 * 1 KB of A per two tdpbf16ps; the whole block's A, 5 MB at K = 5120, does
 * not fit in L2). Measured on a 2-thread Xeon (N = 6144, K = 5120, three
 * alternations): M = 512 45.8-52.3 ms with one panel, 38.7-47.2 with 4,
 * 43.2-50.2 with 8; M = 128 12.7-15.5 / 11.6-13.2 / 11.4-14.4 ms. */
#define PANEL_GROUP 4

/* Rows [m0, m1) against panels [p0, p1), M > 1. */
static void blocked_amx(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                        int64_t p1, void *scratch) {
    const struct tabs t = make_tabs(g->fp8);
    const size_t pb = cpu_bf16_panel_bytes(g->k);
    const int64_t kp = kpairs(g->k);
    const size_t cpanel = (size_t)CPU_GEMM_MC * 32; /* floats of one panel's partial sums */
    __m512i *wb = (__m512i *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *cbuf = (float *)(wb + PANEL_GROUP * 2 * KCPA);
    int cur0 = -1, cur1 = -1; /* the tile shape loaded */
    for (int64_t p = p0; p < p1; p += PANEL_GROUP) {
        const int np = p1 - p < PANEL_GROUP ? (int)(p1 - p) : PANEL_GROUP;
        for (int64_t q0 = 0; q0 < kp; q0 += KCPA) {
            const int64_t nq = kp - q0 < KCPA ? kp - q0 : KCPA;
            for (int h = 0; h < np; h++)
                convert_block(&t, g->w + (size_t)(p + h) * pb, q0, nq,
                              wb + (size_t)h * 2 * KCPA);
            const int first = q0 == 0, last = q0 + nq >= kp;
            for (int64_t i = m0; i < m1; i += 2 * TILE_ROWS) {
                const int rows = m1 - i < 2 * TILE_ROWS ? (int)(m1 - i) : 2 * TILE_ROWS;
                const int rows0 = rows < TILE_ROWS ? rows : TILE_ROWS, rows1 = rows - rows0;
                if (rows0 != cur0 || rows1 != cur1) {
                    configure_tiles(rows0, rows1);
                    cur0 = rows0;
                    cur1 = rows1;
                }
                for (int h = 0; h < np; h++) {
                    float *cb = cbuf + (size_t)h * cpanel + (size_t)(i - m0) * 32;
                    multiply_rows(g, i, rows1, q0, nq, wb + (size_t)h * 2 * KCPA, cb, first);
                    if (last)
                        for (int r = 0; r < rows; r++)
                            for (int z = 0; z < 2; z++)
                                epilogue16(g, i + r, (p + h) * BF16_NR + 16 * z,
                                           _mm512_load_ps(cb + (size_t)r * 32 + 16 * z), 1.0f);
                }
            }
        }
    }
    _tile_release();
}

static size_t amx_scratch_bytes(int64_t k) {
    const size_t per_panel = (size_t)KCPA * 128 + (size_t)CPU_GEMM_MC * 32 * 4;
    const size_t own = PANEL_GROUP * per_panel + 64;
    const size_t decode = cpu_bf16_scratch_bytes(k);
    return own > decode ? own : decode;
}

#define DECODE_MAX_ROWS 3

static void amx_gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                           int64_t p1, void *scratch) {
    if (m1 - m0 <= DECODE_MAX_ROWS)
        cpu_bf16_gemm_block(g, m0, m1, p0, p1, scratch);
    else
        blocked_amx(g, m0, m1, p0, p1, scratch);
}

const struct cpu_kernels cpu_kernels_amx = {
    BF16_TABLE_ROWS_AND_PANELS,
    .gemm_name = "amx-bf16 tdpbf16ps (32 rows x 32 channels a tile step; fp8->bf16 by vpermi2b "
                 "into 32 KB blocks; M<=3 as avx512bf16)",
    .a_row_bytes = amx_a_row_bytes,
    .prep_a = amx_prep_a,
    .scratch_bytes = amx_scratch_bytes,
    .gemm_block = amx_gemm_block,
};
