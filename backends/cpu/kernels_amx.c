/*
 * AMX-BF16 GEMM kernel: the AVX-512 BF16 table (kernels_avx512bf16.c) with
 * the GEMM on the tile unit. Compiled with -mamx-tile -mamx-bf16
 * on top of the AVX-512 BF16 flags; used only where cpuid reports
 * AMX-TILE and AMX-BF16, the OS saves the tile state and Linux granted
 * this process the tile data permission (cpu_isa.c).
 *
 * Everything but the GEMM of two rows and more is the AVX-512 BF16
 * table's: the rows, the weight panels, the activation's bf16 pairs (rows
 * one line longer) and the decode of one row (the weight streamed once
 * through vdpbf16ps, as fast as the memory). From two rows the tiles win:
 * a tile step's time does not grow with its rows, while Intel cores issue
 * one vdpbf16ps a cycle.
 *
 * Up to STREAM_MAX_ROWS rows the weight is streamed once (streamed_amx):
 * per panel (32 channels), group of up to 32 rows and step of 16 k
 * pairs, the step's 1 KB of codes is converted into a 2 KB slot of bf16
 * pairs that stays in L1 and multiplied at once: two A tiles (16 rows x
 * 16 k pairs of the activation) times two B tiles (16 k pairs x 16
 * channels) into four f32 C tiles, which hold the panel's sums over the
 * whole of K. The next step's conversion, and its reads from memory,
 * overlap this step's tile multiplies.
 *
 * Larger M (blocked_amx): per group of PANEL_GROUP panels, blocks of up to
 * 512 k pairs of each panel are converted into bf16 buffers (64 KB a
 * panel, 256 KB a group), whose
 * rows are the B tiles' rows as they are (one k pair, 16 channels as bf16
 * pairs); then every 32 rows are multiplied by each panel of the group, 16
 * k pairs a tile step, as above, while the tile steps prefetch the next
 * block's codes into L2. Partial sums between blocks, and the rows for the
 * epilogue, go through per-thread f32 buffers (32 floats a row and panel).
 *
 * Numerics: every product of two fp8 values is exact in f32, and tdpbf16ps
 * adds them in f32 (round to nearest even); the order differs from the
 * vdpbf16ps kernels (even element of a pair first, 16 pairs per step), so
 * outputs agree with theirs within f32 accumulation-order error, as every
 * GEMM kernel does with the generic one (test_cpu_isa).
 */
#include <string.h>

#include "kernels_bf16.h"

/* k pairs per converted block: 512 * 128 bytes = 64 KB a panel. Against
 * 256 (32 KB), the partial sums go through memory half as often; with the
 * codes prefetch below, on a 2-thread Xeon (N = 6144, K = 5120, four
 * rotated rounds, each call paired with oneDNN's), M = 96 / 128 / 256 / 512
 * took 9.27 / 12.27 / 21.0 / 40.7 ms before both changes and 8.01 / 10.67 /
 * 19.4 / 39.1 after, bit for bit the same outputs; the prefetch alone gave
 * about half of that, blocks of 1280 pairs were 3-8 % slower at M <= 128. */
#define KCPA 512
#define TILE_PAIRS 16 /* k pairs per tile step: 64-byte tile rows */
#define TILE_ROWS 16

/* Activation rows one cache line longer than the bf16 table's: a tile load
 * reads the same 64 bytes of 16 rows, and rows a multiple of 1 KiB apart
 * (K = 5120: 10 KiB) would put those 16 lines into two L1 sets. */
static size_t amx_a_row_bytes(int64_t k) { return fp8f_cpu_bf16_a_row_bytes(k) + 64; }

static void amx_prep_a(const uint8_t *codes, int64_t lda, int64_t m, int64_t k, fp8f_dtype fp8,
                       void *dst) {
    fp8f_cpu_bf16_prep_a_stride(codes, lda, m, k, fp8, dst, amx_a_row_bytes(k));
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
    /* the tile loads' asm does not say it reads memory: keep the stores
     * below after the earlier tile loads of wb ... */
    __asm__ volatile("" ::: "memory");
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
    /* ... and before the later ones */
    __asm__ volatile("" ::: "memory");
}

