/* The SIMD peak for fp8fuse-bench (issue 4); see bench_peak.h. */
#include "bench_peak.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* The loops are written in assembly, so that every build (sanitizers,
 * -O0, any compiler) times the same instructions: CHAINS accumulators in
 * registers (at least latency x throughput on the cores here, no more
 * than the registers: 24 of 32 zmm, 12 of 16 ymm), each multiplied-added
 * by the same register x = 1.0, so that a loop times issue and nothing
 * else. One round is about 0.4 ms on the cores here, well inside a
 * scheduler's time slice: on a busy machine some rounds run clean. */
#define PK1(OP, R, N) OP " %%" R "0, %%" R "0, %%" R #N "\n\t"
#define PK12(OP, R)                                                                            \
    PK1(OP, R, 1) PK1(OP, R, 2) PK1(OP, R, 3) PK1(OP, R, 4) PK1(OP, R, 5) PK1(OP, R, 6)        \
        PK1(OP, R, 7) PK1(OP, R, 8) PK1(OP, R, 9) PK1(OP, R, 10) PK1(OP, R, 11)                \
            PK1(OP, R, 12)
#define PK24(OP, R)                                                                            \
    PK12(OP, R)                                                                                \
    PK1(OP, R, 13) PK1(OP, R, 14) PK1(OP, R, 15) PK1(OP, R, 16) PK1(OP, R, 17)                 \
        PK1(OP, R, 18) PK1(OP, R, 19) PK1(OP, R, 20) PK1(OP, R, 21) PK1(OP, R, 22)             \
            PK1(OP, R, 23) PK1(OP, R, 24)
#define CLOBBER_XMM0_12                                                                        \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",   \
        "xmm11", "xmm12"
#define CLOBBER_XMM0_24                                                                        \
    CLOBBER_XMM0_12, "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",   \
        "xmm21", "xmm22", "xmm23", "xmm24"

/* 24 chains on zmm1-24 from zero, x = `bits` in every 32-bit lane of zmm0 */
#define ZMM_LOOP(OP, BITS, ITERS)                                                              \
    do {                                                                                       \
        long n_ = (ITERS);                                                                     \
        __asm__ volatile("mov $" #BITS ", %%eax\n\t"                                           \
                         "vpbroadcastd %%eax, %%zmm0\n\t" PK24("vpxord", "zmm")                \
                         "1:\n\t" PK24(OP, "zmm") "dec %[n]\n\t"                               \
                         "jnz 1b\n\t"                                                          \
                         : [n] "+r"(n_)                                                        \
                         :                                                                     \
                         : "eax", "cc", CLOBBER_XMM0_24);                                      \
    } while (0)

/* Iterations a round (24 or 12 instructions each, 1-2 a cycle). */
#define ZMM_ITERS 60000L
#define YMM_ITERS 240000L
/* Tile multiplies take about 16 cycles each: 4 an iteration. */
#define TILE_ITERS 12500L

#ifdef FP8F_HAVE_KERNELS_AVX512BF16
__attribute__((target("avx512f,avx512bf16"))) static void loop_vdpbf16ps(void) {
    ZMM_LOOP("vdpbf16ps", 0x3f803f80, ZMM_ITERS); /* bf16 pairs (1.0, 1.0) */
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
    for (long it = 0; it < TILE_ITERS; it++) {
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
    ZMM_LOOP("vfmadd231ps", 0x3f800000, ZMM_ITERS); /* 1.0f */
}
#endif

#ifdef FP8F_HAVE_KERNELS_AVX2
/* 12 chains on ymm1-12 from zero, x = 1.0f in ymm0 */
__attribute__((target("avx2,fma"))) static void loop_fma_ymm(void) {
    long n = YMM_ITERS;
    __asm__ volatile("mov $0x3f800000, %%eax\n\t"
                     "vmovd %%eax, %%xmm0\n\t"
                     "vbroadcastss %%xmm0, %%ymm0\n\t" PK12("vxorps", "ymm")
                     "1:\n\t" PK12("vfmadd231ps", "ymm") "dec %[n]\n\t"
                     "jnz 1b\n\t"
                     : [n] "+r"(n)
                     :
                     : "eax", "cc", CLOBBER_XMM0_12);
}
#endif

struct peak_kind {
    const char *isa, *instr;
    void (*loop)(void);
    double flops_per_round; /* one call of loop, one thread; 2 per multiply-add */
};

/* The levels whose kernels this build has (configure's FP8F_CPU_DEFS):
 * the context never picks another. */
static const struct peak_kind kinds[] = {
#ifdef FP8F_HAVE_KERNELS_AMX
    {"amx", "tdpbf16ps", loop_tdpbf16ps, TILE_ITERS * 4 * (16 * 16 * 32 * 2.0)},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512BF16
    {"avx512bf16", "vdpbf16ps zmm", loop_vdpbf16ps, ZMM_ITERS * 24 * 64.0},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX512
    {"avx512", "vfmadd231ps zmm", loop_fma_zmm, ZMM_ITERS * 24 * 32.0},
#endif
#ifdef FP8F_HAVE_KERNELS_AVX2
    {"avx2", "vfmadd231ps ymm", loop_fma_ymm, YMM_ITERS * 12 * 16.0},
#endif
    {"generic", NULL, NULL, 0}, /* the C kernels: not one instruction */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#ifdef _OPENMP
#define PEAK_THREAD() omp_get_thread_num()
#define PEAK_TEAM() omp_get_num_threads()
#else
#define PEAK_THREAD() 0
#define PEAK_TEAM() 1
#endif

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
    double *start = malloc(2 * (size_t)nt * sizeof *start), *end = start + nt;
    if (!start)
        return 0;
    /* Every thread runs the loop at once, each noting when it starts and
     * ends; a round's rate is the team's flops over the first start to
     * the last end (two threads on one core take twice as long, as they
     * should). The best of 31 rounds, after one to wake the cores: a peak
     * is what the cores can do, and a neighbour on a shared host only
     * ever takes from it. */
    enum { ROUNDS = 31 };
    double best = 0.0;
    int team = nt;
    for (int r = -1; r < ROUNDS; r++) {
#pragma omp parallel num_threads(nt)
        {
            const int t = PEAK_THREAD();
#pragma omp master
            team = PEAK_TEAM();
#pragma omp barrier
            start[t] = now_s();
            k->loop();
            end[t] = now_s();
        }
        double first = start[0], last = end[0];
        for (int t = 1; t < team; t++) {
            first = start[t] < first ? start[t] : first;
            last = end[t] > last ? end[t] : last;
        }
        const double rate = (double)team * k->flops_per_round / (last - first);
        if (r >= 0 && rate > best)
            best = rate;
    }
    free(start);
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
