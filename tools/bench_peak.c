/* The SIMD peak for fp8fuse-bench (issue 4); see bench_peak.h. */
#include "bench_peak.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Iterations of CHAINS independent multiply-adds: 2-7 ms on the cores
 * here (12-24 M instructions at 1-2 a cycle). */
#define PEAK_ITERS 1000000L
/* Tile multiplies take about 16 cycles each: 4 a step, 2-4 ms. */
#define PEAK_TILE_ITERS 50000L

/* Each loop keeps CHAINS accumulators in flight (at least latency x
 * throughput on the cores here, and no more than the registers: 24 of 32
 * zmm, 12 of 16 ymm), operands in registers only, so that it times issue
 * and nothing else; the empty asm keeps the compiler from folding the
 * accumulators, which all start equal, into one chain. */
#define PEAK_LOOP(VEC, CHAINS, INIT, STEP)                                                     \
    VEC acc[CHAINS];                                                                           \
    for (int i = 0; i < CHAINS; i++) {                                                         \
        acc[i] = INIT;                                                                         \
        __asm__ volatile("" : "+v"(acc[i]));                                                   \
    }                                                                                          \
    for (long it = 0; it < PEAK_ITERS; it++) {                                                 \
        _Pragma("GCC unroll 24") for (int i = 0; i < CHAINS; i++) acc[i] = STEP;               \
    }                                                                                          \
    for (int i = 0; i < CHAINS; i++)                                                           \
        __asm__ volatile("" ::"v"(acc[i]))

#ifdef FP8F_HAVE_KERNELS_AVX512BF16
__attribute__((target("avx512f,avx512bf16"))) static void loop_vdpbf16ps(void) {
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80);
    __asm__ volatile("" : "+v"(x));
    PEAK_LOOP(__m512, 24, _mm512_setzero_ps(), _mm512_dpbf16_ps(acc[i], x, x));
}
#endif

#ifdef FP8F_HAVE_KERNELS_AMX
/* Palette 1: per tile, rows and bytes per row (as kernels_amx.c). */
struct peak_tile_config {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64)));

/* Four C tiles (0-3) from two A (4, 5) and two B tiles (6, 7), all 16 rows
 * of 64 bytes and zero: each tdpbf16ps is 16 x 16 outputs over 32 bf16, as
 * in the amx GEMM's tile step. Tiles are per thread, so each configures
 * its own; the tile data permission is the process's, which the context
 * took before it chose the amx level. */
__attribute__((target("amx-tile,amx-bf16"))) static void loop_tdpbf16ps(void) {
    struct peak_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    for (long it = 0; it < PEAK_TILE_ITERS; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_release();
}
#endif

#ifdef FP8F_HAVE_KERNELS_AVX512
__attribute__((target("avx512f"))) static void loop_fma_zmm(void) {
    __m512 x = _mm512_set1_ps(1.0f);
    __asm__ volatile("" : "+v"(x));
    PEAK_LOOP(__m512, 24, _mm512_setzero_ps(), _mm512_fmadd_ps(x, x, acc[i]));
}
#endif

#ifdef FP8F_HAVE_KERNELS_AVX2
__attribute__((target("avx2,fma"))) static void loop_fma_ymm(void) {
    __m256 x = _mm256_set1_ps(1.0f);
    __asm__ volatile("" : "+v"(x));
    PEAK_LOOP(__m256, 12, _mm256_setzero_ps(), _mm256_fmadd_ps(x, x, acc[i]));
}
#endif

struct peak_kind {
    const char *isa, *instr;
    void (*loop)(void);
    double iters, flops_per_iter; /* per iteration: 2 per multiply-add */
};

/* The levels whose kernels this build has (configure's FP8F_CPU_DEFS):
 * the context never picks another. */
static const struct peak_kind kinds[] = {
#ifdef FP8F_HAVE_KERNELS_AMX
    {"amx", "tdpbf16ps", loop_tdpbf16ps, PEAK_TILE_ITERS, 4 * 16 * 16 * 32 * 2.0},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512BF16
    {"avx512bf16", "vdpbf16ps zmm", loop_vdpbf16ps, PEAK_ITERS, 24 * 64.0},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512
    {"avx512", "vfmadd231ps zmm", loop_fma_zmm, PEAK_ITERS, 24 * 32.0},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX2
    {"avx2", "vfmadd231ps ymm", loop_fma_ymm, PEAK_ITERS, 12 * 16.0},
#endif
    {"generic", NULL, NULL, 0, 0}, /* the C kernels: not one instruction */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bench_simd_peak(const char *isa, int threads, struct simd_peak *out) {
    const struct peak_kind *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(isa, kinds[i].isa) == 0)
            k = &kinds[i];
    if (!k || !k->loop)
        return 0;
#ifdef _OPENMP
    const int nt = threads > 0 ? threads : omp_get_max_threads();
#else
    const int nt = 1;
    (void)threads;
#endif
    /* Every thread runs the loop at once; a round's rate is all threads'
     * flops over the time from the moment all have started to the moment
     * all are done (barriers on both sides: waking a sleeping thread can
     * take longer than the loop on a VM, and is no part of the peak). Two
     * threads on one core take twice as long, as they should. The best of
     * 7 rounds, after one to wake the cores: a peak is what the cores can
     * do, and a neighbour on a shared host only ever takes from it. */
    enum { ROUNDS = 7 };
    double best = 0.0;
    for (int r = -1; r < ROUNDS; r++) {
        double t0 = 0.0, t1 = 0.0;
#pragma omp parallel num_threads(nt)
        {
#pragma omp barrier
#pragma omp master
            t0 = now_s();
            k->loop();
#pragma omp barrier
#pragma omp master
            t1 = now_s();
        }
        const double rate = (double)nt * k->iters * k->flops_per_iter / (t1 - t0);
        if (r >= 0 && rate > best)
            best = rate;
    }
    out->instr = k->instr;
    out->flops_per_s = best;
    return 1;
}

#else /* not x86-64 */

int bench_simd_peak(const char *isa, int threads, struct simd_peak *out) {
    (void)isa;
    (void)threads;
    (void)out;
    return 0;
}

#endif