/* The C tiles of one or two row groups (rows1 = 0: one). */
#define AMX_INLINE static inline __attribute__((always_inline))
AMX_INLINE void zero_c_tiles(int rows1) {
    _tile_zero(0);
    _tile_zero(1);
    if (rows1) {
        _tile_zero(2);
        _tile_zero(3);
    }
}

/* ... into cb, 32 floats a row: row group 1 from row 16. */
AMX_INLINE void store_c_tiles(float *cb, int rows1) {
    _tile_stored(0, cb, 128);
    _tile_stored(1, cb + 16, 128);
    if (rows1) {
        _tile_stored(2, cb + 16 * 32, 128);
        _tile_stored(3, cb + 16 * 32 + 16, 128);
    }
}

/* The next up to 32 of left rows as two row groups (rows0, then rows1:
 * 0 if one group), the tiles configured for them unless *loaded (the
 * rows of the shape loaded; -1: none yet) says they already are. */
AMX_INLINE int next_rows(int64_t left, int *rows0, int *rows1, int *loaded) {
    const int rows = left < 2 * TILE_ROWS ? (int)left : 2 * TILE_ROWS;
    *rows0 = rows < TILE_ROWS ? rows : TILE_ROWS;
    *rows1 = rows - *rows0;
    if (rows != *loaded) {
        configure_tiles(*rows0, *rows1);
        *loaded = rows;
    }
    return rows;
}

/* One tile step: 16 k pairs of the activation rows at a (astr bytes
 * apart; the second row group 16 rows on) times the converted k pairs at
 * wb (each k pair two 64-byte registers, channels 0-15 then 16-31) into
 * the C tiles. */
AMX_INLINE void tile_step(const char *a, size_t astr, const __m512i *wb, int rows1) {
    _tile_loadd(4, a, astr);
    _tile_loadd(6, wb, 128);
    _tile_loadd(7, wb + 1, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (rows1) {
        _tile_loadd(5, a + TILE_ROWS * astr, astr);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

/* rows rows from row0 of the sums in cb (32 floats a row) through the
 * epilogue into the output's channels n0.. */
AMX_INLINE void epilogue_rows(const struct cpu_gemm_args *g, int64_t row0, int rows, int64_t n0,
                              const float *cb) {
    for (int r = 0; r < rows; r++)
        for (int z = 0; z < 2; z++)
            epilogue16(g, row0 + r, n0 + 16 * z, _mm512_load_ps(cb + (size_t)r * 32 + 16 * z),
                       1.0f);
}

/* Panels converted together: the rows of a block are multiplied by all
 * of them before the next, so that each 32-row slice of the activation is
 * read from L3 once per group instead of once per panel (a tile step reads
 * 1 KB of A per two tdpbf16ps; the whole block's A, 5 MB at K = 5120, does
 * not fit in L2). Measured on a 2-thread Xeon (N = 6144, K = 5120, three
 * alternations): M = 512 45.8-52.3 ms with one panel, 38.7-47.2 with 4,
 * 43.2-50.2 with 8; M = 128 12.7-15.5 / 11.6-13.2 / 11.4-14.4 ms. */
#define PANEL_GROUP 4

/* The codes converted after this block (next_codes), fetched into L2
 * evenly over this block's tile steps: the conversion otherwise waits on
 * memory for every block (on the Xeon, converting one thread's half of a
 * 6144 x 5120 weight took 1.0-1.5 ms of the 5-12 ms of a call at M = 128,
 * reading at 11-16 GB/s). */
struct codes_ahead {
    struct next_codes nx;
    size_t pb;
    int64_t step, steps;
};

AMX_INLINE void fetch_codes_ahead(struct codes_ahead *ca) {
    if (ca->nx.codes) {
        const int64_t j0 = ca->step * ca->nx.lines / ca->steps;
        const int64_t j1 = (ca->step + 1) * ca->nx.lines / ca->steps;
        prefetch_codes(ca->nx.codes, ca->nx.lines, ca->nx.np, ca->pb, j0, j1);
    }
    ca->step++;
}

/* Rows [i, i + rows0 + rows1) times the converted block (nq k pairs from
 * q0) into the partial sums cb (32 floats a row), starting from zero on
 * the first block. The next step's activation lines of the first
 * prefetch_rows rows are fetched into L1 while this step multiplies: the
 * group's first panel asks for all its rows, the others for none (they
 * find the lines in L1 or L2; prefetching them for every panel measured
 * no faster, backends/cpu/NOTES.md, 2026-12-05). */
static void multiply_rows(const struct cpu_gemm_args *g, int64_t i, int rows1, int64_t q0,
                          int64_t nq, const __m512i *wb, float *cb, int first, int prefetch_rows,
                          struct codes_ahead *ahead) {
    const size_t astr = g->a_stride;
    const char *a = (const char *)g->a + (size_t)i * astr + (size_t)q0 * 4;
    if (first) {
        zero_c_tiles(rows1);
    } else {
        _tile_loadd(0, cb, 128);
        _tile_loadd(1, cb + 16, 128);
        if (rows1) {
            _tile_loadd(2, cb + 16 * 32, 128);
            _tile_loadd(3, cb + 16 * 32 + 16, 128);
        }
    }
    for (int64_t s = 0; s < nq; s += TILE_PAIRS) {
        fetch_codes_ahead(ahead);
        /* the next step's activation lines into L1 while this one multiplies
         * (tile loads are not followed by the hardware prefetchers) */
        if (s + TILE_PAIRS < nq)
            for (int r = 0; r < prefetch_rows; r++)
                _mm_prefetch(a + (size_t)r * astr + (s + TILE_PAIRS) * 4, _MM_HINT_T0);
        tile_step(a + s * 4, astr, wb + 2 * s, rows1);
    }
    store_c_tiles(cb, rows1);
}

/* Rows [m0, m1) against panels [p0, p1), M > 1. */
static void blocked_amx(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                        int64_t p1, void *scratch) {
    const struct tabs t = make_tabs(g->fp8);
    const size_t pb = fp8f_cpu_bf16_panel_bytes(g->k);
    const int64_t kp = kpairs(g->k);
    const size_t cpanel = (size_t)CPU_GEMM_MC * 32; /* floats of one panel's partial sums */
    __m512i *wb = (__m512i *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *cbuf = (float *)(wb + PANEL_GROUP * 2 * KCPA);
    int loaded = -1; /* the tile shape's rows */
    for (int64_t p = p0; p < p1; p += PANEL_GROUP) {
        const int np = p1 - p < PANEL_GROUP ? (int)(p1 - p) : PANEL_GROUP;
        for (int64_t q0 = 0; q0 < kp; q0 += KCPA) {
            const int64_t nq = kp - q0 < KCPA ? kp - q0 : KCPA;
            for (int h = 0; h < np; h++)
                convert_block(&t, g->w + (size_t)(p + h) * pb, q0, nq,
                              wb + (size_t)h * 2 * KCPA);
            const int first = q0 == 0, last = q0 + nq >= kp;
            const int64_t row_groups = (m1 - m0 + 2 * TILE_ROWS - 1) / (2 * TILE_ROWS);
            const int64_t steps = row_groups * np * ((nq + TILE_PAIRS - 1) / TILE_PAIRS);
            struct codes_ahead ahead = {next_codes(g, p, np, p1, q0, KCPA), pb, 0, steps};
            for (int64_t i = m0; i < m1; i += 2 * TILE_ROWS) {
                int rows0, rows1;
                const int rows = next_rows(m1 - i, &rows0, &rows1, &loaded);
                for (int h = 0; h < np; h++) {
                    float *cb = cbuf + (size_t)h * cpanel + (size_t)(i - m0) * 32;
                    multiply_rows(g, i, rows1, q0, nq, wb + (size_t)h * 2 * KCPA, cb, first,
                                  h == 0 ? rows : 0, &ahead);
                    if (last)
                        epilogue_rows(g, i, rows, (p + h) * BF16_NR, cb);
                }
            }
        }
    }
    _tile_release();
}

/* Rows [m0, m0 + rows0 + rows1) (one or two tile row groups) times one
 * panel over the whole of K: each 16-pair step is converted into one of
 * two 2 KB slots of ring, which stay in L1, and multiplied at once, so that
 * the next step's conversion and its reads from memory overlap this
 * step's tile multiplies, and the C tiles hold the panel's sums from the
 * first k to the last (no partial sums in memory). */
static void stream_panel(const struct cpu_gemm_args *g, const struct tabs *t, int64_t m0,
                         int rows0, int rows1, const uint8_t *wp, int64_t n0, __m512i *ring,
                         float *cb) {
    const size_t astr = g->a_stride;
    const char *a = (const char *)g->a + (size_t)m0 * astr;
    const int64_t kp = kpairs(g->k);
    zero_c_tiles(rows1);
    int slot = 0;
    for (int64_t q0 = 0; q0 < kp; q0 += TILE_PAIRS, slot ^= 1) {
        const int64_t nq = kp - q0 < TILE_PAIRS ? kp - q0 : TILE_PAIRS;
        __m512i *wb = ring + slot * 2 * TILE_PAIRS;
        convert_block(t, wp, q0, nq, wb);
        tile_step(a + q0 * 4, astr, wb, rows1);
    }
    store_c_tiles(cb, rows1);
    epilogue_rows(g, m0, rows0 + rows1, n0, cb);
}

/* Up to this many rows streamed_amx beats blocked_amx, whose conversion
 * into 128 KB of blocks (beyond L1) and multiplies did not overlap (as
 * measured before its blocks grew and its codes were prefetched; the
 * 10-14 % that gained at M = 96-128 leaves M = 64 on this side): on a
 * 2-thread Xeon, N = 6144, K = 5120, five rotated rounds, medians, ms,
 * blocked / streamed: M = 2 1.98 (vdpbf16ps decode) / 1.33, M = 4 2.64 /
 * 1.20, M = 8 2.51 / 1.22, M = 16 2.09 / 1.38, M = 32 3.54 / 2.58, M = 48
 * 4.24 / 3.46, M = 64 5.97 / 4.84; M = 128 11.2 / 9.7 with runs from 5.5
 * to 12.5 on both sides, so larger M stays blocked. */
#define STREAM_MAX_ROWS 64

/* Rows [m0, m1) against panels [p0, p1), the weight streamed from memory
 * once: each panel is multiplied by the rows in groups of up to 32, the
 * first group reading it from memory, the others from L2 (160 KB at K =
 * 5120). */
static void streamed_amx(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                         int64_t p1, void *scratch) {
    const struct tabs t = make_tabs(g->fp8);
    const size_t pb = fp8f_cpu_bf16_panel_bytes(g->k);
    __m512i *ring = (__m512i *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *cb = (float *)(ring + 4 * TILE_PAIRS);
    int loaded = -1; /* the tile shape's rows */
    for (int64_t p = p0; p < p1; p++)
        for (int64_t i = m0; i < m1; i += 2 * TILE_ROWS) {
            int rows0, rows1;
            next_rows(m1 - i, &rows0, &rows1, &loaded);
            stream_panel(g, &t, i, rows0, rows1, g->w + (size_t)p * pb, p * BF16_NR, ring, cb);
        }
    _tile_release();
}

static size_t amx_scratch_bytes(int64_t k) {
    const size_t per_panel = (size_t)KCPA * 128 + (size_t)CPU_GEMM_MC * 32 * 4;
    const size_t own = PANEL_GROUP * per_panel + 64;
    const size_t decode = fp8f_cpu_bf16_scratch_bytes(k);
    return own > decode ? own : decode;
}

static void amx_gemm_block(const struct cpu_gemm_args *g, int64_t m0, int64_t m1, int64_t p0,
                           int64_t p1, void *scratch) {
    const int64_t rows = m1 - m0;
    if (rows == 1)
        fp8f_cpu_bf16_gemm_block(g, m0, m1, p0, p1, scratch);
    else if (rows <= STREAM_MAX_ROWS)
        streamed_amx(g, m0, m1, p0, p1, scratch);
    else
        blocked_amx(g, m0, m1, p0, p1, scratch);
}

const struct cpu_kernels fp8f_cpu_kernels_amx = {
    BF16_TABLE_ROWS_AND_PANELS,
    .split_panels = PANEL_GROUP,
    .gemm_name = "amx-bf16 tdpbf16ps (32 rows x 32 channels a tile step; fp8->bf16 by vpermi2b; "
                 "M<=64 streams the weight once, larger M in 64 KB blocks; M=1 as avx512bf16)",
    .a_row_bytes = amx_a_row_bytes,
    .prep_a = amx_prep_a,
    .scratch_bytes = amx_scratch_bytes,
    .gemm_block = amx_gemm_block,
};
